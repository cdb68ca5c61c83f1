/* SPDX-License-Identifier: MIT */
/* A fake host endpoint for the vsock connection table: records what the table does to it. */
#ifndef NITROVM_TESTS_DEVICE_VSOCK_FAKE_H
#define NITROVM_TESTS_DEVICE_VSOCK_FAKE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "vsock/conn.h"

/* What one fake endpoint records each way: more than the table's buffer, so a test can overrun it. */
#define FAKE_EP_BUF (2 * VSOCK_CONN_BUF_SIZE)

struct fake_ep {
	struct vsock_conn *conn;
	uint8_t got[FAKE_EP_BUF]; /* guest -> host */
	size_t got_len;
	size_t write_room; /* bytes write() still takes; SIZE_MAX: all */
	uint8_t give[FAKE_EP_BUF]; /* host -> guest */
	size_t give_len, give_off;
	bool give_eof;
	bool shut_wr, shut_rd, connected, closed;
	bool refuse_connected; /* connected() fails (a greeting the peer cannot take) */
	int closed_err;
	int write_err; /* write() fails with it when not 0 */
	int read_err;  /* read() fails with it when not 0 */
	unsigned int reads, writes;
	unsigned int last_write_iovcnt, last_read_iovcnt;
};

static ssize_t fake_write(void *opaque, const struct iovec *iov, unsigned int iovcnt)
{
	struct fake_ep *f = opaque;
	size_t room = f->write_room, done = 0;

	f->writes++;
	f->last_write_iovcnt = iovcnt;
	if (f->write_err)
		return -f->write_err;
	for (unsigned int i = 0; i < iovcnt && room; i++) {
		size_t n = iov[i].iov_len < room ? iov[i].iov_len : room;

		if (f->got_len + n > FAKE_EP_BUF)
			n = FAKE_EP_BUF - f->got_len;
		memcpy(f->got + f->got_len, iov[i].iov_base, n);
		f->got_len += n;
		done += n;
		room -= n;
	}
	if (f->write_room != SIZE_MAX)
		f->write_room -= done;
	return (ssize_t)done;
}

static ssize_t fake_read(void *opaque, const struct iovec *iov, unsigned int iovcnt)
{
	struct fake_ep *f = opaque;
	size_t done = 0;

	f->reads++;
	f->last_read_iovcnt = iovcnt;
	if (f->read_err)
		return -f->read_err;
	if (f->give_len == f->give_off)
		return f->give_eof ? 0 : -EAGAIN;
	for (unsigned int i = 0; i < iovcnt && f->give_off < f->give_len; i++) {
		size_t n = f->give_len - f->give_off;

		if (n > iov[i].iov_len)
			n = iov[i].iov_len;
		memcpy(iov[i].iov_base, f->give + f->give_off, n);
		f->give_off += n;
		done += n;
	}
	return (ssize_t)done;
}

static void fake_shutdown_write(void *opaque)
{
	((struct fake_ep *)opaque)->shut_wr = true;
}

static void fake_shutdown_read(void *opaque)
{
	((struct fake_ep *)opaque)->shut_rd = true;
}

static int fake_connected(void *opaque)
{
	struct fake_ep *f = opaque;

	f->connected = true;
	return f->refuse_connected ? -EPIPE : 0;
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
