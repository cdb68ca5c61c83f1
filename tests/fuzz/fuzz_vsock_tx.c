// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the virtio-vsock tx path: the guest's packets (headers biased towards this guest's CID
 * and the parent so the fuzzer gets past the first checks, then anything), rx buffers of any size, and the
 * host side's moves (data, room, hang-up, reset) interleaved, against the real device, transport and
 * connection table.  Guest memory is one exactly-sized heap block, so AddressSanitizer reports any access
 * outside it; the target must never crash, hang or leak, and the table must stay within its bounds.
 *
 * Input: a sequence of operations, an opcode byte each and its arguments (see run_op).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "fake_mem.h"
#include "fuzz_input.h"
#include "hw/virtio/virtio.h"
#include "vsock/conn.h"

/* Guest memory is the device tier's fake memory (fake_mem.h); everything lives in its region 0 at gpa 0. */
#define MEM_SIZE    FAKE_R0_SIZE
#define QSIZE	    16
#define RING_STRIDE 0x1000ULL
#define AVAIL_OFF   0x400ULL
#define USED_OFF    0x800ULL
#define BUF_BASE    0x4000ULL
#define BUF_SIZE    0x1000ULL
#define NBUFS	    ((MEM_SIZE - BUF_BASE) / BUF_SIZE)
#define GUEST_CID   21
#define MAX_OPS	    2048
#define MAX_EPS	    32

struct ep {
	bool used;
	struct vsock_conn *conn;
	size_t room;	   /* what write() takes */
	size_t give;	   /* bytes read() can still return */
	bool eof;
};

struct vm {
	uint8_t *mem; /* region 0 */
	struct virtio_mmio_dev *t;
	struct virtio_vsock *dev;
	struct vsock_mux *mux;
	uint16_t avail[3];
	uint16_t dnext[3]; /* next descriptor to use, round robin */
	struct ep eps[MAX_EPS];
};

static ssize_t ep_write(void *o, const uint8_t *buf, size_t len)
{
	struct ep *e = o;
	size_t n = len < e->room ? len : e->room;

	(void)buf;
	e->room -= n;
	return (ssize_t)n;
}

static ssize_t ep_read(void *o, uint8_t *buf, size_t len)
{
	struct ep *e = o;
	size_t n = len < e->give ? len : e->give;

	if (!n)
		return e->eof ? 0 : -11; /* -EAGAIN */
	memset(buf, 'h', n);
	e->give -= n;
	return (ssize_t)n;
}

static void ep_nop(void *o)
{
	(void)o;
}

static void ep_closed(void *o, int err)
{
	struct ep *e = o;

	(void)err;
	memset(e, 0, sizeof(*e));
}

static const struct vsock_endpoint_ops ep_ops = {
	.write = ep_write,
	.read = ep_read,
	.shutdown_write = ep_nop,
	.shutdown_read = ep_nop,
	.connected = ep_nop,
	.closed = ep_closed,
};

static struct ep *ep_alloc(struct vm *vm)
{
	for (unsigned int i = 0; i < MAX_EPS; i++)
		if (!vm->eps[i].used) {
			vm->eps[i] = (struct ep){ .used = true, .room = 1 << 20 };
			return &vm->eps[i];
		}
	return NULL;
}

static int accept_ep(void *opaque, struct vsock_conn *c, uint32_t guest_port, const struct vsock_endpoint_ops **ops,
		     void **epp)
{
	struct ep *e = ep_alloc(opaque);

	(void)guest_port;
	if (!e)
		return -1;
	e->conn = c;
	*ops = &ep_ops;
	*epp = e;
	return 0;
}

static void noirq(void *opaque)
{
	(void)opaque;
}

static void wr32(struct vm *vm, uint64_t off, uint32_t v)
{
	virtio_mmio_access(vm->t, off, &v, 4, true);
}

static uint32_t rd32(struct vm *vm, uint64_t off)
{
	uint32_t v;

	virtio_mmio_access(vm->t, off, &v, 4, false);
	return v;
}

