// SPDX-License-Identifier: MIT
/*
 * The virtio-mmio transport, version 2 (virtio 1.2, 4.2.2): the register window a driver uses to find the
 * device, negotiate features, set up queues and kick them.
 *
 * Guest mistakes at the register level (wrong width, unknown register, a write the current state does not
 * allow) are logged and ignored; they cannot harm the host and the spec gives the device nothing better to
 * do.  Mistakes in rings and descriptors put the device in DEVICE_NEEDS_RESET (virtio_mmio_device_error()).
 */
#include "hw/virtio/queue.h"

#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/* Guest-triggered log lines per device over its life: enough to diagnose a driver, too few to flood the log. */
#define VIRTIO_MMIO_LOG_BUDGET 32
/* One log line; longer messages are cut. */
#define VIRTIO_MMIO_LOG_LINE_MAX 256
/* Device status is an 8-bit field (virtio 1.2, 2.1); the register is 32 bits wide. */
#define VIRTIO_STATUS_MASK 0xff
/* Widths a configuration-space access may have: what a CPU's load and store instructions produce. */
#define VIRTIO_MMIO_CONFIG_MAX_ACCESS 8

static virtio_log_fn *log_fn;

static void log_default(const char *line)
{
	fprintf(stderr, "nitrovm: %s\n", line);
}

void virtio_set_log(virtio_log_fn *fn)
{
	log_fn = fn;
}

static void vlog(struct virtio_mmio_dev *d, const char *fmt, va_list ap)
{
	virtio_log_fn *out = log_fn ? log_fn : log_default;
	char line[VIRTIO_MMIO_LOG_LINE_MAX];
	int n;

	if (!d->log_budget)
		return;
	n = snprintf(line, sizeof(line), "virtio-mmio device %u: ", d->ops->device_id);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	out(line);
	if (--d->log_budget)
		return;
	snprintf(line, sizeof(line), "virtio-mmio device %u: further guest errors are not logged", d->ops->device_id);
	out(line);
}

/* Log one line about the guest, within the transport's budget. */
__attribute__((format(printf, 2, 3))) static void virtio_mmio_log(struct virtio_mmio_dev *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(d, fmt, ap);
	va_end(ap);
}

void virtio_mmio_interrupt(struct virtio_mmio_dev *d, uint32_t bits)
{
	uint32_t old = d->interrupt_status;

	d->interrupt_status |= bits;
	/* Only on a new bit: an interrupt with nothing new to report counts as spurious to Linux. */
	if (d->interrupt_status != old && d->raise_irq)
		d->raise_irq(d->irq_opaque);
}

void virtio_mmio_device_error(struct virtio_mmio_dev *d, const char *fmt, ...)
{
	char msg[VIRTIO_MMIO_LOG_LINE_MAX];
	va_list ap;

	/* The first error stopped the device; later ones are its consequences. */
	if (d->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET)
		return;
	d->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	virtio_mmio_log(d, "%s; device needs reset", msg);
	/* A driver that is not running yet will see the status bit when it reads Status (virtio 1.2, 2.1.2). */
	if (d->status & VIRTIO_STATUS_DRIVER_OK)
		virtio_mmio_interrupt(d, VIRTIO_MMIO_INT_CONFIG);
}

void virtio_mmio_config_changed(struct virtio_mmio_dev *d)
{
	d->config_generation++;
	if (d->status & VIRTIO_STATUS_DRIVER_OK)
		virtio_mmio_interrupt(d, VIRTIO_MMIO_INT_CONFIG);
}

bool virtio_mmio_running(const struct virtio_mmio_dev *d)
{
	return (d->status & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_DEVICE_NEEDS_RESET)) == VIRTIO_STATUS_DRIVER_OK;
}

uint64_t virtio_mmio_negotiated(const struct virtio_mmio_dev *d)
{
	return d->status & VIRTIO_STATUS_FEATURES_OK ? d->driver_features : 0;
}

struct virtq *virtio_mmio_vq(struct virtio_mmio_dev *d, unsigned queue)
{
	return queue < d->ops->num_queues ? &d->vq[queue] : NULL;
}

void virtio_mmio_lock(struct virtio_mmio_dev *d)
{
	pthread_mutex_lock(&d->lock);
}

void virtio_mmio_unlock(struct virtio_mmio_dev *d)
{
	pthread_mutex_unlock(&d->lock);
}

static bool is_power_of_2(uint32_t n)
{
	return n && !(n & (n - 1));
}

