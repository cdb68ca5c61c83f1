/* SPDX-License-Identifier: MIT */
/*
 * What the machine of the host's architecture gives the common KVM backend (vm.c, vcpu.c, devices.c): x86/ on
 * x86_64 hosts, arm64/ on aarch64 hosts.  One of them is compiled in (meson.build chooses by host_machine), so
 * these are plain functions, not a table.  The devices themselves (src/hw) know nothing of either machine.
 */
#ifndef NITROVM_HYPERVISOR_KVM_ARCH_H
#define NITROVM_HYPERVISOR_KVM_ARCH_H

#include <stddef.h>
#include <stdint.h>

#if defined(__aarch64__)
#include "hypervisor/kvm/arm64/arch.h"
#elif defined(__x86_64__)
#include "hypervisor/kvm/x86/arch.h"
#else
#error "nitrovm's KVM machine exists for x86_64 and aarch64"
#endif

struct kvm_vm;
struct kvm_vcpu;
struct eif;

/* After KVM_CREATE_VM: the VM-wide state the machine needs, and the guest-physical RAM layout (vm->ram_*). */
int kvm_arch_vm_init(struct kvm_vm *vm);
/* KVM_CREATE_VM's type argument (arm64: the guest's physical address size). */
unsigned long kvm_arch_vm_type(int kvm_fd);
void kvm_arch_vm_free(struct kvm_vm *vm);
/* Before the first KVM_CREATE_VCPU (x86: the in-kernel irqchip and PIT, which vCPUs need). */
int kvm_arch_before_vcpus(struct kvm_vm *vm);
/* Right after KVM_CREATE_VCPU (arm64: KVM_ARM_VCPU_INIT with PSCI; secondaries powered off). */
int kvm_arch_vcpu_init(struct kvm_vcpu *vcpu);
/* The machine's own devices on the bus (the UART among them); devices.c made vm->serial already. */
int kvm_arch_devices_create(struct kvm_vm *vm);
void kvm_arch_devices_destroy(struct kvm_vm *vm);
/*
 * At start: find the EIF at the load offset, build the interrupt controller, devices, NSM and boot tables,
 * lay out the kernel, ramdisks and command line, and set every vCPU's registers.
 */
int kvm_arch_build_machine(struct kvm_vm *vm);
/* The registers of a vCPU that stopped abnormally, read from its own thread, for the log. */
void kvm_arch_vcpu_dump_regs(struct kvm_vcpu *vcpu, char *buf, size_t len);
/* NITROVM_TRACE_START: the guest's clock minus the host's counter (x86: TSC); -ENOTSUP where not known. */
int kvm_arch_guest_clock_offset(struct kvm_vcpu *vcpu, int64_t *offset);

#endif
