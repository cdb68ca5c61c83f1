// SPDX-License-Identifier: MIT
/*
 * A connection's host stream (stream.h): the table's endpoint calls as readv/writev on one socket, and the
 * socket's readiness back to the table.
 *
 * Bytes cross here once, between the guest's buffers and the socket, in the kernel's copy: the scatter lists the
 * table hands over point into guest memory (or, when the host fell behind, into the table's bounded buffer).
 * A peer that vanishes turns into a hang-up (what it sent is still read to the end), a peer that resets or
 * fails turns into a reset, and a connection that ends in a reset closes the socket abortively, so a TCP peer
 * sees RST as it would from a TCP stack.
 */
#include "vsock/stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/iov.h"
#include "common/util.h"
#include "vsock/vsock.h"

/* Events taken per epoll_wait: the loop comes back for the rest at once (level-triggered). */
#define STREAM_EVENT_BATCH 64

static void stream_arm(struct vsock_stream *s, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };

	if (!s->in_epoll || s->events == events)
		return;
	s->events = events;
	epoll_ctl(s->set->epfd, EPOLL_CTL_MOD, s->fd, &ev);
}

static void stream_unwatch(struct vsock_stream *s)
{
	if (s->in_epoll)
		epoll_ctl(s->set->epfd, EPOLL_CTL_DEL, s->fd, NULL);
	s->in_epoll = false;
}