struct virtio_mmio_dev *virtio_mmio_create(const struct guest_mem *mem, const struct virtio_device_ops *ops,
					   void *dev_opaque, void (*raise_irq)(void *irq_opaque), void *irq_opaque)
{
	struct virtio_mmio_dev *d;

	if (!mem || !ops || !ops->queue_notify) {
		err_set(EINVAL, "virtio-mmio: device without guest memory or queue handler");
		return NULL;
	}
	if (!ops->num_queues || ops->num_queues > VIRTIO_MMIO_MAX_QUEUES || !is_power_of_2(ops->queue_max_size)) {
		err_set(EINVAL, "virtio-mmio: device %u has %u queues of %u (want 1..%d, a power of two)",
			ops->device_id, ops->num_queues, ops->queue_max_size, VIRTIO_MMIO_MAX_QUEUES);
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		err_set(ENOMEM, "virtio-mmio: out of memory");
		return NULL;
	}
	pthread_mutex_init(&d->lock, NULL);
	d->mem = mem;
	d->ops = ops;
	d->dev = dev_opaque;
	d->raise_irq = raise_irq;
	d->irq_opaque = irq_opaque;
	d->device_features = ops->features | VIRTIO_TRANSPORT_FEATURES;
	d->log_budget = VIRTIO_MMIO_LOG_BUDGET;
	for (unsigned int i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++) {
		d->vq[i].t = d;
		d->vq[i].index = i;
	}
	return d;
}

void virtio_mmio_used_interrupt(struct virtio_mmio_dev *d)
{
	if (virtio_mmio_running(d))
		virtio_mmio_interrupt(d, VIRTIO_MMIO_INT_VRING);
}

void virtio_mmio_set_queue_irq(struct virtio_mmio_dev *d, void (*queue_irq)(void *irq_opaque, unsigned queue))
{
	d->queue_irq = queue_irq;
}

void virtio_mmio_destroy(struct virtio_mmio_dev *d)
{
	if (!d)
		return;
	pthread_mutex_destroy(&d->lock);
	free(d);
}

/* Status 0: back to the state after power-on, but ConfigGeneration keeps counting. */
static void virtio_mmio_reset(struct virtio_mmio_dev *d)
{
	for (unsigned int i = 0; i < d->ops->num_queues; i++) {
		struct virtq *q = &d->vq[i];

		virtq_disable(q);
		q->num = 0;
		q->desc_gpa = q->avail_gpa = q->used_gpa = 0;
	}
	d->status = 0;
	d->driver_features = 0;
	d->driver_features_beyond_64 = false;
	d->device_features_sel = 0;
	d->driver_features_sel = 0;
	d->queue_sel = 0;
	d->interrupt_status = 0;
	if (d->ops->reset)
		d->ops->reset(d->dev);
}

static uint32_t features_half(uint64_t features, uint32_t sel)
{
	if (sel == 0)
		return (uint32_t)features;
	if (sel == 1)
		return features >> 32;
	return 0;
}

static void set_half(uint64_t *reg, bool high, uint32_t val)
{
	if (high)
		*reg = (*reg & 0xffffffffULL) | (uint64_t)val << 32;
	else
		*reg = (*reg & ~0xffffffffULL) | val;
}

static struct virtq *selected_queue(struct virtio_mmio_dev *d)
{
	return virtio_mmio_vq(d, d->queue_sel);
}

static uint32_t reg_read(struct virtio_mmio_dev *d, uint64_t off)
{
	struct virtq *q = selected_queue(d);

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return VIRTIO_MMIO_VERSION_2;
	case VIRTIO_MMIO_DEVICE_ID:
		return d->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR_NITROVM;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		return features_half(d->device_features, d->device_features_sel);
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		/* 0 tells the driver the selected queue does not exist. */
		return q ? d->ops->queue_max_size : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return q && q->ready;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return d->interrupt_status;
	case VIRTIO_MMIO_STATUS:
		return d->status;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
	case VIRTIO_MMIO_SHM_BASE_LOW:
	case VIRTIO_MMIO_SHM_BASE_HIGH:
		/* No shared memory regions: a region that does not exist reads as length -1 (virtio 1.2, 4.2.2). */
		return UINT32_MAX;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return d->config_generation;
	}
	virtio_mmio_log(d, "read of write-only or unknown register %#llx ignored", (unsigned long long)off);
	return 0;
}

