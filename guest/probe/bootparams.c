// SPDX-License-Identifier: MIT
/*
 * What the loader handed over: the zero page (struct boot_params), its copy of
 * our setup header, the command line, the E820 map and the initrd.
 */
#include "probe.h"

/* struct boot_params offsets (Documentation/arch/x86/zero-page.rst) */
#define BP_ACPI_RSDP_ADDR   0x070
#define BP_EXT_RAMDISK_IMG  0x0C0
#define BP_EXT_RAMDISK_SIZE 0x0C4
#define BP_EXT_CMD_LINE_PTR 0x0C8
#define BP_E820_ENTRIES     0x1E8
#define BP_SETUP_SECTS      0x1F1
#define BP_BOOT_FLAG        0x1FE
#define BP_HEADER           0x202
#define BP_VERSION          0x206
#define BP_TYPE_OF_LOADER   0x210
#define BP_LOADFLAGS        0x211
#define BP_RAMDISK_IMAGE    0x218
#define BP_RAMDISK_SIZE     0x21C
#define BP_CMD_LINE_PTR     0x228
#define BP_KERNEL_ALIGNMENT 0x230
#define BP_XLOADFLAGS       0x236
#define BP_CMDLINE_SIZE     0x238
#define BP_INIT_SIZE        0x260
#define BP_E820_TABLE       0x2D0

#define HDRS_MAGIC       0x53726448 /* "HdrS" */
#define BOOT_FLAG_MAGIC  0xAA55
#define BOOT_PROTOCOL    0x020F
#define LOADED_HIGH      0x01
#define XLF_KERNEL_64    0x0001
#define E820_MAX_ENTRIES 128
#define ZERO_PAGE_SIZE   4096
#define INITRD_SHOW      16
#define CMDLINE_CHUNK    200

struct boot_info boot;

static uint8_t bp8(uint32_t off)
{
	return boot.bp[off];
}

static uint16_t bp16(uint32_t off)
{
	uint16_t v;

	memcpy(&v, boot.bp + off, sizeof(v));
	return v;
}

static uint32_t bp32(uint32_t off)
{
	uint32_t v;

	memcpy(&v, boot.bp + off, sizeof(v));
	return v;
}

static uint64_t bp64(uint32_t off)
{
	uint64_t v;

	memcpy(&v, boot.bp + off, sizeof(v));
	return v;
}

static void print_cmdline(const char *s, uint32_t len)
{
	uint32_t off = 0;

	/* Long command lines go out in pieces so no line is cut by printk. */
	do {
		uint32_t n = len - off < CMDLINE_CHUNK ? len - off : CMDLINE_CHUNK;
		char piece[CMDLINE_CHUNK + 1];

		memcpy(piece, s + off, n);
		piece[n] = '\0';
		report_info("cmdline", "%s\"%s\"", off ? "... " : "", piece);
		off += n;
	} while (off < len);
}

