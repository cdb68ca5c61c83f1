// SPDX-License-Identifier: MIT
/*
 * The Linux x86 boot protocol, 64-bit entry (Documentation/arch/x86/boot.rst): the zero page is seeded with the
 * bzImage's own setup header, the protected-mode kernel is placed at 1 MiB and entered at +0x200 in long mode.
 *
 * Everything is read from the EIF where the launch pipeline put it (8 MiB into enclave memory), as Nitro does.
 * The copies are ordered so none destroys a source still needed: command line and setup header first, then the
 * initrd, then the kernel (with memmove: its target below 8 MiB may run into the EIF's own first bytes when the
 * kernel is larger than 7 MiB), then what the initrd left in place needs written.
 *
 * The initrd is left where the EIF holds it when it can be (initrd_plan below): the last ramdisk, the bulk of a
 * large image, stays; the ones before it (nitro-cli's bootstrap ramdisk: a few MiB) are written just below it,
 * after zeros from the page boundary below.
 * Otherwise the ramdisks are copied, joined, to the top of low memory (checked not to overlap the EIF).
 */
#include "x86.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "hypervisor/kvm/kvm.h"

/* Setup header fields, as offsets in the bzImage (and identically in the zero page). */
#define HDR_SETUP_SECTS	    0x1f1
#define HDR_BOOT_FLAG	    0x1fe
#define HDR_JUMP	    0x200
#define HDR_HEADER	    0x202
#define HDR_VERSION	    0x206
#define HDR_TYPE_OF_LOADER  0x210
#define HDR_LOADFLAGS	    0x211
#define HDR_RAMDISK_IMAGE   0x218
#define HDR_RAMDISK_SIZE    0x21c
#define HDR_CMD_LINE_PTR    0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_XLOADFLAGS	    0x236
#define HDR_CMDLINE_SIZE    0x238
#define HDR_PREF_ADDRESS    0x258
#define HDR_INIT_SIZE	    0x260

#define HDR_MAGIC	     0x53726448 /* "HdrS" */
#define HDR_BOOT_FLAG_MAGIC  0xaa55
#define HDR_MIN_VERSION	     0x020c /* 2.12: xloadflags, so the 64-bit entry can be trusted */
#define HDR_SETUP_SECTS_DEF  4	    /* "if setup_sects is 0, the real value is 4" */
#define HDR_SECTOR_SIZE	     512
#define HDR_END_MIN	     0x270  /* bytes a 2.12+ header spans; shorter images cannot be bzImages */
#define LOADER_TYPE_UNKNOWN  0xff
#define LOADFLAGS_LOADED_HIGH 0x01
#define XLF_KERNEL_64	     0x01
#define ENTRY_64_OFFSET	     0x200
#define CMDLINE_SIZE_OLD     255 /* before protocol 2.06 the limit was implicit */

/* boot_params fields outside the setup header. */
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_E820_ENTRIES	  0x1e8
#define BP_E820_TABLE	  0x2d0
#define BP_E820_MAX	  128
#define BP_SIZE		  4096

#define E820_RAM      1
#define E820_RESERVED 2
#define E820_ENTRY_SIZE 20

