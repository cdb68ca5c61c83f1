// SPDX-License-Identifier: MIT
/*
 * The enclave process's allow-list, loaded on every thread once the enclave's devices, sockets and listeners
 * are open, right after it gave up its privileges (privdrop.h) and before its vCPUs start (the vCPU threads
 * then narrow it further: hypervisor/kvm/seccomp.c).
 * The event loop serves vsock bridges (sockets, connections, splices, inotify on Unix-socket directories), the
 * control socket and its records, timers and signals; worker threads it starts (describe's measurements, the
 * NSM's worker, which asks the certificate issuer over a socket forked before this list) inherit it.  What it
 * may not do: start a program, create a process, trace one, mount, load code into the kernel, change identity.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <linux/seccomp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/seccomp.h"
#include "common/util.h"
#include "sandbox.h"

/* Only threads: clone() with CLONE_THREAD (glibc's pthread_create); a fork() is not one. */
#define CLONE_THREAD_FLAG ((uint64_t)CLONE_THREAD)
/* Socket domains the bridges use: Unix, IPv4, IPv6, vsock. */
#define DOMAIN_MASK	  0xffffffffULL

static const struct seccomp_allow loop_allow[] = {
	/* descriptors and I/O */
	SECCOMP_ANY("read"), SECCOMP_ANY("write"), SECCOMP_ANY("readv"), SECCOMP_ANY("writev"),
	SECCOMP_ANY("pread64"), SECCOMP_ANY("pwrite64"), SECCOMP_ANY("lseek"), SECCOMP_ANY("close"),
	SECCOMP_ANY("dup"), SECCOMP_ANY("dup2"), SECCOMP_ANY("dup3"), SECCOMP_ANY("fcntl"), SECCOMP_ANY("ioctl"),
	SECCOMP_ANY("splice"), SECCOMP_ANY("pipe2"), SECCOMP_ANY("eventfd2"), SECCOMP_ANY("sendfile"),
	/* waiting */
	SECCOMP_ANY("epoll_wait"), SECCOMP_ANY("epoll_pwait"), SECCOMP_ANY("epoll_ctl"), SECCOMP_ANY("epoll_create1"),
	SECCOMP_ANY("poll"), SECCOMP_ANY("ppoll"), SECCOMP_ANY("timerfd_create"), SECCOMP_ANY("timerfd_settime"),
	SECCOMP_ANY("timerfd_gettime"), SECCOMP_ANY("signalfd4"),
	/* sockets: bridges connect and accept, the control socket answers */
	SECCOMP_ARG("socket", 0, DOMAIN_MASK, AF_UNIX), SECCOMP_ARG("socket", 0, DOMAIN_MASK, AF_INET),
	SECCOMP_ARG("socket", 0, DOMAIN_MASK, AF_INET6), SECCOMP_ARG("socket", 0, DOMAIN_MASK, AF_VSOCK),
	SECCOMP_ANY("socketpair"), SECCOMP_ANY("connect"), SECCOMP_ANY("accept"), SECCOMP_ANY("accept4"),
	SECCOMP_ANY("bind"), SECCOMP_ANY("listen"), SECCOMP_ANY("getsockname"), SECCOMP_ANY("getpeername"),
	SECCOMP_ANY("getsockopt"), SECCOMP_ANY("setsockopt"), SECCOMP_ANY("shutdown"), SECCOMP_ANY("sendto"),
	SECCOMP_ANY("sendmsg"), SECCOMP_ANY("sendmmsg"), SECCOMP_ANY("recvfrom"), SECCOMP_ANY("recvmsg"),
	SECCOMP_ANY("recvmmsg"),
	/* Unix-socket bridges watch their directory */
	SECCOMP_ANY("inotify_init1"), SECCOMP_ANY("inotify_add_watch"), SECCOMP_ANY("inotify_rm_watch"),
	/* records (exit record, console history, log) of a process that did not start as root (else its keeper's) */
	SECCOMP_ANY("openat"), SECCOMP_ANY("newfstatat"), SECCOMP_ANY("fstat"), SECCOMP_ANY("statx"),
	SECCOMP_ANY("getdents64"), SECCOMP_ANY("unlink"), SECCOMP_ANY("unlinkat"), SECCOMP_ANY("rename"),
	SECCOMP_ANY("renameat"), SECCOMP_ANY("renameat2"), SECCOMP_ANY("mkdir"), SECCOMP_ANY("mkdirat"),
	SECCOMP_ANY("fsync"), SECCOMP_ANY("fdatasync"), SECCOMP_ANY("ftruncate"), SECCOMP_ANY("fchmod"),
	SECCOMP_ANY("chmod"), SECCOMP_ANY("fchmodat"), SECCOMP_ANY("flock"), SECCOMP_ANY("access"),
	SECCOMP_ANY("faccessat"), SECCOMP_ANY("faccessat2"), SECCOMP_ANY("readlink"), SECCOMP_ANY("readlinkat"),
	SECCOMP_ANY("getcwd"), SECCOMP_ANY("umask"), SECCOMP_ANY("fallocate"), SECCOMP_ANY("utimensat"),
	/* memory */
	SECCOMP_ANY("mmap"), SECCOMP_ANY("munmap"), SECCOMP_ANY("mremap"), SECCOMP_ANY("mprotect"),
	SECCOMP_ANY("madvise"), SECCOMP_ANY("brk"), SECCOMP_ANY("mincore"),
	/* threads, signals, time, identity (read only) */
	SECCOMP_ARG("clone", 0, CLONE_THREAD_FLAG, CLONE_THREAD_FLAG), SECCOMP_ANY("set_robust_list"),
	SECCOMP_ANY("rseq"), SECCOMP_ANY("futex"), SECCOMP_ARG("prctl", 0, 0xffffffffULL, PR_SET_NAME),
	SECCOMP_ARG("prctl", 0, 0xffffffffULL, PR_GET_NAME),
	SECCOMP_ANY("rt_sigprocmask"), SECCOMP_ANY("rt_sigreturn"), SECCOMP_ANY("rt_sigaction"),
	SECCOMP_ANY("sigaltstack"), SECCOMP_ANY("restart_syscall"), SECCOMP_ANY("tgkill"), SECCOMP_ANY("gettid"),
	SECCOMP_ANY("getpid"), SECCOMP_ANY("getppid"), SECCOMP_ANY("getuid"), SECCOMP_ANY("geteuid"),
	SECCOMP_ANY("getgid"), SECCOMP_ANY("getegid"), SECCOMP_ANY("clock_gettime"), SECCOMP_ANY("clock_nanosleep"),
	SECCOMP_ANY("nanosleep"), SECCOMP_ANY("gettimeofday"), SECCOMP_ANY("time"), SECCOMP_ANY("sched_yield"),
	SECCOMP_ANY("sched_getaffinity"), SECCOMP_ANY("getrandom"), SECCOMP_ANY("uname"), SECCOMP_ANY("prlimit64"),
	SECCOMP_ANY("exit"), SECCOMP_ANY("exit_group"),
	/* each vCPU thread then loads its own, narrower list on top of this one (seccomp.h) */
	SECCOMP_ARG("prctl", 0, 0xffffffffULL, PR_SET_NO_NEW_PRIVS),
	SECCOMP_ARG("seccomp", 0, 0xffffffffULL, SECCOMP_SET_MODE_FILTER),
};

/* glibc tries clone3 first and falls back to clone on ENOSYS; clone3's flags are out of the filter's reach. */
static const struct seccomp_errno loop_errnos[] = {
	{ "clone3", ENOSYS },
};

int enclave_sandbox_loop(void)
{
	int ret = seccomp_install("enclave process", loop_allow, ARRAY_SIZE(loop_allow), loop_errnos,
				  ARRAY_SIZE(loop_errnos), true);

#ifdef NITROVM_TEST_HOOKS
	/* Test only: prove a call outside the list ends the enclave with its line (tests/kvm/test_seccomp.py). */
	if (!ret && getenv("NITROVM_TEST_SECCOMP_TRIGGER") && !strcmp(getenv("NITROVM_TEST_SECCOMP_TRIGGER"), "loop"))
		chroot("/");
#endif
	return ret;
}
