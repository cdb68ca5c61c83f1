// SPDX-License-Identifier: MIT
/*
 * virtio-vsock against the fake guest memory: the device, the connection table and the emulated parent side
 * with real socketpairs, driven the way Linux's virtio_transport drives them.  Buffers live in region 1:
 * tx buffers at +0x0000.., rx at +0x8000.., one 4 KiB descriptor each.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "hypervisor/kvm/kvm.h"
#include "virtio_harness.h"
#include "vsock/conn.h"
#include "vsock/endpoint.h"

#define QSIZE	  8
#define GUEST_CID 21
#define RXQ	  0
#define TXQ	  1
#define EVQ	  2
#define TX_BUF	  (FAKE_R1_GPA)
#define RX_BUF	  (FAKE_R1_GPA + 0x8000)
#define BUF_SIZE  0x1000

struct fixture {
	struct test_dev td;
	struct vsock_mux *mux;
	struct vsock_emul *emul;
	struct vsock_host *host;
	struct virtio_vsock *dev;
	uint16_t rx_used_seen;
};

static int setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	f.mux = vsock_mux_create();
	vsock_mux_set_guest_cid(f.mux, GUEST_CID);
	f.emul = vsock_emul_create(f.mux);
	f.host = vsock_emul_host(f.emul);
	f.dev = virtio_vsock_new(f.mux);
	if (!f.emul || !f.dev || test_dev_init(&f.td, virtio_vsock_ops(), f.dev, false))
		return -1;
	virtio_vsock_attach(f.dev, f.td.t);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	assert_true(fake_canary_intact(&f->td.mem));
	test_dev_free(&f->td);
	virtio_vsock_free(f->dev);
	vsock_host_destroy(f->host);
	vsock_mux_destroy(f->mux);
	return 0;
}

/* What the machine does when the parent side's descriptor polls readable. */
static void service(struct fixture *f)
{
	virtio_vsock_host_ready(f->dev);
}

static void post_rx(struct fixture *f, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		uint16_t d = f->td.q[RXQ].avail_idx % QSIZE;

		drv_desc(&f->td, RXQ, d, RX_BUF + d * BUF_SIZE, BUF_SIZE, VIRTQ_DESC_F_WRITE, 0);
		drv_avail(&f->td, RXQ, d);
	}
	drv_kick(&f->td, RXQ);
}

static void bring_up(struct fixture *f)
{
	drv_bring_up(&f->td, QSIZE);
	post_rx(f, QSIZE);
}

/* One packet from the guest in one descriptor of len bytes (header + payload as given). */
static void tx_raw(struct fixture *f, const void *buf, uint32_t len)
{
	uint16_t d = f->td.q[TXQ].avail_idx % QSIZE;

	memcpy(fake_gpa(&f->td.mem, TX_BUF + d * BUF_SIZE, len), buf, len);
	drv_desc(&f->td, TXQ, d, TX_BUF + d * BUF_SIZE, len, 0, 0);
	drv_avail(&f->td, TXQ, d);
	drv_kick(&f->td, TXQ);
}

static void tx(struct fixture *f, uint16_t op, uint32_t src_port, uint32_t dst_port, const void *data, uint32_t len)
{
	struct vsock_hdr h = { .src_cid = GUEST_CID, .dst_cid = VSOCK_CID_PARENT, .src_port = src_port,
			       .dst_port = dst_port, .len = len, .type = VSOCK_TYPE_STREAM, .op = op,
			       .buf_alloc = 65536 };
	uint8_t buf[VSOCK_HDR_SIZE + 256];

	if (op == VSOCK_OP_SHUTDOWN)
		h.flags = VSOCK_SHUTDOWN_BOTH;
	vsock_hdr_encode(&h, buf);
	memcpy(buf + VSOCK_HDR_SIZE, data, len);
	tx_raw(f, buf, VSOCK_HDR_SIZE + len);
}

/* The next packet the device put in an rx buffer (payload copied to data); the buffer is posted again. */
static struct vsock_hdr rx(struct fixture *f, uint8_t *data)
{
	struct virtq_used_elem e;
	struct vsock_hdr h;
	uint8_t *p;

