// SPDX-License-Identifier: MIT
/*
 * The decompressed kernel: a (stripped) vmlinux ELF, then the relocation tables that arch/x86/tools/relocs
 * writes when the kernel is relocatable (CONFIG_X86_NEED_RELOCS).  Read from the end of the buffer backwards:
 *
 *   ... ELF ... | 0 | 64-bit entries | 0 | inverse 32-bit entries | 0 | 32-bit entries     (each entry 32 bits)
 *
 * An entry is the link-time virtual address of a field to patch, sign-extended from 32 bits.  The
 * decompressor adds the virtual KASLR offset (the difference from the link address) to 64-bit and 32-bit
 * fields and subtracts it from the inverse ones.  The segments go where their physical addresses say,
 * relative to the preferred address.  Everything is checked by vmlinux_parse() before a byte is written, so
 * loading never stops halfway and never writes outside the destination.
 */
#include "kernel.h"

#include <errno.h>
#include <string.h>

#include "common/le.h"
#include "common/util.h"

#define ELF_HDR_SIZE	 64
#define ELF_PHDR_SIZE	 56
#define ELF_CLASS64	 2
#define ELF_DATA_LSB	 1
#define ELF_TYPE_EXEC	 2
#define ELF_MACHINE_X86_64 62
#define ELF_PT_LOAD	 1
#define ELF_MAX_PHDRS	 64 /* a kernel has a handful; a larger count is not worth scanning */
#define RELOC_ENTRY	 4
#define RELOC_TABLES	 3

static int check_ehdr(const uint8_t *b, uint64_t len)
{
	uint64_t phoff;
	uint16_t phnum;

	if (len < ELF_HDR_SIZE || memcmp(b, "\177ELF", 4) != 0)
		return err_set(ENOEXEC, "the decompressed kernel is not an ELF file");
	if (b[4] != ELF_CLASS64 || b[5] != ELF_DATA_LSB || get_le16(b + 16) != ELF_TYPE_EXEC ||
	    get_le16(b + 18) != ELF_MACHINE_X86_64)
		return err_set(ENOEXEC, "the decompressed kernel is not a 64-bit x86 executable");
	phoff = get_le64(b + 32);
	phnum = get_le16(b + 56);
	if (get_le16(b + 54) != ELF_PHDR_SIZE || !phnum || phnum > ELF_MAX_PHDRS || phoff > len ||
	    (uint64_t)phnum * ELF_PHDR_SIZE > len - phoff)
		return err_set(ENOEXEC, "the decompressed kernel's program headers lie outside it");
	return 0;
}

static int add_segment(struct vmlinux *v, const uint8_t *ph, uint64_t len, uint64_t pref)
{
	uint64_t off = get_le64(ph + 8), paddr = get_le64(ph + 24), filesz = get_le64(ph + 32), memsz = get_le64(ph + 40);
	struct vmlinux_segment *s;

	if (v->nsegments == VMLINUX_MAX_SEGMENTS)
		return err_set(ENOEXEC, "the decompressed kernel has more than %d loadable segments",
			       VMLINUX_MAX_SEGMENTS);
	if (off > len || filesz > len - off || filesz > memsz)
		return err_set(ENOEXEC, "a segment of the decompressed kernel lies outside it");
	if (paddr < pref || paddr - pref > KERNEL_IMAGE_SIZE || memsz > KERNEL_IMAGE_SIZE - (paddr - pref))
		return err_set(ENOEXEC, "a segment of the decompressed kernel is placed outside its 1 GiB mapping "
				       "(physical address %#llx)", (unsigned long long)paddr);
	s = &v->seg[v->nsegments++];
	*s = (struct vmlinux_segment){ off, filesz, paddr - pref, memsz };
	v->image_len = MAX(v->image_len, s->image_off + memsz);
	v->reloc_span = MAX(v->reloc_span, s->image_off + filesz);
	return 0;
}

static int parse_segments(struct vmlinux *v, const uint8_t *b, uint64_t len, uint64_t pref, uint64_t *file_end)
{
	uint64_t phoff = get_le64(b + 32), entry = get_le64(b + 24);
	uint16_t phnum = get_le16(b + 56);
	int ret;

	*file_end = phoff + (uint64_t)phnum * ELF_PHDR_SIZE;
	for (unsigned int i = 0; i < phnum; i++) {
		const uint8_t *ph = b + phoff + (uint64_t)i * ELF_PHDR_SIZE;

		if (get_le32(ph) != ELF_PT_LOAD)
			continue;
		ret = add_segment(v, ph, len, pref);
		if (ret < 0)
			return ret;
		*file_end = MAX(*file_end, get_le64(ph + 8) + get_le64(ph + 32));
	}
	if (!v->nsegments)
		return err_set(ENOEXEC, "the decompressed kernel has no loadable segment");
	if (entry < pref || entry - pref >= v->image_len)
		return err_set(ENOEXEC, "the decompressed kernel's entry point %#llx lies outside it",
			       (unsigned long long)entry);
	v->entry_off = entry - pref;
	return 0;
}

