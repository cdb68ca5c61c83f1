// SPDX-License-Identifier: MIT
/*
 * Unit tests of the host boot path's kernel handling (src/kernel/): the payload of Debian's real 6.12 cloud and
 * generic kernels (scripts/fetch-kernel provides them) decompressed and relocated, every payload format on
 * synthetic data, the ELF and relocation checks on hand-made images, the KASLR choice with injected
 * randomness, and the cache.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <lz4.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "common/cache_root.h"
#include "common/le.h"
#include "common/util.h"
#include "kernel/kernel.h"

#define PREF	  0x1000000ULL
#define ALIGN_2M  0x200000ULL
#define SYN_PAGES 4

/* ---- real kernels ---- */

struct real_kernel {
	uint8_t *data;
	size_t len;
};

static char kernel_paths[2][PATH_MAX + 64];

/* scripts/fetch-kernel prints NITROVM_CLOUD_KERNEL=... and NITROVM_GENERIC_KERNEL=...; no kernels: fail. */
static int fetch_kernels(void **state)
{
	const char *script = getenv("NITROVM_FETCH_KERNEL");
	char line[PATH_MAX + 64];
	FILE *p;

	(void)state;
	if (!script)
		fail_msg("NITROVM_FETCH_KERNEL is not set: run this test with meson test");
	p = popen(script, "r");
	if (!p)
		fail_msg("cannot run %s", script);
	while (fgets(line, sizeof(line), p)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, "NITROVM_CLOUD_KERNEL=", 21))
			snprintf(kernel_paths[0], sizeof(kernel_paths[0]), "%s", line + 21);
		if (!strncmp(line, "NITROVM_GENERIC_KERNEL=", 23))
			snprintf(kernel_paths[1], sizeof(kernel_paths[1]), "%s", line + 23);
	}
	if (pclose(p) != 0 || !kernel_paths[0][0] || !kernel_paths[1][0])
		fail_msg("%s did not provide Debian's cloud and generic kernels (see docs/testing.md)", script);
	return 0;
}

static void load_real(int which, struct real_kernel *k)
{
	assert_int_equal(file_read_all(kernel_paths[which], &k->data, &k->len, 256 << 20), 0);
}

/* Relocating by delta changes exactly the fields the tables name, by exactly delta. */
static void check_relocation(const struct vmlinux *v, const uint8_t *img)
{
	const int64_t delta = 37 * (int64_t)ALIGN_2M;
	uint8_t *a = malloc(v->image_len), *b = malloc(v->image_len);
	const struct vmlinux_relocs *r = &v->relocs;
	uint64_t va, off;

	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(vmlinux_load(v, img, a, v->image_len, 0), 0);
	assert_int_equal(vmlinux_load(v, img, b, v->image_len, delta), 0);
	for (uint64_t i = 0; i < r->n64; i++) {
		va = (uint64_t)(int64_t)(int32_t)get_le32(img + r->r64_off + 4 * i);
		off = va - KERNEL_START_MAP - PREF;
		assert_int_equal(get_le64(b + off) - get_le64(a + off), (uint64_t)delta);
		put_le(b + off, get_le64(a + off), 8);
	}
	for (uint64_t i = 0; i < r->n32; i++) {
		va = (uint64_t)(int64_t)(int32_t)get_le32(img + r->r32_off + 4 * i);
		off = va - KERNEL_START_MAP - PREF;
		assert_int_equal((uint32_t)(get_le32(b + off) - get_le32(a + off)), (uint32_t)delta);
		put_le(b + off, get_le32(a + off), 4);
	}
	for (uint64_t i = 0; i < r->n32inv; i++) {
		va = (uint64_t)(int64_t)(int32_t)get_le32(img + r->r32inv_off + 4 * i);
		off = va - KERNEL_START_MAP - PREF;
		assert_int_equal((uint32_t)(get_le32(a + off) - get_le32(b + off)), (uint32_t)delta);
		put_le(b + off, get_le32(a + off), 4);
	}
	/* With every patched field put back, nothing else differs. */
	assert_memory_equal(a, b, v->image_len);
	free(a);
	free(b);
}

