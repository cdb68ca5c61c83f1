// SPDX-License-Identifier: MIT
#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/util.h"

/* A name or a decimal id of the user or group database; -ENOENT when neither. */
static int lookup_user(const char *s, uid_t *uid, gid_t *gid)
{
	struct passwd *pw = getpwnam(s);
	char *end;
	unsigned long v;

	if (!pw && s[0] >= '0' && s[0] <= '9') {
		errno = 0;
		v = strtoul(s, &end, 10);
		if (*end || errno || v >= (uid_t)-1)
			return -ENOENT;
		pw = getpwuid((uid_t)v);
		*uid = (uid_t)v;
		*gid = pw ? pw->pw_gid : (gid_t)v; /* a number without an entry: its own group number */
		return 0;
	}
	if (!pw)
		return -ENOENT;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

static int lookup_group(const char *s, gid_t *gid)
{
	struct group *gr = getgrnam(s);
	char *end;
	unsigned long v;

	if (gr) {
		*gid = gr->gr_gid;
		return 0;
	}
	if (s[0] < '0' || s[0] > '9')
		return -ENOENT;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end || errno || v >= (gid_t)-1)
		return -ENOENT;
	*gid = (gid_t)v;
	return 0;
}

int privdrop_resolve(const char *spec, struct privdrop *out)
{
	char user[sizeof(out->name)], *group;

	memset(out, 0, sizeof(*out));
	if (geteuid() != 0) {
		if (spec)
			return err_set(EPERM, "switching to user %s needs nitrovm started as root (it runs as uid %u, "
					      "which it keeps)", spec, (unsigned int)geteuid());
		return 0;
	}
	if (!spec)
		spec = getpwnam(PRIVDROP_USER_DEDICATED) ? PRIVDROP_USER_DEDICATED : PRIVDROP_USER_FALLBACK;
	if (strlen(spec) >= sizeof(user) || !spec[0])
		return err_set(EINVAL, "'%s' is not a user name: give USER or USER:GROUP", spec);
	snprintf(user, sizeof(user), "%s", spec);
	group = strchr(user, ':');
	if (group)
		*group++ = '\0';
	if (!user[0] || (group && !group[0]))
		return err_set(EINVAL, "'%s' is not a user name: give USER or USER:GROUP", spec);
	if (lookup_user(user, &out->uid, &out->gid) < 0)
		return err_set(ENOENT, "there is no user '%s' on this host: name an existing unprivileged user (or "
				       "its number)", user);
	if (group && lookup_group(group, &out->gid) < 0)
		return err_set(ENOENT, "there is no group '%s' on this host: name an existing group (or its number)",
			       group);
	/* Root asked for by name: kept, for debugging nitrovm itself (as --no-seccomp is). */
	if (out->uid == 0 && (!group || out->gid == 0))
		return 0;
	if (out->uid == 0 || out->gid == 0)
		return err_set(EINVAL, "%s mixes root with another user or group: name an unprivileged user and group, "
				       "or root alone to keep root", spec);
	snprintf(out->name, sizeof(out->name), "%u:%u", (unsigned int)out->uid, (unsigned int)out->gid);
	out->switch_user = true;
	return 0;
}

/*
 * A mount namespace of this thread's own whose root is an empty read-only tmpfs: nothing of the host's tree
 * is reachable by path any more.  pivot_root rather than chroot: a chroot leaves every mount of the namespace
 * in place (reachable through a descriptor opened before, and by anyone who gets CAP_SYS_CHROOT back), while
 * a pivoted and detached old root is gone from this namespace altogether.
 */
