// SPDX-License-Identifier: MIT
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/json_pretty.h"
#include "common/util.h"
#include "console_ring.h"
#include "ctl_client.h"
#include "ctl_proto.h"
#include "ctl_server.h"
#include "eif/describe.h"
#include "eif/eif.h"
#include "eif/signature.h"
#include "keeper.h"
#include "nsm/issuer.h"
#include "registry.h"
#include "vsock/bridge.h"

/* A console client that reads slower than the enclave prints gets this much queued, then is dropped. */
#define CONSOLE_SUB_QUEUE_MAX (1024 * 1024)
#define CONSOLE_SUBS_MAX      16
/* nitro-cli's names for the states; BOOTING is ours (nitro-cli's process answers only once booted). */
#define STATE_BOOTING	  "BOOTING"
#define STATE_RUNNING	  "RUNNING"
#define STATE_TERMINATING "TERMINATING"

struct console_sub {
	struct proc *p;
	int fd;
	uint8_t *queue; /* bytes not yet taken by the client */
	size_t queued;
	struct console_sub *next;
};

/* The measurements for describe, computed once, off the loop, when first asked for (as nitro-cli's describe
 * thread does: the launch itself never waits for them). */
struct measure_job {
	pthread_t thread;
	bool started, done;
	int efd; /* the loop learns it is done */
	int eif_fd;
	uint64_t eif_size;
	int err;
	struct eif_measurements m;
	bool has_pcr8;
	uint8_t pcr8[SHA384_LEN];
	struct json_object *metadata; /* ImageName, ImageVersion, Metadata (eif/describe.h), or NULL */
};

struct proc {
	const struct enclave_proc_opts *o;
	struct launch_opts launch;
	struct registry_dirs dirs;
	int lock_fd;
	struct launch_run *run;
	struct ctl_server *server;
	struct enclave_info info;
	const char *state;
	bool booted;
	struct console_ring ring;
	struct console_sub *subs;
	unsigned int nsubs;
	struct measure_job mj;
	char name[ENCLAVE_NAME_MAX];
	bool service_started; /* o->service.start succeeded: ended is owed */
	struct nsm_issuer_proc *issuer; /* certifies the emulated NSM's leaf; holds the CA so that we do not */
	struct keeper *keeper;		/* when we give up root: the records, sockets and Unix connects */
	struct bridge_config bridges;	/* the caller's, connecting Unix sockets through the keeper */
};

/* ---- name and CID: unique on this host ---- */

static void base_name(const struct launch_opts *l, char *out, size_t len)
{
	const char *base = l->eif_path ? l->eif_path : "enclave", *slash = strrchr(base, '/');
	size_t n;

	if (l->name) {
		snprintf(out, len, "%s", l->name);
		return;
	}
	base = slash ? slash + 1 : base;
	n = strlen(base);
	if (n > 4 && !strcmp(base + n - 4, ".eif"))
		n -= 4; /* nitro-cli: the file name with a trailing .eif trimmed */
	snprintf(out, len, "%.*s", (int)n, base);
}

