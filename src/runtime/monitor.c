// SPDX-License-Identifier: MIT
/*
 * The monitor: the container's process, forked by create, and nitrovm's enclave process for its enclave
 * (enclave/proc.h), so nitrovm's and nitro-cli's commands see container enclaves too.
 *
 * Getting ready (create waits for the line it reports): its own session; the container's cgroup, before any
 * memory of the enclave exists; the network namespace (for nitrovm.io/ports); the container's stdio or a pty;
 * the enclave's image (the EIF in root.path, or one packed from it) and its size; the control socket.  Then
 * it waits for start (a signal meanwhile ends it as it would end a process that has not started), boots the
 * enclave and lives as long as it does.  The app's output is the container's output; its exit status is the
 * monitor's:
 *
 *   the app exited with N, or was killed by signal S      N, or 128 + S
 *   the enclave was ended by signal S before the app had it (booting, or an init without the app channel)
 *                                                          128 + S
 *   the enclave powered off or reset without an app status 0
 *   the enclave did not boot, or stopped abnormally        RT_EXIT_ENCLAVE_FAILED, and one line on its stderr
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/evloop.h"
#include "common/util.h"
#include "enclave/launch.h"
#include "enclave/proc.h"
#include "hypervisor/hypervisor.h"
#include "runtime.h"
#include "vsock/bridge.h"

/* What a container exits with when its enclave failed (Docker's 125: "the runtime failed"). */
#define RT_EXIT_ENCLAVE_FAILED 125
/* A line said on the container's stderr. */
#define RT_SAY_MAX 1024

struct monitor {
	struct rt_create *c;
	struct rt_stdio io;
	int ctl;
	int eif_fd;
	uint64_t eif_size;
	struct rt_size size;
	const struct hypervisor_ops *backend;
	struct bridge_config ports;
	bool debug;
	struct launch_run *run;
	int term_signal; /* a signal that ended the enclave because the app could not have it */
};

/* Signals that do nothing to a process by default: they end nothing before the app runs either. */
static bool ignored_by_default(int signo)
{
	return signo == SIGCHLD || signo == SIGCONT || signo == SIGURG || signo == SIGWINCH;
}

static int enter_netns(const struct rt_bundle *b)
{
	int fd;

	if (!b->netns)
		return 0;
	if (!b->netns_path[0]) {
		if (unshare(CLONE_NEWNET))
			return err_set(errno, "cannot make a network namespace: %s", strerror(errno));
		return 0;
	}
	fd = open(b->netns_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET)) {
		int err = errno;

		if (fd >= 0)
			close(fd);
		return err_set(err, "cannot enter the network namespace %s: %s", b->netns_path, strerror(err));
	}
	close(fd);
	return 0;
}

static int take_stdio(struct monitor *m)
{
	int slave = -1;

	if (m->c->b.terminal) {
		slave = rt_tty_open(m->c->console_socket, m->c->b.rows, m->c->b.cols);
		if (slave < 0)
			return slave;
	}
	return rt_stdio_take(&m->io, slave);
}

static int pick_backend(struct monitor *m)
{
	const char *why;

	m->backend = hv_select(cli_hypervisor_name(m->c->cfg.hypervisor[0] ? m->c->cfg.hypervisor : NULL), &why);
	if (!m->backend)
		return -EINVAL;
	return 0;
}

static int prepare_image(struct monitor *m)
{
	struct launch_error failure;
	const char *debug = rt_annotation(&m->c->b, RT_ANN_DEBUG);
	int ret;

	m->eif_fd = rt_enclave_image(&m->c->b, &m->c->choice, &m->c->cfg, m->c->state_dir, &m->eif_size);
	if (m->eif_fd < 0)
		return m->eif_fd;
	ret = rt_size(&m->c->b, &m->c->cfg, m->backend != &hv_kvm_ops, m->eif_size,
		      m->c->choice.mode == RT_MODE_ROOTFS, &m->size);
	if (!ret && enclave_check_resources(m->size.memory_mib, m->size.cpus, m->eif_size, &failure))
		ret = err_wrap(EINVAL, "the enclave's size (from %s)", m->size.memory_from);
	if (!ret && debug && strcmp(debug, "true") && strcmp(debug, "false"))
		ret = err_set(EINVAL, "the annotation " RT_ANN_DEBUG " is '%.32s': use true or false", debug);
	m->debug = m->c->cfg.debug_mode || (debug && !strcmp(debug, "true"));
	return ret;
}

