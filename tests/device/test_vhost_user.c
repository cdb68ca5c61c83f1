// SPDX-License-Identifier: MIT
/*
 * vhost-user between nitrovm's two sides, without KVM: a driver (virtio_harness, as Linux's virtio_mmio drives a
 * transport) on the frontend's device, the frontend connected to nitrovm's backend serving on its own thread
 * and loop.  Guest memory is a sealed memfd the backend maps.  The driver's packets cross to the backend through
 * the shared rings and the kick eventfds; the backend's answers come back in the rx ring (the test polls the used
 * ring: its frontend has no loop, so no interrupts).  What the end-to-end test (tests/e2e/test_vhost_user.py)
 * does with real Linux and KVM, here in milliseconds and under the sanitizers.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/evloop.h"
#include "common/util.h"
#include "vhost/vhost.h"
#include "virtio_harness.h"
#include "vsock/vsock.h"

#define GUEST_CID 7
#define QSIZE	  8
#define RXQ	  0
#define TXQ	  1
#define MEM_SIZE  0x20000 /* rings of three queues below 0xc000, buffers from 0x10000 */
#define TX_BUF	  0x10000ULL
#define RX_BUF	  0x18000ULL
#define BUF_SIZE  0x1000

struct fixture {
	struct test_dev td;
	int memfd;
	uint8_t *mem;
	char sock[64];
	struct vhost_vsock_config cfg;
	struct evloop *loop;
	struct vhost_vsock_backend *b;
	pthread_t thread;
	struct vhost_vsock_frontend *f;
	uint16_t rx_used_seen;
	int gone;
};

static void *backend_thread(void *arg)
{
	struct fixture *fx = arg;

	evloop_run(fx->loop);
	return NULL;
}

static void gone(void *opaque, const char *why)
{
	struct fixture *fx = opaque;

	(void)why;
	fx->gone++;
}

static int setup(void **state)
{
	static struct fixture fx;

	memset(&fx, 0, sizeof(fx));
	snprintf(fx.sock, sizeof(fx.sock), "/tmp/nitrovm-test-vhost-%d.sock", (int)getpid());
	fx.memfd = memfd_create("guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fx.memfd < 0 || ftruncate(fx.memfd, MEM_SIZE) < 0 ||
	    fcntl(fx.memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
		return -1;
	fx.mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fx.memfd, 0);
	if (fx.mem == MAP_FAILED)
		return -1;
	fx.td.mem.gm.nregions = 1;
	fx.td.mem.gm.regions[0] = (struct guest_mem_region){ 0, MEM_SIZE, fx.mem };
	fx.cfg = (struct vhost_vsock_config){ .guest_cid = GUEST_CID, .socket = fx.sock, .heartbeat = true };
	fx.loop = evloop_create();
	fx.b = fx.loop ? vhost_vsock_backend_start(fx.loop, &fx.cfg) : NULL;
	if (!fx.b || pthread_create(&fx.thread, NULL, backend_thread, &fx))
		return -1;
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	if (fx->td.t)
		virtio_mmio_destroy(fx->td.t);
	vhost_vsock_frontend_free(fx->f);
	evloop_stop(fx->loop);
	pthread_join(fx->thread, NULL);
	vhost_vsock_backend_stop(fx->b);
	evloop_destroy(fx->loop);
	munmap(fx->mem, MEM_SIZE);
	close(fx->memfd);
	return 0;
}

static void connect_frontend(struct fixture *fx)
{
	fx->f = vhost_vsock_frontend_connect(fx->sock, &fx->td.mem.gm, fx->memfd, fx->mem, NULL, gone, fx);
	if (!fx->f)
		fail_msg("the frontend did not connect: %s", err_msg());
	fx->td.ops = vhost_vsock_frontend_ops(fx->f);
	fx->td.dev = fx->f;
	fx->td.t = virtio_mmio_create(&fx->td.mem.gm, fx->td.ops, fx->f, NULL, NULL);
	assert_non_null(fx->td.t);
	vhost_vsock_frontend_attach(fx->f, fx->td.t);
}

static void post_rx(struct fixture *fx, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		uint16_t d = fx->td.q[RXQ].avail_idx % QSIZE;

		drv_desc(&fx->td, RXQ, d, RX_BUF + d * BUF_SIZE, BUF_SIZE, VIRTQ_DESC_F_WRITE, 0);
		drv_avail(&fx->td, RXQ, d);
	}
	drv_kick(&fx->td, RXQ);
}

static void tx(struct fixture *fx, uint16_t op, uint32_t src_port, uint32_t dst_port, const void *data, uint32_t len)
{
	struct vsock_hdr h = { .src_cid = GUEST_CID, .dst_cid = VSOCK_CID_PARENT, .src_port = src_port,
			       .dst_port = dst_port, .len = len, .type = VSOCK_TYPE_STREAM, .op = op,
			       .buf_alloc = 65536 };
	uint16_t d = fx->td.q[TXQ].avail_idx % QSIZE;
	uint8_t *p = fake_gpa(&fx->td.mem, TX_BUF + d * BUF_SIZE, VSOCK_HDR_SIZE + len);

	vsock_hdr_encode(&h, p);
	memcpy(p + VSOCK_HDR_SIZE, data, len);
	drv_desc(&fx->td, TXQ, d, TX_BUF + d * BUF_SIZE, VSOCK_HDR_SIZE + len, 0, 0);
	drv_avail(&fx->td, TXQ, d);
	drv_kick(&fx->td, TXQ);
}

