// SPDX-License-Identifier: MIT
/*
 * virtio-vsock (virtio 1.2, 5.10): three queues -- rx (device to driver), tx (driver to device), event -- and
 * a configuration space holding the guest's CID.  The device only moves packets: each tx buffer becomes a
 * parsed header plus its payload, as a scatter list into the guest's buffer, for the connection table
 * (vsock/conn.c); each rx buffer is given to the table, which has the host side read the next packet's payload
 * straight into it.  The header alone is copied (out before it is parsed, in after the payload): the payload
 * crosses nitrovm once, between guest memory and the host socket.
 *
 * Host data reaches the guest when the machine sees the host side's descriptor ready and calls
 * virtio_vsock_host_ready(): the transport lock, then the table's (the one lock order), each taken once for
 * the host side's whole batch of events and the rx buffers it fills.
 */
#include "hw/virtio/virtio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "vsock/conn.h"
#include "vsock/vsock.h"

enum {
	VSOCK_QUEUE_RX = 0,
	VSOCK_QUEUE_TX = 1,
	VSOCK_QUEUE_EVENT = 2,
	VSOCK_NUM_QUEUES = 3,
};

/* Firecracker's queue size: Linux keeps one 4 KiB rx buffer per entry, so 1 MiB of guest memory in flight. */
#define VIRTIO_VSOCK_QUEUE_SIZE 256
/*
 * Rx buffers filled per read of a host stream: Linux's are 4 KiB each, so 16 take a 64 KiB write of the peer's
 * at once (one readv instead of 16).  Popped ahead and given back when the table has less to say.
 */
#define VSOCK_RX_BATCH 16
/* Configuration space: le64 guest_cid. */
#define VIRTIO_VSOCK_CONFIG_SIZE 8

struct virtio_vsock {
	struct vsock_mux *mux;
	struct virtio_mmio_dev *t;
	bool reset_event_pending; /* TRANSPORT_RESET waits for an event buffer */
	/* The rx buffers of one batch, and their payload areas as the table fills them (too large for a stack). */
	struct virtq_chain rx_chain[VSOCK_RX_BATCH];
	struct iovec rx_room[VSOCK_RX_BATCH][VSOCK_PKT_IOV_MAX];
	struct vsock_rx_buf rx_buf[VSOCK_RX_BATCH];
};

/* A chain's payload fits the scatter lists the vsock layers pass around. */
_Static_assert(VIRTQ_CHAIN_MAX_SEGS <= VSOCK_PKT_IOV_MAX, "a chain has more segments than a packet's iovec");

static void vsock_config_read(void *dev, uint64_t off, void *data, unsigned len)
{
	struct virtio_vsock *v = dev;
	uint8_t cfg[VIRTIO_VSOCK_CONFIG_SIZE];
	uint64_t cid;

	if (off >= VIRTIO_VSOCK_CONFIG_SIZE || len > VIRTIO_VSOCK_CONFIG_SIZE - off)
		return;
	vsock_mux_lock(v->mux);
	cid = vsock_mux_guest_cid(v->mux);
	vsock_mux_unlock(v->mux);
	for (unsigned int i = 0; i < VIRTIO_VSOCK_CONFIG_SIZE; i++)
		cfg[i] = (uint8_t)(cid >> (8 * i));
	memcpy(data, cfg + off, len);
}

/* Pop up to n rx chains into the device's batch; how many (0 also after a device error). */
static unsigned int vsock_pop_rx(struct virtio_vsock *v, struct virtio_mmio_dev *t, struct virtq *q, unsigned int n)
{
	unsigned int got = 0;

	for (; got < n && virtq_pop(q, &v->rx_chain[got]) > 0; got++) {
		struct virtq_chain *c = &v->rx_chain[got];

		if (c->writable_bytes < VSOCK_HDR_SIZE) {
			virtio_mmio_device_error(t, "vsock: rx buffer of %u bytes cannot hold a %d-byte header",
						 c->writable_bytes, VSOCK_HDR_SIZE);
			return 0;
		}
		/* The payload goes after the header, and is written before it: only then is its length known. */
		v->rx_buf[got].room = v->rx_room[got];
		v->rx_buf[got].nroom = virtq_chain_iov(c, true, VSOCK_HDR_SIZE, VSOCK_MAX_PKT_PAYLOAD, v->rx_room[got],
						       VSOCK_PKT_IOV_MAX);
	}
	return got;
}

