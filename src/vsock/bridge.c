// SPDX-License-Identifier: MIT
/*
 * The host bridges (bridge.h): listeners on both sides and the per-connection state machine, on the endpoint
 * interface only.
 *
 * Where the parent side can join a host socket to an enclave connection (the emulated hypervisor), the bridge
 * only makes the host-side socket and hands it over: the connection then owns it, and its bytes move between
 * the enclave's buffers and that socket with nothing in between.  A host connection is tracked here only
 * while its "CONNECT <port>" line is read.  Where it cannot (native AF_VSOCK, whose streams are the host's own
 * sockets), every connection is a splice of the two sockets (bridge_splice.c).
 *
 * The bridges watch their descriptors in a private epoll set that the launch's event loop sees as one
 * descriptor (the loop holds a few dozen watches; a bridge may hold two thousand descriptors), exactly like the
 * emulated parent side does.  A connection freed while handling a batch of events stays allocated until the
 * batch is over, because later events of the same batch may still name it.
 */
#include "vsock/bridge_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "common/evloop.h"
#include "common/util.h"
#include "vsock/endpoint.h"
#include "vsock/vsock.h"

/* Events taken per epoll_wait; the loop comes back for the rest (level-triggered). */
#define BRIDGE_EVENT_BATCH 64
/* Connections accepted per listener event, so one busy listener does not starve the connections. */
#define BRIDGE_ACCEPT_BATCH 16

static void conn_event(struct bridge_watch *w, uint32_t events);
static void conn_end(struct bridge_conn *bc, bool reset);
static int conn_connect_enclave(struct bridge_conn *bc, uint32_t port);

int bridge_watch_set(struct bridge_set *s, struct bridge_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	if (w->fd < 0)
		return 0;
	/* Not watched at all when nothing is wanted: EPOLLHUP cannot be masked and would spin. */
	if (!events) {
		if (w->added)
			epoll_ctl(s->epfd, EPOLL_CTL_DEL, w->fd, NULL);
		w->added = false;
		w->events = 0;
		return 0;
	}
	if (w->added && w->events == events)
		return 0;
	if (epoll_ctl(s->epfd, w->added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, w->fd, &ev) < 0)
		return err_set(errno, "cannot watch a bridged connection: %s", strerror(errno));
	w->added = true;
	w->events = events;
	return 0;
}

static void watch_close(struct bridge_set *s, struct bridge_watch *w, bool reset)
{
	if (w->fd < 0)
		return;
	bridge_watch_set(s, w, 0);
	if (reset)
		bridge_close_reset(w->fd);
	else
		close(w->fd);
	w->fd = -1;
}

/* ---- connections ---- */

static struct bridge_conn *conn_new(struct bridge_set *s, const char *what)
{
	struct bridge_conn *bc;

	if (s->nconns >= BRIDGE_MAX_CONNS) {
		if (!s->limit_logged)
			vsock_log("bridge: %u connections are open: closing new ones until some end", BRIDGE_MAX_CONNS);
		s->limit_logged = true;
		return NULL;
	}
	bc = calloc(1, sizeof(*bc));
	if (!bc) {
		vsock_log("bridge: out of memory for a connection (%s)", what);
		return NULL;
	}
	bc->s = s;
	for (int i = SIDE_HOST; i <= SIDE_VSOCK; i++)
		bc->w[i] = (struct bridge_watch){ .fd = -1, .fn = conn_event, .owner = bc };
	snprintf(bc->what, sizeof(bc->what), "%s", what);
	bc->next = s->conns;
	if (s->conns)
		s->conns->prev = bc;
	s->conns = bc;
	s->nconns++;
	return bc;
}

/* Close both streams (in order, or resetting them) and queue the connection for freeing after this batch. */
static void conn_end(struct bridge_conn *bc, bool reset)
{
	struct bridge_set *s = bc->s;

	if (bc->dead)
		return;
	for (int i = SIDE_HOST; i <= SIDE_VSOCK; i++)
		watch_close(s, &bc->w[i], reset);
	splice_release(&bc->sp);
	if (bc->prev)
		bc->prev->next = bc->next;
	else
		s->conns = bc->next;
	if (bc->next)
		bc->next->prev = bc->prev;
	s->nconns--;
	if (s->nconns < BRIDGE_MAX_CONNS)
		s->limit_logged = false;
	bc->dead = true;
	bc->next = s->dead;
	s->dead = bc;
}

