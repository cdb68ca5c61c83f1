// SPDX-License-Identifier: MIT
/* virtio-rng: what the device offers and what it writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "virtio_harness.h"

#define QSIZE 8

struct fixture {
	struct test_dev td;
	void *rng;
};

static int setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	f.rng = virtio_rng_new();
	if (!f.rng || test_dev_init(&f.td, virtio_rng_ops(), f.rng, false))
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	assert_true(fake_canary_intact(&f->td.mem));
	test_dev_free(&f->td);
	virtio_rng_free(f->rng);
	return 0;
}

#define TD(state) (&((struct fixture *)*(state))->td)

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void test_identity(void **state)
{
	struct test_dev *td = TD(state);
	uint32_t cfg = ~0U;

	assert_int_equal(rd32(td, VIRTIO_MMIO_DEVICE_ID), 4);
	wr32(td, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	assert_int_equal(rd32(td, VIRTIO_MMIO_DEVICE_FEATURES),
			 1U << VIRTIO_RING_F_INDIRECT_DESC | 1U << VIRTIO_RING_F_EVENT_IDX);
	wr32(td, VIRTIO_MMIO_QUEUE_SEL, 0);
	assert_true(rd32(td, VIRTIO_MMIO_QUEUE_NUM_MAX) > 0);
	wr32(td, VIRTIO_MMIO_QUEUE_SEL, 1);
	assert_int_equal(rd32(td, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	/* No configuration space: reads 0, writes dropped. */
	virtio_mmio_access(td->t, VIRTIO_MMIO_CONFIG, &cfg, 4, false);
	assert_int_equal(cfg, 0);
	virtio_mmio_access(td->t, VIRTIO_MMIO_CONFIG, &cfg, 4, true);
	assert_int_equal(harness_log_lines, 0);
}

static void test_request_bounded(void **state)
{
	struct test_dev *td = TD(state);
	uint64_t first = FAKE_R0_SIZE - FAKE_BUF_GPA; /* 32 KiB in region 0, then all 64 KiB of region 1 */
	uint8_t *r1 = fake_gpa(&td->mem, FAKE_R1_GPA, FAKE_R1_SIZE);
	uint64_t in_r1 = VIRTIO_RNG_MAX_PER_REQUEST - first;

	drv_bring_up(td, QSIZE);
	drv_desc(td, 0, 0, FAKE_BUF_GPA, first, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	drv_desc(td, 0, 1, FAKE_R1_GPA, FAKE_R1_SIZE, VIRTQ_DESC_F_WRITE, 0);
	drv_avail(td, 0, 0);
	drv_kick(td, 0);
	assert_int_equal(drv_used_elem(td, 0, 0).len, VIRTIO_RNG_MAX_PER_REQUEST);
	assert_false(all_zero(r1 + in_r1 - 64, 64));
	assert_true(all_zero(r1 + in_r1, FAKE_R1_SIZE - in_r1));
}

static void test_readable_part_ignored(void **state)
{
	struct test_dev *td = TD(state);
	uint8_t *rd = fake_gpa(&td->mem, FAKE_BUF_GPA, 16);

	drv_bring_up(td, QSIZE);
	memset(rd, 0x5a, 16);
	drv_desc(td, 0, 0, FAKE_BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 1);
	drv_desc(td, 0, 1, FAKE_BUF_GPA + 16, 16, VIRTQ_DESC_F_WRITE, 0);
	drv_avail(td, 0, 0);
	/* Only readable: answered with nothing written. */
	drv_desc(td, 0, 2, FAKE_BUF_GPA, 16, 0, 0);
	drv_avail(td, 0, 2);
	drv_kick(td, 0);
	assert_int_equal(drv_used_idx(td, 0), 2);
	assert_int_equal(drv_used_elem(td, 0, 0).len, 16);
	assert_int_equal(drv_used_elem(td, 0, 1).id, 2);
	assert_int_equal(drv_used_elem(td, 0, 1).len, 0);
	for (int i = 0; i < 16; i++)
		assert_int_equal(rd[i], 0x5a);
	assert_false(dev_needs_reset(td));
}

static void test_bytes_differ(void **state)
{
	struct test_dev *td = TD(state);
	uint8_t *a = fake_gpa(&td->mem, FAKE_BUF_GPA, 64), *b = fake_gpa(&td->mem, FAKE_BUF_GPA + 64, 64);

	drv_bring_up(td, QSIZE);
	drv_desc(td, 0, 0, FAKE_BUF_GPA, 64, VIRTQ_DESC_F_WRITE, 0);
	drv_desc(td, 0, 1, FAKE_BUF_GPA + 64, 64, VIRTQ_DESC_F_WRITE, 0);
	drv_avail(td, 0, 0);
	drv_avail(td, 0, 1);
	drv_kick(td, 0);
	assert_int_equal(drv_used_idx(td, 0), 2);
	assert_memory_not_equal(a, b, 64);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_identity),
		T(test_request_bounded),
		T(test_readable_part_ignored),
		T(test_bytes_differ),
	};

	return cmocka_run_group_tests_name("virtio-rng", tests, NULL, NULL);
}