/* Everything create waits for; 0 or -errno with err_msg(). */
static int get_ready(struct monitor *m)
{
	int ret = rt_cgroup_join(&m->c->cg);

	if (!ret)
		ret = enter_netns(&m->c->b);
	if (!ret)
		ret = take_stdio(m);
	if (!ret)
		ret = pick_backend(m);
	if (!ret)
		ret = prepare_image(m);
	if (!ret)
		ret = rt_ports(&m->c->b, &m->ports);
	if (!ret) {
		m->ctl = rt_ctl_listen(m->c->state_dir);
		ret = m->ctl < 0 ? m->ctl : 0;
	}
	return ret;
}

static void report(int fd, int ret)
{
	char line[RT_CTL_LINE_MAX];

	if (ret)
		snprintf(line, sizeof(line), "error %s\n", err_msg());
	else
		snprintf(line, sizeof(line), "ok\n");
	if (write_full(fd, line, strlen(line))) {
		/* create is gone: it will not write the pid file, and nobody will start us */
	}
	close(fd);
}

/* ---- before start ---- */

static int parse_signal_request(const char *req, int *signo)
{
	char *end;
	long v;

	if (strncmp(req, "signal ", 7))
		return -EINVAL;
	v = strtol(req + 7, &end, 10);
	if (*end || v < 1 || v >= NSIG)
		return -EINVAL;
	*signo = (int)v;
	return 0;
}

/* A request while the container is created: start goes on, a signal ends the monitor as it would a process. */
static bool created_request(struct monitor *m, int fd, const char *req)
{
	int signo;

	(void)m;
	if (!strcmp(req, "start")) {
		rt_ctl_reply(fd, "ok");
		return true;
	}
	if (parse_signal_request(req, &signo)) {
		rt_ctl_reply(fd, "error unknown request");
		return false;
	}
	rt_ctl_reply(fd, "ok");
	if (!ignored_by_default(signo))
		exit(128 + signo);
	return false;
}

static void wait_for_start(struct monitor *m)
{
	sigset_t set;
	int sfd;

	sigemptyset(&set);
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP && s != SIGCHLD && !(s >= 32 && s < SIGRTMIN) && s != SIGUSR1 &&
		    !ignored_by_default(s) && s != SIGPIPE)
			sigaddset(&set, s);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	for (;;) {
		struct pollfd p[2] = { { .fd = m->ctl, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
		char req[RT_CTL_LINE_MAX];
		struct signalfd_siginfo si;
		int fd;

		if (poll(p, 2, -1) < 0)
			continue;
		if ((p[1].revents & POLLIN) && read(sfd, &si, sizeof(si)) == sizeof(si))
			exit(128 + (int)si.ssi_signo);
		if (!(p[0].revents & POLLIN))
			continue;
		fd = rt_ctl_accept(m->ctl, req, sizeof(req), RT_CTL_TIMEOUT_MS);
		if (fd >= 0 && created_request(m, fd, req))
			break;
	}
	close(sfd);
	/* Only the launch's own signals stay blocked (they reach its signalfd); the others are defaults again. */
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}

/* ---- while the enclave runs ---- */

static void running_signal(struct monitor *m, int signo)
{
	if (launch_app_signal(m->run, signo) == 0 || ignored_by_default(signo))
		return;
	/* No app to give it to (still booting, or an init without the app channel): it ends the enclave. */
	if (!m->term_signal)
		m->term_signal = signo;
	launch_terminate(m->run);
}

static void on_ctl(void *opaque, int lfd, uint32_t events)
{
	struct monitor *m = opaque;
	char req[RT_CTL_LINE_MAX];
	int signo, fd = rt_ctl_accept(lfd, req, sizeof(req), RT_CTL_LOOP_TIMEOUT_MS);

	(void)events;
	if (fd < 0)
		return;
	if (!strcmp(req, "start")) {
		rt_ctl_reply(fd, "error the container was started already");
		return;
	}
	if (parse_signal_request(req, &signo)) {
		rt_ctl_reply(fd, "error unknown request");
		return;
	}
	rt_ctl_reply(fd, "ok");
	running_signal(m, signo);
}

static void v_line(void *opaque, const char *line)
{
	(void)opaque;
	fprintf(stderr, "%s\n", line);
}

static void v_allocating(void *opaque)
{
	v_line(opaque, CLI_ALLOCATING_LINE);
}

static void v_running(void *opaque, const struct enclave_info *info)
{
	struct monitor *m = opaque;
	char path[PATH_MAX], line[CLI_STARTED_LINE_MAX];
	struct atomic_file f;

	cli_started_line(info, line, sizeof(line));
	v_line(opaque, line);
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", m->c->state_dir, RT_ENCLAVE_ID_FILE) >= sizeof(path) ||
	    atomic_file_open(&f, path, 0600))
		return;
	if (atomic_file_write(&f, info->id, strlen(info->id)) || atomic_file_commit(&f))
		atomic_file_abort(&f);
}