#define INITRD_ALIGN   4096 /* page-aligned, as every loader does */
/* At most this much of the ramdisks before the last is moved to leave the last in place (held on the heap). */
#define INITRD_MOVE_MAX (64ULL << 20)

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* The checks that make a kernel section bootable by us; one clear sentence when it is not. */
static int check_bzimage(const uint8_t *k, uint64_t len, uint64_t *setup_size)
{
	unsigned int sects;
	uint16_t version;

	if (len < HDR_END_MIN || get_le32(k + HDR_HEADER) != HDR_MAGIC || get_le16(k + HDR_BOOT_FLAG) != HDR_BOOT_FLAG_MAGIC)
		return err_set(ENOEXEC, "the EIF's kernel section is not a bzImage (no \"HdrS\" setup header); "
				       "x86_64 enclaves boot a bzImage");
	version = get_le16(k + HDR_VERSION);
	if (version < HDR_MIN_VERSION)
		return err_set(ENOEXEC, "the EIF's kernel uses boot protocol %u.%02u; nitrovm needs 2.12 or newer "
				       "(Linux 3.8 or later) to enter it in 64-bit mode", version >> 8, version & 0xff);
	if (!(k[HDR_XLOADFLAGS] & XLF_KERNEL_64))
		return err_set(ENOEXEC, "the EIF's kernel has no 64-bit entry point (XLF_KERNEL_64 is clear); "
				       "it is not an x86_64 kernel");
	sects = k[HDR_SETUP_SECTS] ? k[HDR_SETUP_SECTS] : HDR_SETUP_SECTS_DEF;
	*setup_size = (uint64_t)(sects + 1) * HDR_SECTOR_SIZE;
	if (*setup_size >= len)
		return err_set(ENOEXEC, "the EIF's kernel is truncated: its setup code claims %llu of its %llu bytes",
			       (unsigned long long)*setup_size, (unsigned long long)len);
	return 0;
}

static void e820_add(uint8_t *zp, uint64_t addr, uint64_t size, uint32_t type)
{
	uint8_t n = zp[BP_E820_ENTRIES];
	uint8_t *e = zp + BP_E820_TABLE + n * E820_ENTRY_SIZE;

	if (!size || n >= BP_E820_MAX)
		return;
	put_le(e, addr, 8);
	put_le(e + 8, size, 8);
	put_le(e + 16, type, 4);
	zp[BP_E820_ENTRIES] = n + 1;
}

static void build_e820(struct kvm_vm *vm, uint8_t *zp)
{
	uint64_t low = kvm_low_ram_size(vm);

	e820_add(zp, 0, X86_EBDA_START, E820_RAM);
	e820_add(zp, X86_EBDA_START, X86_BIOS_END - X86_EBDA_START, E820_RESERVED);
	e820_add(zp, X86_BIOS_END, low - X86_BIOS_END, E820_RAM);
	if (vm->mem_size > low)
		e820_add(zp, vm->ram_high_base, vm->mem_size - low, E820_RAM);
}

/* The EIF's command line, then QEMU-style -append, then the device declarations of ACPI-less machines. */
static int build_cmdline(struct kvm_vm *vm, const struct eif *e, char *out, size_t max, uint64_t *len)
{
	static const char *const nitro_devices[] = {
		"virtio_mmio.device=4K@0xd0000000:5",
		"virtio_mmio.device=4K@0xd0001000:6",
	};
	size_t n = 0;

	/* The cmdline section has no NUL; stop early at one anyway so the string is what the kernel sees. */
	for (uint64_t i = 0; e->cmdline && i < e->cmdline->size && e->cmdline->data[i] && n + 1 < max; i++)
		out[n++] = (char)e->cmdline->data[i];
	out[n] = '\0';
#define APPEND(s)                                                                              \
	do {                                                                                   \
		int w_ = snprintf(out + n, max - n, "%s%s", n ? " " : "", (s));                \
		if (w_ < 0 || (size_t)w_ >= max - n)                                           \
			return err_set(E2BIG, "the kernel command line is longer than %zu bytes", max - 1); \
		n += (size_t)w_;                                                               \
	} while (0)
	if (vm->cfg.kvm.extra_cmdline && vm->cfg.kvm.extra_cmdline[0])
		APPEND(vm->cfg.kvm.extra_cmdline);
	if (!vm->cfg.kvm.acpi) {
		char rng[64];

		for (size_t i = 0; i < ARRAY_SIZE(nitro_devices); i++)
			if (!strstr(out, nitro_devices[i]))
				APPEND(nitro_devices[i]);
		if (vm->virtio[KVM_VIRTIO_RNG].present) {
			snprintf(rng, sizeof(rng), "virtio_mmio.device=4K@%#llx:%u",
				 (unsigned long long)kvm_virtio_base(KVM_VIRTIO_RNG), kvm_virtio_gsi(KVM_VIRTIO_RNG));
			APPEND(rng);
		}
	}
#undef APPEND
	*len = n;
	return 0;
}