	assert_int_not_equal(drv_used_idx(&f->td, RXQ), f->rx_used_seen);
	e = drv_used_elem(&f->td, RXQ, f->rx_used_seen++);
	p = fake_gpa(&f->td.mem, RX_BUF + e.id * BUF_SIZE, BUF_SIZE);
	vsock_hdr_decode(p, &h);
	assert_int_equal(e.len, VSOCK_HDR_SIZE + h.len);
	if (data)
		memcpy(data, p + VSOCK_HDR_SIZE, h.len);
	post_rx(f, 1);
	return h;
}

static bool rx_empty(struct fixture *f)
{
	return drv_used_idx(&f->td, RXQ) == f->rx_used_seen;
}

static void test_identity_and_config(void **state)
{
	struct fixture *f = *state;
	uint64_t cid = 0;
	uint32_t lo = 0;

	assert_int_equal(rd32(&f->td, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_VSOCK);
	virtio_mmio_access(f->td.t, VIRTIO_MMIO_CONFIG, &cid, 8, false);
	assert_int_equal(cid, GUEST_CID);
	virtio_mmio_access(f->td.t, VIRTIO_MMIO_CONFIG + 4, &lo, 4, false);
	assert_int_equal(lo, 0);
	for (unsigned int q = 0; q < 3; q++) {
		wr32(&f->td, VIRTIO_MMIO_QUEUE_SEL, q);
		assert_int_equal(rd32(&f->td, VIRTIO_MMIO_QUEUE_NUM_MAX), 256);
	}
	wr32(&f->td, VIRTIO_MMIO_QUEUE_SEL, 3);
	assert_int_equal(rd32(&f->td, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
}

/* The heartbeat exchange end to end: guest REQUEST, accept() on the listener, 0xB7 both ways, close. */
static void test_heartbeat_through_the_device(void **state)
{
	struct fixture *f = *state;
	uint8_t b = VSOCK_HEARTBEAT_BYTE, got[8];
	uint64_t peer_cid;
	uint32_t peer_port;
	struct vsock_hdr h;
	int lfd, fd;

	lfd = vsock_listen(f->host, VSOCK_HEARTBEAT_PORT);
	assert_true(lfd >= 0);
	assert_int_equal(vsock_accept(f->host, lfd, &peer_cid, &peer_port), -EAGAIN);
	bring_up(f);
	tx(f, VSOCK_OP_REQUEST, 1000, VSOCK_HEARTBEAT_PORT, NULL, 0);
	h = rx(f, NULL);
	assert_int_equal(h.op, VSOCK_OP_RESPONSE);
	fd = vsock_accept(f->host, lfd, &peer_cid, &peer_port);
	assert_true(fd >= 0);
	assert_int_equal(peer_cid, GUEST_CID);
	assert_int_equal(peer_port, 1000);
	tx(f, VSOCK_OP_RW, 1000, VSOCK_HEARTBEAT_PORT, &b, 1);
	assert_int_equal(read(fd, got, sizeof(got)), 1);
	assert_int_equal(got[0], VSOCK_HEARTBEAT_BYTE);
	assert_int_equal(write(fd, &b, 1), 1);
	service(f);
	h = rx(f, got);
	assert_int_equal(h.op, VSOCK_OP_RW);
	assert_int_equal(h.len, 1);
	assert_int_equal(got[0], VSOCK_HEARTBEAT_BYTE);
	close(fd);
	service(f);
	h = rx(f, NULL);
	assert_int_equal(h.op, VSOCK_OP_SHUTDOWN);
	assert_int_equal(h.flags, VSOCK_SHUTDOWN_BOTH);
	assert_int_equal(vsock_mux_nconns(f->mux), 0);
	vsock_unlisten(f->host, lfd);
	tx(f, VSOCK_OP_REQUEST, 1001, VSOCK_HEARTBEAT_PORT, NULL, 0);
	assert_int_equal(rx(f, NULL).op, VSOCK_OP_RST);
}

/* The parent connects into the guest; data before the RESPONSE waits in the socket. */
static void test_host_connect_through_the_device(void **state)
{
	struct fixture *f = *state;
	uint8_t got[16];
	struct vsock_hdr h;
	int fd;

	bring_up(f);
	fd = vsock_connect(f->host, GUEST_CID, 7000);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "early", 5), 5);
	assert_true(rx_empty(f)); /* the REQUEST waits for the device's next service */
	service(f);
	h = rx(f, NULL);
	assert_int_equal(h.op, VSOCK_OP_REQUEST);
	assert_int_equal(h.dst_port, 7000);
	service(f);
	assert_true(rx_empty(f));
	tx(f, VSOCK_OP_RESPONSE, 7000, h.src_port, NULL, 0);
	service(f);
	h = rx(f, got);
	assert_int_equal(h.op, VSOCK_OP_RW);
	assert_int_equal(h.len, 5);
	assert_memory_equal(got, "early", 5);
	/* Guest data and the guest's close reach the descriptor as data then EOF. */
	tx(f, VSOCK_OP_RW, 7000, h.src_port, "answer", 6);
	tx(f, VSOCK_OP_SHUTDOWN, 7000, h.src_port, NULL, 0);
	assert_int_equal(read(fd, got, sizeof(got)), 6);
	assert_int_equal(read(fd, got, sizeof(got)), 0);
	assert_int_equal(rx(f, NULL).op, VSOCK_OP_RST);
	close(fd);
	/* Other CIDs are unreachable. */
	assert_int_equal(vsock_connect(f->host, GUEST_CID + 1, 7000), -EHOSTUNREACH);
	assert_int_equal(vsock_connect(f->host, VSOCK_CID_HYPERVISOR, 10021), -ECONNREFUSED);
}

static void test_malformed_buffers(void **state)
{
	struct fixture *f = *state;
	struct vsock_hdr h = { .src_cid = GUEST_CID, .dst_cid = VSOCK_CID_PARENT, .src_port = 5, .dst_port = 6,
			       .type = VSOCK_TYPE_STREAM, .op = VSOCK_OP_RW };
	uint8_t buf[VSOCK_HDR_SIZE + 16] = { 0 };

	bring_up(f);
	/* Shorter than a header: dropped, no answer possible. */
	tx_raw(f, buf, 20);
	assert_true(rx_empty(f));
	/* len larger than the buffer, and over the packet limit: RST, nothing read past the buffer. */
	h.len = 100;
	vsock_hdr_encode(&h, buf);
	tx_raw(f, buf, sizeof(buf));
	assert_int_equal(rx(f, NULL).op, VSOCK_OP_RST);
	h.len = VSOCK_MAX_PKT_PAYLOAD + 1;
	vsock_hdr_encode(&h, buf);
	tx_raw(f, buf, sizeof(buf));
	assert_int_equal(rx(f, NULL).op, VSOCK_OP_RST);
	/* Every tx buffer came back to the driver, and the device is still healthy. */
	assert_int_equal(drv_used_idx(&f->td, TXQ), 3);
	assert_false(dev_needs_reset(&f->td));
}

static void test_transport_reset_event(void **state)
{
	struct fixture *f = *state;
	struct virtq_used_elem e;
	uint8_t *ev;

	bring_up(f);
	drv_desc(&f->td, EVQ, 0, FAKE_R1_GPA + 0x7000, 8, VIRTQ_DESC_F_WRITE, 0);
	drv_avail(&f->td, EVQ, 0);
	drv_kick(&f->td, EVQ);
	assert_int_equal(drv_used_idx(&f->td, EVQ), 0);
	ev = fake_gpa(&f->td.mem, FAKE_R1_GPA + 0x7000, 8);
	memset(ev, 0xff, 8);
	virtio_vsock_transport_reset(f->dev);
	assert_int_equal(drv_used_idx(&f->td, EVQ), 1);
	e = drv_used_elem(&f->td, EVQ, 0);
	assert_int_equal(e.len, 4);
	assert_int_equal(ev[0] | ev[1] | ev[2] | ev[3], VSOCK_EVENT_TRANSPORT_RESET);
}

/* ---- joined host streams: bytes straight between descriptor chains and the host socket ---- */

#define TX_TABLE_GPA 0x3000ULL /* indirect tables, in the free page after queue 0's rings */
#define RX_TABLE_GPA 0x3400ULL
#define BIG	     4000 /* payload of one full tx buffer */
/* Full tx buffers that take the guest past half its window: the table then owes it a CREDIT_UPDATE. */
#define PAST_HALF_WINDOW (VSOCK_CONN_BUF_SIZE / 2 / BIG + 2)

static uint8_t pat(uint32_t off)
{
	return (uint8_t)(off * 7 + (off >> 8));
}

/* One packet from the guest whose bytes (header + payload) are cut into nseg buffers of an indirect table. */
static void tx_cut(struct fixture *f, const struct vsock_hdr *h, const uint8_t *payload, unsigned int nseg)
{
	uint32_t total = VSOCK_HDR_SIZE + h->len, off = 0;
	uint16_t d = f->td.q[TXQ].avail_idx % QSIZE;
	uint8_t *buf = fake_gpa(&f->td.mem, TX_BUF + d * BUF_SIZE, total);

	vsock_hdr_encode(h, buf);
	memcpy(buf + VSOCK_HDR_SIZE, payload, h->len);
	for (unsigned int i = 0; i < nseg; i++) {
		/* Uneven pieces, the first one cutting the header: 1, 3, 5 ... bytes, the rest in the last. */
		uint32_t len = i + 1 == nseg ? total - off : 2 * i + 1;

		drv_indirect_desc(&f->td, TX_TABLE_GPA, (uint16_t)i, TX_BUF + d * BUF_SIZE + off, len,
				  i + 1 < nseg ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
		off += len;
	}
	drv_desc(&f->td, TXQ, d, TX_TABLE_GPA, 16 * nseg, VIRTQ_DESC_F_INDIRECT, 0);
	drv_avail(&f->td, TXQ, d);
	drv_kick(&f->td, TXQ);
}

static void tx_pattern(struct fixture *f, uint32_t src_port, uint32_t dst_port, uint32_t from, uint32_t len)
{
	struct vsock_hdr h = { .src_cid = GUEST_CID, .dst_cid = VSOCK_CID_PARENT, .src_port = src_port,
			       .dst_port = dst_port, .len = len, .type = VSOCK_TYPE_STREAM, .op = VSOCK_OP_RW,
			       .buf_alloc = 65536 };
	static uint8_t data[BIG];

	for (uint32_t i = 0; i < len; i++)
		data[i] = pat(from + i);
	tx_cut(f, &h, data, 1);
}

/* Read exactly len bytes from a non-blocking socket, servicing the device while it has nothing. */
static void read_all(struct fixture *f, int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;

	for (int spins = 0; got < len && spins < 100000; spins++) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n > 0)
			got += (size_t)n;
		else
			service(f);
	}
	assert_int_equal(got, len);
}

