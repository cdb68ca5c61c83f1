// SPDX-License-Identifier: MIT
/*
 * The vsock connection table on its own: packets in as the device would hand them over, packets out as it would
 * take them, and fake host endpoints.  Malformed headers, RST rules, credit in both directions, half-close both
 * ways, and the connection limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <cmocka.h>

#include "vsock_fake.h"

#define GUEST_CID 21
#define PORT	  5000

static unsigned log_lines;
static char last_log[512];

static void capture_log(const char *line)
{
	log_lines++;
	snprintf(last_log, sizeof(last_log), "%s", line);
	if (getenv("NITROVM_TEST_VERBOSE"))
		fprintf(stderr, "log: %s\n", line);
}

struct fixture {
	struct vsock_mux *m;
	struct fake_ep *eps[VSOCK_MAX_CONNECTIONS + 8];
	unsigned int neps;
	bool refuse;
	uint8_t payload[VSOCK_MAX_PKT_PAYLOAD];
};

static int accept_fake(void *opaque, struct vsock_conn *c, uint32_t guest_port, const struct vsock_endpoint_ops **ops,
		       void **ep)
{
	struct fixture *f = opaque;
	struct fake_ep *e;

	(void)guest_port;
	if (f->refuse || f->neps == sizeof(f->eps) / sizeof(f->eps[0]))
		return -ECONNREFUSED;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->conn = c;
	e->write_room = SIZE_MAX;
	f->eps[f->neps++] = e;
	*ops = &fake_ops;
	*ep = e;
	return 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	vsock_set_log(capture_log);
	log_lines = 0;
	f->m = vsock_mux_create();
	vsock_mux_set_guest_cid(f->m, GUEST_CID);
	assert_int_equal(vsock_mux_listen(f->m, VSOCK_CID_PARENT, PORT, accept_fake, f), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vsock_mux_destroy(f->m);
	for (unsigned int i = 0; i < f->neps; i++)
		free(f->eps[i]);
	free(f);
	return 0;
}

/* A packet from the guest with the fields that matter; everything else valid. */
static struct vsock_hdr pkt(uint16_t op, uint32_t src_port, uint64_t dst_cid, uint32_t dst_port)
{
	return (struct vsock_hdr){ .src_cid = GUEST_CID, .dst_cid = dst_cid, .src_port = src_port,
				   .dst_port = dst_port, .type = VSOCK_TYPE_STREAM, .op = op,
				   .buf_alloc = 256 * 1024 };
}

/* A packet from the guest, its payload (h.len bytes of data) in one piece. */
static void send_pkt(struct fixture *f, struct vsock_hdr h, const void *data)
{
	struct iovec iov = { (void *)data, h.len };

	vsock_mux_guest_packet(f->m, &h, &iov, h.len ? 1 : 0);
}

/* The next packet for the guest, at most max payload bytes, or 0 when there is none. */
static int next_into(struct fixture *f, struct vsock_hdr *h, uint32_t max)
{
	struct iovec room = { f->payload, max };

	return vsock_mux_guest_next(f->m, h, &room, 1);
}

/* The next packet for the guest (payload in f->payload); fails when there is none. */
static struct vsock_hdr next(struct fixture *f, uint32_t max)
{
	struct vsock_hdr h;

	assert_int_equal(next_into(f, &h, max), 1);
	assert_int_equal(h.dst_cid, GUEST_CID);
	return h;
}

static void assert_nothing(struct fixture *f)
{
	struct vsock_hdr h;

	assert_int_equal(next_into(f, &h, VSOCK_MAX_PKT_PAYLOAD), 0);
}

/* Guest port gp connects to PORT and gets its RESPONSE; returns the host endpoint. */
static struct fake_ep *guest_connect(struct fixture *f, uint32_t gp)
{
	struct vsock_hdr h;

	send_pkt(f, pkt(VSOCK_OP_REQUEST, gp, VSOCK_CID_PARENT, PORT), NULL);
	h = next(f, 0);
	assert_int_equal(h.op, VSOCK_OP_RESPONSE);
	assert_int_equal(h.src_cid, VSOCK_CID_PARENT);
	assert_int_equal(h.src_port, PORT);
	assert_int_equal(h.dst_port, gp);
	assert_int_equal(h.buf_alloc, VSOCK_CONN_BUF_SIZE);
	return f->eps[f->neps - 1];
}

