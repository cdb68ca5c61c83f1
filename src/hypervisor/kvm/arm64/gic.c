// SPDX-License-Identifier: MIT
/*
 * The in-kernel vGIC (Documentation/virt/kvm/devices/arm-vgic-v3.rst, arm-vgic.rst): distributor,
 * redistributors (v3) or CPU interface (v2), the architected timer's private interrupts and our SPIs are all
 * KVM's, so no interrupt-controller access ever exits to us.  Order matters to KVM: the device is created once
 * every vCPU exists (KVM_CREATE_VCPU fails after a GICv2 is set up), its addresses and line count are set, and
 * KVM_DEV_ARM_VGIC_CTRL_INIT comes last, before any vCPU runs.
 */
#include "arm64.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/util.h"
#include "hypervisor/kvm/kvm.h"

static int gic_set(struct kvm_vm *vm, uint32_t group, uint64_t attr, const void *value, const char *what)
{
	struct kvm_device_attr a = {
		.group = group,
		.attr = attr,
		.addr = (uint64_t)(uintptr_t)value,
	};

	if (ioctl(vm->arch.gic_fd, KVM_SET_DEVICE_ATTR, &a) < 0)
		return err_set(errno, "the GICv%u refused %s: %s", vm->arch.gic_version, what, strerror(errno));
	return 0;
}

static int gic_try(struct kvm_vm *vm, uint32_t type)
{
	struct kvm_create_device d = { .type = type };

	if (ioctl(vm->vm_fd, KVM_CREATE_DEVICE, &d) < 0)
		return -errno;
	vm->arch.gic_fd = (int)d.fd;
	return 0;
}

int arm64_gic_create(struct kvm_vm *vm)
{
	static const uint64_t v3_dist = ARM64_GIC_DIST_BASE, v3_redist = ARM64_GIC_REDIST_BASE;
	static const uint64_t v2_dist = ARM64_GIC_DIST_BASE, v2_cpu = ARM64_GIC_CPU_BASE;
	int ret;

	/* Graviton and QEMU's virtualization=on machines have a GICv3; older hosts only a GICv2. */
	ret = gic_try(vm, KVM_DEV_TYPE_ARM_VGIC_V3);
	if (!ret) {
		vm->arch.gic_version = 3;
		ret = gic_set(vm, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &v3_dist,
			      "its distributor address");
		if (!ret)
			ret = gic_set(vm, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST, &v3_redist,
				      "its redistributor address");
		return ret;
	}
	if (gic_try(vm, KVM_DEV_TYPE_ARM_VGIC_V2) < 0)
		return err_set(-ret, "this host's KVM offers no in-kernel GIC (GICv3: %s; GICv2: %s)", strerror(-ret),
			       strerror(errno));
	vm->arch.gic_version = 2;
	ret = gic_set(vm, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V2_ADDR_TYPE_DIST, &v2_dist, "its distributor address");
	if (!ret)
		ret = gic_set(vm, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V2_ADDR_TYPE_CPU, &v2_cpu,
			      "its CPU interface address");
	return ret;
}

int arm64_gic_init(struct kvm_vm *vm)
{
	static const uint32_t nr_irqs = ARM64_GIC_NR_IRQS;
	int ret = gic_set(vm, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nr_irqs, "its number of interrupts");

	if (!ret)
		ret = gic_set(vm, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL, "initialization");
	return ret;
}

void arm64_gic_destroy(struct kvm_vm *vm)
{
	if (vm->arch.gic_fd >= 0)
		close(vm->arch.gic_fd);
	vm->arch.gic_fd = -1;
}

uint32_t arm64_spi_irq_line(unsigned int spi)
{
	/* KVM_IRQ_LINE on arm64: the type in bits 24-31, the INTID in the low bits (no vCPU for an SPI). */
	return (uint32_t)KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT | (ARM64_SPI_BASE + spi);
}
