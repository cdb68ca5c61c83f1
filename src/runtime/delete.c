// SPDX-License-Identifier: MIT
/*
 * nitrovm-runc delete [--force] ID: removes a stopped container (as runc, a created one is ended first; a
 * running one only with --force).  Ending means SIGKILL to the monitor and waiting until it is gone, then
 * whatever is left in the container's cgroup; then the cgroup, the enclave's records (console history, exit
 * record) and the state directory go.  delete --force of an id nobody knows succeeds: containerd deletes twice.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "enclave/registry.h"
#include "runtime.h"

/* An enclave ends within moments of its monitor's SIGKILL; past this something else holds it up. */
#define RT_KILL_WAIT_MS 10000
#define RT_ENCLAVE_ID_MAX 128

/* SIGKILL and wait until the process has exited (it may stay a zombie of its parent: that is gone enough). */
static int kill_and_wait(pid_t pid)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd p;

	if (fd < 0)
		return errno == ESRCH ? 0 : err_set(errno, "cannot watch process %d: %s", (int)pid, strerror(errno));
	kill(pid, SIGKILL);
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (poll(&p, 1, RT_KILL_WAIT_MS) <= 0) {
		close(fd);
		return err_set(ETIMEDOUT, "the enclave process %d did not end within %d s of SIGKILL", (int)pid,
			       RT_KILL_WAIT_MS / 1000);
	}
	close(fd);
	return 0;
}

/* Anything else that found its way into the container's cgroup goes too, or the cgroup cannot be removed. */
static void kill_cgroup(const struct rt_cgroup *cg)
{
	pid_t *pids;
	size_t n;

	if (rt_cgroup_pids(cg, &pids, &n))
		return;
	for (size_t i = 0; i < n; i++)
		kill_and_wait(pids[i]);
	free(pids);
}

static void remove_enclave_records(const char *dir)
{
	char path[PATH_MAX], id[RT_ENCLAVE_ID_MAX + 1];
	struct registry_dirs d;
	FILE *f;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, RT_ENCLAVE_ID_FILE) >= sizeof(path))
		return;
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(id, sizeof(id), f) && registry_dirs(&d, false) == 0)
		registry_remove_records(&d, id);
	fclose(f);
}

static int delete(const char *dir, struct rt_state *s, bool force)
{
	enum rt_status st = rt_state_status(s);
	int ret;

	if (st == RT_RUNNING && !force)
		return err_set(EBUSY, "cannot delete container %s that is not stopped: running", s->id);
	if (st != RT_STOPPED) {
		ret = kill_and_wait(s->pid);
		if (ret)
			return ret;
	}
	kill_cgroup(&s->cg);
	rt_cgroup_remove(&s->cg);
	remove_enclave_records(dir);
	rt_state_remove(dir);
	return 0;
}

int rt_cmd_delete(const struct rt_globals *g, int argc, char **argv)
{
	static const struct option opts[] = { { "force", no_argument, NULL, 'f' }, { NULL, 0, NULL, 0 } };
	struct rt_state s;
	char dir[PATH_MAX];
	bool force = false;
	const char *id;
	int c, ret;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long_only(argc, argv, "+f", opts, NULL)) != -1) {
		if (c != 'f')
			return rt_fail("delete: unknown option '%s'", argv[optind - 1]);
		force = true;
	}
	ret = rt_one_id(argc, argv, "delete [--force] ID", &id);
	if (!ret)
		ret = rt_lookup(g, id, dir, sizeof(dir), &s);
	if (ret == RT_DELEGATED)
		return rt_pass_on(g, argv);
	if (ret == -ENOENT && force)
		return 0;
	if (!ret) {
		ret = delete(dir, &s, force);
		rt_state_free(&s);
	}
	return ret ? rt_fail_err() : 0;
}
