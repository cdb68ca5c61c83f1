// SPDX-License-Identifier: MIT
/* out_pump: the producer never waits for a reader; what does not fit is counted and said; finish drains. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/out_pump.h"

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Read everything from fd until EOF into a heap buffer. */
static uint8_t *drain(int fd, size_t *len)
{
	size_t cap = 1 << 20;
	uint8_t *buf = malloc(cap);
	ssize_t n;

	*len = 0;
	while ((n = read(fd, buf + *len, cap - *len)) > 0) {
		*len += (size_t)n;
		if (*len == cap)
			buf = realloc(buf, cap *= 2);
	}
	return buf;
}

struct reader {
	int fd;
	uint8_t *buf;
	size_t len;
};

static void *read_all(void *arg)
{
	struct reader *r = arg;

	r->buf = drain(r->fd, &r->len);
	return NULL;
}

static void test_never_blocks_and_says_what_it_dropped(void **state)
{
	int p[2];
	struct out_pump *pump;
	uint8_t chunk[64 * 1024];
	size_t dropped = 0, kept;
	struct reader r;
	pthread_t t;
	char note[128];
	double t0;

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pump = out_pump_start(p[1]);
	assert_non_null(pump);
	memset(chunk, 'x', sizeof(chunk));
	/* Nobody reads the pipe (64 KiB of room): of 8 MiB offered, the queue keeps OUT_PUMP_QUEUE at most. */
	t0 = now();
	for (int i = 0; i < 128; i++)
		dropped += out_pump_put(pump, chunk, sizeof(chunk));
	assert_true(now() - t0 < 2.0);
	kept = 128 * sizeof(chunk) - dropped;
	assert_true(kept >= OUT_PUMP_QUEUE && kept <= OUT_PUMP_QUEUE + 2 * sizeof(chunk));
	/* A late reader gets what was kept, then the note saying how much was lost, then what came after. */
	r.fd = p[0];
	assert_int_equal(pthread_create(&t, NULL, read_all, &r), 0);
	sleep(1);
	assert_int_equal(out_pump_put(pump, (const uint8_t *)"END", 3), 0);
	out_pump_finish(pump);
	close(p[1]);
	pthread_join(t, NULL);
	close(p[0]);
	snprintf(note, sizeof(note), "\n[nitrovm: %zu bytes of output dropped: nobody read them in time]\n", dropped);
	assert_int_equal(r.len, kept + strlen(note) + 3);
	for (size_t i = 0; i < kept; i++)
		assert_int_equal(r.buf[i], 'x');
	assert_memory_equal(r.buf + kept, note, strlen(note));
	assert_memory_equal(r.buf + kept + strlen(note), "END", 3);
	free(r.buf);
}

static void test_everything_arrives_in_order(void **state)
{
	int p[2];
	struct out_pump *pump;
	uint8_t *got;
	size_t len;
	char line[32];

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pump = out_pump_start(p[1]);
	assert_non_null(pump);
	for (int i = 0; i < 1000; i++) {
		int n = snprintf(line, sizeof(line), "line %d\n", i);

		assert_int_equal(out_pump_put(pump, (const uint8_t *)line, (size_t)n), 0);
	}
	out_pump_finish(pump);
	close(p[1]);
	got = drain(p[0], &len);
	close(p[0]);
	{
		size_t off = 0;

		for (int i = 0; i < 1000; i++) {
			int n = snprintf(line, sizeof(line), "line %d\n", i);

			assert_true(off + (size_t)n <= len);
			assert_memory_equal(got + off, line, (size_t)n);
			off += (size_t)n;
		}
		assert_int_equal(off, len);
	}
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_never_blocks_and_says_what_it_dropped),
		cmocka_unit_test(test_everything_arrives_in_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
