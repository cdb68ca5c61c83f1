/* SPDX-License-Identifier: MIT */
/*
 * The x86_64 Nitro machine: what the guest finds in memory and in its vCPUs at the first instruction.
 *
 * Guest-physical layout (low memory; RAM starts at 0 and runs to 3 GiB, then resumes at 4 GiB):
 *   0x00500  GDT                              0x07000  zero page (struct boot_params)
 *   0x08ff0  initial stack                    0x09000  PML4, 0x0a000 PDPT, 0x0b000-0x0efff four PDs (4 GiB)
 *   0x20000  kernel command line              0x9fc00-0xfffff reserved in e820 (EBDA and BIOS area)
 *   0xe0000  ACPI: RSDP, then RSDT/XSDT/FADT/MADT/DSDT
 *   0xf0000  MP floating pointer and MP configuration table
 *   0x100000 the bzImage's protected-mode kernel (64-bit entry at +0x200)
 *   8 MiB    the EIF itself (where the launch pipeline put it), read from there
 *   top of RAM below 4 GiB and initrd_addr_max: the ramdisks, concatenated as one initrd
 *   0xd0000000 virtio-mmio windows, 0xfec00000 IOAPIC, 0xfee00000 local APICs, 0xfffbd000 KVM's TSS pages
 */
#ifndef NITROVM_KVM_X86_H
#define NITROVM_KVM_X86_H

#include <stdbool.h>
#include <stdint.h>

#include "eif/eif.h"

struct kvm_vm;
struct kvm_vcpu;

#define X86_GDT_ADDR	    0x500ULL
#define X86_ZERO_PAGE	    0x7000ULL
#define X86_BOOT_STACK	    0x8ff0ULL
#define X86_PML4_ADDR	    0x9000ULL
#define X86_PDPT_ADDR	    0xa000ULL
#define X86_PD_ADDR	    0xb000ULL
#define X86_IDENTITY_GIB    4 /* one PD page per GiB identity-mapped with 2 MiB pages */
#define X86_CMDLINE_ADDR    0x20000ULL
#define X86_CMDLINE_AREA    0x10000ULL /* room reserved for the command line, NUL included */
#define X86_EBDA_START	    0x9fc00ULL
#define X86_ACPI_START	    0xe0000ULL
#define X86_ACPI_END	    0xf0000ULL
#define X86_MPTABLE_START   0xf0000ULL
#define X86_BIOS_END	    0x100000ULL
#define X86_KERNEL_LOAD	    0x100000ULL
#define X86_KVM_TSS_ADDR    0xfffbd000ULL
/* The 32-bit MMIO hole: RAM stops at 3 GiB and resumes at 4 GiB (the virtio windows, IOAPIC, LAPIC live there). */
#define X86_MMIO_HOLE_START (3ULL << 30)
#define X86_MMIO_HOLE_END   (4ULL << 30)
#define X86_IOAPIC_ADDR	    0xfec00000ULL
#define X86_LAPIC_ADDR	    0xfee00000ULL
#define X86_IOAPIC_PINS	    24
#define X86_ISA_IRQS	    16
#define X86_PAGE_SIZE	    4096ULL

/* GDT selectors: the 64-bit boot protocol wants __BOOT_CS = 0x10 and __BOOT_DS = 0x18. */
#define X86_GDT_CODE_SEL 0x10
#define X86_GDT_DATA_SEL 0x18
#define X86_GDT_TSS_SEL	 0x20
#define X86_GDT_ENTRIES	 5

/* What boot.c decided, for the vCPU registers and the tables. */
struct x86_boot {
	uint64_t entry; /* 64-bit entry point: load address + 0x200 */
	uint64_t zero_page;
	uint64_t initrd_addr, initrd_size;
	bool initrd_in_place; /* left where the EIF holds its last ramdisk (boot.c) */
	uint64_t cmdline_len;
	/* The host path (boot_host.c): where the kernel proper went, and whether the cache had it. */
	bool host_path, from_cache;
	uint64_t kernel_phys, kernel_virt;
};

/* Lay out the Linux boot of the EIF found at the load offset (kernel, cmdline + extra, initrd, zero page). */
int x86_boot_linux(struct kvm_vm *vm, const struct eif *e, uint64_t eif_extent, struct x86_boot *b);
/* Set: the host path prints where it put the kernel (tests and benchmarks read it; nothing else changes). */
#define X86_TRACE_BOOT_ENV "NITROVM_TRACE_BOOT"

/*
 * The host path: decompress the kernel section k (or take it from the cache), place it like the decompressor's
 * KASLR (honouring "nokaslr" in cmdline), load and relocate it, and point b->entry at startup_64.  b already
 * holds the initrd and command line.  On failure guest memory is untouched and err_msg() says why.
 */
int x86_boot_host(struct kvm_vm *vm, const uint8_t *k, uint64_t klen, const char *cmdline, struct x86_boot *b);
/* Record the RSDP address in the zero page (boot_params.acpi_rsdp_addr). */
void x86_boot_set_rsdp(struct kvm_vm *vm, uint64_t rsdp);
/* The GDT and identity page tables the BSP starts on. */
int x86_write_boot_tables(struct kvm_vm *vm);
/* Registers of the bootstrap processor: long mode, paging on, rip at the 64-bit entry, rsi = zero page. */
int x86_setup_bsp(struct kvm_vcpu *vcpu, const struct x86_boot *b);
/* Every vCPU: CPUID (APIC id and topology), boot MSRs, LAPIC LINT0/LINT1, FPU. */
int x86_setup_vcpu(struct kvm_vcpu *vcpu);
/* The guest's TSC minus the host's, now (NITROVM_TRACE_START: places guest TSC readings on the host's clock). */
int x86_guest_tsc_offset(struct kvm_vcpu *vcpu, int64_t *offset);

/* Tables (mptable.c, acpi.c). */
int x86_write_mptable(struct kvm_vm *vm);
int x86_write_acpi(struct kvm_vm *vm, uint64_t *rsdp);

/* The CPUID the host's KVM supports, fetched once per VM (cpuid.c). */
int x86_cpuid_init(struct kvm_vm *vm);
/* Whether this host runs under QEMU's TCG (its hypervisor CPUID signature): the nested test tier. */
bool x86_host_is_tcg(void);
void x86_cpuid_free(struct kvm_vm *vm);
/* This vCPU's CPUID (before its MSRs: KVM checks MSRs against CPUID). */
int x86_setup_cpuid(struct kvm_vcpu *vcpu);
/* Leaf 1 EAX/EDX for the MP table's processor entries. */
void x86_cpuid_signature(const struct kvm_vm *vm, uint32_t *eax, uint32_t *edx);

#endif
