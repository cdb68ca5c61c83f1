// SPDX-License-Identifier: MIT
#include "virtio_harness.h"

#include <endian.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

unsigned harness_log_lines;
char harness_last_log[512];

static void harness_log(const char *line)
{
	harness_log_lines++;
	snprintf(harness_last_log, sizeof(harness_last_log), "%s", line);
	if (getenv("NITROVM_TEST_VERBOSE"))
		fprintf(stderr, "log: %s\n", line);
}

void harness_log_capture(void)
{
	virtio_set_log(harness_log);
	harness_log_lines = 0;
	harness_last_log[0] = '\0';
}

void *fake_gpa(struct fake_mem *m, uint64_t gpa, uint64_t len)
{
	void *p = guest_mem_ptr(&m->gm, gpa, len);

	assert_non_null(p);
	return p;
}

static void count_irq(void *opaque)
{
	struct test_dev *td = opaque;

	__atomic_add_fetch(&td->irqs, 1, __ATOMIC_RELEASE);
}

int test_dev_init(struct test_dev *td, const struct virtio_device_ops *ops, void *dev, bool with_big)
{
	memset(td, 0, sizeof(*td));
	harness_log_capture();
	if (fake_mem_init(&td->mem, with_big))
		return -1;
	td->ops = ops;
	td->dev = dev;
	td->t = virtio_mmio_create(&td->mem.gm, ops, dev, count_irq, td);
	return td->t ? 0 : -1;
}

void test_dev_free(struct test_dev *td)
{
	virtio_mmio_destroy(td->t);
	fake_mem_free(&td->mem);
}

uint32_t rd32(struct test_dev *td, uint64_t off)
{
	uint32_t v;

	virtio_mmio_access(td->t, off, &v, sizeof(v), false);
	return v;
}

void wr32(struct test_dev *td, uint64_t off, uint32_t val)
{
	virtio_mmio_access(td->t, off, &val, sizeof(val), true);
}

static void add_status(struct test_dev *td, uint32_t bits)
{
	wr32(td, VIRTIO_MMIO_STATUS, rd32(td, VIRTIO_MMIO_STATUS) | bits);
}