/*
 * Both locks held.  Fill rx buffers while the table has packets for the guest.  One buffer at a time until
 * data fills one whole: then VSOCK_RX_BATCH at a time, so a stream moves with one read per batch.  The caller
 * signals the queue, once, after everything else it has for the guest.
 */
static void vsock_fill_rx(struct virtio_vsock *v, struct virtio_mmio_dev *t)
{
	struct virtq *q = virtio_mmio_vq(t, VSOCK_QUEUE_RX);
	unsigned int batch = 1;

	while (vsock_mux_guest_pending(v->mux)) {
		unsigned int popped = vsock_pop_rx(v, t, q, batch), used, i;

		if (!popped)
			break;
		used = vsock_mux_guest_fill(v->mux, v->rx_buf, popped);
		for (i = 0; i < used; i++) {
			uint8_t raw[VSOCK_HDR_SIZE];

			vsock_hdr_encode(&v->rx_buf[i].h, raw);
			virtq_chain_write(&v->rx_chain[i], 0, raw, sizeof(raw));
			virtq_push(q, &v->rx_chain[i], VSOCK_HDR_SIZE + v->rx_buf[i].h.len);
		}
		if (used < popped) {
			virtq_unpop_n(q, &v->rx_chain[used], popped - used);
			break;
		}
		if (v->rx_buf[used - 1].h.op == VSOCK_OP_RW)
			batch = VSOCK_RX_BATCH;
	}
}

/* Both locks held.  One tx chain: header copied out, checks the table cannot make, payload handed over in place. */
static void vsock_tx_one(struct virtio_vsock *v, const struct virtq_chain *c)
{
	struct iovec payload[VSOCK_PKT_IOV_MAX];
	uint8_t raw[VSOCK_HDR_SIZE];
	struct vsock_hdr h;
	char why[96];

	if (c->readable_bytes < VSOCK_HDR_SIZE) {
		snprintf(why, sizeof(why), "tx buffer of %u bytes is shorter than a header", c->readable_bytes);
		vsock_mux_guest_bad_packet(v->mux, NULL, why);
		return;
	}
	virtq_chain_read(c, 0, raw, sizeof(raw));
	vsock_hdr_decode(raw, &h);
	if (h.len > VSOCK_MAX_PKT_PAYLOAD) {
		snprintf(why, sizeof(why), "len %u is over the %d-byte packet limit", h.len, VSOCK_MAX_PKT_PAYLOAD);
		vsock_mux_guest_bad_packet(v->mux, &h, why);
		return;
	}
	if (h.len > c->readable_bytes - VSOCK_HDR_SIZE) {
		snprintf(why, sizeof(why), "len %u but only %u payload bytes in the buffer", h.len,
			 c->readable_bytes - VSOCK_HDR_SIZE);
		vsock_mux_guest_bad_packet(v->mux, &h, why);
		return;
	}
	vsock_mux_guest_packet(v->mux, &h, payload,
			       virtq_chain_iov(c, false, VSOCK_HDR_SIZE, h.len, payload, VSOCK_PKT_IOV_MAX));
}

static void vsock_process_tx(struct virtio_vsock *v, struct virtio_mmio_dev *t)
{
	struct virtq *q = virtio_mmio_vq(t, VSOCK_QUEUE_TX);
	struct virtq_chain c;

	while (virtq_pop(q, &c) > 0) {
		vsock_tx_one(v, &c);
		virtq_push(q, &c, 0);
	}
}

