// SPDX-License-Identifier: MIT
/* Progress lines and bars for image pulls and unpacks (progress.h). */
#include "progress.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

/* A bar is redrawn at most this often: enough to look live, little enough to cost nothing. */
#define REDRAW_INTERVAL_S 0.1
#define BAR_WIDTH	  24

struct progress {
	struct image_progress hooks;
	bool tty;
	char what[16], name[24];
	unsigned int index, total;
	uint64_t size, done;
	double start, last_draw;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void draw(struct progress *p)
{
	double secs = now() - p->start;
	char done[32], size[32], bar[BAR_WIDTH + 1];
	unsigned int filled = p->size ? (unsigned int)(BAR_WIDTH * MIN(p->done, p->size) / p->size) : 0;

	memset(bar, '#', filled);
	memset(bar + filled, '.', BAR_WIDTH - filled);
	bar[BAR_WIDTH] = '\0';
	size_text(p->done, done, sizeof(done));
	size_text(p->size, size, sizeof(size));
	fprintf(stderr, "\r%-6s %u/%u %-12s [%s] %s / %s  %.1f MiB/s\033[K", p->what, p->index, p->total,
		p->name, bar, done, size, secs > 0 ? (double)p->done / MiB / secs : 0.0);
	fflush(stderr);
	p->last_draw = now();
}

static void begin(void *ctx, const char *what, unsigned int index, unsigned int total, const char *name,
		  uint64_t size)
{
	struct progress *p = ctx;

	snprintf(p->what, sizeof(p->what), "%s", what);
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->index = index;
	p->total = total;
	p->size = size;
	p->done = 0;
	p->start = now();
	if (p->tty)
		draw(p);
}

static void advance(void *ctx, uint64_t done)
{
	struct progress *p = ctx;

	p->done = done;
	if (p->tty && now() - p->last_draw >= REDRAW_INTERVAL_S)
		draw(p);
}

static void end(void *ctx, const char *summary)
{
	struct progress *p = ctx;
	double secs = now() - p->start;
	char size[32];

	size_text(p->size, size, sizeof(size));
	if (p->tty)
		fputs("\r\033[K", stderr);
	fprintf(stderr, "%s %u/%u %s: %s, %s in %.2f s\n", p->what, p->index, p->total, p->name, size,
		summary, secs);
}

struct progress *progress_new(bool quiet)
{
	struct progress *p;

	if (quiet)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->tty = isatty(STDERR_FILENO);
	p->hooks = (struct image_progress){.ctx = p, .begin = begin, .advance = advance, .end = end};
	return p;
}

const struct image_progress *progress_hooks(struct progress *p)
{
	return p ? &p->hooks : NULL;
}

void progress_free(struct progress *p)
{
	free(p);
}