/* The highest address + 1 the initrd may reach: initrd_addr_max is the highest address its last byte may have. */
static uint64_t initrd_top(struct kvm_vm *vm, const uint8_t *hdr)
{
	return MIN(kvm_low_ram_size(vm), (uint64_t)get_le32(hdr + HDR_INITRD_ADDR_MAX) + 1);
}

/*
 * The initrd left where the EIF holds its last ramdisk: [addr, addr + lead) receives zeros, then the ramdisks
 * before it (saved, joined as kvm_initrd_copy joins them), and the last follows in place: the copy's bytes after
 * up to a page of zeros, which Linux's initramfs unpacker skips.  The page-aligned start and the 4-byte aligned
 * archives (the unpacker wants both) need the last ramdisk 4-byte aligned in memory, which the load offset's
 * few extra bytes make so (vm.c).
 */
struct initrd_plan {
	uint64_t addr, size;
	uint64_t lead;	    /* bytes from addr to the last ramdisk */
	uint8_t *saved;	    /* the ramdisks before the last, joined */
	uint64_t saved_len; /* their joined length, 4-byte aligned */
};

/* Whether the initrd can stay in place below top; saves what the plan must write later.  false: copy it. */
static bool plan_initrd_in_place(struct kvm_vm *vm, const struct eif *e, uint64_t top, struct initrd_plan *p)
{
	const struct eif_section *last;
	struct eif head = *e; /* the ramdisks before the last */
	uint64_t off, at, lead;

	memset(p, 0, sizeof(*p));
	if (!e->nramdisks)
		return false;
	last = e->ramdisks[--head.nramdisks];
	off = (uint64_t)(last->data - vm->mem);
	if (off >= kvm_low_ram_size(vm) || last->size > kvm_low_ram_size(vm) - off)
		return false;
	at = vm->ram_base + off;
	lead = (kvm_initrd_size(&head) + RAMDISK_JOIN_ALIGN - 1) / RAMDISK_JOIN_ALIGN * RAMDISK_JOIN_ALIGN;
	if (at % RAMDISK_JOIN_ALIGN || lead > INITRD_MOVE_MAX || at < lead + X86_BIOS_END)
		return false;
	p->addr = (at - lead) / INITRD_ALIGN * INITRD_ALIGN;
	if (p->addr < X86_BIOS_END || at + last->size > top)
		return false;
	p->lead = at - p->addr;
	p->size = p->lead + last->size;
	p->saved_len = lead;
	if (lead) {
		p->saved = malloc(lead);
		if (!p->saved)
			return false; /* copied then, as ever */
		memset(p->saved, 0, lead);
		kvm_initrd_copy(NULL, &head, p->saved);
	}
	return true;
}

/* Whether the guest's own decompressor (or an image booted as it is) stays clear of the planned initrd: it runs
 * from 1 MiB up to its preferred address + init_size. */
static bool plan_fits_decompressor(const struct initrd_plan *p, const uint8_t *hdr, uint64_t init_size)
{
	uint64_t end = MAX(X86_KERNEL_LOAD, get_le64(hdr + HDR_PREF_ADDRESS)) + init_size;

	return end >= X86_KERNEL_LOAD && !ranges_overlap(p->addr, p->size, X86_KERNEL_LOAD, end - X86_KERNEL_LOAD);
}

/* The planned initrd's lead written; after the kernel is in place: the lead may hold the EIF's kernel bytes. */
static void commit_initrd_plan(struct kvm_vm *vm, struct initrd_plan *p)
{
	uint8_t *dst = kvm_gpa(vm, p->addr, p->lead);

	memset(dst, 0, p->lead - p->saved_len);
	if (p->saved_len)
		memcpy(dst + (p->lead - p->saved_len), p->saved, p->saved_len);
}