/* Host data collected from RW packets of the rx queue until len bytes came; other packets are skipped. */
static void rx_collect(struct fixture *f, uint8_t *out, uint32_t len)
{
	uint32_t got = 0;

	for (int spins = 0; got < len && spins < 1000; spins++) {
		struct vsock_hdr h;

		service(f);
		while (got < len && !rx_empty(f)) {
			h = rx(f, out + got);
			if (h.op == VSOCK_OP_RW)
				got += h.len;
		}
	}
	assert_int_equal(got, len);
}

/* The parent opens a connection to the guest's port, carried by fd; the guest accepts.  The parent's port. */
static uint32_t join_accepted(struct fixture *f, int fd, uint32_t port)
{
	struct vsock_join j = { .fd = fd };
	struct vsock_hdr h;

	assert_int_equal(vsock_connect_join(f->host, GUEST_CID, port, &j), 0);
	service(f);
	h = rx(f, NULL);
	assert_int_equal(h.op, VSOCK_OP_REQUEST);
	assert_int_equal(h.dst_port, port);
	tx(f, VSOCK_OP_RESPONSE, port, h.src_port, NULL, 0);
	return h.src_port;
}

static int greet(int fd, uint32_t parent_port)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "HELLO %u\n", parent_port);

	return write(fd, line, (size_t)n) == n ? 0 : -EPIPE;
}

