// SPDX-License-Identifier: MIT
/* Unit tests: error messages, array growth, hex, big-endian helpers, all-or-nothing output files, CLI helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/grow.h"
#include "common/util.h"

static void test_err(void **state)
{
	(void)state;
	assert_int_equal(err_set(EINVAL, "bad %d", 7), -EINVAL);
	assert_string_equal(err_msg(), "bad 7");
	assert_int_equal(err_wrap(EIO, "reading %s", "x"), -EIO);
	assert_string_equal(err_msg(), "reading x: bad 7");
}

static void test_grow_array(void **state)
{
	uint32_t *a = NULL, *b;
	size_t cap = 0;

	(void)state;
	a = grow_array(a, &cap, 1, sizeof(*a), 16);
	assert_non_null(a);
	assert_int_equal(cap, 16);
	for (uint32_t i = 0; i < 16; i++)
		a[i] = i;
	/* room already there: the same array, the capacity untouched */
	assert_ptr_equal(grow_array(a, &cap, 16, sizeof(*a), 16), a);
	assert_int_equal(cap, 16);
	/* doubles until it holds the need, keeping what was there */
	a = grow_array(a, &cap, 17, sizeof(*a), 16);
	assert_non_null(a);
	assert_int_equal(cap, 32);
	a = grow_array(a, &cap, 100, sizeof(*a), 16);
	assert_non_null(a);
	assert_int_equal(cap, 128);
	for (uint32_t i = 0; i < 16; i++)
		assert_int_equal(a[i], i);
	a[127] = 7;
	/* element counts whose byte size would wrap a size_t fail, leaving the array and its capacity as they were */
	errno = 0;
	b = grow_array(a, &cap, SIZE_MAX / sizeof(*a) + 1, sizeof(*a), 16);
	assert_null(b);
	assert_int_equal(errno, EOVERFLOW);
	assert_int_equal(cap, 128);
	assert_int_equal(a[127], 7);
	/* past SIZE_MAX / 2 doubling would wrap: the exact need is asked for, and then its byte size overflows */
	errno = 0;
	assert_null(grow_array(a, &cap, SIZE_MAX / 2 + 2, 2, 16));
	assert_int_equal(errno, EOVERFLOW);
	/* a byte count that fits but no allocator can give is ENOMEM, the array still intact */
	errno = 0;
	assert_null(grow_array(a, &cap, SIZE_MAX / 8, 1, 16));
	assert_int_equal(errno, ENOMEM);
	assert_int_equal(cap, 128);
	assert_int_equal(a[127], 7);
	free(a);
}

static void test_path_setting_copy(void **state)
{
	char dst[8] = "old";

	(void)state;
	assert_int_equal(path_setting_copy(dst, sizeof(dst), "/a/b", "x"), 0);
	assert_string_equal(dst, "/a/b");
	assert_int_equal(path_setting_copy(dst, sizeof(dst), NULL, "x"), 0);
	assert_string_equal(dst, "");
	assert_int_equal(path_setting_copy(dst, sizeof(dst), "/1234567", "the thing"), -ENAMETOOLONG);
	assert_string_equal(err_msg(), "the path of the thing is too long");
	assert_string_equal(dst, "");
}

static void test_hex(void **state)
{
	uint8_t in[] = { 0x00, 0xab, 0x7f, 0xff }, out[4];
	char s[9];

	(void)state;
	hex_encode(in, 4, s);
	assert_string_equal(s, "00ab7fff");
	assert_int_equal(hex_decode("00AB7fff", out, 4), 0);
	assert_memory_equal(in, out, 4);
	assert_int_equal(hex_decode("00ab7ff", out, 4), -EINVAL);
	assert_int_equal(hex_decode("00ab7fzz", out, 4), -EINVAL);
}

static void test_be(void **state)
{
	uint8_t b[8];

	(void)state;
	put_be64(b, 0x0102030405060708ULL);
	assert_int_equal(b[0], 1);
	assert_int_equal(b[7], 8);
	assert_true(get_be64(b) == 0x0102030405060708ULL);
	put_be16(b, 0xbeef);
	assert_int_equal(get_be16(b), 0xbeef);
}

static void test_atomic_file(void **state)
{
	char dir[] = "/tmp/nitrovm-test-XXXXXX", path[256];
	struct atomic_file f;
	uint8_t *buf;
	size_t len;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/out.bin", dir);
	assert_int_equal(atomic_file_open(&f, path, 0644), 0);
	assert_int_equal(atomic_file_write(&f, "hello", 5), 0);
	assert_int_equal(access(path, F_OK), -1); /* not there until committed */
	atomic_file_abort(&f);
	assert_int_equal(access(f.tmp_path, F_OK), -1);
	assert_int_equal(access(path, F_OK), -1);

	assert_int_equal(atomic_file_open(&f, path, 0644), 0);
	assert_int_equal(atomic_file_write(&f, "hello", 5), 0);
	assert_int_equal(atomic_file_commit(&f), 0);
	assert_int_equal(file_read_all(path, &buf, &len, 100), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(buf, "hello", 5);
	free(buf);
	assert_int_equal(file_read_all(path, &buf, &len, 3), -EFBIG);
	unlink(path);
	rmdir(dir);

	assert_true(atomic_file_open(&f, "/nonexistent-dir/x", 0644) < 0);
	assert_non_null(strstr(err_msg(), "/nonexistent-dir/x"));
}

static void test_parse_size(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(cli_parse_size("512", MiB, &v), 0);
	assert_true(v == 512 * MiB);
	assert_int_equal(cli_parse_size("2G", MiB, &v), 0);
	assert_true(v == 2 * GiB);
	assert_int_equal(cli_parse_size("64MiB", 1, &v), 0);
	assert_true(v == 64 * MiB);
	assert_int_equal(cli_parse_size("1t", MiB, &v), 0);
	assert_true(v == 1024 * GiB);
	assert_int_equal(cli_parse_size("12X", MiB, &v), -EINVAL);
	assert_int_equal(cli_parse_size("-1", MiB, &v), -EINVAL);
	assert_int_equal(cli_parse_size("", MiB, &v), -EINVAL);
	assert_int_equal(cli_parse_size("99999999999999999999", MiB, &v), -EINVAL);
	assert_int_equal(cli_parse_size("18014398509481984G", MiB, &v), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_err), cmocka_unit_test(test_grow_array), cmocka_unit_test(test_path_setting_copy),	    cmocka_unit_test(test_hex),	       cmocka_unit_test(test_be),
		cmocka_unit_test(test_atomic_file), cmocka_unit_test(test_parse_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
