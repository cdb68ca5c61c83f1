// SPDX-License-Identifier: MIT
/*
 * The arm64 Image boot protocol (Documentation/arch/arm64/booting.rst), the parts that need no KVM: the
 * 64-byte header of the EIF's kernel section (untrusted input: every field is checked before use), and where
 * the kernel, initrd and device tree go in RAM.
 *
 * The Image goes text_offset bytes above a 2 MiB-aligned base, with image_size bytes free from there; older
 * kernels (flags bit 3 clear) cannot reach memory below that base, so the base is the start of RAM, as every
 * loader does.  That is below the EIF (at 8 MiB), so the kernel is copied last, with memmove; the initrd and
 * the device tree go to the top of RAM first, clear of the EIF they are copied from.
 */
#include "arm64.h"

#include <errno.h>
#include <string.h>

#include "common/le.h"
#include "common/util.h"

int arm64_image_parse(const uint8_t *k, uint64_t len, struct arm64_image *img)
{
	if (len < ARM64_IMAGE_HEADER_SIZE || get_le32(k + ARM64_IMAGE_MAGIC_OFFSET) != ARM64_IMAGE_MAGIC)
		return err_set(ENOEXEC, "the EIF's kernel section is not an arm64 Image (no \"ARM\\x64\" magic at "
					"0x38); arm64 enclaves boot an uncompressed Image (gunzip a vmlinuz first)");
	img->text_offset = get_le64(k + 0x08);
	img->image_size = get_le64(k + 0x10);
	img->flags = get_le64(k + 0x18);
	if (!img->image_size) {
		/* Before 3.17: text_offset is to be taken as 0x80000, and the size is what the file has. */
		img->text_offset = ARM64_IMAGE_OLD_TEXT_OFFSET;
		img->image_size = len;
	}
	if (img->flags & ARM64_IMAGE_FLAG_BE)
		return err_set(ENOEXEC, "the EIF's kernel is a big-endian arm64 Image; Nitro enclaves are little-endian");
	if (img->text_offset >= ARM64_KERNEL_ALIGN)
		return err_set(ENOEXEC, "the EIF's arm64 Image asks for text_offset %#llx, not below 2 MiB",
			       (unsigned long long)img->text_offset);
	if (img->image_size < len)
		return err_set(ENOEXEC, "the EIF's arm64 Image says it is %llu bytes but its section has %llu",
			       (unsigned long long)img->image_size, (unsigned long long)len);
	return 0;
}

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int arm64_layout_boot(uint64_t ram_base, uint64_t ram_size, const struct arm64_image *img, uint64_t initrd_size, uint64_t eif, uint64_t eif_size, struct arm64_layout *l)
{
	uint64_t top = ram_base + ram_size;

	memset(l, 0, sizeof(*l));
	if (ram_base % ARM64_KERNEL_ALIGN || ram_size % ARM64_FDT_ALIGN || ram_size < 2 * ARM64_FDT_ALIGN)
		return err_set(EINVAL, "enclave memory must be whole 2 MiB blocks (it is %llu bytes)",
			       (unsigned long long)ram_size);
	l->kernel = ram_base + img->text_offset;
	l->kernel_end = l->kernel + img->image_size;
	l->fdt = top - ARM64_FDT_ALIGN;
	l->initrd_size = initrd_size;
	if (initrd_size > l->fdt - ram_base)
		goto small;
	l->initrd = initrd_size ? (l->fdt - initrd_size) / ARM64_INITRD_ALIGN * ARM64_INITRD_ALIGN : l->fdt;
	/* The kernel below the initrd; the initrd and device tree clear of the EIF they come from. */
	if (l->kernel_end > l->initrd || overlap(l->initrd, initrd_size, eif, eif_size) ||
	    overlap(l->fdt, ARM64_FDT_ALIGN, eif, eif_size))
		goto small;
	return 0;
small:
	return err_set(ENOMEM, "enclave memory (%llu MiB) is too small for the kernel (%llu MiB unpacked), the "
			       "initrd (%llu MiB) and the image they come from side by side; give the enclave more memory",
		       (unsigned long long)(ram_size >> 20), (unsigned long long)(img->image_size >> 20) + 1,
		       (unsigned long long)(initrd_size >> 20) + 1);
}