static void test_accept_and_data_both_ways(void **state)
{
	struct fixture *f = *state;
	struct fake_ep *e = guest_connect(f, 1234);
	struct vsock_hdr h = pkt(VSOCK_OP_RW, 1234, VSOCK_CID_PARENT, PORT);

	h.len = 5;
	send_pkt(f, h, "hello");
	assert_int_equal(e->got_len, 5);
	assert_memory_equal(e->got, "hello", 5);
	memcpy(e->give, "world!", 6);
	e->give_len = 6;
	vsock_mux_host_readable(f->m, e->conn);
	h = next(f, 4096);
	assert_int_equal(h.op, VSOCK_OP_RW);
	assert_int_equal(h.len, 6);
	assert_memory_equal(f->payload, "world!", 6);
	/* read said EAGAIN after that: nothing more until the host is readable again. */
	assert_nothing(f);
	assert_int_equal(vsock_mux_nconns(f->m), 1);
	assert_int_equal(log_lines, 0);
}

static void test_rst_for_unknown_port_and_other_cids(void **state)
{
	struct fixture *f = *state;
	static const uint64_t cids[] = { VSOCK_CID_HOST, VSOCK_CID_LOCAL, 7, GUEST_CID, 1ULL << 32 | 3 };
	struct vsock_hdr h;

	send_pkt(f, pkt(VSOCK_OP_REQUEST, 40, VSOCK_CID_PARENT, PORT + 1), NULL);
	h = next(f, 0);
	assert_int_equal(h.op, VSOCK_OP_RST);
	assert_int_equal(h.src_port, PORT + 1);
	assert_int_equal(h.dst_port, 40);
	/* The hypervisor (CID 0) takes no connections from the guest. */
	send_pkt(f, pkt(VSOCK_OP_REQUEST, 41, VSOCK_CID_HYPERVISOR, PORT), NULL);
	assert_int_equal(next(f, 0).op, VSOCK_OP_RST);
	for (unsigned int i = 0; i < sizeof(cids) / sizeof(cids[0]); i++) {
		send_pkt(f, pkt(VSOCK_OP_REQUEST, 42, cids[i], PORT), NULL);
		h = next(f, 0);
		assert_int_equal(h.op, VSOCK_OP_RST);
		assert_int_equal(h.src_cid, cids[i]);
	}
	/* Data, shutdown or credit for a connection that does not exist: RST; an RST: nothing (no ping-pong). */
	send_pkt(f, pkt(VSOCK_OP_SHUTDOWN, 43, VSOCK_CID_PARENT, PORT), NULL);
	assert_int_equal(next(f, 0).op, VSOCK_OP_RST); /* a SHUTDOWN without flags is malformed: RST too */
	{
		struct vsock_hdr s = pkt(VSOCK_OP_SHUTDOWN, 43, VSOCK_CID_PARENT, PORT);

		s.flags = VSOCK_SHUTDOWN_BOTH;
		send_pkt(f, s, NULL);
		assert_int_equal(next(f, 0).op, VSOCK_OP_RST);
	}
	send_pkt(f, pkt(VSOCK_OP_CREDIT_UPDATE, 44, VSOCK_CID_PARENT, PORT), NULL);
	assert_int_equal(next(f, 0).op, VSOCK_OP_RST);
	send_pkt(f, pkt(VSOCK_OP_RST, 45, VSOCK_CID_PARENT, PORT), NULL);
	assert_nothing(f);
	assert_int_equal(vsock_mux_nconns(f->m), 0);
}

