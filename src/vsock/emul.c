// SPDX-License-Identifier: MIT
/*
 * The emulated parent side (endpoint.h): struct vsock_host on the connection table.
 *
 * Every host-side connection owns one host stream (stream.c), and the table moves the connection's bytes
 * between the guest's buffers and that stream directly.  The stream is either a socket the user joined to
 * the connection (connect_join, listen_join: a bridge's TCP or Unix socket, so a byte crosses nitrovm once) or
 * our end of a socketpair whose other end the user holds (listen/accept/connect: the heartbeat, the tests).
 * The streams' epoll set is the one descriptor the machine watches for us.
 *
 * Threads: the table lock (vsock_mux_lock) covers everything here.  The table calls the streams with it held,
 * on the event-loop thread or a vCPU thread (the device); they only do non-blocking socket calls and
 * epoll_ctl.  What the user's calls queue for the guest (a REQUEST) wakes the set's descriptor, so the device
 * sends it on its next service of the set.
 */
#include "vsock/endpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/util.h"
#include "vsock/conn.h"
#include "vsock/stream.h"

/* Descriptors besides the connections' that a launch needs (images, KVM, eventfds, bridges' own sockets). */
#define EMUL_FD_RESERVE 256

struct emul_pending {
	int fd; /* the user's end */
	uint32_t guest_port;
};

struct emul_listener {
	struct vsock_emul *e;
	int efd; /* semaphore eventfd: readable while connections wait; -1 when the slot is free */
	uint32_t port;
	vsock_join_fn join; /* listen_join: each connection's host stream; NULL: socketpairs to accept() */
	void *join_opaque;
	struct emul_pending backlog[VSOCK_EMUL_BACKLOG];
	unsigned int head, len;
};

struct vsock_emul {
	struct vsock_host host;
	struct vsock_mux *mux;
	struct stream_set set;
	struct emul_listener listeners[VSOCK_EMUL_MAX_LISTENERS];
	vsock_emul_service_fn service;
	void *service_opaque;
};

static struct vsock_emul *to_emul(struct vsock_host *h)
{
	return (struct vsock_emul *)h;
}

/* A socketpair: our end becomes a stream watched for events, *user_fd is the caller's end. */
static struct vsock_stream *pair_new(struct vsock_emul *e, uint32_t events, int *user_fd, int *err)
{
	struct vsock_stream *s;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
		*err = err_set(errno, "cannot create a socketpair for a vsock connection: %s", strerror(errno));
		return NULL;
	}
	s = stream_new(&e->set, sv[0], events, false, err);
	if (!s) {
		close(sv[0]);
		close(sv[1]);
		return NULL;
	}
	*user_fd = sv[1];
	return s;
}

/* ---- the device's side ---- */

/* The table's host poll: locked. */
static void emul_host_poll(void *opaque)
{
	struct vsock_emul *e = opaque;

	stream_set_poll(&e->set);
}

void vsock_emul_poll(struct vsock_emul *e)
{
	vsock_mux_lock(e->mux);
	stream_set_poll(&e->set);
	vsock_mux_unlock(e->mux);
}

int vsock_emul_fd(const struct vsock_emul *e)
{
	return e->set.epfd;
}

/* ---- listeners ---- */

static struct emul_listener *listener_by_fd(struct vsock_emul *e, int lfd)
{
	for (unsigned int i = 0; i < VSOCK_EMUL_MAX_LISTENERS; i++)
		if (e->listeners[i].efd >= 0 && e->listeners[i].efd == lfd)
			return &e->listeners[i];
	return NULL;
}

/* A guest REQUEST to a port joined to host streams: the user's fn gives the stream (table lock held). */
static int accept_join(struct emul_listener *l, struct vsock_conn *c, uint32_t guest_port,
		       const struct vsock_endpoint_ops **ops, void **epp)
{
	struct vsock_stream *s;
	int fd = l->join(l->join_opaque, guest_port), err;

	if (fd < 0)
		return fd;
	/* Connected or not, the first writability settles it (a Unix connect completes at once). */
	s = stream_new(&l->e->set, fd, 0, true, &err);
	if (!s) {
		vsock_log("parent port %u: %s", l->port, err_msg());
		close(fd);
		return err;
	}
	s->conn = c;
	*ops = &vsock_stream_ops;
	*epp = s;
	return 0;
}