static void conn_fail(struct bridge_conn *bc, const char *why)
{
	vsock_log("bridge %s: %s", bc->what, why);
	conn_end(bc, true);
}

static void conn_rearm(struct bridge_conn *bc)
{
	for (int i = SIDE_HOST; i <= SIDE_VSOCK; i++)
		if (bridge_watch_set(bc->s, &bc->w[i], splice_events(&bc->sp, i)) < 0) {
			conn_fail(bc, err_msg());
			return;
		}
}

static void conn_pump(struct bridge_conn *bc)
{
	switch (splice_pump(&bc->sp)) {
	case SPLICE_RUNNING:
		conn_rearm(bc);
		break;
	case SPLICE_DONE:
		conn_end(bc, false);
		break;
	case SPLICE_RESET:
		conn_end(bc, true);
		break;
	}
}

/* Firecracker's answer to "CONNECT <port>" once the enclave accepted: "OK <parent port>\n". */
static int reply_ok(int fd, uint32_t parent_port)
{
	char ok[32];
	int n = snprintf(ok, sizeof(ok), "OK %u\n", parent_port);

	/* A fresh stream's buffer takes a dozen bytes at once; if not, the client is already gone. */
	return send(fd, ok, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) == n ? 0 : -EPIPE;
}

/* Both sides connected: answer the Unix client if it asked, then move bytes. */
static void conn_established(struct bridge_conn *bc, uint32_t parent_port)
{
	if (bc->reply_ok && reply_ok(bc->w[SIDE_HOST].fd, parent_port) < 0) {
		conn_end(bc, true);
		return;
	}
	if (splice_init(&bc->sp, bc->w[SIDE_HOST].fd, bc->w[SIDE_VSOCK].fd) < 0) {
		conn_fail(bc, err_msg());
		return;
	}
	bc->state = BC_SPLICING;
	conn_pump(bc);
}

/* The parent-side port of an AF_VSOCK stream (what Firecracker's "OK" reports), 0 when unknown. */
static uint32_t vsock_local_port(int fd)
{
	struct sockaddr_vm a = { 0 };
	socklen_t len = sizeof(a);

	if (getsockname(fd, (struct sockaddr *)&a, &len) < 0 || a.svm_family != AF_VSOCK)
		return 0;
	return a.svm_port;
}

/* CONNECTING: an event on the side being connected: its connect() completed or failed. */
static void conn_connecting_event(struct bridge_conn *bc, int side, uint32_t events)
{
	int fd = bc->w[bc->out].fd, err = 0;
	socklen_t len = sizeof(err);

	if (side != bc->out)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (!err && (events & (EPOLLERR | EPOLLHUP)))
		err = ECONNREFUSED;
	if (err) {
		char why[96];

		snprintf(why, sizeof(why), "cannot connect: %s", strerror(err));
		conn_fail(bc, why);
		return;
	}
	bridge_watch_set(bc->s, &bc->w[bc->out], 0);
	conn_established(bc, bc->out == SIDE_VSOCK ? vsock_local_port(fd) : 0);
}

static void conn_event(struct bridge_watch *w, uint32_t events)
{
	struct bridge_conn *bc = w->owner;
	int side = (int)(w - bc->w);
	int port;

	if (bc->dead || w->fd < 0)
		return;
	switch (bc->state) {
	case BC_HANDSHAKE:
		port = bridge_uds_read_connect(bc);
		if (port == -EAGAIN)
			return;
		if (port < 0) {
			conn_end(bc, true);
			return;
		}
		/* The client's next bytes are the stream's: they wait, unread, until the enclave accepted. */
		bridge_watch_set(bc->s, &bc->w[SIDE_HOST], 0);
		if (conn_connect_enclave(bc, (uint32_t)port) < 0)
			conn_fail(bc, err_msg());
		return;
	case BC_CONNECTING:
		conn_connecting_event(bc, side, events);
		return;
	case BC_SPLICING:
		conn_pump(bc);
		return;
	}
}

