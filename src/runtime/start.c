// SPDX-License-Identifier: MIT
/*
 * nitrovm-runc start ID: the monitor of a created container boots its enclave.  It returns as soon as the
 * monitor has taken the request; how the boot goes is the container's exit status and output, as with runc,
 * whose start returns once the container's process runs.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "runtime.h"

static int start(const char *dir, struct rt_state *s)
{
	char reply[RT_CTL_LINE_MAX];
	enum rt_status st = rt_state_status(s);
	int ret;

	if (st == RT_STOPPED)
		return err_set(EINVAL, "cannot start a container that has stopped");
	if (st == RT_RUNNING)
		return err_set(EINVAL, "cannot start an already running container");
	ret = rt_ctl_request(dir, "start", reply, sizeof(reply));
	if (ret)
		return err_set(-ret, "the enclave process of container %s does not answer: %s", s->id, strerror(-ret));
	if (strcmp(reply, "ok"))
		return err_set(EINVAL, "cannot start container %s: %s", s->id,
			       strncmp(reply, "error ", 6) ? reply : reply + 6);
	s->started = true;
	return rt_state_write(dir, s);
}

int rt_cmd_start(const struct rt_globals *g, int argc, char **argv)
{
	struct rt_state s;
	char dir[PATH_MAX];
	const char *id;
	int ret;

	optind = 1;
	opterr = 0;
	if (getopt_long_only(argc, argv, "+", (const struct option[]){ { NULL, 0, NULL, 0 } }, NULL) != -1)
		return rt_fail("start: unknown option '%s'", argv[optind - 1]);
	ret = rt_one_id(argc, argv, "start ID", &id);
	if (!ret)
		ret = rt_lookup(g, id, dir, sizeof(dir), &s);
	if (ret == RT_DELEGATED)
		return rt_pass_on(g, argv);
	if (!ret) {
		ret = start(dir, &s);
		rt_state_free(&s);
	}
	return ret ? rt_fail_err() : 0;
}