static void test_real_kernel(int which)
{
	struct real_kernel k;
	struct bzimage bz;
	struct vmlinux v;
	uint8_t *img;

	load_real(which, &k);
	assert_int_equal(bzimage_parse(k.data, k.len, &bz), 0);
	/* Debian's 6.12: zstd, relocatable, KASLR, CONFIG_PHYSICAL_START 16 MiB, CONFIG_PHYSICAL_ALIGN 2 MiB. */
	assert_int_equal(bz.format, KERNEL_FORMAT_ZSTD);
	assert_true(kernel_format_supported(bz.format));
	assert_true(bz.relocatable);
	assert_true(bz.decompressor_kaslr);
	assert_int_equal(bz.pref_address, PREF);
	assert_int_equal(bz.alignment, ALIGN_2M);
	assert_true(bz.decompressed_len > 40 * MiB && bz.decompressed_len <= bz.init_size);
	img = malloc(bz.decompressed_len);
	assert_non_null(img);
	assert_int_equal(kernel_decompress(&bz, img), 0);
	assert_int_equal(vmlinux_parse(img, bz.decompressed_len, bz.pref_address, true, &v), 0);
	assert_true(v.nsegments >= 3);
	assert_int_equal(v.seg[0].image_off, 0); /* the text segment starts at the link address */
	assert_true(v.entry_off < v.seg[0].memsz);
	assert_true(v.has_relocs && v.relocs.n64 > 10000 && v.relocs.n32 > 10000 && v.relocs.n32inv > 1000);
	assert_true(v.image_len > 32 * MiB && v.image_len < KERNEL_IMAGE_SIZE);
	check_relocation(&v, img);
	free(img);
	free(k.data);
}

static void test_cloud_kernel(void **state)
{
	(void)state;
	test_real_kernel(0);
}

static void test_generic_kernel(void **state)
{
	(void)state;
	test_real_kernel(1);
}

/* A truncated or corrupted payload is an error with a sentence, never a crash. */
static void test_real_kernel_corrupt(void **state)
{
	struct real_kernel k;
	struct bzimage bz, cut;
	uint8_t *img;

	(void)state;
	load_real(0, &k);
	assert_int_equal(bzimage_parse(k.data, k.len, &bz), 0);
	img = malloc(bz.decompressed_len);
	assert_non_null(img);
	cut = bz;
	cut.payload_len /= 2;
	assert_int_equal(kernel_decompress(&cut, img), -ENOEXEC);
	assert_non_null(strstr(err_msg(), "zstd"));
	k.data[bz.payload - k.data + bz.payload_len / 3] ^= 0x5a;
	assert_int_equal(kernel_decompress(&bz, img), -ENOEXEC);
	/* A payload offset past the end of the image. */
	put_le(k.data + 0x248, k.len, 4);
	assert_int_equal(bzimage_parse(k.data, k.len, &bz), -ENOEXEC);
	free(img);
	free(k.data);
}

static void test_cache(void **state)
{
	char dir[] = "/tmp/nitrovm-test-cache.XXXXXX";
	uint8_t key[KERNEL_CACHE_KEY_LEN] = { 1, 2, 3 };
	struct kernel_image a, b;
	struct real_kernel k;
	struct bzimage bz;
	unsigned int removed = 0;
	uint64_t freed = 0;
	char note[256];

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(cache_root_set(dir), 0);
	load_real(0, &k);
	assert_int_equal(bzimage_parse(k.data, k.len, &bz), 0);
	assert_int_equal(kernel_image_get(&bz, key, &a, note, sizeof(note)), 0);
	assert_string_equal(note, "");
	assert_false(a.from_cache);
	assert_true(a.cached);
	assert_int_equal(kernel_image_get(&bz, key, &b, note, sizeof(note)), 0);
	assert_true(b.from_cache);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	kernel_image_put(&a);
	kernel_image_put(&b);
	assert_int_equal(kernel_cache_prune(0, &removed, &freed), 0);
	assert_int_equal(removed, 1);
	assert_int_equal(freed, bz.decompressed_len);
	assert_int_equal(cache_root_set(NULL), 0);
	rmdir(dir); /* the vmlinux subdirectory stays if the prune failed; the test has failed then anyway */
	free(k.data);
}

