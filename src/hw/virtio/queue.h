/* SPDX-License-Identifier: MIT */
/*
 * Private to the virtio-mmio transport (mmio.c) and the split-ring code (queue.c).  Devices use virtio.h only.
 */
#ifndef NITROVM_HW_VIRTIO_QUEUE_H
#define NITROVM_HW_VIRTIO_QUEUE_H

#include <pthread.h>

#include "hw/virtio/virtio.h"

struct virtq {
	struct virtio_mmio_dev *t;
	unsigned index;

	/* Registers as the driver last wrote them; they take effect when it writes 1 to QueueReady. */
	uint32_t num;
	uint64_t desc_gpa;
	uint64_t avail_gpa;
	uint64_t used_gpa;
	bool ready;
	/* The driver kicked before DRIVER_OK (Linux's nsm and hwrng probes do): served once DRIVER_OK is set. */
	bool kick_pending;

	/* Valid while ready: host views of the rings, each checked whole against guest memory at enable time. */
	const uint8_t *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t last_avail_idx; /* next available entry the device will take */
	uint16_t used_idx;       /* the used ring's idx as the device last wrote it */
	uint16_t signalled_used; /* used_idx at the last interrupt decision */
	uint32_t gen; /* bumped on every enable and disable */
};

struct virtio_mmio_dev {
	pthread_mutex_t lock;
	const struct guest_mem *mem;
	const struct virtio_device_ops *ops;
	void *dev;
	void (*raise_irq)(void *irq_opaque);
	void *irq_opaque;
	void (*queue_irq)(void *irq_opaque, unsigned queue); /* vhost-user: one call eventfd per queue */

	uint64_t device_features; /* ops->features | VIRTIO_TRANSPORT_FEATURES */
	uint64_t driver_features;
	bool driver_features_beyond_64; /* the driver set a bit above 63, where nothing is offered */
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint32_t queue_sel;
	uint32_t status;
	uint32_t interrupt_status;
	uint32_t config_generation;
	unsigned log_budget; /* guest-triggered log lines left, so a hostile guest cannot flood the log */

	struct virtq vq[VIRTIO_MMIO_MAX_QUEUES];
};

/* Check the rings the driver set up and start using them; false (device error raised) if they are unusable. */
bool virtq_enable(struct virtq *q);
/* Stop using the rings and forget their state (reset, or QueueReady = 0). */
void virtq_disable(struct virtq *q);

/* Set bits in InterruptStatus and tell the machine. */
void virtio_mmio_interrupt(struct virtio_mmio_dev *d, uint32_t bits);

#endif
