/* SPDX-License-Identifier: MIT */
/*
 * The arm64 Nitro machine's internal interfaces: the device tree that describes it (dt.c, over the writer in
 * fdt.c), the Image header and where the boot protocol puts things (image.c), the vGIC (gic.c), vCPU init and
 * registers (vcpu.c), and the boot itself (boot.c).  dt.c and image.c touch no KVM, so the unit tier runs them
 * on any host; the layout is in arch.h.
 */
#ifndef NITROVM_KVM_ARM64_H
#define NITROVM_KVM_ARM64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hypervisor/kvm/arm64/arch.h"

struct kvm_vm;
struct kvm_vcpu;
struct eif;

/* ---- the device tree (dt.c) ---- */

#define ARM64_DT_MAX_CPUS    64
#define ARM64_DT_MAX_VIRTIO  8
#define ARM64_DT_GIC_PHANDLE 1
/* The UART's input clock: what a PC's 16550 runs at (1.8432 MHz), so the kernel's divisors come out right. */
#define ARM64_SERIAL_CLOCK_HZ 1843200

struct arm64_dt {
	uint64_t ram_base, ram_size;
	unsigned int ncpus;
	uint64_t mpidr[ARM64_DT_MAX_CPUS]; /* each vCPU's MPIDR_EL1, as KVM set it */
	unsigned int gic_version;	    /* 2 or 3 */
	const char *bootargs;
	uint64_t initrd_start, initrd_end; /* [start, end); both 0: no initrd */
	uint64_t kaslr_seed;		   /* 0: none (the kernel then keeps its link-time layout) */
	unsigned int nvirtio;
	struct {
		uint64_t base;
		unsigned int spi;
	} virtio[ARM64_DT_MAX_VIRTIO];
};

/* The machine's flattened device tree (memory, cpus, psci, gic, timer, serial, virtio-mmio, chosen). */
int arm64_dt_build(const struct arm64_dt *p, uint8_t **out, size_t *size);

/* ---- the Image (image.c) ---- */

/* Its 64-byte header (booting.rst), little-endian. */
#define ARM64_IMAGE_HEADER_SIZE	  64
#define ARM64_IMAGE_MAGIC_OFFSET  0x38
#define ARM64_IMAGE_MAGIC	  0x644d5241U /* "ARM\x64" */
#define ARM64_IMAGE_FLAG_BE	  0x1ULL       /* bit 0: a big-endian kernel */
#define ARM64_IMAGE_FLAG_ANYWHERE 0x8ULL       /* bit 3: its base may be anywhere in RAM, not near its start */
/* Before Linux 3.17 image_size was 0 and text_offset unreliable: booting.rst says assume 0x80000 then. */
#define ARM64_IMAGE_OLD_TEXT_OFFSET 0x80000ULL

struct arm64_image {
	uint64_t text_offset;
	uint64_t image_size; /* bytes from the load address the kernel uses (bss included) */
	uint64_t flags;
};

/* Check an EIF's kernel section is a little-endian arm64 Image and read its header; one sentence if not. */
int arm64_image_parse(const uint8_t *k, uint64_t len, struct arm64_image *img);

/* Where the boot puts each piece, in guest-physical addresses. */
struct arm64_layout {
	uint64_t kernel, kernel_end; /* the Image's load address (the 2 MiB base + text_offset), and its end */
	uint64_t initrd, initrd_size;
	uint64_t fdt;
};

/*
 * Lay out a boot in RAM [ram_base, ram_base + ram_size): the kernel at the start of RAM (its 2 MiB base as low
 * as it goes, as old kernels need), the device tree alone in the last 2 MiB, the initrd just below it; none
 * may overlap another, nor the image [eif, eif + eif_size) the pieces are still to be copied from (except the
 * kernel, copied last).  -ENOMEM with a sentence when the memory is too small.
 */
int arm64_layout_boot(uint64_t ram_base, uint64_t ram_size, const struct arm64_image *img, uint64_t initrd_size, uint64_t eif, uint64_t eif_size, struct arm64_layout *l);

/* ---- KVM (machine.c, gic.c, vcpu.c, boot.c) ---- */

/* Create the in-kernel vGIC after the vCPUs: v3, else v2 where the host has only that. */
int arm64_gic_create(struct kvm_vm *vm);
/* Its interrupt lines and KVM_DEV_ARM_VGIC_CTRL_INIT: last, once every vCPU exists. */
int arm64_gic_init(struct kvm_vm *vm);
void arm64_gic_destroy(struct kvm_vm *vm);
/* KVM_IRQ_LINE's irq for SPI n. */
uint32_t arm64_spi_irq_line(unsigned int spi);

int arm64_vcpu_mpidr(struct kvm_vcpu *vcpu, uint64_t *mpidr);
/* The boot CPU's registers: PC at the Image, x0 = the device tree, x1-x3 = 0, EL1h with DAIF masked. */
int arm64_vcpu_boot_regs(struct kvm_vcpu *vcpu, uint64_t pc, uint64_t fdt);

/* Lay out and copy the boot of the EIF found at the load offset; *entry and *fdt for the boot vCPU. */
int arm64_boot_linux(struct kvm_vm *vm, const struct eif *e, uint64_t eif_extent, uint64_t *entry,
		     uint64_t *fdt);

#endif
