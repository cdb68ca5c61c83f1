// SPDX-License-Identifier: MIT
/*
 * Writing (or measuring) an image whose sections may be streams, in bounded memory: the bytes pass once, in
 * pieces of STREAM_CHUNK, through a ring of STREAM_SLOTS pieces between two threads.
 *
 *   this thread:   get the next piece (a pointer into a memory section, or a stream's read into a slot),
 *                  hash it into PCR0, and into PCR1 up to the second ramdisk;
 *   the other:     hash the later ramdisks' pieces into PCR2, CRC every byte, write to the file.
 *
 * SHA-384 is the slow part and runs twice over the application ramdisk (PCR0 and PCR2): the two threads take
 * one pass each.  Section headers travel through the ring too, so the file is written strictly in order.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "eif.h"
#include "measure_internal.h"

/* Big enough that a piece costs little in locking, small enough that the ring stays in cache-friendly MiBs.
 */
#define STREAM_CHUNK (1 * MiB)
/* Four pieces: the producer can run a little ahead while the consumer writes. */
#define STREAM_SLOTS 4

struct piece {
	const uint8_t *p;
	size_t len;
	bool pcr2, end;
};

struct ring {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct piece slots[STREAM_SLOTS];
	uint8_t *bufs[STREAM_SLOTS];
	unsigned int head, count; /* next to consume, pieces waiting */
	int error;		  /* first failure of either side */
	/* the consumer's */
	int fd;
	const char *path;
	const uint8_t *header;
	struct sha384_ctx pcr2;
	uint32_t crc;
};

static void set_error(struct ring *r, int err)
{
	pthread_mutex_lock(&r->lock);
	if (!r->error)
		r->error = err;
	pthread_cond_broadcast(&r->changed);
	pthread_mutex_unlock(&r->lock);
}

/* The slot the producer fills next, once the consumer has freed it; -1 after a failure. */
static int acquire(struct ring *r)
{
	int slot;

	pthread_mutex_lock(&r->lock);
	while (r->count == STREAM_SLOTS && !r->error)
		pthread_cond_wait(&r->changed, &r->lock);
	slot = r->error ? -1 : (int)((r->head + r->count) % STREAM_SLOTS);
	pthread_mutex_unlock(&r->lock);
	return slot;
}

static void publish(struct ring *r, int slot, const struct piece *pc)
{
	pthread_mutex_lock(&r->lock);
	r->slots[slot] = *pc;
	r->count++;
	pthread_cond_broadcast(&r->changed);
	pthread_mutex_unlock(&r->lock);
}

static int emit(struct ring *r, const uint8_t *p, size_t len)
{
	int ret;

	r->crc = eif_crc32_update(r->crc, p, len);
	if (r->fd < 0)
		return 0;
	ret = write_full(r->fd, p, len);
	return ret ? err_set(-ret, "cannot write %s: %s", r->path, strerror(-ret)) : 0;
}

static void *consume(void *arg)
{
	struct ring *r = arg;
	int ret = 0;

	r->crc = eif_crc32_update(0, r->header, EIF_CRC_OFFSET);
	if (r->fd >= 0) {
		ret = write_full(r->fd, r->header, EIF_HEADER_SIZE);
		if (ret)
			ret = err_set(-ret, "cannot write %s: %s", r->path, strerror(-ret));
	}
	for (;;) {
		struct piece pc;

		pthread_mutex_lock(&r->lock);
		while (!r->count && !r->error)
			pthread_cond_wait(&r->changed, &r->lock);
		if (r->error || ret) {
			pthread_mutex_unlock(&r->lock);
			break;
		}
		pc = r->slots[r->head];
		pthread_mutex_unlock(&r->lock);
		if (pc.end)
			return NULL;
		if (pc.pcr2)
			sha384_update(&r->pcr2, pc.p, pc.len);
		ret = emit(r, pc.p, pc.len);
		pthread_mutex_lock(&r->lock);
		r->head = (r->head + 1) % STREAM_SLOTS;
		r->count--;
		pthread_cond_broadcast(&r->changed);
		pthread_mutex_unlock(&r->lock);
	}
	if (ret)
		set_error(r, ret);
	return NULL;
}

struct producer {
	struct ring *r;
	struct sha384_ctx c0, c1;
	unsigned int ramdisks;
};

static bool measured(uint16_t type)
{
	return type == EIF_SECTION_KERNEL || type == EIF_SECTION_CMDLINE || type == EIF_SECTION_RAMDISK;
}

