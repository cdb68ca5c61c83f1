// SPDX-License-Identifier: MIT
/*
 * The x86_64 Nitro machine as the common KVM backend sees it (arch.h): RAM from 0 with the 32-bit MMIO hole,
 * the in-kernel irqchip and PIT with the first vCPU, the legacy devices on the I/O port bus (16550 at 0x3f8,
 * i8042, the probe's debug exit, ACPI sleep control), and the order in which the machine is built at start.
 */
#include "x86.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "common/util.h"
#include "eif/eif.h"
#include "hw/acpi_pm.h"
#include "hw/debug_exit.h"
#include "hw/i8042.h"
#include "hw/serial.h"
#include "hypervisor/kvm/kvm.h"

int kvm_arch_vm_init(struct kvm_vm *vm)
{
	vm->ram_base = 0;
	vm->ram_low_max = X86_MMIO_HOLE_START;
	vm->ram_high_base = X86_MMIO_HOLE_END;
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)X86_KVM_TSS_ADDR) < 0)
		return err_set(errno, "KVM_SET_TSS_ADDR failed: %s", strerror(errno));
	return x86_cpuid_init(vm);
}

unsigned long kvm_arch_vm_type(int kvm_fd)
{
	(void)kvm_fd;
	return 0;
}

void kvm_arch_vm_free(struct kvm_vm *vm)
{
	x86_cpuid_free(vm);
}

/*
 * IOAPIC, two 8259s and the LAPICs in the kernel (no interrupt-controller exits at all), and the PIT.  Created
 * with the first vCPU, which needs them, rather than with the VM: once the irqchip exists, every memory slot
 * change waits for an SRCU grace period (measured here: 64 MiB of memory took 6.6 ms to add after the irqchip,
 * 0.5 ms before it), and the pipeline adds memory before vCPUs.
 */
int kvm_arch_before_vcpus(struct kvm_vm *vm)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

	if (vm->arch.irqchip)
		return 0;
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return err_set(errno, "KVM_CREATE_IRQCHIP failed: %s", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return err_set(errno, "KVM_CREATE_PIT2 failed: %s", strerror(errno));
	vm->arch.irqchip = true;
	return 0;
}

int kvm_arch_vcpu_init(struct kvm_vcpu *vcpu)
{
	(void)vcpu; /* CPUID, MSRs and registers are set when the machine is built */
	return 0;
}

int kvm_arch_guest_clock_offset(struct kvm_vcpu *vcpu, int64_t *offset)
{
	return x86_guest_tsc_offset(vcpu, offset);
}

/* ---- legacy devices ---- */

static void i8042_irq(void *opaque, bool level)
{
	kvm_irq_line(opaque, I8042_KBD_IRQ, level);
}

static void i8042_reset(void *opaque)
{
	kvm_vm_request_exit(opaque, HV_EXIT_RESET, 0, "the enclave reset itself through the i8042 controller");
}

static void debug_exit(void *opaque, uint8_t code)
{
	kvm_vm_request_exit(opaque, HV_EXIT_DEBUG_PORT, code, "the guest wrote %u to the debug exit port", code);
}

static void acpi_poweroff(void *opaque)
{
	kvm_vm_request_exit(opaque, HV_EXIT_POWEROFF, 0, "the enclave powered off");
}

int kvm_arch_devices_create(struct kvm_vm *vm)
{
	struct kvm_arch *a = &vm->arch;
	int ret;

	vm->serial_irq = SERIAL_COM1_IRQ;
	a->i8042 = i8042_create(i8042_reset, vm, i8042_irq, vm);
	if (!a->i8042)
		return err_set(ENOMEM, "out of memory creating devices");
	a->debug_exit = (struct debug_exit){ debug_exit, vm };
	a->acpi_pm = (struct acpi_pm){ acpi_poweroff, vm };
	ret = bus_register(&vm->bus, BUS_PIO, SERIAL_COM1_BASE, SERIAL_NR_PORTS, serial_io, vm->serial, "serial");
	if (!ret)
		ret = bus_register(&vm->bus, BUS_PIO, I8042_DATA_PORT, 1, i8042_data_io, a->i8042, "i8042 data");
	if (!ret)
		ret = bus_register(&vm->bus, BUS_PIO, I8042_COMMAND_PORT, 1, i8042_command_io, a->i8042,
				   "i8042 command");
	if (!ret)
		ret = bus_register(&vm->bus, BUS_PIO, DEBUG_EXIT_PORT, 1, debug_exit_io, &a->debug_exit,
				   "debug exit");
	if (!ret && vm->cfg.kvm.acpi)
		ret = bus_register(&vm->bus, BUS_PIO, ACPI_PM_PORT, ACPI_PM_NR_PORTS, acpi_pm_io, &a->acpi_pm,
				   "acpi sleep");
	return ret;
}

void kvm_arch_devices_destroy(struct kvm_vm *vm)
{
	i8042_destroy(vm->arch.i8042);
	vm->arch.i8042 = NULL;
}

/* ---- the machine at start ---- */

/* The IOAPIC's id as the MP table and MADT give it: after the CPUs' APIC ids, so no two APICs share one. */
static int set_ioapic_id(struct kvm_vm *vm)
{
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };

	if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &chip) < 0)
		return err_set(errno, "KVM_GET_IRQCHIP failed: %s", strerror(errno));
	chip.chip.ioapic.id = vm->nvcpus;
	if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &chip) < 0)
		return err_set(errno, "KVM_SET_IRQCHIP failed: %s", strerror(errno));
	return 0;
}

int kvm_arch_build_machine(struct kvm_vm *vm)
{
	struct x86_boot boot;
	uint64_t extent = 0, rsdp = 0;
	struct eif e;
	int ret;

	ret = kvm_find_eif(vm, &e, &extent);
	if (!ret && (e.flags & EIF_FLAG_ARM64))
		ret = err_set(ENOEXEC, "the EIF is built for aarch64 (its header's arch flag is set); this host runs "
				       "x86_64 enclaves");
	if (!ret)
		ret = kvm_devices_create(vm);
	if (!ret)
		ret = kvm_nsm_create(vm, &e);
	if (!ret)
		ret = set_ioapic_id(vm);
	if (!ret)
		ret = x86_boot_linux(vm, &e, extent, &boot);
	if (!ret)
		ret = x86_write_boot_tables(vm);
	if (!ret)
		ret = x86_write_mptable(vm);
	if (!ret && vm->cfg.kvm.acpi) {
		ret = x86_write_acpi(vm, &rsdp);
		if (!ret)
			x86_boot_set_rsdp(vm, rsdp);
	}
	for (unsigned int i = 0; !ret && i < vm->nvcpus; i++)
		ret = x86_setup_vcpu(&vm->vcpus[i]);
	if (!ret)
		ret = x86_setup_bsp(&vm->vcpus[0], &boot);
	return ret;
}
