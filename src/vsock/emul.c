// SPDX-License-Identifier: MIT
/*
 * The emulated parent side (endpoint.h): struct vsock_host on the connection table.
 *
 * Each host-side connection is a socketpair.  The user gets one end; the other ("our end") is in a private
 * epoll set that the launch's event loop watches as one descriptor, so a thousand connections cost the loop a
 * single watch.  Our end is armed for exactly what the table can use now -- EPOLLIN only after it asked for
 * data and read found none, EPOLLOUT only while guest data waits in its buffer -- so a stalled guest or a
 * stalled user never makes the loop spin.
 *
 * Threads: the table lock (vsock_mux_lock) covers everything here.  Endpoint callbacks come from the table
 * with the lock held, on the event-loop thread or a vCPU thread (the device); they only do non-blocking socket
 * calls and epoll_ctl.  An endpoint the table closes is taken out of the epoll set at once but freed only by
 * vsock_emul_poll(), after the batch of events that may still name it.
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

#include "common/evloop.h"
#include "common/util.h"
#include "vsock/conn.h"

/* Events taken per epoll_wait: the loop comes back for the rest at once (level-triggered). */
#define EMUL_EVENT_BATCH 64
/* Descriptors besides the connections' that a launch needs (images, KVM, eventfds, bridges' own sockets). */
#define EMUL_FD_RESERVE 256

struct emul_ep {
	struct vsock_emul *e;
	struct vsock_conn *conn; /* NULL once the table closed it */
	int fd;			 /* our end of the socketpair */
	uint32_t events;	 /* current epoll interest */
	int notify_fd;		 /* connect_notify's eventfd (our dup), until the guest answers; else -1 */
	bool in_epoll;
	bool dead;
	struct emul_ep *next_dead;
};

struct emul_pending {
	int fd; /* the user's end */
	uint32_t guest_port;
};

struct emul_listener {
	struct vsock_emul *e;
	int efd; /* semaphore eventfd: readable while connections wait; -1 when the slot is free */
	uint32_t port;
	struct emul_pending backlog[VSOCK_EMUL_BACKLOG];
	unsigned int head, len;
};

struct vsock_emul {
	struct vsock_host host;
	struct vsock_mux *mux;
	struct evloop *loop;
	int epfd;
	struct emul_listener listeners[VSOCK_EMUL_MAX_LISTENERS];
	vsock_emul_service_fn service;
	void *service_opaque;
	struct emul_ep *dead;
};

static struct vsock_emul *to_emul(struct vsock_host *h)
{
	return (struct vsock_emul *)h;
}

/* ---- endpoints ---- */

static void ep_arm(struct emul_ep *ep, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = ep };

	if (!ep->in_epoll || ep->events == events)
		return;
	ep->events = events;
	epoll_ctl(ep->e->epfd, EPOLL_CTL_MOD, ep->fd, &ev);
}

static ssize_t ep_write(void *opaque, const uint8_t *buf, size_t len)
{
	struct emul_ep *ep = opaque;
	ssize_t n = send(ep->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);

	if (n < 0 && errno != EAGAIN && errno != EINTR)
		return -EPIPE;
	if (n < 0)
		n = 0;
	if ((size_t)n < len)
		ep_arm(ep, ep->events | EPOLLOUT);
	else
		ep_arm(ep, ep->events & ~EPOLLOUT);
	return n;
}

static ssize_t ep_read(void *opaque, uint8_t *buf, size_t len)
{
	struct emul_ep *ep = opaque;
	ssize_t n = recv(ep->fd, buf, len, MSG_DONTWAIT);

	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EINTR) {
		ep_arm(ep, ep->events | EPOLLIN);
		return -EAGAIN;
	}
	return -errno;
}

static void ep_shutdown_write(void *opaque)
{
	struct emul_ep *ep = opaque;

	shutdown(ep->fd, SHUT_WR);
}

static void ep_shutdown_read(void *opaque)
{
	struct emul_ep *ep = opaque;

	/* For AF_UNIX this also makes the user's writes fail with EPIPE: the guest will not read them. */
	shutdown(ep->fd, SHUT_RD);
	ep_arm(ep, ep->events & ~EPOLLIN);
}

/* connect_notify: tell the user the guest accepted, with the parent-side port (never 0: ephemeral ports). */
static void ep_notify(struct emul_ep *ep, bool accepted)
{
	uint32_t host_cid, host_port = 0, guest_port;
	uint64_t v;

	if (ep->notify_fd < 0)
		return;
	if (accepted && ep->conn) {
		vsock_conn_addr(ep->conn, &host_cid, &host_port, &guest_port);
		v = host_port ? host_port : 1;
		if (write(ep->notify_fd, &v, sizeof(v)) < 0) {
			/* Cannot fail: one write to a fresh counter. */
		}
	}
	close(ep->notify_fd);
	ep->notify_fd = -1;
}

static void ep_connected(void *opaque)
{
	struct emul_ep *ep = opaque;

	ep_notify(ep, true);
	ep_arm(ep, ep->events | EPOLLIN);
}

