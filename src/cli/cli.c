// SPDX-License-Identifier: MIT
/* Shared pieces of the subcommands: error lines, option parsing, serde-style JSON output. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json_pretty.h"
#include "common/util.h"
#include "eif/eif.h"
#include "nsm/nsm.h"

int cli_fail(enum cli_error e, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "[ E%02d ] ", (int)e);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return e == E_UNSPECIFIED ? 1 : (int)e;
}

int cli_parse_boot_path(const char *s, enum hv_kernel_boot *out)
{
	if (!strcmp(s, "host"))
		*out = HV_KERNEL_BOOT_HOST;
	else if (!strcmp(s, "decompressor"))
		*out = HV_KERNEL_BOOT_DECOMPRESSOR;
	else
		return cli_fail(E_INVALID_ARGUMENT, "boot path '%s': expected host (the kernel decompressed by "
						    "nitrovm, the default) or decompressor (by its own code in the guest)", s);
	return 0;
}

int cli_fail_err(enum cli_error e)
{
	return cli_fail(e, "%s", err_msg());
}

int cli_fail_text(char *out, size_t len, enum cli_error e, const char *fmt, ...)
{
	size_t n = (size_t)snprintf(out, len, "[ E%02d ] ", (int)e);
	va_list ap;

	if (n < len) {
		va_start(ap, fmt);
		n += (size_t)vsnprintf(out + n, len - n, fmt, ap);
		va_end(ap);
	}
	if (n + 1 < len) {
		out[n] = '\n';
		out[n + 1] = '\0';
	}
	return e == E_UNSPECIFIED ? 1 : (int)e;
}

static char bad_option[128];

int cli_getopt(int argc, char **argv, const struct option *opts)
{
	int c;

	opterr = 0;
	c = getopt_long(argc, argv, "+h", opts, NULL);
	if (c == '?' || c == ':') {
		const char *arg = argv[optind - 1];

		if (optopt && optopt != '?') {
			const struct option *o;

			for (o = opts; o->name; o++)
				if (o->val == optopt)
					break;
			snprintf(bad_option, sizeof(bad_option), "option --%s needs a value",
				 o->name ? o->name : "?");
		} else {
			snprintf(bad_option, sizeof(bad_option), "unknown option '%s'", arg);
		}
		return '?';
	}
	return c;
}

int cli_bad_option(const char *cmd)
{
	return cli_fail(E_INVALID_ARGUMENT, "%s for %s; run 'nitrovm %s --help' for its options", bad_option, cmd,
			cmd);
}

bool cli_help_requested(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	}
	return false;
}

/* Render o like cli_print_json into a heap string (caller frees). */
static char *cli_json_pretty(struct json_object *o)
{
	return json_pretty(o);
}

void cli_print_json(struct json_object *o)
{
	char *s = cli_json_pretty(o);

	fputs(s, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	free(s);
}

struct json_object *cli_hex_json(const uint8_t *buf, size_t len)
{
	char *hex = malloc(2 * len + 1);
	struct json_object *o;

	if (!hex)
		abort();
	hex_encode(buf, len, hex);
	o = json_object_new_string(hex);
	free(hex);
	return o;
}

struct json_object *cli_measurements_json(const struct eif_measurements *m, const uint8_t *pcr8)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "HashAlgorithm", json_object_new_string("Sha384 { ... }"));
	json_object_object_add(o, "PCR0", cli_hex_json(m->pcr0, SHA384_LEN));
	json_object_object_add(o, "PCR1", cli_hex_json(m->pcr1, SHA384_LEN));
	json_object_object_add(o, "PCR2", cli_hex_json(m->pcr2, SHA384_LEN));
	if (pcr8)
		json_object_object_add(o, "PCR8", cli_hex_json(pcr8, SHA384_LEN));
	return o;
}

void cli_note_state_dir(void)
{
	char dir[PATH_MAX];

	if (nsm_state_dir(NULL, dir, sizeof(dir)) == 0 && access(dir, F_OK))
		fprintf(stderr, "nitrovm: the attestation CA of emulated enclaves is kept in %s from now on "
				"(`nitrovm ca export` prints its root)\n", dir);
}

int cli_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

int cli_parse_size(const char *s, uint64_t default_unit, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t unit = default_unit;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': unit = KiB; end++; break;
	case 'm': case 'M': unit = MiB; end++; break;
	case 'g': case 'G': unit = GiB; end++; break;
	case 't': case 'T': unit = 1024 * GiB; end++; break;
	default: return -EINVAL;
	}
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end || (v && unit > UINT64_MAX / v))
		return -EINVAL;
	*out = v * unit;
	return 0;
}