static void test_malformed_headers(void **state)
{
	struct fixture *f = *state;
	struct vsock_mux_stats st;
	struct vsock_hdr h;

	/* Another source CID: dropped without an answer. */
	h = pkt(VSOCK_OP_REQUEST, 50, VSOCK_CID_PARENT, PORT);
	h.src_cid = GUEST_CID + 1;
	send_pkt(f, h, NULL);
	assert_nothing(f);
	/* Seqpacket: RST of the same type (the socket learns at once); any other type: dropped. */
	h = pkt(VSOCK_OP_REQUEST, 51, VSOCK_CID_PARENT, PORT);
	h.type = VSOCK_TYPE_SEQPACKET;
	send_pkt(f, h, NULL);
	h = next(f, 0);
	assert_int_equal(h.op, VSOCK_OP_RST);
	assert_int_equal(h.type, VSOCK_TYPE_SEQPACKET);
	h = pkt(VSOCK_OP_REQUEST, 52, VSOCK_CID_PARENT, PORT);
	h.type = 77;
	send_pkt(f, h, NULL);
	assert_nothing(f);
	/* Unknown ops, a len on a control packet, bad flags, oversize: RST and no connection. */
	h = pkt(0, 53, VSOCK_CID_PARENT, PORT);
	send_pkt(f, h, NULL);
	assert_int_equal(next(f, 0).op, VSOCK_OP_RST);
	h = pkt(99, 53, VSOCK_CID_PARENT, PORT);
	send_pkt(f, h, NULL);
	assert_int_equal(next(f, 0).op, VSOCK_OP_RST);
	h = pkt(VSOCK_OP_REQUEST, 54, VSOCK_CID_PARENT, PORT);
	h.len = 4;
	send_pkt(f, h, "abcd");
	assert_int_equal(next(f, 0).op, VSOCK_OP_RST);
	h = pkt(VSOCK_OP_REQUEST, 55, VSOCK_CID_PARENT, PORT);
	h.flags = 1;
	send_pkt(f, h, NULL);
	assert_int_equal(next(f, 0).op, VSOCK_OP_RST);
	assert_int_equal(vsock_mux_nconns(f->m), 0);
	vsock_mux_get_stats(f->m, &st);
	assert_int_equal(st.malformed, 7);
	assert_true(log_lines >= 7);

	/* On a live connection a malformed packet resets it. */
	{
		struct fake_ep *e = guest_connect(f, 56);

		h = pkt(VSOCK_OP_RW, 56, VSOCK_CID_PARENT, PORT);
		h.flags = 4;
		h.len = 1;
		send_pkt(f, h, "x");
		assert_true(e->closed);
		assert_int_equal(e->closed_err, ECONNRESET);
		assert_int_equal(e->got_len, 0);
		assert_int_equal(next(f, 0).op, VSOCK_OP_RST);
		h = pkt(VSOCK_OP_RW, 56, VSOCK_CID_PARENT, PORT);
		h.len = VSOCK_MAX_PKT_PAYLOAD + 1;
		vsock_mux_guest_bad_packet(f->m, &h, "len over the limit");
		assert_int_equal(next(f, 0).op, VSOCK_OP_RST);
	}
	assert_int_equal(vsock_mux_nconns(f->m), 0);
}

/* The guest never reads: we send exactly its credit, ask once for more, then wait without polling the host. */
static void test_credit_exhaustion_towards_guest(void **state)
{
	struct fixture *f = *state;
	struct fake_ep *e = guest_connect(f, 60);
	struct vsock_hdr h = pkt(VSOCK_OP_CREDIT_UPDATE, 60, VSOCK_CID_PARENT, PORT);
	uint32_t sent = 0;
	unsigned int reads;

	h.buf_alloc = 10000;
	send_pkt(f, h, NULL);
	memset(e->give, 'z', 100000);
	e->give_len = 100000;
	vsock_mux_host_readable(f->m, e->conn);
	for (;;) {
		struct vsock_hdr o;

		if (!next_into(f, &o, 4096))
			break;
		if (o.op == VSOCK_OP_RW)
			sent += o.len;
		else
			assert_int_equal(o.op, VSOCK_OP_CREDIT_REQUEST);
	}
	assert_int_equal(sent, 10000);
	reads = e->reads;
	assert_nothing(f);
	assert_int_equal(e->reads, reads); /* no credit: the host is not even asked */
	/* The guest read 6000 bytes: exactly that much more flows. */
	h.fwd_cnt = 6000;
	send_pkt(f, h, NULL);
	for (struct vsock_hdr o; next_into(f, &o, 65536);)
		if (o.op == VSOCK_OP_RW)
			sent += o.len;
	assert_int_equal(sent, 16000);
	assert_int_equal(vsock_credit_available(10000, 6000, 16000), 0);
	assert_int_equal(vsock_credit_available(10000, 20000, 16000), 0); /* a lying fwd_cnt buys nothing */
}

