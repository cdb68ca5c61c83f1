// SPDX-License-Identifier: MIT
/* Unit tests: the newc cpio writer's exact bytes, padding, order, determinism, trees and refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"
#include "eif/cpio.h"
#include "newc_parse.h"

static void setup_env(const char *sde)
{
	if (sde)
		setenv("SOURCE_DATE_EPOCH", sde, 1);
	else
		unsetenv("SOURCE_DATE_EPOCH");
}

static void test_one_file_exact_bytes(void **state)
{
	/* clang-format off */
	static const char want[] =
		/* "hello", 0100644, 3 bytes; 110 + 6 = 116 bytes of header and name need no padding */
		"070701"
		"00000001" "000081a4" "00000000" "00000000" "00000001" "00000000" "00000003"
		"00000000" "00000000" "00000000" "00000000" "00000006" "00000000"
		"hello\0"
		"hi\n\0"
		/* trailer: 110 + 11 = 121, padded to 124 */
		"070701"
		"00000000" "00000000" "00000000" "00000000" "00000001" "00000000" "00000000"
		"00000000" "00000000" "00000000" "00000000" "0000000b" "00000000"
		"TRAILER!!!\0" "\0\0\0";
	/* clang-format on */
	struct cpio c;

	(void)state;
	setup_env(NULL);
	cpio_init(&c);
	assert_int_equal(cpio_add_file(&c, "hello", 0644, "hi\n", 3), 0);
	assert_int_equal(cpio_finish(&c), 0);
	assert_int_equal(c.len, sizeof(want) - 1);
	assert_memory_equal(c.buf, want, sizeof(want) - 1);
	cpio_free(&c);
}

static void test_padding(void **state)
{
	static const char data[] = "abcdefgh";
	struct parsed p[16];
	struct cpio c;
	size_t n;

	(void)state;
	setup_env(NULL);
	cpio_init(&c);
	/* Name lengths 1..4 cover every header+name remainder; data lengths 0..4 every data remainder. */
	assert_int_equal(cpio_add_file(&c, "a", 0600, data, 0), 0);
	assert_int_equal(cpio_add_file(&c, "bb", 0600, data, 1), 0);
	assert_int_equal(cpio_add_file(&c, "ccc", 0600, data, 2), 0);
	assert_int_equal(cpio_add_file(&c, "dddd", 0600, data, 3), 0);
	assert_int_equal(cpio_add_file(&c, "eeeee", 0600, data, 4), 0);
	assert_int_equal(cpio_finish(&c), 0);
	/* Expected size: sum of align4(110 + namelen + 1) + align4(size), plus the 124-byte trailer. */
	assert_int_equal(c.len, (112 + 0) + (116 + 4) + (116 + 4) + (116 + 4) + (116 + 4) + 124);
	n = parse_archive(c.buf, c.len, p, 16);
	assert_int_equal(n, 6);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(p[i].f[F_SIZE], i);
		assert_memory_equal(p[i].data, data, i);
	}
	cpio_free(&c);
}

