/* SPDX-License-Identifier: MIT */
/* The x86_64 machine's part of struct kvm_vm, and where its virtio-mmio transports sit (kvm.h). */
#ifndef NITROVM_KVM_X86_ARCH_H
#define NITROVM_KVM_X86_ARCH_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/acpi_pm.h"
#include "hw/debug_exit.h"

/* Real Nitro's x86 command line declares virtio_mmio.device=4K@0xd0000000:5 and 4K@0xd0001000:6. */
#define KVM_ARCH_VIRTIO_BASE	 0xd0000000ULL
#define KVM_ARCH_VIRTIO_GSI_BASE 5

struct i8042;
struct kvm_cpuid2;

struct kvm_arch {
	struct i8042 *i8042;
	struct debug_exit debug_exit;
	struct acpi_pm acpi_pm;
	struct kvm_cpuid2 *cpuid; /* KVM_GET_SUPPORTED_CPUID, adjusted per vCPU (x86/cpuid.c) */
	uint64_t zero_page;	  /* guest address of boot_params, once laid out */
	bool irqchip;		  /* KVM_CREATE_IRQCHIP and KVM_CREATE_PIT2 done (with the first vCPU) */
};

#endif