/* The host never reads: guest data is buffered up to buf_alloc, then a guest ignoring credit is reset. */
static void test_credit_exhaustion_towards_host(void **state)
{
	struct fixture *f = *state;
	struct fake_ep *e = guest_connect(f, 61);
	struct vsock_hdr h = pkt(VSOCK_OP_RW, 61, VSOCK_CID_PARENT, PORT);
	struct vsock_mux_stats st;
	static uint8_t data[4096];
	uint32_t total = 0;

	e->write_room = 0;
	h.len = sizeof(data);
	memset(data, 'q', sizeof(data));
	while (total + sizeof(data) <= VSOCK_CONN_BUF_SIZE) {
		send_pkt(f, h, data);
		total += sizeof(data);
	}
	assert_int_equal(e->got_len, 0);
	assert_false(e->closed);
	assert_nothing(f); /* nothing was forwarded: no credit to give back */
	/* The host takes 20000 bytes: the guest hears about it once its view is low. */
	e->write_room = 20000;
	vsock_mux_host_writable(f->m, e->conn);
	assert_int_equal(e->got_len, 20000);
	h = next(f, 0);
	assert_int_equal(h.op, VSOCK_OP_CREDIT_UPDATE);
	assert_int_equal(h.fwd_cnt, 20000);
	/* One byte more than the credit: reset, nothing of it delivered. */
	h = pkt(VSOCK_OP_RW, 61, VSOCK_CID_PARENT, PORT);
	h.len = 20001;
	send_pkt(f, h, f->payload);
	assert_true(e->closed);
	assert_int_equal(next(f, 0).op, VSOCK_OP_RST);
	vsock_mux_get_stats(f->m, &st);
	assert_int_equal(st.credit_violations, 1);
	assert_int_equal(st.bytes_to_host, 20000);
}

static void test_connection_limit(void **state)
{
	struct fixture *f = *state;
	struct vsock_mux_stats st;
	struct vsock_hdr h;

	for (uint32_t i = 0; i < VSOCK_MAX_CONNECTIONS; i++)
		send_pkt(f, pkt(VSOCK_OP_REQUEST, 10000 + i, VSOCK_CID_PARENT, PORT), NULL);
	assert_int_equal(vsock_mux_nconns(f->m), VSOCK_MAX_CONNECTIONS);
	for (uint32_t i = 0; i < VSOCK_MAX_CONNECTIONS; i++)
		assert_int_equal(next(f, 0).op, VSOCK_OP_RESPONSE);
	log_lines = 0;
	send_pkt(f, pkt(VSOCK_OP_REQUEST, 20000, VSOCK_CID_PARENT, PORT), NULL);
	h = next(f, 0);
	assert_int_equal(h.op, VSOCK_OP_RST);
	assert_int_equal(h.dst_port, 20000);
	assert_int_equal(log_lines, 1);
	assert_non_null(strstr(last_log, "connection limit reached (1023 open)"));
	vsock_mux_get_stats(f->m, &st);
	assert_int_equal(st.refused_limit, 1);
	/* One closes (guest RST): the next is accepted. */
	send_pkt(f, pkt(VSOCK_OP_RST, 10000, VSOCK_CID_PARENT, PORT), NULL);
	assert_true(f->eps[0]->closed);
	send_pkt(f, pkt(VSOCK_OP_REQUEST, 20001, VSOCK_CID_PARENT, PORT), NULL);
	assert_int_equal(next(f, 0).op, VSOCK_OP_RESPONSE);
	assert_int_equal(vsock_mux_nconns(f->m), VSOCK_MAX_CONNECTIONS);
}

/* The guest shuts down sending: the host sees EOF after the data, and still sends; then both close. */
static void test_half_close_from_guest(void **state)
{
	struct fixture *f = *state;
	struct fake_ep *e = guest_connect(f, 70);
	struct vsock_hdr h = pkt(VSOCK_OP_RW, 70, VSOCK_CID_PARENT, PORT);

	e->write_room = 2;
	h.len = 4;
	send_pkt(f, h, "ping");
	h = pkt(VSOCK_OP_SHUTDOWN, 70, VSOCK_CID_PARENT, PORT);
	h.flags = VSOCK_SHUTDOWN_SEND;
	send_pkt(f, h, NULL);
	assert_false(e->shut_wr); /* two bytes still buffered */
	e->write_room = SIZE_MAX;
	vsock_mux_host_writable(f->m, e->conn);
	assert_int_equal(e->got_len, 4);
	assert_true(e->shut_wr);
	/* The other direction is open. */
	memcpy(e->give, "pong", 4);
	e->give_len = 4;
	e->give_eof = true;
	vsock_mux_host_readable(f->m, e->conn);
	h = next(f, 4096);
	assert_int_equal(h.op, VSOCK_OP_RW);
	assert_memory_equal(f->payload, "pong", 4);
	h = next(f, 4096);
	assert_int_equal(h.op, VSOCK_OP_SHUTDOWN);
	assert_int_equal(h.flags, VSOCK_SHUTDOWN_SEND);
	/* Data after SHUTDOWN(SEND) breaks the protocol. */
	h = pkt(VSOCK_OP_RW, 70, VSOCK_CID_PARENT, PORT);
	h.len = 1;
	send_pkt(f, h, "x");
	assert_true(e->closed);
	assert_int_equal(next(f, 0).op, VSOCK_OP_RST);
}