/* Close abortively: a TCP peer sees RST (SO_LINGER 0); other sockets just hang up. */
static void close_reset(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

/* ---- the endpoint operations (table lock held) ---- */

static ssize_t stream_write(void *opaque, const struct iovec *iov, unsigned int n)
{
	struct vsock_stream *s = opaque;
	struct msghdr msg = { .msg_iov = (struct iovec *)iov, .msg_iovlen = n };
	ssize_t done;

	if (s->connecting)
		return 0; /* the table keeps the bytes; the connect's completion makes us writable */
	done = sendmsg(s->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (done < 0 && errno != EAGAIN && errno != EINTR)
		return -EPIPE;
	if (done < 0)
		done = 0;
	if ((size_t)done < iov_length(iov, n))
		stream_arm(s, s->events | EPOLLOUT);
	else
		stream_arm(s, s->events & ~EPOLLOUT);
	return done;
}

static ssize_t stream_read(void *opaque, const struct iovec *iov, unsigned int n)
{
	struct vsock_stream *s = opaque;
	ssize_t got;

	if (s->connecting)
		return -EAGAIN;
	got = readv(s->fd, iov, (int)n);
	if (got >= 0)
		return got;
	if (errno == EAGAIN || errno == EINTR) {
		stream_arm(s, s->events | EPOLLIN);
		return -EAGAIN;
	}
	return -errno;
}

static void stream_shutdown_write(void *opaque)
{
	struct vsock_stream *s = opaque;

	/* A socket still connecting has no direction to shut (ENOTCONN): remember it for the connect's end. */
	s->shut_wr = true;
	if (!s->connecting)
		shutdown(s->fd, SHUT_WR);
}

static void stream_shutdown_read(void *opaque)
{
	struct vsock_stream *s = opaque;

	s->shut_rd = true;
	if (s->connecting)
		return;
	/* For AF_UNIX this also makes the peer's writes fail with EPIPE: the guest will not read them. */
	shutdown(s->fd, SHUT_RD);
	stream_arm(s, s->events & ~EPOLLIN);
}

static int stream_connected(void *opaque)
{
	struct vsock_stream *s = opaque;
	uint32_t host_cid, host_port, guest_port;

	vsock_conn_addr(s->conn, &host_cid, &host_port, &guest_port);
	if (s->greet && s->greet(s->fd, host_port) < 0)
		return -EPIPE;
	stream_arm(s, s->events | EPOLLIN);
	return 0;
}

/*
 * The socket is closed by the thread that polls the set, not here: the table also ends connections on a vCPU
 * thread (the driver resetting the device), whose allow-list has neither epoll_ctl nor setsockopt, and which
 * should not wait on socket teardown anyway.  Until then the stream stays in the epoll set, ignored (no conn).
 */
static void stream_closed(void *opaque, int err)
{
	struct vsock_stream *s = opaque;

	s->conn = NULL;
	s->close_err = err;
	s->next_dead = s->set->dead;
	s->set->dead = s;
	stream_set_wake(s->set);
}

const struct vsock_endpoint_ops vsock_stream_ops = {
	.write = stream_write,
	.read = stream_read,
	.shutdown_write = stream_shutdown_write,
	.shutdown_read = stream_shutdown_read,
	.connected = stream_connected,
	.closed = stream_closed,
};

/* ---- readiness ---- */

/* The first writability (or error) of a stream whose connect() was in progress settles it. */
static void stream_connect_done(struct vsock_stream *s, uint32_t events)
{
	struct vsock_mux *m = s->set->mux;
	uint32_t host_cid, host_port, guest_port;
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (!err && (events & (EPOLLERR | EPOLLHUP)))
		err = ECONNREFUSED;
	if (err) {
		vsock_conn_addr(s->conn, &host_cid, &host_port, &guest_port);
		vsock_log("enclave port %u -> parent port %u: the host side cannot connect: %s: connection reset",
			  guest_port, host_port, strerror(err));
		vsock_mux_host_reset(m, s->conn);
		return;
	}
	s->connecting = false;
	stream_arm(s, s->events & ~EPOLLOUT);
	if (s->shut_wr)
		shutdown(s->fd, SHUT_WR);
	if (s->shut_rd)
		stream_shutdown_read(s);
	else
		stream_arm(s, s->events | EPOLLIN);
	vsock_mux_host_writable(m, s->conn);
}

static void stream_event(struct vsock_stream *s, uint32_t events)
{
	struct vsock_mux *m = s->set->mux;

	if (!s->conn)
		return;
	if (s->connecting) {
		stream_connect_done(s, events);
		return;
	}
	if (events & (EPOLLHUP | EPOLLERR)) {
		/* The peer is gone (or failed): what it sent is still read; a read error then resets. */
		stream_unwatch(s);
		vsock_mux_host_hangup(m, s->conn);
		return;
	}
	/* Disarm before telling the table: it re-arms through read/write when it finds the socket empty/full. */
	if (events & EPOLLOUT) {
		stream_arm(s, s->events & ~EPOLLOUT);
		vsock_mux_host_writable(m, s->conn);
	}
	if ((events & EPOLLIN) && s->conn) {
		stream_arm(s, s->events & ~EPOLLIN);
		vsock_mux_host_readable(m, s->conn);
	}
}

static void free_dead(struct stream_set *set)
{
	while (set->dead) {
		struct vsock_stream *s = set->dead;

		set->dead = s->next_dead;
		stream_unwatch(s);
		if (s->close_err)
			close_reset(s->fd);
		else
			close(s->fd);
		free(s);
	}
}

void stream_set_poll(struct stream_set *set)
{
	struct epoll_event evs[STREAM_EVENT_BATCH];
	uint64_t v;
	int n = epoll_wait(set->epfd, evs, STREAM_EVENT_BATCH, 0);

	for (int i = 0; i < n; i++) {
		if (evs[i].data.ptr)
			stream_event(evs[i].data.ptr, evs[i].events);
		else if (read(set->wakefd, &v, sizeof(v)) < 0) {
			/* EAGAIN: someone else drained it. */
		}
	}
	free_dead(set);
}

void stream_set_wake(struct stream_set *set)
{
	uint64_t one = 1;

	if (write(set->wakefd, &one, sizeof(one)) < 0) {
		/* EAGAIN only: the counter is already non-zero, the set polls readable anyway. */
	}
}

int stream_set_init(struct stream_set *set, struct vsock_mux *m)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

	set->mux = m;
	set->dead = NULL;
	set->wakefd = -1;
	set->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (set->epfd < 0)
		return err_set(errno, "cannot create the vsock epoll set: %s", strerror(errno));
	set->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (set->wakefd < 0 || epoll_ctl(set->epfd, EPOLL_CTL_ADD, set->wakefd, &ev) < 0)
		return err_set(errno, "cannot create the vsock wake-up eventfd: %s", strerror(errno));
	return 0;
}

void stream_set_fini(struct stream_set *set)
{
	free_dead(set);
	if (set->wakefd >= 0)
		close(set->wakefd);
	if (set->epfd >= 0)
		close(set->epfd);
	set->wakefd = set->epfd = -1;
}

struct vsock_stream *stream_new(struct stream_set *set, int fd, uint32_t events, bool connecting, int *err)
{
	struct vsock_stream *s = calloc(1, sizeof(*s));
	struct epoll_event ev = { .events = connecting ? EPOLLOUT : events };

	if (!s) {
		*err = err_set(ENOMEM, "out of memory for a vsock connection");
		return NULL;
	}
	*s = (struct vsock_stream){ .set = set, .fd = fd, .events = ev.events, .connecting = connecting };
	ev.data.ptr = s;
	if (epoll_ctl(set->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		*err = err_set(errno, "cannot watch a vsock connection: %s", strerror(errno));
		free(s);
		return NULL;
	}
	s->in_epoll = true;
	return s;
}

int stream_release(struct vsock_stream *s)
{
	int fd = s->fd;

	stream_unwatch(s);
	free(s);
	return fd;
}