static void test_sorted_byte_order_and_inodes(void **state)
{
	/* strcmp order, not locale order: uppercase first, '-' (0x2d) before '/' (0x2f), UTF-8 last. */
	static const char *const want[] = {"B", "a", "a-c", "a/b", "a/b/z", "\xc3\xa9"};
	struct parsed p[16];
	struct cpio c;
	size_t n;

	(void)state;
	setup_env(NULL);
	cpio_init(&c);
	assert_int_equal(cpio_add_file(&c, "\xc3\xa9", 0644, "x", 1), 0);
	assert_int_equal(cpio_add_file(&c, "a/b/z", 0644, "z", 1), 0);
	assert_int_equal(cpio_add_dir(&c, "a/b", 0755), 0);
	assert_int_equal(cpio_add_file(&c, "a-c", 0644, "", 0), 0);
	assert_int_equal(cpio_add_dir(&c, "a", 0700), 0);
	assert_int_equal(cpio_add_symlink(&c, "B", "a/b/z"), 0);
	assert_int_equal(cpio_finish(&c), 0);
	n = parse_archive(c.buf, c.len, p, 16);
	assert_int_equal(n, ARRAY_SIZE(want) + 1);
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		assert_string_equal(p[i].name, want[i]);
		assert_int_equal(p[i].f[F_INO], i + 1);
		assert_int_equal(p[i].f[F_UID], 0);
		assert_int_equal(p[i].f[F_GID], 0);
		assert_int_equal(p[i].f[F_MTIME], 0);
		assert_int_equal(p[i].f[F_DEVMAJ], 0);
		assert_int_equal(p[i].f[F_DEVMIN], 0);
	}
	assert_int_equal(p[0].f[F_MODE], S_IFLNK | 0777);
	assert_int_equal(p[0].f[F_SIZE], 5);
	assert_memory_equal(p[0].data, "a/b/z", 5);
	assert_int_equal(p[1].f[F_MODE], S_IFDIR | 0700);
	assert_int_equal(p[1].f[F_NLINK], 2);
	assert_int_equal(p[2].f[F_NLINK], 1);
	cpio_free(&c);
}

/* Same entries, opposite call order: same bytes. */
static void build_some(struct cpio *c, bool reverse)
{
	static const char *const names[] = {"etc", "etc/hosts", "init", "bin", "bin/sh"};

	cpio_init(c);
	for (size_t k = 0; k < ARRAY_SIZE(names); k++) {
		const char *name = names[reverse ? ARRAY_SIZE(names) - 1 - k : k];

		if (!strchr(name, '/') && strcmp(name, "init"))
			assert_int_equal(cpio_add_dir(c, name, 0755), 0);
		else
			assert_int_equal(cpio_add_file(c, name, 0755, name, strlen(name)), 0);
	}
	assert_int_equal(cpio_add_node(c, "console", S_IFCHR | 0600, 5, 1), 0);
	assert_int_equal(cpio_finish(c), 0);
}

static void test_deterministic(void **state)
{
	struct cpio a, b;
	struct parsed p[16];
	size_t n;

	(void)state;
	setup_env("1700000000");
	build_some(&a, false);
	build_some(&b, true);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.buf, b.buf, a.len);
	n = parse_archive(a.buf, a.len, p, 16);
	assert_int_equal(n, 7);
	for (size_t i = 0; i + 1 < n; i++)
		assert_int_equal(p[i].f[F_MTIME], 1700000000);
	assert_string_equal(p[2].name, "console");
	assert_int_equal(p[2].f[F_MODE], S_IFCHR | 0600);
	assert_int_equal(p[2].f[F_RMAJ], 5);
	assert_int_equal(p[2].f[F_RMIN], 1);
	/* The trailer carries no time, so archives differ only where they should. */
	assert_int_equal(p[n - 1].f[F_MTIME], 0);
	cpio_free(&a);
	cpio_free(&b);
	setup_env(NULL);
}

static void test_source_date_epoch(void **state)
{
	static const char *const bad[] = {"12x", "-1", " 5", "+5", "4294967296", "99999999999999999999",
					  "1.5"};
	struct cpio c;

	(void)state;
	setup_env("");
	cpio_init(&c);
	assert_int_equal(c.mtime, 0);
	assert_int_equal(c.error, 0);
	cpio_free(&c);
	setup_env("4294967295");
	cpio_init(&c);
	assert_int_equal(c.mtime, UINT32_MAX);
	cpio_free(&c);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		setup_env(bad[i]);
		err_clear();
		cpio_init(&c);
		assert_int_equal(c.error, -EINVAL);
		assert_non_null(strstr(err_msg(), "SOURCE_DATE_EPOCH"));
		/* Sticky: nothing can be added, and finishing reports the same error. */
		assert_int_equal(cpio_add_file(&c, "x", 0644, "", 0), -EINVAL);
		assert_int_equal(cpio_finish(&c), -EINVAL);
		assert_null(c.buf);
		cpio_free(&c);
	}
	setup_env(NULL);
}