/* A host stream joined to a connection the parent opens: greeting, then both directions, byte for byte. */
static void test_joined_stream_both_ways(void **state)
{
	struct fixture *f = *state;
	static uint8_t in[10000], out[10000];
	struct vsock_join j = { .accepted = greet };
	char line[32], want[32];
	struct vsock_hdr h;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	j.fd = sv[0];
	bring_up(f);
	assert_int_equal(vsock_connect_join(f->host, GUEST_CID, 7000, &j), 0);
	/* The peer's early bytes wait in its socket until the enclave accepted. */
	for (uint32_t i = 0; i < sizeof(in); i++)
		in[i] = pat(i);
	assert_int_equal(write(sv[1], in, sizeof(in)), sizeof(in));
	service(f);
	h = rx(f, NULL);
	assert_int_equal(h.op, VSOCK_OP_REQUEST);
	assert_true(rx_empty(f));
	tx(f, VSOCK_OP_RESPONSE, 7000, h.src_port, NULL, 0);
	snprintf(want, sizeof(want), "HELLO %u\n", h.src_port);
	read_all(f, sv[1], (uint8_t *)line, strlen(want));
	assert_memory_equal(line, want, strlen(want));
	rx_collect(f, out, sizeof(out));
	assert_memory_equal(out, in, sizeof(out));
	/* Guest to host: a packet in 19 pieces, the header cut too. */
	{
		struct vsock_hdr p = { .src_cid = GUEST_CID, .dst_cid = VSOCK_CID_PARENT, .src_port = 7000,
				       .dst_port = h.src_port, .len = 3000, .type = VSOCK_TYPE_STREAM,
				       .op = VSOCK_OP_RW, .buf_alloc = 65536 };

		tx_cut(f, &p, in, 19);
		read_all(f, sv[1], out, 3000);
		assert_memory_equal(out, in, 3000);
	}
	close(sv[1]);
	service(f);
	h = rx(f, NULL);
	assert_int_equal(h.op, VSOCK_OP_SHUTDOWN);
	assert_int_equal(h.flags, VSOCK_SHUTDOWN_BOTH);
	assert_int_equal(vsock_mux_nconns(f->mux), 0);
}