/* PCR1 is PCR0 up to the second ramdisk; kernel or cmdline sections after it (none in practice) feed both. */
static void hash_piece(struct producer *pr, uint16_t type, const uint8_t *p, size_t len)
{
	if (!measured(type))
		return;
	sha384_update(&pr->c0, p, len);
	if (pr->c1.md && type != EIF_SECTION_RAMDISK)
		sha384_update(&pr->c1, p, len);
}

static int produce_section(struct producer *pr, const struct measure_section *s)
{
	struct ring *r = pr->r;
	uint8_t sh[EIF_SECTION_HEADER_SIZE];
	int slot;

	if (s->type == EIF_SECTION_RAMDISK && ++pr->ramdisks == 2 && sha384_copy(&pr->c1, &pr->c0))
		return err_set(ENOMEM, "out of memory");
	eif_section_header(s, sh);
	slot = acquire(r);
	if (slot < 0)
		return r->error;
	memcpy(r->bufs[slot], sh, sizeof(sh));
	publish(r, slot, &(struct piece){.p = r->bufs[slot], .len = sizeof(sh)});
	for (uint64_t off = 0; off < s->size;) {
		size_t n = (size_t)MIN(s->size - off, (uint64_t)STREAM_CHUNK);
		const uint8_t *p = NULL; /* a stream has no data pointer to offset */
		int ret;

		slot = acquire(r);
		if (slot < 0)
			return r->error;
		if (!s->stream) {
			p = s->data + off;
		} else {
			ret = s->stream->read(s->stream->arg, r->bufs[slot], n);
			if (ret)
				return ret;
			p = r->bufs[slot];
		}
		hash_piece(pr, s->type, p, n);
		publish(r, slot,
			&(struct piece){.p = p,
					.len = n,
					.pcr2 = pr->ramdisks >= 2 && s->type == EIF_SECTION_RAMDISK});
		off += n;
	}
	return 0;
}

static int produce(struct producer *pr, const struct eif_layout *l, struct eif_measurements *m)
{
	uint8_t d[SHA384_LEN];
	int ret = 0, slot;

	for (unsigned int i = 0; !ret && i < l->n; i++)
		ret = produce_section(pr, &l->secs[i]);
	if (ret) {
		set_error(pr->r, ret);
		return ret;
	}
	slot = acquire(pr->r);
	if (slot < 0)
		return pr->r->error;
	publish(pr->r, slot, &(struct piece){.end = true});
	if (!pr->c1.md && sha384_copy(&pr->c1, &pr->c0))
		return err_set(ENOMEM, "out of memory");
	sha384_final(&pr->c0, d);
	pcr_from_digest(d, m->pcr0);
	sha384_final(&pr->c1, d);
	pcr_from_digest(d, m->pcr1);
	return 0;
}

static void ring_free(struct ring *r)
{
	for (unsigned int i = 0; i < STREAM_SLOTS; i++)
		free(r->bufs[i]);
	sha384_free(&r->pcr2);
	pthread_cond_destroy(&r->changed);
	pthread_mutex_destroy(&r->lock);
}

int eif_stream_write(const struct eif_layout *l, int fd, const char *path, struct eif_measurements *m)
{
	struct ring r = {.fd = fd, .path = path, .header = l->header};
	struct producer pr = {.r = &r};
	uint8_t d[SHA384_LEN], crc[4];
	pthread_t t;
	int ret = 0;

	pthread_mutex_init(&r.lock, NULL);
	pthread_cond_init(&r.changed, NULL);
	for (unsigned int i = 0; i < STREAM_SLOTS; i++)
		if (!(r.bufs[i] = malloc(STREAM_CHUNK)))
			ret = -ENOMEM;
	if (ret || sha384_init(&r.pcr2) || sha384_init(&pr.c0)) {
		ret = err_set(ENOMEM, "out of memory");
		goto out;
	}
	if (pthread_create(&t, NULL, consume, &r)) {
		ret = err_set(EAGAIN, "cannot start the writer thread");
		goto out;
	}
	ret = produce(&pr, l, m);
	pthread_join(t, NULL);
	if (!ret)
		ret = r.error;
	if (ret)
		goto out;
	sha384_final(&r.pcr2, d);
	pcr_from_digest(d, m->pcr2);
	m->crc = r.crc;
	put_be32(crc, r.crc);
	if (fd >= 0 && pwrite(fd, crc, 4, EIF_CRC_OFFSET) != 4)
		ret = err_set(errno ? errno : EIO, "cannot write %s: %s", path,
			      strerror(errno ? errno : EIO));
out:
	sha384_free(&pr.c0);
	sha384_free(&pr.c1);
	ring_free(&r);
	return ret;
}