/*
 * Hand the host side to the enclave connection itself: 1 when it was taken (the connection owns the socket and
 * bc is done), 0 when the parent side cannot join streams, -errno on failure.
 */
static int conn_join_enclave(struct bridge_conn *bc, uint32_t port)
{
	struct bridge_set *s = bc->s;
	struct vsock_join j = { .fd = bc->w[SIDE_HOST].fd, .accepted = bc->reply_ok ? reply_ok : NULL };
	int ret;

	if (!s->h->ops->connect_join)
		return 0;
	/* Out of our set first: the socket's readiness is the connection's business from now on. */
	bridge_watch_set(s, &bc->w[SIDE_HOST], 0);
	ret = vsock_connect_join(s->h, s->cid, port, &j);
	if (ret < 0)
		return err_wrap(-ret, "cannot connect to enclave port %u", port);
	bc->w[SIDE_HOST].fd = -1;
	conn_end(bc, false);
	return 1;
}

/* Start the connection into the enclave's port (the host side is already accepted). */
static int conn_connect_enclave(struct bridge_conn *bc, uint32_t port)
{
	struct bridge_set *s = bc->s;
	struct vsock_host *h = s->h;
	int fd = conn_join_enclave(bc, port);

	if (fd != 0)
		return fd < 0 ? fd : 0;
	/* A stream of the host's own (AF_VSOCK): EPOLLOUT, then SO_ERROR 0, says the enclave accepted. */
	bc->state = BC_CONNECTING;
	bc->out = SIDE_VSOCK;
	fd = vsock_connect(h, s->cid, port);
	if (fd < 0)
		return err_wrap(-fd, "cannot connect to enclave port %u", port);
	bc->w[SIDE_VSOCK].fd = fd;
	return bridge_watch_set(s, &bc->w[SIDE_VSOCK], EPOLLOUT);
}