/* An rx buffer in many pieces, the header cut across the first ones: the payload lands after it, in order. */
static void test_rx_into_a_chain_of_pieces(void **state)
{
	struct fixture *f = *state;
	static const uint32_t sizes[] = { 10, 30, 7, 100, 53, 1000, 200 };
	const unsigned int n = sizeof(sizes) / sizeof(sizes[0]);
	uint8_t got[1400], in[1400];
	struct vsock_join j = { .accepted = NULL };
	struct virtq_used_elem e;
	struct vsock_hdr h;
	uint32_t off = 0;
	uint16_t d;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	j.fd = sv[0];
	drv_bring_up(&f->td, QSIZE);
	assert_int_equal(vsock_connect_join(f->host, GUEST_CID, 7001, &j), 0);
	/* One plain buffer for the REQUEST, taken back without posting another. */
	post_rx(f, 1);
	service(f);
	e = drv_used_elem(&f->td, RXQ, f->rx_used_seen++);
	vsock_hdr_decode(fake_gpa(&f->td.mem, RX_BUF + e.id * BUF_SIZE, VSOCK_HDR_SIZE), &h);
	assert_int_equal(h.op, VSOCK_OP_REQUEST);
	tx(f, VSOCK_OP_RESPONSE, 7001, h.src_port, NULL, 0);
	/* Then only the chain of pieces, with gaps between them that nothing may write. */
	d = f->td.q[RXQ].avail_idx % QSIZE;
	for (unsigned int i = 0; i < n; i++) {
		drv_indirect_desc(&f->td, RX_TABLE_GPA, (uint16_t)i, RX_BUF + off, sizes[i],
				  VIRTQ_DESC_F_WRITE | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0), (uint16_t)(i + 1));
		off += sizes[i] + 64;
	}
	memset(fake_gpa(&f->td.mem, RX_BUF, off), 0xee, off);
	drv_desc(&f->td, RXQ, d, RX_TABLE_GPA, 16 * n, VIRTQ_DESC_F_INDIRECT, 0);
	drv_avail(&f->td, RXQ, d);
	drv_kick(&f->td, RXQ);
	for (unsigned int i = 0; i < sizeof(in); i++)
		in[i] = pat(i);
	assert_int_equal(write(sv[1], in, sizeof(in)), sizeof(in));
	service(f);
	assert_int_equal(drv_used_idx(&f->td, RXQ), f->rx_used_seen + 1);
	e = drv_used_elem(&f->td, RXQ, f->rx_used_seen++);
	assert_int_equal(e.len, 1400); /* the chain's 1400 bytes: a header and 1356 bytes of payload */
	off = 0;
	for (unsigned int i = 0, done = 0; i < n; i++) {
		uint8_t *p = fake_gpa(&f->td.mem, RX_BUF + off, sizes[i] + 64);

		memcpy(got + done, p, sizes[i]);
		done += sizes[i];
		for (unsigned int k = sizes[i]; k < sizes[i] + 64; k++)
			assert_int_equal(p[k], 0xee);
		off += sizes[i] + 64;
	}
	vsock_hdr_decode(got, &h);
	assert_int_equal(h.op, VSOCK_OP_RW);
	assert_int_equal(h.len, 1400 - VSOCK_HDR_SIZE);
	assert_memory_equal(got + VSOCK_HDR_SIZE, in, h.len);
	close(sv[1]);
}

