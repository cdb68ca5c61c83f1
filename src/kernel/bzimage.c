// SPDX-License-Identifier: MIT
/*
 * The bzImage setup header, read for the host path: where the compressed kernel is and how the decompressor
 * would place it.  Field offsets and meanings are the boot protocol's (Documentation/arch/x86/boot.rst); the
 * rest of the header is boot.c's business.
 */
#include "kernel.h"

#include <errno.h>
#include <string.h>

#include "common/le.h"
#include "common/util.h"

#define HDR_SETUP_SECTS	       0x1f1
#define HDR_BOOT_FLAG	       0x1fe
#define HDR_HEADER	       0x202
#define HDR_VERSION	       0x206
#define HDR_KERNEL_ALIGNMENT   0x230
#define HDR_RELOCATABLE	       0x234
#define HDR_PAYLOAD_OFFSET     0x248
#define HDR_PAYLOAD_LENGTH     0x24c
#define HDR_PREF_ADDRESS       0x258
#define HDR_INIT_SIZE	       0x260
#define HDR_END		       0x270 /* bytes a 2.12+ header spans */

#define HDR_MAGIC	     0x53726448 /* "HdrS" */
#define HDR_BOOT_FLAG_MAGIC  0xaa55
#define HDR_MIN_VERSION	     0x020c /* 2.12: payload_offset (2.08), pref_address and init_size (2.10) */
#define HDR_SETUP_SECTS_DEF  4	    /* "if setup_sects is 0, the real value is 4" */
#define HDR_SECTOR_SIZE	     512
#define PAYLOAD_SIZE_TRAILER 4 /* the build appends the decompressed size, 32-bit little-endian */
/*
 * CONFIG_PHYSICAL_ALIGN's range on x86_64 (arch/x86/Kconfig): at least a 2 MiB page, at most 16 MiB.  The
 * kernel maps itself with 2 MiB pages, so anything finer is not an x86_64 kernel's.
 */
#define ALIGN_MIN (2ULL << 20)
#define ALIGN_MAX (16ULL << 20)
/* The lowest address a protected-mode kernel is loaded at (the boot protocol's 0x100000). */
#define PREF_ADDRESS_MIN 0x100000ULL
/*
 * Only the decompressor's KASLR code (kaslr.c, built with CONFIG_RANDOMIZE_BASE) prints messages naming
 * KASLR; its strings sit in the uncompressed part of the image.  Without them the guest's own decompressor
 * would not randomize, and neither do we.
 */
static const char kaslr_mark[] = "KASLR";



enum kernel_format kernel_format_detect(const uint8_t *p, uint64_t len)
{
	static const struct {
		uint8_t magic[2];
		enum kernel_format f;
	} magics[] = {
		{ { 0x1f, 0x8b }, KERNEL_FORMAT_GZIP }, { { 0x1f, 0x9e }, KERNEL_FORMAT_GZIP },
		{ { 0x42, 0x5a }, KERNEL_FORMAT_BZIP2 }, { { 0x5d, 0x00 }, KERNEL_FORMAT_LZMA },
		{ { 0xfd, 0x37 }, KERNEL_FORMAT_XZ },	 { { 0x89, 0x4c }, KERNEL_FORMAT_LZO },
		{ { 0x02, 0x21 }, KERNEL_FORMAT_LZ4 },	 { { 0x28, 0xb5 }, KERNEL_FORMAT_ZSTD },
	};

	if (len < 2)
		return KERNEL_FORMAT_UNKNOWN;
	for (size_t i = 0; i < ARRAY_SIZE(magics); i++)
		if (p[0] == magics[i].magic[0] && p[1] == magics[i].magic[1])
			return magics[i].f;
	return KERNEL_FORMAT_UNKNOWN;
}

const char *kernel_format_name(enum kernel_format f)
{
	static const char *const names[] = {
		[KERNEL_FORMAT_UNKNOWN] = "unknown", [KERNEL_FORMAT_GZIP] = "gzip", [KERNEL_FORMAT_BZIP2] = "bzip2",
		[KERNEL_FORMAT_LZMA] = "lzma",	     [KERNEL_FORMAT_XZ] = "xz",	    [KERNEL_FORMAT_LZO] = "lzo",
		[KERNEL_FORMAT_LZ4] = "lz4",	     [KERNEL_FORMAT_ZSTD] = "zstd",
	};

	return (unsigned int)f < ARRAY_SIZE(names) ? names[f] : "unknown";
}

static bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

static int check_header(const uint8_t *k, uint64_t len, uint64_t *setup_size)
{
	unsigned int sects;

	if (len < HDR_END || get_le32(k + HDR_HEADER) != HDR_MAGIC ||
	    (k[HDR_BOOT_FLAG] | k[HDR_BOOT_FLAG + 1] << 8) != HDR_BOOT_FLAG_MAGIC)
		return err_set(ENOEXEC, "the kernel is not a bzImage (no \"HdrS\" setup header)");
	if ((k[HDR_VERSION] | k[HDR_VERSION + 1] << 8) < HDR_MIN_VERSION)
		return err_set(ENOEXEC, "the kernel's boot protocol is older than 2.12");
	sects = k[HDR_SETUP_SECTS] ? k[HDR_SETUP_SECTS] : HDR_SETUP_SECTS_DEF;
	*setup_size = (uint64_t)(sects + 1) * HDR_SECTOR_SIZE;
	if (*setup_size >= len)
		return err_set(ENOEXEC, "the kernel is truncated: its setup code claims all of its %llu bytes",
			       (unsigned long long)len);
	return 0;
}

static int check_placement(struct bzimage *b)
{
	if (!is_pow2(b->alignment) || b->alignment < ALIGN_MIN || b->alignment > ALIGN_MAX)
		return err_set(ENOEXEC, "the kernel's alignment %#llx is not a power of two from 2 to 16 MiB",
			       (unsigned long long)b->alignment);
	if (b->pref_address < PREF_ADDRESS_MIN || b->pref_address % b->alignment ||
	    b->pref_address >= KERNEL_IMAGE_SIZE)
		return err_set(ENOEXEC, "the kernel's preferred address %#llx is not an aligned address below 1 GiB",
			       (unsigned long long)b->pref_address);
	if (b->init_size > KERNEL_DECOMPRESSED_MAX || b->init_size > KERNEL_IMAGE_SIZE - b->pref_address)
		return err_set(ENOEXEC, "the kernel's init_size (%llu MiB) does not fit its 1 GiB mapping",
			       (unsigned long long)(b->init_size >> 20));
	return 0;
}

static int find_payload(const uint8_t *pm, uint64_t pm_len, const uint8_t *k, struct bzimage *b)
{
	uint64_t off = get_le32(k + HDR_PAYLOAD_OFFSET), len = get_le32(k + HDR_PAYLOAD_LENGTH);

	if (!len)
		return err_set(ENODATA, "the kernel has no compressed payload (payload_length is 0)");
	if (off > pm_len || len > pm_len - off || len <= PAYLOAD_SIZE_TRAILER)
		return err_set(ENOEXEC, "the kernel's payload (%llu bytes at %llu) lies outside its %llu bytes",
			       (unsigned long long)len, (unsigned long long)off, (unsigned long long)pm_len);
	b->payload = pm + off;
	b->payload_len = len - PAYLOAD_SIZE_TRAILER;
	b->decompressed_len = get_le32(b->payload + b->payload_len);
	b->format = kernel_format_detect(b->payload, b->payload_len);
	if (b->format == KERNEL_FORMAT_UNKNOWN)
		return err_set(ENOEXEC, "the kernel's payload compression is not one nitrovm recognises");
	if (!b->decompressed_len || b->decompressed_len > b->init_size)
		return err_set(ENOEXEC, "the kernel's payload announces %llu bytes, not between 1 and its init_size",
			       (unsigned long long)b->decompressed_len);
	b->decompressor_kaslr = memmem(pm, off, kaslr_mark, sizeof(kaslr_mark) - 1) ||
				memmem(pm + off + len, pm_len - off - len, kaslr_mark, sizeof(kaslr_mark) - 1);
	return 0;
}

int bzimage_parse(const uint8_t *k, uint64_t len, struct bzimage *out)
{
	uint64_t setup_size = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = check_header(k, len, &setup_size);
	if (ret < 0)
		return ret;
	out->setup_size = setup_size;
	out->alignment = get_le32(k + HDR_KERNEL_ALIGNMENT);
	out->relocatable = k[HDR_RELOCATABLE] != 0;
	out->pref_address = get_le64(k + HDR_PREF_ADDRESS);
	out->init_size = get_le32(k + HDR_INIT_SIZE);
	ret = check_placement(out);
	if (ret < 0)
		return ret;
	return find_payload(k + setup_size, len - setup_size, k, out);
}
