// SPDX-License-Identifier: MIT
#include "launch.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/util.h"
#include "enclave/app_channel.h"
#include "enclave/console.h"
#include "enclave/heartbeat.h"
#include "enclave/sandbox.h"
#include "vsock/bridge.h"
#include "vsock/endpoint.h"
#include "nsm/nsm.h"


static int size_error(struct launch_error *e, enum launch_error_class cls, uint64_t asked, uint64_t limit)
{
	*e = (struct launch_error){ .cls = cls, .asked = asked, .limit = limit };
	return -EINVAL;
}

int enclave_check_resources(uint64_t memory_mib, unsigned int cpu_count, uint64_t eif_size, struct launch_error *e)
{
	uint64_t min_mib = MAX((eif_size + MiB - 1) / MiB * ENCLAVE_MEMORY_EIF_RATIO, 1);

	*e = (struct launch_error){ .cls = LAUNCH_OK };
	if (memory_mib < min_mib) {
		err_set(EINVAL, "enclave memory of %llu MiB is less than the %llu MiB its image needs (%d times the "
				"EIF's size)", (unsigned long long)memory_mib, (unsigned long long)min_mib,
			ENCLAVE_MEMORY_EIF_RATIO);
		return size_error(e, LAUNCH_ERR_MEMORY_BELOW_IMAGE, memory_mib, min_mib);
	}
	if (memory_mib < ENCLAVE_MIN_MEMORY_MIB) {
		err_set(EINVAL, "enclave memory of %llu MiB is less than the %d MiB an enclave needs",
			(unsigned long long)memory_mib, ENCLAVE_MIN_MEMORY_MIB);
		return size_error(e, LAUNCH_ERR_MEMORY_BELOW_MIN, memory_mib, ENCLAVE_MIN_MEMORY_MIB);
	}
	if (memory_mib % ENCLAVE_MEMORY_ALIGN_MIB) {
		err_set(EINVAL, "enclave memory of %llu MiB is not a multiple of the %d MiB pages it comes in",
			(unsigned long long)memory_mib, ENCLAVE_MEMORY_ALIGN_MIB);
		return size_error(e, LAUNCH_ERR_MEMORY_UNALIGNED, memory_mib, ENCLAVE_MEMORY_ALIGN_MIB);
	}
	if (cpu_count < 1) {
		err_set(EINVAL, "an enclave needs at least one vCPU (the CPU count is 0)");
		return size_error(e, LAUNCH_ERR_NO_VCPUS, 0, 1);
	}
	if (cpu_count > HV_MAX_VCPUS) {
		err_set(EINVAL, "an enclave has at most %d vCPUs here (asked for %u)", HV_MAX_VCPUS, cpu_count);
		return size_error(e, LAUNCH_ERR_TOO_MANY_VCPUS, cpu_count, HV_MAX_VCPUS);
	}
	return 0;
}

/*
 * nitro-cli: <board asset tag (the EC2 instance id)>-enc<slot uid in hex>, or the parent id given instead, or the
 * id given outright (QEMU's id=).  The NSM forms its module_id with the same function, so they always agree.
 */
static void enclave_id(char *out, size_t len, const struct hv_slot_config *slot, uint64_t slot_uid)
{
	char parent[NSM_PARENT_ID_MAX + 1];

	nsm_launch_ids(slot->enclave_id, slot->parent_id, slot_uid, parent, sizeof(parent), out, len);
}

static void enclave_name(char *out, size_t len, const struct launch_opts *o)
{
	const char *base, *slash;
	size_t n;

	if (o->name) {
		snprintf(out, len, "%s", o->name);
		return;
	}
	base = o->eif_path ? o->eif_path : "enclave";
	slash = strrchr(base, '/');
	base = slash ? slash + 1 : base;
	n = strlen(base);
	if (n > 4 && !strcmp(base + n - 4, ".eif"))
		n -= 4;
	snprintf(out, len, "%.*s", (int)n, base);
}

/* ---- running ---- */

