// SPDX-License-Identifier: MIT
/*
 * The flattened device tree writer (fdt.h).  The structure block grows as tokens are appended; property names
 * go to the strings block once each (the kernel looks them up by offset, repeated names share one).
 */
#include "fdt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/grow.h"
#include "common/util.h"

#define FDT_GROW_MIN 1024

void fdt_init(struct fdt_writer *w)
{
	memset(w, 0, sizeof(*w));
}

void fdt_free(struct fdt_writer *w)
{
	free(w->structs);
	free(w->strings);
	memset(w, 0, sizeof(*w));
}

/* Append len bytes (zeros when data is NULL) and pad the structure block to 4 bytes, as every token is. */
static void emit(struct fdt_writer *w, const void *data, size_t len)
{
	size_t padded = (len + 3) & ~(size_t)3;
	uint8_t *p;

	if (w->err)
		return;
	p = grow_array(w->structs, &w->scap, w->slen + padded, 1, FDT_GROW_MIN);
	if (!p) {
		w->err = -errno;
		return;
	}
	w->structs = p;
	memset(w->structs + w->slen, 0, padded);
	if (data)
		memcpy(w->structs + w->slen, data, len);
	w->slen += padded;
}

static void emit_u32(struct fdt_writer *w, uint32_t v)
{
	uint8_t b[4];

	put_be32(b, v);
	emit(w, b, sizeof(b));
}

/* Offset of name in the strings block, added there the first time. */
static uint32_t string_offset(struct fdt_writer *w, const char *name)
{
	size_t n = strlen(name) + 1;
	char *p;

	for (size_t off = 0; off < w->stlen; off += strlen(w->strings + off) + 1)
		if (!strcmp(w->strings + off, name))
			return (uint32_t)off;
	p = grow_array(w->strings, &w->stcap, w->stlen + n, 1, FDT_GROW_MIN);
	if (!p) {
		w->err = w->err ? w->err : -errno;
		return 0;
	}
	w->strings = p;
	memcpy(w->strings + w->stlen, name, n);
	w->stlen += n;
	return (uint32_t)(w->stlen - n);
}

void fdt_begin_node(struct fdt_writer *w, const char *name)
{
	if (w->depth >= FDT_MAX_DEPTH) {
		w->err = w->err ? w->err : -EINVAL;
		return;
	}
	emit_u32(w, FDT_BEGIN_NODE);
	emit(w, name, strlen(name) + 1);
	w->depth++;
}

void fdt_end_node(struct fdt_writer *w)
{
	if (w->depth <= 0) {
		w->err = w->err ? w->err : -EINVAL;
		return;
	}
	emit_u32(w, FDT_END_NODE);
	w->depth--;
}

void fdt_prop(struct fdt_writer *w, const char *name, const void *data, size_t len)
{
	uint32_t off;

	if (w->depth <= 0 || len > UINT32_MAX) {
		w->err = w->err ? w->err : -EINVAL;
		return;
	}
	off = string_offset(w, name);
	emit_u32(w, FDT_PROP);
	emit_u32(w, (uint32_t)len);
	emit_u32(w, off);
	if (len)
		emit(w, data, len);
}

void fdt_prop_empty(struct fdt_writer *w, const char *name)
{
	fdt_prop(w, name, NULL, 0);
}

void fdt_prop_u32(struct fdt_writer *w, const char *name, uint32_t v)
{
	fdt_prop_cells(w, name, &v, 1);
}

void fdt_prop_u64(struct fdt_writer *w, const char *name, uint64_t v)
{
	uint32_t cells[2] = { (uint32_t)(v >> 32), (uint32_t)v };

	fdt_prop_cells(w, name, cells, 2);
}

void fdt_prop_cells(struct fdt_writer *w, const char *name, const uint32_t *cells, size_t n)
{
	uint8_t buf[4 * 32];

	if (n > ARRAY_SIZE(buf) / 4) {
		w->err = w->err ? w->err : -E2BIG;
		return;
	}
	for (size_t i = 0; i < n; i++)
		put_be32(buf + 4 * i, cells[i]);
	fdt_prop(w, name, buf, 4 * n);
}

void fdt_prop_string(struct fdt_writer *w, const char *name, const char *s)
{
	fdt_prop(w, name, s, strlen(s) + 1);
}

void fdt_prop_strings(struct fdt_writer *w, const char *name, const char *list, size_t len)
{
	fdt_prop(w, name, list, len);
}

int fdt_finish(struct fdt_writer *w, size_t max, uint8_t **out, size_t *size)
{
	/* Header, then the reservation map (one terminating entry, 8-byte aligned), structs, strings. */
	size_t rsv = FDT_HEADER_SIZE, structs, strings, total;
	uint8_t *b;

	emit_u32(w, FDT_END);
	if (!w->err && w->depth)
		w->err = -EINVAL;
	if (w->err)
		return err_set(-w->err, "cannot write the device tree: %s", strerror(-w->err));
	structs = rsv + 16;
	strings = structs + w->slen;
	total = strings + w->stlen;
	if (total > max)
		return err_set(E2BIG, "the device tree needs %zu bytes, more than %zu", total, max);
	b = calloc(1, total);
	if (!b)
		return err_set(ENOMEM, "out of memory writing the device tree");
	put_be32(b + 0, FDT_MAGIC);
	put_be32(b + 4, (uint32_t)total);
	put_be32(b + 8, (uint32_t)structs);
	put_be32(b + 12, (uint32_t)strings);
	put_be32(b + 16, (uint32_t)rsv);
	put_be32(b + 20, FDT_VERSION);
	put_be32(b + 24, FDT_LAST_COMP_VERSION);
	put_be32(b + 28, 0); /* boot_cpuid_phys */
	put_be32(b + 32, (uint32_t)w->stlen);
	put_be32(b + 36, (uint32_t)w->slen);
	memcpy(b + structs, w->structs, w->slen);
	memcpy(b + strings, w->strings, w->stlen);
	*out = b;
	*size = total;
	return 0;
}
