/* SPDX-License-Identifier: MIT */
/*
 * The endpoint of a connection on one host stream socket (private to vsock/, used by emul.c).
 *
 * A stream is a non-blocking stream socket the connection owns: a host application's TCP or Unix socket that
 * a bridge joined to the connection, or nitrovm's end of a socketpair whose other end a user holds.  Either
 * way the table's reads and writes become readv/writev on it, between the guest's buffers and the socket, and
 * readiness comes from one epoll set for all streams (struct stream_set), which the launch's event loop watches
 * as a single descriptor.  A stream is armed for exactly what the table can use now -- EPOLLIN only after a read
 * found nothing, EPOLLOUT only while guest data waits in the table's buffer -- so a stalled guest or a stalled
 * peer never makes the loop spin.
 *
 * Everything here runs under the table lock (vsock_mux_lock).  A stream the table closes is only marked: its
 * socket leaves the epoll set, is closed and freed at the end of stream_set_poll(), after the batch of events
 * that may still name it, on the thread that polls (the table may close it on a vCPU thread: a device reset).
 */
#ifndef NITROVM_VSOCK_STREAM_H
#define NITROVM_VSOCK_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "vsock/conn.h"

/* What the peer of a connection the parent opened hears once the enclave accepted, before any byte moves. */
typedef int (*vsock_stream_greet_fn)(int fd, uint32_t parent_port);

struct stream_set;

struct vsock_stream {
	struct stream_set *set;
	struct vsock_conn *conn; /* NULL once the table closed it */
	int fd;
	uint32_t events;	     /* current epoll interest */
	bool in_epoll;
	bool connecting;	     /* connect() still in progress: nothing is sent or read until it completes */
	bool shut_wr, shut_rd;	     /* shutdowns the table asked for while connecting, done once connected */
	vsock_stream_greet_fn greet; /* or NULL */
	int close_err;		     /* why the table closed it: non-zero closes abortively */
	struct vsock_stream *next_dead;
};

struct stream_set {
	struct vsock_mux *mux;
	int epfd;
	int wakefd; /* an eventfd in the set: stream_set_wake() makes the set's descriptor poll readable */
	struct vsock_stream *dead;
};

extern const struct vsock_endpoint_ops vsock_stream_ops;

/* An empty set for the connections of table m.  0 or -errno with err_msg(). */
int stream_set_init(struct stream_set *set, struct vsock_mux *m);
/* Locked; every stream must be closed already.  Frees what is left. */
void stream_set_fini(struct stream_set *set);
/* Locked.  Service the set's ready streams: the table hears what became readable, writable or gone. */
void stream_set_poll(struct stream_set *set);
/* Make the set's descriptor poll readable (packets the table queued outside a poll wait for the guest). */
void stream_set_wake(struct stream_set *set);

/*
 * Locked.  A stream on fd (non-blocking; owned once the table has the stream, the caller's until then), watched
 * for events; connecting: connect() returned EINPROGRESS or has not been checked, and the first writability
 * settles it.  NULL with -errno in *err and err_msg().
 */
struct vsock_stream *stream_new(struct stream_set *set, int fd, uint32_t events, bool connecting, int *err);
/* Locked.  A stream the table never knew (refused before it was handed over): freed; returns its fd. */
int stream_release(struct vsock_stream *s);

#endif
