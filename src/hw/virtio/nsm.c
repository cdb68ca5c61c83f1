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
 * interrupts only after both (QEMU's virtio-nsm does the same).  What else a guest may send:
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

struct virtio_nsm {
	struct nsm *nsm;
	struct virtio_nsm_stats stats;
	uint8_t req[NSM_REQUEST_MAX];
	uint8_t resp[NSM_RESPONSE_MAX];
	/* Here rather than on the stack (2 KiB): callbacks run under the device lock, one at a time. */
	struct virtq_chain chains[2];
};

/* Write an error into a chain's writable part and give the chain back. */
static void answer_error(struct virtq *q, const struct virtq_chain *c, enum nsm_error e, struct virtio_nsm *v)
{
	uint8_t buf[32];
	size_t n = nsm_encode_error(e, buf, MIN(sizeof(buf), (size_t)c->writable_bytes));

	if (n)
		virtq_chain_write(c, 0, buf, n);
	v->stats.malformed++;
	virtq_push(q, c, (uint32_t)n);
}

/* One request chain and one response chain: the answer's length, or -1 when the device must be reset. */
static int serve(struct virtio_nsm *v, const struct virtq_chain *req, const struct virtq_chain *resp)
{
	size_t cap = MIN((size_t)resp->writable_bytes, sizeof(v->resp)), n;

	if (resp->nr_readable) {
		n = nsm_encode_error(NSM_E_INVALID_ARGUMENT, v->resp, cap);
		v->stats.malformed++;
	} else if (req->readable_bytes > NSM_REQUEST_MAX) {
		/* Not read at all: the answer does not depend on the bytes. */
		n = nsm_encode_error(NSM_E_INPUT_TOO_LARGE, v->resp, cap);
	} else {
		/* Copied once: the guest may change its buffer while we parse. */
		size_t len = virtq_chain_read(req, 0, v->req, req->readable_bytes);

		n = nsm_handle(v->nsm, v->req, len, v->resp, cap);
	}
	if (!n)
		return -1;
	virtq_chain_write(resp, 0, v->resp, n);
	v->stats.requests++;
	return (int)n;
}

static void nsm_queue_notify(void *dev, struct virtio_mmio_dev *t, unsigned queue)
{
	struct virtio_nsm *v = dev;
	struct virtq *q = virtio_mmio_vq(t, queue);
	struct virtq_chain *req = &v->chains[0], *resp = &v->chains[1];
	int r, n;

	for (;;) {
		r = virtq_pop(q, req);
		if (r <= 0)
			break;
		if (req->nr_writable) {
			answer_error(q, req, NSM_E_INVALID_ARGUMENT, v);
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
			virtio_mmio_device_error(t, "NSM: request chain %u is followed by chain %u, which has no "
						    "device-writable buffer for the response", req->head, resp->head);
			break;
		}
		n = serve(v, req, resp);
		if (n < 0) {
			virtio_mmio_device_error(t, "NSM: the response buffer of chain %u (%u bytes) cannot hold even "
						    "an error response", resp->head, resp->writable_bytes);
			break;
		}
		/* Request first, then response, then (below) the interrupt: the order both drivers check. */
		virtq_push(q, req, 0);
		virtq_push(q, resp, (uint32_t)n);
	}
	virtq_signal(q);
}

static void nsm_reset(void *dev)
{
	/* Nothing is held between requests; the PCRs outlive a driver reset as they do on Nitro. */
	(void)dev;
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

	if (v)
		v->nsm = n;
	return v;
}

void virtio_nsm_free(void *dev)
{
	struct virtio_nsm *v = dev;

	if (!v)
		return;
	nsm_free(v->nsm);
	free(v);
}

struct nsm *virtio_nsm_module(struct virtio_nsm *v)
{
	return v->nsm;
}

void virtio_nsm_get_stats(const struct virtio_nsm *v, struct virtio_nsm_stats *s)
{
	*s = v->stats;
}
