// SPDX-License-Identifier: MIT
/* What an x86 vCPU that stopped abnormally was doing: its registers, for the log and the message of an abnormal end. */
#include "x86.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "common/util.h"
#include "hypervisor/kvm/kvm.h"

static void seg_line(char *buf, size_t len, size_t *n, const char *name, const struct kvm_segment *s)
{
	*n += (size_t)snprintf(buf + *n, len - MIN(*n, len), "  %-3s sel %04x base %016llx limit %08x type %x l %u db %u\n",
			       name, s->selector, (unsigned long long)s->base, s->limit, s->type, s->l, s->db);
}

/* Where an x86 CPU starts after RESET or INIT: CS selector 0xf000 with base 0xffff0000, IP 0xfff0. */
#define RESET_VECTOR_IP      0xfff0
#define RESET_VECTOR_CS      0xf000
#define RESET_VECTOR_CS_BASE 0xffff0000

void kvm_arch_vcpu_dump_regs(struct kvm_vcpu *vcpu, char *buf, size_t len)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	size_t n = 0;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &r) < 0 || ioctl(vcpu->fd, KVM_GET_SREGS, &s) < 0) {
		snprintf(buf, len, "vCPU %u: registers unavailable: %s\n", vcpu->index, strerror(errno));
		return;
	}
	/*
	 * On AMD hosts KVM answers a shutdown intercept by INITing the vCPU (the VMCB is undefined after it), so the
	 * registers read back are the reset state.  Our guests never execute at the reset vector (there is no
	 * firmware), so that state is the signature: printing it would send the reader to 0xfff0 for nothing.
	 */
	if (r.rip == RESET_VECTOR_IP && s.cs.selector == RESET_VECTOR_CS && s.cs.base == RESET_VECTOR_CS_BASE) {
		snprintf(buf, len,
			 "vCPU %u registers: not available: this host's KVM reset the vCPU when it stopped (AMD SVM "
			 "does at a triple fault), so its state at the fault is lost\n",
			 vcpu->index);
		return;
	}
	n += (size_t)snprintf(buf + n, len - MIN(n, len),
			      "vCPU %u registers:\n"
			      "  rip %016llx rsp %016llx rflags %016llx\n"
			      "  rax %016llx rbx %016llx rcx %016llx rdx %016llx\n"
			      "  rsi %016llx rdi %016llx rbp %016llx\n"
			      "  r8  %016llx r9  %016llx r10 %016llx r11 %016llx\n"
			      "  r12 %016llx r13 %016llx r14 %016llx r15 %016llx\n"
			      "  cr0 %016llx cr2 %016llx cr3 %016llx cr4 %016llx efer %016llx\n",
			      vcpu->index, (unsigned long long)r.rip, (unsigned long long)r.rsp,
			      (unsigned long long)r.rflags, (unsigned long long)r.rax, (unsigned long long)r.rbx,
			      (unsigned long long)r.rcx, (unsigned long long)r.rdx, (unsigned long long)r.rsi,
			      (unsigned long long)r.rdi, (unsigned long long)r.rbp, (unsigned long long)r.r8,
			      (unsigned long long)r.r9, (unsigned long long)r.r10, (unsigned long long)r.r11,
			      (unsigned long long)r.r12, (unsigned long long)r.r13, (unsigned long long)r.r14,
			      (unsigned long long)r.r15, (unsigned long long)s.cr0, (unsigned long long)s.cr2,
			      (unsigned long long)s.cr3, (unsigned long long)s.cr4, (unsigned long long)s.efer);
	if (n >= len)
		return;
	seg_line(buf, len, &n, "cs", &s.cs);
	seg_line(buf, len, &n, "ss", &s.ss);
	seg_line(buf, len, &n, "ds", &s.ds);
	if (n < len)
		snprintf(buf + n, len - n, "  gdt %016llx/%x idt %016llx/%x\n", (unsigned long long)s.gdt.base,
			 s.gdt.limit, (unsigned long long)s.idt.base, s.idt.limit);
}