/* The host shuts down sending: the guest gets SHUTDOWN(SEND) after the data and may still send; close() ends it. */
static void test_half_close_from_host(void **state)
{
	struct fixture *f = *state;
	struct fake_ep *e = guest_connect(f, 71);
	struct vsock_hdr h;

	memcpy(e->give, "request", 7);
	e->give_len = 7;
	e->give_eof = true;
	vsock_mux_host_readable(f->m, e->conn);
	h = next(f, 4096);
	assert_int_equal(h.op, VSOCK_OP_RW);
	assert_int_equal(h.len, 7);
	h = next(f, 4096);
	assert_int_equal(h.op, VSOCK_OP_SHUTDOWN);
	assert_int_equal(h.flags, VSOCK_SHUTDOWN_SEND);
	h = pkt(VSOCK_OP_RW, 71, VSOCK_CID_PARENT, PORT);
	h.len = 5;
	send_pkt(f, h, "reply");
	assert_int_equal(e->got_len, 5);
	/* Linux's close(): SHUTDOWN both, then it waits for our RST. */
	h = pkt(VSOCK_OP_SHUTDOWN, 71, VSOCK_CID_PARENT, PORT);
	h.flags = VSOCK_SHUTDOWN_BOTH;
	send_pkt(f, h, NULL);
	assert_true(e->shut_wr);
	assert_true(e->shut_rd);
	assert_true(e->closed);
	assert_int_equal(e->closed_err, 0);
	assert_int_equal(next(f, 0).op, VSOCK_OP_RST);
	assert_int_equal(vsock_mux_nconns(f->m), 0);
}

/* The host user closes: what it wrote still goes out, then SHUTDOWN both and the connection is gone. */
static void test_host_hangup(void **state)
{
	struct fixture *f = *state;
	struct fake_ep *e = guest_connect(f, 72);
	struct vsock_hdr h;

	memcpy(e->give, "last words", 10);
	e->give_len = 10;
	vsock_mux_host_hangup(f->m, e->conn);
	h = next(f, 4096);
	assert_int_equal(h.op, VSOCK_OP_RW);
	assert_int_equal(h.len, 10);
	h = next(f, 4096);
	assert_int_equal(h.op, VSOCK_OP_SHUTDOWN);
	assert_int_equal(h.flags, VSOCK_SHUTDOWN_BOTH);
	assert_true(e->closed);
	assert_int_equal(vsock_mux_nconns(f->m), 0);
	/* The guest's answering RST finds nothing and gets nothing back. */
	send_pkt(f, pkt(VSOCK_OP_RST, 72, VSOCK_CID_PARENT, PORT), NULL);
	assert_nothing(f);
}

static void test_host_connect(void **state)
{
	struct fixture *f = *state;
	struct fake_ep a = { .write_room = SIZE_MAX }, b = { .write_room = SIZE_MAX };
	struct vsock_hdr h, r;
	int err = 0;

	a.conn = vsock_mux_connect(f->m, 8000, &fake_ops, &a, &err);
	assert_non_null(a.conn);
	h = next(f, 0);
	assert_int_equal(h.op, VSOCK_OP_REQUEST);
	assert_int_equal(h.src_cid, VSOCK_CID_PARENT);
	assert_true(h.src_port >= VSOCK_EPHEMERAL_PORT_MIN);
	assert_int_equal(h.dst_port, 8000);
	r = pkt(VSOCK_OP_RESPONSE, 8000, VSOCK_CID_PARENT, h.src_port);
	send_pkt(f, r, NULL);
	assert_true(a.connected);
	/* Nobody listens on 8001: the guest answers RST, the host hears "refused". */
	b.conn = vsock_mux_connect(f->m, 8001, &fake_ops, &b, &err);
	h = next(f, 0);
	assert_int_not_equal(h.src_port, r.dst_port);
	send_pkt(f, pkt(VSOCK_OP_RST, 8001, VSOCK_CID_PARENT, h.src_port), NULL);
	assert_true(b.closed);
	assert_int_equal(b.closed_err, ECONNREFUSED);
	/* A transport reset drops the established one. */
	vsock_mux_reset(f->m);
	assert_true(a.closed);
	assert_int_equal(a.closed_err, ECONNRESET);
	assert_int_equal(vsock_mux_nconns(f->m), 0);
}

/* A pattern byte of a stream at offset off, so lost, repeated or reordered bytes show. */
static uint8_t pat(uint32_t off)
{
	return (uint8_t)(off * 7 + (off >> 8));
}