static bool name_taken(char **names, unsigned int n, const char *name)
{
	for (unsigned int i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return true;
	return false;
}

/* nitro-cli's rule: the name, else name_1, name_2, ... the first one no running enclave has. */
static int pick_name(struct proc *p)
{
	char base[ENCLAVE_NAME_MAX - 16], **names;
	unsigned int n;
	int ret = ctl_all_names(&p->dirs, &names, &n);

	if (ret < 0)
		return ret;
	base_name(&p->launch, base, sizeof(base));
	snprintf(p->name, sizeof(p->name), "%s", base);
	for (unsigned int i = 1; name_taken(names, n, p->name); i++)
		snprintf(p->name, sizeof(p->name), "%s_%u", base, i);
	ctl_names_free(names, n);
	p->launch.name = p->name;
	return 0;
}

static bool cid_taken(const uint64_t *cids, unsigned int n, uint64_t cid)
{
	for (unsigned int i = 0; i < n; i++)
		if (cids[i] == cid)
			return true;
	return false;
}

/*
 * The Nitro driver hands out CIDs itself; for our own hypervisor we do, so enclaves on one host never share
 * one (their vsock devices are separate, but the AF_VSOCK bridges and people's scripts are not).
 */
static int pick_cid(struct proc *p)
{
	uint64_t cids[CTL_MAX_ENCLAVES];
	unsigned int n;

	if (p->launch.backend != &hv_kvm_ops)
		return 0;
	n = ctl_collect_u64(&p->dirs, CTL_GET_CID, cids, CTL_MAX_ENCLAVES);
	if (p->launch.cid) {
		if (cid_taken(cids, n, p->launch.cid))
			return err_set(EADDRINUSE, "enclave CID %llu is taken by another enclave on this host: choose "
						   "another, or let nitrovm choose (0)",
				       (unsigned long long)p->launch.cid);
		return 0;
	}
	for (uint64_t c = ENCLAVE_AUTO_CID_FIRST; c <= ENCLAVE_AUTO_CID_LAST; c++) {
		if (!cid_taken(cids, n, c)) {
			p->launch.cid = c;
			return 0;
		}
	}
	return err_set(EADDRINUSE, "no free enclave CID");
}

/* ---- records ---- */

static void flags_name(const struct proc *p, char *out, size_t len)
{
	snprintf(out, len, "%s", p->launch.debug_mode ? "DEBUG_MODE" : "NONE");
}

static int write_info_record(struct proc *p)
{
	struct json_object *o = json_object_new_object();
	char path[PATH_MAX], flags[16];
	struct atomic_file f;
	const char *text;
	int ret;

	flags_name(p, flags, sizeof(flags));
	json_object_object_add(o, "EnclaveName", json_object_new_string(p->info.name));
	json_object_object_add(o, "EnclaveID", json_object_new_string(p->info.id));
	json_object_object_add(o, "ProcessID", json_object_new_int64(p->info.pid));
	json_object_object_add(o, "EnclaveCID", json_object_new_int64((int64_t)p->info.cid));
	json_object_object_add(o, "Flags", json_object_new_string(flags));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	if (p->keeper) {
		ret = keeper_write_info(p->keeper, text);
		json_object_put(o);
		return ret;
	}
	ret = registry_record_path(&p->dirs, p->info.id, ".json", path, sizeof(path));
	if (!ret)
		ret = atomic_file_open(&f, path, 0600);
	if (!ret) {
		ret = atomic_file_write(&f, text, strlen(text));
		if (ret < 0)
			atomic_file_abort(&f);
		else
			ret = atomic_file_commit(&f);
	}
	json_object_put(o);
	return ret;
}

/* The log opened at the fork is named by pid; from now on it is the enclave's. */
static void adopt_log(struct proc *p)
{
	char from[PATH_MAX], to[PATH_MAX];

	if ((size_t)snprintf(from, sizeof(from), "%s/enclave-%d.log", p->dirs.run, (int)getpid()) >= sizeof(from))
		return;
	if (access(from, F_OK) == 0 && registry_record_path(&p->dirs, p->info.id, ".log", to, sizeof(to)) == 0)
		rename(from, to);
}

static void write_exit_record(struct proc *p, const struct launch_result *r, int ret)
{
	struct registry_exit x = { .status = ret < 0 ? -1 : r->exit.status, .seconds = r->exit.seconds,
				   .ended = time(NULL) };

	if (ret < 0 || r->error.cls != LAUNCH_OK) {
		snprintf(x.reason, sizeof(x.reason), "%s", r->error.cls == LAUNCH_ERR_HEARTBEAT ? "no heartbeat" : "failed");
		snprintf(x.detail, sizeof(x.detail), "%s", err_msg());
	} else {
		snprintf(x.reason, sizeof(x.reason), "%s", hv_exit_reason_name(r->exit.reason));
		snprintf(x.detail, sizeof(x.detail), "%s", r->exit.detail);
	}
	if (r->app.known) {
		/* What the enclave's user asked it to do ended this way: that is its status. */
		x.status = launch_app_status(&r->app);
		snprintf(x.detail + strlen(x.detail), sizeof(x.detail) - strlen(x.detail), "; the app %s %u",
			 r->app.kind == APP_EXIT_SIGNAL ? "was killed by signal" : "exited with status", r->app.value);
	}
	if (p->keeper)
		keeper_ended(p->keeper, &x); /* and it removes our socket, which we can no longer reach */
	else
		registry_write_exit(&p->dirs, p->info.id, &x);
}

/* ---- console: the history ring and the clients that attached ---- */

static void sub_free(struct proc *p, struct console_sub *s)
{
	for (struct console_sub **q = &p->subs; *q; q = &(*q)->next) {
		if (*q == s) {
			*q = s->next;
			break;
		}
	}
	p->nsubs--;
	if (p->run)
		evloop_del(launch_loop(p->run), s->fd);
	close(s->fd);
	free(s->queue);
	free(s);
}

/* Write what the client takes now; queue the rest (a slow client never blocks the enclave). */
static int sub_write(struct console_sub *s, const uint8_t *buf, size_t len)
{
	while (!s->queued && len) {
		ssize_t n = send(s->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return -EPIPE;
		if (n < 0)
			break;
		buf += n;
		len -= (size_t)n;
	}
	if (!len)
		return 0;
	if (s->queued + len > CONSOLE_SUB_QUEUE_MAX)
		return -ENOBUFS;
	{
		uint8_t *q = realloc(s->queue, s->queued + len);

		if (!q)
			return -ENOMEM;
		memcpy(q + s->queued, buf, len);
		s->queue = q;
		s->queued += len;
	}
	return 0;
}

static void on_sub(void *opaque, int fd, uint32_t events);

/* Watch for the client's hang-up, and for room to write while something is queued. */
static int sub_watch(struct console_sub *s)
{
	struct evloop *loop = launch_loop(s->p->run);

	evloop_del(loop, s->fd);
	return evloop_add(loop, s->fd, EPOLLIN | (s->queued ? EPOLLOUT : 0), on_sub, s);
}

static void sub_flush(struct console_sub *s)
{
	size_t done = 0;

	while (done < s->queued) {
		ssize_t n = send(s->fd, s->queue + done, s->queued - done, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	memmove(s->queue, s->queue + done, s->queued - done);
	s->queued -= done;
	if (!s->queued)
		sub_watch(s);
}

static void on_sub(void *opaque, int fd, uint32_t events)
{
	struct console_sub *s = opaque;
	struct proc *p = s->p;
	uint8_t junk[256];

	(void)fd;
	if (events & (EPOLLHUP | EPOLLERR)) {
		sub_free(p, s);
		return;
	}
	if (events & EPOLLIN) {
		ssize_t n = recv(s->fd, junk, sizeof(junk), MSG_DONTWAIT); /* the console is read-only */

		if (n == 0) {
			sub_free(p, s);
			return;
		}
	}
	if (events & EPOLLOUT)
		sub_flush(s);
}

static void console_to_subs(struct proc *p, const uint8_t *buf, size_t len)
{
	struct console_sub *s, *next;

	for (s = p->subs; s; s = next) {
		bool had = s->queued;

		next = s->next;
		if (sub_write(s, buf, len) < 0 || (!had && s->queued && sub_watch(s) < 0))
			sub_free(p, s);
	}
}

/* The history and the attached clients: a debug enclave's console, and its app's output among it. */
static void to_history(struct proc *p, const uint8_t *buf, size_t len)
{
	if (p->launch.debug_mode)
		console_ring_append(&p->ring, buf, len);
	console_to_subs(p, buf, len);
}

static void hook_console(void *opaque, const uint8_t *buf, size_t len)
{
	struct proc *p = opaque;

	to_history(p, buf, len);
	if (p->o->view.console)
		p->o->view.console(p->o->view.opaque, buf, len);
}

/* Only what the view took goes to the history: the rest comes again once the view resumes the channel. */
static size_t hook_app_output(void *opaque, int stream, const uint8_t *buf, size_t len)
{
	struct proc *p = opaque;
	const struct enclave_view *v = &p->o->view;
	size_t taken = len;

	if (v->app_output)
		taken = v->app_output(v->opaque, stream, buf, len);
	else if (v->console)
		v->console(v->opaque, buf, len);
	to_history(p, buf, MIN(taken, len));
	return taken;
}

static void hook_app_started(void *opaque)
{
	struct proc *p = opaque;

	if (p->o->view.app_started)
		p->o->view.app_started(p->o->view.opaque);
}

static void hook_app_input_room(void *opaque)
{
	struct proc *p = opaque;

	if (p->o->view.app_input_room)
		p->o->view.app_input_room(p->o->view.opaque);
}

/* ConnectConsole: the history first, then live bytes. */
static void op_console(void *opaque, int fd)
{
	struct proc *p = opaque;
	struct console_sub *s;
	const uint8_t *a, *b;
	size_t alen, blen;

	if (p->nsubs >= CONSOLE_SUBS_MAX || !(s = calloc(1, sizeof(*s)))) {
		close(fd);
		return;
	}
	s->p = p;
	s->fd = fd;
	s->next = p->subs;
	p->subs = s;
	p->nsubs++;
	console_ring_pieces(&p->ring, &a, &alen, &b, &blen);
	if (sub_write(s, a, alen) < 0 || sub_write(s, b, blen) < 0 || sub_watch(s) < 0)
		sub_free(p, s);
}

/* The enclave ended: what is queued goes out (bounded by the queue), then the clients see the end. */
static void close_subs(struct proc *p)
{
	while (p->subs) {
		struct console_sub *s = p->subs;

		fcntl(s->fd, F_SETFL, fcntl(s->fd, F_GETFL) & ~O_NONBLOCK);
		if (s->queued)
			write_full(s->fd, s->queue, s->queued);
		s->queued = 0;
		sub_free(p, s);
	}
}

/* ---- describe ---- */

static void *measure_thread(void *arg)
{
	struct measure_job *j = arg;
	void *map = mmap(NULL, j->eif_size, PROT_READ, MAP_PRIVATE, j->eif_fd, 0);
	struct eif e;
	uint64_t one = 1;

	if (map == MAP_FAILED) {
		j->err = -ENOMEM;
		goto out;
	}
	j->err = eif_parse(&e, map, j->eif_size);
	if (!j->err)
		j->err = eif_measure(&e, &j->m);
	if (!j->err && e.signature) {
		struct eif_signature_check c;

		if (eif_signature_check(e.signature->data, e.signature->size, j->m.pcr0, &c) == 0) {
			memcpy(j->pcr8, c.pcr8, sizeof(j->pcr8));
			j->has_pcr8 = true;
			eif_signature_check_free(&c);
		}
	}
	/* Metadata nitro-cli could not show is left out of the description, not an error of the enclave. */
	if (!j->err && eif_describe_metadata(&e, &j->metadata))
		j->metadata = NULL;
	munmap(map, j->eif_size);
out:
	j->done = true;
	if (write(j->efd, &one, sizeof(one)) < 0) {
		/* the loop polls done as well */
	}
	return NULL;
}

static void on_measured(void *opaque, int fd, uint32_t events)
{
	struct proc *p = opaque;
	uint64_t v;

	(void)events;
	if (read(fd, &v, sizeof(v)) < 0) {
		/* nothing to read: spurious wake-up */
	}
	pthread_join(p->mj.thread, NULL);
	p->mj.started = false;
	evloop_del(launch_loop(p->run), fd);
	ctl_server_describe_ready(p->server);
}

static int start_measuring(struct proc *p)
{
	struct measure_job *j = &p->mj;

	if (j->started || j->done)
		return 0;
	j->eif_fd = p->launch.eif_fd;
	j->eif_size = p->launch.eif_size;
	j->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (j->efd < 0)
		return -errno;
	if (evloop_add(launch_loop(p->run), j->efd, EPOLLIN, on_measured, p) < 0 ||
	    pthread_create(&j->thread, NULL, measure_thread, j)) {
		close(j->efd);
		j->efd = -1;
		return -EAGAIN;
	}
	j->started = true;
	return 0;
}

static struct json_object *hex_json(const uint8_t *b, size_t n)
{
	char hex[2 * SHA384_LEN + 1];

	hex_encode(b, n, hex);
	return json_object_new_string(hex);
}

static char *op_describe(void *opaque, bool metadata)
{
	struct proc *p = opaque;
	struct json_object *o, *ids, *m, *v;
	char flags[16], *text;

	if (!p->mj.done) {
		if (start_measuring(p) == 0)
			return NULL; /* answered when the measurements are in */
		p->mj.done = true;
		p->mj.err = -EAGAIN;
	}
	o = json_object_new_object();
	json_object_object_add(o, "EnclaveName", json_object_new_string(p->info.name));
	json_object_object_add(o, "EnclaveID", json_object_new_string(p->info.id));
	json_object_object_add(o, "ProcessID", json_object_new_int64(p->info.pid));
	json_object_object_add(o, "EnclaveCID", json_object_new_int64((int64_t)p->info.cid));
	json_object_object_add(o, "NumberOfCPUs", json_object_new_int64(p->info.ncpus));
	ids = json_object_new_array();
	for (unsigned int i = 0; i < p->info.ncpus; i++)
		json_object_array_add(ids, json_object_new_int64(p->info.cpu_ids[i]));
	json_object_object_add(o, "CPUIDs", ids);
	json_object_object_add(o, "MemoryMiB", json_object_new_int64((int64_t)p->info.memory_mib));
	json_object_object_add(o, "State", json_object_new_string(p->state));
	flags_name(p, flags, sizeof(flags));
	json_object_object_add(o, "Flags", json_object_new_string(flags));
	if (!p->mj.err) {
		m = json_object_new_object();
		json_object_object_add(m, "HashAlgorithm", json_object_new_string("Sha384 { ... }"));
		json_object_object_add(m, "PCR0", hex_json(p->mj.m.pcr0, SHA384_LEN));
		json_object_object_add(m, "PCR1", hex_json(p->mj.m.pcr1, SHA384_LEN));
		json_object_object_add(m, "PCR2", hex_json(p->mj.m.pcr2, SHA384_LEN));
		if (p->mj.has_pcr8)
			json_object_object_add(m, "PCR8", hex_json(p->mj.pcr8, SHA384_LEN));
		json_object_object_add(o, "Measurements", m);
	}
	if (metadata && p->mj.metadata) {
		json_object_object_foreach(p->mj.metadata, key, val)
		{
			v = json_object_get(val);
			json_object_object_add(o, key, v);
		}
	}
	text = json_pretty(o);
	json_object_put(o);
	return text;
}

static uint64_t op_cid(void *opaque)
{
	return ((struct proc *)opaque)->info.cid;
}

static uint64_t op_flags(void *opaque)
{
	return ((struct proc *)opaque)->launch.debug_mode ? CTL_DEBUG_FLAG : 0;
}

static const char *op_name(void *opaque)
{
	return ((struct proc *)opaque)->info.name;
}

static const char *op_id(void *opaque)
{
	return ((struct proc *)opaque)->info.id;
}

static void op_terminate(void *opaque)
{
	struct proc *p = opaque;

	p->state = STATE_TERMINATING;
	launch_terminate(p->run);
}

static const struct ctl_server_ops server_ops = {
	.describe = op_describe,
	.cid = op_cid,
	.flags = op_flags,
	.name = op_name,
	.id = op_id,
	.terminate = op_terminate,
	.console = op_console,
};

/* ---- the launch's hooks ---- */

static void hook_progress(void *opaque, const char *line)
{
	struct proc *p = opaque;

	if (p->o->view.progress)
		p->o->view.progress(p->o->view.opaque, line);
}

static void hook_allocating(void *opaque)
{
	struct proc *p = opaque;

	if (p->o->view.allocating)
		p->o->view.allocating(p->o->view.opaque);
}

static void on_report_hangup(void *opaque, int fd, uint32_t events)
{
	struct proc *p = opaque;

	(void)events;
	evloop_del(launch_loop(p->run), fd);
	/* The command that started us is gone before the enclave booted: nobody will use this enclave. */
	fprintf(stderr, "nitrovm: the command that started this enclave went away before it booted; ending it\n");
	launch_terminate(p->run);
}

static int hook_slot_ready(void *opaque, struct launch_run *run, const struct enclave_info *info)
{
	struct proc *p = opaque;
	char path[PATH_MAX];
	int ret;

	p->run = run;
	p->info = *info;
	ret = registry_socket_path(p->dirs.sockets, info->id, path, sizeof(path));
	if (ret < 0)
		goto out;
	p->server = ctl_server_start(launch_loop(run), path, &server_ops, p);
	if (!p->server) {
		ret = -EADDRINUSE;
		goto out;
	}
	/* Now, while we are still trusted: the keeper acts for this id only. */
	if (p->keeper && (ret = keeper_bind(p->keeper, info->id)) < 0)
		goto out;
	adopt_log(p);
	write_info_record(p);
	if (p->launch.debug_mode && registry_record_path(&p->dirs, info->id, ".console", path, sizeof(path)) == 0)
		console_ring_create(&p->ring, path); /* no history is no reason to fail a launch */
	if (p->o->report_fd >= 0)
		evloop_add(launch_loop(run), p->o->report_fd, EPOLLIN, on_report_hangup, p);
	if (p->o->service.start) {
		ret = p->o->service.start(p->o->service.opaque, run, info);
		p->service_started = ret == 0;
	}
	if (!ret && p->o->view.attach)
		ret = p->o->view.attach(p->o->view.opaque, run);
out:
	/* The name and CID are ours now (the socket answers for them), or the launch fails: others may go. */
	registry_unlock(p->lock_fd);
	p->lock_fd = -1;
	return ret;
}

static void hook_running(void *opaque, const struct enclave_info *info)
{
	struct proc *p = opaque;

	p->info = *info;
	write_info_record(p);
	if (p->service_started && p->o->service.running)
		p->o->service.running(p->o->service.opaque, info);
	if (p->o->view.running)
		p->o->view.running(p->o->view.opaque, info);
}

static void hook_booted(void *opaque, double seconds)
{
	struct proc *p = opaque;

	p->booted = true;
	if (!strcmp(p->state, STATE_BOOTING))
		p->state = STATE_RUNNING;
	if (p->o->view.booted)
		p->o->view.booted(p->o->view.opaque, &p->info, seconds);
	if (p->o->report_fd >= 0) {
		evloop_del(launch_loop(p->run), p->o->report_fd);
		close(p->o->report_fd);
	}
}

/* Everything is open and the guest is about to run: give up what we no longer need (privdrop.h). */
static int hook_contain(void *opaque)
{
	struct proc *p = opaque;

	return privdrop_apply(&p->o->privdrop, p->dirs.run);
}

/* ---- the run ---- */

/*
 * The emulated hypervisors' NSM has its leaf key certified by an issuer, a process of its own that holds the
 * CA (nsm/issuer.h), so that this process, which runs the vCPUs and parses what the guest sends, never holds a
 * CA key.  Forked first, while this process is single-threaded and before any slot or guest memory exists, so
 * the child inherits neither, and long before the launch loads the process's system-call allow-list, which
 * allows no new process; from then on the issuer is only a socket (issuer_proc.c).  It opens the CA while the
 * launch goes on.  Without it the enclave still runs, and its NSM answers Attestation with InternalError.
 */
static void spawn_issuer(struct proc *p)
{
	char dir[PATH_MAX];

	if (p->launch.backend != &hv_kvm_ops && p->launch.backend != &hv_nitro_sim_ops)
		return;
	if (nsm_state_dir(NULL, dir, sizeof(dir)))
		return; /* the launch says why, when the NSM looks for the CA */
	if (nsm_issuer_spawn(dir, &p->issuer)) {
		fprintf(stderr, "nitrovm: the NSM's certificate issuer could not be started: %s\n", err_msg());
		return;
	}
	p->launch.slot.kvm.nsm_issuer = p->issuer;
}

static int prepare(struct proc *p)
{
	int ret = registry_dirs(&p->dirs, true);

	if (ret < 0)
		return ret;
	if (p->dirs.fell_back && p->dirs.created && p->o->view.notice) {
		char line[PATH_MAX + 200];

		snprintf(line, sizeof(line), "nitrovm: %s is not writable for this user: enclave sockets go to %s (set $%s to "
					     "choose another place)", REGISTRY_SOCKETS_DEFAULT, p->dirs.sockets,
			 REGISTRY_SOCKETS_ENV);
		p->o->view.notice(p->o->view.opaque, line);
	}
	registry_prune_ended(&p->dirs);
	p->lock_fd = registry_lock(&p->dirs);
	if (p->lock_fd < 0)
		return p->lock_fd;
	if (p->o->privdrop.switch_user) {
		/* Still single-threaded, and no slot or guest memory yet: the keeper inherits neither. */
		ret = keeper_spawn(&p->dirs, p->launch.bridges, &p->keeper);
		if (ret < 0)
			return ret;
		if (p->launch.bridges) {
			p->bridges = *p->launch.bridges;
			p->bridges.connect_unix = keeper_connect_unix;
			p->bridges.connect_unix_opaque = p->keeper;
			p->launch.bridges = &p->bridges;
		}
	}
	ret = pick_name(p);
	if (!ret)
		ret = pick_cid(p);
	return ret;
}

static void terminated_replies(struct proc *p)
{
	struct json_object *o = json_object_new_object();
	char line[ENCLAVE_ID_MAX + 64], *json;

	json_object_object_add(o, "EnclaveName", json_object_new_string(p->info.name));
	json_object_object_add(o, "EnclaveID", json_object_new_string(p->info.id));
	json_object_object_add(o, "Terminated", json_object_new_boolean(1));
	json = json_pretty(o);
	snprintf(line, sizeof(line), "Successfully terminated enclave %s.\n", p->info.id);
	ctl_server_terminated(p->server, line, json);
	free(json);
	json_object_put(o);
}

/* The enclave has ended (the loop still exists, nothing runs on it any more): answer and clean up. */
static void hook_ended(void *opaque, const struct launch_result *r, int ret)
{
	struct proc *p = opaque;

	if (p->service_started && p->o->service.ended)
		p->o->service.ended(p->o->service.opaque, r, ret);
	p->service_started = false;
	if (!p->server)
		return;
	write_exit_record(p, r, ret);
	terminated_replies(p);
	close_subs(p);
	ctl_server_stop(p->server);
	p->server = NULL;
	if (p->mj.efd >= 0)
		evloop_del(launch_loop(p->run), p->mj.efd);
}

int enclave_proc_run(const struct enclave_proc_opts *o, struct launch_result *r)
{
	struct proc *p = calloc(1, sizeof(*p));
	int ret;

	if (!p)
		return err_set(ENOMEM, "out of memory");
	p->o = o;
	p->launch = o->launch;
	p->lock_fd = -1;
	p->state = STATE_BOOTING;
	p->mj.efd = -1;
	p->launch.hooks = (struct launch_hooks){
		.opaque = p,
		.progress = hook_progress,
		.allocating = hook_allocating,
		.slot_ready = hook_slot_ready,
		.running = hook_running,
		.booted = hook_booted,
		.console = hook_console,
		.app_output = hook_app_output,
		.app_started = hook_app_started,
		.app_input_room = hook_app_input_room,
		.ended = hook_ended,
		.contain = hook_contain,
	};
	memset(r, 0, sizeof(*r));
	spawn_issuer(p);
	ret = prepare(p);
	if (ret < 0) {
		r->error.cls = ret == -EADDRINUSE ? LAUNCH_ERR_CID_TAKEN : LAUNCH_ERR_PROCESS;
		goto out;
	}
	ret = enclave_launch(&p->launch, r);
out:
	registry_unlock(p->lock_fd);
	if (p->mj.started)
		pthread_join(p->mj.thread, NULL);
	if (p->mj.efd >= 0)
		close(p->mj.efd);
	json_object_put(p->mj.metadata);
	if (o->view.history) {
		const uint8_t *a, *b;
		size_t alen, blen;

		console_ring_pieces(&p->ring, &a, &alen, &b, &blen);
		o->view.history(o->view.opaque, a, alen, b, blen);
	}
	console_ring_close(&p->ring);
	nsm_issuer_stop(p->issuer);
	keeper_stop(p->keeper);
	free(p);
	return ret;
}

/* ---- detached enclave processes ---- */

int enclave_report_text(int fd, bool to_stdout, const char *text)
{
	size_t len;
	uint8_t *f = ctl_frame_reply_text(to_stdout ? CTL_REPLY_STDOUT : CTL_REPLY_STDERR, text, &len);
	int ret;

	if (!f)
		return -ENOMEM;
	ret = write_full(fd, f, len);
	free(f);
	return ret;
}

int enclave_report_status(int fd, int status)
{
	size_t len;
	uint8_t *f = ctl_frame_reply_status(status, &len);
	int ret;

	if (!f)
		return -ENOMEM;
	ret = write_full(fd, f, len);
	free(f);
	return ret;
}

int enclave_proc_log_to_file(char *path, size_t len)
{
	char dir[PATH_MAX];
	int fd, ret = registry_run_dir(dir, sizeof(dir));

	if (ret < 0)
		return ret;
	if ((size_t)snprintf(path, len, "%s/enclave-%d.log", dir, (int)getpid()) >= len)
		return err_set(ENAMETOOLONG, "the log path is too long");
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return err_set(errno, "cannot open the enclave process's log %s: %s", path, strerror(errno));
	dup2(fd, STDERR_FILENO);
	close(fd);
	return 0;
}

/* In the detached process: no terminal, no signals from it, stdin and stdout on /dev/null. */
static void detach_stdio(void)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		close(null);
	}
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
}

/* Print the report as it comes; the status ends it. */
static int read_report(int fd, char **out)
{
	size_t out_len = 0;

	for (;;) {
		uint8_t hdr[CTL_LEN_SIZE], *msg;
		struct ctl_reply r;
		uint64_t mlen;
		ssize_t n;
		size_t got = 0;

		while (got < sizeof(hdr)) {
			n = read(fd, hdr + got, sizeof(hdr) - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return err_set(EPIPE, "the enclave process ended before it said how the launch went");
			got += (size_t)n;
		}
		mlen = get_le64(hdr);
		if (mlen > CTL_MSG_MAX || !(msg = malloc(mlen ? mlen : 1)))
			return err_set(EMSGSIZE, "the enclave process sent a message of %llu bytes",
				       (unsigned long long)mlen);
		for (got = 0; got < mlen; got += (size_t)n) {
			n = read(fd, msg + got, mlen - got);
			if (n < 0 && errno == EINTR) {
				n = 0;
				continue;
			}
			if (n <= 0) {
				free(msg);
				return err_set(EPIPE, "the enclave process ended in the middle of a message");
			}
		}
		if (ctl_decode_reply(msg, (size_t)mlen, &r) < 0) {
			free(msg);
			return -EBADMSG;
		}
		if (r.kind == CTL_REPLY_STATUS) {
			free(msg);
			return r.status;
		}
		fwrite(r.text, 1, r.len, r.kind == CTL_REPLY_STDOUT ? stdout : stderr);
		fflush(r.kind == CTL_REPLY_STDOUT ? stdout : stderr);
		if (out && r.kind == CTL_REPLY_STDOUT) {
			char *more = realloc(*out, out_len + r.len + 1);

			if (more) {
				memcpy(more + out_len, r.text, r.len);
				out_len += r.len;
				more[out_len] = '\0';
				*out = more;
			}
		}
		free(msg);
	}
}

int enclave_proc_detach(int (*child)(void *opaque, int report_fd), void *opaque, char **out)
{
	int sv[2], ret, st;
	pid_t first;

	fflush(stdout);
	fflush(stderr);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return err_set(errno, "cannot create a socket pair: %s", strerror(errno));
	first = fork();
	if (first < 0) {
		ret = err_set(errno, "cannot fork the enclave process: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return ret;
	}
	if (first == 0) {
		pid_t second;

		close(sv[0]);
		setsid();
		second = fork();
		if (second != 0)
			_exit(second < 0 ? 1 : 0); /* the enclave process is an orphan from here on, as nitro-cli's */
		detach_stdio();
		_exit(child(opaque, sv[1]));
	}
	close(sv[1]);
	waitpid(first, &st, 0);
	if (out)
		*out = NULL;
	ret = read_report(sv[0], out);
	close(sv[0]);
	return ret;
}
