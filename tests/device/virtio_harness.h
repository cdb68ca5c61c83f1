/* SPDX-License-Identifier: MIT */
/*
 * Device-tier harness for virtio devices: a fake guest memory with guard pages and a canary hole, and a test
 * driver that talks to a virtio-mmio transport the way Linux's virtio_mmio.c and virtio_ring.c do.
 *
 * The fake memory (guard pages, canary hole) is fake_mem.h's.
 */
#ifndef NITROVM_TESTS_DEVICE_VIRTIO_HARNESS_H
#define NITROVM_TESTS_DEVICE_VIRTIO_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fake_mem.h"
#include "hw/virtio/virtio.h"

/* Where the test driver puts queue 0 (region 0); other queues follow at FAKE_QUEUE_STRIDE. */
#define FAKE_DESC_GPA     0x0000ULL
#define FAKE_AVAIL_GPA    0x1000ULL
#define FAKE_USED_GPA     0x2000ULL
#define FAKE_INDIRECT_GPA 0x3000ULL
#define FAKE_QUEUE_STRIDE 0x4000ULL
#define FAKE_BUF_GPA      0x8000ULL /* buffers from here to the end of region 0 */

/* Host pointer for a guest range; the test fails if it is not guest memory. */
void *fake_gpa(struct fake_mem *m, uint64_t gpa, uint64_t len);

/* The driver's view of one queue. */
struct drv_queue {
	uint16_t num;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t avail_idx; /* next avail idx the driver will publish */
	uint16_t used_seen; /* used entries the driver has consumed */
};

struct test_dev {
	struct fake_mem mem;
	struct virtio_mmio_dev *t;
	const struct virtio_device_ops *ops;
	void *dev;
	unsigned irqs; /* raise_irq calls */
	struct drv_queue q[VIRTIO_MMIO_MAX_QUEUES];
};

/* Log lines the transport produced since the last reset of the counter. */
extern unsigned harness_log_lines;
extern char harness_last_log[512];
void harness_log_capture(void);

int test_dev_init(struct test_dev *td, const struct virtio_device_ops *ops, void *dev, bool with_big);
void test_dev_free(struct test_dev *td);

uint32_t rd32(struct test_dev *td, uint64_t off);
void wr32(struct test_dev *td, uint64_t off, uint32_t val);

/*
 * Linux's probe sequence up to FEATURES_OK: reset, ACKNOWLEDGE, DRIVER, read the device features, write
 * want & offered (or exactly `want` when exact), set FEATURES_OK.  Returns Status as read back.
 */
uint32_t drv_negotiate(struct test_dev *td, uint64_t want, bool exact);
/* Linux's vm_setup_vq: select, check not ready, read max, write size and addresses, write ready. */
void drv_setup_queue(struct test_dev *td, unsigned idx, uint16_t num);
/* Set DRIVER_OK. */
void drv_driver_ok(struct test_dev *td);
/* All of the above for every queue with num entries, accepting every offered feature. */
void drv_bring_up(struct test_dev *td, uint16_t num);

void drv_desc(struct test_dev *td, unsigned qi, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
	      uint16_t next);
/* An entry in an indirect table at table_gpa. */
void drv_indirect_desc(struct test_dev *td, uint64_t table_gpa, uint16_t i, uint64_t addr, uint32_t len,
		       uint16_t flags, uint16_t next);
/* Publish head in the available ring (without kicking). */
void drv_avail(struct test_dev *td, unsigned qi, uint16_t head);
void drv_kick(struct test_dev *td, unsigned qi);
/* The used ring's idx as the device wrote it, and an element. */
uint16_t drv_used_idx(struct test_dev *td, unsigned qi);
struct virtq_used_elem drv_used_elem(struct test_dev *td, unsigned qi, uint16_t i);
void drv_set_avail_flags(struct test_dev *td, unsigned qi, uint16_t flags);
void drv_set_used_event(struct test_dev *td, unsigned qi, uint16_t v);
uint16_t drv_avail_event(struct test_dev *td, unsigned qi);
/* Force the available idx (malformed-ring cases). */
void drv_set_avail_idx(struct test_dev *td, unsigned qi, uint16_t idx);

bool dev_needs_reset(struct test_dev *td);

#endif
