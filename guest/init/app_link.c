// SPDX-License-Identifier: MIT
/* The init's end of the app channel (app_link.h). */
#include "app_link.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app_wire.h"

enum { P_CHAN, P_OUT, P_ERR, P_IN, P_CHLD, P_COUNT };

struct link {
	struct app_link_io *io;
	bool chan_ok;
	/* the frame on its way to the parent */
	uint8_t out[APP_WIRE_HEADER + APP_WIRE_MAX_PAYLOAD];
	size_t out_len, out_off;
	/* frames from the parent */
	struct app_wire_reader rd;
	uint8_t tmp[APP_WIRE_MAX_PAYLOAD];
	/* stdin not yet taken by the app */
	uint8_t *in;
	size_t in_len;
	bool in_eof;
	bool app_done, exit_sent, acked;
	int status;
	int64_t last_output_ms;
};

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };

			poll(&p, 1, 1000);
			continue;
		}
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Wait for fd to be readable within the time left; -ETIMEDOUT when it is up. */
static int wait_readable(int fd, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int64_t left = deadline - now_ms();
	int n;

	if (left <= 0)
		return -ETIMEDOUT;
	n = poll(&p, 1, (int)left);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	return n ? 0 : -ETIMEDOUT;
}

/* One byte-stream step of the handshake: 1 with WELCOME, 0 for more, -EPROTO for anything else. */
static int welcome_step(struct app_wire_reader *r, const uint8_t *b, size_t n)
{
	size_t used;
	int ret = app_wire_feed(r, b, n, &used);

	if (ret < 0 || (r->hdr_got == APP_WIRE_HEADER && r->type != APP_WIRE_WELCOME))
		return -EPROTO;
	if (ret == 1)
		return app_wire_hello_ok(r->payload, r->len) ? 1 : -EPROTO;
	return 0;
}

int app_link_handshake(int fd, int timeout_ms)
{
	uint8_t hello[APP_WIRE_HEADER + APP_WIRE_HELLO_SIZE], b[APP_WIRE_HEADER + APP_WIRE_HELLO_SIZE];
	struct app_wire_reader *r = malloc(sizeof(*r));
	int64_t deadline = now_ms() + timeout_ms;
	int ret = 0;

	if (!r)
		return -ENOMEM;
	app_wire_reader_init(r);
	if (write_all(fd, hello, app_wire_hello(hello, APP_WIRE_HELLO)) < 0)
		ret = -errno;
	while (!ret) {
		size_t want = app_wire_need(r);
		ssize_t n;

		ret = wait_readable(fd, deadline);
		if (ret)
			break;
		n = read(fd, b, want < sizeof(b) ? want : sizeof(b));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			ret = n < 0 ? -errno : -EPIPE;
		else
			ret = welcome_step(r, b, (size_t)n);
	}
	free(r);
	return ret == 1 ? 0 : ret;
}

/* ---- the channel breaks: the app's output goes to the console from now on ---- */

static void chan_broken(struct link *l)
{
	size_t hdr_left = l->out_off < APP_WIRE_HEADER ? APP_WIRE_HEADER - l->out_off : 0;

	if (!l->chan_ok)
		return;
	l->chan_ok = false;
	close_fd(&l->io->chan);
	/* The payload of the frame in flight that the parent did not get (at most a frame's worth twice). */
	if (l->out_len > l->out_off + hdr_left)
		write_all(l->io->fallback, l->out + l->out_off + hdr_left, l->out_len - l->out_off - hdr_left);
	l->out_len = l->out_off = 0;
	l->in_len = 0;
	close_fd(&l->io->app_in); /* nobody to give the app input any more */
}

/* ---- frames from the parent ---- */

static void take_stdin(struct link *l)
{
	const struct app_wire_reader *r = &l->rd;

	if (!r->len || l->in_eof) {
		chan_broken(l);
		return;
	}
	if (l->io->app_in < 0)
		return; /* the app closed its stdin: what comes for it is dropped */
	memcpy(l->in + l->in_len, r->payload, r->len);
	l->in_len += r->len;
}

