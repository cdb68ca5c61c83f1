// SPDX-License-Identifier: MIT
/*
 * Split virtqueues, driven through the transport with virtio-rng as the device: chains, indirect tables,
 * interrupt suppression, EVENT_IDX, concurrency, and every malformed ring we know of.  Each malformed case
 * checks the documented outcome: DEVICE_NEEDS_RESET, one configuration-change interrupt, one log line, nothing
 * returned in the used ring, and not a byte written outside guest memory (canary hole, guard pages).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "virtio_harness.h"

#define QSIZE 8 /* the queue size most cases use */

struct fixture {
	struct test_dev td;
	void *rng;
};

static int setup_with(void **state, bool with_big)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	f.rng = virtio_rng_new();
	if (!f.rng || test_dev_init(&f.td, virtio_rng_ops(), f.rng, with_big))
		return -1;
	*state = &f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, false);
}

static int setup_big(void **state)
{
	return setup_with(state, true);
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

/* The outcome every malformed ring must have. */
static void expect_malformed(struct test_dev *td, const char *why)
{
	assert_true(dev_needs_reset(td));
	assert_int_equal(rd32(td, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG, VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(td->irqs, 1);
	assert_int_equal(harness_log_lines, 1);
	assert_non_null(strstr(harness_last_log, why));
	assert_non_null(strstr(harness_last_log, "needs reset"));
	assert_int_equal(drv_used_idx(td, 0), 0);
	/* The queue stays stopped: a correct request now is not served, and not logged. */
	drv_desc(td, 0, 1, FAKE_BUF_GPA, 16, VIRTQ_DESC_F_WRITE, 0);
	drv_avail(td, 0, 1);
	drv_kick(td, 0);
	assert_int_equal(drv_used_idx(td, 0), 0);
	assert_int_equal(harness_log_lines, 1);
	assert_int_equal(td->irqs, 1);
	assert_true(fake_canary_intact(&td->mem));
}

static void submit(struct test_dev *td, uint16_t head)
{
	drv_avail(td, 0, head);
	drv_kick(td, 0);
}

static void test_single_buffer(void **state)
{
	struct test_dev *td = TD(state);
	uint8_t *buf = fake_gpa(&td->mem, FAKE_BUF_GPA, 128);
	struct virtq_used_elem e;

	drv_bring_up(td, QSIZE);
	drv_desc(td, 0, 5, FAKE_BUF_GPA, 64, VIRTQ_DESC_F_WRITE, 0);
	submit(td, 5);
	assert_int_equal(drv_used_idx(td, 0), 1);
	e = drv_used_elem(td, 0, 0);
	assert_int_equal(e.id, 5);
	assert_int_equal(e.len, 64);
	assert_false(all_zero(buf, 64));
	assert_true(all_zero(buf + 64, 64));
	assert_int_equal(td->irqs, 1);
	assert_int_equal(rd32(td, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	assert_int_equal(harness_log_lines, 0);
}

static void test_ring_wraps(void **state)
{
	struct test_dev *td = TD(state);

	drv_bring_up(td, QSIZE);
	/* Several times round the ring, one and three requests per kick. */
	for (unsigned int i = 0; i < 5 * QSIZE; i++) {
		uint16_t head = i % QSIZE;

		drv_desc(td, 0, head, FAKE_BUF_GPA + 16 * head, 16, VIRTQ_DESC_F_WRITE, 0);
		drv_avail(td, 0, head);
		if (i % 4 == 0 || i % 4 == 3)
			drv_kick(td, 0);
	}
	assert_int_equal(drv_used_idx(td, 0), 5 * QSIZE);
	assert_int_equal(drv_used_elem(td, 0, 5 * QSIZE - 1).id, QSIZE - 1);
	assert_false(dev_needs_reset(td));
}

static void test_avail_idx_wraps_16_bits(void **state)
{
	struct test_dev *td = TD(state);

	drv_bring_up(td, QSIZE);
	for (unsigned int i = 0; i < 70000; i++) {
		drv_desc(td, 0, 0, FAKE_BUF_GPA, 1, VIRTQ_DESC_F_WRITE, 0);
		submit(td, 0);
	}
	assert_int_equal(drv_used_idx(td, 0), (uint16_t)70000);
	assert_false(dev_needs_reset(td));
}

static void test_chain_across_regions(void **state)
{
	struct test_dev *td = TD(state);
	uint8_t *b0 = fake_gpa(&td->mem, FAKE_BUF_GPA, 64), *b1 = fake_gpa(&td->mem, FAKE_R1_GPA, 64);

	drv_bring_up(td, QSIZE);
	/* Ends exactly at the end of region 0: legal. */
	drv_desc(td, 0, 2, FAKE_R0_SIZE - 32, 32, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 6);
	drv_desc(td, 0, 6, FAKE_R1_GPA, 48, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
	drv_desc(td, 0, 0, FAKE_BUF_GPA, 16, VIRTQ_DESC_F_WRITE, 0);
	submit(td, 2);
	assert_int_equal(drv_used_elem(td, 0, 0).len, 96);
	assert_false(all_zero(fake_gpa(&td->mem, FAKE_R0_SIZE - 32, 32), 32));
	assert_false(all_zero(b1, 48));
	assert_true(all_zero(b1 + 48, 16));
	assert_false(all_zero(b0, 16));
	assert_true(all_zero(b0 + 16, 48));
}

static void test_zero_length_descriptors_skipped(void **state)
{
	struct test_dev *td = TD(state);

	drv_bring_up(td, QSIZE);
	drv_desc(td, 0, 0, 0xdeadbeef000ULL, 0, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	drv_desc(td, 0, 1, FAKE_BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
	submit(td, 0);
	assert_int_equal(drv_used_elem(td, 0, 0).len, 8);
	assert_false(dev_needs_reset(td));
}

static void test_indirect(void **state)
{
	struct test_dev *td = TD(state);

	drv_bring_up(td, QSIZE);
	drv_indirect_desc(td, FAKE_INDIRECT_GPA, 0, FAKE_BUF_GPA, 10, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	drv_indirect_desc(td, FAKE_INDIRECT_GPA, 2, FAKE_R1_GPA, 20, VIRTQ_DESC_F_WRITE, 0);
	drv_desc(td, 0, 3, FAKE_INDIRECT_GPA, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	submit(td, 3);
	assert_int_equal(drv_used_elem(td, 0, 0).id, 3);
	assert_int_equal(drv_used_elem(td, 0, 0).len, 30);
	assert_false(dev_needs_reset(td));
}

static void test_indirect_after_direct(void **state)
{
	struct test_dev *td = TD(state);

	drv_bring_up(td, QSIZE);
	drv_indirect_desc(td, FAKE_INDIRECT_GPA, 0, FAKE_R1_GPA, 20, VIRTQ_DESC_F_WRITE, 0);
	drv_desc(td, 0, 0, FAKE_BUF_GPA, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	drv_desc(td, 0, 1, FAKE_INDIRECT_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	submit(td, 0);
	assert_int_equal(drv_used_elem(td, 0, 0).len, 24);
	assert_false(dev_needs_reset(td));
}

static void test_max_segments(void **state)
{
	struct test_dev *td = TD(state);

	drv_bring_up(td, QSIZE);
	for (uint16_t i = 0; i < VIRTQ_CHAIN_MAX_SEGS; i++)
		drv_indirect_desc(td, FAKE_INDIRECT_GPA, i, FAKE_BUF_GPA + i, 1,
				  VIRTQ_DESC_F_WRITE | (i + 1 < VIRTQ_CHAIN_MAX_SEGS ? VIRTQ_DESC_F_NEXT : 0), i + 1);
	drv_desc(td, 0, 0, FAKE_INDIRECT_GPA, 16 * VIRTQ_CHAIN_MAX_SEGS, VIRTQ_DESC_F_INDIRECT, 0);
	submit(td, 0);
	assert_int_equal(drv_used_elem(td, 0, 0).len, VIRTQ_CHAIN_MAX_SEGS);
	assert_false(dev_needs_reset(td));
}

static void test_no_interrupt_flag(void **state)
{
	struct test_dev *td = TD(state);

	/* Without EVENT_IDX the driver suppresses interrupts with the avail flag. */
	assert_true(drv_negotiate(td, ~VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX), false) & VIRTIO_STATUS_FEATURES_OK);
	drv_setup_queue(td, 0, QSIZE);
	drv_driver_ok(td);
	drv_set_avail_flags(td, 0, VIRTQ_AVAIL_F_NO_INTERRUPT);
	drv_desc(td, 0, 0, FAKE_BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
	submit(td, 0);
	assert_int_equal(drv_used_idx(td, 0), 1);
	assert_int_equal(td->irqs, 0);
	assert_int_equal(rd32(td, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	drv_set_avail_flags(td, 0, 0);
	submit(td, 0);
	assert_int_equal(drv_used_idx(td, 0), 2);
	assert_int_equal(td->irqs, 1);
}

static void test_event_idx(void **state)
{
	struct test_dev *td = TD(state);

	drv_bring_up(td, QSIZE);
	/* The driver wants an interrupt only once used idx passes 2. */
	drv_set_used_event(td, 0, 2);
	drv_desc(td, 0, 0, FAKE_BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
	submit(td, 0);
	assert_int_equal(drv_used_idx(td, 0), 1);
	assert_int_equal(td->irqs, 0);
	/* The device, having emptied the ring, asks to be kicked for the next entry. */
	assert_int_equal(drv_avail_event(td, 0), 1);
	submit(td, 0);
	assert_int_equal(td->irqs, 0);
	submit(td, 0);
	assert_int_equal(drv_used_idx(td, 0), 3);
	assert_int_equal(td->irqs, 1);
	assert_int_equal(drv_avail_event(td, 0), 3);
	/* Two at once across the event: one interrupt. */
	wr32(td, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	drv_set_used_event(td, 0, 3);
	drv_avail(td, 0, 0);
	drv_avail(td, 0, 0);
	drv_kick(td, 0);
	assert_int_equal(drv_used_idx(td, 0), 5);
	assert_int_equal(td->irqs, 2);
}

struct kicker {
	struct test_dev *td;
	bool stop;
};

static void *kick_loop(void *arg)
{
	struct kicker *k = arg;

	while (!__atomic_load_n(&k->stop, __ATOMIC_ACQUIRE))
		virtio_mmio_queue_notify(k->td->t, 0);
	return NULL;
}

/* The event loop kicks (ioeventfd) while a vCPU accesses registers and kicks through MMIO. */
static void test_concurrent_notify(void **state)
{
	struct test_dev *td = TD(state);
	struct kicker k = { td, false };
	pthread_t thr;
	const unsigned int rounds = 2000;

	drv_bring_up(td, QSIZE);
	for (uint16_t i = 0; i < QSIZE; i++)
		drv_desc(td, 0, i, FAKE_BUF_GPA + 16 * i, 16, VIRTQ_DESC_F_WRITE, 0);
	assert_int_equal(pthread_create(&thr, NULL, kick_loop, &k), 0);
	for (unsigned int i = 0; i < rounds; i++) {
		/* Keep at most the ring's worth outstanding, as a driver must. */
		while ((uint16_t)(td->q[0].avail_idx - drv_used_idx(td, 0)) >= QSIZE)
			(void)rd32(td, VIRTIO_MMIO_INTERRUPT_STATUS);
		drv_avail(td, 0, i % QSIZE);
		if (i % 3 == 0)
			drv_kick(td, 0);
		wr32(td, VIRTIO_MMIO_INTERRUPT_ACK, rd32(td, VIRTIO_MMIO_INTERRUPT_STATUS));
	}
	drv_kick(td, 0);
	__atomic_store_n(&k.stop, true, __ATOMIC_RELEASE);
	pthread_join(thr, NULL);
	assert_int_equal(drv_used_idx(td, 0), (uint16_t)rounds);
	assert_false(dev_needs_reset(td));
	assert_int_equal(harness_log_lines, 0);
}

/* Malformed rings and chains. */

static void test_desc_outside_memory(void **state)
{
	struct test_dev *td = TD(state);

	drv_bring_up(td, QSIZE);
	drv_desc(td, 0, 0, FAKE_R0_SIZE + 0x1000, 16, VIRTQ_DESC_F_WRITE, 0);
	submit(td, 0);
	expect_malformed(td, "outside guest memory");
}

static void test_desc_runs_off_region(void **state)
{
	struct test_dev *td = TD(state);

	drv_bring_up(td, QSIZE);
	/* 16 bytes inside region 0, then into the canary hole that lies right after it in host memory. */
	drv_desc(td, 0, 0, FAKE_R0_SIZE - 16, 32, VIRTQ_DESC_F_WRITE, 0);
	submit(td, 0);
	expect_malformed(td, "outside guest memory");
	assert_true(all_zero(fake_gpa(&td->mem, FAKE_R0_SIZE - 16, 16), 16));
}

static void test_desc_address_wraps(void **state)
{
	struct test_dev *td = TD(state);

	drv_bring_up(td, QSIZE);
	drv_desc(td, 0, 0, UINT64_MAX - 0xff, 0x200, VIRTQ_DESC_F_WRITE, 0);
	submit(td, 0);
	expect_malformed(td, "outside guest memory");
}

static void test_chain_length_overflow(void **state)
{
	struct test_dev *td = TD(state);
	struct fake_mem *m = &td->mem;

	drv_bring_up(td, QSIZE);
	/* 2 GiB + 2 GiB writable: each is guest memory, the sum does not fit the used ring's 32-bit length. */
	drv_desc(td, 0, 0, FAKE_BIG_GPA, 0x80000000U, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	drv_desc(td, 0, 1, FAKE_BIG_GPA, 0x80000000U, VIRTQ_DESC_F_WRITE, 0);
	submit(td, 0);
	expect_malformed(td, "more than");
	assert_true(all_zero(m->big, 4096));
}

static void test_desc_loop(void **state)
{
	struct test_dev *td = TD(state);

	drv_bring_up(td, QSIZE);
	drv_desc(td, 0, 0, FAKE_BUF_GPA, 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	drv_desc(td, 0, 1, FAKE_BUF_GPA, 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
	submit(td, 0);
	expect_malformed(td, "loop");
}

static void test_desc_self_loop_empty(void **state)
{
	struct test_dev *td = TD(state);

	drv_bring_up(td, QSIZE);
	/* Zero-length descriptors add no buffers, so only the step bound can stop this one. */
	drv_desc(td, 0, 0, FAKE_BUF_GPA, 0, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
	submit(td, 0);
	expect_malformed(td, "loop");
}

static void test_next_out_of_range(void **state)
{
	struct test_dev *td = TD(state);

	drv_bring_up(td, QSIZE);
	drv_desc(td, 0, 0, FAKE_BUF_GPA, 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, QSIZE);
	submit(td, 0);
	expect_malformed(td, "next index");
}

static void test_head_out_of_range(void **state)
{
	struct test_dev *td = TD(state);

	drv_bring_up(td, QSIZE);
	submit(td, QSIZE);
	expect_malformed(td, "names descriptor");
}

static void test_avail_idx_jump(void **state)
{
	struct test_dev *td = TD(state);

	drv_bring_up(td, QSIZE);
	drv_desc(td, 0, 0, FAKE_BUF_GPA, 1, VIRTQ_DESC_F_WRITE, 0);
	drv_set_avail_idx(td, 0, QSIZE + 1);
	drv_kick(td, 0);
	td->q[0].avail_idx = 0;
	expect_malformed(td, "available index");
}

static void test_avail_idx_backwards(void **state)
{
	struct test_dev *td = TD(state);

	drv_bring_up(td, QSIZE);
	drv_desc(td, 0, 0, FAKE_BUF_GPA, 1, VIRTQ_DESC_F_WRITE, 0);
	submit(td, 0);
	td->irqs = 0;
	wr32(td, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	/* Going back one looks like 65535 new entries. */
	drv_set_avail_idx(td, 0, 0);
	drv_kick(td, 0);
	assert_true(dev_needs_reset(td));
	assert_int_equal(td->irqs, 1);
	assert_int_equal(drv_used_idx(td, 0), 1);
}

static void test_readable_after_writable(void **state)
{
	struct test_dev *td = TD(state);

	drv_bring_up(td, QSIZE);
	drv_desc(td, 0, 0, FAKE_BUF_GPA, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	drv_desc(td, 0, 1, FAKE_BUF_GPA + 4, 4, 0, 0);
	submit(td, 0);
	expect_malformed(td, "readable buffer after");
	assert_true(all_zero(fake_gpa(&td->mem, FAKE_BUF_GPA, 8), 8));
}

static void test_too_many_segments(void **state)
{
	struct test_dev *td = TD(state);

	drv_bring_up(td, QSIZE);
	for (uint16_t i = 0; i <= VIRTQ_CHAIN_MAX_SEGS; i++)
		drv_indirect_desc(td, FAKE_INDIRECT_GPA, i, FAKE_BUF_GPA + i, 1,
				  VIRTQ_DESC_F_WRITE | (i < VIRTQ_CHAIN_MAX_SEGS ? VIRTQ_DESC_F_NEXT : 0), i + 1);
	drv_desc(td, 0, 0, FAKE_INDIRECT_GPA, 16 * (VIRTQ_CHAIN_MAX_SEGS + 1), VIRTQ_DESC_F_INDIRECT, 0);
	submit(td, 0);
	expect_malformed(td, "buffers");
	assert_true(all_zero(fake_gpa(&td->mem, FAKE_BUF_GPA, 128), 128));
}

static void test_indirect_not_negotiated(void **state)
{
	struct test_dev *td = TD(state);

	assert_true(drv_negotiate(td, ~VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC), false) &
		    VIRTIO_STATUS_FEATURES_OK);
	drv_setup_queue(td, 0, QSIZE);
	drv_driver_ok(td);
	drv_indirect_desc(td, FAKE_INDIRECT_GPA, 0, FAKE_BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
	drv_desc(td, 0, 0, FAKE_INDIRECT_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	submit(td, 0);
	expect_malformed(td, "not negotiated");
}

static void test_indirect_nested(void **state)
{
	struct test_dev *td = TD(state);

	drv_bring_up(td, QSIZE);
	drv_indirect_desc(td, FAKE_INDIRECT_GPA, 0, FAKE_INDIRECT_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	drv_desc(td, 0, 0, FAKE_INDIRECT_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	submit(td, 0);
	expect_malformed(td, "inside an indirect table");
}

static void test_indirect_with_next(void **state)
{
	struct test_dev *td = TD(state);

	drv_bring_up(td, QSIZE);
	drv_indirect_desc(td, FAKE_INDIRECT_GPA, 0, FAKE_BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
	drv_desc(td, 0, 0, FAKE_INDIRECT_GPA, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	drv_desc(td, 0, 1, FAKE_BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
	submit(td, 0);
	expect_malformed(td, "NEXT");
}

static void test_indirect_bad_length(void **state)
{
	struct test_dev *td = TD(state);

	drv_bring_up(td, QSIZE);
	drv_desc(td, 0, 0, FAKE_INDIRECT_GPA, 24, VIRTQ_DESC_F_INDIRECT, 0);
	submit(td, 0);
	expect_malformed(td, "indirect table of 24 bytes");
}

static void test_indirect_empty(void **state)
{
	struct test_dev *td = TD(state);

	drv_bring_up(td, QSIZE);
	drv_desc(td, 0, 0, FAKE_INDIRECT_GPA, 0, VIRTQ_DESC_F_INDIRECT, 0);
	submit(td, 0);
	expect_malformed(td, "indirect table of 0 bytes");
}

static void test_indirect_outside_memory(void **state)
{
	struct test_dev *td = TD(state);

	drv_bring_up(td, QSIZE);
	/* The table's last entry would lie in the canary hole. */
	drv_desc(td, 0, 0, FAKE_R0_SIZE - 32, 48, VIRTQ_DESC_F_INDIRECT, 0);
	submit(td, 0);
	expect_malformed(td, "outside guest memory");
}

static void test_indirect_loop(void **state)
{
	struct test_dev *td = TD(state);

	drv_bring_up(td, QSIZE);
	drv_indirect_desc(td, FAKE_INDIRECT_GPA, 0, FAKE_BUF_GPA, 0, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	drv_indirect_desc(td, FAKE_INDIRECT_GPA, 1, FAKE_BUF_GPA, 0, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
	drv_desc(td, 0, 0, FAKE_INDIRECT_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	submit(td, 0);
	expect_malformed(td, "loop");
}

static void test_indirect_next_out_of_range(void **state)
{
	struct test_dev *td = TD(state);

	drv_bring_up(td, QSIZE);
	/* In range for the ring's table, not for the 2-entry indirect table. */
	drv_indirect_desc(td, FAKE_INDIRECT_GPA, 0, FAKE_BUF_GPA, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	drv_desc(td, 0, 0, FAKE_INDIRECT_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	submit(td, 0);
	expect_malformed(td, "next index");
}

#define T(name)   cmocka_unit_test_setup_teardown(name, setup, teardown)
#define TBIG(name) cmocka_unit_test_setup_teardown(name, setup_big, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_single_buffer),
		T(test_ring_wraps),
		T(test_avail_idx_wraps_16_bits),
		T(test_chain_across_regions),
		T(test_zero_length_descriptors_skipped),
		T(test_indirect),
		T(test_indirect_after_direct),
		T(test_max_segments),
		T(test_no_interrupt_flag),
		T(test_event_idx),
		T(test_concurrent_notify),
		T(test_desc_outside_memory),
		T(test_desc_runs_off_region),
		T(test_desc_address_wraps),
		TBIG(test_chain_length_overflow),
		T(test_desc_loop),
		T(test_desc_self_loop_empty),
		T(test_next_out_of_range),
		T(test_head_out_of_range),
		T(test_avail_idx_jump),
		T(test_avail_idx_backwards),
		T(test_readable_after_writable),
		T(test_too_many_segments),
		T(test_indirect_not_negotiated),
		T(test_indirect_nested),
		T(test_indirect_with_next),
		T(test_indirect_bad_length),
		T(test_indirect_empty),
		T(test_indirect_outside_memory),
		T(test_indirect_loop),
		T(test_indirect_next_out_of_range),
	};

	return cmocka_run_group_tests_name("virtqueue", tests, NULL, NULL);
}