/* Where a relocation entry points, as an offset into the image; false when it points outside what it may. */
static bool reloc_target(const struct vmlinux *v, uint32_t entry, uint64_t pref, unsigned int width,
			 uint64_t *off)
{
	uint64_t va = (uint64_t)(int64_t)(int32_t)entry, link = KERNEL_START_MAP + pref;

	if (va < link || va - link > v->reloc_span || width > v->reloc_span - (va - link))
		return false;
	*off = va - link;
	return true;
}

/* One table, read backwards from *pos (the offset just past its last entry) down to its zero terminator. */
static int scan_table(const struct vmlinux *v, const uint8_t *b, uint64_t file_end, uint64_t pref,
		      unsigned int width, uint64_t *pos, uint64_t *first, uint64_t *count)
{
	uint64_t off, n = 0;

	for (;;) {
		uint32_t e;

		if (*pos < file_end + RELOC_ENTRY)
			return err_set(ENOEXEC, "the decompressed kernel's relocation tables are not terminated");
		*pos -= RELOC_ENTRY;
		e = get_le32(b + *pos);
		if (!e)
			break;
		if (!reloc_target(v, e, pref, width, &off))
			return err_set(ENOEXEC, "a relocation of the decompressed kernel (%#x) points outside it", e);
		n++;
	}
	*first = *pos + RELOC_ENTRY;
	*count = n;
	return 0;
}

static int parse_relocs(struct vmlinux *v, const uint8_t *b, uint64_t len, uint64_t pref, uint64_t file_end)
{
	struct vmlinux_relocs *r = &v->relocs;
	uint64_t pos = len;
	int ret;

	ret = scan_table(v, b, file_end, pref, sizeof(uint32_t), &pos, &r->r32_off, &r->n32);
	if (!ret)
		ret = scan_table(v, b, file_end, pref, sizeof(uint32_t), &pos, &r->r32inv_off, &r->n32inv);
	if (!ret)
		ret = scan_table(v, b, file_end, pref, sizeof(uint64_t), &pos, &r->r64_off, &r->n64);
	if (ret < 0)
		return ret;
	v->has_relocs = true;
	return 0;
}

int vmlinux_parse(const uint8_t *buf, uint64_t len, uint64_t pref_address, bool relocatable, struct vmlinux *out)
{
	uint64_t file_end = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	out->pref_address = pref_address;
	ret = check_ehdr(buf, len);
	if (!ret)
		ret = parse_segments(out, buf, len, pref_address, &file_end);
	/* Only a relocatable kernel's build appends the tables; another one runs at its link address only. */
	if (!ret && relocatable)
		ret = parse_relocs(out, buf, len, pref_address, file_end);
	return ret;
}

static void apply_table(const struct vmlinux *v, const uint8_t *buf, uint64_t first, uint64_t n, int kind,
			uint8_t *dst, int64_t delta)
{
	for (uint64_t i = 0; i < n; i++) {
		uint64_t va = (uint64_t)(int64_t)(int32_t)get_le32(buf + first + i * RELOC_ENTRY);
		uint64_t off = va - (KERNEL_START_MAP + v->pref_address);
		uint8_t *p = dst + off;

		if (kind == 64)
			put_le(p, get_le64(p) + (uint64_t)delta, 8);
		else if (kind == -32)
			put_le(p, (uint32_t)(get_le32(p) - (uint32_t)delta), 4);
		else
			put_le(p, (uint32_t)(get_le32(p) + (uint32_t)delta), 4);
	}
}

/* Apply only the relocations (dst already holds the laid-out image). */
static int vmlinux_relocate(const struct vmlinux *v, const uint8_t *buf, uint8_t *dst, uint64_t dst_len,
			    int64_t delta)
{
	const struct vmlinux_relocs *r = &v->relocs;

	if (!delta)
		return 0;
	if (!v->has_relocs)
		return err_set(ENOEXEC, "the kernel has no relocation tables, so it runs only at its link address");
	if (dst_len < v->reloc_span)
		return err_set(EINVAL, "the destination is smaller than the kernel image");
	apply_table(v, buf, r->r32_off, r->n32, 32, dst, delta);
	apply_table(v, buf, r->r32inv_off, r->n32inv, -32, dst, delta);
	apply_table(v, buf, r->r64_off, r->n64, 64, dst, delta);
	return 0;
}

int vmlinux_load(const struct vmlinux *v, const uint8_t *buf, uint8_t *dst, uint64_t dst_len, int64_t delta)
{
	if (dst_len < v->image_len)
		return err_set(EINVAL, "the destination is smaller than the kernel image");
	for (unsigned int i = 0; i < v->nsegments; i++) {
		const struct vmlinux_segment *s = &v->seg[i];

		memcpy(dst + s->image_off, buf + s->file_off, s->filesz);
		memset(dst + s->image_off + s->filesz, 0, s->memsz - s->filesz);
	}
	return vmlinux_relocate(v, buf, dst, dst_len, delta);
}
