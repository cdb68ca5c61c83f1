// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the host boot path's parsers on untrusted bytes, the way a kernel section reaches them.
 * The first byte picks what the rest is:
 *
 *   0  a bzImage: setup header, payload (decompressed when small), then the vmlinux inside it, loaded;
 *   1  a decompressed kernel: the vmlinux ELF and its relocation tables, parsed and loaded at a delta;
 *   2  the KASLR choice over memory ranges and ranges to avoid read from the input.
 *
 * Besides ASan and UBSan it checks the promises boot_host.c relies on: a loaded image stays inside the buffer
 * it was given (ASan sees any write past it), every relocation lands inside the image, and a placement is
 * aligned, below the limit and clear of what it must avoid.  A broken promise aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/le.h"
#include "kernel/kernel.h"

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "fuzz_kernel_image: broken promise: %s\n", #cond); \
			abort();                                                           \
		}                                                                          \
	} while (0)

/* Bounds of this target only (what the fuzzer may make us allocate), not of the parsers. */
#define FUZZ_MAX_DECOMPRESSED (16u << 20)
#define FUZZ_MAX_IMAGE	      (16u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_relocs(const struct vmlinux *v, const uint8_t *buf)
{
	const uint64_t firsts[] = { v->relocs.r64_off, v->relocs.r32_off, v->relocs.r32inv_off };
	const uint64_t counts[] = { v->relocs.n64, v->relocs.n32, v->relocs.n32inv };

	for (int t = 0; t < 3; t++)
		for (uint64_t i = 0; i < counts[t]; i++) {
			uint64_t va = (uint64_t)(int64_t)(int32_t)get_le32(buf + firsts[t] + 4 * i);
			uint64_t off = va - KERNEL_START_MAP - v->pref_address;

			CHECK(va >= KERNEL_START_MAP + v->pref_address);
			CHECK(off + (t ? 4 : 8) <= v->reloc_span && v->reloc_span <= v->image_len);
		}
}

static void load_vmlinux(const uint8_t *buf, uint64_t len, uint64_t pref, bool relocatable, int64_t delta)
{
	struct vmlinux v;
	uint8_t *img;

	if (vmlinux_parse(buf, len, pref, relocatable, &v) < 0)
		return;
	CHECK(v.nsegments > 0 && v.entry_off < v.image_len && v.image_len <= KERNEL_IMAGE_SIZE);
	if (v.has_relocs)
		check_relocs(&v, buf);
	if (v.image_len > FUZZ_MAX_IMAGE)
		return;
	img = malloc(v.image_len ? v.image_len : 1);
	if (!img)
		return;
	/* Exactly image_len bytes: ASan reports a write past them. */
	vmlinux_load(&v, buf, img, v.image_len, relocatable ? delta : 0);
	free(img);
}

static void fuzz_bzimage(const uint8_t *data, size_t size)
{
	struct bzimage bz;
	uint8_t *out;

	if (bzimage_parse(data, size, &bz) < 0)
		return;
	CHECK(bz.payload >= data && bz.payload + bz.payload_len + 4 <= data + size);
	CHECK(bz.decompressed_len && bz.decompressed_len <= bz.init_size);
	if (!kernel_format_supported(bz.format) || bz.decompressed_len > FUZZ_MAX_DECOMPRESSED)
		return;
	out = malloc(bz.decompressed_len);
	if (!out)
		return;
	if (kernel_decompress(&bz, out) == 0)
		load_vmlinux(out, bz.decompressed_len, bz.pref_address, bz.relocatable, (int64_t)bz.alignment);
	free(out);
}

static uint64_t take(const uint8_t **p, size_t *n)
{
	uint64_t v = 0;

	if (*n >= 8) {
		v = get_le64(*p);
		*p += 8;
		*n -= 8;
	}
	return v;
}

static uint64_t fuzz_random(void *opaque, uint64_t n)
{
	return *(const uint64_t *)opaque % n;
}

static void fuzz_kaslr(const uint8_t *p, size_t n)
{
	struct kaslr_input in = { .nram = 0 };
	struct kaslr_choice c;
	uint64_t r = take(&p, &n);

	in.alignment = 1ULL << (21 + take(&p, &n) % 4);
	in.pref_address = (take(&p, &n) % 64) * in.alignment + in.alignment;
	in.min_addr = in.pref_address;
	in.image_size = take(&p, &n) % (512u << 20) + 1;
	in.limit = take(&p, &n) % (8ULL << 30);
	in.randomize = take(&p, &n) & 1;
	in.decompressor.start = take(&p, &n) % (1ULL << 30);
	in.decompressor.size = take(&p, &n) % (1ULL << 30);
	while (n >= 16 && in.nram < KASLR_MAX_RANGES) {
		in.ram[in.nram].start = take(&p, &n) % (8ULL << 30);
		in.ram[in.nram++].size = take(&p, &n) % (4ULL << 30);
		if (n >= 16 && in.navoid < KASLR_MAX_RANGES) {
			in.avoid[in.navoid].start = take(&p, &n) % (8ULL << 30);
			in.avoid[in.navoid++].size = take(&p, &n) % (1ULL << 30);
		}
	}
	if (kaslr_choose(&in, fuzz_random, &r, &c) < 0)
		return;
	CHECK(c.phys % in.alignment == 0 && c.virt % in.alignment == 0);
	CHECK(c.phys + in.image_size <= in.limit);
	CHECK(c.virt >= in.pref_address && (c.virt + in.image_size <= KERNEL_IMAGE_SIZE || c.virt == in.pref_address));
	for (unsigned int i = 0; i < in.navoid; i++)
		CHECK(!in.avoid[i].size || c.phys + in.image_size <= in.avoid[i].start ||
		      in.avoid[i].start + in.avoid[i].size <= c.phys);
	if (c.phys_randomized) {
		bool in_ram = false;

		CHECK(!in.decompressor.size || c.phys + in.image_size <= in.decompressor.start ||
		      in.decompressor.start + in.decompressor.size <= c.phys);

		for (unsigned int i = 0; i < in.nram; i++)
			in_ram |= c.phys >= in.ram[i].start && c.phys + in.image_size <= in.ram[i].start + in.ram[i].size;
		CHECK(in_ram && c.phys >= in.min_addr);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		fuzz_bzimage(data + 1, size - 1);
		break;
	case 1:
		load_vmlinux(data + 1, size - 1, 0x1000000, true, 0x600000);
		break;
	default:
		fuzz_kaslr(data + 1, size - 1);
		break;
	}
	return 0;
}
