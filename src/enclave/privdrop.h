/* SPDX-License-Identifier: MIT */
/*
 * The enclave process gives up what it no longer needs once its devices, sockets and listeners are open and
 * before the guest runs (privdrop.c):
 *
 *   started as root   a mount namespace of its own whose root is an empty, read-only tmpfs (pivot_root, the
 *                     host's tree detached), no supplementary groups, an unprivileged user and group, no
 *                     capabilities (effective, permitted, inheritable, ambient, bounding);
 *   always            no_new_privs; RLIMIT_CORE 0; RLIMIT_NOFILE fixed (soft = hard) at what it already has,
 *                     which the vsock device sized for its connections; RLIMIT_FSIZE where its only growing
 *                     file is its own log (detached).
 *
 * RLIMIT_NPROC stays: Linux counts threads against it per user, and the enclave process starts threads after
 * the drop (vCPUs, the NSM's worker, describe's measurements); a new process is refused by the allow-list
 * (sandbox.c: clone only with CLONE_THREAD) instead.
 */
#ifndef NITROVM_ENCLAVE_PRIVDROP_H
#define NITROVM_ENCLAVE_PRIVDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The user the enclave process becomes when started as root and none is named: this one when it exists... */
#define PRIVDROP_USER_DEDICATED "nitrovm"
/* ...else this one, with its primary group (nogroup on Debian). */
#define PRIVDROP_USER_FALLBACK "nobody"
/* The largest file a detached enclave process writes: its log (a guest that makes it log without end fills no
 * disk; past this, log lines are dropped). */
#define PRIVDROP_FSIZE_MAX (64 * 1024 * 1024)
/* At least this many descriptors stay allowed, whatever the limit was. */
#define PRIVDROP_NOFILE_MIN 256

struct privdrop {
	bool switch_user; /* started as root: the mount namespace and uid/gid below; else nothing to drop */
	uid_t uid;
	gid_t gid;
	char name[64];	  /* "user:group", for messages */
	bool limit_fsize; /* RLIMIT_FSIZE at PRIVDROP_FSIZE_MAX (stdout and stdin are not the user's files) */
};

/*
 * What a start as this process's user drops: spec "USER[:GROUP]" (names or numbers; the group defaults to the
 * user's primary group), or NULL for the default user; root (alone) keeps root.  Not root: nothing to switch,
 * and a spec is refused.  0 or -errno with err_msg() set to one sentence (the caller names its option).
 */
int privdrop_resolve(const char *spec, struct privdrop *out);

/*
 * Drop, in this process (which must be single-threaded or have every thread follow: set*id()'s glibc wrappers
 * change every thread).  empty_root_at: an existing directory the new root's tmpfs is mounted on inside the new
 * namespace (the host never sees it).  0 or -errno with err_msg().
 */
int privdrop_apply(const struct privdrop *d, const char *empty_root_at);

#endif
