// SPDX-License-Identifier: MIT
/*
 * virtio-rng (virtio 1.2, 5.4): the guest hands in device-writable buffers and gets them back filled from the
 * host's getrandom(2).  Small enough to be the transport's test device as well as a useful one.
 */
#include "hw/virtio/virtio.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "common/util.h"

/* Linux keeps a single request in flight; a small ring is plenty and costs the guest little memory. */
#define VIRTIO_RNG_QUEUE_SIZE 64

struct virtio_rng {
	uint64_t bytes_served;
};

/*
 * Never block: before the host's pool is initialised GRND_NONBLOCK fails with EAGAIN, and the guest simply gets
 * fewer bytes than it asked for, which the device is allowed to give.
 */
static size_t fill_random(uint8_t *p, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = getrandom(p + done, len - done, GRND_NONBLOCK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += n;
	}
	return done;
}

/* Fill the chain's writable part (readable buffers a driver should not have sent are ignored). */
static uint32_t rng_fill(const struct virtq_chain *c)
{
	uint32_t want = MIN(c->writable_bytes, VIRTIO_RNG_MAX_PER_REQUEST), done = 0;

	for (unsigned int i = c->nr_readable; i < c->nr_readable + c->nr_writable && done < want; i++) {
		uint32_t n = MIN((uint32_t)c->seg[i].iov_len, want - done);
		size_t got = fill_random(c->seg[i].iov_base, n);

		done += got;
		if (got < n)
			break;
	}
	return done;
}

static void rng_queue_notify(void *dev, struct virtio_mmio_dev *t, unsigned queue)
{
	struct virtio_rng *rng = dev;
	struct virtq *q = virtio_mmio_vq(t, queue);
	struct virtq_chain c;

	while (virtq_pop(q, &c) > 0) {
		uint32_t n = rng_fill(&c);

		rng->bytes_served += n;
		virtq_push(q, &c, n);
	}
	virtq_signal(q);
}

static void rng_reset(void *dev)
{
	/* Nothing is kept between requests. */
	(void)dev;
}

static struct virtio_device_ops rng_ops = {
	.device_id = VIRTIO_ID_RNG,
	.num_queues = 1,
	.queue_max_size = VIRTIO_RNG_QUEUE_SIZE,
	.features = 0,
	.queue_notify = rng_queue_notify,
	.reset = rng_reset,
};

struct virtio_device_ops *virtio_rng_ops(void)
{
	return &rng_ops;
}

void *virtio_rng_new(void)
{
	return calloc(1, sizeof(struct virtio_rng));
}

void virtio_rng_free(void *rng)
{
	free(rng);
}