/* A guest REQUEST to a port we listen on (table lock held). */
static int emul_accept_conn(void *opaque, struct vsock_conn *c, uint32_t guest_port,
			    const struct vsock_endpoint_ops **ops, void **epp)
{
	struct emul_listener *l = opaque;
	struct vsock_stream *s;
	uint64_t one = 1;
	int user_fd, err;

	if (l->join)
		return accept_join(l, c, guest_port, ops, epp);
	if (l->len == VSOCK_EMUL_BACKLOG) {
		vsock_log("parent port %u: %d connections wait to be accepted: refused enclave port %u", l->port,
			  VSOCK_EMUL_BACKLOG, guest_port);
		return -ECONNREFUSED;
	}
	s = pair_new(l->e, EPOLLIN, &user_fd, &err);
	if (!s) {
		vsock_log("parent port %u: %s", l->port, err_msg());
		return err;
	}
	s->conn = c;
	l->backlog[(l->head + l->len++) % VSOCK_EMUL_BACKLOG] = (struct emul_pending){ user_fd, guest_port };
	if (write(l->efd, &one, sizeof(one)) < 0) {
		/* Cannot overflow: at most VSOCK_EMUL_BACKLOG are counted. */
	}
	*ops = &vsock_stream_ops;
	*epp = s;
	return 0;
}

static int listen_common(struct vsock_emul *e, uint32_t port, vsock_join_fn join, void *opaque)
{
	struct emul_listener *l = NULL;
	int ret;

	for (unsigned int i = 0; i < VSOCK_EMUL_MAX_LISTENERS && !l; i++)
		if (e->listeners[i].efd < 0)
			l = &e->listeners[i];

	if (!l)
		return err_set(ENOSPC, "too many vsock listeners (at most %d)", VSOCK_EMUL_MAX_LISTENERS);
	l->efd = eventfd(0, EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->efd < 0)
		return err_set(errno, "cannot create a vsock listener: %s", strerror(errno));
	l->port = port;
	l->head = l->len = 0;
	l->join = join;
	l->join_opaque = opaque;
	vsock_mux_lock(e->mux);
	ret = vsock_mux_listen(e->mux, VSOCK_CID_PARENT, port, emul_accept_conn, l);
	vsock_mux_unlock(e->mux);
	if (ret < 0) {
		close(l->efd);
		l->efd = -1;
		return ret;
	}
	return l->efd;
}

static int emul_listen(struct vsock_host *h, uint32_t port)
{
	return listen_common(to_emul(h), port, NULL, NULL);
}

static int emul_listen_join(struct vsock_host *h, uint32_t port, vsock_join_fn fn, void *opaque)
{
	if (!fn)
		return err_set(EINVAL, "vsock port %u: no source of host streams to join", port);
	return listen_common(to_emul(h), port, fn, opaque);
}

static int emul_accept(struct vsock_host *h, int lfd, uint64_t *peer_cid, uint32_t *peer_port)
{
	struct vsock_emul *e = to_emul(h);
	struct emul_listener *l = listener_by_fd(e, lfd);
	struct emul_pending p;
	uint64_t v;

	if (!l || lfd < 0)
		return err_set(EBADF, "descriptor %d is not a vsock listener", lfd);
	vsock_mux_lock(e->mux);
	if (!l->len || read(l->efd, &v, sizeof(v)) != sizeof(v)) {
		vsock_mux_unlock(e->mux);
		return -EAGAIN;
	}
	p = l->backlog[l->head];
	l->head = (l->head + 1) % VSOCK_EMUL_BACKLOG;
	l->len--;
	*peer_cid = vsock_mux_guest_cid(e->mux);
	*peer_port = p.guest_port;
	vsock_mux_unlock(e->mux);
	return p.fd;
}

/* Lock held. */
static void listener_close(struct vsock_emul *e, struct emul_listener *l)
{
	vsock_mux_unlisten(e->mux, VSOCK_CID_PARENT, l->port);
	/* Our ends of the waiting connections see the hang-up and end them. */
	while (l->len) {
		close(l->backlog[l->head].fd);
		l->head = (l->head + 1) % VSOCK_EMUL_BACKLOG;
		l->len--;
	}
	close(l->efd);
	l->efd = -1;
	l->join = NULL;
}

static void emul_unlisten(struct vsock_host *h, int lfd)
{
	struct vsock_emul *e = to_emul(h);
	struct emul_listener *l = listener_by_fd(e, lfd);

	if (!l || lfd < 0)
		return;
	vsock_mux_lock(e->mux);
	listener_close(e, l);
	vsock_mux_unlock(e->mux);
}

/* ---- connect ---- */

/* Whether the parent may open a connection to cid now: 0, or -errno with err_msg(). */
static int check_guest_cid(struct vsock_emul *e, uint64_t cid)
{
	uint64_t guest;

	vsock_mux_lock(e->mux);
	guest = vsock_mux_guest_cid(e->mux);
	vsock_mux_unlock(e->mux);
	if (!guest)
		return err_set(ENOTCONN, "the enclave is not running yet: cannot connect to CID %llu",
			       (unsigned long long)cid);
	if (cid != guest)
		return err_set(EHOSTUNREACH, "no enclave with CID %llu here (this one is CID %llu)",
			       (unsigned long long)cid, (unsigned long long)guest);
	return 0;
}

