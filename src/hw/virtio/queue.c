// SPDX-License-Identifier: MIT
/*
 * Split virtqueues, device side (virtio 1.2, 2.7).
 *
 * The rings live in guest memory and the guest may rewrite them while we read.  So: the ring areas are checked
 * whole once, when the driver enables the queue (guest memory does not move while the VM lives); after that
 * every index read from a ring is checked or masked before use, every descriptor is copied to a local before
 * its fields are looked at, and every buffer goes through guest_mem_ptr().  A chain walk is bounded by the size
 * of the table it walks, which defeats loops without remembering visited descriptors.
 */
#include "hw/virtio/queue.h"

#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/iov.h"
#include "common/util.h"

/* Longest message part a queue error adds before the transport's prefix. */
#define VIRTQ_ERROR_MAX 192

static bool is_power_of_2(uint32_t n)
{
	return n && !(n & (n - 1));
}

/* Ring indices the guest writes concurrently: read each exactly once, as one atomic access. */
static uint16_t ring_load16(const uint16_t *p)
{
	return le16toh(__atomic_load_n(p, __ATOMIC_RELAXED));
}

/* Acquire, so the ring entries and descriptors the index covers are read after it. */
static uint16_t ring_load16_acquire(const uint16_t *p)
{
	return le16toh(__atomic_load_n(p, __ATOMIC_ACQUIRE));
}

/* Release, so the used elements are visible before the index that publishes them. */
static void ring_store16_release(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, htole16(v), __ATOMIC_RELEASE);
}