uint32_t drv_negotiate(struct test_dev *td, uint64_t want, bool exact)
{
	uint64_t offered, accept;

	assert_int_equal(rd32(td, VIRTIO_MMIO_MAGIC_VALUE), VIRTIO_MMIO_MAGIC);
	assert_int_equal(rd32(td, VIRTIO_MMIO_VERSION), 2);
	wr32(td, VIRTIO_MMIO_STATUS, 0);
	add_status(td, VIRTIO_STATUS_ACKNOWLEDGE);
	add_status(td, VIRTIO_STATUS_DRIVER);
	wr32(td, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	offered = (uint64_t)rd32(td, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	wr32(td, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	offered |= rd32(td, VIRTIO_MMIO_DEVICE_FEATURES);
	accept = exact ? want : want & offered;
	wr32(td, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr32(td, VIRTIO_MMIO_DRIVER_FEATURES, accept >> 32);
	wr32(td, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr32(td, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)accept);
	add_status(td, VIRTIO_STATUS_FEATURES_OK);
	return rd32(td, VIRTIO_MMIO_STATUS);
}

void drv_setup_queue(struct test_dev *td, unsigned idx, uint16_t num)
{
	struct drv_queue *q = &td->q[idx];
	uint64_t base = idx * FAKE_QUEUE_STRIDE;

	q->num = num;
	q->desc_gpa = base + FAKE_DESC_GPA;
	q->avail_gpa = base + FAKE_AVAIL_GPA;
	q->used_gpa = base + FAKE_USED_GPA;
	q->avail_idx = 0;
	q->used_seen = 0;
	/* The rings start zeroed, as Linux allocates them. */
	memset(fake_gpa(&td->mem, q->desc_gpa, FAKE_QUEUE_STRIDE), 0, FAKE_QUEUE_STRIDE);

	wr32(td, VIRTIO_MMIO_QUEUE_SEL, idx);
	assert_int_equal(rd32(td, VIRTIO_MMIO_QUEUE_READY), 0);
	assert_true(rd32(td, VIRTIO_MMIO_QUEUE_NUM_MAX) >= num);
	wr32(td, VIRTIO_MMIO_QUEUE_NUM, num);
	wr32(td, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)q->desc_gpa);
	wr32(td, VIRTIO_MMIO_QUEUE_DESC_HIGH, q->desc_gpa >> 32);
	wr32(td, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)q->avail_gpa);
	wr32(td, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, q->avail_gpa >> 32);
	wr32(td, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)q->used_gpa);
	wr32(td, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, q->used_gpa >> 32);
	wr32(td, VIRTIO_MMIO_QUEUE_READY, 1);
}

void drv_driver_ok(struct test_dev *td)
{
	add_status(td, VIRTIO_STATUS_DRIVER_OK);
}

void drv_bring_up(struct test_dev *td, uint16_t num)
{
	uint32_t status = drv_negotiate(td, ~0ULL, false);

	assert_true(status & VIRTIO_STATUS_FEATURES_OK);
	for (unsigned int i = 0; i < td->ops->num_queues; i++) {
		drv_setup_queue(td, i, num);
		assert_int_equal(rd32(td, VIRTIO_MMIO_QUEUE_READY), 1);
	}
	drv_driver_ok(td);
	assert_int_equal(rd32(td, VIRTIO_MMIO_STATUS),
			 VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
				 VIRTIO_STATUS_DRIVER_OK);
}

static void put_desc(uint8_t *p, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct virtq_desc d = { htole64(addr), htole32(len), htole16(flags), htole16(next) };

	memcpy(p, &d, sizeof(d));
}

void drv_desc(struct test_dev *td, unsigned qi, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
	      uint16_t next)
{
	put_desc(fake_gpa(&td->mem, td->q[qi].desc_gpa + 16ULL * i, 16), addr, len, flags, next);
}

void drv_indirect_desc(struct test_dev *td, uint64_t table_gpa, uint16_t i, uint64_t addr, uint32_t len,
		       uint16_t flags, uint16_t next)
{
	put_desc(fake_gpa(&td->mem, table_gpa + 16ULL * i, 16), addr, len, flags, next);
}

static struct virtq_avail *avail_ring(struct test_dev *td, unsigned qi)
{
	return fake_gpa(&td->mem, td->q[qi].avail_gpa, virtq_avail_size(td->q[qi].num));
}

static struct virtq_used *used_ring(struct test_dev *td, unsigned qi)
{
	return fake_gpa(&td->mem, td->q[qi].used_gpa, virtq_used_size(td->q[qi].num));
}

void drv_avail(struct test_dev *td, unsigned qi, uint16_t head)
{
	struct drv_queue *q = &td->q[qi];
	struct virtq_avail *a = avail_ring(td, qi);

	a->ring[q->avail_idx % q->num] = htole16(head);
	q->avail_idx++;
	__atomic_store_n(&a->idx, htole16(q->avail_idx), __ATOMIC_RELEASE);
}

void drv_set_avail_idx(struct test_dev *td, unsigned qi, uint16_t idx)
{
	td->q[qi].avail_idx = idx;
	avail_ring(td, qi)->idx = htole16(idx);
}

void drv_kick(struct test_dev *td, unsigned qi)
{
	wr32(td, VIRTIO_MMIO_QUEUE_NOTIFY, qi);
}

uint16_t drv_used_idx(struct test_dev *td, unsigned qi)
{
	return le16toh(__atomic_load_n(&used_ring(td, qi)->idx, __ATOMIC_ACQUIRE));
}

struct virtq_used_elem drv_used_elem(struct test_dev *td, unsigned qi, uint16_t i)
{
	struct virtq_used_elem e = used_ring(td, qi)->ring[i % td->q[qi].num];

	e.id = le32toh(e.id);
	e.len = le32toh(e.len);
	return e;
}

void drv_set_avail_flags(struct test_dev *td, unsigned qi, uint16_t flags)
{
	avail_ring(td, qi)->flags = htole16(flags);
}

void drv_set_used_event(struct test_dev *td, unsigned qi, uint16_t v)
{
	avail_ring(td, qi)->ring[td->q[qi].num] = htole16(v);
}

uint16_t drv_avail_event(struct test_dev *td, unsigned qi)
{
	uint16_t v;

	memcpy(&v, &used_ring(td, qi)->ring[td->q[qi].num], sizeof(v));
	return le16toh(v);
}

bool dev_needs_reset(struct test_dev *td)
{
	return rd32(td, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET;
}