static size_t v_app_output(void *opaque, int stream, const uint8_t *buf, size_t len)
{
	return rt_stdio_output(&((struct monitor *)opaque)->io, stream, buf, len);
}

static void v_app_started(void *opaque)
{
	struct monitor *m = opaque;

	rt_stdio_app_started(&m->io, m->run);
}

static void v_input_room(void *opaque)
{
	rt_stdio_input_room(&((struct monitor *)opaque)->io);
}

static int v_attach(void *opaque, struct launch_run *run)
{
	struct monitor *m = opaque;

	m->run = run;
	rt_stdio_attach(&m->io, run);
	return evloop_add(launch_loop(run), m->ctl, EPOLLIN, on_ctl, m);
}

static void say(struct monitor *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct monitor *m, const char *fmt, ...)
{
	char line[RT_SAY_MAX];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = (size_t)vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	n = MIN(n, sizeof(line) - 2);
	line[n] = '\n';
	line[n + 1] = '\0';
	fputs(line, stderr);
	rt_stdio_say(&m->io, line);
}

static int outcome(struct monitor *m, int ret, const struct launch_result *r)
{
	int signo;

	if (ret < 0 || r->error.cls != LAUNCH_OK) {
		say(m, RT_NAME ": the enclave did not start: %s", err_msg());
		return RT_EXIT_ENCLAVE_FAILED;
	}
	if (r->app.known)
		return launch_app_status(&r->app);
	switch (r->exit.reason) {
	case HV_EXIT_TERMINATED:
		signo = m->term_signal ? m->term_signal : r->signal ? r->signal : SIGTERM;
		return 128 + signo;
	case HV_EXIT_POWEROFF:
	case HV_EXIT_RESET:
		return 0;
	case HV_EXIT_DEBUG_PORT:
	case HV_EXIT_HANGUP:
		return r->exit.status;
	default:
		say(m, RT_NAME ": the enclave stopped abnormally after %.3f s: %s", r->exit.seconds, r->exit.detail);
		return RT_EXIT_ENCLAVE_FAILED;
	}
}

static int run_enclave(struct monitor *m)
{
	struct enclave_proc_opts o = { .report_fd = -1 };
	struct launch_result r;
	int ret;

	o.launch = (struct launch_opts){
		.eif_path = NULL,
		.eif_fd = m->eif_fd,
		.eif_size = m->eif_size,
		.memory_mib = m->size.memory_mib,
		.cpu_count = m->size.cpus,
		.debug_mode = m->debug,
		.name = m->c->id,
		.backend = m->backend,
		/* The emulated machine's shape only where it runs (the Nitro hypervisor's is AWS's). */
		.slot = { .kvm = { .acpi = m->backend != &hv_nitro_ops } },
		.console_in = -1,
		.bridges = &m->ports,
		.forward_signals = true,
	};
	cli_backend_env(&o.launch.slot, m->backend);
	o.view = (struct enclave_view){
		.opaque = m,
		.progress = v_line,
		.allocating = v_allocating,
		.notice = v_line,
		.running = v_running,
		.app_output = v_app_output,
		.app_started = v_app_started,
		.app_input_room = v_input_room,
		.attach = v_attach,
	};
	fprintf(stderr, RT_NAME ": container %s: %s, %u vCPU%s, %llu MiB (%s)\n", m->c->id, m->c->choice.why,
		m->size.cpus, m->size.cpus == 1 ? "" : "s", (unsigned long long)m->size.memory_mib,
		m->size.memory_from);
	ret = enclave_proc_run(&o, &r);
	return outcome(m, ret, &r);
}

/* The monitor's own words go to <state dir>/log (its stderr), which delete removes with the rest. */
static void open_log(struct monitor *m)
{
	char path[PATH_MAX];
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", m->c->state_dir, RT_LOG_FILE) >= sizeof(path))
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return; /* stderr stays /dev/null: the log is lost, not the enclave */
	dup2(fd, STDERR_FILENO);
	close(fd);
}

void rt_monitor_main(struct rt_create *c, int report_fd)
{
	struct monitor *m = calloc(1, sizeof(*m));
	int ret;

	setsid();
	signal(SIGPIPE, SIG_IGN);
	if (chdir("/")) {
		/* the state directory and the bundle are absolute paths */
	}
	if (!m) {
		err_set(ENOMEM, "out of memory");
		report(report_fd, -ENOMEM);
		_exit(RT_EXIT_ERROR);
	}
	m->c = c;
	m->ctl = m->eif_fd = -1;
	ret = get_ready(m);
	report(report_fd, ret);
	if (ret)
		_exit(RT_EXIT_ERROR);
	open_log(m);
	wait_for_start(m);
	exit(run_enclave(m));
}