static void take_frame(struct link *l)
{
	const struct app_wire_reader *r = &l->rd;
	uint32_t signo;

	switch (r->type) {
	case APP_WIRE_STDIN:
		take_stdin(l);
		return;
	case APP_WIRE_STDIN_EOF:
		if (r->len)
			break;
		l->in_eof = true;
		if (!l->in_len)
			close_fd(&l->io->app_in);
		return;
	case APP_WIRE_SIGNAL:
		if (r->len != APP_WIRE_SIGNAL_SIZE)
			break;
		signo = (uint32_t)r->payload[0] | (uint32_t)r->payload[1] << 8 | (uint32_t)r->payload[2] << 16 |
			(uint32_t)r->payload[3] << 24;
		if (signo < 1 || signo > APP_WIRE_MAX_SIGNAL)
			break;
		if (!l->app_done)
			kill(l->io->app, (int)signo);
		return;
	case APP_WIRE_EXIT_ACK:
		if (r->len || !l->exit_sent)
			break;
		l->acked = true;
		return;
	default:
		break;
	}
	chan_broken(l); /* a frame the parent may not send, or not now */
}

static void read_chan(struct link *l)
{
	size_t need = app_wire_need(&l->rd), off = 0, used;
	ssize_t n = read(l->io->chan, l->tmp, need < sizeof(l->tmp) ? need : sizeof(l->tmp));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		chan_broken(l);
		return;
	}
	while (off < (size_t)n && l->chan_ok) {
		int ret = app_wire_feed(&l->rd, l->tmp + off, (size_t)n - off, &used);

		off += used;
		if (ret < 0) {
			chan_broken(l);
			return;
		}
		if (ret) {
			take_frame(l);
			app_wire_next(&l->rd);
		}
	}
}

static void write_chan(struct link *l)
{
	ssize_t n = write(l->io->chan, l->out + l->out_off, l->out_len - l->out_off);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		chan_broken(l);
		return;
	}
	l->out_off += (size_t)n;
	if (l->out_off == l->out_len)
		l->out_len = l->out_off = 0;
}

/* ---- the app's side ---- */

static void read_app(struct link *l, int *fd, enum app_wire_type type)
{
	ssize_t n = read(*fd, l->out + APP_WIRE_HEADER, APP_WIRE_MAX_PAYLOAD);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		close_fd(fd);
		return;
	}
	l->last_output_ms = now_ms();
	if (!l->chan_ok) {
		write_all(l->io->fallback, l->out + APP_WIRE_HEADER, (size_t)n);
		return;
	}
	app_wire_header(l->out, type, (uint32_t)n);
	l->out_len = APP_WIRE_HEADER + (size_t)n;
	l->out_off = 0;
	write_chan(l);
}

static void write_app_stdin(struct link *l)
{
	ssize_t n = write(l->io->app_in, l->in, l->in_len);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		l->in_len = 0; /* the app closed its stdin */
		close_fd(&l->io->app_in);
		return;
	}
	memmove(l->in, l->in + n, l->in_len - (size_t)n);
	l->in_len -= (size_t)n;
	if (!l->in_len && l->in_eof)
		close_fd(&l->io->app_in);
}

/* PID 1 inherits every orphan: reap them all, and note when the app itself ends. */
static void reap(struct link *l)
{
	struct signalfd_siginfo si;
	int st;
	pid_t pid;

	while (read(l->io->sigchld, &si, sizeof(si)) == sizeof(si))
		;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (pid != l->io->app)
			continue;
		l->app_done = true;
		l->status = st;
		l->last_output_ms = now_ms();
		close_fd(&l->io->app_in);
	}
}

/* The app is gone and what it (and what it left behind) wrote has been passed on, or has idled out. */
static bool drained(const struct link *l)
{
	bool pipes_done = l->io->app_out < 0 && l->io->app_err < 0;

	if (!l->app_done || l->out_len)
		return false;
	return pipes_done || now_ms() - l->last_output_ms >= APP_LINK_DRAIN_IDLE_MS;
}