void check_zero_page(uint8_t *bp)
{
	uint32_t cmdline_size, len;
	uint64_t cmd;
	const char *cmdline;
	bool ok = true;

	boot.bp = bp;
	boot.image_end = boot.load_addr + bp32(BP_INIT_SIZE);

	if (bp32(BP_HEADER) != HDRS_MAGIC) {
		report_fail("zeropage", "no HdrS at 0x202 of boot_params %p: setup header not copied", bp);
		ok = false;
	} else if (bp16(BP_VERSION) != BOOT_PROTOCOL || bp16(BP_BOOT_FLAG) != BOOT_FLAG_MAGIC) {
		report_fail("zeropage", "header copy differs from the image: version 0x%x boot_flag 0x%x",
			    bp16(BP_VERSION), bp16(BP_BOOT_FLAG));
		ok = false;
	}
	if (!bp8(BP_TYPE_OF_LOADER)) {
		/* The boot protocol obliges the loader to set it. */
		report_fail("zeropage", "type_of_loader is 0");
		ok = false;
	}
	if (!(bp8(BP_LOADFLAGS) & LOADED_HIGH) || !(bp16(BP_XLOADFLAGS) & XLF_KERNEL_64)) {
		report_fail("zeropage", "loadflags 0x%x xloadflags 0x%x lost LOADED_HIGH/XLF_KERNEL_64",
			    bp8(BP_LOADFLAGS), bp16(BP_XLOADFLAGS));
		ok = false;
	}
	if (ok)
		report_ok("zeropage", "boot_params at %p, HdrS protocol %u.%02u, type_of_loader 0x%x, setup_sects %u",
			  bp, bp16(BP_VERSION) >> 8, bp16(BP_VERSION) & 0xff, bp8(BP_TYPE_OF_LOADER),
			  bp8(BP_SETUP_SECTS));

	if (boot.load_addr & (PAGE_SIZE - 1))
		report_fail("load", "image at 0x%lx is not 4 KiB aligned", boot.load_addr);
	else
		report_ok("load", "image at 0x%lx-0x%lx (init_size 0x%x)", boot.load_addr, boot.image_end - 1,
			  bp32(BP_INIT_SIZE));

	cmd = bp32(BP_CMD_LINE_PTR) | (uint64_t)bp32(BP_EXT_CMD_LINE_PTR) << 32;
	cmdline_size = bp32(BP_CMDLINE_SIZE);
	boot.cmdline_addr = cmd;
	if (!cmd) {
		report_fail("cmdline", "cmd_line_ptr is 0");
	} else {
		cmdline = (const char *)cmd;
		len = (uint32_t)strnlen(cmdline, cmdline_size + 1);
		if (len > cmdline_size) {
			report_fail("cmdline", "not NUL-terminated within cmdline_size %u", cmdline_size);
			len = cmdline_size;
		} else {
			report_ok("cmdline", "%u bytes at 0x%lx", len, cmd);
		}
		cmdline_parse(cmdline, len);
		print_cmdline(cmdline, len);
	}

	boot.rsdp_addr = bp64(BP_ACPI_RSDP_ADDR);
	boot.initrd_addr = bp32(BP_RAMDISK_IMAGE) | (uint64_t)bp32(BP_EXT_RAMDISK_IMG) << 32;
	boot.initrd_size = bp32(BP_RAMDISK_SIZE) | (uint64_t)bp32(BP_EXT_RAMDISK_SIZE) << 32;
	boot.e820 = (struct e820_entry *)(bp + BP_E820_TABLE);
	boot.e820_count = bp8(BP_E820_ENTRIES);
	if (boot.rsdp_addr)
		report_info("zeropage", "acpi_rsdp_addr 0x%lx", boot.rsdp_addr);
}

bool e820_is_ram(uint64_t addr, uint64_t len)
{
	for (uint32_t i = 0; i < boot.e820_count && i < E820_MAX_ENTRIES; i++) {
		const struct e820_entry *e = &boot.e820[i];

		if (e->type == E820_RAM && addr >= e->addr && addr + len <= e->addr + e->size)
			return true;
	}
	return false;
}

static const char *e820_type_name(uint32_t type)
{
	switch (type) {
	case 1:
		return "ram";
	case 2:
		return "reserved";
	case 3:
		return "acpi";
	case 4:
		return "nvs";
	case 5:
		return "unusable";
	default:
		return "other";
	}
}