static bool features_acceptable(struct virtio_mmio_dev *d)
{
	uint64_t extra = d->driver_features & ~d->device_features;

	if (extra || d->driver_features_beyond_64) {
		virtio_mmio_log(d, "driver accepted features %#llx%s the device does not offer; FEATURES_OK refused",
				(unsigned long long)extra, d->driver_features_beyond_64 ? " and bits above 63" : "");
		return false;
	}
	if (!(d->driver_features & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
		virtio_mmio_log(d, "driver did not accept VIRTIO_F_VERSION_1 (legacy drivers are not supported); "
				   "FEATURES_OK refused");
		return false;
	}
	return true;
}

static void write_driver_features(struct virtio_mmio_dev *d, uint32_t val)
{
	if (d->status & VIRTIO_STATUS_FEATURES_OK) {
		virtio_mmio_log(d, "driver features written after FEATURES_OK; ignored");
		return;
	}
	if (d->driver_features_sel > 1) {
		/* Nothing is offered up there; accepting any of it makes FEATURES_OK fail. */
		d->driver_features_beyond_64 |= val != 0;
		return;
	}
	set_half(&d->driver_features, d->driver_features_sel == 1, val);
}

static void serve_pending_kicks(struct virtio_mmio_dev *d)
{
	for (unsigned int i = 0; i < d->ops->num_queues; i++) {
		struct virtq *q = &d->vq[i];

		if (q->kick_pending && q->ready && virtio_mmio_running(d))
			d->ops->queue_notify(d->dev, d, i);
		q->kick_pending = false;
	}
}

/*
 * The driver only sets bits until it resets (virtio 1.2, 3.1.1).  FEATURES_OK is refused when the feature set
 * is unacceptable, which the driver sees on reading Status back; DRIVER_OK is refused without FEATURES_OK, so
 * queues never run with features nobody agreed on.
 */
static void write_status(struct virtio_mmio_dev *d, uint32_t val)
{
	uint32_t set;

	if (!val) {
		virtio_mmio_reset(d);
		return;
	}
	if (val & ~VIRTIO_STATUS_MASK)
		virtio_mmio_log(d, "status %#x has bits above 7; those are ignored", val);
	/* DEVICE_NEEDS_RESET is the device's to set; the driver writes back whatever it read. */
	val = (val & VIRTIO_STATUS_MASK & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET) |
	      (d->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	if (d->status & ~val) {
		virtio_mmio_log(d, "status %#x clears bits of %#x without a reset; ignored", val, d->status);
		return;
	}
	set = val & ~d->status;
	if ((set & VIRTIO_STATUS_FEATURES_OK) && !features_acceptable(d))
		val &= ~VIRTIO_STATUS_FEATURES_OK;
	if ((set & VIRTIO_STATUS_DRIVER_OK) && !(val & VIRTIO_STATUS_FEATURES_OK)) {
		virtio_mmio_log(d, "DRIVER_OK without FEATURES_OK refused");
		val &= ~VIRTIO_STATUS_DRIVER_OK;
	}
	d->status = val;
	if ((set & val & VIRTIO_STATUS_DRIVER_OK) && d->ops->driver_ok)
		d->ops->driver_ok(d->dev, d);
	if (set & val & VIRTIO_STATUS_DRIVER_OK)
		serve_pending_kicks(d);
}

static void write_queue_ready(struct virtio_mmio_dev *d, struct virtq *q, uint32_t val)
{
	if (val > 1) {
		virtio_mmio_log(d, "QueueReady %#x is neither 0 nor 1; ignored", val);
		return;
	}
	if (val == q->ready)
		return;
	if (!val) {
		virtq_disable(q);
		return;
	}
	virtq_enable(q);
}

/* The registers that describe the selected queue. */
static void write_queue_reg(struct virtio_mmio_dev *d, uint64_t off, uint32_t val)
{
	struct virtq *q = selected_queue(d);

	if (!q) {
		virtio_mmio_log(d, "register %#llx written for queue %u, which does not exist; ignored",
				(unsigned long long)off, d->queue_sel);
		return;
	}
	if (off == VIRTIO_MMIO_QUEUE_READY) {
		write_queue_ready(d, q, val);
		return;
	}
	/* A live queue's layout was checked when it was enabled; it must not change under the device. */
	if (q->ready) {
		virtio_mmio_log(d, "register %#llx written while queue %u is ready; ignored", (unsigned long long)off,
				q->index);
		return;
	}
	switch (off) {
	case VIRTIO_MMIO_QUEUE_NUM:
		q->num = val;
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		set_half(&q->desc_gpa, off == VIRTIO_MMIO_QUEUE_DESC_HIGH, val);
		break;
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
		set_half(&q->avail_gpa, off == VIRTIO_MMIO_QUEUE_DRIVER_HIGH, val);
		break;
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		set_half(&q->used_gpa, off == VIRTIO_MMIO_QUEUE_DEVICE_HIGH, val);
		break;
	}
}

static void notify_locked(struct virtio_mmio_dev *d, uint32_t queue)
{
	struct virtq *q = virtio_mmio_vq(d, queue);

	if (!q) {
		virtio_mmio_log(d, "kick of queue %u, which does not exist; ignored", queue);
		return;
	}
	/* A stopped device ignores kicks quietly: the driver keeps kicking until it handles the reset request. */
	if (d->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET)
		return;
	if (!q->ready) {
		virtio_mmio_log(d, "kick of queue %u, which is not ready; ignored", queue);
		return;
	}
	/*
	 * The spec forbids kicks before DRIVER_OK, but Linux drivers that register an hwrng during probe (nsm)
	 * send their first request before the core sets DRIVER_OK.  Dropping it would hang that request forever;
	 * remember it and serve it when the driver is ready.
	 */
	if (!virtio_mmio_running(d)) {
		q->kick_pending = true;
		return;
	}
	d->ops->queue_notify(d->dev, d, queue);
}

static void write_interrupt_ack(struct virtio_mmio_dev *d, uint32_t val)
{
	d->interrupt_status &= ~val;
	/* Something is still pending that this acknowledgement did not cover: interrupt again for it. */
	if (val && d->interrupt_status && d->raise_irq)
		d->raise_irq(d->irq_opaque);
}

static void reg_write(struct virtio_mmio_dev *d, uint64_t off, uint32_t val)
{
	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		d->device_features_sel = val;
		return;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		write_driver_features(d, val);
		return;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		d->driver_features_sel = val;
		return;
	case VIRTIO_MMIO_QUEUE_SEL:
		d->queue_sel = val;
		return;
	case VIRTIO_MMIO_QUEUE_NUM:
	case VIRTIO_MMIO_QUEUE_READY:
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		write_queue_reg(d, off, val);
		return;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		notify_locked(d, val);
		return;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		write_interrupt_ack(d, val);
		return;
	case VIRTIO_MMIO_STATUS:
		write_status(d, val);
		return;
	case VIRTIO_MMIO_SHM_SEL:
		/* Every selected region is absent; nothing to remember. */
		return;
	}
	virtio_mmio_log(d, "write of read-only or unknown register %#llx ignored", (unsigned long long)off);
}

static void config_access(struct virtio_mmio_dev *d, uint64_t offset, void *data, unsigned len, bool is_write)
{
	uint64_t off = offset - VIRTIO_MMIO_CONFIG;

	if (!len || len > VIRTIO_MMIO_CONFIG_MAX_ACCESS || offset >= VIRTIO_MMIO_WINDOW_SIZE ||
	    len > VIRTIO_MMIO_WINDOW_SIZE - offset) {
		virtio_mmio_log(d, "%u-byte access at %#llx outside the configuration space; ignored", len,
				(unsigned long long)offset);
		return;
	}
	if (is_write && d->ops->config_write)
		d->ops->config_write(d->dev, off, data, len);
	else if (!is_write && d->ops->config_read)
		d->ops->config_read(d->dev, off, data, len);
}

static void reg_access(struct virtio_mmio_dev *d, uint64_t offset, void *data, unsigned len, bool is_write)
{
	uint32_t val;

	if (len != sizeof(val) || offset % sizeof(val)) {
		virtio_mmio_log(d, "%u-byte %s at %#llx: registers take aligned 32-bit accesses; ignored", len,
				is_write ? "write" : "read", (unsigned long long)offset);
		return;
	}
	if (is_write) {
		memcpy(&val, data, sizeof(val));
		reg_write(d, offset, le32toh(val));
		return;
	}
	val = htole32(reg_read(d, offset));
	memcpy(data, &val, sizeof(val));
}

void virtio_mmio_access(struct virtio_mmio_dev *d, uint64_t offset, void *data, unsigned len, bool is_write)
{
	/* A read always returns something defined, including when it is ignored. */
	if (!is_write)
		memset(data, 0, len);
	pthread_mutex_lock(&d->lock);
	if (offset >= VIRTIO_MMIO_CONFIG)
		config_access(d, offset, data, len, is_write);
	else
		reg_access(d, offset, data, len, is_write);
	pthread_mutex_unlock(&d->lock);
}

void virtio_mmio_queue_notify(struct virtio_mmio_dev *d, unsigned queue)
{
	pthread_mutex_lock(&d->lock);
	notify_locked(d, queue);
	pthread_mutex_unlock(&d->lock);
}
