// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the virtio-vsock data path: the guest's packets (headers biased towards this guest's CID
 * and the parent so the fuzzer gets past the first checks, then anything) in chains of up to TX_MAX_SEGS
 * descriptors cut anywhere, rx buffers of any size in chains of up to RX_MAX_SEGS descriptors, and the host
 * side's moves (data, room, end of stream, failures, hang-up, reset) interleaved, against the real device,
 * transport and connection table.  Guest memory is the device tier's fake memory (guard pages around it, a
 * canary between its regions), so any access outside it is caught; the target must never crash, hang or leak,
 * and the table must stay within its bounds.
 *
 * It also checks that the bytes arrive, since they now travel as scatter lists straight between descriptor
 * segments and the host side: every stream carries a pattern that depends on its ports and offset, the fake
 * host endpoint checks each byte it is given, and every rx buffer the device returns is parsed and its payload
 * checked against what the endpoint gave.  A mismatch aborts.  A stream the input tampers with (a payload byte
 * overwritten after the pattern was laid) is not checked until its connection ends.
 *
 * Input: a sequence of operations, an opcode byte each and its arguments (see run_op).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>

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
/* Rx buffers: one per descriptor, so no two buffers in flight share memory; tx buffers after them. */
#define RX_BASE	    0x4000ULL
#define RX_BUF_SIZE 0x800ULL
#define TX_BASE	    (RX_BASE + QSIZE * RX_BUF_SIZE)
#define BUF_SIZE    0x1000ULL
#define TX_NBUFS    ((MEM_SIZE - TX_BASE) / BUF_SIZE)
#define GUEST_CID   21
#define MAX_OPS	    2048
#define MAX_EPS	    32
/* Descriptors per tx chain (a Linux skb with fragments has up to 19) and per rx chain. */
#define TX_MAX_SEGS 6
#define RX_MAX_SEGS 3
/* What a new endpoint's write() takes before the input gives it more: little, so the table's buffer is used. */
#define EP_INITIAL_ROOM 4096
/* Streams whose bytes are followed: the ports the input can name stay well below this. */
#define MAX_STREAMS 64

/* What one connection's two byte streams should carry, from the guest's point of view. */
struct stream {
	bool used;
	uint32_t host_port, guest_port;
	uint64_t tx_off;  /* guest -> host bytes sent in well-formed RW packets */
	uint64_t rx_off;  /* host -> guest bytes found in rx buffers */
	bool tainted;	  /* the input overwrote a payload byte: stop checking until a new connection */
	bool open;	  /* its connection's endpoint is alive */
};

/* An rx chain as posted: what the driver reads back once the device returns it. */
struct rx_chain {
	unsigned int nsegs;
	struct virtq_desc seg[RX_MAX_SEGS];
};

struct ep {
	bool used;
	struct vsock_conn *conn;
	struct stream *st;
	size_t room;	 /* what write() takes */
	size_t give;	 /* bytes read() can still return */
	uint64_t given;	 /* bytes read() returned so far */
	uint64_t got;	 /* bytes write() took so far */
	bool eof;
	int fail_write;	 /* write() fails with this errno when not 0 */
	int fail_read;
};

struct vm {
	uint8_t *mem; /* region 0 */
	struct virtio_mmio_dev *t;
	struct virtio_vsock *dev;
	struct vsock_mux *mux;
	uint16_t avail[3];
	uint16_t dnext[3];  /* next descriptor to use, round robin */
	uint16_t rx_used;   /* used entries of the rx queue checked so far */
	unsigned int rx_outstanding; /* rx descriptors posted and not returned: never more than the ring holds */
	struct rx_chain rx_chains[QSIZE]; /* by head descriptor */
	struct ep eps[MAX_EPS];
	struct stream streams[MAX_STREAMS];
};

static uint8_t tx_byte(const struct stream *s, uint64_t off)
{
	return (uint8_t)(off * 7 + s->guest_port * 3 + s->host_port);
}

static uint8_t rx_byte(const struct stream *s, uint64_t off)
{
	return (uint8_t)(off * 13 + s->guest_port + s->host_port * 5 + 1);
}