static int place_initrd(struct kvm_vm *vm, const uint8_t *hdr, const struct eif *e, uint64_t eif_extent,
			struct x86_boot *b)
{
	uint64_t size = kvm_initrd_size(e), top, addr;
	uint8_t *dst;

	b->initrd_size = size;
	if (!size)
		return 0;
	top = initrd_top(vm, hdr);
	if (size > top)
		return err_set(ENOMEM, "the ramdisks (%llu bytes) do not fit below %#llx", (unsigned long long)size,
			       (unsigned long long)top);
	addr = (top - size) / INITRD_ALIGN * INITRD_ALIGN;
	if (addr < X86_BIOS_END || ranges_overlap(addr, size, vm->eif_offset, eif_extent))
		return err_set(ENOMEM, "enclave memory is too small to hold the EIF and its ramdisks unpacked "
				       "side by side; give the enclave more memory");
	dst = kvm_gpa(vm, addr, size);
	kvm_initrd_copy(vm, e, dst);
	b->initrd_addr = addr;
	return 0;
}

/* The initrd's place in the zero page's setup header. */
static void set_initrd_fields(struct kvm_vm *vm, const struct x86_boot *b)
{
	uint8_t *zp = kvm_gpa(vm, X86_ZERO_PAGE, BP_SIZE);

	put_le(zp + HDR_RAMDISK_IMAGE, b->initrd_addr, 4);
	put_le(zp + HDR_RAMDISK_SIZE, b->initrd_size, 4);
}

/* The ramdisks copied high, clear of the EIF and of the kernel's range from 1 MiB. */
static int copy_initrd(struct kvm_vm *vm, const uint8_t *k, const struct eif *e, uint64_t eif_extent,
		       uint64_t init_size, struct x86_boot *b)
{
	int ret = place_initrd(vm, k, e, eif_extent, b);

	if (ret < 0)
		return ret;
	if (b->initrd_size && ranges_overlap(b->initrd_addr, b->initrd_size, X86_KERNEL_LOAD, init_size))
		return err_set(ENOMEM, "enclave memory is too small for the kernel (%llu MiB unpacked) and the "
				       "initrd (%llu MiB); give the enclave more memory",
			       (unsigned long long)(init_size >> 20) + 1,
			       (unsigned long long)(b->initrd_size >> 20) + 1);
	return 0;
}

/*
 * The host path when it may and can boot this kernel; false leaves the kernel to its own decompressor, after
 * one line saying why (none for an image with no compressed payload unless the host path was asked for: such
 * an image is not a compressed Linux kernel, and boots as it is).  An initrd left in place may hold the only
 * place the kernel can go (with nokaslr, its link address): then the initrd is copied and the host path tried
 * once more.  The host path writes nothing when it fails.
 */
static bool boot_on_host(struct kvm_vm *vm, const struct eif *e, uint64_t eif_extent, uint64_t init_size,
			 const char *cmdline, struct x86_boot *b, struct initrd_plan *plan, int *err)
{
	const uint8_t *k = e->kernel->data;
	uint64_t klen = e->kernel->size;
	int ret;

	*err = 0;
	if (vm->cfg.kvm.kernel_boot == HV_KERNEL_BOOT_DECOMPRESSOR)
		return false;
	ret = x86_boot_host(vm, k, klen, cmdline, b);
	if (ret == -ENOSPC && b->initrd_in_place) { /* no room for the kernel beside the initrd (kaslr.c) */
		err_clear();
		free(plan->saved);
		plan->saved = NULL;
		b->initrd_in_place = false;
		ret = copy_initrd(vm, k, e, eif_extent, init_size, b);
		if (ret < 0) {
			*err = ret;
			return false;
		}
		set_initrd_fields(vm, b);
		ret = x86_boot_host(vm, k, klen, cmdline, b);
	}
	if (!ret)
		return true;
	if (ret != -ENODATA || vm->cfg.kvm.kernel_boot == HV_KERNEL_BOOT_HOST)
		fprintf(stderr, "nitrovm: the kernel boots through its own decompressor: %s\n", err_msg());
	err_clear();
	return false;
}

