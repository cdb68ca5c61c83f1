// SPDX-License-Identifier: MIT
/* The parent's end of the app channel (app_channel.h), as plain descriptor code on struct vsock_host. */
#include "app_channel.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app_parse.h"
#include "common/evloop.h"
#include "common/util.h"
#include "vsock/endpoint.h"

struct app_channel {
	struct vsock_host *host;
	struct evloop *loop;
	const struct app_channel_ops *ops;
	void *opaque;
	int lfd;	   /* the listener, until the init's connection is taken */
	int fd;		   /* the init's connection */
	uint32_t watched;  /* events fd is watched for (0: not watched) */
	struct app_parser parser;
	bool up;	   /* HELLO answered, no EXIT yet */
	bool exited;
	bool eof_queued;   /* STDIN_EOF is on its way: no more input */
	bool want_room;	   /* input was refused: say when there is room */
	/* An output frame the user took only part of; the channel reads nothing more until it is taken. */
	bool paused;
	const uint8_t *pending;
	size_t pending_len;
	int pending_stream;
	size_t qlen;
	uint8_t q[APP_CHANNEL_QUEUE_MAX];
};

static void on_conn(void *opaque, int fd, uint32_t events);

static void rewatch(struct app_channel *c)
{
	uint32_t want = (c->paused ? 0 : EPOLLIN) | (c->qlen ? EPOLLOUT : 0);

	if (c->fd < 0 || want == c->watched)
		return;
	if (c->watched)
		evloop_del(c->loop, c->fd);
	c->watched = 0;
	if (want && evloop_add(c->loop, c->fd, want, on_conn, c) == 0)
		c->watched = want;
}

static void close_conn(struct app_channel *c)
{
	if (c->fd < 0)
		return;
	if (c->watched)
		evloop_del(c->loop, c->fd);
	close(c->fd);
	c->fd = -1;
	c->watched = 0;
	c->up = false;
	c->paused = false;
}

/* The channel ends without the app's exit status (the init went away, or broke the protocol). */
static void broken(struct app_channel *c, const char *why)
{
	bool said = c->exited || c->fd < 0;

	close_conn(c);
	if (!said && c->ops->broken)
		c->ops->broken(c->opaque, why);
}

/* Send what is queued, as far as the stream takes it now. */
static void flush(struct app_channel *c)
{
	size_t done = 0;

	while (done < c->qlen && c->fd >= 0) {
		ssize_t n = send(c->fd, c->q + done, c->qlen - done, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			c->qlen = 0;
			broken(c, "the app channel to the enclave's init failed while sending");
			return;
		}
		done += (size_t)n;
	}
	memmove(c->q, c->q + done, c->qlen - done);
	c->qlen -= done;
	rewatch(c);
	if (c->want_room && c->qlen <= APP_CHANNEL_QUEUE_MAX / 2 && c->up && !c->eof_queued) {
		c->want_room = false;
		if (c->ops->input_room)
			c->ops->input_room(c->opaque);
	}
}

/* Queue one frame; control frames may use the reserve that input leaves free. */
static int queue(struct app_channel *c, const uint8_t *frame, size_t len, bool control)
{
	size_t limit = APP_CHANNEL_QUEUE_MAX - (control ? 0 : APP_CHANNEL_CONTROL_RESERVE);

	if (c->fd < 0)
		return -ENOTCONN;
	if (c->qlen + len > limit)
		return -ENOBUFS;
	memcpy(c->q + c->qlen, frame, len);
	c->qlen += len;
	return 0;
}

static int queue_control(struct app_channel *c, enum app_wire_type type)
{
	uint8_t f[APP_WIRE_HEADER];

	app_wire_header(f, type, 0);
	return queue(c, f, sizeof(f), true);
}

/* Hand the pending output to the user; false when it took only part of it (the channel pauses). */
static bool deliver(struct app_channel *c)
{
	while (c->pending_len) {
		size_t n = c->ops->output(c->opaque, c->pending_stream, c->pending, c->pending_len);

		if (!n) {
			c->paused = true;
			return false;
		}
		n = MIN(n, c->pending_len);
		c->pending += n;
		c->pending_len -= n;
	}
	c->paused = false;
	return true;
}

static void on_event(struct app_channel *c, const struct app_event *ev)
{
	uint8_t welcome[APP_WIRE_HEADER + APP_WIRE_HELLO_SIZE];

	switch (ev->kind) {
	case APP_EVENT_HELLO:
		queue(c, welcome, app_wire_hello(welcome, APP_WIRE_WELCOME), true);
		c->up = true;
		if (c->ops->started)
			c->ops->started(c->opaque);
		break;
	case APP_EVENT_OUTPUT:
		c->pending = ev->data;
		c->pending_len = ev->len;
		c->pending_stream = ev->stream;
		deliver(c);
		break;
	case APP_EVENT_EXIT:
		c->up = false;
		c->exited = true;
		queue_control(c, APP_WIRE_EXIT_ACK);
		if (c->ops->exited)
			c->ops->exited(c->opaque, ev->exit_kind, ev->exit_value);
		break;
	}
}