/* ---- every payload format, on synthetic data ---- */

static void fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 2654435761u) >> 13) & (i & 0x100 ? 0xff : 0x0f);
}

static size_t pack_zstd(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
	return ZSTD_compress(out, cap, in, n, 3);
}

static size_t pack_gzip(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
	z_stream s;

	memset(&s, 0, sizeof(s));
	assert_int_equal(deflateInit2(&s, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
	s.next_in = (Bytef *)in;
	s.avail_in = (uInt)n;
	s.next_out = out;
	s.avail_out = (uInt)cap;
	assert_int_equal(deflate(&s, Z_FINISH), Z_STREAM_END);
	deflateEnd(&s);
	return s.total_out;
}

static size_t pack_xz(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
	size_t pos = 0;

	assert_int_equal(lzma_easy_buffer_encode(1, LZMA_CHECK_CRC32, NULL, in, n, out, &pos, cap), LZMA_OK);
	return pos;
}

static size_t pack_lzma(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
	lzma_stream s = LZMA_STREAM_INIT;
	lzma_options_lzma o;

	lzma_lzma_preset(&o, 1);
	assert_int_equal(lzma_alone_encoder(&s, &o), LZMA_OK);
	s.next_in = in;
	s.avail_in = n;
	s.next_out = out;
	s.avail_out = cap;
	assert_int_equal(lzma_code(&s, LZMA_FINISH), LZMA_STREAM_END);
	lzma_end(&s);
	return s.total_out;
}

/* lz4's legacy frame, as "lz4 -l" writes it: magic, then (size, block) pairs of at most 8 MiB input each. */
static size_t pack_lz4(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
	size_t o = 4;

	put_le(out, 0x184c2102, 4);
	for (size_t i = 0; i < n; i += 8 << 20) {
		int c = LZ4_compress_default((const char *)in + i, (char *)out + o + 4, (int)MIN(n - i, 8u << 20),
					     (int)(cap - o - 4));

		assert_true(c > 0);
		put_le(out + o, (uint32_t)c, 4);
		o += 4 + (size_t)c;
	}
	return o;
}

static void roundtrip(enum kernel_format f, size_t (*pack)(const uint8_t *, size_t, uint8_t *, size_t))
{
	const size_t n = 9 * MiB + 123; /* more than one lz4 block */
	uint8_t *in = malloc(n), *packed = malloc(n + MiB), *out = malloc(n + 16);
	struct bzimage bz = { .format = f, .decompressed_len = n };

	assert_non_null(in);
	assert_non_null(packed);
	assert_non_null(out);
	fill(in, n);
	bz.payload = packed;
	bz.payload_len = pack(in, n, packed, n + MiB);
	assert_int_equal(kernel_format_detect(packed, bz.payload_len), f);
	assert_int_equal(kernel_decompress(&bz, out), 0);
	assert_memory_equal(in, out, n);
	/* Announcing more than the stream holds, or cutting the stream short, is an error. */
	bz.decompressed_len = n + 16;
	assert_true(kernel_decompress(&bz, out) < 0);
	bz.decompressed_len = n;
	bz.payload_len /= 2;
	assert_true(kernel_decompress(&bz, out) < 0);
	free(in);
	free(packed);
	free(out);
}

static void test_formats(void **state)
{
	struct bzimage bz = { .format = KERNEL_FORMAT_BZIP2 };
	uint8_t out[16];

	(void)state;
	roundtrip(KERNEL_FORMAT_ZSTD, pack_zstd);
	roundtrip(KERNEL_FORMAT_GZIP, pack_gzip);
	roundtrip(KERNEL_FORMAT_XZ, pack_xz);
	roundtrip(KERNEL_FORMAT_LZMA, pack_lzma);
	roundtrip(KERNEL_FORMAT_LZ4, pack_lz4);
	assert_false(kernel_format_supported(KERNEL_FORMAT_BZIP2));
	assert_false(kernel_format_supported(KERNEL_FORMAT_LZO));
	assert_int_equal(kernel_decompress(&bz, out), -ENOTSUP);
}

/* An .lzma header announcing a 4 GiB dictionary is refused, not allocated (found by fuzz_kernel_image). */
static void test_lzma_huge_dictionary(void **state)
{
	uint8_t payload[64] = { 0x5d, 0xff, 0xff, 0xff, 0xff };
	uint8_t out[4096];
	struct bzimage bz = { .format = KERNEL_FORMAT_LZMA, .payload = payload, .payload_len = sizeof(payload),
			      .decompressed_len = sizeof(out) };

	(void)state;
	memset(payload + 5, 0xff, 8); /* size unknown */
	assert_int_equal(kernel_decompress(&bz, out), -ENOEXEC);
	assert_non_null(strstr(err_msg(), "dictionary"));
}

/* ---- hand-made vmlinux images ---- */

/*
 * An ELF with two PT_LOAD segments (text at the link address, data 2 MiB up with bss after it), then the three
 * relocation tables: one field of each kind, in the data segment.
 */
struct syn {
	uint8_t buf[3 * 4096 + 64];
	size_t len;
};

#define SYN_DATA_OFF   0x2000
#define SYN_DATA_IMAGE 0x200000ULL

static void syn_phdr(uint8_t *ph, uint64_t off, uint64_t image_off, uint64_t filesz, uint64_t memsz)
{
	put_le(ph, 1, 4); /* PT_LOAD */
	put_le(ph + 8, off, 8);
	put_le(ph + 16, KERNEL_START_MAP + PREF + image_off, 8);
	put_le(ph + 24, PREF + image_off, 8);
	put_le(ph + 32, filesz, 8);
	put_le(ph + 40, memsz, 8);
}

static uint32_t syn_va(uint64_t image_off)
{
	return (uint32_t)(KERNEL_START_MAP + PREF + image_off);
}

static void syn_build(struct syn *s)
{
	uint8_t *b = s->buf;
	size_t o;

	memset(s, 0, sizeof(*s));
	memcpy(b, "\177ELF", 4);
	b[4] = 2;
	b[5] = 1;
	put_le(b + 16, 2, 2);
	put_le(b + 18, 62, 2);
	put_le(b + 24, PREF + 0x40, 8); /* entry */
	put_le(b + 32, 64, 8);	  /* phoff */
	put_le(b + 54, 56, 2);
	put_le(b + 56, 2, 2);
	syn_phdr(b + 64, 0x1000, 0, 0x1000, 0x1000);
	syn_phdr(b + 64 + 56, SYN_DATA_OFF, SYN_DATA_IMAGE, 0x1000, 0x3000);
	memset(b + 0x1000, 0x90, 0x1000);
	put_le(b + SYN_DATA_OFF + 0x10, KERNEL_START_MAP + PREF + 0x40, 8); /* a 64-bit pointer */
	put_le(b + SYN_DATA_OFF + 0x20, (uint32_t)(KERNEL_START_MAP + PREF + 0x80), 4);
	put_le(b + SYN_DATA_OFF + 0x30, 0x1000, 4); /* an inverse field */
	o = 3 * 4096;
	put_le(b + o, 0, 4);
	put_le(b + o + 4, syn_va(SYN_DATA_IMAGE + 0x10), 4);
	put_le(b + o + 8, 0, 4);
	put_le(b + o + 12, syn_va(SYN_DATA_IMAGE + 0x30), 4);
	put_le(b + o + 16, 0, 4);
	put_le(b + o + 20, syn_va(SYN_DATA_IMAGE + 0x20), 4);
	s->len = o + 24;
}

static void test_vmlinux_synthetic(void **state)
{
	const int64_t delta = 3 * ALIGN_2M;
	struct vmlinux v;
	struct syn s;
	uint8_t *img;

	(void)state;
	syn_build(&s);
	assert_int_equal(vmlinux_parse(s.buf, s.len, PREF, true, &v), 0);
	assert_int_equal(v.nsegments, 2);
	assert_int_equal(v.entry_off, 0x40);
	assert_int_equal(v.image_len, SYN_DATA_IMAGE + 0x3000);
	assert_int_equal(v.relocs.n64, 1);
	assert_int_equal(v.relocs.n32inv, 1);
	assert_int_equal(v.relocs.n32, 1);
	img = malloc(v.image_len);
	assert_non_null(img);
	memset(img, 0xee, v.image_len);
	assert_int_equal(vmlinux_load(&v, s.buf, img, v.image_len, delta), 0);
	assert_int_equal(img[0x40], 0x90);
	assert_int_equal(get_le64(img + SYN_DATA_IMAGE + 0x10), KERNEL_START_MAP + PREF + 0x40 + delta);
	assert_int_equal(get_le32(img + SYN_DATA_IMAGE + 0x20), (uint32_t)(KERNEL_START_MAP + PREF + 0x80 + delta));
	assert_int_equal(get_le32(img + SYN_DATA_IMAGE + 0x30), (uint32_t)(0x1000 - delta));
	assert_int_equal(img[SYN_DATA_IMAGE + 0x2000], 0); /* bss zeroed */
	assert_int_equal(vmlinux_load(&v, s.buf, img, v.image_len - 1, delta), -EINVAL);
	free(img);
}

static void expect_refused(struct syn *s, const char *what)
{
	struct vmlinux v;

	assert_int_equal(vmlinux_parse(s->buf, s->len, PREF, true, &v), -ENOEXEC);
	assert_non_null(strstr(err_msg(), what));
	syn_build(s);
}

static void test_vmlinux_refused(void **state)
{
	struct vmlinux v;
	struct syn s;

	(void)state;
	syn_build(&s);
	put_le(s.buf + 3 * 4096 + 4, syn_va(SYN_DATA_IMAGE + 0x1000), 4); /* 64-bit field in bss */
	expect_refused(&s, "points outside");
	put_le(s.buf + 3 * 4096 + 20, syn_va(SYN_DATA_IMAGE + 0x1000 - 3), 4); /* straddles the end */
	expect_refused(&s, "points outside");
	put_le(s.buf + 3 * 4096 + 4, 0x1000, 4); /* not a kernel address */
	expect_refused(&s, "points outside");
	put_le(s.buf + 3 * 4096, syn_va(SYN_DATA_IMAGE + 0x18), 4); /* no first terminator: runs into the ELF */
	expect_refused(&s, "not terminated");
	put_le(s.buf + 64 + 56 + 32, 0x100000, 8); /* filesz past the file */
	expect_refused(&s, "outside it");
	put_le(s.buf + 64 + 24, 0x100000, 8); /* below the preferred address */
	expect_refused(&s, "placed outside");
	put_le(s.buf + 24, PREF + 0x10000000, 8);
	expect_refused(&s, "entry point");
	s.buf[18] = 3; /* i386 */
	expect_refused(&s, "64-bit x86");
	put_le(s.buf + 56, 1000, 2);
	expect_refused(&s, "program headers");
	/* Not relocatable: the tables are not looked for. */
	put_le(s.buf + 3 * 4096, 0x7777, 4);
	assert_int_equal(vmlinux_parse(s.buf, s.len, PREF, false, &v), 0);
	assert_false(v.has_relocs);
}

/* ---- the setup header ---- */

static void hdr_build(uint8_t *k, size_t len, uint32_t payload_len)
{
	memset(k, 0, len);
	k[0x1f1] = 3; /* setup: 4 sectors */
	put_le(k + 0x1fe, 0xaa55, 2);
	put_le(k + 0x202, 0x53726448, 4);
	put_le(k + 0x206, 0x020f, 2);
	put_le(k + 0x230, ALIGN_2M, 4);
	k[0x234] = 1;
	put_le(k + 0x248, 0x100, 4);
	put_le(k + 0x24c, payload_len, 4);
	put_le(k + 0x258, PREF, 8);
	put_le(k + 0x260, 64 * MiB, 4);
	k[0x800 + 0x100] = 0x28; /* zstd */
	k[0x800 + 0x101] = 0xb5;
	put_le(k + 0x800 + 0x100 + payload_len - 4, 1000, 4);
	memcpy(k + 0x800 + 0x100 + payload_len, "KASLR", 5);
}

static void test_bzimage(void **state)
{
	uint8_t k[0x2000];
	struct bzimage bz;

	(void)state;
	hdr_build(k, sizeof(k), 0x200);
	assert_int_equal(bzimage_parse(k, sizeof(k), &bz), 0);
	assert_int_equal(bz.setup_size, 0x800);
	assert_ptr_equal(bz.payload, k + 0x900);
	assert_int_equal(bz.payload_len, 0x1fc);
	assert_int_equal(bz.decompressed_len, 1000);
	assert_true(bz.decompressor_kaslr);
	memset(k + 0xb00, 0, 5);
	assert_int_equal(bzimage_parse(k, sizeof(k), &bz), 0);
	assert_false(bz.decompressor_kaslr);
	hdr_build(k, sizeof(k), 0);
	assert_int_equal(bzimage_parse(k, sizeof(k), &bz), -ENODATA);
	hdr_build(k, sizeof(k), 0x200);
	put_le(k + 0x24c, 0x1800, 4);
	assert_int_equal(bzimage_parse(k, sizeof(k), &bz), -ENOEXEC);
	hdr_build(k, sizeof(k), 0x200);
	put_le(k + 0x230, 0x1000, 4);
	assert_int_equal(bzimage_parse(k, sizeof(k), &bz), -ENOEXEC);
	hdr_build(k, sizeof(k), 0x200);
	put_le(k + 0x258, PREF + 0x1000, 8);
	assert_int_equal(bzimage_parse(k, sizeof(k), &bz), -ENOEXEC);
	hdr_build(k, sizeof(k), 0x200);
	put_le(k + 0x800 + 0x100 + 0x200 - 4, 65 * MiB, 4); /* more than init_size */
	assert_int_equal(bzimage_parse(k, sizeof(k), &bz), -ENOEXEC);
	hdr_build(k, sizeof(k), 0x200);
	k[0x900] = 0x77;
	assert_int_equal(bzimage_parse(k, sizeof(k), &bz), -ENOEXEC);
	hdr_build(k, sizeof(k), 0x200);
	k[0x202] = 'X';
	assert_int_equal(bzimage_parse(k, sizeof(k), &bz), -ENOEXEC);
}

/* ---- KASLR ---- */

static uint64_t pick_last(void *opaque, uint64_t n)
{
	(void)opaque;
	return n - 1;
}

static uint64_t pick_first(void *opaque, uint64_t n)
{
	(void)opaque;
	(void)n;
	return 0;
}

static void kaslr_setup(struct kaslr_input *in)
{
	*in = (struct kaslr_input){
		.ram = { { 0, 0x9fc00 }, { 0x100000, 256 * MiB - 0x100000 } },
		.nram = 2,
		.avoid = { { 200 * MiB, 40 * MiB } }, /* an initrd */
		.navoid = 1,
		.min_addr = PREF,
		.limit = 256 * MiB,
		.alignment = ALIGN_2M,
		.image_size = 55 * MiB,
		.pref_address = PREF,
		.randomize = true,
	};
}

static void test_kaslr(void **state)
{
	struct kaslr_input in;
	struct kaslr_choice c;

	(void)state;
	kaslr_setup(&in);
	assert_int_equal(kaslr_choose(&in, pick_last, NULL, &c), 0);
	/* Slots from 16 MiB while image end <= 200 MiB: (200 - 16 - 55) / 2 + 1 = 65; none above the initrd. */
	assert_true(c.phys_randomized);
	assert_int_equal(c.phys_slots, 65);
	assert_int_equal(c.phys, PREF + 64 * ALIGN_2M);
	assert_true(c.phys + in.image_size <= 200 * MiB);
	/* Virtual: (1024 - 16 - 55) / 2 + 1 = 477 slots of 2 MiB from the link address. */
	assert_int_equal(c.virt_slots, 477);
	assert_int_equal(c.virt, PREF + 476 * ALIGN_2M);
	assert_int_equal(kaslr_choose(&in, pick_first, NULL, &c), 0);
	assert_int_equal(c.phys, PREF);
	assert_int_equal(c.virt, PREF);
	/* Every real pick is aligned, inside RAM and the limit, and clear of the initrd. */
	for (int i = 0; i < 200; i++) {
		assert_int_equal(kaslr_choose(&in, kaslr_getrandom, NULL, &c), 0);
		assert_int_equal(c.phys % ALIGN_2M, 0);
		assert_int_equal(c.virt % ALIGN_2M, 0);
		assert_true(c.phys >= PREF && c.phys + in.image_size <= 200 * MiB);
		assert_true(c.virt >= PREF && c.virt + in.image_size <= KERNEL_IMAGE_SIZE);
	}
	/* nokaslr: the link address, both ways. */
	in.randomize = false;
	assert_int_equal(kaslr_choose(&in, pick_last, NULL, &c), 0);
	assert_int_equal(c.phys, PREF);
	assert_int_equal(c.virt, PREF);
	/* The decompressor's own range: no random place in it, but the preferred address may be. */
	kaslr_setup(&in);
	in.decompressor = (struct kaslr_range){ 0x100000, PREF + 56 * MiB - 0x100000 };
	for (int i = 0; i < 100; i++) {
		assert_int_equal(kaslr_choose(&in, kaslr_getrandom, NULL, &c), 0);
		assert_true(c.phys >= PREF + 56 * MiB);
	}
	assert_int_equal(c.phys_slots, (200 - 16 - 56 - 55) / 2 + 1);
	in.randomize = false;
	assert_int_equal(kaslr_choose(&in, pick_last, NULL, &c), 0);
	assert_int_equal(c.phys, PREF);
	/* Exactly one place, then none: a sentence, not a kernel over the initrd. */
	kaslr_setup(&in);
	in.avoid[0] = (struct kaslr_range){ 71 * MiB, 20 * MiB };
	in.limit = 100 * MiB;
	assert_int_equal(kaslr_choose(&in, kaslr_getrandom, NULL, &c), 0);
	assert_int_equal(c.phys_slots, 1);
	assert_int_equal(c.phys, PREF);
	in.avoid[0] = (struct kaslr_range){ 70 * MiB, 20 * MiB };
	assert_int_equal(kaslr_choose(&in, pick_last, NULL, &c), -ENOSPC);
	assert_non_null(strstr(err_msg(), "more memory"));
}

static void test_nokaslr_word(void **state)
{
	(void)state;
	assert_true(kaslr_cmdline_disabled("nokaslr"));
	assert_true(kaslr_cmdline_disabled("console=ttyS0 nokaslr quiet"));
	assert_true(kaslr_cmdline_disabled("a\tnokaslr"));
	assert_false(kaslr_cmdline_disabled("console=ttyS0"));
	assert_false(kaslr_cmdline_disabled("nokaslrx nokaslr=1 xnokaslr"));
	assert_false(kaslr_cmdline_disabled(""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_lzma_huge_dictionary),
		cmocka_unit_test(test_vmlinux_synthetic),
		cmocka_unit_test(test_vmlinux_refused),
		cmocka_unit_test(test_bzimage),
		cmocka_unit_test(test_kaslr),
		cmocka_unit_test(test_nokaslr_word),
		cmocka_unit_test(test_cloud_kernel),
		cmocka_unit_test(test_generic_kernel),
		cmocka_unit_test(test_real_kernel_corrupt),
		cmocka_unit_test(test_cache),
	};

	return cmocka_run_group_tests(tests, fetch_kernels, NULL);
}