int x86_boot_linux(struct kvm_vm *vm, const struct eif *e, uint64_t eif_extent, struct x86_boot *b)
{
	const uint8_t *k = e->kernel->data;
	uint64_t klen = e->kernel->size, setup_size = 0, pm_size, init_size, hdr_end, max_cmdline;
	struct initrd_plan plan;
	uint8_t *zp, *kdst;
	char *cmdline;
	int ret;

	memset(b, 0, sizeof(*b));
	ret = check_bzimage(k, klen, &setup_size);
	if (ret < 0)
		return ret;
	pm_size = klen - setup_size;
	init_size = MAX(get_le32(k + HDR_INIT_SIZE), pm_size);
	if (X86_KERNEL_LOAD + init_size > kvm_low_ram_size(vm))
		return err_set(ENOMEM, "the kernel needs %llu MiB from 1 MiB up to unpack; the enclave has too little "
				       "memory", (unsigned long long)(init_size >> 20) + 1);

	/* 1. Command line, bounded by what this kernel accepts. */
	max_cmdline = get_le32(k + HDR_CMDLINE_SIZE);
	max_cmdline = max_cmdline ? max_cmdline : CMDLINE_SIZE_OLD;
	max_cmdline = MIN(max_cmdline + 1, X86_CMDLINE_AREA);
	cmdline = kvm_gpa(vm, X86_CMDLINE_ADDR, X86_CMDLINE_AREA);
	ret = build_cmdline(vm, e, cmdline, (size_t)max_cmdline, &b->cmdline_len);
	if (ret < 0)
		return ret;

	/* 2. Zero page: the setup header as the image carries it (0x1f1 to 0x202 + the jump's byte). */
	zp = kvm_gpa(vm, X86_ZERO_PAGE, BP_SIZE);
	memset(zp, 0, BP_SIZE);
	hdr_end = MIN(HDR_JUMP + 2 + (uint64_t)k[HDR_JUMP + 1], (uint64_t)BP_SIZE);
	hdr_end = MIN(hdr_end, klen);
	memcpy(zp + HDR_SETUP_SECTS, k + HDR_SETUP_SECTS, hdr_end - HDR_SETUP_SECTS);
	zp[HDR_TYPE_OF_LOADER] = LOADER_TYPE_UNKNOWN;
	zp[HDR_LOADFLAGS] |= LOADFLAGS_LOADED_HIGH;
	put_le(zp + HDR_CMD_LINE_PTR, X86_CMDLINE_ADDR, 4);
	build_e820(vm, zp);

	/* 3. Ramdisks: left in place when they can be, else concatenated, high. */
	if (plan_initrd_in_place(vm, e, initrd_top(vm, k), &plan)) {
		b->initrd_addr = plan.addr;
		b->initrd_size = plan.size;
		b->initrd_in_place = true;
	} else {
		free(plan.saved);
		ret = copy_initrd(vm, k, e, eif_extent, init_size, b);
		if (ret < 0)
			return ret;
	}
	set_initrd_fields(vm, b);

	/* 4. The kernel: decompressed here, or as it is with its decompressor (memmove: it may overlap the start of
	 * the EIF).  The decompressor's working range may not hold the initrd left in place: copied then. */
	b->zero_page = X86_ZERO_PAGE;
	if (!boot_on_host(vm, e, eif_extent, init_size, cmdline, b, &plan, &ret)) {
		if (ret < 0)
			return ret;
		if (b->initrd_in_place && !plan_fits_decompressor(&plan, k, init_size)) {
			free(plan.saved);
			b->initrd_in_place = false;
			ret = copy_initrd(vm, k, e, eif_extent, init_size, b);
			if (ret < 0)
				return ret;
			set_initrd_fields(vm, b);
		}
		kdst = kvm_gpa(vm, X86_KERNEL_LOAD, pm_size);
		memmove(kdst, k + setup_size, pm_size);
		b->entry = X86_KERNEL_LOAD + ENTRY_64_OFFSET;
	}

	/* 5. What the initrd left in place needs below its last ramdisk, now that no source there is needed. */
	if (b->initrd_in_place) {
		commit_initrd_plan(vm, &plan);
		free(plan.saved);
	}
#ifdef NITROVM_TEST_HOOKS
	if (b->initrd_size && getenv(X86_TRACE_BOOT_ENV)) /* test builds only: where the initrd is */
		fprintf(stderr, "nitrovm: trace-boot: initrd %s at %#llx, %llu bytes\n",
			b->initrd_in_place ? "left in place" : "copied", (unsigned long long)b->initrd_addr,
			(unsigned long long)b->initrd_size);
#endif
	vm->arch.zero_page = X86_ZERO_PAGE;
	return 0;
}