static void expect_refused(int (*add)(struct cpio *c), int err, const char *fragment)
{
	struct cpio c;

	cpio_init(&c);
	err_clear();
	assert_int_equal(add(&c), -err);
	assert_non_null(strstr(err_msg(), fragment));
	assert_int_equal(cpio_finish(&c), -err);
	cpio_free(&c);
}

static int add_abs(struct cpio *c)
{
	return cpio_add_file(c, "/etc/x", 0644, "", 0);
}

static int add_dotdot(struct cpio *c)
{
	return cpio_add_file(c, "a/../b", 0644, "", 0);
}

static int add_double_slash(struct cpio *c)
{
	return cpio_add_dir(c, "a//b", 0755);
}

static int add_trailing_slash(struct cpio *c)
{
	return cpio_add_dir(c, "a/", 0755);
}

static int add_empty(struct cpio *c)
{
	return cpio_add_symlink(c, "", "x");
}

static int add_too_big(struct cpio *c)
{
	/* The size is refused before the data is looked at, so no 4 GiB buffer is needed. */
	static const uint8_t one;

	return cpio_add_file(c, "big", 0644, &one, (size_t)CPIO_MAX_FILE_SIZE + 1);
}

static int add_twice(struct cpio *c)
{
	cpio_add_file(c, "x", 0644, "1", 1);
	cpio_add_symlink(c, "x", "y");
	return cpio_finish(c);
}

static int add_dir_twice_other_mode(struct cpio *c)
{
	cpio_add_dir(c, "d", 0755);
	cpio_add_dir(c, "d", 0700);
	return cpio_finish(c);
}

static int add_wrong_type(struct cpio *c)
{
	return cpio_add_file(c, "f", S_IFDIR | 0755, "", 0);
}

static int add_bad_node(struct cpio *c)
{
	return cpio_add_node(c, "n", S_IFREG | 0644, 0, 0);
}

static void test_refusals(void **state)
{
	(void)state;
	setup_env(NULL);
	expect_refused(add_abs, EINVAL, "starts with '/'");
	expect_refused(add_dotdot, EINVAL, "'..' component");
	expect_refused(add_double_slash, EINVAL, "empty");
	expect_refused(add_trailing_slash, EINVAL, "ends with '/'");
	expect_refused(add_empty, EINVAL, "needs a name");
	expect_refused(add_too_big, EFBIG, "at most 4294967295 bytes");
	expect_refused(add_twice, EEXIST, "'x' was added twice");
	expect_refused(add_dir_twice_other_mode, EEXIST, "modes 0755 and 0700");
	expect_refused(add_wrong_type, EINVAL, "not of the type");
	expect_refused(add_bad_node, EINVAL, "not a character device");
}

/* ---- host trees ---- */

static char tree[64];

static void write_file(const char *rel, const char *content, mode_t mode)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tree, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

static void make_tree(void)
{
	char path[256];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int s;

	strcpy(tree, "/tmp/nitrovm-cpio-XXXXXX");
	assert_non_null(mkdtemp(tree));
	assert_int_equal(chmod(tree, 0750), 0);
	snprintf(path, sizeof(path), "%s/bin", tree);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/empty", tree);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(chmod(path, 0700), 0);
	write_file("init", "#!/bin/sh\n", 0755);
	write_file("bin/tool", "tool", 0644);
	snprintf(path, sizeof(path), "%s/bin/link", tree);
	assert_int_equal(symlink("../init", path), 0);
	snprintf(path, sizeof(path), "%s/fifo", tree);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(chmod(path, 0600), 0);
	/* A bound socket: must not appear in the archive. */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", tree);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s);
}

static void remove_tree(void)
{
	static const char *const rels[] = {"bin/link", "bin/tool", "init",  "fifo",
					   "sock",     "bin",	   "empty", ""};
	char path[256];

	for (size_t i = 0; i < ARRAY_SIZE(rels); i++) {
		snprintf(path, sizeof(path), "%s/%s", tree, rels[i]);
		assert_int_equal(remove(path), 0);
	}
}

