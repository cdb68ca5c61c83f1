/* SPDX-License-Identifier: MIT */
/*
 * The Enclave Image Format: reader and validator (reader.c), writer (writer.c), measurements (measure.c),
 * metadata JSON (metadata.c).  Signatures are in signature.h, the cpio writer in cpio.h.
 *
 * File layout (all integers big-endian, no padding anywhere):
 *   header (548 bytes): magic ".eif", version, flags, default_mem, default_cpus, reserved, num_sections,
 *                        section_offsets[32] (-> each section's 12-byte header), section_sizes[32] (data bytes),
 *                        unused, crc32 (over every byte of the file except the crc itself)
 *   then per section:    type (2), flags (2), size (8), data
 * nitro-cli writes kernel, cmdline, metadata, ramdisk..., signature.
 */
#ifndef NITROVM_EIF_H
#define NITROVM_EIF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"

#define EIF_MAGIC               ".eif"
#define EIF_HEADER_SIZE         548
#define EIF_SECTION_HEADER_SIZE 12
#define EIF_MAX_SECTIONS        32
#define EIF_MIN_SECTIONS        3 /* kernel, cmdline, ramdisk */
#define EIF_VERSION_MIN         2
#define EIF_VERSION             4
#define EIF_CRC_OFFSET          0x220
#define EIF_FLAG_ARM64          0x1
#define EIF_DEFAULT_MEM         (1ULL << 30) /* what nitro-cli writes; nobody reads it */
#define EIF_DEFAULT_CPUS        2
#define EIF_SIGNATURE_MAX_SIZE  32768
#define EIF_METADATA_MAX_CUSTOM 4096 /* nitro-cli's limit on --metadata files */

/* Header field offsets. */
#define EIF_OFF_VERSION      0x04
#define EIF_OFF_FLAGS        0x06
#define EIF_OFF_DEFAULT_MEM  0x08
#define EIF_OFF_DEFAULT_CPUS 0x10
#define EIF_OFF_NUM_SECTIONS 0x1a
#define EIF_OFF_SECTION_OFFS 0x1c
#define EIF_OFF_SECTION_SIZES 0x11c

enum eif_section_type {
	EIF_SECTION_INVALID = 0,
	EIF_SECTION_KERNEL = 1,
	EIF_SECTION_CMDLINE = 2,
	EIF_SECTION_RAMDISK = 3,
	EIF_SECTION_SIGNATURE = 4,
	EIF_SECTION_METADATA = 5,
};

struct eif_section {
	uint16_t type;
	uint16_t flags;
	uint64_t offset; /* of the section's 12-byte header in the file */
	uint64_t size;	 /* data bytes */
	const uint8_t *data;
};

struct eif {
	const uint8_t *base; /* the whole file */
	size_t size;
	uint16_t version;
	uint16_t flags;
	uint64_t default_mem;
	uint64_t default_cpus;
	unsigned int nsections;
	struct eif_section sections[EIF_MAX_SECTIONS];
	uint32_t crc_stored;
	const struct eif_section *kernel, *cmdline, *metadata, *signature;
	unsigned int nramdisks;
	const struct eif_section *ramdisks[EIF_MAX_SECTIONS];
};

/*
 * Parse and validate the structure of an EIF held in memory (not the CRC: that needs a pass over every byte, see
 * eif_measure).  On failure returns -EINVAL and err_msg() names what is wrong and where.  e points into buf.
 */
int eif_parse(struct eif *e, const uint8_t *buf, size_t len);

/* The measurements of one image, from one pass over its bytes. */
struct eif_measurements {
	uint8_t pcr0[SHA384_LEN], pcr1[SHA384_LEN], pcr2[SHA384_LEN];
	uint32_t crc; /* computed; compare with eif.crc_stored */
};

/* PCR0/1/2 and the CRC; the work is spread over two threads on large images. */
int eif_measure(const struct eif *e, struct eif_measurements *m);
/*
 * The same, read from the image file fd in bounded pieces (pread; one pass, two threads), for an image whose
 * structure was parsed from another copy of the same bytes: only layout's section table is used (types,
 * offsets, sizes; never its data pointers).  A file that ends early gives -ESTALE; *stop (may be NULL), when
 * set, -ECANCELED at the next piece.  err_msg() is set either way.
 */