void check_e820(void)
{
	uint64_t ram = 0;
	bool ok = true;

	if (!boot.e820_count || boot.e820_count > E820_MAX_ENTRIES) {
		report_fail("e820", "%u entries", boot.e820_count);
		return;
	}
	for (uint32_t i = 0; i < boot.e820_count; i++) {
		const struct e820_entry *e = &boot.e820[i];

		report_info("e820", "[%u] 0x%09lx-0x%09lx %s", i, e->addr, e->addr + e->size - 1,
			    e820_type_name(e->type));
		if (e->type == E820_RAM)
			ram += e->size;
	}
	if (!e820_is_ram(0, PAGE_SIZE)) {
		report_fail("e820", "no RAM at address 0");
		ok = false;
	}
	if (!e820_is_ram(boot.load_addr, boot.image_end - boot.load_addr)) {
		report_fail("e820", "the probe's own memory 0x%lx-0x%lx is not RAM", boot.load_addr,
			    boot.image_end - 1);
		ok = false;
	}
	if (!e820_is_ram((uint64_t)boot.bp, ZERO_PAGE_SIZE)) {
		report_fail("e820", "the zero page at %p is not RAM", boot.bp);
		ok = false;
	}
	if (boot.cmdline_addr && !e820_is_ram(boot.cmdline_addr, cfg.cmdline_len + 1)) {
		report_fail("e820", "the command line at 0x%lx is not RAM", boot.cmdline_addr);
		ok = false;
	}
	if (cfg.mem_mib) {
		/* Holes (legacy 640K-1M, firmware tables) cost at most a few MiB. */
		uint64_t want = cfg.mem_mib << 20, slack = 4ULL << 20;

		if (ram > want || ram + slack < want) {
			report_fail("e820", "%lu KiB of RAM, probe.mem wants %lu MiB", ram >> 10, cfg.mem_mib);
			ok = false;
		}
	}
	if (ok)
		report_ok("e820", "%u entries, %lu KiB RAM, RAM at 0, image, zero page and cmdline in RAM",
			  boot.e820_count, ram >> 10);
}

/*
 * The initrd's contents follow zero padding in 4-byte steps, which Linux's initramfs unpacker skips: nitrovm
 * leaves a large ramdisk where the image holds it and starts the initrd on the page below, zeros up to it.
 */
void check_initrd(void)
{
	const uint8_t *p = (const uint8_t *)boot.initrd_addr;
	char hex[INITRD_SHOW * 3 + 1], text[INITRD_SHOW + 1];
	uint64_t n = boot.initrd_size, pad = 0;
	uint32_t crc;
	size_t show;

	if (!n) {
		if (cfg.have_initrd_crc || (cfg.have_initrd_size && cfg.initrd_size))
			report_fail("initrd", "none given, but the command line expects one");
		else
			report_skip("initrd", "none given");
		return;
	}
	if (boot.initrd_addr + n > 0x100000000ULL || !e820_is_ram(boot.initrd_addr, n)) {
		report_fail("initrd", "0x%lx+0x%lx is not RAM below 4 GiB", boot.initrd_addr, n);
		return;
	}
	while (pad + 4 <= n && !p[pad] && !p[pad + 1] && !p[pad + 2] && !p[pad + 3])
		pad += 4;
	p += pad;
	n -= pad;
	show = n < INITRD_SHOW ? (size_t)n : INITRD_SHOW;
	for (size_t i = 0; i < show; i++) {
		static const char digits[] = "0123456789abcdef";

		hex[i * 3] = digits[p[i] >> 4];
		hex[i * 3 + 1] = digits[p[i] & 0xf];
		hex[i * 3 + 2] = i + 1 < show ? ' ' : '\0';
		text[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '.';
	}
	text[show] = '\0';
	crc = crc32(0, p, (size_t)n);
	report_info("initrd", "first bytes %s \"%s\" (after %lu bytes of zero padding)", hex, text, pad);

	if (cfg.have_initrd_size && cfg.initrd_size != n) {
		report_fail("initrd", "%lu bytes at 0x%lx, probe.initrd_size wants %lu", n, boot.initrd_addr,
			    cfg.initrd_size);
		return;
	}
	if (cfg.have_initrd_crc && cfg.initrd_crc != crc) {
		report_fail("initrd", "%lu bytes at 0x%lx, crc32 0x%08x, probe.initrd_crc wants 0x%08x", n,
			    boot.initrd_addr, crc, cfg.initrd_crc);
		return;
	}
	report_ok("initrd", "%lu bytes at 0x%lx, crc32 0x%08x%s", n, boot.initrd_addr + pad, crc,
		  cfg.have_initrd_crc ? " (matches probe.initrd_crc)" : "");
}
