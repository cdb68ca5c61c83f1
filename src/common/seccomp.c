// SPDX-License-Identifier: MIT
#include "seccomp.h"

#include <errno.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

#define LIST_MAX 24

/*
 * The allow-list's name for the trap's line: the filter a thread loaded itself, else the one loaded on every
 * thread of the process.  Set before the filter is loaded, read in the signal handler.
 */
static __thread char list_thread[LIST_MAX];
static char list_process[LIST_MAX];

static size_t append(char *line, size_t n, size_t cap, const char *s)
{
	while (*s && n < cap)
		line[n++] = *s++;
	return n;
}

/* Decimal or 0x-hex of v into buf (at least 20 bytes), by hand: the signal handler may not call printf. */
static void fmt_num(char *buf, uint64_t v, unsigned int base)
{
	char tmp[20];
	int k = 0, n = 0;

	do {
		tmp[k++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (base == 16) {
		buf[n++] = '0';
		buf[n++] = 'x';
	}
	while (k)
		buf[n++] = tmp[--k];
	buf[n] = 0;
}

/* The trapped call's first argument, from the registers the kernel saved. */
static uint64_t first_arg(const void *ctx)
{
	const ucontext_t *uc = ctx;

#if defined(__x86_64__)
	return (uint64_t)uc->uc_mcontext.gregs[REG_RDI];
#elif defined(__aarch64__)
	return uc->uc_mcontext.regs[0];
#else
	(void)uc;
	return 0;
#endif
}

/*
 * Async-signal-safe: one line assembled by hand ("thread vcpu0 made system call 257 (first argument 0xff..),
 * outside the vCPU allow-list"), one write, then the whole process ends.  The thread's name comes from the
 * kernel (every list allows reading it).
 */
static void on_sigsys(int sig, siginfo_t *info, void *ctx)
{
	char line[256], num[24], arg[24], comm[17] = "";
	size_t n = 0;

	(void)sig;
	fmt_num(num, (uint64_t)(uint32_t)info->si_syscall, 10);
	fmt_num(arg, first_arg(ctx), 16);
	syscall(SYS_prctl, PR_GET_NAME, comm, 0, 0, 0);
	comm[16] = 0;
	n = append(line, n, sizeof(line) - 1, "nitrovm: thread ");
	n = append(line, n, sizeof(line) - 1, comm[0] ? comm : "?");
	n = append(line, n, sizeof(line) - 1, " made system call ");
	n = append(line, n, sizeof(line) - 1, num);
	n = append(line, n, sizeof(line) - 1, " (first argument ");
	n = append(line, n, sizeof(line) - 1, arg);
	n = append(line, n, sizeof(line) - 1, "), outside the ");
	n = append(line, n, sizeof(line) - 1, list_thread[0] ? list_thread : list_process);
	n = append(line, n, sizeof(line) - 1, " allow-list (seccomp); ending the enclave");
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nothing more to do: the status says it too */
	}
	syscall(SYS_exit_group, 128 + SIGSYS);
}

/*
 * What a call outside the list does.  The test build can make it only logged (the kernel's audit log, dmesg),
 * to list in one run every call a scenario makes that a list lacks.
 */
static uint32_t default_action(void)
{
#ifdef NITROVM_TEST_HOOKS
	if (getenv("NITROVM_TEST_SECCOMP_LOG"))
		return SCMP_ACT_LOG;
#endif
	return SCMP_ACT_TRAP;
}

static int install_handler(void)
{
	struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };

	sigemptyset(&sa.sa_mask);
	return sigaction(SIGSYS, &sa, NULL) < 0 ? -errno : 0;
}

static int add_rules(scmp_filter_ctx ctx, const struct seccomp_allow *allow, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(allow[i].name), ret;

		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		if (allow[i].arg < 0)
			ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		else
			ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					       SCMP_CMP((unsigned int)allow[i].arg, SCMP_CMP_MASKED_EQ, allow[i].mask,
							allow[i].value));
		if (ret < 0)
			return err_set(-ret, "seccomp: cannot allow %s: %s", allow[i].name, strerror(-ret));
	}
	return 0;
}

int seccomp_install(const char *list, const struct seccomp_allow *allow, size_t nallow,
		    const struct seccomp_errno *errs, size_t nerrs, bool all_threads)
{
	scmp_filter_ctx ctx;
	int ret;

	if (all_threads)
		snprintf(list_process, sizeof(list_process), "%s", list);
	else
		snprintf(list_thread, sizeof(list_thread), "%s", list);
	ret = install_handler();
	if (ret < 0)
		return err_set(-ret, "seccomp: cannot handle SIGSYS: %s", strerror(-ret));
	/* Needed to load a filter without CAP_SYS_ADMIN, and right anyway: nothing we run may gain privileges. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return err_set(errno, "cannot set no_new_privs: %s", strerror(errno));
	ctx = seccomp_init(default_action());
	if (!ctx)
		return err_set(ENOMEM, "seccomp: cannot create a filter");
	ret = add_rules(ctx, allow, nallow);
	for (size_t i = 0; !ret && i < nerrs; i++) {
		int nr = seccomp_syscall_resolve_name(errs[i].name);

		if (nr != __NR_SCMP_ERROR && (ret = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(errs[i].err), nr, 0)) < 0)
			ret = err_set(-ret, "seccomp: cannot refuse %s: %s", errs[i].name, strerror(-ret));
	}
	if (!ret && all_threads && (ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) < 0)
		ret = err_set(-ret, "seccomp: cannot apply a filter to every thread: %s", strerror(-ret));
	if (!ret && (ret = seccomp_load(ctx)) < 0)
		ret = err_set(-ret, "seccomp: cannot load the %s allow-list: %s", list, strerror(-ret));
	seccomp_release(ctx);
	return ret;
}