struct launch_run {
	struct evloop *loop;
	struct hypervisor *hv;
	const struct launch_opts *o;
	struct launch_result *r;
	int console;
	/* vsock services (heartbeat.c, console.c), the same code for every backend */
	struct heartbeat *hb;
	struct app_channel *app;
	struct console_client *vsock_console;
	struct bridge_set *bridges;
	/* Console input taken from console_in that the console socket had no room for yet (on_input). */
	uint8_t in_buf[ENCLAVE_CONSOLE_CHUNK];
	size_t in_len, in_off;
	bool in_blocked; /* console_in is not watched until in_buf went out */
	bool in_ended;	 /* console_in hung up: never watched again */
	bool slot_ready;     /* the slot_ready hook ran: the ended hook will */
	bool contained;	     /* contain() ran: the privileges are dropped, the allow-list loaded */
	bool contain_failed; /* and failed: the start's failure is the containment's */
	struct timespec t_start;
	bool hb_failed;
	char hb_error[256];
};

struct evloop *launch_loop(struct launch_run *run)
{
	return run->loop;
}

void launch_terminate(struct launch_run *run)
{
	run->hv->ops->terminate(run->hv);
}

static void progress(struct launch_run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void progress(struct launch_run *run, const char *fmt, ...)
{
	const struct launch_hooks *h = &run->o->hooks;
	char line[512];
	va_list ap;

	if (!h->progress)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	h->progress(h->opaque, line);
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void copy_console(struct launch_run *run)
{
	uint8_t buf[ENCLAVE_CONSOLE_CHUNK];

	for (;;) {
		ssize_t n = recv(run->console, buf, sizeof(buf), MSG_DONTWAIT);

		if (n <= 0)
			return;
		if (run->o->hooks.console)
			run->o->hooks.console(run->o->hooks.opaque, buf, (size_t)n);
	}
}

static void on_console(void *opaque, int fd, uint32_t events);
static void on_input(void *opaque, int fd, uint32_t events);

/*
 * Console input waits for room in the console socket without blocking the loop (which is also what drains the
 * other end into the UART): while some is pending, the loop stops reading console_in and watches the console
 * for room instead.
 */
static void input_wait(struct launch_run *run, bool blocked)
{
	if (run->in_blocked == blocked)
		return;
	run->in_blocked = blocked;
	evloop_del(run->loop, run->console);
	if (evloop_add(run->loop, run->console, EPOLLIN | (blocked ? EPOLLOUT : 0), on_console, run) < 0)
		err_clear(); /* ENOMEM only: the console is no longer watched, the enclave runs on */
	if (run->in_ended)
		return;
	if (blocked)
		evloop_del(run->loop, run->o->console_in);
	else if (evloop_add(run->loop, run->o->console_in, EPOLLIN, on_input, run) < 0)
		err_clear();
}

static void flush_input(struct launch_run *run)
{
	while (run->in_off < run->in_len) {
		ssize_t n = send(run->console, run->in_buf + run->in_off, run->in_len - run->in_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			input_wait(run, true);
			return;
		}
		if (n < 0)
			break; /* the console is gone: its input with it */
		run->in_off += (size_t)n;
	}
	run->in_len = run->in_off = 0;
	input_wait(run, false);
}

static void on_console(void *opaque, int fd, uint32_t events)
{
	struct launch_run *run = opaque;

	(void)fd;
	if (events & EPOLLOUT)
		flush_input(run);
	if (events & EPOLLIN) {
		copy_console(run);
		return;
	}
	if (!(events & EPOLLOUT))
		evloop_del(run->loop, run->console);
}

static void on_input(void *opaque, int fd, uint32_t events)
{
	struct launch_run *run = opaque;
	ssize_t n;

	(void)events;
	if (run->in_len)
		return; /* not watched while input is pending; a stale event */
	n = read(fd, run->in_buf, sizeof(run->in_buf));
	if (n <= 0) {
		if (n == 0 || errno != EINTR) {
			evloop_del(run->loop, fd);
			run->in_ended = true;
		}
		return;
	}
	run->in_len = (size_t)n;
	run->in_off = 0;
	flush_input(run);
}

static void on_exit_fd(void *opaque, int fd, uint32_t events)
{
	struct launch_run *run = opaque;

	(void)fd;
	(void)events;
	evloop_stop(run->loop);
}

static void on_signal(void *opaque, int signo)
{
	struct launch_run *run = opaque;

	if (signo == SIGCHLD)
		return; /* no children of ours matter to the enclave */
	if (run->o->forward_signals && app_channel_signal(run->app, signo) == 0)
		return;
	if (signo == SIGUSR2)
		return; /* only ever meant for the app */
	if (!run->r->signal)
		run->r->signal = signo;
	run->hv->ops->terminate(run->hv);
}

static int run_enclave(struct launch_run *run)
{
	const struct hypervisor_ops *ops = run->hv->ops;
	int ret;

	if (!run->vsock_console)
		run->console = ops->console_fd(run->hv);
	ret = evloop_watch_signals(run->loop, on_signal, run);
	if (!ret)
		ret = evloop_add(run->loop, ops->exit_fd(run->hv), EPOLLIN, on_exit_fd, run);
	if (!ret && run->console >= 0)
		ret = evloop_add(run->loop, run->console, EPOLLIN, on_console, run);
	/* Input only from something epoll can watch (a terminal or a pipe, not a file or /dev/null). */
	if (!ret && run->console >= 0 && run->o->console_in >= 0)
		evloop_add(run->loop, run->o->console_in, EPOLLIN, on_input, run);
	if (!ret)
		ret = evloop_run(run->loop);
	if (ret < 0)
		ops->terminate(run->hv);
	ops->wait_exit(run->hv, &run->r->exit);
	/* The vCPUs are joined: what they wrote is in the sockets (the vsock console's is copied as freed). */
	console_client_free(run->vsock_console);
	run->vsock_console = NULL;
	if (run->console >= 0)
		copy_console(run);
	return ret;
}

/* ---- vsock services: the heartbeat on parent port 9000 and the console client ---- */

static void on_heartbeat(void *opaque, int err)
{
	struct launch_run *run = opaque;
	double secs = seconds_since(&run->t_start);

	if (err < 0) {
		/* nitro-cli terminates an enclave whose heartbeat fails; so do we. */
		snprintf(run->hb_error, sizeof(run->hb_error), "%s", err_msg());
		run->hb_failed = true;
		run->hv->ops->terminate(run->hv);
		return;
	}
	progress(run, "enclave booted in %.3f s", secs);
	if (run->o->hooks.booted)
		run->o->hooks.booted(run->o->hooks.opaque, secs);
}

/* Before start, as nitro-cli binds its listener before NE_START_ENCLAVE: an early heartbeat is never refused. */
static int bind_heartbeat(struct launch_run *run)
{
	struct vsock_host *h = run->hv->ops->vsock_host ? run->hv->ops->vsock_host(run->hv) : NULL;

	if (run->o->no_heartbeat)
		return 0;
	if (!h) {
		run->r->error.cls = LAUNCH_ERR_NO_VSOCK;
		return err_set(ENOTSUP, "the %s hypervisor has no vsock to answer the heartbeat on", run->hv->ops->name);
	}
	run->hb = heartbeat_listen(h, run->loop, on_heartbeat, run);
	if (!run->hb)
		run->r->error.cls = LAUNCH_ERR_HEARTBEAT_PORT;
	return run->hb ? 0 : -EADDRINUSE;
}

/* ---- the app channel: the app's output, exit status, stdin and signals (app_channel.h) ---- */

static void app_started(void *opaque)
{
	struct launch_run *run = opaque;

	if (run->o->hooks.app_started)
		run->o->hooks.app_started(run->o->hooks.opaque);
}

static size_t app_output(void *opaque, int stream, const uint8_t *buf, size_t len)
{
	const struct launch_hooks *h = &((struct launch_run *)opaque)->o->hooks;

	if (h->app_output)
		return h->app_output(h->opaque, stream, buf, len);
	if (h->console)
		h->console(h->opaque, buf, len);
	return len;
}

static void app_exited(void *opaque, enum app_exit_kind kind, uint32_t value)
{
	struct launch_run *run = opaque;

	run->r->app = (struct launch_app_exit){ .known = true, .kind = kind, .value = value };
}

static void app_input_room(void *opaque)
{
	const struct launch_hooks *h = &((struct launch_run *)opaque)->o->hooks;

	if (h->app_input_room)
		h->app_input_room(h->opaque);
}

static void app_broken(void *opaque, const char *why)
{
	progress(opaque, "nitrovm: %s", why);
}

static const struct app_channel_ops app_ops = {
	.started = app_started,
	.output = app_output,
	.exited = app_exited,
	.input_room = app_input_room,
	.broken = app_broken,
};

/* A bridge the user set up on the channel's parent port keeps it: their service, not ours. */
static bool port_bridged(const struct bridge_config *c, uint32_t port)
{
	for (unsigned int i = 0; c && i < c->nrules; i++)
		if (c->rules[i].dir == BRIDGE_FROM_ENCLAVE && c->rules[i].vsock_port == port)
			return true;
	return false;
}

/* Before start, like the heartbeat: the init connects as soon as its heartbeat is answered. */
static int bind_app_channel(struct launch_run *run)
{
	struct vsock_host *h = run->hv->ops->vsock_host ? run->hv->ops->vsock_host(run->hv) : NULL;

	if (!h || port_bridged(run->o->bridges, APP_WIRE_PORT))
		return 0;
	run->app = app_channel_listen(h, run->loop, &app_ops, run);
	return run->app ? 0 : -EADDRINUSE;
}

int launch_app_signal(struct launch_run *run, int signo)
{
	return app_channel_signal(run->app, signo);
}

size_t launch_app_input(struct launch_run *run, const uint8_t *buf, size_t len)
{
	return app_channel_input(run->app, buf, len);
}

void launch_app_input_eof(struct launch_run *run)
{
	app_channel_input_eof(run->app);
}

void launch_app_resume(struct launch_run *run)
{
	app_channel_resume(run->app);
}

int launch_app_status(const struct launch_app_exit *a)
{
	return a->kind == APP_EXIT_SIGNAL ? 128 + (int)a->value : (int)a->value;
}

/*
 * Everything is open: the privileges go (the hook), then the allow-list is loaded, in that order so that the
 * list need not allow what the drop calls.  Once, right before the guest runs (the backend calls it).
 */
static int contain(void *opaque)
{
	struct launch_run *run = opaque;
	const struct launch_opts *o = run->o;
	int ret = 0;

	if (run->contained)
		return 0;
	run->contained = true;
	if (o->hooks.contain)
		ret = o->hooks.contain(o->hooks.opaque);
	if (!ret && o->seccomp)
		ret = enclave_sandbox_loop();
	run->contain_failed = ret < 0;
	return ret;
}

/* Before start too, for the same reason: the bridges' parent ports must not refuse an early connection. */
static int bind_bridges(struct launch_run *run)
{
	const struct bridge_config *c = run->o->bridges;
	struct vsock_host *h = run->hv->ops->vsock_host ? run->hv->ops->vsock_host(run->hv) : NULL;

	if (!c || (!c->nrules && !c->uds_path))
		return 0;
	if (!h)
		return err_set(ENOTSUP, "the %s hypervisor has no vsock to bridge", run->hv->ops->name);
	run->bridges = bridge_set_create(h, run->loop, c);
	return run->bridges ? 0 : -EINVAL;
}

/* The vsock console's bytes reach the console hook like the serial port's, straight from the loop. */
static void vsock_console_sink(void *opaque, const uint8_t *buf, size_t len)
{
	struct launch_run *run = opaque;

	if (run->o->hooks.console)
		run->o->hooks.console(run->o->hooks.opaque, buf, len);
}

/*
 * The vsock console (CID 0, port CID + 10000) is the console when asked for (nitro-cli's --attach-console),
 * and on a backend without a serial console (native) in debug mode.  Its input is not read: nitro-cli's
 * console is output only.
 */
static int attach_vsock_console(struct launch_run *run, uint64_t cid)
{
	const struct launch_opts *o = run->o;
	struct vsock_host *h = run->hv->ops->vsock_host ? run->hv->ops->vsock_host(run->hv) : NULL;

	if (!o->attach_console && (run->hv->ops->console_fd(run->hv) >= 0 || !o->debug_mode || !o->hooks.console))
		return 0;
	if (!h) {
		if (!o->attach_console)
			return 0; /* no console at all: nothing to show */
		return err_set(ENOTSUP, "the %s hypervisor has no vsock console", run->hv->ops->name);
	}
	run->vsock_console = console_client_attach(h, run->loop, cid, vsock_console_sink, run);
	return run->vsock_console ? 0 : -EIO;
}

static int start_vsock_services(struct launch_run *run, uint64_t cid)
{
	const struct launch_opts *o = run->o;
	uint64_t timeout = heartbeat_timeout_ms(o->eif_size, o->memory_mib * MiB);

	if (run->hb && heartbeat_arm(run->hb, o->heartbeat_no_timeout ? 0 : timeout) < 0)
		return -EIO;
	if (run->bridges && bridge_set_start(run->bridges, cid) < 0)
		return -EIO;
	if (!run->hb && o->hooks.booted)
		o->hooks.booted(o->hooks.opaque, 0); /* nothing to wait for */
	return attach_vsock_console(run, cid);
}

/* The class of a failed step; the backend's own account, if it gave one, is in r->error.fault already. */
static int step_failed(struct launch_run *run, enum launch_error_class cls, int ret)
{
	run->r->error.cls = cls;
	return ret;
}

static int setup_enclave(struct launch_run *run, uint64_t *cid)
{
	const struct launch_opts *o = run->o;
	const struct hypervisor_ops *ops = o->backend;
	struct launch_result *r = run->r;
	struct hv_fault *fault = &r->error.fault;
	struct hv_region regions[HV_MAX_REGIONS];
	unsigned int nregions = 0;
	uint64_t offset, total = 0;
	int ret;

	if (o->hooks.allocating)
		o->hooks.allocating(o->hooks.opaque);
	ret = ops->alloc_memory(run->hv, o->memory_mib * MiB, regions, &nregions, fault);
	if (ret < 0)
		return step_failed(run, LAUNCH_ERR_MEMORY, ret);
	ret = ops->image_load_info(run->hv, &offset, fault);
	if (ret < 0)
		return step_failed(run, LAUNCH_ERR_SETUP, ret);
	for (unsigned int i = 0; i < nregions; i++)
		total += regions[i].size;
	/* Checked before a byte is copied: the offset is the backend's answer (the driver's), not a constant. */
	if (offset > total || o->eif_size > total - offset) {
		r->error.asked = (o->eif_size + MiB - 1) / MiB;
		r->error.limit = (total - MIN(offset, total)) / MiB;
		err_set(ENOSPC, "The EIF (%llu MiB) does not fit in %llu MiB of enclave memory past the image load "
				"offset of %llu MiB: ask for more memory", (unsigned long long)r->error.asked,
			(unsigned long long)(total / MiB), (unsigned long long)(offset / MiB));
		return step_failed(run, LAUNCH_ERR_IMAGE_OVERFLOW, -ENOSPC);
	}
	ret = hv_memory_read_fd(regions, nregions, offset, o->eif_fd, o->eif_size);
	if (ret < 0)
		return step_failed(run, LAUNCH_ERR_SETUP, ret);
	for (unsigned int i = 0; i < nregions; i++) {
		ret = ops->add_memory_region(run->hv, &regions[i], fault);
		if (ret < 0)
			return step_failed(run, LAUNCH_ERR_SETUP, ret);
	}
	r->info.memory_mib = total / MiB;
	for (unsigned int i = 0; i < o->cpu_count; i++) {
		uint32_t id = o->slot.cpu_ids ? o->slot.cpu_ids[i] : 0; /* 0: the backend picks */

		ret = ops->add_vcpu(run->hv, &id, fault);
		if (ret < 0)
			return step_failed(run, LAUNCH_ERR_SETUP, ret);
		r->info.cpu_ids[r->info.ncpus++] = id;
	}
	ret = bind_heartbeat(run);
	if (ret < 0)
		return ret;
	ret = bind_bridges(run);
	if (!ret)
		ret = bind_app_channel(run);
	if (ret < 0)
		return step_failed(run, LAUNCH_ERR_PORTS, ret);
	ret = ops->start(run->hv, o->cid, o->debug_mode, cid, fault);
	/* What the start says of the image outweighs the driver request it failed in (the simulated driver's). */
	if (ret == -ENOEXEC || ret == -ENOMEM)
		*fault = (struct hv_fault){ .cls = HV_FAULT_NONE };
	if (ret < 0 && run->contain_failed)
		return step_failed(run, LAUNCH_ERR_SANDBOX, ret);
	if (ret == -ENOEXEC)
		return step_failed(run, LAUNCH_ERR_IMAGE, ret);
	if (ret == -ENOMEM)
		return step_failed(run, LAUNCH_ERR_GUEST_MEMORY, ret);
	if (ret < 0)
		return step_failed(run, LAUNCH_ERR_START, ret);
	/* A backend whose guest does not run in this process (native) did not call it: before its first byte. */
	if (!run->contained) {
		ret = contain(run);
		if (ret < 0)
			return step_failed(run, LAUNCH_ERR_SANDBOX, ret);
	}
	return 0;
}

int enclave_launch(const struct launch_opts *o, struct launch_result *r)
{
	struct launch_run run = { .o = o, .r = r, .console = -1 };
	struct hv_slot_config slot = o->slot;
	struct hv_image image = { .fd = o->eif_fd };
	uint64_t slot_uid = 0, cid = 0;
	int ret;

	memset(r, 0, sizeof(*r));
	ret = enclave_check_resources(o->memory_mib, o->cpu_count, o->eif_size, &r->error);
	r->error.hypervisor = o->backend->name;
	if (ret < 0)
		return ret;
	/* Before the load: a backend that measures the file later (kvm's NSM) checks it is still this one. */
	ret = file_pin_take(o->eif_fd, &image.pin);
	if (ret < 0)
		return step_failed(&run, LAUNCH_ERR_IMAGE, err_wrap(-ret, "the enclave image"));
	if (image.pin.size != o->eif_size)
		return step_failed(&run, LAUNCH_ERR_IMAGE,
				   err_set(ESTALE, "the image file changed during the launch (it is %llu bytes now, %llu "
						   "when it was opened): launch it again from an image nothing writes to",
					   (unsigned long long)image.pin.size, (unsigned long long)o->eif_size));
	slot.image = &image;
	/* Before any thread exists, so every thread inherits the mask and signals reach only the signalfd. */
	ret = evloop_block_signals();
	if (ret < 0)
		return step_failed(&run, LAUNCH_ERR_PROCESS, ret);
	run.loop = evloop_create();
	if (!run.loop)
		return step_failed(&run, LAUNCH_ERR_PROCESS, err_set(ENOMEM, "out of memory"));
	slot.loop = run.loop;
	slot.before_run = contain;
	slot.before_run_opaque = &run;
	slot.memory_size = o->memory_mib * MiB;
	slot.cpu_count = o->cpu_count;
	ret = o->backend->create_slot(&slot, &run.hv, &slot_uid, &r->error.fault);
	if (ret < 0) {
		step_failed(&run, LAUNCH_ERR_SLOT, ret);
		goto out_loop;
	}
	enclave_name(r->info.name, sizeof(r->info.name), o);
	enclave_id(r->info.id, sizeof(r->info.id), &o->slot, slot_uid);
	r->info.pid = getpid();
	r->info.cid = o->cid;
	if (o->hooks.slot_ready) {
		run.slot_ready = true;
		ret = o->hooks.slot_ready(o->hooks.opaque, &run, &r->info);
		if (ret < 0) {
			step_failed(&run, LAUNCH_ERR_PROCESS, ret);
			goto out_hv;
		}
	}
	ret = setup_enclave(&run, &cid);
	if (ret < 0)
		goto out_hv;
	clock_gettime(CLOCK_MONOTONIC, &run.t_start);
	r->info.cid = cid;
	if (o->hooks.running)
		o->hooks.running(o->hooks.opaque, &r->info);
	ret = start_vsock_services(&run, cid);
	if (ret < 0) {
		step_failed(&run, LAUNCH_ERR_RUN, ret);
		o->backend->terminate(run.hv);
		o->backend->wait_exit(run.hv, &r->exit);
		goto out_hv;
	}
	ret = run_enclave(&run);
	if (ret < 0)
		step_failed(&run, LAUNCH_ERR_RUN, ret);
	ret = 0;
out_hv:
	bridge_set_free(run.bridges);
	app_channel_free(run.app);
	heartbeat_free(run.hb);
	console_client_free(run.vsock_console);
	o->backend->destroy(run.hv);
out_loop:
	if (!ret && run.hb_failed)
		ret = step_failed(&run, LAUNCH_ERR_HEARTBEAT, err_set(EPROTO, "%s", run.hb_error));
	if (run.slot_ready && o->hooks.ended)
		o->hooks.ended(o->hooks.opaque, r, ret);
	evloop_destroy(run.loop);
	return ret;
}
