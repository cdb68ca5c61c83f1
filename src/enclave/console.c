// SPDX-License-Identifier: MIT
/* The console client (console.h): plain descriptor code on struct vsock_host. */
#include "enclave/console.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/util.h"
#include "vsock/endpoint.h"
#include "vsock/vsock.h"

struct console_client {
	struct evloop *loop;
	int fd;
	int out;
};

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
		/* A closed stdout does not stop the enclave: the console is simply dropped from then on. */
		if (c->out >= 0 && write_full(c->out, buf, (size_t)n) < 0)
			c->out = -1;
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

static void on_console(void *opaque, int fd, uint32_t events)
{
	struct console_client *c = opaque;

	(void)fd;
	(void)events;
	if (!console_copy(c))
		console_detach(c);
}

struct console_client *console_client_attach(struct vsock_host *h, struct evloop *loop, uint64_t cid, int out)
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
	c->out = out;
	c->fd = vsock_connect(h, VSOCK_CID_HYPERVISOR, (uint32_t)port);
	if (c->fd < 0) {
		err_wrap(-c->fd, "cannot attach to the console of enclave %llu (vsock CID 0 port %llu)",
			 (unsigned long long)cid, (unsigned long long)port);
		free(c);
		return NULL;
	}
	if (evloop_add(loop, c->fd, EPOLLIN, on_console, c) < 0) {
		close(c->fd);
		free(c);
		return NULL;
	}
	return c;
}

void console_client_free(struct console_client *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		console_copy(c);
	console_detach(c);
	free(c);
}
