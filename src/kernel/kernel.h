/* SPDX-License-Identifier: MIT */
/*
 * Linux x86_64 kernel images on the host: what the bzImage's own decompressor does before the kernel proper
 * runs, done by nitrovm instead (the kernel's Documentation/arch/x86/boot.rst and arch/x86/boot/compressed
 * give the facts):
 *
 *   bzimage.c     the setup header: where the compressed payload is, alignment, preferred address, init_size
 *   decompress.c  the payload by its magic (zstd, gzip, xz, lzma, lz4), into a buffer of the size it announces
 *   vmlinux.c     the decompressed vmlinux ELF, its PT_LOAD segments, and the relocation tables the build
 *                 appends after it; loading it at a physical address with a virtual offset applied
 *   kaslr.c       the physical and virtual placement, chosen like the decompressor's KASLR
 *   cache.c       decompressed kernels kept on disk, keyed by the kernel section's digest, bounded in size
 *
 * A kernel image is untrusted input: every offset and size is checked here, and every function returns 0 or a
 * negative errno with err_msg() set to one sentence.  Nothing here knows about KVM or guest memory layout
 * beyond the buffers it is handed.
 */
#ifndef NITROVM_KERNEL_H
#define NITROVM_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* __START_KERNEL_map: the kernel's virtual base; its text is linked at this + the preferred load address. */
#define KERNEL_START_MAP 0xffffffff80000000ULL
/*
 * KERNEL_IMAGE_SIZE with CONFIG_RANDOMIZE_BASE (arch/x86/include/asm/page_64_types.h): the kernel's virtual
 * mapping is 1 GiB, and the decompressor's virtual KASLR keeps the whole image inside it.
 */
#define KERNEL_IMAGE_SIZE (1ULL << 30)
/*
 * The largest decompressed kernel accepted: the image and everything the build appends must fit in its 1 GiB
 * mapping, so a payload announcing more is not a kernel (and is not given a buffer that size).
 */
#define KERNEL_DECOMPRESSED_MAX KERNEL_IMAGE_SIZE

/* ---- bzimage.c ---- */

enum kernel_format {
	KERNEL_FORMAT_UNKNOWN = 0,
	KERNEL_FORMAT_GZIP,
	KERNEL_FORMAT_BZIP2,
	KERNEL_FORMAT_LZMA,
	KERNEL_FORMAT_XZ,
	KERNEL_FORMAT_LZO,
	KERNEL_FORMAT_LZ4,
	KERNEL_FORMAT_ZSTD,
};

/* What the setup header says about the protected-mode kernel and its payload. */
struct bzimage {
	uint64_t setup_size;	   /* bytes before the protected-mode kernel: (setup_sects + 1) * 512 */
	const uint8_t *payload;	   /* the compressed vmlinux + relocations, its size appended (4 bytes LE) */
	uint64_t payload_len;	   /* without the 4-byte size */
	uint64_t decompressed_len; /* the size the build appended */
	enum kernel_format format;
	uint64_t alignment;	 /* kernel_alignment: physical placement and the virtual KASLR step */
	uint64_t pref_address;	 /* LOAD_PHYSICAL_ADDR: where the image is linked to run */
	uint64_t init_size;	 /* memory the kernel needs from its load address while it starts */
	bool relocatable;	 /* relocatable_kernel: it can run elsewhere than pref_address */
	bool decompressor_kaslr; /* its decompressor was built with KASLR (CONFIG_RANDOMIZE_BASE) */
};

/*
 * Parse the setup header of a bzImage of len bytes for the host path.  Returns 0, -ENODATA when it has no
 * compressed payload at all (not a Linux kernel: nothing to decompress), or -ENOEXEC with a sentence saying why
 * this image cannot be decompressed on the host; the image may still boot through its own decompressor.
 */
int bzimage_parse(const uint8_t *k, uint64_t len, struct bzimage *out);
/* The payload's compression, from its first bytes (the kernel's lib/decompress.c magic numbers). */
enum kernel_format kernel_format_detect(const uint8_t *p, uint64_t len);
const char *kernel_format_name(enum kernel_format f);

/* ---- decompress.c ---- */

/* Whether this build can decompress f on the host (zstd, gzip, xz, lzma, lz4). */
bool kernel_format_supported(enum kernel_format f);
/*
 * Decompress the payload into out, which has room for exactly bz->decompressed_len bytes; fails unless the
 * payload yields exactly that many.
 */
int kernel_decompress(const struct bzimage *bz, uint8_t *out);

/* ---- vmlinux.c ---- */

#define VMLINUX_MAX_SEGMENTS 16 /* a kernel has 4-6 PT_LOAD segments; more is not one */

struct vmlinux_segment {
	uint64_t file_off; /* in the decompressed buffer */
	uint64_t filesz;
	uint64_t image_off; /* from the start of the image (its p_paddr less the preferred address) */
	uint64_t memsz;
};

