// SPDX-License-Identifier: MIT
/*
 * nitrovm-runc create [--bundle DIR] [--pid-file FILE] [--console-socket SOCK] ID
 *
 * Reads the bundle, chooses what the container becomes (select.c) and, for an enclave, makes its state
 * directory and cgroup and forks the monitor (monitor.c), which gets ready and says so.  create returns once
 * it has, with the state recorded and the pid file written (the monitor's pid: decimal, no newline, renamed
 * into place).  A monitor that cannot get ready says why in one line; create then removes everything it made
 * (state directory, cgroup) and fails with that line.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime.h"

/* Where the monitor's report pipe goes before every other inherited descriptor is closed. */
#define RT_REPORT_FD 3

struct create_args {
	const char *bundle, *pid_file, *console_socket, *id;
};

static int parse(int argc, char **argv, struct create_args *a)
{
	static const struct option opts[] = {
		{ "bundle", required_argument, NULL, 'b' },
		{ "pid-file", required_argument, NULL, 'p' },
		{ "console-socket", required_argument, NULL, 'c' },
		{ "preserve-fds", required_argument, NULL, 'f' },
		{ "no-pivot", no_argument, NULL, 'n' },
		{ "no-new-keyring", no_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(a, 0, sizeof(*a));
	a->bundle = ".";
	optind = 1;
	opterr = 0;
	while ((c = getopt_long_only(argc, argv, "+b:", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			a->bundle = optarg;
			break;
		case 'p':
			a->pid_file = optarg;
			break;
		case 'c':
			a->console_socket = optarg;
			break;
		case 'f':
		case 'n':
		case 'k':
			break; /* nothing to preserve or pivot in an enclave */
		default:
			return rt_fail("create: unknown option or missing value '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return rt_fail("create needs exactly one container id (" RT_NAME " create --bundle DIR ID)");
	a->id = argv[optind];
	return 0;
}

/* The monitor's one line: "ok", or "error <sentence>" (err_set with it); EOF is a monitor that died. */
static int read_report(int fd)
{
	char line[RT_CTL_LINE_MAX];
	size_t got = 0;

	while (got + 1 < sizeof(line)) {
		ssize_t n = read(fd, line + got, sizeof(line) - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	line[got] = '\0';
	if (got && line[got - 1] == '\n')
		line[got - 1] = '\0';
	if (!strcmp(line, "ok"))
		return 0;
	if (!strncmp(line, "error ", 6))
		return err_set(EINVAL, "%s", line + 6);
	return err_set(EPIPE, "the enclave process ended before it was ready");
}

/* In the child: the report pipe at a known number, every other inherited descriptor but stdio closed. */
static void child(struct rt_create *c, int report)
{
	if (report != RT_REPORT_FD) {
		dup2(report, RT_REPORT_FD);
		close(report);
	}
	syscall(SYS_close_range, RT_REPORT_FD + 1, ~0U, 0);
	rt_monitor_main(c, RT_REPORT_FD);
}

static int record(struct rt_create *c, const struct create_args *a, pid_t pid)
{
	struct rt_state s = { .pid = pid, .pid_start = rt_proc_start_time(pid), .cg = c->cg };
	int ret;

	snprintf(s.id, sizeof(s.id), "%s", c->id);
	snprintf(s.bundle, sizeof(s.bundle), "%s", c->b.dir);
	snprintf(s.rootfs, sizeof(s.rootfs), "%s", c->b.root);
	rt_now_rfc3339(s.created, sizeof(s.created));
	s.annotations = c->b.annotations;
	ret = rt_state_write(c->state_dir, &s);
	if (!ret && a->pid_file)
		ret = rt_write_pid_file(a->pid_file, pid);
	return ret;
}

/* Fork the monitor and wait for its report. */
static int start_monitor(struct rt_create *c, const struct create_args *a)
{
	int p[2], ret, st;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return err_set(errno, "cannot make a pipe: %s", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return err_set(errno, "cannot fork the enclave process: %s", strerror(errno));
	}
	if (!pid) {
		close(p[0]);
		child(c, p[1]);
	}
	close(p[1]);
	ret = read_report(p[0]);
	close(p[0]);
	if (!ret)
		ret = record(c, a, pid);
	if (ret) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	return ret;
}

static int make_state_dir(struct rt_create *c)
{
	int ret = mkdir_p(c->g->root, 0700);

	if (ret)
		return ret;
	if (mkdir(c->state_dir, 0700) == 0)
		return 0;
	if (errno == EEXIST)
		return err_set(EEXIST, "container with id exists: %s", c->id);
	return err_set(errno, "cannot make %s: %s", c->state_dir, strerror(errno));
}

/* Everything an enclave needs before the monitor is forked, checked here so that a bad bundle fails early. */
static int check_enclave(struct rt_create *c, const struct create_args *a)
{
	int ret = rt_bundle_check(&c->b);

	if (ret)
		return ret;
	if (c->b.terminal && !a->console_socket)
		return err_set(EINVAL, "the container wants a terminal (process.terminal) but create got no "
				       "--console-socket");
	if (c->choice.mode == RT_MODE_ROOTFS)
		return rt_config_kernel(&c->cfg);
	return 0;
}

static int create_enclave(struct rt_create *c, const struct create_args *a)
{
	int ret = check_enclave(c, a);

	if (!ret)
		ret = rt_cgroup_resolve(c->b.cgroups_path, c->g->systemd_cgroup, c->id, &c->cg);
	if (!ret)
		ret = make_state_dir(c);
	if (ret)
		return ret;
	ret = rt_cgroup_create(&c->cg, &c->b);
	if (!ret) {
		ret = start_monitor(c, a);
		if (ret)
			rt_cgroup_remove(&c->cg);
	}
	if (ret)
		rt_state_remove(c->state_dir);
	return ret;
}

int rt_cmd_create(const struct rt_globals *g, int argc, char **argv)
{
	struct create_args a;
	struct rt_create *c;
	int ret = parse(argc, argv, &a);

	if (ret)
		return ret;
	c = calloc(1, sizeof(*c));
	if (!c)
		return rt_fail("out of memory");
	c->g = g;
	c->id = a.id;
	c->console_socket = a.console_socket;
	ret = rt_state_dir(g, a.id, c->state_dir, sizeof(c->state_dir));
	if (!ret && (rt_delegated(g, a.id) || access(c->state_dir, F_OK) == 0))
		ret = err_set(EEXIST, "container with id exists: %s", a.id);
	if (!ret)
		ret = rt_config_load(&c->cfg);
	if (!ret)
		ret = rt_bundle_load(a.bundle, &c->b);
	if (!ret)
		ret = rt_select(&c->b, &c->choice);
	if (!ret && c->choice.mode == RT_MODE_PASSTHROUGH) {
		rt_debug("container %s: %s", a.id, c->choice.why);
		ret = rt_delegate_exec(g, &c->cfg, argv);
	} else if (!ret) {
		ret = create_enclave(c, &a);
	}
	if (ret)
		ret = rt_fail_err();
	rt_bundle_free(&c->b);
	free(c);
	return ret;
}