static void test_tree(void **state)
{
	static const struct {
		const char *name;
		uint32_t mode;
		const char *data;
	} want[] = {
		{"a", S_IFDIR | 0755, NULL},
		{"a/root", S_IFDIR | 0750, NULL},
		{"a/root/bin", S_IFDIR | 0755, NULL},
		{"a/root/bin/link", S_IFLNK | 0777, "../init"},
		{"a/root/bin/tool", S_IFREG | 0644, "tool"},
		{"a/root/empty", S_IFDIR | 0700, NULL},
		{"a/root/fifo", S_IFIFO | 0600, NULL},
		{"a/root/init", S_IFREG | 0755, "#!/bin/sh\n"},
		{"z", S_IFREG | 0644, ""},
	};
	struct parsed p[32];
	struct cpio c, again;
	size_t n;

	(void)state;
	setup_env(NULL);
	make_tree();
	cpio_init(&c);
	/* The prefix's made-up ancestor "a" merges with one added by name; the sort puts "z" after the tree.
	 */
	assert_int_equal(cpio_add_file(&c, "z", 0644, "", 0), 0);
	assert_int_equal(cpio_add_tree(&c, tree, "a/root"), 0);
	assert_int_equal(cpio_add_dir(&c, "a", 0755), 0);
	assert_int_equal(cpio_finish(&c), 0);
	n = parse_archive(c.buf, c.len, p, 32);
	assert_int_equal(n, ARRAY_SIZE(want) + 1);
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		assert_string_equal(p[i].name, want[i].name);
		assert_int_equal(p[i].f[F_MODE], want[i].mode);
		assert_int_equal(p[i].f[F_INO], i + 1);
		if (want[i].data) {
			assert_int_equal(p[i].f[F_SIZE], strlen(want[i].data));
			assert_memory_equal(p[i].data, want[i].data, strlen(want[i].data));
		} else {
			assert_int_equal(p[i].f[F_SIZE], 0);
		}
	}

	/* Walking the same tree again gives the same bytes. */
	cpio_init(&again);
	assert_int_equal(cpio_add_tree(&again, tree, "a/root"), 0);
	assert_int_equal(cpio_add_file(&again, "z", 0644, "", 0), 0);
	assert_int_equal(cpio_finish(&again), 0);
	assert_int_equal(again.len, c.len);
	assert_memory_equal(again.buf, c.buf, c.len);
	cpio_free(&again);
	cpio_free(&c);

	/* At the archive root nothing stands for the tree's own directory. */
	cpio_init(&c);
	assert_int_equal(cpio_add_tree(&c, tree, ""), 0);
	assert_int_equal(cpio_finish(&c), 0);
	n = parse_archive(c.buf, c.len, p, 32);
	assert_int_equal(n, 7);
	assert_string_equal(p[0].name, "bin");
	assert_string_equal(p[5].name, "init");
	cpio_free(&c);

	/* A prefix clashing with a file is refused. */
	cpio_init(&c);
	cpio_add_file(&c, "a", 0644, "", 0);
	cpio_add_tree(&c, tree, "a/root");
	assert_int_equal(cpio_finish(&c), -EEXIST);
	cpio_free(&c);

	remove_tree();
}

static void test_tree_errors(void **state)
{
	struct cpio c;

	(void)state;
	setup_env(NULL);
	cpio_init(&c);
	err_clear();
	assert_int_equal(cpio_add_tree(&c, "/nonexistent/nitrovm-cpio", ""), -ENOENT);
	assert_non_null(strstr(err_msg(), "/nonexistent/nitrovm-cpio"));
	cpio_free(&c);
	cpio_init(&c);
	assert_int_equal(cpio_add_tree(&c, "/dev/null", "x"), -ENOTDIR);
	assert_non_null(strstr(err_msg(), "not a directory"));
	cpio_free(&c);
	cpio_init(&c);
	assert_int_equal(cpio_add_tree(&c, "/tmp", "../x"), -EINVAL);
	cpio_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_file_exact_bytes),
		cmocka_unit_test(test_padding),
		cmocka_unit_test(test_sorted_byte_order_and_inodes),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_source_date_epoch),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_tree),
		cmocka_unit_test(test_tree_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