/* The three relocation tables the build appends after the ELF file (arch/x86/tools/relocs), as file offsets. */
struct vmlinux_relocs {
	uint64_t r64_off, n64;	     /* 64-bit: add the delta */
	uint64_t r32inv_off, n32inv; /* inverse 32-bit: subtract it */
	uint64_t r32_off, n32;	     /* 32-bit: add it */
};

struct vmlinux {
	uint64_t pref_address; /* the link-time physical address the offsets below are relative to */
	unsigned int nsegments;
	struct vmlinux_segment seg[VMLINUX_MAX_SEGMENTS];
	uint64_t entry_off; /* startup_64, from the start of the image */
	uint64_t image_len; /* bytes from the image start to the end of its last segment in memory */
	uint64_t reloc_span; /* bytes from the image start a relocation may patch: the file-backed part */
	struct vmlinux_relocs relocs;
	bool has_relocs;
};

/*
 * Parse a decompressed kernel (the vmlinux ELF, then, when it is relocatable, its relocation tables) of len
 * bytes, linked at pref_address.  Every segment and every relocation is checked to lie inside the image.
 */
int vmlinux_parse(const uint8_t *buf, uint64_t len, uint64_t pref_address, bool relocatable, struct vmlinux *out);
/*
 * Lay the image out in dst (image_len bytes: the guest memory at the chosen physical address), zeroing what the
 * segments do not fill, then apply the relocations for a virtual offset of delta from the link address.
 */
int vmlinux_load(const struct vmlinux *v, const uint8_t *buf, uint8_t *dst, uint64_t dst_len, int64_t delta);

/* ---- kaslr.c ---- */

#define KASLR_MAX_RANGES 16

struct kaslr_range {
	uint64_t start, size;
};

struct kaslr_input {
	struct kaslr_range ram[KASLR_MAX_RANGES]; /* usable RAM */
	unsigned int nram;
	struct kaslr_range avoid[KASLR_MAX_RANGES]; /* what the kernel must not overwrite (initrd, tables...) */
	unsigned int navoid;
	/*
	 * Where the decompressor itself runs (its load address to the end of its buffer): random places avoid it,
	 * the preferred address may lie in it (the decompressor unpacks there in place).
	 */
	struct kaslr_range decompressor;
	uint64_t min_addr;   /* lowest physical address (the preferred address, as the decompressor's start) */
	uint64_t limit;	     /* the image must end below this (what the boot page tables identity-map) */
	uint64_t alignment;  /* kernel_alignment */
	uint64_t image_size; /* what one placement needs */
	uint64_t pref_address;
	bool randomize; /* false: the preferred address, both physical and virtual (nokaslr) */
};

struct kaslr_choice {
	uint64_t phys; /* where the image goes */
	uint64_t virt; /* its virtual offset: text at KERNEL_START_MAP + virt */
	bool phys_randomized;
	uint64_t phys_slots, virt_slots; /* how many places there were to choose from */
};

/* A random number below n (n > 0); tests inject their own. */
typedef uint64_t (*kaslr_random_fn)(void *opaque, uint64_t n);
uint64_t kaslr_getrandom(void *opaque, uint64_t n);

/* Choose where the kernel goes.  -ENOSPC when not even the preferred address is usable. */
int kaslr_choose(const struct kaslr_input *in, kaslr_random_fn rnd, void *opaque, struct kaslr_choice *out);
/* Whether a kernel command line turns KASLR off ("nokaslr" as a whole word, as the decompressor reads it). */
bool kaslr_cmdline_disabled(const char *cmdline);

/* ---- cache.c ---- */

#define KERNEL_CACHE_SUBDIR    "vmlinux"
#define KERNEL_CACHE_MAX_BYTES (1ULL << 30) /* a few decompressed distribution kernels (~55 MiB each) */
#define KERNEL_CACHE_KEY_LEN   32		/* SHA-256 of the kernel section */

/* A decompressed kernel, mapped read-only from the cache, or from memory when it could not be cached. */
struct kernel_image {
	const uint8_t *data;
	uint64_t len;
	bool from_cache; /* found there, not decompressed now */
	bool cached;	 /* kept there for next time */
	int fd;
};

/* The cache directory (no trailing slash), created on demand by the functions below. */
int kernel_cache_dir(char *out, size_t len);
/*
 * The decompressed kernel of bz, whose kernel section has the digest key: from the cache when it holds it,
 * else decompressed now and stored (the cache then trimmed to its bound).  When the cache cannot be used the
 * kernel is decompressed into memory all the same; *note says why it was not kept ("" when it was).
 */
int kernel_image_get(const struct bzimage *bz, const uint8_t key[KERNEL_CACHE_KEY_LEN], struct kernel_image *out,
		     char *note, size_t note_len);
void kernel_image_put(struct kernel_image *img);
/* Remove cached kernels until at most max_bytes are kept (0: all), oldest use first; counts what went. */
int kernel_cache_prune(uint64_t max_bytes, unsigned int *removed, uint64_t *freed);

#endif