int bridge_host_socket(struct bridge_set *s, const struct bridge_addr *a)
{
	int fd, e;

	if (a->kind == BRIDGE_ADDR_UNIX && s->connect_unix)
		return s->connect_unix(s->connect_unix_opaque, ((const struct sockaddr_un *)&a->sa)->sun_path);
	fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* AF_UNIX completes (or fails, EAGAIN meaning a full backlog) at once; TCP and AF_VSOCK go on. */
	if (connect(fd, (const struct sockaddr *)&a->sa, a->salen) < 0 && errno != EINPROGRESS) {
		e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* Start the connection to the host address (the enclave side is already accepted). */
static int conn_connect_host(struct bridge_conn *bc, const struct bridge_addr *a)
{
	int fd = bridge_host_socket(bc->s, a);

	bc->state = BC_CONNECTING;
	bc->out = SIDE_HOST;
	if (fd < 0)
		return err_set(-fd, "cannot connect to %s: %s", a->text, strerror(-fd));
	bc->w[SIDE_HOST].fd = fd;
	return bridge_watch_set(bc->s, &bc->w[SIDE_HOST], EPOLLOUT);
}

/* ---- listeners ---- */

static void on_host_listener(struct bridge_watch *w, uint32_t events)
{
	struct bridge_listener *l = w->owner;
	struct bridge_set *s = l->s;

	(void)events;
	for (int i = 0; i < BRIDGE_ACCEPT_BATCH; i++) {
		int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct bridge_conn *bc;
		char what[192];

		if (fd < 0)
			return; /* EAGAIN, or a client that left before we took it */
		if (l->handshake)
			snprintf(what, sizeof(what), "%s (CONNECT)", l->target.text);
		else
			snprintf(what, sizeof(what), "%s -> enclave port %u", l->target.text, l->vsock_port);
		bc = conn_new(s, what);
		if (!bc) {
			bridge_close_reset(fd);
			continue;
		}
		bc->w[SIDE_HOST].fd = fd;
		if (l->handshake) {
			bc->state = BC_HANDSHAKE;
			bc->reply_ok = true;
			if (bridge_watch_set(s, &bc->w[SIDE_HOST], EPOLLIN) < 0)
				conn_fail(bc, err_msg());
			continue;
		}
		if (conn_connect_enclave(bc, l->vsock_port) < 0)
			conn_fail(bc, err_msg());
	}
}

static void on_vsock_listener(struct bridge_watch *w, uint32_t events)
{
	struct bridge_listener *l = w->owner;
	struct bridge_set *s = l->s;

	(void)events;
	for (int i = 0; i < BRIDGE_ACCEPT_BATCH; i++) {
		uint64_t cid;
		uint32_t port;
		int fd = vsock_accept(s->h, w->fd, &cid, &port);
		struct bridge_conn *bc;
		char what[192];

		if (fd < 0)
			return;
		snprintf(what, sizeof(what), "enclave port %u -> parent port %u -> %s", port, l->vsock_port,
			 l->target.text);
		bc = conn_new(s, what);
		if (!bc) {
			close(fd);
			continue;
		}
		bc->w[SIDE_VSOCK].fd = fd;
		if (conn_connect_host(bc, &l->target) < 0)
			conn_fail(bc, err_msg());
	}
}

static struct bridge_listener *listener_slot(struct bridge_set *s)
{
	for (unsigned int i = 0; i < BRIDGE_MAX_LISTENERS; i++)
		if (!s->listeners[i].used) {
			struct bridge_listener *l = &s->listeners[i];

			memset(l, 0, sizeof(*l));
			l->s = s;
			l->used = true;
			l->w.fd = -1;
			l->w.owner = l;
			return l;
		}
	err_set(ENOSPC, "too many bridge listeners (at most %d)", BRIDGE_MAX_LISTENERS);
	return NULL;
}

struct bridge_listener *bridge_listen_host(struct bridge_set *s, const struct bridge_addr *a, uint32_t vsock_port,
					   bool handshake)
{
	struct bridge_listener *l = listener_slot(s);
	int one = 1, fd;

	if (!l)
		return NULL;
	l->dir = BRIDGE_TO_ENCLAVE;
	l->handshake = handshake;
	l->vsock_port = vsock_port;
	l->target = *a;
	l->w.fn = on_host_listener;
	fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err_set(errno, "cannot create a socket for %s: %s", a->text, strerror(errno));
		goto fail;
	}
	if (a->kind == BRIDGE_ADDR_TCP)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&a->sa, a->salen) < 0 || listen(fd, BRIDGE_LISTEN_BACKLOG) < 0) {
		err_set(errno, "cannot listen on %s: %s", a->text, strerror(errno));
		close(fd);
		goto fail;
	}
	l->w.fd = fd;
	/* Taken into the set by bridge_set_start(), once the enclave's CID is known. */
	return l;
fail:
	l->used = false;
	return NULL;
}

/*
 * An enclave connection to the listener's port, where the parent side joins host streams: its host-side
 * socket, connecting (vsock side's lock held: non-blocking calls only).  The stream or -errno (then RST).
 */
static int join_host(void *opaque, uint32_t peer_port)
{
	struct bridge_listener *l = opaque;
	const struct bridge_addr *a = &l->target;
	int fd = bridge_host_socket(l->s, a);

	if (fd < 0)
		vsock_log("bridge enclave port %u -> parent port %u -> %s: cannot connect: %s", peer_port,
			  l->vsock_port, a->text, strerror(-fd));
	return fd;
}

struct bridge_listener *bridge_listen_vsock(struct bridge_set *s, uint32_t port, const struct bridge_addr *target)
{
	struct bridge_listener *l = listener_slot(s);
	int fd;

