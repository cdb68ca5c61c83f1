// SPDX-License-Identifier: MIT
/*
 * arm64 vCPUs: KVM_ARM_VCPU_INIT with the host's preferred CPU type and PSCI 0.2 or later (so the guest can
 * start its secondaries, power off and reset through KVM's own PSCI, which ends in KVM_EXIT_SYSTEM_EVENT), every
 * vCPU but the first created powered off; the boot CPU's registers as booting.rst wants them; and a register
 * dump for a vCPU that failed.
 */
#include "arm64.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "common/util.h"
#include "hypervisor/kvm/kvm.h"

#define CORE_REG(field) (KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(field))
/* System registers by (op0, op1, CRn, CRm, op2), from the Arm ARM. */
#define SYSREG_MPIDR_EL1 ARM64_SYS_REG(3, 0, 0, 0, 5)
#define SYSREG_ESR_EL1	 ARM64_SYS_REG(3, 0, 5, 2, 0)
#define SYSREG_FAR_EL1	 ARM64_SYS_REG(3, 0, 6, 0, 0)
/* EL1 with SP_EL1, debug, SError, IRQ and FIQ masked: the state booting.rst asks for at the kernel's entry. */
#define BOOT_PSTATE (PSR_MODE_EL1h | PSR_D_BIT | PSR_A_BIT | PSR_I_BIT | PSR_F_BIT)

static int get_reg(int fd, uint64_t id, uint64_t *v)
{
	struct kvm_one_reg r = { .id = id, .addr = (uint64_t)(uintptr_t)v };

	return ioctl(fd, KVM_GET_ONE_REG, &r) < 0 ? -errno : 0;
}

static int set_reg(struct kvm_vcpu *vcpu, uint64_t id, uint64_t v, const char *name)
{
	struct kvm_one_reg r = { .id = id, .addr = (uint64_t)(uintptr_t)&v };

	if (ioctl(vcpu->fd, KVM_SET_ONE_REG, &r) < 0)
		return err_set(errno, "cannot set %s of vCPU %u: %s", name, vcpu->index, strerror(errno));
	return 0;
}

static bool has_cap(struct kvm_vm *vm, long cap)
{
	return ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, cap) > 0;
}

/*
 * The host CPU's optional features a KVM vCPU only has when asked: SVE (Graviton 3 has it) and pointer
 * authentication (both kinds, or KVM refuses either), so the enclave sees the CPU QEMU's -cpu host would give it.
 */
static uint32_t cpu_features(struct kvm_vm *vm)
{
	uint32_t f = 0;

	if (has_cap(vm, KVM_CAP_ARM_SVE))
		f |= 1U << KVM_ARM_VCPU_SVE;
	if (has_cap(vm, KVM_CAP_ARM_PTRAUTH_ADDRESS) && has_cap(vm, KVM_CAP_ARM_PTRAUTH_GENERIC))
		f |= 1U << KVM_ARM_VCPU_PTRAUTH_ADDRESS | 1U << KVM_ARM_VCPU_PTRAUTH_GENERIC;
	return f;
}

int kvm_arch_vcpu_init(struct kvm_vcpu *vcpu)
{
	struct kvm_vm *vm = vcpu->vm;
	struct kvm_vcpu_init init;
	int what = KVM_ARM_VCPU_SVE;

	memset(&init, 0, sizeof(init));
	if (ioctl(vm->vm_fd, KVM_ARM_PREFERRED_TARGET, &init) < 0)
		return err_set(errno, "KVM_ARM_PREFERRED_TARGET failed: %s", strerror(errno));
	vm->arch.vcpu_target = init.target;
	memset(init.features, 0, sizeof(init.features));
	init.features[0] = 1U << KVM_ARM_VCPU_PSCI_0_2 | cpu_features(vm);
	if (vcpu->index)
		init.features[0] |= 1U << KVM_ARM_VCPU_POWER_OFF;
	if (ioctl(vcpu->fd, KVM_ARM_VCPU_INIT, &init) < 0)
		return err_set(errno, "KVM_ARM_VCPU_INIT of vCPU %u (PSCI 0.2%s) failed: %s", vcpu->index,
			       vcpu->index ? ", powered off" : "", strerror(errno));
	/* SVE's vector lengths are fixed here, the host's default set: KVM runs no vCPU before this. */
	if ((init.features[0] & 1U << KVM_ARM_VCPU_SVE) && ioctl(vcpu->fd, KVM_ARM_VCPU_FINALIZE, &what) < 0)
		return err_set(errno, "KVM_ARM_VCPU_FINALIZE (SVE) of vCPU %u failed: %s", vcpu->index, strerror(errno));
	return 0;
}

int arm64_vcpu_mpidr(struct kvm_vcpu *vcpu, uint64_t *mpidr)
{
	int ret = get_reg(vcpu->fd, SYSREG_MPIDR_EL1, mpidr);

	if (ret < 0)
		return err_set(-ret, "cannot read MPIDR_EL1 of vCPU %u: %s", vcpu->index, strerror(-ret));
	return 0;
}

int arm64_vcpu_boot_regs(struct kvm_vcpu *vcpu, uint64_t pc, uint64_t fdt)
{
	int ret = set_reg(vcpu, CORE_REG(regs.pstate), BOOT_PSTATE, "PSTATE");

	if (!ret)
		ret = set_reg(vcpu, CORE_REG(regs.pc), pc, "PC");
	if (!ret)
		ret = set_reg(vcpu, CORE_REG(regs.regs[0]), fdt, "x0");
	/* x1-x3 are reserved and must be zero; a fresh vCPU has them so already. */
	return ret;
}

int kvm_arch_guest_clock_offset(struct kvm_vcpu *vcpu, int64_t *offset)
{
	(void)vcpu;
	*offset = 0;
	return err_set(ENOTSUP, "the guest clock offset is read on x86 only");
}

void kvm_arch_vcpu_dump_regs(struct kvm_vcpu *vcpu, char *buf, size_t len)
{
	static const struct {
		const char *name;
		uint64_t id;
	} special[] = {
		{ "pc", CORE_REG(regs.pc) },	     { "pstate", CORE_REG(regs.pstate) },
		{ "sp_el1", CORE_REG(sp_el1) },	     { "elr_el1", CORE_REG(elr_el1) },
		{ "esr_el1", SYSREG_ESR_EL1 },	     { "far_el1", SYSREG_FAR_EL1 },
	};
	size_t n = (size_t)snprintf(buf, len, "vCPU %u registers:\n", vcpu->index);
	uint64_t v;

	for (size_t i = 0; i < ARRAY_SIZE(special) && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "  %-7s %016llx%s", special[i].name,
				      get_reg(vcpu->fd, special[i].id, &v) < 0 ? 0ULL : (unsigned long long)v,
				      i % 3 == 2 ? "\n" : "");
	for (unsigned int r = 0; r < 31 && n < len; r++)
		n += (size_t)snprintf(buf + n, len - n, "  x%-2u %016llx%s", r,
				      get_reg(vcpu->fd, CORE_REG(regs.regs[r]), &v) < 0 ? 0ULL : (unsigned long long)v,
				      r % 4 == 3 || r == 30 ? "\n" : "");
}
