// SPDX-License-Identifier: MIT
/*
 * The Nitro Secure Module's virtio device (id 33, one queue, no features, no configuration space).  The bytes'
 * meaning is src/nsm's; this file only moves them, the way both Linux drivers (drivers/misc/nsm.c since 6.8,
 * and the older out-of-tree nsm.ko) use the queue:
 *
 *   the driver adds the request as one device-readable chain (<= 4096 bytes), then the response buffer as a
 *   second, device-writable chain (0x3000 bytes), kicks once, and after the interrupt expects get_buf() to
 *   return the request first and the response second, the response length in the second used element.
 *
 * So the device pops both chains, answers, pushes used(request, 0) and then used(response, length), and
 * interrupts only after both (QEMU's virtio-nsm does the same).
 *
 * An Attestation is not answered on the thread that kicked (the event loop, which also serves vsock and the
 * console): the module copies what it needs and signs on its worker thread (nsm/worker.c), the device keeps
 * both chains in a slot, and the worker completes them, under the device lock, when the document is ready.
 * Other requests are answered at once, also while attestations wait.  Only when every slot holds one (more
 * than the Linux drivers, which keep one request in flight, ever have) do further chains stay in the ring
 * until a slot frees.  A driver reset forgets the slots: a document signed for one is dropped, not written.
 *
 * What else a guest may send:
 *   - a request over 4096 bytes: {"Error": "InputTooLarge"} (the bytes are never read);
 *   - a response buffer smaller than the answer: {"Error": "BufferTooSmall"} when that fits, else needs-reset;
 *   - a chain that mixes readable and writable parts, or a writable chain where a request belongs: an
 *     {"Error": "InvalidArgument"} in the writable part (the response buffer that exists);
 *   - a request followed by another readable chain: no response buffer to answer in, so DEVICE_NEEDS_RESET;
 *   - a request whose response chain is not published yet (the driver publishes one chain at a time, and a
 *     kick may be seen in between): it is given back untouched until the next kick.
 */
#include "hw/virtio/virtio.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "nsm/nsm.h"

/* Linux keeps one request in flight (two chains); a small ring costs the guest little.  QEMU offers 2. */
#define VIRTIO_NSM_QUEUE_SIZE 8
/* Requests whose answer is being signed: one per request/response pair the queue can hold. */
#define VIRTIO_NSM_SLOTS (VIRTIO_NSM_QUEUE_SIZE / 2)
_Static_assert(VIRTIO_NSM_SLOTS <= NSM_ASYNC_MAX, "the module must take every attestation the queue can hold");
/* A tag is the slot in its low byte and the reset epoch above it, so a stale answer is told from a fresh one. */
#define TAG_SLOT_BITS 8

struct nsm_slot {
	bool busy;
	struct virtq_chain req, resp;
};

struct virtio_nsm {
	struct nsm *nsm;
	struct virtio_mmio_dev *t; /* learned at the first kick; the worker completes through it */
	uint32_t epoch;		   /* bumped by every reset */
	struct nsm_slot slots[VIRTIO_NSM_SLOTS];
	uint8_t req[NSM_REQUEST_MAX];
	uint8_t resp[NSM_RESPONSE_MAX];
	/* Here rather than on the stack (2 KiB): callbacks run under the device lock, one at a time. */
	struct virtq_chain chains[2];
};

/* Write an error into a chain's writable part and give the chain back. */
static void answer_error(struct virtq *q, const struct virtq_chain *c, enum nsm_error e)
{
	uint8_t buf[32];
	size_t n = nsm_encode_error(e, buf, MIN(sizeof(buf), (size_t)c->writable_bytes));

	if (n)
		virtq_chain_write(c, 0, buf, n);
	virtq_push(q, c, (uint32_t)n);
}

/* Request first, then response with its length, then (by the caller) the interrupt: what both drivers check. */
static int complete(struct virtio_nsm *v, struct virtq *q, const struct virtq_chain *req,
		    const struct virtq_chain *resp, const uint8_t *answer, size_t n)
{
	if (!n) {
		virtio_mmio_device_error(v->t, "NSM: the response buffer of chain %u (%u bytes) cannot hold even an "
					       "error response", resp->head, resp->writable_bytes);
		return -1;
	}
	virtq_chain_write(resp, 0, answer, n);
	virtq_push(q, req, 0);
	virtq_push(q, resp, (uint32_t)n);
	return 0;
}

static int free_slot(const struct virtio_nsm *v)
{
	for (unsigned int i = 0; i < VIRTIO_NSM_SLOTS; i++)
		if (!v->slots[i].busy)
			return (int)i;
	return -1;
}