	if (!l)
		return NULL;
	l->dir = BRIDGE_FROM_ENCLAVE;
	l->vsock_port = port;
	l->target = *target;
	l->w.fn = on_vsock_listener;
	if (s->h->ops->listen_join)
		fd = vsock_listen_join(s->h, port, join_host, l);
	else
		fd = vsock_listen(s->h, port);
	if (fd < 0) {
		err_wrap(-fd, "cannot listen on parent vsock port %u for %s", port, target->text);
		l->used = false;
		return NULL;
	}
	l->w.fd = fd;
	/* A joining listener has nothing to accept: its connections never pass through the bridge. */
	if (!s->h->ops->listen_join && bridge_watch_set(s, &l->w, EPOLLIN) < 0) {
		vsock_unlisten(s->h, fd);
		l->used = false;
		return NULL;
	}
	return l;
}

void bridge_unlisten(struct bridge_listener *l)
{
	if (!l->used)
		return;
	bridge_watch_set(l->s, &l->w, 0);
	if (l->dir == BRIDGE_FROM_ENCLAVE)
		vsock_unlisten(l->s->h, l->w.fd);
	else
		close(l->w.fd);
	if (l->dir == BRIDGE_TO_ENCLAVE && l->target.kind == BRIDGE_ADDR_UNIX)
		unlink(((struct sockaddr_un *)&l->target.sa)->sun_path);
	l->w.fd = -1;
	l->used = false;
}

/* ---- the set ---- */

static void set_ready(void *opaque, int fd, uint32_t events)
{
	struct bridge_set *s = opaque;
	struct epoll_event evs[BRIDGE_EVENT_BATCH];
	int n;

	(void)events;
	n = epoll_wait(fd, evs, BRIDGE_EVENT_BATCH, 0);
	for (int i = 0; i < n; i++) {
		struct bridge_watch *w = evs[i].data.ptr;

		if (w->fd >= 0 && w->fn)
			w->fn(w, evs[i].events);
	}
	while (s->dead) {
		struct bridge_conn *bc = s->dead;

		s->dead = bc->next;
		free(bc);
	}
}

struct bridge_set *bridge_set_create(struct vsock_host *h, struct evloop *loop, const struct bridge_config *c)
{
	struct bridge_set *s = calloc(1, sizeof(*s));

	if (!s) {
		err_set(ENOMEM, "out of memory");
		return NULL;
	}
	s->h = h;
	s->loop = loop;
	s->connect_unix = c->connect_unix;
	s->connect_unix_opaque = c->connect_unix_opaque;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0) {
		err_set(errno, "cannot create the bridges' epoll set: %s", strerror(errno));
		free(s);
		return NULL;
	}
	if (evloop_add(loop, s->epfd, EPOLLIN, set_ready, s) < 0) {
		close(s->epfd);
		free(s);
		return NULL;
	}
	for (unsigned int i = 0; i < c->nrules; i++) {
		const struct bridge_rule *r = &c->rules[i];
		struct bridge_listener *l;

		if (r->dir == BRIDGE_TO_ENCLAVE)
			l = bridge_listen_host(s, &r->host, r->vsock_port, false);
		else
			l = bridge_listen_vsock(s, r->vsock_port, &r->host);
		if (!l)
			goto fail;
	}
	if (c->uds_path && bridge_uds_create(s, c->uds_path) < 0)
		goto fail;
	return s;
fail:
	bridge_set_free(s);
	return NULL;
}

int bridge_set_start(struct bridge_set *s, uint64_t cid)
{
	s->cid = cid;
	s->started = true;
	for (unsigned int i = 0; i < BRIDGE_MAX_LISTENERS; i++) {
		struct bridge_listener *l = &s->listeners[i];

		if (l->used && l->dir == BRIDGE_TO_ENCLAVE && bridge_watch_set(s, &l->w, EPOLLIN) < 0)
			return -EIO;
	}
	return 0;
}

void bridge_set_free(struct bridge_set *s)
{
	if (!s)
		return;
	while (s->conns)
		conn_end(s->conns, true);
	while (s->dead) {
		struct bridge_conn *bc = s->dead;

		s->dead = bc->next;
		free(bc);
	}
	bridge_uds_free(s);
	for (unsigned int i = 0; i < BRIDGE_MAX_LISTENERS; i++)
		bridge_unlisten(&s->listeners[i]);
	evloop_del(s->loop, s->epfd);
	close(s->epfd);
	free(s);
}
