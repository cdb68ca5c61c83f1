// SPDX-License-Identifier: MIT
/*
 * virtio-vsock against the fake guest memory: the device, the connection table and the emulated parent side
 * with real socketpairs, driven the way Linux's virtio_transport drives them.  Buffers live in region 1:
 * tx buffers at +0x0000.., rx at +0x8000.., one 4 KiB descriptor each.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity_and_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heartbeat_through_the_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_connect_through_the_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transport_reset_event, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