/* The host socket takes less than the guest sends (EAGAIN): the rest waits in the table, within credit. */
static void test_joined_stream_partial_writes(void **state)
{
	struct fixture *f = *state;
	static uint8_t out[PAST_HALF_WINDOW * BIG];
	struct vsock_mux_stats st;
	int sv[2], small = 4096;
	unsigned int updates = 0;
	uint32_t parent_port;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	bring_up(f);
	parent_port = join_accepted(f, sv[0], 7002);
	/* Past half the window while the peer reads nothing: its socket fills, the table keeps the rest. */
	for (uint32_t i = 0; i < PAST_HALF_WINDOW; i++)
		tx_pattern(f, 7002, parent_port, i * BIG, BIG);
	vsock_mux_lock(f->mux);
	vsock_mux_get_stats(f->mux, &st);
	vsock_mux_unlock(f->mux);
	assert_true(st.bytes_to_host < PAST_HALF_WINDOW * BIG);
	assert_int_equal(vsock_mux_nconns(f->mux), 1);
	/* The peer reads: the socket's writability lets the rest out, in order, and the guest hears of it. */
	read_all(f, sv[1], out, sizeof(out));
	for (uint32_t i = 0; i < sizeof(out); i++)
		if (out[i] != pat(i))
			fail_msg("byte %u reached the host as %#x, not %#x", i, out[i], pat(i));
	service(f);
	while (!rx_empty(f))
		updates += rx(f, NULL).op == VSOCK_OP_CREDIT_UPDATE;
	assert_true(updates >= 1);
	close(sv[1]);
}

struct join_src {
	int fd;	     /* handed out by join_from */
	int refuse;  /* or this error */
	unsigned int calls;
};

static int join_from(void *opaque, uint32_t peer_port)
{
	struct join_src *js = opaque;

	(void)peer_port;
	js->calls++;
	return js->refuse ? -js->refuse : js->fd;
}

