// SPDX-License-Identifier: MIT
/*
 * EIF reader and validator.  Walks the section headers from byte 548 the way nitro-cli does, and cross-checks
 * section_offsets[]/section_sizes[] the way QEMU does, so a file accepted here is accepted by both.  Every
 * rejection names the section (index and type) and the byte position involved.  The CRC needs every byte and is
 * computed by eif_measure() together with the PCRs.
 */
#include "eif.h"

#include <errno.h>
#include <string.h>

#include "common/util.h"

static const char *const section_names[] = {
	[EIF_SECTION_INVALID] = "invalid", [EIF_SECTION_KERNEL] = "kernel",	  [EIF_SECTION_CMDLINE] = "cmdline",
	[EIF_SECTION_RAMDISK] = "ramdisk", [EIF_SECTION_SIGNATURE] = "signature", [EIF_SECTION_METADATA] = "metadata",
};

static const char *eif_section_type_name(unsigned int type)
{
	return type < ARRAY_SIZE(section_names) ? section_names[type] : "unknown";
}

static int parse_header(struct eif *e, const uint8_t *buf, size_t len)
{
	if (len < EIF_HEADER_SIZE)
		return err_set(EINVAL, "the file is %zu bytes, shorter than the %d-byte EIF header; it is truncated or "
				       "not an EIF",
			       len, EIF_HEADER_SIZE);
	if (memcmp(buf, EIF_MAGIC, 4))
		return err_set(EINVAL, "the file does not start with the EIF magic \".eif\" (found %02x %02x %02x %02x); "
				       "it is not an enclave image",
			       buf[0], buf[1], buf[2], buf[3]);
	e->version = get_be16(buf + EIF_OFF_VERSION);
	if (e->version < EIF_VERSION_MIN || e->version > EIF_VERSION)
		return err_set(EINVAL, "EIF version %u is not supported (versions %d to %d are)", e->version,
			       EIF_VERSION_MIN, EIF_VERSION);
	e->flags = get_be16(buf + EIF_OFF_FLAGS);
	if (e->flags & ~EIF_FLAG_ARM64)
		return err_set(EINVAL, "header flags 0x%04x have reserved bits set (only bit 0, arm64, is defined)",
			       e->flags);
	e->default_mem = get_be64(buf + EIF_OFF_DEFAULT_MEM);
	e->default_cpus = get_be64(buf + EIF_OFF_DEFAULT_CPUS);
	e->nsections = get_be16(buf + EIF_OFF_NUM_SECTIONS);
	if (e->nsections > EIF_MAX_SECTIONS)
		return err_set(EINVAL, "the header declares %u sections, more than the maximum of %d", e->nsections,
			       EIF_MAX_SECTIONS);
	if (e->nsections < EIF_MIN_SECTIONS)
		return err_set(EINVAL, "the header declares %u section%s; an EIF needs at least %d: a kernel, a "
				       "cmdline and a ramdisk",
			       e->nsections, e->nsections == 1 ? "" : "s", EIF_MIN_SECTIONS);
	e->crc_stored = get_be32(buf + EIF_CRC_OFFSET);
	return 0;
}

/* Read section i's header at the offset the header table gives, and check it against the table and the file. */
static int parse_section(struct eif *e, unsigned int i, uint64_t expect_off)
{
	const uint8_t *buf = e->base;
	struct eif_section *s = &e->sections[i];
	uint64_t table_off = get_be64(buf + EIF_OFF_SECTION_OFFS + 8 * i);
	uint64_t table_size = get_be64(buf + EIF_OFF_SECTION_SIZES + 8 * i);
	uint64_t end;

	if (table_off != expect_off) {
		if (table_off < expect_off)
			return err_set(EINVAL, "section %u starts at byte %llu, inside the previous section or header "
					       "(which ends at byte %llu): sections overlap",
				       i, (unsigned long long)table_off, (unsigned long long)expect_off);
		return err_set(EINVAL, "section %u starts at byte %llu, but the previous section ends at byte %llu: "
				       "EIF sections must be contiguous",
			       i, (unsigned long long)table_off, (unsigned long long)expect_off);
	}
	if (table_off > e->size || e->size - table_off < EIF_SECTION_HEADER_SIZE)
		return err_set(EINVAL, "section %u's header at byte %llu lies past the end of the file (%zu bytes)", i,
			       (unsigned long long)table_off, e->size);
	s->offset = table_off;
	s->type = get_be16(buf + table_off);
	s->flags = get_be16(buf + table_off + 2);
	s->size = get_be64(buf + table_off + 4);
	if (s->type == EIF_SECTION_INVALID || s->type > EIF_SECTION_METADATA)
		return err_set(EINVAL, "section %u at byte %llu has unknown type %u", i, (unsigned long long)table_off,
			       s->type);
	if (s->flags)
		return err_set(EINVAL, "section %u (%s) has reserved flags 0x%04x set", i, eif_section_type_name(s->type),
			       s->flags);
	if (s->size != table_size)
		return err_set(EINVAL, "section %u (%s) is %llu bytes by its own header but %llu bytes by the EIF "
				       "header",
			       i, eif_section_type_name(s->type), (unsigned long long)s->size,
			       (unsigned long long)table_size);
	end = table_off + EIF_SECTION_HEADER_SIZE;
	if (s->size > e->size - end)
		return err_set(EINVAL, "section %u (%s) ends at byte %llu, past the end of the file (%zu bytes)", i,
			       eif_section_type_name(s->type), (unsigned long long)(end + s->size), e->size);
	s->data = buf + end;
	return 0;
}