static void ep_closed(void *opaque, int err)
{
	struct emul_ep *ep = opaque;

	(void)err; /* the user sees a hang-up either way: AF_UNIX has no resets */
	ep_notify(ep, false);
	if (ep->in_epoll)
		epoll_ctl(ep->e->epfd, EPOLL_CTL_DEL, ep->fd, NULL);
	close(ep->fd);
	ep->fd = -1;
	ep->in_epoll = false;
	ep->conn = NULL;
	ep->dead = true;
	ep->next_dead = ep->e->dead;
	ep->e->dead = ep;
}

static const struct vsock_endpoint_ops emul_ep_ops = {
	.write = ep_write,
	.read = ep_read,
	.shutdown_write = ep_shutdown_write,
	.shutdown_read = ep_shutdown_read,
	.connected = ep_connected,
	.closed = ep_closed,
};

/* A socketpair with our end in the epoll set (interest events); *user_fd is the caller's end. */
static struct emul_ep *ep_new(struct vsock_emul *e, uint32_t events, int *user_fd, int *err)
{
	struct emul_ep *ep = calloc(1, sizeof(*ep));
	struct epoll_event ev = { .events = events };
	int sv[2];

	if (!ep) {
		*err = err_set(ENOMEM, "out of memory for a vsock connection");
		return NULL;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
		*err = err_set(errno, "cannot create a socketpair for a vsock connection: %s", strerror(errno));
		free(ep);
		return NULL;
	}
	ep->e = e;
	ep->fd = sv[0];
	ep->notify_fd = -1;
	ep->events = events;
	ev.data.ptr = ep;
	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, ep->fd, &ev) < 0) {
		*err = err_set(errno, "cannot watch a vsock connection: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		free(ep);
		return NULL;
	}
	ep->in_epoll = true;
	*user_fd = sv[1];
	return ep;
}

/* An endpoint the table never knew (refused before it was handed over). */
static void ep_discard(struct emul_ep *ep)
{
	ep_notify(ep, false);
	epoll_ctl(ep->e->epfd, EPOLL_CTL_DEL, ep->fd, NULL);
	close(ep->fd);
	free(ep);
}

static void free_dead(struct vsock_emul *e)
{
	while (e->dead) {
		struct emul_ep *ep = e->dead;

		e->dead = ep->next_dead;
		free(ep);
	}
}

/* ---- the event loop side ---- */

static void ep_event(struct vsock_emul *e, struct emul_ep *ep, uint32_t events)
{
	if (ep->dead || !ep->conn)
		return;
	if (events & (EPOLLHUP | EPOLLERR)) {
		/* The user closed its end: nothing will be written to it again; what it wrote is still read. */
		epoll_ctl(e->epfd, EPOLL_CTL_DEL, ep->fd, NULL);
		ep->in_epoll = false;
		vsock_mux_host_hangup(e->mux, ep->conn);
		return;
	}
	/* Disarm before telling the table: it re-arms through read/write when it finds the socket empty/full. */
	if (events & EPOLLOUT) {
		ep_arm(ep, ep->events & ~EPOLLOUT);
		vsock_mux_host_writable(e->mux, ep->conn);
	}
	if ((events & EPOLLIN) && !ep->dead && ep->conn) {
		ep_arm(ep, ep->events & ~EPOLLIN);
		vsock_mux_host_readable(e->mux, ep->conn);
	}
}

void vsock_emul_poll(struct vsock_emul *e)
{
	struct epoll_event evs[EMUL_EVENT_BATCH];
	int n;

	vsock_mux_lock(e->mux);
	n = epoll_wait(e->epfd, evs, EMUL_EVENT_BATCH, 0);
	for (int i = 0; i < n; i++)
		ep_event(e, evs[i].data.ptr, evs[i].events);
	free_dead(e);
	vsock_mux_unlock(e->mux);
	vsock_mux_kick(e->mux);
}

static void emul_ready(void *opaque, int fd, uint32_t events)
{
	(void)fd;
	(void)events;
	vsock_emul_poll(opaque);
}

int vsock_emul_fd(const struct vsock_emul *e)
{
	return e->epfd;
}

/* ---- listeners ---- */

static struct emul_listener *listener_by_fd(struct vsock_emul *e, int lfd)
{
	for (unsigned int i = 0; i < VSOCK_EMUL_MAX_LISTENERS; i++)
		if (e->listeners[i].efd >= 0 && e->listeners[i].efd == lfd)
			return &e->listeners[i];
	return NULL;
}