/* listen_join: the guest's connection gets its host stream at once; a refusal is an RST. */
static void test_listen_join(void **state)
{
	struct fixture *f = *state;
	struct join_src js = { .fd = -1 };
	uint8_t got[16];
	struct vsock_hdr h;
	int sv[2], lfd;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	js.fd = sv[0];
	lfd = vsock_listen_join(f->host, 6000, join_from, &js);
	assert_true(lfd >= 0);
	bring_up(f);
	tx(f, VSOCK_OP_REQUEST, 1100, 6000, NULL, 0);
	assert_int_equal(rx(f, NULL).op, VSOCK_OP_RESPONSE);
	/* Sent before the stream's first writability confirmed its connect: kept, then delivered. */
	tx(f, VSOCK_OP_RW, 1100, 6000, "hello", 5);
	read_all(f, sv[1], got, 5);
	assert_memory_equal(got, "hello", 5);
	assert_int_equal(write(sv[1], "world", 5), 5);
	service(f);
	h = rx(f, got);
	assert_int_equal(h.op, VSOCK_OP_RW);
	assert_memory_equal(got, "world", 5);
	/* The guest closes: its SHUTDOWN both, our RST, and the peer sees the end. */
	tx(f, VSOCK_OP_SHUTDOWN, 1100, 6000, NULL, 0);
	assert_int_equal(rx(f, NULL).op, VSOCK_OP_RST);
	assert_int_equal(read(sv[1], got, sizeof(got)), 0);
	close(sv[1]);
	/* The guest shuts its sending down before the stream's connect is confirmed: the peer still sees it. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	js.fd = sv[0];
	tx(f, VSOCK_OP_REQUEST, 1103, 6000, NULL, 0);
	assert_int_equal(rx(f, NULL).op, VSOCK_OP_RESPONSE);
	{
		struct vsock_hdr s = { .src_cid = GUEST_CID, .dst_cid = VSOCK_CID_PARENT, .src_port = 1103,
				       .dst_port = 6000, .type = VSOCK_TYPE_STREAM, .op = VSOCK_OP_SHUTDOWN,
				       .flags = VSOCK_SHUTDOWN_SEND, .buf_alloc = 65536 };
		uint8_t raw[VSOCK_HDR_SIZE];

		vsock_hdr_encode(&s, raw);
		tx_raw(f, raw, sizeof(raw));
	}
	for (int spins = 0; read(sv[1], got, sizeof(got)) != 0; spins++) {
		assert_true(spins < 100000);
		service(f);
	}
	close(sv[1]);
	tx(f, VSOCK_OP_RST, 1103, 6000, NULL, 0);
	/* The source refuses: RST, no connection. */
	js.refuse = ECONNREFUSED;
	tx(f, VSOCK_OP_REQUEST, 1101, 6000, NULL, 0);
	assert_int_equal(rx(f, NULL).op, VSOCK_OP_RST);
	assert_int_equal(js.calls, 3);
	/* Not listened on any more: RST without asking the source. */
	vsock_unlisten(f->host, lfd);
	tx(f, VSOCK_OP_REQUEST, 1102, 6000, NULL, 0);
	assert_int_equal(rx(f, NULL).op, VSOCK_OP_RST);
	assert_int_equal(js.calls, 3);
	assert_int_equal(vsock_mux_nconns(f->mux), 0);
}

/* Two ends of a loopback TCP connection: *a (ours to join) and *b (the peer). */
static void tcp_pair(int *a, int *b)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &len), 0);
	*b = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(*b, (struct sockaddr *)&sa, sizeof(sa)), 0);
	*a = accept4(l, NULL, NULL, SOCK_NONBLOCK);
	assert_true(*a >= 0);
	fcntl(*b, F_SETFL, O_NONBLOCK);
	close(l);
}

