// SPDX-License-Identifier: MIT
/*
 * virtio-mmio (modern, version 2) driven by hand against the VMM's entropy test
 * device: the full driver handshake, one split virtqueue, one request, the
 * interrupt, and (probe.badvq=1) the device's answer to a descriptor that points
 * outside guest memory: DEVICE_NEEDS_RESET, nothing else.
 */
#include "probe.h"

#define VIRTIO_MMIO_MAGIC_VALUE       0x000
#define VIRTIO_MMIO_VERSION           0x004
#define VIRTIO_MMIO_DEVICE_ID         0x008
#define VIRTIO_MMIO_VENDOR_ID         0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES   0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES   0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL         0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX     0x034
#define VIRTIO_MMIO_QUEUE_NUM         0x038
#define VIRTIO_MMIO_QUEUE_READY       0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY      0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS  0x060
#define VIRTIO_MMIO_INTERRUPT_ACK     0x064
#define VIRTIO_MMIO_STATUS            0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW    0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH   0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW  0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH 0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW  0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH 0x0a4

#define VIRTIO_MMIO_MAGIC   0x74726976 /* "virt" */
#define VIRTIO_ID_RNG       4
#define VIRTIO_F_VERSION_1  32

#define STATUS_ACKNOWLEDGE       0x01
#define STATUS_DRIVER            0x02
#define STATUS_DRIVER_OK         0x04
#define STATUS_FEATURES_OK       0x08
#define STATUS_DEVICE_NEEDS_RESET 0x40
#define STATUS_FAILED            0x80

#define VIRTQ_DESC_F_WRITE  2
#define INT_USED_RING       0x1
#define INT_CONFIG          0x2

#define QUEUE_SIZE_MAX  8
#define RNG_BUF_LEN     64
#define WAIT_US         500000
/* Far outside any RAM this VM can have (128 TiB): the device must refuse it. */
#define BAD_DESC_ADDR   0x7ffffffff000ULL

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
} __attribute__((packed));

struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[QUEUE_SIZE_MAX];
	uint16_t used_event;
} __attribute__((packed));

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
} __attribute__((packed));

struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[QUEUE_SIZE_MAX];
	uint16_t avail_event;
} __attribute__((packed));

/* One page: descriptors, driver (avail) ring, device (used) ring, the buffer. */
struct vq_page {
	struct virtq_desc desc[QUEUE_SIZE_MAX];      /* 16-byte aligned */
	struct virtq_avail avail __attribute__((aligned(16)));
	struct virtq_used used __attribute__((aligned(16)));
	uint8_t buf[RNG_BUF_LEN] __attribute__((aligned(64)));
};

static struct vq_page vq __attribute__((aligned(4096), section(".noinit.vq")));
_Static_assert(sizeof(struct vq_page) <= 4096, "virtqueue page overflows");

static uint64_t base;
static volatile uint32_t last_isr_status;

static uint32_t vread(uint32_t reg)
{
	return mmio_read32(base + reg);
}

static void vwrite(uint32_t reg, uint32_t v)
{
	mmio_write32(base + reg, v);
}

static void virtio_interrupt(void)
{
	uint32_t status = vread(VIRTIO_MMIO_INTERRUPT_STATUS);

	last_isr_status |= status;
	vwrite(VIRTIO_MMIO_INTERRUPT_ACK, status);
}

static void vwrite64(uint32_t lo_reg, uint64_t v)
{
	vwrite(lo_reg, (uint32_t)v);
	vwrite(lo_reg + 4, (uint32_t)(v >> 32));
}