/* Transport lock held: deliver a pending TRANSPORT_RESET if the driver gave an event buffer. */
static void vsock_deliver_event(struct virtio_vsock *v, struct virtio_mmio_dev *t)
{
	struct virtq *q = virtio_mmio_vq(t, VSOCK_QUEUE_EVENT);
	uint8_t ev[VSOCK_EVENT_SIZE] = { VSOCK_EVENT_TRANSPORT_RESET, 0, 0, 0 }; /* le32 id */
	struct virtq_chain c;

	if (!v->reset_event_pending || virtq_pop(q, &c) <= 0)
		return;
	if (c.writable_bytes < VSOCK_EVENT_SIZE) {
		virtio_mmio_device_error(t, "vsock: event buffer of %u bytes cannot hold an event", c.writable_bytes);
		return;
	}
	virtq_chain_write(&c, 0, ev, sizeof(ev));
	virtq_push(q, &c, sizeof(ev));
	virtq_signal(q);
	v->reset_event_pending = false;
}

static void vsock_queue_notify(void *dev, struct virtio_mmio_dev *t, unsigned queue)
{
	struct virtio_vsock *v = dev;

	if (queue == VSOCK_QUEUE_EVENT) {
		vsock_deliver_event(v, t);
		return;
	}
	vsock_mux_lock(v->mux);
	if (queue == VSOCK_QUEUE_TX)
		vsock_process_tx(v, t);
	/* Replies to what the guest sent, or the rx buffers it just gave: fill them either way. */
	vsock_fill_rx(v, t);
	vsock_mux_unlock(v->mux);
	/*
	 * The used tx buffers are signalled with the rx buffers the replies (a CREDIT_UPDATE) filled, not before
	 * that work: the guest then takes one interrupt for both instead of one for each.
	 */
	if (queue == VSOCK_QUEUE_TX)
		virtq_signal(virtio_mmio_vq(t, VSOCK_QUEUE_TX));
	virtq_signal(virtio_mmio_vq(t, VSOCK_QUEUE_RX));
}

static void vsock_reset(void *dev)
{
	struct virtio_vsock *v = dev;

	/* The driver forgot every connection; so do we, and the host side sees them hang up. */
	vsock_mux_lock(v->mux);
	vsock_mux_reset(v->mux);
	vsock_mux_unlock(v->mux);
	v->reset_event_pending = false;
}

static struct virtio_device_ops vsock_ops = {
	.device_id = VIRTIO_ID_VSOCK,
	.num_queues = VSOCK_NUM_QUEUES,
	.queue_max_size = VIRTIO_VSOCK_QUEUE_SIZE,
	.features = 0, /* stream sockets only: no VIRTIO_VSOCK_F_SEQPACKET */
	.config_read = vsock_config_read,
	.queue_notify = vsock_queue_notify,
	.reset = vsock_reset,
};

struct virtio_device_ops *virtio_vsock_ops(void)
{
	return &vsock_ops;
}

void virtio_vsock_host_ready(struct virtio_vsock *v)
{
	virtio_mmio_lock(v->t);
	vsock_mux_lock(v->mux);
	vsock_mux_poll_host(v->mux);
	vsock_fill_rx(v, v->t);
	vsock_mux_unlock(v->mux);
	virtq_signal(virtio_mmio_vq(v->t, VSOCK_QUEUE_RX));
	virtio_mmio_unlock(v->t);
}

struct virtio_vsock *virtio_vsock_new(struct vsock_mux *m)
{
	struct virtio_vsock *v = calloc(1, sizeof(*v));

	if (!v) {
		err_set(ENOMEM, "out of memory creating the virtio-vsock device");
		return NULL;
	}
	v->mux = m;
	return v;
}

void virtio_vsock_attach(struct virtio_vsock *v, struct virtio_mmio_dev *t)
{
	v->t = t;
}

void virtio_vsock_free(void *dev)
{
	free(dev);
}

void virtio_vsock_transport_reset(struct virtio_vsock *v)
{
	virtio_mmio_lock(v->t);
	vsock_mux_lock(v->mux);
	vsock_mux_reset(v->mux);
	vsock_mux_unlock(v->mux);
	v->reset_event_pending = true;
	vsock_deliver_event(v, v->t);
	virtio_mmio_unlock(v->t);
}