/* One request chain and one response chain: the answer's length, NSM_PENDING, or 0 (no room even for an error). */
static size_t serve(struct virtio_nsm *v, int slot, const struct virtq_chain *req, const struct virtq_chain *resp)
{
	size_t cap = MIN((size_t)resp->writable_bytes, sizeof(v->resp)), len;
	uint64_t tag = (uint64_t)v->epoch << TAG_SLOT_BITS | (unsigned int)slot;

	if (resp->nr_readable)
		return nsm_encode_error(NSM_E_INVALID_ARGUMENT, v->resp, cap);
	/* Not read at all: the answer does not depend on the bytes. */
	if (req->readable_bytes > NSM_REQUEST_MAX)
		return nsm_encode_error(NSM_E_INPUT_TOO_LARGE, v->resp, cap);
	/* Copied once: the guest may change its buffer while we parse. */
	len = virtq_chain_read(req, 0, v->req, req->readable_bytes);
	return nsm_submit(v->nsm, v->req, len, v->resp, cap, tag);
}

/* Device lock held.  Take request/response pairs while a slot is free to hold one that must wait. */
static void serve_queue(struct virtio_nsm *v)
{
	struct virtq *q = virtio_mmio_vq(v->t, 0);
	struct virtq_chain *req = &v->chains[0], *resp = &v->chains[1];
	size_t n;
	int r, slot;

	while ((slot = free_slot(v)) >= 0) {
		r = virtq_pop(q, req);
		if (r <= 0)
			break;
		if (req->nr_writable) {
			answer_error(q, req, NSM_E_INVALID_ARGUMENT);
			continue;
		}
		r = virtq_pop(q, resp);
		if (r < 0)
			break;
		if (r == 0) {
			virtq_unpop(q, req);
			break;
		}
		if (!resp->nr_writable) {
			virtio_mmio_device_error(v->t, "NSM: request chain %u is followed by chain %u, which has "
						       "no device-writable buffer for the response", req->head,
						 resp->head);
			break;
		}
		n = serve(v, slot, req, resp);
		if (n == NSM_PENDING) {
			v->slots[slot] = (struct nsm_slot){ .busy = true, .req = *req, .resp = *resp };
			continue;
		}
		if (complete(v, q, req, resp, v->resp, n))
			break;
	}
	virtq_signal(q);
}

static void nsm_queue_notify(void *dev, struct virtio_mmio_dev *t, unsigned queue)
{
	struct virtio_nsm *v = dev;

	(void)queue;
	v->t = t;
	serve_queue(v);
}

/* From the module's worker, when a document is signed: complete the pair, then what waited for its slot. */
static void nsm_done(void *opaque, uint64_t tag, const uint8_t *answer, size_t n)
{
	struct virtio_nsm *v = opaque;
	unsigned int slot = tag & ((1u << TAG_SLOT_BITS) - 1);
	struct nsm_slot *s;
	struct virtq *q;

	virtio_mmio_lock(v->t);
	s = &v->slots[slot];
	q = virtio_mmio_vq(v->t, 0);
	/* A reset since the request: the buffers are the driver's again, and the answer nobody's. */
	if (tag >> TAG_SLOT_BITS != v->epoch || slot >= VIRTIO_NSM_SLOTS || !s->busy) {
		virtio_mmio_unlock(v->t);
		return;
	}
	s->busy = false;
	if (virtq_chain_live(q, &s->resp))
		complete(v, q, &s->req, &s->resp, answer, n);
	serve_queue(v);
	virtio_mmio_unlock(v->t);
}

static void nsm_reset(void *dev)
{
	struct virtio_nsm *v = dev;

	/* The PCRs outlive a driver reset as they do on Nitro; the requests in flight do not. */
	v->epoch++;
	memset(v->slots, 0, sizeof(v->slots));
}

static struct virtio_device_ops nsm_ops = {
	.device_id = VIRTIO_ID_NSM,
	.num_queues = 1,
	.queue_max_size = VIRTIO_NSM_QUEUE_SIZE,
	.features = 0,
	.queue_notify = nsm_queue_notify,
	.reset = nsm_reset,
};

struct virtio_device_ops *virtio_nsm_ops(void)
{
	return &nsm_ops;
}

struct virtio_nsm *virtio_nsm_new(struct nsm *n)
{
	struct virtio_nsm *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->nsm = n;
	nsm_set_done(n, nsm_done, v);
	return v;
}

void virtio_nsm_free(void *dev)
{
	struct virtio_nsm *v = dev;

	if (!v)
		return;
	/* First: the module's worker may be completing a request through the transport. */
	nsm_free(v->nsm);
	free(v);
}

struct nsm *virtio_nsm_module(struct virtio_nsm *v)
{
	return v->nsm;
}
