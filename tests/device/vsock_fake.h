/* SPDX-License-Identifier: MIT */
/* A fake host endpoint for the vsock connection table: records what the table does to it. */
#ifndef NITROVM_TESTS_DEVICE_VSOCK_FAKE_H
#define NITROVM_TESTS_DEVICE_VSOCK_FAKE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "vsock/conn.h"

#define FAKE_EP_BUF (256 * 1024)

struct fake_ep {
	struct vsock_conn *conn;
	uint8_t got[FAKE_EP_BUF]; /* guest -> host */
	size_t got_len;
	size_t write_room; /* bytes write() still takes; SIZE_MAX: all */
	uint8_t give[FAKE_EP_BUF]; /* host -> guest */
	size_t give_len, give_off;
	bool give_eof;
	bool shut_wr, shut_rd, connected, closed;
	int closed_err;
	unsigned int reads;
};

static ssize_t fake_write(void *opaque, const uint8_t *buf, size_t len)
{
	struct fake_ep *f = opaque;
	size_t n = len < f->write_room ? len : f->write_room;

	if (f->got_len + n > FAKE_EP_BUF)
		n = FAKE_EP_BUF - f->got_len;
	memcpy(f->got + f->got_len, buf, n);
	f->got_len += n;
	if (f->write_room != SIZE_MAX)
		f->write_room -= n;
	return (ssize_t)n;
}

static ssize_t fake_read(void *opaque, uint8_t *buf, size_t len)
{
	struct fake_ep *f = opaque;
	size_t n = f->give_len - f->give_off;

	f->reads++;
	if (!n)
		return f->give_eof ? 0 : -EAGAIN;
	if (n > len)
		n = len;
	memcpy(buf, f->give + f->give_off, n);
	f->give_off += n;
	return (ssize_t)n;
}

static void fake_shutdown_write(void *opaque)
{
	((struct fake_ep *)opaque)->shut_wr = true;
}

static void fake_shutdown_read(void *opaque)
{
	((struct fake_ep *)opaque)->shut_rd = true;
}

static void fake_connected(void *opaque)
{
	((struct fake_ep *)opaque)->connected = true;
}

static void fake_closed(void *opaque, int err)
{
	struct fake_ep *f = opaque;

	f->closed = true;
	f->closed_err = err;
	f->conn = NULL;
}

static const struct vsock_endpoint_ops fake_ops = {
	.write = fake_write,
	.read = fake_read,
	.shutdown_write = fake_shutdown_write,
	.shutdown_read = fake_shutdown_read,
	.connected = fake_connected,
	.closed = fake_closed,
};

#endif