static int classify(struct eif *e, unsigned int i)
{
	const struct eif_section *s = &e->sections[i];
	const char *what = eif_section_type_name(s->type);

	switch (s->type) {
	case EIF_SECTION_KERNEL:
		if (e->kernel)
			return err_set(EINVAL, "section %u is a second kernel; an EIF has exactly one", i);
		e->kernel = s;
		break;
	case EIF_SECTION_CMDLINE:
		if (e->cmdline)
			return err_set(EINVAL, "section %u is a second cmdline; an EIF has exactly one", i);
		e->cmdline = s;
		break;
	case EIF_SECTION_RAMDISK:
		e->ramdisks[e->nramdisks++] = s;
		break;
	case EIF_SECTION_SIGNATURE:
		if (e->version < 3)
			return err_set(EINVAL, "section %u is a signature, which EIF version %u does not have", i,
				       e->version);
		if (e->signature)
			return err_set(EINVAL, "section %u is a second %s section; an EIF has at most one", i, what);
		if (s->size > EIF_SIGNATURE_MAX_SIZE)
			return err_set(EINVAL, "section %u (signature) is %llu bytes, more than the maximum of %d", i,
				       (unsigned long long)s->size, EIF_SIGNATURE_MAX_SIZE);
		e->signature = s;
		break;
	case EIF_SECTION_METADATA:
		if (e->version < 4)
			return err_set(EINVAL, "section %u is metadata, which EIF version %u does not have", i,
				       e->version);
		if (e->metadata)
			return err_set(EINVAL, "section %u is a second %s section; an EIF has at most one", i, what);
		e->metadata = s;
		break;
	}
	return 0;
}

int eif_parse(struct eif *e, const uint8_t *buf, size_t len)
{
	uint64_t off = EIF_HEADER_SIZE;
	int ret;

	memset(e, 0, sizeof(*e));
	e->base = buf;
	e->size = len;
	ret = parse_header(e, buf, len);
	if (ret)
		return ret;
	for (unsigned int i = 0; i < e->nsections; i++) {
		ret = parse_section(e, i, off);
		if (!ret)
			ret = classify(e, i);
		if (ret)
			return ret;
		off = e->sections[i].offset + EIF_SECTION_HEADER_SIZE + e->sections[i].size;
	}
	for (unsigned int i = e->nsections; i < EIF_MAX_SECTIONS; i++)
		if (get_be64(buf + EIF_OFF_SECTION_OFFS + 8 * i) || get_be64(buf + EIF_OFF_SECTION_SIZES + 8 * i))
			return err_set(EINVAL, "the header declares %u sections but has an entry for section %u",
				       e->nsections, i);
	/* nitro-cli walks section headers to the end of the file: trailing bytes would be read as a section. */
	if (off != len)
		return err_set(EINVAL, "%llu bytes follow the last section (which ends at byte %llu of %zu); the file "
				       "has trailing data or a section missing from the header",
			       (unsigned long long)(len - off), (unsigned long long)off, len);
	if (!e->kernel)
		return err_set(EINVAL, "the image has no kernel section");
	if (!e->kernel->size)
		return err_set(EINVAL, "section %u (kernel) is empty", (unsigned int)(e->kernel - e->sections));
	if (!e->cmdline)
		return err_set(EINVAL, "the image has no cmdline section");
	if (!e->nramdisks)
		return err_set(EINVAL, "the image has no ramdisk section; an enclave needs at least one");
	/* The spec's one ordering rule: every ramdisk follows the kernel. */
	if (e->ramdisks[0] < e->kernel)
		return err_set(EINVAL, "section %u (ramdisk) comes before the kernel (section %u); ramdisks must "
				       "follow it",
			       (unsigned int)(e->ramdisks[0] - e->sections), (unsigned int)(e->kernel - e->sections));
	if (e->version >= 4 && !e->metadata)
		return err_set(EINVAL, "the image has no metadata section, which EIF version 4 requires");
	return 0;
}

int eif_open(struct eif_file *f, const char *path)
{
	struct file_map m;
	int ret;

	memset(f, 0, sizeof(*f));
	ret = file_map_open(&m, path);
	if (ret)
		return ret;
	f->map = m.data;
	f->map_size = m.size;
	f->mapped = m.mapped;
	ret = eif_parse(&f->eif, m.data, m.size);
	if (ret) {
		eif_close(f);
		return err_wrap(-ret, "%s is not a valid EIF", path);
	}
	return 0;
}

void eif_close(struct eif_file *f)
{
	struct file_map m = { .data = f->map, .size = f->map_size, .mapped = f->mapped };

	if (f->map)
		file_map_close(&m);
	memset(f, 0, sizeof(*f));
}

enum eif_arch eif_detect_arch(const uint8_t *kernel, size_t len)
{
	/* bzImage: "HdrS" at 0x202; arm64 Image: "ARM\x64" at 0x38. */
	if (len >= 0x206 && !memcmp(kernel + 0x202, "HdrS", 4))
		return EIF_ARCH_X86_64;
	if (len >= 0x40 && !memcmp(kernel + 0x38, "ARM\x64", 4))
		return EIF_ARCH_ARM64;
	return EIF_ARCH_UNKNOWN;
}
