// SPDX-License-Identifier: MIT
/*
 * The host boot path: do here what the bzImage's decompressor would do in the guest, then enter the kernel
 * proper.  Its payload is decompressed on the host once (src/kernel/cache.c keeps the result, keyed by the
 * kernel section's SHA-256), its physical and virtual placement is chosen like the decompressor's KASLR, its
 * segments are laid out there and its relocations applied, and the bootstrap processor starts at startup_64
 * with the same zero page, command line, e820 map and initrd as the decompressor path.  Measured under the
 * nested tier, the guest's own zstd decompressor was about half of a Debian kernel's boot.
 *
 * The kernel proper's entry conditions are those of the compressed kernel's 64-bit entry: long mode, an
 * identity map covering the kernel and the zero page (ours maps the first 4 GiB, so the kernel is placed
 * below it), rsi = zero page.  It finds its virtual offset by itself: the relocations patched every absolute
 * reference to its own addresses, so its _text is the randomized one.  KASLR_FLAG in loadflags, which the
 * decompressor sets unless "nokaslr", tells it to randomize its memory regions too.
 *
 * Nothing is written to guest memory until every check has passed: when this path cannot boot the kernel,
 * the caller falls back to the decompressor path, which still needs the EIF's bytes intact.
 */
#include "x86.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "crypto/crypto.h"
#include "hypervisor/kvm/kvm.h"
#include "kernel/kernel.h"

#define HDR_LOADFLAGS	0x211
#define LOADFLAGS_KASLR 0x02 /* KASLR_FLAG: the kernel then randomizes its memory regions as well */

struct host_kernel {
	struct bzimage bz;
	struct kernel_image img;
	struct vmlinux v;
	struct kaslr_choice where;
	uint64_t image_size; /* what a placement needs: the decompressor's needed_size */
	bool randomize;
};

static void avoid(struct kaslr_input *in, uint64_t start, uint64_t size)
{
	if (size && in->navoid < KASLR_MAX_RANGES)
		in->avoid[in->navoid++] = (struct kaslr_range){ start, size };
}

/* The decompressor's view of memory: e820 RAM, less what the boot protocol put there. */
static int place(struct kvm_vm *vm, struct host_kernel *h, const struct x86_boot *b)
{
	uint64_t low = kvm_low_ram_size(vm);
	struct kaslr_input in = {
		.ram = { { 0, X86_EBDA_START }, { X86_BIOS_END, low - X86_BIOS_END } },
		.nram = 2,
		.min_addr = h->bz.pref_address,
		.limit = MIN(low, (uint64_t)X86_IDENTITY_GIB << 30),
		.alignment = h->bz.alignment,
		.image_size = h->image_size,
		.pref_address = h->bz.pref_address,
		.randomize = h->randomize,
		/*
		 * The decompressor runs from the bzImage's load address (1 MiB) to its output buffer's end (the
		 * preferred address + init_size) and never places the kernel there at random; neither do we, so the
		 * kernel lands where the guest's own decompressor could have put it.
		 */
		.decompressor = { X86_KERNEL_LOAD, h->bz.pref_address + h->bz.init_size - X86_KERNEL_LOAD },
	};

	avoid(&in, b->initrd_addr, b->initrd_size);
	avoid(&in, X86_ZERO_PAGE, X86_PAGE_SIZE);
	avoid(&in, X86_CMDLINE_ADDR, b->cmdline_len + 1);
	return kaslr_choose(&in, kaslr_getrandom, NULL, &h->where);
}

static int prepare(struct kvm_vm *vm, const uint8_t *k, uint64_t klen, const char *cmdline, struct x86_boot *b,
		   struct host_kernel *h)
{
	uint8_t key[SHA256_LEN];
	char note[256];
	int ret;

	ret = bzimage_parse(k, klen, &h->bz);
	if (ret < 0)
		return ret;
	if (!kernel_format_supported(h->bz.format))
		return err_set(ENOTSUP, "nitrovm has no host decoder for its %s payload",
			       kernel_format_name(h->bz.format));
	sha256(k, klen, key);
	ret = kernel_image_get(&h->bz, key, &h->img, note, sizeof(note));
	if (ret < 0)
		return ret;
	if (note[0])
		fprintf(stderr, "nitrovm: the decompressed kernel is not kept for next time: %s\n", note);
	ret = vmlinux_parse(h->img.data, h->img.len, h->bz.pref_address, h->bz.relocatable, &h->v);
	if (ret < 0)
		return ret;
	h->image_size = MAX(h->img.len, h->v.image_len);
	h->randomize = h->bz.relocatable && h->bz.decompressor_kaslr && !kaslr_cmdline_disabled(cmdline);
	return place(vm, h, b);
}

int x86_boot_host(struct kvm_vm *vm, const uint8_t *k, uint64_t klen, const char *cmdline, struct x86_boot *b)
{
	struct host_kernel h;
	uint8_t *dst, *zp;
	int ret;

	memset(&h, 0, sizeof(h));
	h.img.fd = -1;
	ret = prepare(vm, k, klen, cmdline, b, &h);
	if (ret < 0)
		goto out;
	dst = kvm_gpa(vm, h.where.phys, h.v.image_len);
	if (!dst) {
		ret = err_set(ENOMEM, "the kernel's place lies outside enclave memory");
		goto out;
	}
	/* From here on nothing fails: the image was checked whole by vmlinux_parse(). */
	ret = vmlinux_load(&h.v, h.img.data, dst, h.v.image_len, (int64_t)(h.where.virt - h.bz.pref_address));
	if (ret < 0)
		goto out;
	zp = kvm_gpa(vm, X86_ZERO_PAGE, X86_PAGE_SIZE);
	if (h.randomize)
		zp[HDR_LOADFLAGS] |= LOADFLAGS_KASLR;
	b->entry = h.where.phys + h.v.entry_off;
#ifdef NITROVM_TEST_HOOKS
	if (getenv(X86_TRACE_BOOT_ENV)) /* test builds only: where the kernel went */
		fprintf(stderr, "nitrovm: trace-boot: kernel %s, physical %#llx of %llu slots, virtual %#llx of %llu "
				"slots, image %llu bytes\n", h.img.from_cache ? "from the cache" : "decompressed",
			(unsigned long long)h.where.phys, (unsigned long long)h.where.phys_slots,
			(unsigned long long)(KERNEL_START_MAP + h.where.virt), (unsigned long long)h.where.virt_slots,
			(unsigned long long)h.image_size);
#endif
	b->kernel_phys = h.where.phys;
	b->kernel_virt = KERNEL_START_MAP + h.where.virt;
	b->host_path = true;
	b->from_cache = h.img.from_cache;
out:
	kernel_image_put(&h.img);
	return ret;
}
