// SPDX-License-Identifier: MIT
/*
 * Unit tests: the enclave init's pure logic (guest/init/init_lib.c): /cmd and /env lines, /modules/order,
 * kernel command line values, module formats, exit status wording, and /cwd and /user.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "../../guest/init/init_lib.h"

/* A writable copy with the extra byte init_split_lines may use; the test frees it. */
static char *dup_buf(const char *s, size_t len)
{
	char *b = malloc(len + 1);

	assert_non_null(b);
	memcpy(b, s, len);
	b[len] = '\0';
	return b;
}

static void test_cmd_lines(void **state)
{
	static const char text[] = "sh\n-c\necho 'a b'\n\nlast";
	char *buf = dup_buf(text, sizeof(text) - 1), **v;
	size_t n, bad;

	(void)state;
	assert_int_equal(init_split_lines(buf, sizeof(text) - 1, INIT_LINES_CMD, &v, &n, &bad), 0);
	assert_int_equal(n, 5);
	assert_string_equal(v[0], "sh");
	assert_string_equal(v[1], "-c");
	assert_string_equal(v[2], "echo 'a b'");
	assert_string_equal(v[3], ""); /* empty arguments are kept */
	assert_string_equal(v[4], "last");
	assert_null(v[5]);
	free(v);
	free(buf);
}

static void test_cmd_trailing_newline_and_empty(void **state)
{
	char *buf = dup_buf("prog\n", 5), **v;
	size_t n, bad;

	(void)state;
	assert_int_equal(init_split_lines(buf, 5, INIT_LINES_CMD, &v, &n, &bad), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0], "prog");
	assert_null(v[1]);
	free(v);
	free(buf);

	buf = dup_buf("", 0);
	assert_int_equal(init_split_lines(buf, 0, INIT_LINES_CMD, &v, &n, &bad), 0);
	assert_int_equal(n, 0);
	assert_null(v[0]);
	free(v);
	free(buf);
}

static void test_nul_byte_rejected(void **state)
{
	static const char text[] = "a\nb\0c\nd\n";
	char *buf = dup_buf(text, sizeof(text) - 1), **v = (char **)1;
	size_t n, bad;

	(void)state;
	assert_int_equal(init_split_lines(buf, sizeof(text) - 1, INIT_LINES_CMD, &v, &n, &bad), -EILSEQ);
	assert_int_equal(bad, 2);
	assert_null(v);
	free(buf);
}

static void test_env_lines(void **state)
{
	static const char text[] = "A=1\n\nPATH=/bin\nEMPTY=\nX=a=b\n";
	char *buf = dup_buf(text, sizeof(text) - 1), **v;
	size_t n, bad;

	(void)state;
	assert_int_equal(init_split_lines(buf, sizeof(text) - 1, INIT_LINES_ENV, &v, &n, &bad), 0);
	assert_int_equal(n, 4);
	assert_string_equal(v[0], "A=1");
	assert_string_equal(v[1], "PATH=/bin");
	assert_string_equal(v[2], "EMPTY=");
	assert_string_equal(v[3], "X=a=b");
	assert_true(init_env_has_path(v));
	free(v);
	free(buf);
}

static void test_env_bad_lines(void **state)
{
	static const char *const bad_texts[] = {"A=1\nnoequals\n", "A=1\n=value\n"};

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		size_t len = strlen(bad_texts[i]), n, bad;
		char *buf = dup_buf(bad_texts[i], len), **v;

		assert_int_equal(init_split_lines(buf, len, INIT_LINES_ENV, &v, &n, &bad), -EINVAL);
		assert_int_equal(bad, 2);
		free(buf);
	}
}

static void test_env_has_path(void **state)
{
	char *none[] = {"A=1", "PATHX=1", "XPATH=/bin", NULL};
	char *empty[] = {NULL};

	(void)state;
	assert_false(init_env_has_path(none));
	assert_false(init_env_has_path(empty));
}

