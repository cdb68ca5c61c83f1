// SPDX-License-Identifier: MIT
#include "out_pump.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

struct out_pump {
	int fd;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t more;
	uint8_t *ring;
	size_t head, len; /* bytes queued start at ring[head], wrapping */
	uint64_t dropped; /* since the last note about it */
	bool stop, broken;
};

/* Take up to max queued bytes (in order, unwrapped) into out; the lock is held. */
static size_t take(struct out_pump *p, uint8_t *out, size_t max)
{
	size_t n = MIN(max, p->len), first = MIN(n, OUT_PUMP_QUEUE - p->head);

	memcpy(out, p->ring + p->head, first);
	memcpy(out + first, p->ring, n - first);
	p->head = (p->head + n) % OUT_PUMP_QUEUE;
	p->len -= n;
	return n;
}

static void *pump(void *arg)
{
	struct out_pump *p = arg;
	uint8_t buf[64 * 1024];

	pthread_mutex_lock(&p->lock);
	for (;;) {
		char note[128];
		size_t n, k = 0;

		while (!p->len && !p->dropped && !p->stop)
			pthread_cond_wait(&p->more, &p->lock);
		if (!p->len && !p->dropped)
			break; /* stopped, and everything is out */
		n = take(p, buf, sizeof(buf));
		if (!p->len && p->dropped) {
			k = (size_t)snprintf(note, sizeof(note), "\n[nitrovm: %llu bytes of output dropped: nobody read "
								 "them in time]\n", (unsigned long long)p->dropped);
			p->dropped = 0;
		}
		pthread_mutex_unlock(&p->lock);
		if (!p->broken && (write_full(p->fd, buf, n) < 0 || (k && write_full(p->fd, note, k) < 0)))
			p->broken = true; /* the reader went away: keep draining, write nothing */
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct out_pump *out_pump_start(int fd)
{
	struct out_pump *p = calloc(1, sizeof(*p));

	if (!p || !(p->ring = malloc(OUT_PUMP_QUEUE))) {
		free(p);
		err_set(ENOMEM, "out of memory");
		return NULL;
	}
	p->fd = fd;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->more, NULL);
	if (pthread_create(&p->thread, NULL, pump, p)) {
		free(p->ring);
		free(p);
		err_set(EAGAIN, "cannot start the output thread");
		return NULL;
	}
	return p;
}

size_t out_pump_put(struct out_pump *p, const uint8_t *buf, size_t len)
{
	size_t fit, tail, first;

	pthread_mutex_lock(&p->lock);
	fit = MIN(len, OUT_PUMP_QUEUE - p->len);
	tail = (p->head + p->len) % OUT_PUMP_QUEUE;
	first = MIN(fit, OUT_PUMP_QUEUE - tail);
	memcpy(p->ring + tail, buf, first);
	memcpy(p->ring, buf + first, fit - first);
	p->len += fit;
	p->dropped += len - fit;
	pthread_cond_signal(&p->more);
	pthread_mutex_unlock(&p->lock);
	return len - fit;
}

void out_pump_finish(struct out_pump *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_signal(&p->more);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->more);
	free(p->ring);
	free(p);
}