static struct stream *stream_find(struct vm *vm, uint32_t host_port, uint32_t guest_port)
{
	for (unsigned int i = 0; i < MAX_STREAMS; i++)
		if (vm->streams[i].used && vm->streams[i].host_port == host_port &&
		    vm->streams[i].guest_port == guest_port)
			return &vm->streams[i];
	return NULL;
}

/* A new connection on these ports: its streams start at 0 (the previous one with them is gone). */
static struct stream *stream_start(struct vm *vm, uint32_t host_port, uint32_t guest_port)
{
	struct stream *s = stream_find(vm, host_port, guest_port);

	/* Streams of live endpoints (at most MAX_EPS) are never taken over. */
	for (unsigned int i = 0; i < MAX_STREAMS && !s; i++)
		if (!vm->streams[i].used || !vm->streams[i].open)
			s = &vm->streams[i];
	if (!s)
		abort();
	*s = (struct stream){ .used = true, .open = true, .host_port = host_port, .guest_port = guest_port };
	return s;
}

static ssize_t ep_write(void *o, const struct iovec *iov, unsigned int n)
{
	struct ep *e = o;
	size_t done = 0;

	if (e->fail_write)
		return -e->fail_write;
	for (unsigned int i = 0; i < n && done < e->room; i++) {
		size_t k = iov[i].iov_len < e->room - done ? iov[i].iov_len : e->room - done;
		const uint8_t *p = iov[i].iov_base;

		for (size_t j = 0; j < k; j++)
			if (!e->st->tainted && p[j] != tx_byte(e->st, e->got + done + j))
				abort(); /* guest bytes lost, repeated or reordered on the way to the host */
		done += k;
	}
	e->room -= done;
	e->got += done;
	return (ssize_t)done;
}

static ssize_t ep_read(void *o, const struct iovec *iov, unsigned int n)
{
	struct ep *e = o;
	size_t done = 0;

	if (e->fail_read)
		return -e->fail_read;
	if (!e->give)
		return e->eof ? 0 : -EAGAIN;
	for (unsigned int i = 0; i < n && e->give; i++) {
		size_t k = iov[i].iov_len < e->give ? iov[i].iov_len : e->give;
		uint8_t *p = iov[i].iov_base;

		for (size_t j = 0; j < k; j++)
			p[j] = rx_byte(e->st, e->given + j);
		e->given += k;
		e->give -= k;
		done += k;
	}
	return (ssize_t)done;
}

static void ep_nop(void *o)
{
	(void)o;
}

static int ep_connected(void *o)
{
	(void)o;
	return 0;
}

static void ep_closed(void *o, int err)
{
	struct ep *e = o;

	(void)err;
	if (e->st)
		e->st->open = false;
	memset(e, 0, sizeof(*e));
}

static const struct vsock_endpoint_ops ep_ops = {
	.write = ep_write,
	.read = ep_read,
	.shutdown_write = ep_nop,
	.shutdown_read = ep_nop,
	.connected = ep_connected,
	.closed = ep_closed,
};

static struct ep *ep_alloc(struct vm *vm)
{
	for (unsigned int i = 0; i < MAX_EPS; i++)
		if (!vm->eps[i].used) {
			vm->eps[i] = (struct ep){ .used = true, .room = EP_INITIAL_ROOM };
			return &vm->eps[i];
		}
	return NULL;
}

static void ep_bind(struct vm *vm, struct ep *e, struct vsock_conn *c)
{
	uint32_t host_cid, host_port, guest_port;

	vsock_conn_addr(c, &host_cid, &host_port, &guest_port);
	e->conn = c;
	e->st = stream_start(vm, host_port, guest_port);
}