/* Read frame by frame, never past the frame in progress, until the stream is empty or the user is full. */
static void read_frames(struct app_channel *c)
{
	uint8_t buf[APP_WIRE_MAX_PAYLOAD];

	while (c->fd >= 0 && !c->paused) {
		size_t need = MIN(app_parser_need(&c->parser), sizeof(buf)), off = 0;
		ssize_t n = read(c->fd, buf, need);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			broken(c, "the enclave's init closed the app channel before it sent the app's exit status");
			return;
		}
		while (off < (size_t)n && c->fd >= 0) {
			struct app_event ev;
			size_t used;
			int ret = app_parser_feed(&c->parser, buf + off, (size_t)n - off, &used, &ev);

			off += used;
			if (ret < 0) {
				broken(c, err_msg());
				return;
			}
			if (ret)
				on_event(c, &ev);
		}
	}
}

static void on_conn(void *opaque, int fd, uint32_t events)
{
	struct app_channel *c = opaque;

	(void)fd;
	if (events & EPOLLOUT)
		flush(c);
	if (c->fd >= 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		read_frames(c);
	flush(c);
}

static void stop_listening(struct app_channel *c)
{
	if (c->lfd < 0)
		return;
	evloop_del(c->loop, c->lfd);
	vsock_unlisten(c->host, c->lfd);
	c->lfd = -1;
}

/* The first connection is the init's; once it is taken, nobody else gets the port. */
static void on_listen(void *opaque, int fd, uint32_t events)
{
	struct app_channel *c = opaque;
	uint64_t cid;
	uint32_t port;
	int s = vsock_accept(c->host, fd, &cid, &port);

	(void)events;
	if (s < 0)
		return;
	stop_listening(c);
	c->fd = s;
	rewatch(c);
}

struct app_channel *app_channel_listen(struct vsock_host *h, struct evloop *loop, const struct app_channel_ops *ops,
				       void *opaque)
{
	struct app_channel *c = calloc(1, sizeof(*c));

	if (!c) {
		err_set(ENOMEM, "out of memory");
		return NULL;
	}
	c->host = h;
	c->loop = loop;
	c->ops = ops;
	c->opaque = opaque;
	c->fd = -1;
	app_parser_init(&c->parser);
	c->lfd = vsock_listen(h, APP_WIRE_PORT);
	if (c->lfd < 0) {
		err_wrap(-c->lfd, "cannot listen for the enclave's app channel on vsock port %d", APP_WIRE_PORT);
		free(c);
		return NULL;
	}
	if (evloop_add(loop, c->lfd, EPOLLIN, on_listen, c) < 0) {
		vsock_unlisten(h, c->lfd);
		free(c);
		return NULL;
	}
	return c;
}

bool app_channel_up(const struct app_channel *c)
{
	return c && c->up;
}

int app_channel_signal(struct app_channel *c, int signo)
{
	uint8_t f[APP_WIRE_HEADER + APP_WIRE_SIGNAL_SIZE];
	int ret;

	if (!app_channel_up(c))
		return -ENOTCONN;
	if (signo < 1 || signo > APP_WIRE_MAX_SIGNAL)
		return -EINVAL;
	ret = queue(c, f, app_wire_signal(f, (uint32_t)signo), true);
	if (!ret)
		flush(c);
	return ret;
}

size_t app_channel_input(struct app_channel *c, const uint8_t *buf, size_t len)
{
	uint8_t hdr[APP_WIRE_HEADER];
	size_t room, n;

	if (!app_channel_up(c) || c->eof_queued || !len)
		return 0;
	room = APP_CHANNEL_QUEUE_MAX - APP_CHANNEL_CONTROL_RESERVE - c->qlen;
	if (room <= APP_WIRE_HEADER) {
		c->want_room = true;
		return 0;
	}
	n = MIN(MIN(len, room - APP_WIRE_HEADER), APP_WIRE_MAX_PAYLOAD);
	app_wire_header(hdr, APP_WIRE_STDIN, (uint32_t)n);
	memcpy(c->q + c->qlen, hdr, sizeof(hdr));
	memcpy(c->q + c->qlen + sizeof(hdr), buf, n);
	c->qlen += sizeof(hdr) + n;
	if (n < len)
		c->want_room = true;
	flush(c);
	return n;
}

void app_channel_input_eof(struct app_channel *c)
{
	if (!app_channel_up(c) || c->eof_queued)
		return;
	if (queue_control(c, APP_WIRE_STDIN_EOF) == 0) {
		c->eof_queued = true;
		flush(c);
	}
}

void app_channel_resume(struct app_channel *c)
{
	if (!c || !c->paused || c->fd < 0)
		return;
	if (deliver(c))
		rewatch(c);
}

void app_channel_free(struct app_channel *c)
{
	if (!c)
		return;
	stop_listening(c);
	close_conn(c);
	free(c);
}