/* A payload in many pieces (a descriptor chain of many segments) goes to the host in one write, in order. */
static void test_guest_data_in_many_pieces(void **state)
{
	struct fixture *f = *state;
	struct fake_ep *e = guest_connect(f, 80);
	struct vsock_hdr h = pkt(VSOCK_OP_RW, 80, VSOCK_CID_PARENT, PORT);
	static uint8_t data[3000];
	struct iovec iov[19];
	size_t off = 0;

	for (uint32_t i = 0; i < sizeof(data); i++)
		data[i] = pat(i);
	/* 19 pieces of uneven sizes, as Linux's skb fragments come: 1, 3, 5 ... bytes, the rest in the last. */
	for (unsigned int i = 0; i < 18; i++) {
		iov[i] = (struct iovec){ data + off, 2 * i + 1 };
		off += 2 * i + 1;
	}
	iov[18] = (struct iovec){ data + off, sizeof(data) - off };
	h.len = sizeof(data);
	vsock_mux_guest_packet(f->m, &h, iov, 19);
	assert_int_equal(e->writes, 1);
	assert_int_equal(e->last_write_iovcnt, 19);
	assert_int_equal(e->got_len, sizeof(data));
	assert_memory_equal(e->got, data, sizeof(data));
}

/* Bytes the host cannot take wait in the table's ring; when it wraps, they leave in two pieces, in order. */
static void send_pattern(struct fixture *f, uint32_t gp, uint32_t from, uint32_t len)
{
	struct vsock_hdr h = pkt(VSOCK_OP_RW, gp, VSOCK_CID_PARENT, PORT);
	static uint8_t data[VSOCK_MAX_PKT_PAYLOAD];

	for (uint32_t i = 0; i < len; i++)
		data[i] = pat(from + i);
	h.len = len;
	send_pkt(f, h, data);
}

/* Send len pattern bytes from stream offset from, in packets of at most VSOCK_MAX_PKT_PAYLOAD. */
static void send_span(struct fixture *f, uint32_t gp, uint32_t from, uint32_t len)
{
	for (uint32_t done = 0; done < len;) {
		uint32_t n = len - done < VSOCK_MAX_PKT_PAYLOAD ? len - done : VSOCK_MAX_PKT_PAYLOAD;

		send_pattern(f, gp, from + done, n);
		done += n;
	}
}

static void test_partial_writes_wrap_the_buffer(void **state)
{
	struct fixture *f = *state;
	struct fake_ep *e = guest_connect(f, 81);
	const uint32_t first = VSOCK_CONN_BUF_SIZE / 2 + 4096, second = VSOCK_CONN_BUF_SIZE / 2;
	struct vsock_hdr h;

	/* Past half the window while the host takes 1000 bytes: the guest's view is low, it hears of them. */
	e->write_room = 1000;
	send_span(f, 81, 0, first);
	assert_int_equal(e->got_len, 1000);
	h = next(f, 0);
	assert_int_equal(h.op, VSOCK_OP_CREDIT_UPDATE);
	assert_int_equal(h.fwd_cnt, 1000);
	assert_nothing(f);
	/* The host takes the rest, and the guest hears of it too. */
	e->write_room = first - 1000;
	vsock_mux_host_writable(f->m, e->conn);
	assert_int_equal(e->got_len, first);
	h = next(f, 0);
	assert_int_equal(h.op, VSOCK_OP_CREDIT_UPDATE);
	assert_int_equal(h.fwd_cnt, first);
	/* Half a window more while the host takes none: it wraps around the ring's end, and leaves in two pieces. */
	e->write_room = 0;
	send_span(f, 81, first, second);
	e->write_room = SIZE_MAX;
	vsock_mux_host_writable(f->m, e->conn);
	assert_int_equal(e->last_write_iovcnt, 2);
	assert_int_equal(e->got_len, first + second);
	for (uint32_t i = 0; i < first + second; i++)
		if (e->got[i] != pat(i))
			fail_msg("byte %u reached the host as %#x, not %#x", i, e->got[i], pat(i));
	assert_false(e->closed);
}