static int empty_root(const char *at)
{
	if (unshare(CLONE_NEWNS) < 0)
		return err_set(errno, "cannot make a mount namespace of its own: %s", strerror(errno));
	/* Nothing done from here on reaches the host's namespace. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return err_set(errno, "cannot make its mounts private: %s", strerror(errno));
	if (mount("nitrovm", at, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY,
		  "size=4k,nr_inodes=1,mode=0555"))
		return err_set(errno, "cannot mount an empty root on %s: %s", at, strerror(errno));
	if (chdir(at) < 0)
		return err_set(errno, "cannot enter the empty root: %s", strerror(errno));
	/* The old root is stacked under the new one at "." and detached at once. */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return err_set(errno, "cannot pivot into the empty root: %s", strerror(errno));
	if (umount2(".", MNT_DETACH) < 0)
		return err_set(errno, "cannot detach the host's file systems: %s", strerror(errno));
	if (chdir("/") < 0)
		return err_set(errno, "cannot enter the empty root: %s", strerror(errno));
	return 0;
}

/* Every capability out of the bounding set, while CAP_SETPCAP is still ours; the rest go with the uid. */
static int drop_bounding(void)
{
	for (unsigned long cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return err_set(errno, "cannot drop capability %lu: %s", cap, strerror(errno));
	return 0;
}

static int switch_user(const struct privdrop *d)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct c[_LINUX_CAPABILITY_U32S_3];

	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return err_set(errno, "cannot clear the ambient capabilities: %s", strerror(errno));
	if (setgroups(0, NULL) < 0)
		return err_set(errno, "cannot clear the supplementary groups: %s", strerror(errno));
	if (setresgid(d->gid, d->gid, d->gid) < 0)
		return err_set(errno, "cannot switch to group %u: %s", (unsigned int)d->gid, strerror(errno));
	/* From uid 0 to another, every thread's permitted and effective sets empty (no SECBIT_KEEP_CAPS). */
	if (setresuid(d->uid, d->uid, d->uid) < 0)
		return err_set(errno, "cannot switch to user %u: %s", (unsigned int)d->uid, strerror(errno));
	memset(c, 0, sizeof(c));
	if (syscall(SYS_capset, &h, c) < 0)
		return err_set(errno, "cannot clear the capabilities: %s", strerror(errno));
	/* Proof, not hope: a way back would fail the launch rather than run the guest with it. */
	if (setresuid(0, 0, 0) == 0 || geteuid() == 0 || getegid() == 0)
		return err_set(EPERM, "the switch to %s left a way back to root", d->name);
	return 0;
}

static int set_limit(int resource, const char *what, rlim_t v)
{
	struct rlimit r = { .rlim_cur = v, .rlim_max = v };

	if (setrlimit(resource, &r) < 0)
		return err_set(errno, "cannot limit %s: %s", what, strerror(errno));
	return 0;
}

static int limit_resources(const struct privdrop *d)
{
	struct rlimit r;
	rlim_t nofile = PRIVDROP_NOFILE_MIN;
	int ret;

	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur > nofile)
		nofile = r.rlim_cur;
	ret = set_limit(RLIMIT_CORE, "core dumps", 0);
	if (!ret)
		ret = set_limit(RLIMIT_NOFILE, "open descriptors", nofile);
	if (!ret && d->limit_fsize) {
		/* Past the limit a write fails with EFBIG instead of the default SIGXFSZ ending the enclave. */
		signal(SIGXFSZ, SIG_IGN);
		ret = set_limit(RLIMIT_FSIZE, "file sizes", PRIVDROP_FSIZE_MAX);
	}
	return ret;
}

int privdrop_apply(const struct privdrop *d, const char *empty_root_at)
{
	int ret = 0;

	if (d->switch_user) {
		ret = empty_root(empty_root_at);
		if (!ret)
			ret = drop_bounding();
		if (!ret)
			ret = switch_user(d);
	}
	if (!ret && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		ret = err_set(errno, "cannot set no_new_privs: %s", strerror(errno));
	if (!ret)
		ret = limit_resources(d);
	return ret < 0 ? err_wrap(-ret, "the enclave process cannot give up its privileges") : 0;
}