static int virtq_error(struct virtq *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int virtq_error(struct virtq *q, const char *fmt, ...)
{
	char msg[VIRTQ_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	virtio_mmio_device_error(q->t, "queue %u: %s", q->index, msg);
	return -EIO;
}

static bool virtq_has_feature(const struct virtq *q, unsigned int bit)
{
	return virtio_mmio_negotiated(q->t) & VIRTIO_BIT(bit);
}

static bool virtq_usable(const struct virtq *q)
{
	return q && q->ready && virtio_mmio_running(q->t);
}

static bool virtq_aligned(uint64_t gpa, const void *hva, unsigned int align)
{
	return !(gpa % align) && !((uintptr_t)hva % align);
}

bool virtq_enable(struct virtq *q)
{
	const struct guest_mem *mem = q->t->mem;
	uint32_t num = q->num;
	void *desc, *avail, *used;

	if (!is_power_of_2(num) || num > q->t->ops->queue_max_size) {
		virtq_error(q, "size %u is not a power of two of at most %u", num, q->t->ops->queue_max_size);
		return false;
	}
	desc = guest_mem_ptr(mem, q->desc_gpa, virtq_desc_table_size(num));
	avail = guest_mem_ptr(mem, q->avail_gpa, virtq_avail_size(num));
	used = guest_mem_ptr(mem, q->used_gpa, virtq_used_size(num));
	if (!desc || !avail || !used) {
		virtq_error(q, "rings outside guest memory (desc %#llx, driver %#llx, device %#llx, size %u)",
			    (unsigned long long)q->desc_gpa, (unsigned long long)q->avail_gpa,
			    (unsigned long long)q->used_gpa, num);
		return false;
	}
	/* The spec's alignments; the host side matters too, for the atomic index accesses. */
	if (!virtq_aligned(q->desc_gpa, desc, 16) || !virtq_aligned(q->avail_gpa, avail, 2) ||
	    !virtq_aligned(q->used_gpa, used, 4)) {
		virtq_error(q, "misaligned rings (desc %#llx, driver %#llx, device %#llx)",
			    (unsigned long long)q->desc_gpa, (unsigned long long)q->avail_gpa,
			    (unsigned long long)q->used_gpa);
		return false;
	}
	q->desc = desc;
	q->avail = avail;
	q->used = used;
	q->last_avail_idx = 0;
	q->used_idx = 0;
	q->signalled_used = 0;
	q->gen++;
	q->ready = true;
	return true;
}

void virtq_disable(struct virtq *q)
{
	q->ready = false;
	q->kick_pending = false;
	q->desc = NULL;
	q->avail = NULL;
	q->used = NULL;
	q->gen++;
}

static void desc_read(const uint8_t *table, uint32_t idx, struct virtq_desc *d)
{
	memcpy(d, table + 16ULL * idx, sizeof(*d));
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->flags = le16toh(d->flags);
	d->next = le16toh(d->next);
}

/* Add one direct descriptor's buffer to the chain. */
static int chain_add(struct virtq *q, struct virtq_chain *c, const struct virtq_desc *d)
{
	bool writable = d->flags & VIRTQ_DESC_F_WRITE;
	uint32_t *total = writable ? &c->writable_bytes : &c->readable_bytes;
	unsigned int n = c->nr_readable + c->nr_writable;
	uint8_t *p;

	/* An empty buffer carries nothing; it still counts against the walk bound. */
	if (!d->len)
		return 0;
	if (!writable && c->nr_writable)
		return virtq_error(q, "chain %u: device-readable buffer after a device-writable one", c->head);
	if (n == VIRTQ_CHAIN_MAX_SEGS)
		return virtq_error(q, "chain %u: more than %d buffers", c->head, VIRTQ_CHAIN_MAX_SEGS);
	if (d->len > VIRTQ_CHAIN_MAX_BYTES - *total)
		return virtq_error(q, "chain %u: more than %u bytes", c->head, VIRTQ_CHAIN_MAX_BYTES);
	p = guest_mem_ptr(q->t->mem, d->addr, d->len);
	if (!p)
		return virtq_error(q, "chain %u: buffer %#llx+%#x outside guest memory", c->head,
				   (unsigned long long)d->addr, d->len);
	c->seg[n] = (struct iovec){ p, d->len };
	*total += d->len;
	if (writable)
		c->nr_writable++;
	else
		c->nr_readable++;
	return 0;
}

/* An indirect table: the rest of the chain, walked in place of the ring's table (virtio 1.2, 2.7.5.3). */
static int enter_indirect(struct virtq *q, struct virtq_chain *c, const struct virtq_desc *d, bool nested,
			  const uint8_t **table, uint32_t *size)
{
	if (!virtq_has_feature(q, VIRTIO_RING_F_INDIRECT_DESC))
		return virtq_error(q, "chain %u: indirect descriptor, VIRTIO_F_INDIRECT_DESC not negotiated", c->head);
	if (nested)
		return virtq_error(q, "chain %u: indirect descriptor inside an indirect table", c->head);
	if (d->flags & VIRTQ_DESC_F_NEXT)
		return virtq_error(q, "chain %u: indirect descriptor with NEXT set", c->head);
	/* No chain is longer than the largest queue, which also bounds the walk of a huge table. */
	if (!d->len || d->len % sizeof(struct virtq_desc) || d->len / sizeof(struct virtq_desc) > VIRTQ_MAX_SIZE)
		return virtq_error(q, "chain %u: indirect table of %u bytes", c->head, d->len);
	*table = guest_mem_ptr(q->t->mem, d->addr, d->len);
	if (!*table)
		return virtq_error(q, "chain %u: indirect table %#llx+%#x outside guest memory", c->head,
				   (unsigned long long)d->addr, d->len);
	*size = d->len / sizeof(struct virtq_desc);
	return 0;
}

/*
 * Walk the chain starting at head.  Each table is walked at most size steps: a driver may not build a longer
 * chain, so one more step means a loop.
 */
static int chain_walk(struct virtq *q, uint16_t head, struct virtq_chain *c)
{
	const uint8_t *table = q->desc;
	uint32_t size = q->num, idx = head, steps_left = q->num;
	bool indirect = false;
	struct virtq_desc d;
	int ret;

	c->q = q;
	c->gen = q->gen;
	c->head = head;
	c->nr_readable = c->nr_writable = 0;
	c->readable_bytes = c->writable_bytes = 0;
	for (;;) {
		if (!steps_left--)
			return virtq_error(q, "chain %u: longer than its table of %u (a loop?)", head, size);
		desc_read(table, idx, &d);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			ret = enter_indirect(q, c, &d, indirect, &table, &size);
			if (ret)
				return ret;
			indirect = true;
			idx = 0;
			steps_left = size;
			continue;
		}
		ret = chain_add(q, c, &d);
		if (ret)
			return ret;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (d.next >= size)
			return virtq_error(q, "chain %u: next index %u outside a table of %u", head, d.next, size);
		idx = d.next;
	}
}

/* With EVENT_IDX: ask the driver to kick when it makes available the entry after those we took. */
static void virtq_set_avail_event(struct virtq *q)
{
	uint16_t *avail_event = (uint16_t *)&q->used->ring[q->num];

	__atomic_store_n(avail_event, htole16(q->last_avail_idx), __ATOMIC_RELAXED);
}

/* How many entries the driver made available that we have not taken; 0 also when we must wait for a kick. */
static uint16_t virtq_pending(struct virtq *q)
{
	uint16_t avail_idx = ring_load16_acquire(&q->avail->idx);

	if (avail_idx != q->last_avail_idx || !virtq_has_feature(q, VIRTIO_RING_F_EVENT_IDX))
		return avail_idx - q->last_avail_idx;
	/*
	 * Empty: request a kick for the next entry, then look again, because the driver may have added one
	 * before it could see the request.  The full fence orders our store before that second load.
	 */
	virtq_set_avail_event(q);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	avail_idx = ring_load16_acquire(&q->avail->idx);
	return avail_idx - q->last_avail_idx;
}

int virtq_pop(struct virtq *q, struct virtq_chain *c)
{
	uint16_t pending, head;
	int ret;

	if (!virtq_usable(q))
		return 0;
	pending = virtq_pending(q);
	if (!pending)
		return 0;
	if (pending > q->num)
		return virtq_error(q, "available index moved %u entries past %u in a ring of %u", pending,
				   q->last_avail_idx, q->num);
	head = ring_load16(&q->avail->ring[q->last_avail_idx & (q->num - 1)]);
	if (head >= q->num)
		return virtq_error(q, "available entry %u names descriptor %u of %u", q->last_avail_idx, head,
				   q->num);
	ret = chain_walk(q, head, c);
	if (ret)
		return ret;
	q->last_avail_idx++;
	return 1;
}

void virtq_unpop(struct virtq *q, const struct virtq_chain *c)
{
	virtq_unpop_n(q, c, 1);
}

void virtq_unpop_n(struct virtq *q, const struct virtq_chain *first, unsigned int n)
{
	if (!virtq_usable(q) || first->q != q || first->gen != q->gen)
		return;
	q->last_avail_idx -= (uint16_t)n;
}

void virtq_push(struct virtq *q, const struct virtq_chain *c, uint32_t written)
{
	struct virtq_used_elem *e;

	if (!virtq_usable(q) || c->q != q || c->gen != q->gen)
		return;
	e = &q->used->ring[q->used_idx & (q->num - 1)];
	e->id = htole32(c->head);
	e->len = htole32(MIN(written, c->writable_bytes));
	q->used_idx++;
	ring_store16_release(&q->used->idx, q->used_idx);
}

/* Whether the driver wants an interrupt for the entries used since the last decision (virtio 1.2, 2.7.10). */
static bool virtq_wants_interrupt(struct virtq *q)
{
	uint16_t old = q->signalled_used, new = q->used_idx, used_event;

	q->signalled_used = new;
	if (new == old)
		return false;
	if (!virtq_has_feature(q, VIRTIO_RING_F_EVENT_IDX))
		return !(ring_load16(&q->avail->flags) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	/* Interrupt if used_event lies in (old, new], counting modulo 2^16. */
	used_event = ring_load16(&q->avail->ring[q->num]);
	return (uint16_t)(new - used_event - 1) < (uint16_t)(new - old);
}

void virtq_signal(struct virtq *q)
{
	if (!virtq_usable(q))
		return;
	/* The used idx store must be visible before we read what the driver wants, or an interrupt is lost. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (virtq_wants_interrupt(q))
		virtio_mmio_interrupt(q->t, VIRTIO_MMIO_INT_VRING);
}

unsigned int virtq_chain_iov(const struct virtq_chain *c, bool writable, size_t off, size_t len, struct iovec *iov,
			    unsigned int max)
{
	if (writable)
		return iov_slice(iov, max, c->seg + c->nr_readable, c->nr_writable, off, len, NULL);
	return iov_slice(iov, max, c->seg, c->nr_readable, off, len, NULL);
}

size_t virtq_chain_read(const struct virtq_chain *c, size_t off, void *buf, size_t len)
{
	return iov_to_buf(c->seg, c->nr_readable, off, buf, len);
}

size_t virtq_chain_write(const struct virtq_chain *c, size_t off, const void *buf, size_t len)
{
	return iov_from_buf(c->seg + c->nr_readable, c->nr_writable, off, buf, len);
}
