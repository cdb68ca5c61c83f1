// SPDX-License-Identifier: MIT
/*
 * nitrovm-runc kill [--all] ID [SIGNAL]: SIGKILL kills the monitor, and the enclave with it at once (its
 * memory and vCPUs are the monitor's; natively the driver ends an enclave whose descriptor closes).  Every
 * other signal is the app's: the monitor passes it to the enclave's init, which signals the app (so SIGTERM,
 * or the image's StopSignal that podman and the kubelet send, lets the app stop in order).  --all is the same:
 * the app is the container's only process.  SIGNAL is a number or a name, with or without SIG (default TERM).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "runtime.h"

static int parse_signal(const char *s, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s && !*end) {
		if (v < 1 || v >= NSIG)
			return err_set(EINVAL, "invalid signal '%s'", s);
		*out = (int)v;
		return 0;
	}
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	for (int i = 1; i < NSIG; i++) {
		const char *name = sigabbrev_np(i);

		if (name && !strcasecmp(s, name)) {
			*out = i;
			return 0;
		}
	}
	return err_set(EINVAL, "invalid signal '%s'", s);
}

static int signal_monitor(const char *dir, struct rt_state *s, int signo)
{
	char req[32], reply[RT_CTL_LINE_MAX];
	int ret;

	if (rt_state_status(s) == RT_STOPPED)
		return err_set(ESRCH, "container not running");
	if (signo == SIGKILL || signo == SIGSTOP || signo == SIGCONT) {
		/* These are the monitor's own: the kernel's, and no process can catch or pass them. */
		if (kill(s->pid, signo))
			return err_set(errno, "container not running: %s", strerror(errno));
		return 0;
	}
	snprintf(req, sizeof(req), "signal %d", signo);
	ret = rt_ctl_request(dir, req, reply, sizeof(reply));
	if (ret) {
		/* The monitor does not answer: the signal goes to it directly, as a process would get it. */
		if (kill(s->pid, signo))
			return err_set(errno, "container not running: %s", strerror(errno));
		return 0;
	}
	if (strcmp(reply, "ok"))
		return err_set(EINVAL, "%s", strncmp(reply, "error ", 6) ? reply : reply + 6);
	return 0;
}

int rt_cmd_kill(const struct rt_globals *g, int argc, char **argv)
{
	static const struct option opts[] = { { "all", no_argument, NULL, 'a' }, { NULL, 0, NULL, 0 } };
	struct rt_state s;
	char dir[PATH_MAX];
	int c, signo = SIGTERM, ret = 0;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long_only(argc, argv, "+a", opts, NULL)) != -1)
		if (c != 'a')
			return rt_fail("kill: unknown option '%s'", argv[optind - 1]);
	if (optind >= argc || argc - optind > 2)
		return rt_fail("kill needs a container id and at most a signal (" RT_NAME " kill ID [SIGNAL])");
	if (argc - optind == 2)
		ret = parse_signal(argv[optind + 1], &signo);
	if (!ret)
		ret = rt_lookup(g, argv[optind], dir, sizeof(dir), &s);
	if (ret == RT_DELEGATED)
		return rt_pass_on(g, argv);
	if (!ret) {
		ret = signal_monitor(dir, &s, signo);
		rt_state_free(&s);
	}
	return ret ? rt_fail_err() : 0;
}
