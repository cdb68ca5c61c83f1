// SPDX-License-Identifier: MIT
/*
 * The arm64 Nitro machine as the common KVM backend sees it (arch.h): RAM from 2 GiB in one piece, vCPUs with
 * PSCI, the in-kernel vGIC, the 16550 UART on the MMIO bus, the same virtio-mmio vsock and NSM as on x86 in the
 * device space below RAM, a device tree, and the Image boot.  The layout is in arch.h.
 */
#include "arm64.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "common/util.h"
#include "eif/eif.h"
#include "hw/serial.h"
#include "hypervisor/kvm/kvm.h"

int kvm_arch_vm_init(struct kvm_vm *vm)
{
	vm->arch.gic_fd = -1;
	vm->ram_base = ARM64_RAM_BASE;
	vm->ram_low_max = ARM64_RAM_MAX;
	vm->ram_high_base = ARM64_RAM_BASE + ARM64_RAM_MAX;
	return 0;
}

unsigned long kvm_arch_vm_type(int kvm_fd)
{
	(void)kvm_fd;
	return 0; /* KVM's default 40-bit guest-physical space: RAM from 2 GiB up to 1 TiB */
}

void kvm_arch_vm_free(struct kvm_vm *vm)
{
	arm64_gic_destroy(vm);
}

int kvm_arch_before_vcpus(struct kvm_vm *vm)
{
	(void)vm; /* the vGIC comes after the vCPUs on arm64 (gic.c) */
	return 0;
}

int kvm_arch_devices_create(struct kvm_vm *vm)
{
	vm->serial_irq = arm64_spi_irq_line(ARM64_SERIAL_SPI);
	/* Byte-wide registers at offsets 0-7 (reg-shift 0), the rest of its page reads as zero. */
	return bus_register(&vm->bus, BUS_MMIO, ARM64_SERIAL_BASE, SERIAL_NR_PORTS, serial_io, vm->serial, "serial");
}

void kvm_arch_devices_destroy(struct kvm_vm *vm)
{
	(void)vm;
}

int kvm_arch_build_machine(struct kvm_vm *vm)
{
	uint64_t extent = 0, entry = 0, fdt = 0;
	struct eif e;
	int ret;

	if (vm->nvcpus > ARM64_DT_MAX_CPUS)
		return err_set(EINVAL, "the arm64 machine has at most %d vCPUs", ARM64_DT_MAX_CPUS);
	ret = kvm_find_eif(vm, &e, &extent);
	if (!ret && !(e.flags & EIF_FLAG_ARM64))
		ret = err_set(ENOEXEC, "the EIF is built for x86_64 (its header's arch flag is clear); this host runs "
				       "arm64 enclaves");
	/* The GIC before the devices: irqfds need it, and it must follow the vCPUs. */
	if (!ret)
		ret = arm64_gic_create(vm);
	if (!ret)
		ret = arm64_gic_init(vm);
	if (!ret)
		ret = kvm_devices_create(vm);
	if (!ret)
		ret = kvm_nsm_create(vm, &e);
	if (!ret)
		ret = arm64_boot_linux(vm, &e, extent, &entry, &fdt);
	if (!ret)
		ret = arm64_vcpu_boot_regs(&vm->vcpus[0], entry, fdt);
	return ret;
}
