// SPDX-License-Identifier: MIT
/*
 * The splice shared by every bridge (bridge.h): bytes from each stream to the other through a bounded ring.
 *
 * The rules, per direction src -> dst:
 *   - read src only while the ring has room: a dst that does not read stops src's reads, and the sender then
 *     sees flow control (TCP window, vsock credit) instead of nitrovm buffering without bound;
 *   - write dst whenever the ring holds bytes; bytes leave the ring in the order they came in;
 *   - src's end of stream is passed on as shutdown(dst, SHUT_WR) once the ring is empty, never earlier, so a
 *     half-close (vhost-device-vsock's issue #874) arrives after the last byte and the other direction goes on;
 *   - a read error (ECONNRESET) or a write error (EPIPE: dst will read no more) ends the whole splice as a
 *     reset: the owner resets both streams, as a TCP stack answers a write to a closed socket.
 * Every descriptor is non-blocking and level-triggered: splice_events() asks only for what can make progress
 * (EPOLLIN with room, EPOLLOUT with bytes), so a stalled or finished stream never makes the loop spin.
 */
#include "vsock/bridge.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/util.h"

/*
 * Fill/drain rounds per call: a stream that always has more (a bulk transfer) yields to the other connections
 * after this many rings; its descriptors stay ready, so the loop comes straight back to it.
 */
#define SPLICE_PUMP_ROUNDS 4

int splice_init(struct splice *s, int fd0, int fd1)
{
	memset(s, 0, sizeof(*s));
	s->fd[0] = fd0;
	s->fd[1] = fd1;
	s->dir[0].buf = malloc(BRIDGE_BUF_SIZE);
	s->dir[1].buf = malloc(BRIDGE_BUF_SIZE);
	if (!s->dir[0].buf || !s->dir[1].buf) {
		splice_release(s);
		return err_set(ENOMEM, "out of memory for a bridged connection");
	}
	return 0;
}

void splice_release(struct splice *s)
{
	free(s->dir[0].buf);
	free(s->dir[1].buf);
	s->dir[0].buf = s->dir[1].buf = NULL;
}

/* Fill the ring from src.  0 while running, -1 on a read error (a reset). */
static int dir_fill(struct splice_dir *d, int src, uint64_t *count)
{
	while (!d->eof && d->len < BRIDGE_BUF_SIZE) {
		size_t tail = (d->head + d->len) % BRIDGE_BUF_SIZE;
		size_t room = MIN(BRIDGE_BUF_SIZE - d->len, BRIDGE_BUF_SIZE - tail);
		ssize_t n = recv(src, d->buf + tail, room, MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0)
			return -1;
		if (n == 0) {
			d->eof = true;
			return 0;
		}
		d->len += (size_t)n;
		*count += (uint64_t)n;
	}
	return 0;
}

/* Drain the ring into dst, then pass the end on.  0 while running, -1 on a write error. */
static int dir_drain(struct splice_dir *d, int dst)
{
	while (d->len) {
		size_t chunk = MIN(d->len, BRIDGE_BUF_SIZE - d->head);
		ssize_t n = send(dst, d->buf + d->head, chunk, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -1;
		d->head = (d->head + (size_t)n) % BRIDGE_BUF_SIZE;
		d->len -= (size_t)n;
	}
	d->head = 0; /* empty: the next read gets the whole ring in one piece */
	if (d->eof && !d->shut) {
		/* ENOTCONN: dst is already gone both ways; its own events will tell. */
		shutdown(dst, SHUT_WR);
		d->shut = true;
	}
	return 0;
}

enum splice_state splice_pump(struct splice *s)
{
	bool progress = true;

	/* Until nothing moves: a drain makes room for the next fill, a fill gives the next drain bytes. */
	for (int round = 0; progress && round < SPLICE_PUMP_ROUNDS; round++) {
		uint64_t before = s->bytes[0] + s->bytes[1];
		size_t pending = s->dir[0].len + s->dir[1].len;

		for (int i = 0; i < 2; i++) {
			if (dir_fill(&s->dir[i], s->fd[i], &s->bytes[i]) < 0 || dir_drain(&s->dir[i], s->fd[1 - i]) < 0)
				return SPLICE_RESET;
		}
		progress = s->bytes[0] + s->bytes[1] != before || s->dir[0].len + s->dir[1].len != pending;
	}
	if (s->dir[0].shut && s->dir[1].shut)
		return SPLICE_DONE;
	return SPLICE_RUNNING;
}

uint32_t splice_events(const struct splice *s, int side)
{
	const struct splice_dir *in = &s->dir[side], *out = &s->dir[1 - side];
	uint32_t ev = 0;

	if (!in->eof && in->len < BRIDGE_BUF_SIZE)
		ev |= EPOLLIN;
	if (out->len)
		ev |= EPOLLOUT;
	return ev;
}

void bridge_close_reset(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	if (fd < 0)
		return;
	/* Fails harmlessly (ENOPROTOOPT-like) on sockets without an abortive close: they simply hang up. */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}
