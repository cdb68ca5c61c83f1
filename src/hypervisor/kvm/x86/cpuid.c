// SPDX-License-Identifier: MIT
/*
 * CPUID: what the host's KVM supports (KVM_GET_SUPPORTED_CPUID), with each vCPU's own APIC id and a topology
 * of one socket with one single-threaded core per vCPU filled into the leaves Linux reads it from.
 */
#include "x86.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "common/util.h"
#include "hypervisor/kvm/kvm.h"

/* Start with room for this many entries and grow on E2BIG; hosts report well under 100. */
#define CPUID_NENT_START 64
#define CPUID_NENT_MAX	 1024

#define CPUID_LEAF_FEATURES   0x1
#define CPUID_LEAF_CACHE      0x4
#define CPUID_LEAF_TOPOLOGY   0xb
#define CPUID_LEAF_EXT_SIZES  0x80000008
#define CPUID_LEAF_EXT_APICID 0x8000001e

#define CPUID_LEAF_EXT_FEATURES 0x7
#define CPUID_LEAF_XSAVE	0xd
#define CPUID_LEAF_HYPERVISOR	0x40000000

#define F1_ECX_PDCM	  (1U << 15) /* perfmon MSR we do not emulate */
#define F1_ECX_FMA	  (1U << 12)
#define F1_ECX_XSAVE	  (1U << 26)
#define F1_ECX_OSXSAVE	  (1U << 27)
#define F1_ECX_AVX	  (1U << 28)
#define F1_ECX_F16C	  (1U << 29)
#define F7_EBX_AVX2	  (1U << 5)
#define F7_EBX_AVX512	  0xd0230000U /* F, DQ, IFMA, PF, ER, CD, BW, VL */
#define F7_ECX_AVX512	  0x00005842U /* VBMI, VBMI2, VNNI, BITALG, VPOPCNTDQ */
#define F1_ECX_HYPERVISOR (1U << 31)
#define F1_EDX_HTT	  (1U << 28)

#define TOPO_LEVEL_SMT	0x100
#define TOPO_LEVEL_CORE 0x200
#define CLFLUSH_LINE_8B 8 /* 64-byte lines, in 8-byte units */

bool x86_host_is_tcg(void)
{
	unsigned int a = 1, b = 0, c = 0, d = 0;
	char sig[13];

	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	if (!(c & F1_ECX_HYPERVISOR))
		return false;
	a = CPUID_LEAF_HYPERVISOR;
	c = 0;
	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	memcpy(sig, &b, 4);
	memcpy(sig + 4, &c, 4);
	memcpy(sig + 8, &d, 4);
	sig[12] = '\0';
	return !strcmp(sig, "TCGTCGTCGTCG");
}

/*
 * Under QEMU's TCG (the nested test tier) the emulated SVM reports XSAVE state sizes that do not add up (Linux
 * warns "XSAVE consistency problem: size 832 != kernel_size 576"), and second-level guests then die now and
 * then on their FPU state: a triple fault, an init killed by #GP or #UD at its first instructions.  Without
 * XSAVE (and so without AVX) Linux keeps its FPU state with FXSAVE, which TCG gets right.  Hardware hosts are
 * not touched.
 */
static void hide_xsave(struct kvm_cpuid2 *c)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == CPUID_LEAF_FEATURES) {
			e->ecx &= ~(F1_ECX_XSAVE | F1_ECX_OSXSAVE | F1_ECX_AVX | F1_ECX_F16C | F1_ECX_FMA);
		} else if (e->function == CPUID_LEAF_EXT_FEATURES && e->index == 0) {
			e->ebx &= ~(F7_EBX_AVX2 | F7_EBX_AVX512);
			e->ecx &= ~F7_ECX_AVX512;
		} else if (e->function == CPUID_LEAF_XSAVE) {
			e->eax = e->ebx = e->ecx = e->edx = 0;
		}
	}
}

