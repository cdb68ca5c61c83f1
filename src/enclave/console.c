// SPDX-License-Identifier: MIT
/* The console client (console.h): plain descriptor code on struct vsock_host. */
#include "enclave/console.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/util.h"
#include "vsock/endpoint.h"
#include "vsock/vsock.h"

struct console_client {
	struct evloop *loop;
	struct vsock_host *h;
	uint32_t port;
	int fd;
	console_sink_fn *sink;
	void *opaque;
	int timer;		    /* the next connection attempt while the enclave boots, or -1 */
	bool got_bytes;		    /* once the console spoke, an end is the end */
	struct timespec give_up_at; /* no retries after this */
};

static int console_connect(struct console_client *c);

/* Copy what is readable now; false once the stream ended (or failed). */
static bool console_copy(struct console_client *c)
{
	uint8_t buf[CONSOLE_READ_CHUNK];

	for (;;) {
		ssize_t n = read(c->fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n <= 0)
			return false;
		c->got_bytes = true;
		c->sink(c->opaque, buf, (size_t)n);
	}
}

static void console_detach(struct console_client *c)
{
	if (c->fd < 0)
		return;
	evloop_del(c->loop, c->fd);
	close(c->fd);
	c->fd = -1;
}

static bool still_booting(const struct console_client *c)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return !c->got_bytes && (now.tv_sec < c->give_up_at.tv_sec ||
				 (now.tv_sec == c->give_up_at.tv_sec && now.tv_nsec < c->give_up_at.tv_nsec));
}

static void on_retry(void *opaque, int fd, uint32_t events)
{
	struct console_client *c = opaque;
	uint64_t ticks;

	(void)events;
	if (read(fd, &ticks, sizeof(ticks)) < 0) {
		/* Spurious wake-up: the timer fires again. */
		return;
	}
	evloop_del(c->loop, c->timer);
	close(c->timer);
	c->timer = -1;
	if (console_connect(c) < 0)
		err_clear(); /* the enclave is gone or never serves a console: nothing more to show */
}

/*
 * A refused stream before the first byte: natively the Nitro hypervisor may not serve the console yet while
 * the enclave boots, so try again shortly, until CONSOLE_RETRY_WINDOW_MS after attaching.
 */
static void console_retry_later(struct console_client *c)
{
	struct itimerspec its = { .it_value = { 0, CONSOLE_RETRY_INTERVAL_MS * 1000000L } };

	c->timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (c->timer < 0)
		return;
	if (timerfd_settime(c->timer, 0, &its, NULL) < 0 || evloop_add(c->loop, c->timer, EPOLLIN, on_retry, c) < 0) {
		close(c->timer);
		c->timer = -1;
	}
}

static void on_console(void *opaque, int fd, uint32_t events)
{
	struct console_client *c = opaque;
	bool alive;

	(void)fd;
	(void)events;
	alive = console_copy(c);
	if (alive)
		return;
	console_detach(c);
	if (still_booting(c))
		console_retry_later(c);
}

struct console_client *console_client_attach(struct vsock_host *h, struct evloop *loop, uint64_t cid,
					     console_sink_fn *sink, void *opaque)
{
	struct console_client *c = calloc(1, sizeof(*c));
	uint64_t port = cid + VSOCK_CONSOLE_PORT_OFFSET;

	if (!c) {
		err_set(ENOMEM, "out of memory");
		return NULL;
	}
	if (port > UINT32_MAX) {
		err_set(EINVAL, "enclave CID %llu has no console port", (unsigned long long)cid);
		free(c);
		return NULL;
	}
	c->loop = loop;
	c->sink = sink;
	c->opaque = opaque;
	c->h = h;
	c->port = (uint32_t)port;
	c->timer = -1;
	clock_gettime(CLOCK_MONOTONIC, &c->give_up_at);
	c->give_up_at.tv_sec += CONSOLE_RETRY_WINDOW_MS / 1000;
	if (console_connect(c) < 0) {
		err_wrap(EIO, "cannot attach to the console of enclave %llu (vsock CID 0 port %llu)",
			 (unsigned long long)cid, (unsigned long long)port);
		free(c);
		return NULL;
	}
	return c;
}

static int console_connect(struct console_client *c)
{
	c->fd = vsock_connect(c->h, VSOCK_CID_HYPERVISOR, c->port);
	if (c->fd < 0)
		return c->fd;
	if (evloop_add(c->loop, c->fd, EPOLLIN, on_console, c) < 0) {
		close(c->fd);
		c->fd = -1;
		return -EIO;
	}
	return 0;
}

void console_client_free(struct console_client *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		console_copy(c);
	console_detach(c);
	if (c->timer >= 0) {
		evloop_del(c->loop, c->timer);
		close(c->timer);
	}
	free(c);
}