int eif_measure_fd(int fd, const struct eif *layout, const atomic_bool *stop, struct eif_measurements *m);
/* CRC-32 (zlib polynomial) over all bytes except 0x220..0x223. */
uint32_t eif_crc(const uint8_t *buf, size_t len);
uint32_t eif_crc32_update(uint32_t crc, const void *buf, size_t len);

/* A parsed, mapped file: eif_open = file_map_open + eif_parse. */
struct eif_file {
	struct eif eif;
	const uint8_t *map;
	size_t map_size;
	int mapped;
};
int eif_open(struct eif_file *f, const char *path);
void eif_close(struct eif_file *f);

/* Kernel architecture, from the image's own magic. */
enum eif_arch { EIF_ARCH_UNKNOWN, EIF_ARCH_X86_64, EIF_ARCH_ARM64 };
enum eif_arch eif_detect_arch(const uint8_t *kernel, size_t len);

/* ---- writer ---- */

/*
 * A section's bytes made on demand, in order, for inputs too large to hold in memory (a container image's
 * ramdisk): read() fills exactly len bytes, the next of the section; rewind() starts it over (building a
 * signed image reads it twice: once to measure, once to write).
 */
struct eif_stream {
	uint64_t size;
	int (*read)(void *arg, uint8_t *buf, size_t len);
	int (*rewind)(void *arg);
	void *arg;
};

/* One input of a section: bytes in memory. */
struct eif_blob {
	const uint8_t *data;
	size_t size;
};

struct eif_build {
	struct eif_blob kernel;
	struct eif_blob cmdline; /* without trailing NUL or newline */
	struct eif_blob metadata;
	unsigned int nramdisks;
	struct eif_blob ramdisks[EIF_MAX_SECTIONS];
	const struct eif_stream *ramdisk_streams[EIF_MAX_SECTIONS]; /* set: ramdisk i is this stream instead */
	struct eif_blob signature; /* size 0 = unsigned */
	uint16_t flags;
};

/* Size of the EIF that eif_write_* would produce. */
uint64_t eif_build_size(const struct eif_build *b);
/*
 * Write the image to an open file descriptor (at its offset 0) and measure it on the way: m gets PCR0/1/2 and the
 * CRC that was written.  Returns 0 or a negative errno with err_msg() set.
 */
int eif_write_fd(const struct eif_build *b, int fd, const char *path, struct eif_measurements *m);
/* Write the image into a caller-provided buffer of eif_build_size() bytes. */
int eif_write_mem(const struct eif_build *b, uint8_t *out, struct eif_measurements *m);
/* Measure build inputs without writing (PCR0/1/2 only). */
int eif_build_measure(const struct eif_build *b, struct eif_measurements *m);

/* ---- metadata (metadata.c) ---- */

struct eif_metadata_in {
	const char *image_name;
	const char *image_version;
	const char *build_time; /* NULL: now, or SOURCE_DATE_EPOCH when set */
	const char *build_tool;
	const char *build_tool_version;
	const char *operating_system;
	const char *kernel_version;
	const char *docker_info_json;	/* NULL -> null */
	const char *custom_metadata_json; /* NULL -> null; must be valid JSON */
	size_t custom_metadata_len;	  /* its length in bytes; 0: up to its NUL */
};

/*
 * The metadata section as nitro-cli writes it: compact JSON with its keys in its order, the Docker information and
 * custom metadata re-serialised as serde_json does (keys sorted, serde's numbers).  Caller frees *out.
 */
int eif_metadata_build(const struct eif_metadata_in *in, char **out, size_t *len);
/* RFC 3339 time, nanoseconds and "+00:00" as nitro-cli prints it: from SOURCE_DATE_EPOCH if set, else now. */
int eif_build_time(char *out, size_t len);
/* Parse "OperatingSystem"/"KernelVersion" from the kernel image's version string (bzImage) if it has one. */
void eif_kernel_version(const uint8_t *kernel, size_t len, char *os, size_t oslen, char *ver, size_t verlen);

#endif