/* The next packet the backend put in an rx buffer, waiting up to 5 s for it (it serves on its own thread). */
static struct vsock_hdr rx(struct fixture *fx, uint8_t *data)
{
	struct timespec ts = { 0, 1000000 };
	struct virtq_used_elem e;
	struct vsock_hdr h;
	uint8_t *p;

	for (int i = 0; i < 5000 && drv_used_idx(&fx->td, RXQ) == fx->rx_used_seen; i++)
		nanosleep(&ts, NULL);
	assert_int_not_equal(drv_used_idx(&fx->td, RXQ), fx->rx_used_seen);
	e = drv_used_elem(&fx->td, RXQ, fx->rx_used_seen++);
	p = fake_gpa(&fx->td.mem, RX_BUF + e.id * BUF_SIZE, BUF_SIZE);
	vsock_hdr_decode(p, &h);
	assert_int_equal(e.len, VSOCK_HDR_SIZE + h.len);
	if (data)
		memcpy(data, p + VSOCK_HDR_SIZE, h.len);
	post_rx(fx, 1);
	return h;
}

static void test_config_is_the_backends_cid(void **state)
{
	struct fixture *fx = *state;
	uint64_t cid = 0;

	connect_frontend(fx);
	assert_int_equal(vhost_vsock_frontend_cid(fx->f), GUEST_CID);
	assert_int_equal(rd32(&fx->td, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_VSOCK);
	virtio_mmio_access(fx->td.t, VIRTIO_MMIO_CONFIG, &cid, 8, false);
	assert_int_equal(cid, GUEST_CID);
}

/* The enclave's heartbeat, as its init sends it: REQUEST to CID 3 port 9000, 0xB7, the echo, both shut down. */
static void test_heartbeat_through_the_backend(void **state)
{
	struct fixture *fx = *state;
	uint8_t b = VSOCK_HEARTBEAT_BYTE, got[8];
	struct vsock_hdr h;

	connect_frontend(fx);
	drv_bring_up(&fx->td, QSIZE);
	post_rx(fx, QSIZE);
	tx(fx, VSOCK_OP_REQUEST, 1000, VSOCK_HEARTBEAT_PORT, NULL, 0);
	h = rx(fx, NULL);
	assert_int_equal(h.op, VSOCK_OP_RESPONSE);
	assert_int_equal(h.dst_cid, GUEST_CID);
	assert_int_equal(h.src_cid, VSOCK_CID_PARENT);
	tx(fx, VSOCK_OP_RW, 1000, VSOCK_HEARTBEAT_PORT, &b, 1);
	do
		h = rx(fx, got);
	while (h.op == VSOCK_OP_CREDIT_UPDATE);
	assert_int_equal(h.op, VSOCK_OP_RW);
	assert_int_equal(h.len, 1);
	assert_int_equal(got[0], VSOCK_HEARTBEAT_BYTE);
	/* A port nobody serves there: refused, as on Nitro. */
	tx(fx, VSOCK_OP_REQUEST, 1001, 4444, NULL, 0);
	do
		h = rx(fx, NULL);
	while (h.dst_port != 1001);
	assert_int_equal(h.op, VSOCK_OP_RST);
	assert_int_equal(fx->gone, 0);
}

/* The driver resets the device: the rings stop at the backend (GET_VRING_BASE), and it can start again. */
static void test_reset_and_start_again(void **state)
{
	struct fixture *fx = *state;
	struct vsock_hdr h;

	connect_frontend(fx);
	drv_bring_up(&fx->td, QSIZE);
	wr32(&fx->td, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(fx->gone, 0);
	memset(fx->mem, 0, 0x10000); /* fresh rings, as a driver's second probe would have */
	memset(fx->td.q, 0, sizeof(fx->td.q));
	fx->rx_used_seen = 0;
	drv_bring_up(&fx->td, QSIZE);
	post_rx(fx, QSIZE);
	tx(fx, VSOCK_OP_REQUEST, 2000, VSOCK_HEARTBEAT_PORT, NULL, 0);
	h = rx(fx, NULL);
	assert_int_equal(h.op, VSOCK_OP_RESPONSE);
	assert_int_equal(fx->gone, 0);
}

static void test_no_backend_is_one_sentence(void **state)
{
	struct fixture *fx = *state;
	struct vhost_vsock_frontend *f =
		vhost_vsock_frontend_connect("/tmp/nitrovm-test-no-such.sock", &fx->td.mem.gm, fx->memfd, fx->mem, NULL,
					     gone, fx);

	assert_null(f);
	assert_non_null(strstr(err_msg(), "cannot connect to the vhost-user backend"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_is_the_backends_cid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heartbeat_through_the_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_and_start_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_backend_is_one_sentence, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
