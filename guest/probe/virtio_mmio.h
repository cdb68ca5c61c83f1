/* SPDX-License-Identifier: MIT */
/*
 * virtio-mmio (modern, version 2) as the probe's three drivers use it: virtio.c
 * (the entropy test device), nsm.c and vsock.c.  They differ in what they send,
 * not in how a device is brought up, so the registers, the split virtqueue
 * layout and the handshake up to the queues live here once (virtio 1.2, 3.1.1
 * and 4.2.3).  All of it takes the device's base address: each driver talks to
 * a device of its own.
 */
#ifndef PROBE_VIRTIO_MMIO_H
#define PROBE_VIRTIO_MMIO_H

#include "probe.h"

#define VMMIO_MAGIC_VALUE     0x000
#define VMMIO_VERSION	      0x004
#define VMMIO_DEVICE_ID	      0x008
#define VMMIO_VENDOR_ID	      0x00c
#define VMMIO_DEV_FEAT	      0x010
#define VMMIO_DEV_FEAT_SEL    0x014
#define VMMIO_DRV_FEAT	      0x020
#define VMMIO_DRV_FEAT_SEL    0x024
#define VMMIO_QUEUE_SEL	      0x030
#define VMMIO_QUEUE_NUM_MAX   0x034
#define VMMIO_QUEUE_NUM	      0x038
#define VMMIO_QUEUE_READY     0x044
#define VMMIO_QUEUE_NOTIFY    0x050
#define VMMIO_INT_STATUS      0x060
#define VMMIO_INT_ACK	      0x064
#define VMMIO_STATUS	      0x070
#define VMMIO_QUEUE_DESC_LO   0x080 /* each 64-bit address: low word, high word at +4 */
#define VMMIO_QUEUE_DRIVER_LO 0x090
#define VMMIO_QUEUE_DEVICE_LO 0x0a0
#define VMMIO_CONFIG	      0x100

#define VMMIO_MAGIC 0x74726976 /* "virt" */

#define VMMIO_ST_ACK	     0x01
#define VMMIO_ST_DRIVER	     0x02
#define VMMIO_ST_DRIVER_OK   0x04
#define VMMIO_ST_FEATURES_OK 0x08
#define VMMIO_ST_NEEDS_RESET 0x40
#define VMMIO_ST_FAILED	     0x80

#define VMMIO_INT_USED_RING 0x1

#define VIRTIO_F_VERSION_1 32
#define VIRTQ_DESC_F_WRITE 2

/* Entries per queue: enough for every driver here, and a power of two as split rings need. */
#define VQ_SIZE 8

struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
} __attribute__((packed));

/* One split virtqueue, its three rings (16-byte aligned as 2.7 wants) and the driver's own positions. */
struct vq {
	struct vq_desc desc[VQ_SIZE];
	struct {
		uint16_t flags, idx, ring[VQ_SIZE], used_event;
	} __attribute__((packed, aligned(16))) avail;
	struct {
		uint16_t flags, idx;
		struct {
			uint32_t id, len;
		} __attribute__((packed)) ring[VQ_SIZE];
		uint16_t avail_event;
	} __attribute__((packed, aligned(16))) used;
	uint32_t num;		       /* the size set up: QueueNum is write-only */
	uint16_t avail_idx, last_used; /* next avail slot to fill, next used entry to read */
};

static inline uint32_t vmmio_read(uint64_t base, uint32_t reg)
{
	return mmio_read32(base + reg);
}

static inline void vmmio_write(uint64_t base, uint32_t reg, uint32_t v)
{
	mmio_write32(base + reg, v);
}

/* Tell the device about new buffers on queue q. */
static inline void vmmio_notify(uint64_t base, uint32_t q)
{
	barrier(); /* the ring stores before the doorbell: x86 keeps them in order, the compiler must too */
	vmmio_write(base, VMMIO_QUEUE_NOTIFY, q);
}

/* Acknowledge whatever the device signalled; returns InterruptStatus. */
static inline uint32_t vmmio_ack(uint64_t base)
{
	uint32_t status = vmmio_read(base, VMMIO_INT_STATUS);

	vmmio_write(base, VMMIO_INT_ACK, status);
	return status;
}

static inline void vmmio_driver_ok(uint64_t base)
{
	vmmio_write(base, VMMIO_STATUS,
		    VMMIO_ST_ACK | VMMIO_ST_DRIVER | VMMIO_ST_FEATURES_OK | VMMIO_ST_DRIVER_OK);
}

bool vmmio_identify(uint64_t base, const char *who, uint32_t device_id);
bool vmmio_negotiate(uint64_t base, const char *who, uint64_t *features);
uint32_t vmmio_queue_setup(uint64_t base, const char *who, uint32_t q, struct vq *vq, uint32_t need);

#endif