/* Lock held.  Open the connection carried by stream s; on failure s is freed (its fd is left open). */
static int connect_stream(struct vsock_emul *e, struct vsock_stream *s, uint32_t port)
{
	int err = 0;

	s->conn = vsock_mux_connect(e->mux, port, &vsock_stream_ops, s, &err);
	if (!s->conn) {
		stream_release(s);
		return err;
	}
	stream_set_wake(&e->set); /* the REQUEST waits for the device */
	return 0;
}

static int emul_connect_guest(struct vsock_emul *e, uint32_t port)
{
	struct vsock_stream *s;
	int user_fd, err = 0;

	vsock_mux_lock(e->mux);
	/* No EPOLLIN until the guest accepts: the user's early writes wait in the socket. */
	s = pair_new(e, 0, &user_fd, &err);
	if (s) {
		int ours = s->fd;

		err = connect_stream(e, s, port);
		if (err) {
			close(ours);
			close(user_fd);
		}
	}
	vsock_mux_unlock(e->mux);
	return err ? err : user_fd;
}

static int emul_connect(struct vsock_host *h, uint64_t cid, uint32_t port)
{
	struct vsock_emul *e = to_emul(h);
	int ret;

	if (cid == VSOCK_CID_HYPERVISOR) {
		if (!e->service)
			return err_set(ECONNREFUSED, "nothing listens on vsock CID 0 port %u", port);
		return e->service(e->service_opaque, port);
	}
	ret = check_guest_cid(e, cid);
	if (ret < 0)
		return ret;
	return emul_connect_guest(e, port);
}

static int emul_connect_join(struct vsock_host *h, uint64_t cid, uint32_t port, const struct vsock_join *j)
{
	struct vsock_emul *e = to_emul(h);
	struct vsock_stream *s;
	int ret, err = 0;

	if (cid == VSOCK_CID_HYPERVISOR)
		return err_set(ECONNREFUSED, "the hypervisor's vsock services (CID 0) cannot be joined to a stream");
	ret = check_guest_cid(e, cid);
	if (ret < 0)
		return ret;
	vsock_mux_lock(e->mux);
	/* Nothing is read from the peer until the guest accepts: what it sends early waits in its socket. */
	s = stream_new(&e->set, j->fd, 0, false, &err);
	if (s) {
		s->greet = j->accepted;
		err = connect_stream(e, s, port);
	}
	vsock_mux_unlock(e->mux);
	return err;
}

/* ---- life cycle ---- */

static void emul_destroy(struct vsock_host *h)
{
	struct vsock_emul *e = to_emul(h);

	vsock_mux_lock(e->mux);
	vsock_mux_set_host_poll(e->mux, NULL, NULL);
	/* Every connection's stream is ours: close them all before the table outlives us. */
	vsock_mux_reset(e->mux);
	for (unsigned int i = 0; i < VSOCK_EMUL_MAX_LISTENERS; i++)
		if (e->listeners[i].efd >= 0)
			listener_close(e, &e->listeners[i]);
	stream_set_fini(&e->set);
	vsock_mux_unlock(e->mux);
	free(e);
}

static const struct vsock_host_ops emul_ops = {
	.name = "emulated",
	.listen = emul_listen,
	.accept = emul_accept,
	.unlisten = emul_unlisten,
	.connect = emul_connect,
	.connect_join = emul_connect_join,
	.listen_join = emul_listen_join,
	.destroy = emul_destroy,
};

/* Two descriptors per connection at the limit, plus the rest of nitrovm's. */
static void raise_fd_limit(void)
{
	rlim_t need = 2 * VSOCK_MAX_CONNECTIONS + EMUL_FD_RESERVE;
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) < 0 || r.rlim_cur >= need)
		return;
	r.rlim_cur = MIN(need, r.rlim_max);
	setrlimit(RLIMIT_NOFILE, &r);
}

struct vsock_emul *vsock_emul_create(struct vsock_mux *m)
{
	struct vsock_emul *e = calloc(1, sizeof(*e));

	if (!e) {
		err_set(ENOMEM, "out of memory creating the vsock parent side");
		return NULL;
	}
	e->host.ops = &emul_ops;
	e->mux = m;
	for (unsigned int i = 0; i < VSOCK_EMUL_MAX_LISTENERS; i++) {
		e->listeners[i].e = e;
		e->listeners[i].efd = -1;
	}
	if (stream_set_init(&e->set, m) < 0) {
		stream_set_fini(&e->set);
		free(e);
		return NULL;
	}
	vsock_mux_lock(m);
	vsock_mux_set_host_poll(m, emul_host_poll, e);
	vsock_mux_unlock(m);
	raise_fd_limit();
	return e;
}

struct vsock_host *vsock_emul_host(struct vsock_emul *e)
{
	return &e->host;
}

void vsock_emul_set_service(struct vsock_emul *e, vsock_emul_service_fn fn, void *opaque)
{
	e->service = fn;
	e->service_opaque = opaque;
}