void x86_boot_set_rsdp(struct kvm_vm *vm, uint64_t rsdp)
{
	put_le(kvm_gpa(vm, X86_ZERO_PAGE + BP_ACPI_RSDP_ADDR, 8), rsdp, 8);
}

/* Descriptors as the CPU reads them: flat 4 GiB segments, a 64-bit code segment, and a TSS for TR. */
#define GDT_ENTRY(flags, base, limit)                                                               \
	((((uint64_t)(base) & 0xff000000ULL) << 32) | (((uint64_t)(flags) & 0xf0ffULL) << 40) |      \
	 (((uint64_t)(limit) & 0x000f0000ULL) << 32) | (((uint64_t)(base) & 0x00ffffffULL) << 16) | \
	 ((uint64_t)(limit) & 0x0000ffffULL))
#define GDT_CODE64 GDT_ENTRY(0xa09b, 0, 0xfffff)
#define GDT_DATA   GDT_ENTRY(0xc093, 0, 0xfffff)
#define GDT_TSS	   GDT_ENTRY(0x008b, 0, 0x67)

#define PTE_PRESENT 0x1ULL
#define PTE_RW	    0x2ULL
#define PTE_PS	    0x80ULL
#define PAGE_2M	    (2ULL << 20)
#define PT_ENTRIES  512

int x86_write_boot_tables(struct kvm_vm *vm)
{
	uint64_t gdt[X86_GDT_ENTRIES] = { 0, 0, GDT_CODE64, GDT_DATA, GDT_TSS };
	uint64_t *pml4 = kvm_gpa(vm, X86_PML4_ADDR, 4096);
	uint64_t *pdpt = kvm_gpa(vm, X86_PDPT_ADDR, 4096);
	uint64_t *pd = kvm_gpa(vm, X86_PD_ADDR, 4096ULL * X86_IDENTITY_GIB);
	uint8_t *g = kvm_gpa(vm, X86_GDT_ADDR, sizeof(gdt));

	if (!pml4 || !pdpt || !pd || !g)
		return err_set(ENOMEM, "enclave memory is too small for the boot page tables");
	for (unsigned int i = 0; i < X86_GDT_ENTRIES; i++)
		put_le(g + 8 * i, gdt[i], 8);
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = X86_PDPT_ADDR | PTE_PRESENT | PTE_RW;
	for (unsigned int i = 0; i < X86_IDENTITY_GIB; i++)
		pdpt[i] = (X86_PD_ADDR + 4096ULL * i) | PTE_PRESENT | PTE_RW;
	for (unsigned int i = 0; i < PT_ENTRIES * X86_IDENTITY_GIB; i++)
		pd[i] = (uint64_t)i * PAGE_2M | PTE_PRESENT | PTE_RW | PTE_PS;
	return 0;
}
