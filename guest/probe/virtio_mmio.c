// SPDX-License-Identifier: MIT
/*
 * The steps of bringing up a virtio-mmio device that every probe driver shares
 * (virtio_mmio.h).  Each reports its failures on the caller's check, with
 * report_fail_machine: under probe.qemu=1 a device QEMU models differently is
 * not the probe's failure.
 */
#include "virtio_mmio.h"

/* A modern (version 2) virtio-mmio device of type device_id at base? */
bool vmmio_identify(uint64_t base, const char *who, uint32_t device_id)
{
	uint32_t magic = vmmio_read(base, VMMIO_MAGIC_VALUE);
	uint32_t version = vmmio_read(base, VMMIO_VERSION);
	uint32_t id = vmmio_read(base, VMMIO_DEVICE_ID);

	if (magic == VMMIO_MAGIC && version == 2 && id == device_id)
		return true;
	report_fail_machine(who, "at 0x%lx: magic 0x%x version %u device %u, want 0x%x 2 %u", base, magic,
			    version, id, VMMIO_MAGIC, device_id);
	return false;
}

/*
 * Reset, ACKNOWLEDGE, DRIVER, and the features up to FEATURES_OK (3.1.1 steps
 * 1-6).  The probe accepts VIRTIO_F_VERSION_1 alone: none of its devices needs
 * more, and a modern device must offer it.  *features (if given) gets what the
 * device offered.
 */
bool vmmio_negotiate(uint64_t base, const char *who, uint64_t *features)
{
	uint64_t offered;
	uint32_t status;

	vmmio_write(base, VMMIO_STATUS, 0);
	status = vmmio_read(base, VMMIO_STATUS);
	if (status) {
		report_fail_machine(who, "status 0x%x after reset", status);
		return false;
	}
	vmmio_write(base, VMMIO_STATUS, VMMIO_ST_ACK);
	vmmio_write(base, VMMIO_STATUS, VMMIO_ST_ACK | VMMIO_ST_DRIVER);

	vmmio_write(base, VMMIO_DEV_FEAT_SEL, 0);
	offered = vmmio_read(base, VMMIO_DEV_FEAT);
	vmmio_write(base, VMMIO_DEV_FEAT_SEL, 1);
	offered |= (uint64_t)vmmio_read(base, VMMIO_DEV_FEAT) << 32;
	if (!(offered & (1ULL << VIRTIO_F_VERSION_1))) {
		report_fail_machine(who, "device features 0x%lx lack VIRTIO_F_VERSION_1", offered);
		return false;
	}
	vmmio_write(base, VMMIO_DRV_FEAT_SEL, 0);
	vmmio_write(base, VMMIO_DRV_FEAT, 0);
	vmmio_write(base, VMMIO_DRV_FEAT_SEL, 1);
	vmmio_write(base, VMMIO_DRV_FEAT, 1U << (VIRTIO_F_VERSION_1 - 32));
	vmmio_write(base, VMMIO_STATUS, VMMIO_ST_ACK | VMMIO_ST_DRIVER | VMMIO_ST_FEATURES_OK);
	status = vmmio_read(base, VMMIO_STATUS);
	if (!(status & VMMIO_ST_FEATURES_OK)) {
		report_fail_machine(who, "device refused FEATURES_OK (status 0x%x)", status);
		return false;
	}
	if (features)
		*features = offered;
	return true;
}

static void write64(uint64_t base, uint32_t lo_reg, uint64_t v)
{
	vmmio_write(base, lo_reg, (uint32_t)v);
	vmmio_write(base, lo_reg + 4, (uint32_t)(v >> 32));
}

/*
 * Set up queue q on vq's rings (4.2.3.2), cleared first: the device starts at
 * index 0 of both.  The size is the largest power of two (split rings need
 * one) up to VQ_SIZE that QueueNumMax allows, and must be at least need (>= 1);
 * it is left in vq->num.  Returns QueueNumMax, or 0 once the failure is
 * reported.
 */
uint32_t vmmio_queue_setup(uint64_t base, const char *who, uint32_t q, struct vq *vq, uint32_t need)
{
	uint32_t max, ready, num;

	vmmio_write(base, VMMIO_QUEUE_SEL, q);
	max = vmmio_read(base, VMMIO_QUEUE_NUM_MAX);
	ready = vmmio_read(base, VMMIO_QUEUE_READY);
	num = max < VQ_SIZE ? max : VQ_SIZE;
	while (num & (num - 1))
		num--;
	/* A queue already live belongs to someone else: the spec has the driver check. */
	if (num < need || ready) {
		report_fail_machine(who, "queue %u: QueueNumMax %u (%u needed), QueueReady %u before setup",
				    q, max, need, ready);
		return 0;
	}
	memset(vq, 0, sizeof(*vq));
	vq->num = num;
	vmmio_write(base, VMMIO_QUEUE_NUM, num);
	write64(base, VMMIO_QUEUE_DESC_LO, (uint64_t)vq->desc);
	write64(base, VMMIO_QUEUE_DRIVER_LO, (uint64_t)&vq->avail);
	write64(base, VMMIO_QUEUE_DEVICE_LO, (uint64_t)&vq->used);
	vmmio_write(base, VMMIO_QUEUE_READY, 1);
	if (vmmio_read(base, VMMIO_QUEUE_READY) != 1) {
		report_fail_machine(who, "queue %u: QueueReady does not read back 1", q);
		return 0;
	}
	return max;
}