static void test_module_order(void **state)
{
	static const char text[] = "# dependencies first\n"
				   "virtio_mmio.ko.xz\n"
				   "  vsock.ko.xz  \n"
				   "\n"
				   "net/vmw_vsock_virtio_transport.ko\r\n"
				   "a..b.ko";
	char *buf = dup_buf(text, sizeof(text) - 1), **v;
	size_t n, bad;

	(void)state;
	assert_int_equal(init_parse_module_order(buf, sizeof(text) - 1, &v, &n, &bad), 0);
	assert_int_equal(n, 4);
	assert_string_equal(v[0], "virtio_mmio.ko.xz");
	assert_string_equal(v[1], "vsock.ko.xz");
	assert_string_equal(v[2], "net/vmw_vsock_virtio_transport.ko");
	assert_string_equal(v[3], "a..b.ko");
	assert_null(v[4]);
	free(v);
	free(buf);
}

static void test_module_order_escapes(void **state)
{
	static const char *const bad_texts[] = {
		"ok.ko\n/etc/passwd\n",
		"ok.ko\n../x.ko\n",
		"ok.ko\nsub/../../x.ko\n",
		"ok.ko\nsub/..\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad_texts) / sizeof(bad_texts[0]); i++) {
		size_t len = strlen(bad_texts[i]), n, bad;
		char *buf = dup_buf(bad_texts[i], len), **v;

		assert_int_equal(init_parse_module_order(buf, len, &v, &n, &bad), -EINVAL);
		assert_int_equal(bad, 2);
		free(buf);
	}
}

static void test_cmdline_value(void **state)
{
	char val[32];

	(void)state;
	assert_true(init_cmdline_value("console=ttyS0 reboot=k", "reboot", val, sizeof(val)));
	assert_string_equal(val, "k");
	assert_false(init_cmdline_value("console=ttyS0 reboot=k", "boot", val, sizeof(val)));
	assert_false(init_cmdline_value("rebooted=1", "reboot", val, sizeof(val)));
	/* The last one wins, as for the kernel's own parameters. */
	assert_true(init_cmdline_value("a=1 a=2\n", "a", val, sizeof(val)));
	assert_string_equal(val, "2");
	/* Quotes group blanks into one parameter and are dropped. */
	assert_true(init_cmdline_value("x \"msg=hello world\" y", "msg", val, sizeof(val)));
	assert_string_equal(val, "hello world");
	assert_true(init_cmdline_value("msg=\"a b\" y", "msg", val, sizeof(val)));
	assert_string_equal(val, "a b");
	assert_true(init_cmdline_value("quiet", "quiet", val, sizeof(val)));
	assert_string_equal(val, "");
	assert_false(init_cmdline_value("k=0123456789", "k", val, 5));
	assert_false(init_cmdline_value("", "k", val, sizeof(val)));
}

static void test_heartbeat_switch(void **state)
{
	(void)state;
	assert_true(init_heartbeat_enabled(""));
	assert_true(init_heartbeat_enabled("console=ttyS0 reboot=k"));
	assert_false(init_heartbeat_enabled("console=ttyS0 nitrovm.heartbeat=0"));
	assert_false(init_heartbeat_enabled("nitrovm.heartbeat=off quiet"));
	assert_true(init_heartbeat_enabled("nitrovm.heartbeat=1"));
	assert_true(init_heartbeat_enabled("nitrovm.heartbeat=0 nitrovm.heartbeat=1"));
	assert_true(init_heartbeat_enabled("xnitrovm.heartbeat=0"));
}

static void test_module_format(void **state)
{
	static const uint8_t elf[] = {0x7f, 'E', 'L', 'F', 2, 1};
	static const uint8_t xz[] = {0xfd, '7', 'z', 'X', 'Z', 0};
	static const uint8_t zst[] = {0x28, 0xb5, 0x2f, 0xfd, 0, 0};
	static const uint8_t gz[] = {0x1f, 0x8b, 8, 0, 0, 0};
	static const uint8_t junk[] = {'h', 'e', 'l', 'l', 'o', 0};

	(void)state;
	assert_int_equal(init_module_format(elf, sizeof(elf)), INIT_MODULE_ELF);
	assert_int_equal(init_module_format(xz, sizeof(xz)), INIT_MODULE_XZ);
	assert_int_equal(init_module_format(zst, sizeof(zst)), INIT_MODULE_ZSTD);
	assert_int_equal(init_module_format(gz, sizeof(gz)), INIT_MODULE_GZIP);
	assert_int_equal(init_module_format(junk, sizeof(junk)), INIT_MODULE_UNKNOWN);
	/* A truncated file is not taken for what its first bytes start to look like. */
	assert_int_equal(init_module_format(xz, 5), INIT_MODULE_UNKNOWN);
	assert_int_equal(init_module_format(elf, 0), INIT_MODULE_UNKNOWN);
	assert_string_equal(init_module_format_name(INIT_MODULE_XZ), "xz");
}

