/* SPDX-License-Identifier: MIT */
/*
 * System-call allow-lists (seccomp-bpf through libseccomp), one per kind of thread, as Firecracker keeps them:
 * the threads that touch guest memory get only what they use, so a guest that takes over one of them cannot
 * open files, start programs or reach the network.
 *
 * A call outside the list does not fail quietly: it traps (SIGSYS), the handler writes one line naming the
 * thread, the call's number and the list to stderr (the enclave process's log), and the process ends with
 * status 128 + SIGSYS.  Every list must allow prctl(PR_GET_NAME), with which the handler names the thread.
 * Ending the whole process rather than the thread is deliberate: a vCPU or the event loop gone alone would leave
 * an enclave that hangs, not one that stopped.
 */
#ifndef NITROVM_COMMON_SECCOMP_H
#define NITROVM_COMMON_SECCOMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An allowed call; with arg >= 0, only when (argument arg & mask) == value.  Several rules for one call: any. */
struct seccomp_allow {
	const char *name; /* as libseccomp names it; calls this architecture lacks are skipped */
	int arg;	  /* -1: any arguments */
	uint64_t mask, value;
};

#define SECCOMP_ANY(n)		     { (n), -1, 0, 0 }
#define SECCOMP_ARG(n, a, m, v)	     { (n), (a), (m), (v) }

/* Calls answered with an error instead of a trap (glibc falls back from clone3 to clone on ENOSYS). */
struct seccomp_errno {
	const char *name;
	int err;
};

/*
 * Load an allow-list on the calling thread (and, with all_threads, on every thread of the process, which must
 * not have filters of their own yet); threads it creates later inherit it.  list names it in the trap's line
 * ("vCPU", "enclave process").  0 or -errno with err_msg() set.
 */
int seccomp_install(const char *list, const struct seccomp_allow *allow, size_t nallow,
		    const struct seccomp_errno *errs, size_t nerrs, bool all_threads);

#endif