/* A guest REQUEST to a port we listen on (table lock held). */
static int emul_accept_conn(void *opaque, struct vsock_conn *c, uint32_t guest_port,
			    const struct vsock_endpoint_ops **ops, void **epp)
{
	struct emul_listener *l = opaque;
	struct vsock_emul *e = l->e;
	struct emul_ep *ep;
	uint64_t one = 1;
	int user_fd, err;

	if (l->len == VSOCK_EMUL_BACKLOG) {
		vsock_log("parent port %u: %d connections wait to be accepted: refused enclave port %u", l->port,
			  VSOCK_EMUL_BACKLOG, guest_port);
		return -ECONNREFUSED;
	}
	ep = ep_new(e, EPOLLIN, &user_fd, &err);
	if (!ep) {
		vsock_log("parent port %u: %s", l->port, err_msg());
		return err;
	}
	ep->conn = c;
	l->backlog[(l->head + l->len++) % VSOCK_EMUL_BACKLOG] = (struct emul_pending){ user_fd, guest_port };
	if (write(l->efd, &one, sizeof(one)) < 0) {
		/* Cannot overflow: at most VSOCK_EMUL_BACKLOG are counted. */
	}
	*ops = &emul_ep_ops;
	*epp = ep;
	return 0;
}

static int emul_listen(struct vsock_host *h, uint32_t port)
{
	struct vsock_emul *e = to_emul(h);
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

static int emul_connect_guest(struct vsock_emul *e, uint32_t port, int notify_efd)
{
	struct emul_ep *ep;
	int user_fd, err = 0;

	/* No EPOLLIN until the guest accepts: the user's early writes wait in the socket. */
	ep = ep_new(e, 0, &user_fd, &err);
	if (!ep)
		return err;
	if (notify_efd >= 0) {
		/* Our own reference: the user may close its eventfd before the guest answers. */
		ep->notify_fd = fcntl(notify_efd, F_DUPFD_CLOEXEC, 0);
		if (ep->notify_fd < 0) {
			err = err_set(errno, "cannot duplicate a connect notification: %s", strerror(errno));
			ep_discard(ep);
			close(user_fd);
			return err;
		}
	}
	vsock_mux_lock(e->mux);
	ep->conn = vsock_mux_connect(e->mux, port, &emul_ep_ops, ep, &err);
	if (!ep->conn)
		ep_discard(ep);
	vsock_mux_unlock(e->mux);
	if (err) {
		close(user_fd);
		return err;
	}
	vsock_mux_kick(e->mux);
	return user_fd;
}

static int emul_connect_notify(struct vsock_host *h, uint64_t cid, uint32_t port, int notify_efd)
{
	struct vsock_emul *e = to_emul(h);
	uint64_t guest;

	if (cid == VSOCK_CID_HYPERVISOR) {
		int fd;

		if (!e->service)
			return err_set(ECONNREFUSED, "nothing listens on vsock CID 0 port %u", port);
		fd = e->service(e->service_opaque, port);
		if (fd >= 0 && notify_efd >= 0) {
			uint64_t one = 1; /* the hypervisor's services are there at once */

			if (write(notify_efd, &one, sizeof(one)) < 0) {
				/* A fresh counter cannot overflow. */
			}
		}
		return fd;
	}
	vsock_mux_lock(e->mux);
	guest = vsock_mux_guest_cid(e->mux);
	vsock_mux_unlock(e->mux);
	if (!guest)
		return err_set(ENOTCONN, "the enclave is not running yet: cannot connect to CID %llu",
			       (unsigned long long)cid);
	if (cid != guest)
		return err_set(EHOSTUNREACH, "no enclave with CID %llu here (this one is CID %llu)",
			       (unsigned long long)cid, (unsigned long long)guest);
	return emul_connect_guest(e, port, notify_efd);
}

static int emul_connect(struct vsock_host *h, uint64_t cid, uint32_t port)
{
	return emul_connect_notify(h, cid, port, -1);
}

/* ---- life cycle ---- */

static void emul_destroy(struct vsock_host *h)
{
	struct vsock_emul *e = to_emul(h);

	if (e->loop && e->epfd >= 0)
		evloop_del(e->loop, e->epfd);
	vsock_mux_lock(e->mux);
	/* Every connection's endpoint is ours: close them all before the table outlives us. */
	vsock_mux_reset(e->mux);
	for (unsigned int i = 0; i < VSOCK_EMUL_MAX_LISTENERS; i++)
		if (e->listeners[i].efd >= 0)
			listener_close(e, &e->listeners[i]);
	free_dead(e);
	vsock_mux_unlock(e->mux);
	if (e->epfd >= 0)
		close(e->epfd);
	free(e);
}

static const struct vsock_host_ops emul_ops = {
	.name = "emulated",
	.listen = emul_listen,
	.accept = emul_accept,
	.unlisten = emul_unlisten,
	.connect = emul_connect,
	.connect_notify = emul_connect_notify,
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

struct vsock_emul *vsock_emul_create(struct vsock_mux *m, struct evloop *loop)
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
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e->epfd < 0) {
		err_set(errno, "cannot create the vsock epoll set: %s", strerror(errno));
		emul_destroy(&e->host);
		return NULL;
	}
	if (loop && evloop_add(loop, e->epfd, EPOLLIN, emul_ready, e) < 0) {
		emul_destroy(&e->host);
		return NULL;
	}
	e->loop = loop;
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
