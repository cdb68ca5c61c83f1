/* SPDX-License-Identifier: MIT */
/*
 * The arm64 Nitro machine's guest-physical layout and its part of struct kvm_vm.  The shape is Firecracker's
 * aarch64 machine (the one AWS's enclave kernel config expects: a device tree, an 8250-compatible UART and no
 * PL011, virtio-mmio, GICv2/v3, PSCI): devices in the 1 GiB below RAM, RAM from 2 GiB.
 *
 *   0x3f7f0000  GICv3 redistributors, 128 KiB per vCPU, room for HV_MAX_VCPUS below the distributor
 *   0x3ffe0000  GICv2 CPU interface (8 KiB), when the host offers only a GICv2
 *   0x3fff0000  GIC distributor (64 KiB), ending where the device space starts
 *   0x40000000  16550A UART (4 KiB window), SPI 4
 *   0x40001000  virtio-mmio: vsock (SPI 5), NSM (SPI 6), the rng test device (SPI 7), 4 KiB each
 *   0x80000000  RAM: the kernel at its 2 MiB-aligned base + text_offset, the EIF at 8 MiB (the load offset),
 *               the ramdisks below the device tree, the device tree in the last 2 MiB
 */
#ifndef NITROVM_KVM_ARM64_ARCH_H
#define NITROVM_KVM_ARM64_ARCH_H

#include <stdint.h>

/* RAM starts at 2 GiB, as in Arm's memory map convention (DEN0001) and Firecracker; no hole above it. */
#define ARM64_RAM_BASE 0x80000000ULL
/* What 40 bits of guest-physical address (KVM's default IPA size) leave for RAM above its base. */
#define ARM64_RAM_MAX ((1ULL << 40) - ARM64_RAM_BASE)

/* Device space: 1 GiB up to RAM.  The UART first, then the virtio-mmio windows right after it. */
#define ARM64_MMIO_BASE	    0x40000000ULL
#define ARM64_SERIAL_BASE   ARM64_MMIO_BASE
#define ARM64_SERIAL_SIZE   0x1000ULL
#define KVM_ARCH_VIRTIO_BASE (ARM64_SERIAL_BASE + ARM64_SERIAL_SIZE)

/*
 * Interrupts.  SPI n is the GIC's INTID 32 + n; KVM_IRQFD's gsi is the SPI number (KVM's default routing).
 * The numbers repeat the x86 machine's ISA lines (UART 4, virtio from 5) so both read alike.
 */
#define ARM64_SPI_BASE		 32
#define ARM64_SERIAL_SPI	 4
#define KVM_ARCH_VIRTIO_GSI_BASE 5
/* Interrupt lines the vGIC gets: the 32 private ones and 32 SPIs (KVM wants a multiple of 32, at least 64). */
#define ARM64_GIC_NR_IRQS 64

/* The GIC just below the device space, so RAM and devices never move when the vCPU count changes. */
#define ARM64_GIC_DIST_SIZE	   0x10000ULL /* GICD: one 64 KiB frame (v2 and v3) */
#define ARM64_GIC_DIST_BASE	   (ARM64_MMIO_BASE - ARM64_GIC_DIST_SIZE)
#define ARM64_GIC_CPU_SIZE	   0x2000ULL /* GICv2 GICC: 8 KiB, with GICC_DIR at 0x1000 */
#define ARM64_GIC_CPU_BASE	   (ARM64_GIC_DIST_BASE - 0x10000ULL) /* 64 KiB-aligned, for 64 KiB-page hosts */
#define ARM64_GIC_REDIST_PER_CPU 0x20000ULL /* GICv3 GICR: RD_base and SGI_base, 64 KiB each */
#define ARM64_GIC_REDIST_BASE	   (ARM64_GIC_DIST_BASE - 64ULL * ARM64_GIC_REDIST_PER_CPU)

/* The Image boot protocol (Documentation/arch/arm64/booting.rst). */
#define ARM64_KERNEL_ALIGN   (2ULL << 20) /* the Image goes text_offset bytes above a 2 MiB-aligned base */
#define ARM64_FDT_MAX	     (2ULL << 20) /* "must not exceed 2 megabytes" */
#define ARM64_FDT_ALIGN	     (2ULL << 20) /* alone in its 2 MiB block, which the kernel maps cacheable */
#define ARM64_INITRD_ALIGN   4096ULL

struct kvm_arch {
	int gic_fd;		  /* the in-kernel vGIC (KVM_CREATE_DEVICE) */
	unsigned int gic_version; /* 3, or 2 where the host offers only that */
	uint32_t vcpu_target;	  /* KVM_ARM_PREFERRED_TARGET */
};

#endif
