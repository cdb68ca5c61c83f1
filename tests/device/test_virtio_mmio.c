// SPDX-License-Identifier: MIT
/*
 * virtio-mmio transport, register level: identification, feature negotiation, status rules, queue setup
 * checks, register access widths, configuration space, interrupts and reset.  A small echo device (below)
 * stands in for a device with several queues and a configuration space.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "virtio_harness.h"

#define ECHO_ID          42
#define ECHO_QUEUES      2
#define ECHO_QUEUE_MAX   256
#define ECHO_FEATURE     VIRTIO_BIT(0)
#define ECHO_CONFIG_SIZE 16

struct echo_dev {
	uint8_t config[ECHO_CONFIG_SIZE];
	unsigned resets;
	unsigned notifies;
	bool hold;  /* pop one chain and keep it instead of answering */
	bool unpop; /* pop one chain and give it back */
	bool have_held;
	struct virtq_chain held;
};

static void echo_config_read(void *dev, uint64_t off, void *data, unsigned len)
{
	struct echo_dev *e = dev;

	if (off < ECHO_CONFIG_SIZE && len <= ECHO_CONFIG_SIZE - off)
		memcpy(data, e->config + off, len);
}

static void echo_config_write(void *dev, uint64_t off, const void *data, unsigned len)
{
	struct echo_dev *e = dev;

	if (off < ECHO_CONFIG_SIZE && len <= ECHO_CONFIG_SIZE - off)
		memcpy(e->config + off, data, len);
}

/* Copy the readable bytes of each chain into its writable bytes. */
static void echo_notify(void *dev, struct virtio_mmio_dev *t, unsigned queue)
{
	struct echo_dev *e = dev;
	struct virtq *q = virtio_mmio_vq(t, queue);
	struct virtq_chain c;

	e->notifies++;
	if (e->unpop) {
		if (virtq_pop(q, &c) > 0)
			virtq_unpop(q, &c);
		return;
	}
	if (e->hold) {
		if (virtq_pop(q, &e->held) > 0)
			e->have_held = true;
		return;
	}
	while (virtq_pop(q, &c) > 0) {
		uint8_t buf[7]; /* odd on purpose: copies cross segment boundaries */
		size_t off = 0, n, w = 0;

		while ((n = virtq_chain_read(&c, off, buf, sizeof(buf))) > 0) {
			w = virtq_chain_write(&c, off, buf, n);
			off += w;
			if (w < n)
				break;
		}
		virtq_push(q, &c, off);
	}
	virtq_signal(q);
}

static void echo_reset(void *dev)
{
	struct echo_dev *e = dev;

	e->resets++;
	e->have_held = false;
}

static struct virtio_device_ops echo_ops = {
	.device_id = ECHO_ID,
	.num_queues = ECHO_QUEUES,
	.queue_max_size = ECHO_QUEUE_MAX,
	.features = ECHO_FEATURE,
	.config_read = echo_config_read,
	.config_write = echo_config_write,
	.queue_notify = echo_notify,
	.reset = echo_reset,
};

struct fixture {
	struct test_dev td;
	struct echo_dev echo;
};

static int setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	if (test_dev_init(&f.td, &echo_ops, &f.echo, false))
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	assert_true(fake_canary_intact(&f->td.mem));
	test_dev_free(&f->td);
	return 0;
}

#define FIXTURE(state) (&((struct fixture *)*(state))->td)