static void test_describe_status(void **state)
{
	char buf[128];

	(void)state;
	init_describe_status(3 << 8, buf, sizeof(buf)); /* what wait() reports for exit(3) */
	assert_string_equal(buf, "exited with status 3");
	init_describe_status(0, buf, sizeof(buf));
	assert_string_equal(buf, "exited with status 0");
	init_describe_status(SIGKILL, buf, sizeof(buf));
	assert_string_equal(buf, "killed by signal 9 (SIGKILL)");
	init_describe_status(SIGSEGV | 0x80, buf, sizeof(buf));
	assert_string_equal(buf, "killed by signal 11 (SIGSEGV), core dumped");
}


static void test_cwd(void **state)
{
	char *buf = dup_buf("/app/data\n", 10);
	const char *cwd;

	(void)state;
	assert_int_equal(init_parse_cwd(buf, 10, &cwd), 0);
	assert_string_equal(cwd, "/app/data");
	free(buf);
	buf = dup_buf("/", 1);
	assert_int_equal(init_parse_cwd(buf, 1, &cwd), 0);
	assert_string_equal(cwd, "/");
	free(buf);
	/* relative, empty, two lines, a NUL: refused */
	buf = dup_buf("app\n", 4);
	assert_int_equal(init_parse_cwd(buf, 4, &cwd), -EINVAL);
	free(buf);
	buf = dup_buf("\n", 1);
	assert_int_equal(init_parse_cwd(buf, 1, &cwd), -EINVAL);
	free(buf);
	buf = dup_buf("/a\n/b\n", 6);
	assert_int_equal(init_parse_cwd(buf, 6, &cwd), -EINVAL);
	free(buf);
	buf = dup_buf("/a\0b", 4);
	assert_int_equal(init_parse_cwd(buf, 4, &cwd), -EINVAL);
	free(buf);
}

static void test_user(void **state)
{
	struct init_user u;

	(void)state;
	assert_int_equal(init_parse_user("1000 1000\n", 10, &u), 0);
	assert_int_equal(u.uid, 1000);
	assert_int_equal(u.gid, 1000);
	assert_int_equal(u.ngroups, 0);
	assert_null(u.groups);
	assert_int_equal(init_parse_user("0 0 10 2000 4294967295", 22, &u), 0);
	assert_int_equal(u.uid, 0);
	assert_int_equal(u.ngroups, 3);
	assert_int_equal(u.groups[0], 10);
	assert_int_equal(u.groups[1], 2000);
	assert_int_equal(u.groups[2], 4294967295u);
	free(u.groups);
	/* one number, past 32 bits, blanks doubled, a sign, a trailing blank, garbage: refused */
	assert_int_equal(init_parse_user("1000\n", 5, &u), -EINVAL);
	assert_int_equal(init_parse_user("4294967296 0", 12, &u), -EINVAL);
	assert_int_equal(init_parse_user("1  2", 4, &u), -EINVAL);
	assert_int_equal(init_parse_user("-1 2", 4, &u), -EINVAL);
	assert_int_equal(init_parse_user("1 2 ", 4, &u), -EINVAL);
	assert_int_equal(init_parse_user("1 2 x", 5, &u), -EINVAL);
	assert_null(u.groups);
	assert_int_equal(init_parse_user("", 0, &u), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmd_lines),
		cmocka_unit_test(test_cwd),
		cmocka_unit_test(test_user),
		cmocka_unit_test(test_cmd_trailing_newline_and_empty),
		cmocka_unit_test(test_nul_byte_rejected),
		cmocka_unit_test(test_env_lines),
		cmocka_unit_test(test_env_bad_lines),
		cmocka_unit_test(test_env_has_path),
		cmocka_unit_test(test_module_order),
		cmocka_unit_test(test_module_order_escapes),
		cmocka_unit_test(test_cmdline_value),
		cmocka_unit_test(test_heartbeat_switch),
		cmocka_unit_test(test_module_format),
		cmocka_unit_test(test_describe_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