/* Poll a condition with interrupts on, bounded in time. */
static bool wait_used_idx(uint16_t idx, uint64_t *us)
{
	uint64_t t0 = time_us(), now = t0;

	irq_enable();
	while (*(volatile uint16_t *)&vq.used.idx != idx && now - t0 < WAIT_US) {
		cpu_relax();
		now = time_us();
	}
	irq_disable();
	*us = now - t0;
	return *(volatile uint16_t *)&vq.used.idx == idx;
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

static bool handshake(uint32_t *qsize)
{
	uint64_t features;
	uint32_t status, max;

	vwrite(VIRTIO_MMIO_STATUS, 0);
	if (vread(VIRTIO_MMIO_STATUS)) {
		report_fail_machine("virtio", "status 0x%x after reset", vread(VIRTIO_MMIO_STATUS));
		return false;
	}
	vwrite(VIRTIO_MMIO_STATUS, STATUS_ACKNOWLEDGE);
	vwrite(VIRTIO_MMIO_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);

	vwrite(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	features = vread(VIRTIO_MMIO_DEVICE_FEATURES);
	vwrite(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	features |= (uint64_t)vread(VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	if (!(features & (1ULL << VIRTIO_F_VERSION_1))) {
		report_fail_machine("virtio", "device features 0x%lx lack VIRTIO_F_VERSION_1", features);
		return false;
	}
	/* Accept VERSION_1 only: the rng device needs nothing else. */
	vwrite(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vwrite(VIRTIO_MMIO_DRIVER_FEATURES, 0);
	vwrite(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vwrite(VIRTIO_MMIO_DRIVER_FEATURES, 1U << (VIRTIO_F_VERSION_1 - 32));
	vwrite(VIRTIO_MMIO_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
	status = vread(VIRTIO_MMIO_STATUS);
	if (!(status & STATUS_FEATURES_OK)) {
		report_fail_machine("virtio", "device refused FEATURES_OK (status 0x%x)", status);
		return false;
	}

	vwrite(VIRTIO_MMIO_QUEUE_SEL, 0);
	max = vread(VIRTIO_MMIO_QUEUE_NUM_MAX);
	if (!max || vread(VIRTIO_MMIO_QUEUE_READY)) {
		report_fail_machine("virtio", "queue 0: QueueNumMax %u, QueueReady %u before setup", max,
			    vread(VIRTIO_MMIO_QUEUE_READY));
		return false;
	}
	*qsize = max < QUEUE_SIZE_MAX ? max : QUEUE_SIZE_MAX;
	/* Split rings need a power-of-two size. */
	while (*qsize & (*qsize - 1))
		(*qsize)--;
	memset(&vq, 0, sizeof(vq));
	vwrite(VIRTIO_MMIO_QUEUE_NUM, *qsize);
	vwrite64(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint64_t)vq.desc);
	vwrite64(VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint64_t)&vq.avail);
	vwrite64(VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint64_t)&vq.used);
	vwrite(VIRTIO_MMIO_QUEUE_READY, 1);
	if (vread(VIRTIO_MMIO_QUEUE_READY) != 1) {
		report_fail_machine("virtio", "QueueReady does not read back 1");
		return false;
	}
	vwrite(VIRTIO_MMIO_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
	status = vread(VIRTIO_MMIO_STATUS);
	if (status & (STATUS_DEVICE_NEEDS_RESET | STATUS_FAILED) || !(status & STATUS_DRIVER_OK)) {
		report_fail_machine("virtio", "status 0x%x after DRIVER_OK", status);
		return false;
	}
	report_ok("virtio", "handshake done: device features 0x%lx, queue 0 size %u of %u, status 0x%x", features,
		  *qsize, max, status);
	return true;
}

/* Make descriptor `d` available in ring slot `slot` and kick queue 0. */
static void post(uint16_t d, uint16_t slot, uint32_t qsize)
{
	vq.avail.ring[slot % qsize] = d;
	barrier(); /* x86 keeps stores in order; the compiler must too */
	vq.avail.idx = (uint16_t)(slot + 1);
	barrier();
	vwrite(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

static void check_rng_request(uint32_t qsize)
{
	uint32_t irqs = irq_count[VEC_VIRTIO], nonzero = 0, len;
	uint64_t us;

	vq.desc[0] = (struct virtq_desc){ (uint64_t)vq.buf, RNG_BUF_LEN, VIRTQ_DESC_F_WRITE, 0 };
	post(0, 0, qsize);
	if (!wait_used_idx(1, &us)) {
		report_fail_machine("virtio-rng", "used ring idx still %u after %lu us (status 0x%x)", vq.used.idx, us,
			    vread(VIRTIO_MMIO_STATUS));
		return;
	}
	len = vq.used.ring[0].len;
	for (uint32_t i = 0; i < RNG_BUF_LEN; i++)
		nonzero += vq.buf[i] != 0;
	if (vq.used.ring[0].id != 0 || !len || len > RNG_BUF_LEN || !nonzero)
		report_fail_machine("virtio-rng", "used id %u len %u, %u non-zero bytes", vq.used.ring[0].id, len, nonzero);
	else
		report_ok("virtio-rng", "%u random bytes after %lu us: %02x %02x %02x %02x %02x %02x %02x %02x ...",
			  len, us, vq.buf[0], vq.buf[1], vq.buf[2], vq.buf[3], vq.buf[4], vq.buf[5], vq.buf[6],
			  vq.buf[7]);

	if (wait_irq(irqs) && (last_isr_status & INT_USED_RING))
		report_ok("virtio-irq", "IRQ %u (vector 0x%x), InterruptStatus 0x%x, acknowledged", cfg.virtio_irq,
			  VEC_VIRTIO, last_isr_status);
	else
		report_fail_machine("virtio-irq", "no used-buffer interrupt on IRQ %u (InterruptStatus 0x%x)", cfg.virtio_irq,
			    vread(VIRTIO_MMIO_INTERRUPT_STATUS));
}

static void check_bad_descriptor(uint32_t qsize)
{
	uint64_t t0;
	uint32_t status = 0;

	vq.desc[1] = (struct virtq_desc){ BAD_DESC_ADDR, RNG_BUF_LEN, VIRTQ_DESC_F_WRITE, 0 };
	post(1, 1, qsize);
	t0 = time_us();
	irq_enable();
	while (time_us() - t0 < WAIT_US) {
		status = vread(VIRTIO_MMIO_STATUS);
		if (status & STATUS_DEVICE_NEEDS_RESET)
			break;
		cpu_relax();
	}
	irq_disable();
	if (!(status & STATUS_DEVICE_NEEDS_RESET))
		report_fail_machine("virtio-badvq", "descriptor at 0x%llx: status 0x%x, no DEVICE_NEEDS_RESET",
			    BAD_DESC_ADDR, status);
	else if (vq.used.idx != 1)
		report_fail_machine("virtio-badvq", "DEVICE_NEEDS_RESET, but the bad buffer was also used (used idx %u)",
			    vq.used.idx);
	else
		report_ok("virtio-badvq", "descriptor at 0x%llx: status 0x%x (DEVICE_NEEDS_RESET), used ring untouched",
			  BAD_DESC_ADDR, status);
}

void check_virtio(void)
{
	uint32_t magic, version, id, qsize;

	if (!cfg.have_virtio) {
		report_skip("virtio", "no probe.virtio=<addr>:<irq> on the command line");
		return;
	}
	base = cfg.virtio_base;
	magic = vread(VIRTIO_MMIO_MAGIC_VALUE);
	version = vread(VIRTIO_MMIO_VERSION);
	id = vread(VIRTIO_MMIO_DEVICE_ID);
	if (magic != VIRTIO_MMIO_MAGIC || version != 2 || id != VIRTIO_ID_RNG) {
		report_fail_machine("virtio", "at 0x%lx: magic 0x%x version %u device %u, want 0x%x 2 %u", base, magic,
			    version, id, VIRTIO_MMIO_MAGIC, VIRTIO_ID_RNG);
		return;
	}
	report_ok("virtio", "at 0x%lx: magic \"virt\", version 2, device %u (rng), vendor 0x%x", base, id,
		  vread(VIRTIO_MMIO_VENDOR_ID));

	virtio_isr = virtio_interrupt;
	ioapic_route(cfg.virtio_irq, VEC_VIRTIO, false);
	if (handshake(&qsize)) {
		check_rng_request(qsize);
		if (cfg.badvq)
			check_bad_descriptor(qsize);
	}
	vwrite(VIRTIO_MMIO_STATUS, 0);
	if (vread(VIRTIO_MMIO_STATUS))
		report_fail_machine("virtio", "status 0x%x after the final reset", vread(VIRTIO_MMIO_STATUS));
	ioapic_mask(cfg.virtio_irq);
	virtio_isr = NULL;
}
