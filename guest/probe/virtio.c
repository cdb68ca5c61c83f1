// SPDX-License-Identifier: MIT
/*
 * virtio-mmio (modern, version 2) driven by hand against the VMM's entropy test
 * device: the full driver handshake, one split virtqueue, one request, the
 * interrupt, and (probe.badvq=1) the device's answer to a descriptor that points
 * outside guest memory: DEVICE_NEEDS_RESET, nothing else.
 */
#include "virtio_mmio.h"

#define VIRTIO_ID_RNG 4
#define RNG_BUF_LEN   64
#define WAIT_US	      500000
/* Far outside any RAM this VM can have (128 TiB): the device must refuse it. */
#define BAD_DESC_ADDR 0x7ffffffff000ULL

/* One page: the queue, then the buffer. */
static struct {
	struct vq q;
	uint8_t buf[RNG_BUF_LEN] __attribute__((aligned(64)));
} rng __attribute__((aligned(4096), section(".noinit.vq")));
_Static_assert(sizeof(rng) <= 4096, "virtqueue page overflows");

static uint64_t base;
static volatile uint32_t last_isr_status;

static void virtio_interrupt(void)
{
	last_isr_status |= vmmio_ack(base);
}

/* Poll a condition with interrupts on, bounded in time. */
static bool wait_used_idx(uint16_t idx, uint64_t *us)
{
	uint64_t t0 = time_us(), now = t0;

	irq_enable();
	while (*(volatile uint16_t *)&rng.q.used.idx != idx && now - t0 < WAIT_US) {
		cpu_relax();
		now = time_us();
	}
	irq_disable();
	*us = now - t0;
	return *(volatile uint16_t *)&rng.q.used.idx == idx;
}

static bool wait_irq(uint32_t before)
{
	uint64_t t0 = time_us();

	irq_enable();
	while (irq_count[VEC_VIRTIO] == before && time_us() - t0 < WAIT_US)
		cpu_relax();
	irq_disable();
	return irq_count[VEC_VIRTIO] != before;
}

static bool handshake(void)
{
	uint64_t features;
	uint32_t status, max;

	if (!vmmio_negotiate(base, "virtio", &features))
		return false;
	max = vmmio_queue_setup(base, "virtio", 0, &rng.q, 1);
	if (!max)
		return false;
	vmmio_driver_ok(base);
	status = vmmio_read(base, VMMIO_STATUS);
	if (status & (VMMIO_ST_NEEDS_RESET | VMMIO_ST_FAILED) || !(status & VMMIO_ST_DRIVER_OK)) {
		report_fail_machine("virtio", "status 0x%x after DRIVER_OK", status);
		return false;
	}
	report_ok("virtio", "handshake done: device features 0x%lx, queue 0 size %u of %u, status 0x%x",
		  features, rng.q.num, max, status);
	return true;
}

/* Make descriptor `d` available in ring slot `slot` and kick queue 0. */
static void post(uint16_t d, uint16_t slot)
{
	rng.q.avail.ring[slot % rng.q.num] = d;
	barrier(); /* x86 keeps stores in order; the compiler must too */
	rng.q.avail.idx = (uint16_t)(slot + 1);
	vmmio_notify(base, 0);
}

static void check_rng_request(void)
{
	uint32_t irqs = irq_count[VEC_VIRTIO], nonzero = 0, len;
	uint64_t us;

	/* .noinit is not cleared at boot: count only bytes the device wrote. */
	memset(rng.buf, 0, sizeof(rng.buf));
	rng.q.desc[0] = (struct vq_desc){ (uint64_t)rng.buf, RNG_BUF_LEN, VIRTQ_DESC_F_WRITE, 0 };
	post(0, 0);
	if (!wait_used_idx(1, &us)) {
		report_fail_machine("virtio-rng", "used ring idx still %u after %lu us (status 0x%x)",
				    rng.q.used.idx, us, vmmio_read(base, VMMIO_STATUS));
		return;
	}
	len = rng.q.used.ring[0].len;
	for (uint32_t i = 0; i < RNG_BUF_LEN; i++)
		nonzero += rng.buf[i] != 0;
	if (rng.q.used.ring[0].id != 0 || !len || len > RNG_BUF_LEN || !nonzero)
		report_fail_machine("virtio-rng", "used id %u len %u, %u non-zero bytes",
				    rng.q.used.ring[0].id, len, nonzero);
	else
		report_ok("virtio-rng", "%u random bytes after %lu us: %02x %02x %02x %02x %02x %02x %02x %02x ...",
			  len, us, rng.buf[0], rng.buf[1], rng.buf[2], rng.buf[3], rng.buf[4], rng.buf[5], rng.buf[6],
			  rng.buf[7]);

	if (wait_irq(irqs) && (last_isr_status & VMMIO_INT_USED_RING))
		report_ok("virtio-irq", "IRQ %u (vector 0x%x), InterruptStatus 0x%x, acknowledged",
			  cfg.virtio_irq, VEC_VIRTIO, last_isr_status);
	else
		report_fail_machine("virtio-irq", "no used-buffer interrupt on IRQ %u (InterruptStatus 0x%x)",
				    cfg.virtio_irq, vmmio_read(base, VMMIO_INT_STATUS));
}

static void check_bad_descriptor(void)
{
	uint64_t t0;
	uint32_t status = 0;

	rng.q.desc[1] = (struct vq_desc){ BAD_DESC_ADDR, RNG_BUF_LEN, VIRTQ_DESC_F_WRITE, 0 };
	post(1, 1);
	t0 = time_us();
	irq_enable();
	while (time_us() - t0 < WAIT_US) {
		status = vmmio_read(base, VMMIO_STATUS);
		if (status & VMMIO_ST_NEEDS_RESET)
			break;
		cpu_relax();
	}
	irq_disable();
	if (!(status & VMMIO_ST_NEEDS_RESET))
		report_fail_machine("virtio-badvq", "descriptor at 0x%llx: status 0x%x, no DEVICE_NEEDS_RESET",
			    BAD_DESC_ADDR, status);
	else if (rng.q.used.idx != 1)
		report_fail_machine("virtio-badvq", "DEVICE_NEEDS_RESET, but the bad buffer was also used (used idx %u)",
			    rng.q.used.idx);
	else
		report_ok("virtio-badvq", "descriptor at 0x%llx: status 0x%x (DEVICE_NEEDS_RESET), used ring untouched",
			  BAD_DESC_ADDR, status);
}

void check_virtio(void)
{
	if (!cfg.have_virtio) {
		report_skip("virtio", "no probe.virtio=<addr>:<irq> on the command line");
		return;
	}
	base = cfg.virtio_base;
	if (!vmmio_identify(base, "virtio", VIRTIO_ID_RNG))
		return;
	report_ok("virtio", "at 0x%lx: magic \"virt\", version 2, device %u (rng), vendor 0x%x", base,
		  VIRTIO_ID_RNG, vmmio_read(base, VMMIO_VENDOR_ID));

	virtio_isr = virtio_interrupt;
	ioapic_route(cfg.virtio_irq, VEC_VIRTIO, false);
	if (handshake()) {
		check_rng_request();
		if (cfg.badvq)
			check_bad_descriptor();
	}
	vmmio_write(base, VMMIO_STATUS, 0);
	if (vmmio_read(base, VMMIO_STATUS))
		report_fail_machine("virtio", "status 0x%x after the final reset", vmmio_read(base, VMMIO_STATUS));
	ioapic_mask(cfg.virtio_irq);
	virtio_isr = NULL;
}
