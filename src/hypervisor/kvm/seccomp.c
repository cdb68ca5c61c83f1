// SPDX-License-Identifier: MIT
/*
 * The vCPU threads' system calls: KVM_RUN and the other KVM ioctls of a vCPU, the device handlers' writes to
 * sockets and eventfds (console, interrupts, exit), locks, memory for the allocator, time, and ending the
 * thread.  Nothing that opens, creates or starts anything.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <sys/prctl.h>

#include "common/seccomp.h"
#include "common/util.h"
#include "kvm.h"

/* Every KVM ioctl carries KVMIO (0xAE) as its type, in bits 8-15. */
#define IOCTL_TYPE_MASK 0xff00ULL
#define IOCTL_TYPE_KVM	((uint64_t)KVMIO << 8)

static const struct seccomp_allow vcpu_allow[] = {
	SECCOMP_ARG("ioctl", 1, IOCTL_TYPE_MASK, IOCTL_TYPE_KVM),
	SECCOMP_ANY("read"), SECCOMP_ANY("write"), SECCOMP_ANY("readv"), SECCOMP_ANY("writev"),
	SECCOMP_ANY("sendto"), SECCOMP_ANY("sendmsg"), SECCOMP_ANY("recvfrom"), SECCOMP_ANY("recvmsg"),
	SECCOMP_ANY("futex"), SECCOMP_ANY("rt_sigreturn"), SECCOMP_ANY("rt_sigprocmask"),
	SECCOMP_ANY("restart_syscall"), SECCOMP_ANY("sigaltstack"),
	SECCOMP_ANY("mmap"), SECCOMP_ANY("munmap"), SECCOMP_ANY("mremap"), SECCOMP_ANY("madvise"),
	SECCOMP_ANY("brk"), SECCOMP_ANY("mprotect"),
	SECCOMP_ANY("clock_gettime"), SECCOMP_ANY("clock_nanosleep"), SECCOMP_ANY("nanosleep"),
	SECCOMP_ANY("gettid"), SECCOMP_ANY("getpid"), SECCOMP_ANY("tgkill"), SECCOMP_ANY("sched_yield"),
	SECCOMP_ANY("getrandom"), SECCOMP_ANY("newfstatat"), SECCOMP_ANY("fstat"),
	SECCOMP_ANY("rseq"), SECCOMP_ANY("set_robust_list"), SECCOMP_ANY("exit"), SECCOMP_ANY("exit_group"),
	SECCOMP_ARG("prctl", 0, 0xffffffffULL, PR_GET_NAME),
};

int kvm_vcpu_seccomp(void)
{
	return seccomp_install("vCPU", vcpu_allow, ARRAY_SIZE(vcpu_allow), NULL, 0, false);
}
