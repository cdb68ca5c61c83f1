/* SPDX-License-Identifier: MIT */
/*
 * A flattened device tree writer (the format of the Devicetree Specification, chapter 5: a header, an empty
 * memory reservation map, the structure block and the strings block, all big-endian).  Nodes and properties
 * are appended in order; the first failure (out of memory, unbalanced nodes) sticks and fdt_finish reports it,
 * so a tree is written as a straight list of calls.
 */
#ifndef NITROVM_KVM_ARM64_FDT_H
#define NITROVM_KVM_ARM64_FDT_H

#include <stddef.h>
#include <stdint.h>

#define FDT_MAGIC	     0xd00dfeedU
#define FDT_VERSION	     17
#define FDT_LAST_COMP_VERSION 16
#define FDT_BEGIN_NODE	     0x1U
#define FDT_END_NODE	     0x2U
#define FDT_PROP	     0x3U
#define FDT_END		     0x9U
#define FDT_HEADER_SIZE	     40
/* Deeper than any machine of ours; bounds the writer's bookkeeping. */
#define FDT_MAX_DEPTH	     8

struct fdt_writer {
	uint8_t *structs;
	size_t slen, scap;
	char *strings;
	size_t stlen, stcap;
	int depth;
	int err; /* first failure, negative errno; 0 while all went well */
};

void fdt_init(struct fdt_writer *w);
void fdt_free(struct fdt_writer *w);
void fdt_begin_node(struct fdt_writer *w, const char *name);
void fdt_end_node(struct fdt_writer *w);
void fdt_prop(struct fdt_writer *w, const char *name, const void *data, size_t len);
void fdt_prop_empty(struct fdt_writer *w, const char *name);
void fdt_prop_u32(struct fdt_writer *w, const char *name, uint32_t v);
void fdt_prop_u64(struct fdt_writer *w, const char *name, uint64_t v);
/* A list of 32-bit cells (reg, interrupts...). */
void fdt_prop_cells(struct fdt_writer *w, const char *name, const uint32_t *cells, size_t n);
void fdt_prop_string(struct fdt_writer *w, const char *name, const char *s);
/* A string list: "a\0b\0" given as one buffer of len bytes. */
void fdt_prop_strings(struct fdt_writer *w, const char *name, const char *list, size_t len);
/*
 * The whole blob into a new buffer (*out, *size; free() it), boot_cpuid_phys 0.  -EINVAL when nodes were left
 * open, -E2BIG past max bytes, or the first failure of the calls before.
 */
int fdt_finish(struct fdt_writer *w, size_t max, uint8_t **out, size_t *size);

#endif