static int accept_ep(void *opaque, struct vsock_conn *c, uint32_t guest_port, const struct vsock_endpoint_ops **ops,
		     void **epp)
{
	struct vm *vm = opaque;
	struct ep *e = ep_alloc(vm);

	(void)guest_port;
	if (!e)
		return -1;
	ep_bind(vm, e, c);
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
	memset(vm->mem, 0, RX_BASE);
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
	vm->rx_used = 0;
	vm->rx_outstanding = 0;
	memset(vm->rx_chains, 0, sizeof(vm->rx_chains));
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

/* A well-formed RW for a connection: its payload is delivered (or the connection is reset). */
static bool delivers(const struct vsock_hdr *h)
{
	return h->op == VSOCK_OP_RW && h->src_cid == GUEST_CID && h->dst_cid == VSOCK_CID_PARENT &&
	       h->type == VSOCK_TYPE_STREAM && h->flags == 0;
}

/* Lay the stream's next bytes as the payload; later RW packets continue from where this one ends. */
static void fill_payload(struct vm *vm, const struct vsock_hdr *h, uint8_t *p, uint32_t room)
{
	struct stream *s = delivers(h) ? stream_find(vm, h->dst_port, h->src_port) : NULL;

	for (uint32_t i = 0; i < room; i++)
		p[i] = s ? tx_byte(s, s->tx_off + i) : 0;
	if (s && h->len <= room)
		s->tx_off += h->len;
}

/* Cut [0, total) into up to TX_MAX_SEGS descriptors at points the input picks. */
static void tx_chain(struct vm *vm, struct input *in, uint64_t buf, uint32_t total, uint16_t head)
{
	unsigned int nsegs = take8(in) % TX_MAX_SEGS + 1;
	uint32_t off = 0;
	uint16_t d = head;

	for (unsigned int i = 0; i < nsegs; i++) {
		uint32_t len = i + 1 == nsegs ? total - off : take16(in) % (total - off + 1);
		bool last = i + 1 == nsegs || off + len == total;
		uint16_t nd = (d + 1) % QSIZE;

		put_desc(vm, 1, d, buf + off, len, last ? 0 : VIRTQ_DESC_F_NEXT, nd);
		vm->dnext[1]++;
		off += len;
		d = nd;
		if (last)
			break;
	}
}

/* A packet from the guest: a header biased to be plausible, a payload, cut into several descriptors. */
static void op_tx(struct vm *vm, struct input *in)
{
	uint8_t mode = take8(in);
	uint16_t d = vm->dnext[1] % QSIZE;
	uint64_t buf = TX_BASE + (d % TX_NBUFS) * BUF_SIZE;
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
	struct stream *s;

	h.len = mode & 64 ? take32(in) : total - VSOCK_HDR_SIZE;
	if (h.op == VSOCK_OP_RW && !(mode & 0x5f))
		h.flags = 0; /* mostly well-formed data, so streams get far */
	vsock_hdr_encode(&h, vm->mem + buf);
	fill_payload(vm, &h, vm->mem + buf + VSOCK_HDR_SIZE, total - VSOCK_HDR_SIZE);
	if (mode & 128 && total > VSOCK_HDR_SIZE) {
		vm->mem[buf + VSOCK_HDR_SIZE] = take8(in);
		s = stream_find(vm, h.dst_port, h.src_port);
		if (s)
			s->tainted = true;
	}
	tx_chain(vm, in, buf, total, d);
	publish(vm, 1, d);
}

/* Rx buffers, each a chain of up to RX_MAX_SEGS descriptors of any size (a header may be cut too). */
static void op_rx(struct vm *vm, struct input *in)
{
	unsigned int n = take8(in) % 4 + 1;

	for (unsigned int i = 0; i < n; i++) {
		unsigned int nsegs = take8(in) % RX_MAX_SEGS + 1;
		uint16_t head = vm->dnext[0] % QSIZE;
		struct rx_chain *rc = &vm->rx_chains[head];

		/* The device uses chains in order: with at most QSIZE posted, none is rewritten in flight. */
		if (vm->rx_outstanding + nsegs > QSIZE)
			return;
		rc->nsegs = nsegs;
		for (unsigned int k = 0; k < nsegs; k++) {
			uint16_t d = vm->dnext[0]++ % QSIZE;
			uint16_t flags = VIRTQ_DESC_F_WRITE | (k + 1 < nsegs ? VIRTQ_DESC_F_NEXT : 0);

			rc->seg[k] = (struct virtq_desc){ RX_BASE + d * RX_BUF_SIZE, take16(in) % (RX_BUF_SIZE + 1),
							  flags, (d + 1) % QSIZE };
			put_desc(vm, 0, d, rc->seg[k].addr, rc->seg[k].len, flags, rc->seg[k].next);
		}
		vm->rx_outstanding += nsegs;
		publish(vm, 0, head);
	}
}

/* The bytes an rx chain's buffers hold, gathered as the driver reads them (at most len). */
static uint32_t rx_gather(struct vm *vm, const struct rx_chain *rc, uint8_t *out, uint32_t len)
{
	uint32_t done = 0;

	for (unsigned int k = 0; k < rc->nsegs && done < len; k++) {
		uint32_t n = rc->seg[k].len < len - done ? rc->seg[k].len : len - done;

		memcpy(out + done, vm->mem + rc->seg[k].addr, n);
		done += n;
	}
	return done;
}

/* Read the rx buffers the device returned, as the driver would, and check each packet's payload. */
static void rx_check(struct vm *vm)
{
	const uint8_t *used = vm->mem + 0 * RING_STRIDE + USED_OFF;
	static uint8_t pkt[RX_MAX_SEGS * RX_BUF_SIZE];
	uint16_t idx;

	memcpy(&idx, used + 2, 2);
	for (; vm->rx_used != idx; vm->rx_used++) {
		struct virtq_used_elem e;
		struct vsock_hdr h;
		struct stream *s;

		memcpy(&e, used + 4 + 8 * (vm->rx_used % QSIZE), sizeof(e));
		if (e.id >= QSIZE || !vm->rx_chains[e.id].nsegs)
			abort();
		vm->rx_outstanding -= vm->rx_chains[e.id].nsegs;
		if (e.len < VSOCK_HDR_SIZE || rx_gather(vm, &vm->rx_chains[e.id], pkt, e.len) != e.len)
			abort(); /* the device returned a buffer without a whole packet in it */
		vm->rx_chains[e.id].nsegs = 0;
		vsock_hdr_decode(pkt, &h);
		if (h.dst_cid != GUEST_CID || VSOCK_HDR_SIZE + h.len != e.len || (h.op != VSOCK_OP_RW && h.len))
			abort();
		s = h.op == VSOCK_OP_RW ? stream_find(vm, h.src_port, h.dst_port) : NULL;
		if (h.op == VSOCK_OP_RW && !s)
			abort(); /* data on a connection nobody opened */
		for (uint32_t i = 0; s && i < h.len; i++)
			if (pkt[VSOCK_HDR_SIZE + i] != rx_byte(s, s->rx_off + i))
				abort(); /* host bytes lost, repeated or reordered on the way to the guest */
		if (s)
			s->rx_off += h.len;
	}
}

static void host_move(struct vm *vm, struct ep *e, uint8_t what, struct input *in)
{
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
	case 4:
		e->fail_write = take8(in) & 1 ? EPIPE : ECONNRESET;
		vsock_mux_host_writable(vm->mux, e->conn);
		break;
	case 5:
		e->fail_read = ECONNRESET;
		vsock_mux_host_readable(vm->mux, e->conn);
		break;
	default:
		vsock_mux_host_reset(vm->mux, e->conn);
	}
}

static void op_host(struct vm *vm, struct input *in)
{
	struct ep *e = &vm->eps[take8(in) % MAX_EPS];
	uint8_t what = take8(in) % 7;

	virtio_mmio_lock(vm->t);
	vsock_mux_lock(vm->mux);
	if (e->used && e->conn) {
		host_move(vm, e, what, in);
	} else if (what == 0) {
		struct ep *n = ep_alloc(vm);
		struct vsock_conn *c;
		int err;

		if (n) {
			c = vsock_mux_connect(vm->mux, 2000 + take8(in) % 4, &ep_ops, n, &err);
			if (c)
				ep_bind(vm, n, c);
			else
				n->used = false;
		}
	}
	vsock_mux_unlock(vm->mux);
	virtio_mmio_unlock(vm->t);
	/* What the machine does when the host side's descriptor is ready. */
	virtio_vsock_host_ready(vm->dev);
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
	rx_check(vm);
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
	static struct vm vm;

	memset(&vm, 0, sizeof(vm));
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