static void test_identify(void **state)
{
	struct test_dev *td = FIXTURE(state);
	uint32_t v;

	assert_int_equal(rd32(td, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_int_equal(rd32(td, VIRTIO_MMIO_VERSION), 2);
	assert_int_equal(rd32(td, VIRTIO_MMIO_DEVICE_ID), ECHO_ID);
	assert_int_equal(rd32(td, VIRTIO_MMIO_VENDOR_ID), VIRTIO_MMIO_VENDOR_NITROVM);
	wr32(td, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	v = rd32(td, VIRTIO_MMIO_DEVICE_FEATURES);
	assert_int_equal(v, 1U | 1U << VIRTIO_RING_F_INDIRECT_DESC | 1U << VIRTIO_RING_F_EVENT_IDX);
	wr32(td, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_int_equal(rd32(td, VIRTIO_MMIO_DEVICE_FEATURES), 1); /* VERSION_1 is bit 32 */
	wr32(td, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
	assert_int_equal(rd32(td, VIRTIO_MMIO_DEVICE_FEATURES), 0);
	assert_int_equal(rd32(td, VIRTIO_MMIO_QUEUE_NUM_MAX), ECHO_QUEUE_MAX);
	assert_int_equal(rd32(td, VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(rd32(td, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	assert_int_equal(rd32(td, VIRTIO_MMIO_CONFIG_GENERATION), 0);
	/* No shared memory regions: length -1. */
	wr32(td, VIRTIO_MMIO_SHM_SEL, 0);
	assert_int_equal(rd32(td, VIRTIO_MMIO_SHM_LEN_LOW), UINT32_MAX);
	assert_int_equal(rd32(td, VIRTIO_MMIO_SHM_LEN_HIGH), UINT32_MAX);
	assert_int_equal(harness_log_lines, 0);
}

static void test_bring_up_and_echo(void **state)
{
	struct test_dev *td = FIXTURE(state);
	static const char msg[] = "hello, enclave";
	uint8_t *out;
	struct virtq_used_elem e;

	drv_bring_up(td, 16);
	/* Readable message in three pieces, one in region 1; writable answer in two pieces. */
	memcpy(fake_gpa(&td->mem, FAKE_BUF_GPA, sizeof(msg)), msg, sizeof(msg));
	memcpy(fake_gpa(&td->mem, FAKE_R1_GPA, 8), msg + 5, 8);
	drv_desc(td, 1, 3, FAKE_BUF_GPA, 5, VIRTQ_DESC_F_NEXT, 7);
	drv_desc(td, 1, 7, FAKE_R1_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
	drv_desc(td, 1, 0, FAKE_BUF_GPA + 13, 2, VIRTQ_DESC_F_NEXT, 9);
	drv_desc(td, 1, 9, FAKE_BUF_GPA + 0x100, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	drv_desc(td, 1, 1, FAKE_BUF_GPA + 0x104, 100, VIRTQ_DESC_F_WRITE, 0);
	drv_avail(td, 1, 3);
	drv_kick(td, 1);
	assert_int_equal(drv_used_idx(td, 1), 1);
	e = drv_used_elem(td, 1, 0);
	assert_int_equal(e.id, 3);
	assert_int_equal(e.len, sizeof(msg));
	out = fake_gpa(&td->mem, FAKE_BUF_GPA + 0x100, sizeof(msg));
	assert_memory_equal(out, msg, sizeof(msg));
	assert_int_equal(td->irqs, 1);
	assert_int_equal(rd32(td, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	wr32(td, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_int_equal(rd32(td, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	/* Queue 0 untouched. */
	assert_int_equal(drv_used_idx(td, 0), 0);
	assert_int_equal(harness_log_lines, 0);
}

static void test_notify_from_ioeventfd(void **state)
{
	struct test_dev *td = FIXTURE(state);

	drv_bring_up(td, 8);
	drv_desc(td, 0, 0, FAKE_BUF_GPA, 4, 0, 0);
	drv_avail(td, 0, 0);
	virtio_mmio_queue_notify(td->t, 0);
	assert_int_equal(drv_used_idx(td, 0), 1);
	/* A queue index the device lacks is logged and ignored. */
	virtio_mmio_queue_notify(td->t, ECHO_QUEUES);
	assert_int_equal(harness_log_lines, 1);
	assert_false(dev_needs_reset(td));
}

static void test_features_not_offered(void **state)
{
	struct test_dev *td = FIXTURE(state);
	uint32_t status = drv_negotiate(td, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(5), true);

	assert_false(status & VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(harness_log_lines, 1);
	/* Without FEATURES_OK, DRIVER_OK is refused too. */
	drv_driver_ok(td);
	assert_false(rd32(td, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
}

static void test_features_without_version_1(void **state)
{
	struct test_dev *td = FIXTURE(state);
	uint32_t status = drv_negotiate(td, ECHO_FEATURE, true);

	assert_false(status & VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(harness_log_lines, 1);
	/* The driver may try again with a better set. */
	status = drv_negotiate(td, ECHO_FEATURE | VIRTIO_BIT(VIRTIO_F_VERSION_1), true);
	assert_true(status & VIRTIO_STATUS_FEATURES_OK);
}

static void test_features_above_64(void **state)
{
	struct test_dev *td = FIXTURE(state);

	wr32(td, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr32(td, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr32(td, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	wr32(td, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 2);
	wr32(td, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	wr32(td, VIRTIO_MMIO_STATUS,
	     VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	assert_false(rd32(td, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
}

static void test_features_frozen_after_features_ok(void **state)
{
	struct test_dev *td = FIXTURE(state);
	uint64_t negotiated;

	assert_true(drv_negotiate(td, VIRTIO_BIT(VIRTIO_F_VERSION_1), true) & VIRTIO_STATUS_FEATURES_OK);
	wr32(td, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr32(td, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	assert_int_equal(harness_log_lines, 1);
	virtio_mmio_lock(td->t);
	negotiated = virtio_mmio_negotiated(td->t);
	virtio_mmio_unlock(td->t);
	assert_int_equal(negotiated, VIRTIO_BIT(VIRTIO_F_VERSION_1));
}

static void test_status_bits_only_set(void **state)
{
	struct test_dev *td = FIXTURE(state);

	wr32(td, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr32(td, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	assert_int_equal(rd32(td, VIRTIO_MMIO_STATUS), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	assert_int_equal(harness_log_lines, 1);
	/* The driver cannot set DEVICE_NEEDS_RESET. */
	wr32(td, VIRTIO_MMIO_STATUS,
	     VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	assert_false(dev_needs_reset(td));
	/* FAILED is the driver's to set. */
	wr32(td, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FAILED);
	assert_true(rd32(td, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FAILED);
}

static void expect_queue_refused(struct test_dev *td, const char *why)
{
	assert_int_equal(rd32(td, VIRTIO_MMIO_QUEUE_READY), 0);
	assert_true(dev_needs_reset(td));
	assert_int_equal(harness_log_lines, 1);
	assert_non_null(strstr(harness_last_log, why));
	/* Not running yet: the status bit says it, no interrupt. */
	assert_int_equal(td->irqs, 0);
}

static void setup_queue_raw(struct test_dev *td, uint32_t num, uint64_t desc, uint64_t avail, uint64_t used)
{
	assert_true(drv_negotiate(td, ~0ULL, false) & VIRTIO_STATUS_FEATURES_OK);
	wr32(td, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr32(td, VIRTIO_MMIO_QUEUE_NUM, num);
	wr32(td, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	wr32(td, VIRTIO_MMIO_QUEUE_DESC_HIGH, desc >> 32);
	wr32(td, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
	wr32(td, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, avail >> 32);
	wr32(td, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
	wr32(td, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, used >> 32);
	wr32(td, VIRTIO_MMIO_QUEUE_READY, 1);
}

static void test_queue_size_not_power_of_2(void **state)
{
	struct test_dev *td = FIXTURE(state);

	setup_queue_raw(td, 6, FAKE_DESC_GPA, FAKE_AVAIL_GPA, FAKE_USED_GPA);
	expect_queue_refused(td, "power of two");
}

static void test_queue_size_zero(void **state)
{
	struct test_dev *td = FIXTURE(state);

	setup_queue_raw(td, 0, FAKE_DESC_GPA, FAKE_AVAIL_GPA, FAKE_USED_GPA);
	expect_queue_refused(td, "power of two");
}

static void test_queue_size_above_max(void **state)
{
	struct test_dev *td = FIXTURE(state);

	setup_queue_raw(td, 2 * ECHO_QUEUE_MAX, FAKE_DESC_GPA, FAKE_AVAIL_GPA, FAKE_USED_GPA);
	expect_queue_refused(td, "power of two");
}

static void test_ring_outside_memory(void **state)
{
	struct test_dev *td = FIXTURE(state);

	/* The descriptor table would run from region 0 into the hole. */
	setup_queue_raw(td, 16, FAKE_R0_SIZE - 0x80, FAKE_AVAIL_GPA, FAKE_USED_GPA);
	expect_queue_refused(td, "outside guest memory");
}

static void test_ring_high_address(void **state)
{
	struct test_dev *td = FIXTURE(state);

	setup_queue_raw(td, 16, FAKE_DESC_GPA, FAKE_AVAIL_GPA, 0xfffffffffffff000ULL);
	expect_queue_refused(td, "outside guest memory");
}

static void test_ring_misaligned(void **state)
{
	struct test_dev *td = FIXTURE(state);

	setup_queue_raw(td, 16, FAKE_DESC_GPA, FAKE_AVAIL_GPA + 1, FAKE_USED_GPA);
	expect_queue_refused(td, "misaligned");
}

static void test_queue_regs_frozen_while_ready(void **state)
{
	struct test_dev *td = FIXTURE(state);

	drv_bring_up(td, 8);
	wr32(td, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr32(td, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x20000);
	wr32(td, VIRTIO_MMIO_QUEUE_NUM, 3);
	assert_int_equal(harness_log_lines, 2);
	/* Still works with the layout it was enabled with. */
	drv_desc(td, 0, 0, FAKE_BUF_GPA, 4, 0, 0);
	drv_avail(td, 0, 0);
	drv_kick(td, 0);
	assert_int_equal(drv_used_idx(td, 0), 1);
}

static void test_queue_ready_zero_disables(void **state)
{
	struct test_dev *td = FIXTURE(state);

	drv_bring_up(td, 8);
	wr32(td, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr32(td, VIRTIO_MMIO_QUEUE_READY, 0);
	/* Linux's vm_del_vq checks this reads back 0. */
	assert_int_equal(rd32(td, VIRTIO_MMIO_QUEUE_READY), 0);
	drv_desc(td, 0, 0, FAKE_BUF_GPA, 4, 0, 0);
	drv_avail(td, 0, 0);
	drv_kick(td, 0);
	assert_int_equal(drv_used_idx(td, 0), 0);
	assert_int_equal(harness_log_lines, 1);
	assert_false(dev_needs_reset(td));
}

static void test_queue_sel_out_of_range(void **state)
{
	struct test_dev *td = FIXTURE(state);

	wr32(td, VIRTIO_MMIO_QUEUE_SEL, ECHO_QUEUES);
	assert_int_equal(rd32(td, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	assert_int_equal(rd32(td, VIRTIO_MMIO_QUEUE_READY), 0);
	wr32(td, VIRTIO_MMIO_QUEUE_NUM, 8);
	wr32(td, VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rd32(td, VIRTIO_MMIO_QUEUE_READY), 0);
	assert_int_equal(harness_log_lines, 2);
	wr32(td, VIRTIO_MMIO_QUEUE_SEL, UINT32_MAX);
	assert_int_equal(rd32(td, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	assert_false(dev_needs_reset(td));
}

static void test_kick_before_driver_ok(void **state)
{
	struct test_dev *td = FIXTURE(state);

	assert_true(drv_negotiate(td, ~0ULL, false) & VIRTIO_STATUS_FEATURES_OK);
	drv_setup_queue(td, 0, 8);
	drv_desc(td, 0, 0, FAKE_BUF_GPA, 4, 0, 0);
	drv_avail(td, 0, 0);
	drv_kick(td, 0);
	assert_int_equal(drv_used_idx(td, 0), 0);
	assert_int_equal(harness_log_lines, 0);
	assert_int_equal(((struct fixture *)*state)->echo.notifies, 0);
	/*
	 * Linux's nsm driver kicks during probe, before the core sets DRIVER_OK, and then waits for that request:
	 * the kick is remembered and served as soon as DRIVER_OK is set, without another one.
	 */
	drv_driver_ok(td);
	assert_int_equal(((struct fixture *)*state)->echo.notifies, 1);
	assert_int_equal(drv_used_idx(td, 0), 1);
	/* A reset forgets a pending kick. */
	wr32(td, VIRTIO_MMIO_STATUS, 0);
	assert_true(drv_negotiate(td, ~0ULL, false) & VIRTIO_STATUS_FEATURES_OK);
	drv_setup_queue(td, 0, 8);
	drv_kick(td, 0);
	wr32(td, VIRTIO_MMIO_STATUS, 0);
	assert_true(drv_negotiate(td, ~0ULL, false) & VIRTIO_STATUS_FEATURES_OK);
	drv_setup_queue(td, 0, 8);
	drv_driver_ok(td);
	assert_int_equal(((struct fixture *)*state)->echo.notifies, 1);
}

static void test_register_widths(void **state)
{
	struct test_dev *td = FIXTURE(state);
	uint64_t v8 = ~0ULL;
	uint16_t v2 = 0xffff;
	uint8_t v1 = 0xff;
	uint32_t v4 = ~0U;

	virtio_mmio_access(td->t, VIRTIO_MMIO_MAGIC_VALUE, &v1, 1, false);
	assert_int_equal(v1, 0);
	virtio_mmio_access(td->t, VIRTIO_MMIO_MAGIC_VALUE, &v2, 2, false);
	assert_int_equal(v2, 0);
	virtio_mmio_access(td->t, VIRTIO_MMIO_MAGIC_VALUE, &v8, 8, false);
	assert_int_equal(v8, 0);
	virtio_mmio_access(td->t, VIRTIO_MMIO_MAGIC_VALUE + 1, &v4, 4, false);
	assert_int_equal(v4, 0);
	v1 = VIRTIO_STATUS_ACKNOWLEDGE;
	virtio_mmio_access(td->t, VIRTIO_MMIO_STATUS, &v1, 1, true);
	v4 = VIRTIO_STATUS_ACKNOWLEDGE;
	virtio_mmio_access(td->t, VIRTIO_MMIO_STATUS + 2, &v4, 4, true);
	v8 = VIRTIO_STATUS_ACKNOWLEDGE;
	virtio_mmio_access(td->t, VIRTIO_MMIO_STATUS, &v8, 8, true);
	assert_int_equal(rd32(td, VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(harness_log_lines, 7);
}

static void test_unknown_and_wrong_direction(void **state)
{
	struct test_dev *td = FIXTURE(state);

	assert_int_equal(rd32(td, VIRTIO_MMIO_QUEUE_NOTIFY), 0);
	assert_int_equal(rd32(td, VIRTIO_MMIO_QUEUE_NUM), 0);
	assert_int_equal(rd32(td, 0x018), 0);
	wr32(td, VIRTIO_MMIO_MAGIC_VALUE, 0);
	wr32(td, VIRTIO_MMIO_DEVICE_ID, 7);
	wr32(td, 0x0f0, 1);
	assert_int_equal(rd32(td, VIRTIO_MMIO_MAGIC_VALUE), VIRTIO_MMIO_MAGIC);
	assert_int_equal(rd32(td, VIRTIO_MMIO_DEVICE_ID), ECHO_ID);
	assert_int_equal(harness_log_lines, 6);
}

static void test_log_budget(void **state)
{
	struct test_dev *td = FIXTURE(state);

	for (int i = 0; i < 1000; i++)
		wr32(td, VIRTIO_MMIO_MAGIC_VALUE, 0);
	/* 32 lines and one saying the rest are dropped. */
	assert_int_equal(harness_log_lines, 33);
}

static void test_config_space(void **state)
{
	struct fixture *f = *state;
	struct test_dev *td = &f->td;
	uint64_t v8 = 0x1122334455667788ULL, r8 = 0;
	uint16_t r2 = 0;
	uint8_t b = 0x99, r1 = 0;
	uint32_t r4 = 0;

	virtio_mmio_access(td->t, VIRTIO_MMIO_CONFIG, &v8, 8, true);
	virtio_mmio_access(td->t, VIRTIO_MMIO_CONFIG + 9, &b, 1, true);
	assert_memory_equal(f->echo.config, &v8, 8);
	assert_int_equal(f->echo.config[9], 0x99);
	virtio_mmio_access(td->t, VIRTIO_MMIO_CONFIG, &r8, 8, false);
	assert_int_equal(r8, v8);
	virtio_mmio_access(td->t, VIRTIO_MMIO_CONFIG + 1, &r2, 2, false);
	assert_int_equal(r2, 0x6677);
	virtio_mmio_access(td->t, VIRTIO_MMIO_CONFIG + 9, &r1, 1, false);
	assert_int_equal(r1, 0x99);
	/* Past the device's configuration the device leaves data alone: it reads 0. */
	r4 = ~0U;
	virtio_mmio_access(td->t, VIRTIO_MMIO_CONFIG + ECHO_CONFIG_SIZE, &r4, 4, false);
	assert_int_equal(r4, 0);
	/* Past the window, or wider than 8: logged, ignored. */
	r4 = ~0U;
	virtio_mmio_access(td->t, VIRTIO_MMIO_WINDOW_SIZE - 2, &r4, 4, false);
	assert_int_equal(r4, 0);
	virtio_mmio_access(td->t, VIRTIO_MMIO_WINDOW_SIZE, &r4, 4, true);
	virtio_mmio_access(td->t, UINT64_MAX - 1, &r4, 4, true);
	assert_int_equal(harness_log_lines, 3);
	assert_int_equal(rd32(td, VIRTIO_MMIO_CONFIG_GENERATION), 0);
}

static void test_interrupt_ack_partial(void **state)
{
	struct test_dev *td = FIXTURE(state);

	drv_bring_up(td, 8);
	drv_desc(td, 0, 0, FAKE_BUF_GPA, 4, 0, 0);
	drv_avail(td, 0, 0);
	drv_kick(td, 0);
	assert_int_equal(td->irqs, 1);
	virtio_mmio_lock(td->t);
	virtio_mmio_config_changed(td->t);
	virtio_mmio_unlock(td->t);
	assert_int_equal(td->irqs, 2);
	assert_int_equal(rd32(td, VIRTIO_MMIO_CONFIG_GENERATION), 1);
	assert_int_equal(rd32(td, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG);
	/* Acknowledging one of two: the other is raised again. */
	wr32(td, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_int_equal(rd32(td, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(td->irqs, 3);
	wr32(td, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(rd32(td, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	assert_int_equal(td->irqs, 3);
}

static void test_reset_after_needs_reset(void **state)
{
	struct fixture *f = *state;
	struct test_dev *td = &f->td;

	drv_bring_up(td, 8);
	drv_set_avail_idx(td, 0, 100);
	drv_kick(td, 0);
	assert_true(dev_needs_reset(td));
	assert_int_equal(rd32(td, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(td->irqs, 1);
	assert_int_equal(harness_log_lines, 1);
	/* Further kicks are ignored without more log lines. */
	drv_kick(td, 0);
	drv_kick(td, 1);
	assert_int_equal(harness_log_lines, 1);

	f->echo.resets = 0;
	wr32(td, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(f->echo.resets, 1);
	assert_int_equal(rd32(td, VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(rd32(td, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	wr32(td, VIRTIO_MMIO_QUEUE_SEL, 0);
	assert_int_equal(rd32(td, VIRTIO_MMIO_QUEUE_READY), 0);

	drv_bring_up(td, 8);
	drv_desc(td, 0, 0, FAKE_BUF_GPA, 4, 0, 0);
	drv_avail(td, 0, 0);
	drv_kick(td, 0);
	assert_int_equal(drv_used_idx(td, 0), 1);
	assert_false(dev_needs_reset(td));
}

static void test_stale_chain_not_pushed(void **state)
{
	struct fixture *f = *state;
	struct test_dev *td = &f->td;
	struct virtq_chain held;

	drv_bring_up(td, 8);
	f->echo.hold = true;
	drv_desc(td, 0, 0, FAKE_BUF_GPA, 4, 0, 0);
	drv_avail(td, 0, 0);
	drv_kick(td, 0);
	assert_true(f->echo.have_held);
	held = f->echo.held;
	/* The driver resets and starts over; the device then finishes the old request. */
	drv_bring_up(td, 8);
	virtio_mmio_lock(td->t);
	virtq_push(virtio_mmio_vq(td->t, 0), &held, 0);
	virtq_signal(virtio_mmio_vq(td->t, 0));
	virtio_mmio_unlock(td->t);
	assert_int_equal(drv_used_idx(td, 0), 0);
	assert_int_equal(td->irqs, 0);
}

static void test_unpop(void **state)
{
	struct fixture *f = *state;
	struct test_dev *td = &f->td;

	drv_bring_up(td, 8);
	f->echo.unpop = true;
	drv_desc(td, 0, 4, FAKE_BUF_GPA, 4, 0, 0);
	drv_avail(td, 0, 4);
	drv_kick(td, 0);
	assert_int_equal(drv_used_idx(td, 0), 0);
	f->echo.unpop = false;
	drv_kick(td, 0);
	assert_int_equal(drv_used_idx(td, 0), 1);
	assert_int_equal(drv_used_elem(td, 0, 0).id, 4);
	assert_false(dev_needs_reset(td));
}

static void test_create_rejects_bad_ops(void **state)
{
	struct test_dev *td = FIXTURE(state);
	struct virtio_device_ops ops = echo_ops;

	ops.num_queues = 0;
	assert_null(virtio_mmio_create(&td->mem.gm, &ops, NULL, NULL, NULL));
	ops.num_queues = VIRTIO_MMIO_MAX_QUEUES + 1;
	assert_null(virtio_mmio_create(&td->mem.gm, &ops, NULL, NULL, NULL));
	ops.num_queues = 1;
	ops.queue_max_size = 100;
	assert_null(virtio_mmio_create(&td->mem.gm, &ops, NULL, NULL, NULL));
	ops.queue_max_size = 0;
	assert_null(virtio_mmio_create(&td->mem.gm, &ops, NULL, NULL, NULL));
	ops = echo_ops;
	ops.queue_notify = NULL;
	assert_null(virtio_mmio_create(&td->mem.gm, &ops, NULL, NULL, NULL));
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_identify),
		T(test_bring_up_and_echo),
		T(test_notify_from_ioeventfd),
		T(test_features_not_offered),
		T(test_features_without_version_1),
		T(test_features_above_64),
		T(test_features_frozen_after_features_ok),
		T(test_status_bits_only_set),
		T(test_queue_size_not_power_of_2),
		T(test_queue_size_zero),
		T(test_queue_size_above_max),
		T(test_ring_outside_memory),
		T(test_ring_high_address),
		T(test_ring_misaligned),
		T(test_queue_regs_frozen_while_ready),
		T(test_queue_ready_zero_disables),
		T(test_queue_sel_out_of_range),
		T(test_kick_before_driver_ok),
		T(test_register_widths),
		T(test_unknown_and_wrong_direction),
		T(test_log_budget),
		T(test_config_space),
		T(test_interrupt_ack_partial),
		T(test_reset_after_needs_reset),
		T(test_stale_chain_not_pushed),
		T(test_unpop),
		T(test_create_rejects_bad_ops),
	};

	return cmocka_run_group_tests_name("virtio-mmio", tests, NULL, NULL);
}