/* Host data is read straight into the guest's buffer, in as many pieces as it has, within credit. */
static void test_read_into_many_pieces(void **state)
{
	struct fixture *f = *state;
	struct fake_ep *e = guest_connect(f, 82);
	struct vsock_hdr c = pkt(VSOCK_OP_CREDIT_UPDATE, 82, VSOCK_CID_PARENT, PORT);
	static uint8_t rxbuf[4096];
	struct iovec room[10];
	struct vsock_hdr h;

	for (uint32_t i = 0; i < 5000; i++)
		e->give[i] = pat(i);
	e->give_len = 5000;
	for (unsigned int i = 0; i < 10; i++)
		room[i] = (struct iovec){ rxbuf + 400 * i, 400 };
	c.buf_alloc = 2500; /* the guest's credit is the limit: 2500 of the 4000 bytes of room */
	send_pkt(f, c, NULL);
	vsock_mux_host_readable(f->m, e->conn);
	assert_int_equal(vsock_mux_guest_next(f->m, &h, room, 10), 1);
	assert_int_equal(h.op, VSOCK_OP_RW);
	assert_int_equal(h.len, 2500);
	assert_int_equal(e->last_read_iovcnt, 7); /* 6 whole pieces and 100 bytes of the seventh */
	for (uint32_t i = 0; i < 2500; i++)
		assert_int_equal(rxbuf[i], pat(i));
	/* Out of credit: a CREDIT_REQUEST, and the host is not read again. */
	assert_int_equal(next(f, 0).op, VSOCK_OP_CREDIT_REQUEST);
	assert_nothing(f);
	assert_int_equal(e->reads, 1);
}

/* Several rx buffers for one connection's data are filled by one read, a packet each, in order. */
static void test_one_read_fills_several_buffers(void **state)
{
	struct fixture *f = *state;
	struct fake_ep *e = guest_connect(f, 90), *other = guest_connect(f, 91);
	static uint8_t rxbuf[5][1000];
	struct iovec room[5];
	struct vsock_rx_buf bufs[5];
	uint32_t off = 0;

	for (uint32_t i = 0; i < 3500; i++)
		e->give[i] = pat(i);
	e->give_len = 3500;
	memcpy(other->give, "x", 1);
	other->give_len = 1;
	for (unsigned int i = 0; i < 5; i++) {
		room[i] = (struct iovec){ rxbuf[i], sizeof(rxbuf[i]) };
		bufs[i] = (struct vsock_rx_buf){ .room = &room[i], .nroom = 1 };
	}
	vsock_mux_host_readable(f->m, e->conn);
	vsock_mux_host_readable(f->m, other->conn);
	/* 3500 bytes in four buffers from one read; the fifth goes to the other connection's turn. */
	assert_int_equal(vsock_mux_guest_fill(f->m, bufs, 5), 5);
	assert_int_equal(e->reads, 1);
	assert_int_equal(e->last_read_iovcnt, 5);
	for (unsigned int i = 0; i < 4; i++) {
		assert_int_equal(bufs[i].h.op, VSOCK_OP_RW);
		assert_int_equal(bufs[i].h.dst_port, 90);
		assert_int_equal(bufs[i].h.len, i < 3 ? 1000 : 500);
		for (uint32_t k = 0; k < bufs[i].h.len; k++)
			assert_int_equal(rxbuf[i][k], pat(off + k));
		off += bufs[i].h.len;
	}
	assert_int_equal(bufs[4].h.op, VSOCK_OP_RW);
	assert_int_equal(bufs[4].h.dst_port, 91);
	assert_int_equal(bufs[4].h.len, 1);
}

/* Whatever state a connection is in, a reset from either side ends it with one RST at most, never a crash. */
static void test_reset_while_connecting(void **state)
{
	struct fixture *f = *state;
	struct fake_ep a = { .write_room = SIZE_MAX }, b = { .write_room = SIZE_MAX, .refuse_connected = true };
	struct vsock_hdr h;
	int err = 0;

	/* The host gives up before the guest answered: RST after the REQUEST. */
	a.conn = vsock_mux_connect(f->m, 8100, &fake_ops, &a, &err);
	assert_int_equal(next(f, 0).op, VSOCK_OP_REQUEST);
	vsock_mux_host_reset(f->m, a.conn);
	assert_true(a.closed);
	assert_int_equal(a.closed_err, ECONNRESET);
	assert_int_equal(next(f, 0).op, VSOCK_OP_RST);
	/* The host side cannot take the guest's acceptance (a greeting its peer refused): RST. */
	b.conn = vsock_mux_connect(f->m, 8101, &fake_ops, &b, &err);
	h = next(f, 0);
	send_pkt(f, pkt(VSOCK_OP_RESPONSE, 8101, VSOCK_CID_PARENT, h.src_port), NULL);
	assert_true(b.connected);
	assert_true(b.closed);
	assert_int_equal(b.closed_err, ECONNRESET);
	assert_int_equal(next(f, 0).op, VSOCK_OP_RST);
	assert_nothing(f);
	assert_int_equal(vsock_mux_nconns(f->m), 0);
}

