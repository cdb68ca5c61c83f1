// SPDX-License-Identifier: MIT
/*
 * vCPU state at power-on.  Every vCPU gets CPUID, the boot MSR values and LINT0/LINT1 wiring.  Only the bootstrap
 * processor gets registers: it starts in long mode at the kernel's 64-bit entry.  The others stay in KVM's
 * "uninitialized" state (the in-kernel irqchip's default for every vCPU but the BSP) and start in real mode at
 * the vector of the INIT-SIPI-SIPI sequence the guest sends, as on hardware.
 */
#include "x86.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "common/boot_trace.h"
#include "common/util.h"
#include "hypervisor/kvm/kvm.h"

#define MSR_IA32_TSC		0x00000010
#define MSR_IA32_SYSENTER_CS	0x00000174
#define MSR_IA32_SYSENTER_ESP	0x00000175
#define MSR_IA32_SYSENTER_EIP	0x00000176
#define MSR_IA32_MISC_ENABLE	0x000001a0
#define MSR_MTRR_DEF_TYPE	0x000002ff
#define MSR_STAR		0xc0000081
#define MSR_LSTAR		0xc0000082
#define MSR_CSTAR		0xc0000083
#define MSR_SYSCALL_MASK	0xc0000084
#define MSR_KERNEL_GS_BASE	0xc0000102

#define MISC_ENABLE_FAST_STRING 0x1
#define MTRR_ENABLE		(1ULL << 11)
#define MTRR_TYPE_WRBACK	6

#define CR0_PE 0x1ULL
#define CR0_ET 0x10ULL
#define CR0_NE 0x20ULL
#define CR0_PG 0x80000000ULL
#define CR4_PAE 0x20ULL
#define EFER_LME 0x100ULL
#define EFER_LMA 0x400ULL
#define RFLAGS_RESERVED 0x2ULL

#define SEG_TYPE_CODE_XRA 0xb /* execute/read, accessed */
#define SEG_TYPE_DATA_RWA 0x3 /* read/write, accessed */
#define SEG_TYPE_TSS_BUSY 0xb
#define TSS_LIMIT	  0x67

#define APIC_LVT0	  0x350
#define APIC_LVT1	  0x360
#define APIC_MODE_MASK	  0x700
#define APIC_MODE_EXTINT  0x700
#define APIC_MODE_NMI	  0x400

#define FPU_FCW_DEFAULT	  0x37f
#define FPU_MXCSR_DEFAULT 0x1f80

static const struct {
	uint32_t index;
	uint64_t value;
	const char *name;
} boot_msrs[] = {
	{ MSR_IA32_SYSENTER_CS, 0, "IA32_SYSENTER_CS" },
	{ MSR_IA32_SYSENTER_ESP, 0, "IA32_SYSENTER_ESP" },
	{ MSR_IA32_SYSENTER_EIP, 0, "IA32_SYSENTER_EIP" },
	{ MSR_STAR, 0, "STAR" },
	{ MSR_CSTAR, 0, "CSTAR" },
	{ MSR_KERNEL_GS_BASE, 0, "KERNEL_GS_BASE" },
	{ MSR_SYSCALL_MASK, 0, "SYSCALL_MASK" },
	{ MSR_LSTAR, 0, "LSTAR" },
	{ MSR_IA32_TSC, 0, "IA32_TSC" },
	{ MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING, "IA32_MISC_ENABLE" },
	{ MSR_MTRR_DEF_TYPE, MTRR_ENABLE | MTRR_TYPE_WRBACK, "MTRRdefType" },
};

static int setup_msrs(struct kvm_vcpu *vcpu)
{
	/* struct kvm_msrs ends in a flexible array: build it in an aligned buffer, which C and clang accept. */
	union {
		struct kvm_msrs hdr;
		uint8_t bytes[sizeof(struct kvm_msrs) + ARRAY_SIZE(boot_msrs) * sizeof(struct kvm_msr_entry)];
	} m;
	int n;

	memset(&m, 0, sizeof(m));
	m.hdr.nmsrs = ARRAY_SIZE(boot_msrs);
	for (size_t i = 0; i < ARRAY_SIZE(boot_msrs); i++) {
		m.hdr.entries[i].index = boot_msrs[i].index;
		m.hdr.entries[i].data = boot_msrs[i].value;
	}
	n = ioctl(vcpu->fd, KVM_SET_MSRS, &m);
	if (n < 0)
		return err_set(errno, "KVM_SET_MSRS on vCPU %u failed: %s", vcpu->index, strerror(errno));
	/* KVM stops at the first MSR it refuses and returns how many it set. */
	if ((size_t)n < ARRAY_SIZE(boot_msrs))
		return err_set(EINVAL, "KVM refused MSR %s on vCPU %u", boot_msrs[n].name, vcpu->index);
	return 0;
}