static void bring_up(struct vm *vm)
{
	wr32(vm, VIRTIO_MMIO_STATUS, 0);
	wr32(vm, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr32(vm, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr32(vm, VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VERSION_1 */
	wr32(vm, VIRTIO_MMIO_STATUS, rd32(vm, VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_FEATURES_OK);
	memset(vm->mem, 0, BUF_BASE);
	for (unsigned int i = 0; i < 3; i++) {
		uint64_t base = i * RING_STRIDE;

		wr32(vm, VIRTIO_MMIO_QUEUE_SEL, i);
		wr32(vm, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
		wr32(vm, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)base);
		wr32(vm, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(base + AVAIL_OFF));
		wr32(vm, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)(base + USED_OFF));
		wr32(vm, VIRTIO_MMIO_QUEUE_READY, 1);
		vm->avail[i] = 0;
		vm->dnext[i] = 0;
	}
	wr32(vm, VIRTIO_MMIO_STATUS, rd32(vm, VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_DRIVER_OK);
}

static void put_desc(struct vm *vm, unsigned int q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	struct virtq_desc d = { addr, len, flags, next };

	memcpy(vm->mem + q * RING_STRIDE + 16ULL * (i % QSIZE), &d, sizeof(d));
}

static void publish(struct vm *vm, unsigned int q, uint16_t head)
{
	uint8_t *a = vm->mem + q * RING_STRIDE + AVAIL_OFF;
	uint16_t idx = vm->avail[q]++;

	memcpy(a + 4 + 2 * (idx % QSIZE), &head, 2);
	idx++;
	memcpy(a + 2, &idx, 2);
	virtio_mmio_queue_notify(vm->t, q);
}

/* A packet from the guest: a header biased to be plausible, a payload, split over one or two descriptors. */
static void op_tx(struct vm *vm, struct input *in)
{
	uint8_t mode = take8(in);
	uint16_t d = vm->dnext[1]++ % QSIZE;
	uint64_t buf = BUF_BASE + (d % NBUFS) * BUF_SIZE;
	struct vsock_hdr h = {
		.src_cid = mode & 1 ? take32(in) : GUEST_CID,
		.dst_cid = mode & 2 ? take32(in) : VSOCK_CID_PARENT,
		.src_port = 1000 + take8(in) % 8,
		.dst_port = mode & 4 ? take32(in) : 5000 + take8(in) % 2,
		.type = mode & 8 ? take16(in) : VSOCK_TYPE_STREAM,
		.op = take8(in) % 9,
		.flags = mode & 16 ? take32(in) : (take8(in) & 3),
		.buf_alloc = take16(in) * 16,
		.fwd_cnt = take16(in) * 16,
	};
	uint32_t total = VSOCK_HDR_SIZE + take16(in) % (BUF_SIZE - VSOCK_HDR_SIZE);
	uint32_t split = mode & 32 ? take16(in) % total : total;

	h.len = mode & 64 ? take32(in) : total - VSOCK_HDR_SIZE;
	vsock_hdr_encode(&h, vm->mem + buf);
	if (mode & 128 && total > VSOCK_HDR_SIZE)
		vm->mem[buf + VSOCK_HDR_SIZE] = take8(in);
	if (split && split < total) {
		uint16_t d2 = (d + 1) % QSIZE;

		put_desc(vm, 1, d, buf, split, VIRTQ_DESC_F_NEXT, d2);
		put_desc(vm, 1, d2, buf + split, total - split, 0, 0);
		vm->dnext[1]++;
	} else {
		put_desc(vm, 1, d, buf, total, 0, 0);
	}
	publish(vm, 1, d);
}

static void op_rx(struct vm *vm, struct input *in)
{
	unsigned int n = take8(in) % 4 + 1;

	for (unsigned int i = 0; i < n; i++) {
		uint16_t d = vm->dnext[0]++ % QSIZE;

		put_desc(vm, 0, d, BUF_BASE + (d % NBUFS) * BUF_SIZE, take16(in) % (BUF_SIZE + 1),
			 VIRTQ_DESC_F_WRITE, 0);
		publish(vm, 0, d);
	}
}

static void op_host(struct vm *vm, struct input *in)
{
	struct ep *e = &vm->eps[take8(in) % MAX_EPS];
	uint8_t what = take8(in) % 5;

	virtio_mmio_lock(vm->t);
	vsock_mux_lock(vm->mux);
	if (e->used && e->conn) {
		switch (what) {
		case 0:
			e->give += take16(in);
			vsock_mux_host_readable(vm->mux, e->conn);
			break;
		case 1:
			e->room += take16(in);
			vsock_mux_host_writable(vm->mux, e->conn);
			break;
		case 2:
			e->eof = true;
			vsock_mux_host_readable(vm->mux, e->conn);
			break;
		case 3:
			vsock_mux_host_hangup(vm->mux, e->conn);
			break;
		default:
			vsock_mux_host_reset(vm->mux, e->conn);
		}
	} else if (what == 0) {
		struct ep *n = ep_alloc(vm);
		int err;

		if (n) {
			n->conn = vsock_mux_connect(vm->mux, 2000 + take8(in) % 4, &ep_ops, n, &err);
			if (!n->conn)
				n->used = false;
		}
	}
	vsock_mux_unlock(vm->mux);
	virtio_mmio_unlock(vm->t);
	vsock_mux_kick(vm->mux);
}

static void run_op(struct vm *vm, struct input *in)
{
	switch (take8(in) % 8) {
	case 0:
	case 1:
	case 2:
		op_tx(vm, in);
		break;
	case 3:
	case 4:
		op_rx(vm, in);
		break;
	case 5:
		op_host(vm, in);
		break;
	case 6:
		if (take8(in) < 16)
			bring_up(vm);
		break;
	case 7:
		if (take8(in) < 16)
			virtio_vsock_transport_reset(vm->dev);
		break;
	}
}

static void quiet(const char *line)
{
	(void)line;
}

static struct fake_mem mem;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	vsock_set_log(quiet);
	virtio_set_log(quiet);
	if (fake_mem_init(&mem, false))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct vm vm = { 0 };

	fake_mem_clear(&mem);
	vm.mem = fake_r0(&mem);
	vm.mux = vsock_mux_create();
	vsock_mux_set_guest_cid(vm.mux, GUEST_CID);
	vsock_mux_listen(vm.mux, VSOCK_CID_PARENT, 5000, accept_ep, &vm);
	vm.dev = virtio_vsock_new(vm.mux);
	vm.t = virtio_mmio_create(&mem.gm, virtio_vsock_ops(), vm.dev, noirq, NULL);
	virtio_vsock_attach(vm.dev, vm.t);
	bring_up(&vm);
	for (unsigned int i = 0; i < MAX_OPS && in.left; i++)
		run_op(&vm, &in);
	if (vsock_mux_nconns(vm.mux) > VSOCK_MAX_CONNECTIONS)
		abort();
	virtio_mmio_destroy(vm.t);
	virtio_vsock_free(vm.dev);
	vsock_mux_destroy(vm.mux);
	if (!fake_canary_intact(&mem))
		abort();
	return 0;
}