static int poll_once(struct link *l)
{
	struct pollfd p[P_COUNT];
	bool sending = l->out_len > 0;
	int timeout = l->app_done ? APP_LINK_DRAIN_IDLE_MS / 4 : -1;
	bool room = l->in_len + APP_WIRE_MAX_PAYLOAD <= APP_LINK_STDIN_MAX;

	p[P_CHAN] = (struct pollfd){ .fd = l->chan_ok ? l->io->chan : -1,
				     .events = (short)((room ? POLLIN : 0) | (sending ? POLLOUT : 0)) };
	p[P_OUT] = (struct pollfd){ .fd = sending ? -1 : l->io->app_out, .events = POLLIN };
	p[P_ERR] = (struct pollfd){ .fd = sending ? -1 : l->io->app_err, .events = POLLIN };
	p[P_IN] = (struct pollfd){ .fd = l->in_len ? l->io->app_in : -1, .events = POLLOUT };
	p[P_CHLD] = (struct pollfd){ .fd = l->io->sigchld, .events = POLLIN };
	if (poll(p, P_COUNT, timeout) < 0)
		return errno == EINTR ? 0 : -errno;
	if (p[P_CHLD].revents)
		reap(l);
	if (l->chan_ok && (p[P_CHAN].revents & POLLOUT))
		write_chan(l);
	if (l->chan_ok && (p[P_CHAN].revents & (POLLIN | POLLHUP | POLLERR)))
		read_chan(l);
	if (p[P_IN].revents && l->io->app_in >= 0)
		write_app_stdin(l);
	if (p[P_OUT].revents && !l->out_len)
		read_app(l, &l->io->app_out, APP_WIRE_STDOUT);
	if (p[P_ERR].revents && !l->out_len)
		read_app(l, &l->io->app_err, APP_WIRE_STDERR);
	return 0;
}

/* The exit status last, then the parent's acknowledgement, each within APP_LINK_ACK_TIMEOUT_MS. */
static void send_exit(struct link *l)
{
	int64_t deadline = now_ms() + APP_LINK_ACK_TIMEOUT_MS;
	bool sig = WIFSIGNALED(l->status);

	l->out_len = app_wire_exit(l->out, sig ? APP_EXIT_SIGNAL : APP_EXIT_CODE,
				   (uint32_t)(sig ? WTERMSIG(l->status) : WEXITSTATUS(l->status)));
	l->out_off = 0;
	l->exit_sent = true;
	while (l->chan_ok && !l->acked && now_ms() < deadline) {
		struct pollfd p = { .fd = l->io->chan, .events = (short)(POLLIN | (l->out_len ? POLLOUT : 0)) };

		if (poll(&p, 1, (int)(deadline - now_ms())) <= 0)
			continue;
		if (p.revents & POLLOUT)
			write_chan(l);
		if (l->chan_ok && (p.revents & (POLLIN | POLLHUP | POLLERR)))
			read_chan(l);
	}
}

int app_link_relay(struct app_link_io *io, int *status)
{
	struct link *l = calloc(1, sizeof(*l));
	int ret = 0;

	if (!l || !(l->in = malloc(APP_LINK_STDIN_MAX))) {
		free(l);
		return -ENOMEM;
	}
	l->io = io;
	l->chan_ok = io->chan >= 0;
	app_wire_reader_init(&l->rd);
	for (int *fd = &io->chan; fd <= &io->app_err; fd++)
		if (*fd >= 0)
			fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) | O_NONBLOCK);
	while (!ret && !drained(l))
		ret = poll_once(l);
	if (!ret) {
		send_exit(l);
		ret = l->acked ? 0 : -EPIPE;
	}
	*status = l->status;
	close_fd(&io->chan);
	close_fd(&io->app_in);
	close_fd(&io->app_out);
	close_fd(&io->app_err);
	free(l->in);
	free(l);
	return ret;
}