int x86_guest_tsc_offset(struct kvm_vcpu *vcpu, int64_t *offset)
{
	union {
		struct kvm_msrs hdr;
		uint8_t bytes[sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)];
	} m;
	uint64_t before, after;

	memset(&m, 0, sizeof(m));
	m.hdr.nmsrs = 1;
	m.hdr.entries[0].index = MSR_IA32_TSC;
	/* The host TSC on both sides of the read: the midpoint is within half an ioctl of the guest's value. */
	before = boot_trace_host_tsc();
	if (ioctl(vcpu->fd, KVM_GET_MSRS, &m) != 1)
		return err_set(errno ? errno : EIO, "KVM_GET_MSRS (IA32_TSC) on vCPU %u failed", vcpu->index);
	after = boot_trace_host_tsc();
	*offset = (int64_t)(m.hdr.entries[0].data - (before + (after - before) / 2));
	return 0;
}

static void lvt_set_mode(struct kvm_lapic_state *l, unsigned int reg, uint32_t mode)
{
	uint32_t v;

	memcpy(&v, &l->regs[reg], sizeof(v));
	v = (v & ~APIC_MODE_MASK) | mode;
	memcpy(&l->regs[reg], &v, sizeof(v));
}

/* Through-the-LAPIC wiring of a PC: the 8259 on LINT0, NMI on LINT1 (the MP table says the same). */
static int setup_lapic(struct kvm_vcpu *vcpu)
{
	struct kvm_lapic_state l;

	if (ioctl(vcpu->fd, KVM_GET_LAPIC, &l) < 0)
		return err_set(errno, "KVM_GET_LAPIC on vCPU %u failed: %s", vcpu->index, strerror(errno));
	lvt_set_mode(&l, APIC_LVT0, APIC_MODE_EXTINT);
	lvt_set_mode(&l, APIC_LVT1, APIC_MODE_NMI);
	if (ioctl(vcpu->fd, KVM_SET_LAPIC, &l) < 0)
		return err_set(errno, "KVM_SET_LAPIC on vCPU %u failed: %s", vcpu->index, strerror(errno));
	return 0;
}

static int setup_fpu(struct kvm_vcpu *vcpu)
{
	struct kvm_fpu fpu;

	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = FPU_FCW_DEFAULT;
	fpu.mxcsr = FPU_MXCSR_DEFAULT;
	if (ioctl(vcpu->fd, KVM_SET_FPU, &fpu) < 0)
		return err_set(errno, "KVM_SET_FPU on vCPU %u failed: %s", vcpu->index, strerror(errno));
	return 0;
}

int x86_setup_vcpu(struct kvm_vcpu *vcpu)
{
	int ret = x86_setup_cpuid(vcpu);

	if (!ret)
		ret = setup_msrs(vcpu);
	if (!ret)
		ret = setup_lapic(vcpu);
	if (!ret)
		ret = setup_fpu(vcpu);
	return ret;
}

static void flat_segment(struct kvm_segment *s, uint16_t sel, uint8_t type)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->limit = 0xffffffff;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	if (type == SEG_TYPE_CODE_XRA)
		s->l = 1;
	else
		s->db = 1;
}

static int setup_bsp_sregs(struct kvm_vcpu *vcpu)
{
	struct kvm_sregs sr;

	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sr) < 0)
		return err_set(errno, "KVM_GET_SREGS failed: %s", strerror(errno));
	flat_segment(&sr.cs, X86_GDT_CODE_SEL, SEG_TYPE_CODE_XRA);
	flat_segment(&sr.ds, X86_GDT_DATA_SEL, SEG_TYPE_DATA_RWA);
	sr.es = sr.fs = sr.gs = sr.ss = sr.ds;
	memset(&sr.tr, 0, sizeof(sr.tr));
	sr.tr.selector = X86_GDT_TSS_SEL;
	sr.tr.limit = TSS_LIMIT;
	sr.tr.type = SEG_TYPE_TSS_BUSY;
	sr.tr.present = 1;
	sr.gdt.base = X86_GDT_ADDR;
	sr.gdt.limit = X86_GDT_ENTRIES * 8 - 1;
	sr.idt.base = 0;
	sr.idt.limit = 0;
	sr.cr3 = X86_PML4_ADDR;
	sr.cr4 = CR4_PAE;
	sr.efer = EFER_LME | EFER_LMA;
	sr.cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sr) < 0)
		return err_set(errno, "KVM_SET_SREGS failed: %s", strerror(errno));
	return 0;
}

int x86_setup_bsp(struct kvm_vcpu *vcpu, const struct x86_boot *b)
{
	struct kvm_regs r;
	int ret = setup_bsp_sregs(vcpu);

	if (ret < 0)
		return ret;
	memset(&r, 0, sizeof(r));
	r.rip = b->entry;
	r.rsi = b->zero_page;
	r.rsp = r.rbp = X86_BOOT_STACK;
	r.rflags = RFLAGS_RESERVED;
	if (ioctl(vcpu->fd, KVM_SET_REGS, &r) < 0)
		return err_set(errno, "KVM_SET_REGS failed: %s", strerror(errno));
	return 0;
}