static void test_reset_while_established(void **state)
{
	struct fixture *f = *state;
	struct fake_ep *w = guest_connect(f, 83), *r = guest_connect(f, 84), *x = guest_connect(f, 85);
	struct vsock_hdr h = pkt(VSOCK_OP_RW, 83, VSOCK_CID_PARENT, PORT);

	/* The host socket fails on write (EPIPE: its peer is gone). */
	w->write_err = EPIPE;
	h.len = 3;
	send_pkt(f, h, "abc");
	assert_true(w->closed);
	assert_int_equal(w->closed_err, ECONNRESET);
	h = next(f, 0);
	assert_int_equal(h.op, VSOCK_OP_RST);
	assert_int_equal(h.dst_port, 83);
	/* ... or on read (ECONNRESET: its peer reset). */
	r->read_err = ECONNRESET;
	vsock_mux_host_readable(f->m, r->conn);
	h = next(f, 4096);
	assert_int_equal(h.op, VSOCK_OP_RST);
	assert_int_equal(h.dst_port, 84);
	assert_true(r->closed);
	/* The guest resets: the host hears it, nothing goes back. */
	send_pkt(f, pkt(VSOCK_OP_RST, 85, VSOCK_CID_PARENT, PORT), NULL);
	assert_true(x->closed);
	assert_int_equal(x->closed_err, ECONNRESET);
	assert_nothing(f);
	assert_int_equal(vsock_mux_nconns(f->m), 0);
}

static void test_reset_while_half_closed(void **state)
{
	struct fixture *f = *state;
	struct fake_ep *g = guest_connect(f, 86), *hh = guest_connect(f, 87), *gone = guest_connect(f, 88);
	struct vsock_hdr h = pkt(VSOCK_OP_SHUTDOWN, 86, VSOCK_CID_PARENT, PORT);

	/* The guest shut its sending down, then the host resets. */
	h.flags = VSOCK_SHUTDOWN_SEND;
	send_pkt(f, h, NULL);
	assert_true(g->shut_wr);
	vsock_mux_host_reset(f->m, g->conn);
	assert_true(g->closed);
	assert_int_equal(next(f, 0).op, VSOCK_OP_RST);
	/* The host ended its stream (SHUTDOWN(SEND) sent), then the guest resets. */
	hh->give_eof = true;
	vsock_mux_host_readable(f->m, hh->conn);
	h = next(f, 4096);
	assert_int_equal(h.op, VSOCK_OP_SHUTDOWN);
	send_pkt(f, pkt(VSOCK_OP_RST, 87, VSOCK_CID_PARENT, PORT), NULL);
	assert_true(hh->closed);
	assert_int_equal(hh->closed_err, ECONNRESET);
	/* The host hung up with data still to read, then the guest resets: the rest is dropped. */
	memset(gone->give, 'x', 100);
	gone->give_len = 100;
	vsock_mux_host_hangup(f->m, gone->conn);
	send_pkt(f, pkt(VSOCK_OP_RST, 88, VSOCK_CID_PARENT, PORT), NULL);
	assert_true(gone->closed);
	assert_nothing(f);
	assert_int_equal(vsock_mux_nconns(f->m), 0);
}

/* Closing: its last packet waits for an rx buffer; more resets change nothing, a guest RST frees it. */
static void test_reset_while_closing(void **state)
{
	struct fixture *f = *state;
	struct fake_ep *e = guest_connect(f, 89);
	struct vsock_hdr h = pkt(VSOCK_OP_RW, 89, VSOCK_CID_PARENT, PORT);

	vsock_mux_host_reset(f->m, e->conn); /* CLOSING, RST pending */
	assert_true(e->closed);
	assert_int_equal(vsock_mux_nconns(f->m), 1);
	/* Data and a second reset for the closing connection: ignored, no second RST. */
	h.len = 2;
	send_pkt(f, h, "zz");
	send_pkt(f, pkt(VSOCK_OP_RST, 89, VSOCK_CID_PARENT, PORT), NULL);
	assert_int_equal(vsock_mux_nconns(f->m), 0);
	assert_nothing(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_accept_and_data_both_ways, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rst_for_unknown_port_and_other_cids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_credit_exhaustion_towards_guest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_credit_exhaustion_towards_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_close_from_guest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_close_from_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_hangup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_connect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_data_in_many_pieces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_writes_wrap_the_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_into_many_pieces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_read_fills_several_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_while_connecting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_while_established, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_while_half_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_while_closing, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
