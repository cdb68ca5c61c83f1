// SPDX-License-Identifier: MIT
/*
 * Unit tests: EIFs with streamed ramdisks (src/eif/writer_stream.c) are byte for byte and PCR for PCR the
 * images the in-memory writer makes of the same bytes, measuring alone agrees and rewinds the streams, and a
 * stream's failure is the write's failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "eif/eif.h"

struct mem_stream {
	const uint8_t *data;
	size_t size, pos;
	int rewinds;
	size_t fail_at; /* 0: never */
};

static int ms_read(void *arg, uint8_t *buf, size_t len)
{
	struct mem_stream *s = arg;

	if (s->fail_at && s->pos + len > s->fail_at)
		return err_set(EIO, "the stream broke");
	assert_true(s->pos + len <= s->size);
	memcpy(buf, s->data + s->pos, len);
	s->pos += len;
	return 0;
}

static int ms_rewind(void *arg)
{
	struct mem_stream *s = arg;

	s->pos = 0;
	s->rewinds++;
	return 0;
}

static uint8_t *pattern(size_t len, unsigned int seed)
{
	uint8_t *b = malloc(len);

	assert_non_null(b);
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)((i * 2654435761u + seed) >> 7);
	return b;
}

static uint8_t *write_file(const struct eif_build *b, struct eif_measurements *m, size_t *len, int *ret)
{
	char path[] = "/tmp/nitrovm-test-eif-XXXXXX";
	int fd = mkstemp(path);
	uint8_t *buf;
	off_t size;

	assert_true(fd >= 0);
	unlink(path);
	*ret = eif_write_fd(b, fd, path, m);
	size = lseek(fd, 0, SEEK_END);
	buf = malloc((size_t)size + 1);
	assert_int_equal(pread(fd, buf, (size_t)size, 0), size);
	close(fd);
	*len = (size_t)size;
	return buf;
}

static void test_stream_equals_memory(void **state)
{
	/* Sizes that do not divide the writer's 1 MiB pieces, several of them. */
	size_t klen = 3 * 1000 * 1000 + 7, r0len = 12345, r1len = 5 * 1024 * 1024 + 3, r2len = 999;
	uint8_t *k = pattern(klen, 1), *r0 = pattern(r0len, 2), *r1 = pattern(r1len, 3),
		*r2 = pattern(r2len, 4);
	struct mem_stream s1 = {r1, r1len, 0, 0, 0}, s2 = {r2, r2len, 0, 0, 0};
	struct eif_stream st1 = {r1len, ms_read, ms_rewind, &s1}, st2 = {r2len, ms_read, ms_rewind, &s2};
	struct eif_build mem = {0}, str;
	struct eif_measurements m1, m2, m3;
	uint8_t *a, *b;
	size_t alen, blen;
	int ret;

	(void)state;
	mem.kernel = (struct eif_blob){.data = k, .size = klen};
	mem.cmdline = (struct eif_blob){.data = (const uint8_t *)"console=ttyS0", .size = 13};
	mem.metadata = (struct eif_blob){.data = (const uint8_t *)"{}", .size = 2};
	mem.ramdisks[0] = (struct eif_blob){.data = r0, .size = r0len};
	mem.ramdisks[1] = (struct eif_blob){.data = r1, .size = r1len};
	mem.ramdisks[2] = (struct eif_blob){.data = r2, .size = r2len};
	mem.nramdisks = 3;
	str = mem;
	str.ramdisks[1] = (struct eif_blob){0};
	str.ramdisks[2] = (struct eif_blob){0};
	str.ramdisk_streams[1] = &st1;
	str.ramdisk_streams[2] = &st2;
	assert_int_equal(eif_build_size(&mem), eif_build_size(&str));
	a = write_file(&mem, &m1, &alen, &ret);
	assert_int_equal(ret, 0);
	assert_int_equal(eif_build_measure(&str, &m3), 0);
	assert_int_equal(s1.rewinds, 1);
	assert_int_equal(s1.pos, 0);
	b = write_file(&str, &m2, &blen, &ret);
	assert_int_equal(ret, 0);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	assert_memory_equal(m1.pcr0, m2.pcr0, SHA384_LEN);
	assert_memory_equal(m1.pcr1, m2.pcr1, SHA384_LEN);
	assert_memory_equal(m1.pcr2, m2.pcr2, SHA384_LEN);
	assert_int_equal(m1.crc, m2.crc);
	assert_memory_equal(m1.pcr0, m3.pcr0, SHA384_LEN);
	assert_memory_equal(m1.pcr1, m3.pcr1, SHA384_LEN);
	assert_memory_equal(m1.pcr2, m3.pcr2, SHA384_LEN);
	/* and the reader agrees the result is a sound image with that CRC */
	{
		struct eif e;
		struct eif_measurements m4;

		assert_int_equal(eif_parse(&e, b, blen), 0);
		assert_int_equal(eif_measure(&e, &m4), 0);
		assert_int_equal(m4.crc, e.crc_stored);
		assert_memory_equal(m4.pcr0, m2.pcr0, SHA384_LEN);
	}
	free(a);
	free(b);
	free(k);
	free(r0);
	free(r1);
	free(r2);
}

static void test_stream_failure(void **state)
{
	size_t len = 3 * 1024 * 1024;
	uint8_t *r = pattern(len, 9);
	struct mem_stream s = {r, len, 0, 0, 2 * 1024 * 1024 + 5};
	struct eif_stream st = {len, ms_read, ms_rewind, &s};
	struct eif_build b = {0};
	struct eif_measurements m;
	uint8_t *out;
	size_t olen;
	int ret;

	(void)state;
	b.kernel = (struct eif_blob){.data = r, .size = 4096};
	b.cmdline = (struct eif_blob){.data = (const uint8_t *)"x", .size = 1};
	b.ramdisks[0] = (struct eif_blob){.data = r, .size = 100};
	b.ramdisk_streams[1] = &st;
	b.nramdisks = 2;
	out = write_file(&b, &m, &olen, &ret);
	assert_int_equal(ret, -EIO);
	assert_string_equal(err_msg(), "the stream broke");
	free(out);
	/* writing into memory is for images without streams */
	assert_int_equal(eif_write_mem(&b, r, &m), -EINVAL);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_equals_memory),
		cmocka_unit_test(test_stream_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
