// SPDX-License-Identifier: MIT
/*
 * probe.* options on the kernel command line (README.md has the list).  Unknown
 * words are ignored: the VMM may add its own (console=, virtio_mmio.device=).
 */
#include "probe.h"

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

/* Decimal, or hex with 0x; stops at the first other character. */
static uint64_t parse_num(const char *s, const char *end, const char **stop, unsigned base)
{
	uint64_t v = 0;

	if (base == 0) {
		base = 10;
		if (end - s > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
			base = 16;
			s += 2;
		}
	}
	for (; s < end; s++) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (*s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (*s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			break;
		if (d >= base)
			break;
		v = v * base + d;
	}
	if (stop)
		*stop = s;
	return v;
}

static bool key_is(const char *w, size_t wlen, const char *key, const char **val)
{
	size_t klen = strlen(key);

	if (wlen <= klen || memcmp(w, key, klen) || w[klen] != '=')
		return false;
	*val = w + klen + 1;
	return true;
}

static void parse_word(const char *w, size_t len)
{
	const char *end = w + len, *v, *stop;

	if (key_is(w, len, "probe.qemu", &v)) {
		cfg.qemu = parse_num(v, end, NULL, 0) != 0;
	} else if (key_is(w, len, "probe.initrd_crc", &v)) {
		cfg.have_initrd_crc = true;
		if (end - v > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X'))
			v += 2;
		cfg.initrd_crc = (uint32_t)parse_num(v, end, NULL, 16);
	} else if (key_is(w, len, "probe.initrd_size", &v)) {
		cfg.have_initrd_size = true;
		cfg.initrd_size = parse_num(v, end, NULL, 0);
	} else if (key_is(w, len, "probe.virtio", &v)) {
		cfg.virtio_base = parse_num(v, end, &stop, 0);
		if (stop < end && *stop == ':') {
			cfg.virtio_irq = (uint32_t)parse_num(stop + 1, end, NULL, 0);
			cfg.have_virtio = true;
		}
	} else if (key_is(w, len, "probe.badvq", &v)) {
		cfg.badvq = parse_num(v, end, NULL, 0) != 0;
	} else if (key_is(w, len, "probe.acpi", &v)) {
		cfg.no_acpi = parse_num(v, end, NULL, 0) == 0;
	} else if (key_is(w, len, "probe.cpus", &v)) {
		cfg.cpus = (uint32_t)parse_num(v, end, NULL, 0);
	} else if (key_is(w, len, "probe.lnro", &v)) {
		cfg.lnro = (int)parse_num(v, end, NULL, 0);
	} else if (key_is(w, len, "probe.mem", &v)) {
		cfg.mem_mib = parse_num(v, end, NULL, 0);
	} else if (key_is(w, len, "probe.nsm", &v)) {
		cfg.nsm = parse_num(v, end, NULL, 0) != 0;
	} else if (key_is(w, len, "probe.nsm_bench", &v)) {
		cfg.nsm_bench = (uint32_t)parse_num(v, end, NULL, 0);
	} else if (key_is(w, len, "probe.hold", &v)) {
		cfg.hold = parse_num(v, end, NULL, 0) != 0;
	}
}

void cmdline_parse(const char *cmdline, uint32_t len)
{
	uint32_t i = 0;

	cfg.cmdline = cmdline;
	cfg.cmdline_len = len;
	while (i < len) {
		uint32_t start;

		while (i < len && is_space(cmdline[i]))
			i++;
		start = i;
		while (i < len && !is_space(cmdline[i]))
			i++;
		if (i > start)
			parse_word(cmdline + start, i - start);
	}
}