int x86_cpuid_init(struct kvm_vm *vm)
{
	for (unsigned int nent = CPUID_NENT_START; nent <= CPUID_NENT_MAX; nent *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));

		if (!c)
			return err_set(ENOMEM, "out of memory for the CPUID table");
		c->nent = nent;
		if (!ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c)) {
			if (x86_host_is_tcg())
				hide_xsave(c);
			vm->arch.cpuid = c;
			return 0;
		}
		free(c);
		if (errno != E2BIG)
			return err_set(errno, "KVM_GET_SUPPORTED_CPUID failed: %s", strerror(errno));
	}
	return err_set(E2BIG, "KVM reports more than %d CPUID entries", CPUID_NENT_MAX);
}

void x86_cpuid_free(struct kvm_vm *vm)
{
	free(vm->arch.cpuid);
	vm->arch.cpuid = NULL;
}

static struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t fn, uint32_t index)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn &&
		    (!(c->entries[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || c->entries[i].index == index))
			return &c->entries[i];
	return NULL;
}

void x86_cpuid_signature(const struct kvm_vm *vm, uint32_t *eax, uint32_t *edx)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(vm->arch.cpuid, CPUID_LEAF_FEATURES, 0);

	*eax = e ? e->eax : 0;
	*edx = e ? e->edx : 0;
}

/* Bits needed to number n cores: the shift from a core's APIC id to the package id. */
static uint32_t core_shift(unsigned int n)
{
	uint32_t s = 0;

	while ((1U << s) < n)
		s++;
	return s;
}

static void cpuid_fill_vcpu(struct kvm_cpuid2 *c, unsigned int apic_id, unsigned int ncpus)
{
	uint32_t shift = core_shift(ncpus);

	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case CPUID_LEAF_FEATURES:
			e->ebx = apic_id << 24 | (ncpus & 0xff) << 16 | CLFLUSH_LINE_8B << 8;
			e->ecx = (e->ecx & ~F1_ECX_PDCM) | F1_ECX_HYPERVISOR;
			e->edx = ncpus > 1 ? e->edx | F1_EDX_HTT : e->edx & ~F1_EDX_HTT;
			break;
		case CPUID_LEAF_CACHE:
			/* Cores per package; caches up to L2 per core, L3 shared by all. */
			if (!(e->eax & 0x1f))
				break;
			e->eax &= 0x3ff;
			e->eax |= (ncpus - 1) << 26;
			if (((e->eax >> 5) & 0x7) >= 3)
				e->eax |= (ncpus - 1) << 14;
			break;
		case CPUID_LEAF_TOPOLOGY:
			e->edx = apic_id;
			if (e->index == 0) {
				e->eax = 0;
				e->ebx = 1;
				e->ecx = TOPO_LEVEL_SMT;
			} else if (e->index == 1) {
				e->eax = shift;
				e->ebx = ncpus;
				e->ecx = TOPO_LEVEL_CORE | 1;
			} else {
				e->eax = e->ebx = 0;
				e->ecx = e->index;
			}
			break;
		case CPUID_LEAF_EXT_SIZES:
			e->ecx = (e->ecx & ~0xf0ffU) | shift << 12 | ((ncpus - 1) & 0xff);
			break;
		case CPUID_LEAF_EXT_APICID:
			e->eax = apic_id;
			e->ebx = apic_id & 0xff; /* core id; one thread per core */
			e->ecx = 0;		  /* node 0 */
			break;
		}
	}
}

int x86_setup_cpuid(struct kvm_vcpu *vcpu)
{
	struct kvm_vm *vm = vcpu->vm;
	size_t size = sizeof(*vm->arch.cpuid) + vm->arch.cpuid->nent * sizeof(vm->arch.cpuid->entries[0]);
	struct kvm_cpuid2 *c = malloc(size);
	int ret = 0;

	if (!c)
		return err_set(ENOMEM, "out of memory for the CPUID table");
	memcpy(c, vm->arch.cpuid, size);
	cpuid_fill_vcpu(c, vcpu->index, vm->nvcpus);
	if (ioctl(vcpu->fd, KVM_SET_CPUID2, c) < 0)
		ret = err_set(errno, "KVM_SET_CPUID2 on vCPU %u failed: %s", vcpu->index, strerror(errno));
	free(c);
	return ret;
}