/* A joined TCP stream passes resets both ways: the peer's RST is the guest's, the guest's is the peer's. */
static void test_joined_tcp_resets(void **state)
{
	struct fixture *f = *state;
	struct linger abort_close = { .l_onoff = 1, .l_linger = 0 };
	uint32_t parent_port;
	uint8_t got[8];
	int a, b, spins;

	bring_up(f);
	tcp_pair(&a, &b);
	join_accepted(f, a, 7003);
	setsockopt(b, SOL_SOCKET, SO_LINGER, &abort_close, sizeof(abort_close));
	close(b);
	for (spins = 0; rx_empty(f) && spins < 1000; spins++)
		service(f);
	assert_int_equal(rx(f, NULL).op, VSOCK_OP_RST);
	assert_int_equal(vsock_mux_nconns(f->mux), 0);
	/* The other way: the guest resets, the peer's socket is reset. */
	tcp_pair(&a, &b);
	parent_port = join_accepted(f, a, 7003);
	tx(f, VSOCK_OP_RST, 7003, parent_port, NULL, 0);
	for (spins = 0; spins < 100000; spins++) {
		ssize_t n;

		service(f); /* the socket is closed where the set is polled (stream.h) */
		n = read(b, got, sizeof(got));

		if (n < 0 && errno == EAGAIN)
			continue;
		assert_int_equal(n, -1);
		assert_int_equal(errno, ECONNRESET);
		break;
	}
	assert_true(spins < 100000);
	close(b);
}

/* Half-close over a joined TCP stream: each side's end of stream arrives after its last byte, alone. */
static void test_joined_tcp_half_close(void **state)
{
	struct fixture *f = *state;
	uint32_t parent_port;
	struct vsock_hdr h;
	uint8_t got[8];
	int a, b;

	bring_up(f);
	tcp_pair(&a, &b);
	parent_port = join_accepted(f, a, 7004);
	/* The guest sends and shuts its sending down: the peer reads the bytes, then end of stream. */
	tx(f, VSOCK_OP_RW, 7004, parent_port, "last", 4);
	{
		struct vsock_hdr s = { .src_cid = GUEST_CID, .dst_cid = VSOCK_CID_PARENT, .src_port = 7004,
				       .dst_port = parent_port, .type = VSOCK_TYPE_STREAM, .op = VSOCK_OP_SHUTDOWN,
				       .flags = VSOCK_SHUTDOWN_SEND, .buf_alloc = 65536 };
		uint8_t raw[VSOCK_HDR_SIZE];

		vsock_hdr_encode(&s, raw);
		tx_raw(f, raw, sizeof(raw));
	}
	read_all(f, b, got, 4);
	assert_memory_equal(got, "last", 4);
	for (int spins = 0; read(b, got, sizeof(got)) != 0; spins++)
		assert_true(spins < 100000);
	/* The peer still sends, then shuts down: the guest gets the bytes, then SHUTDOWN(SEND). */
	assert_int_equal(write(b, "back", 4), 4);
	shutdown(b, SHUT_WR);
	rx_collect(f, got, 4);
	assert_memory_equal(got, "back", 4);
	for (int spins = 0; rx_empty(f) && spins < 1000; spins++)
		service(f);
	h = rx(f, NULL);
	assert_int_equal(h.op, VSOCK_OP_SHUTDOWN);
	/* Both directions of the TCP connection are done now (its hang-up): the guest may hear both flags. */
	assert_true(h.flags & VSOCK_SHUTDOWN_SEND);
	close(b);
}

/*
 * The driver resets the device from a vCPU thread (a Linux guest does at probe, when a host client may already
 * be connected through a bridge), under the vCPU allow-list: no epoll_ctl, no setsockopt.  Ending the joined
 * streams there must not make those calls; the set's poll closes the sockets later.  In a child, so that the
 * allow-list (and a trap's exit) stays there.
 */
static void test_reset_on_a_vcpu_thread(void **state)
{
	struct fixture *f = *state;
	int a, b, status;
	pid_t pid;

	bring_up(f);
	tcp_pair(&a, &b);
	join_accepted(f, a, 7004);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_NAME, "vcpu0");
		if (kvm_vcpu_seccomp() < 0)
			_exit(2);
		wr32(&f->td, VIRTIO_MMIO_STATUS, 0);
		_exit(vsock_mux_nconns(f->mux) == 0 ? 0 : 3);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity_and_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heartbeat_through_the_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_connect_through_the_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transport_reset_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_joined_stream_both_ways, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_into_a_chain_of_pieces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_joined_stream_partial_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_join, setup, teardown),
		cmocka_unit_test_setup_teardown(test_joined_tcp_resets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_joined_tcp_half_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_on_a_vcpu_thread, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
