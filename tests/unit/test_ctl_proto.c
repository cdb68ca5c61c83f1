// SPDX-License-Identifier: MIT
/*
 * nitro-cli's enclave-process protocol, byte for byte (src/enclave/ctl_proto.c): what ciborium writes for the
 * commands, arguments and replies nitro-cli 1.5 sends (src/common/mod.rs, enclave_proc/connection.rs), and
 * the request reader a nitrovm enclave process uses on whatever a peer sends; plus the control socket's
 * treatment of a socket file left at its path.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/evloop.h"
#include "common/util.h"
#include "enclave/ctl_proto.h"
#include "enclave/ctl_server.h"

static void check_frame(uint8_t *f, size_t len, const uint8_t *cbor, size_t cbor_len)
{
	assert_non_null(f);
	assert_int_equal(len, 8 + cbor_len);
	for (int i = 0; i < 8; i++)
		assert_int_equal(f[i], i == 0 ? cbor_len : 0);
	assert_memory_equal(f + 8, cbor, cbor_len);
	free(f);
}

/* The frame is made first: its length is known only once it is. */
#define CHECK_FRAME(make, cbor, n) \
	do { \
		size_t len = 0; \
		uint8_t *f = (make); \
		check_frame(f, len, cbor, n); \
	} while (0)

static void test_encodings_are_ciboriums(void **state)
{
	(void)state;
	/* A unit variant is its name as a text string. */
	CHECK_FRAME(ctl_frame_cmd(CTL_DESCRIBE, &len), (const uint8_t *)"\x68" "Describe", 9);
	CHECK_FRAME(ctl_frame_cmd(CTL_GET_ID_BY_NAME, &len), (const uint8_t *)"\x6b" "GetIDbyName", 12);
	/* DescribeEnclavesArgs { metadata: true }: a map keyed by the field name. */
	CHECK_FRAME(ctl_frame_describe_args(true, &len), (const uint8_t *)"\xa1\x68" "metadata\xf5", 11);
	/* EnclaveProcessReply, externally tagged. */
	CHECK_FRAME(ctl_frame_reply_status(0, &len), (const uint8_t *)"\xa1\x66" "Status\x00", 9);
	CHECK_FRAME(ctl_frame_reply_status(13, &len), (const uint8_t *)"\xa1\x66" "Status\x0d", 9);
	CHECK_FRAME(ctl_frame_reply_status(-1, &len), (const uint8_t *)"\xa1\x66" "Status\x20", 9);
	CHECK_FRAME(ctl_frame_reply_text(CTL_REPLY_STDOUT, "x\n", &len),
		    (const uint8_t *)"\xa1\x6d" "StdOutMessage\x62x\n", 18);
	CHECK_FRAME(ctl_frame_string("app", &len), (const uint8_t *)"\x63" "app", 4);
}

static void test_replies_decode(void **state)
{
	struct ctl_reply r;

	(void)state;
	assert_int_equal(ctl_decode_reply((const uint8_t *)"\xa1\x66" "Status\x38\x1f", 10, &r), 0);
	assert_int_equal(r.kind, CTL_REPLY_STATUS);
	assert_int_equal(r.status, -32);
	assert_int_equal(ctl_decode_reply((const uint8_t *)"\xa1\x6d" "StdErrMessage\x61!", 17, &r), 0);
	assert_int_equal(r.kind, CTL_REPLY_STDERR);
	assert_int_equal(r.len, 1);
	assert_memory_equal(r.text, "!", 1);
	/* Not replies: another key, a second entry, a status that is not an int32, trailing bytes. */
	assert_int_equal(ctl_decode_reply((const uint8_t *)"\xa1\x63" "Odd\x00", 6, &r), -EBADMSG);
	assert_int_equal(ctl_decode_reply((const uint8_t *)"\xa2\x66" "Status\x00\x66" "Status\x00", 17, &r),
			 -EBADMSG);
	assert_int_equal(ctl_decode_reply((const uint8_t *)"\xa1\x66" "Status\x1b\x00\x00\x00\x01\x00\x00\x00\x00",
					  17, &r), -EBADMSG);
	assert_int_equal(ctl_decode_reply((const uint8_t *)"\xa1\x66" "Status\x00\x00", 10, &r), -EBADMSG);
	/* The int32 range's two ends, and one past each. */
	assert_int_equal(ctl_decode_reply((const uint8_t *)"\xa1\x66" "Status\x3a\x7f\xff\xff\xff", 13, &r),
			 0);
	assert_int_equal(r.status, INT32_MIN);
	assert_int_equal(ctl_decode_reply((const uint8_t *)"\xa1\x66" "Status\x1a\x7f\xff\xff\xff", 13, &r),
			 0);
	assert_int_equal(r.status, INT32_MAX);
	assert_int_equal(ctl_decode_reply((const uint8_t *)"\xa1\x66" "Status\x3a\x80\x00\x00\x00", 13, &r),
			 -EBADMSG);
	assert_int_equal(ctl_decode_reply((const uint8_t *)"\xa1\x66" "Status\x1a\x80\x00\x00\x00", 13, &r),
			 -EBADMSG);
	/* No entry; a message that is not text; a status that is text; a key that is not text; not a map. */
	assert_int_equal(ctl_decode_reply((const uint8_t *)"\xa0", 1, &r), -EBADMSG);
	assert_int_equal(ctl_decode_reply((const uint8_t *)"\xa1\x6d" "StdErrMessage\x41!", 17, &r),
			 -EBADMSG);
	assert_int_equal(ctl_decode_reply((const uint8_t *)"\xa1\x66" "Status\x61" "0", 10, &r), -EBADMSG);
	assert_int_equal(ctl_decode_reply((const uint8_t *)"\xa1\x00\x00", 3, &r), -EBADMSG);
	assert_int_equal(ctl_decode_reply((const uint8_t *)"\x66" "Status", 7, &r), -EBADMSG);
}

/* A request as nitro-cli sends it: the command twice, then the argument. */
static size_t describe_request(uint8_t *out, bool metadata)
{
	size_t n = 0, len;
	uint8_t *f;

	for (int i = 0; i < 3; i++) {
		f = i < 2 ? ctl_frame_cmd(CTL_DESCRIBE, &len) : ctl_frame_describe_args(metadata, &len);
		memcpy(out + n, f, len);
		n += len;
		free(f);
	}
	return n;
}

static void test_request_arrives_in_pieces(void **state)
{
	uint8_t req[128];
	size_t total = describe_request(req, true), have = 0, used, buffered = 0;
	uint8_t buf[128];
	struct ctl_request r = { 0 };
	int ret = 0;

	(void)state;
	/* One byte at a time, as a slow peer might send it. */
	while (have < total) {
		buf[buffered++] = req[have++];
		ret = ctl_request_feed(&r, buf, buffered, &used, 64);
		buffered -= used;
		memmove(buf, buf + used, buffered);
		if (ret)
			break;
	}
	assert_int_equal(ret, 1);
	assert_int_equal(have, total);
	assert_int_equal(r.cmd, CTL_DESCRIBE);
	assert_true(r.metadata);
}

static void test_bad_requests(void **state)
{
	uint8_t buf[256];
	size_t n, len, used;
	struct ctl_request r;
	uint8_t *a, *b;

	(void)state;
	/* Two different copies of the command. */
	a = ctl_frame_cmd(CTL_DESCRIBE, &len);
	memcpy(buf, a, len);
	free(a);
	b = ctl_frame_cmd(CTL_TERMINATE, &n);
	memcpy(buf + len, b, n);
	free(b);
	memset(&r, 0, sizeof(r));
	assert_int_equal(ctl_request_feed(&r, buf, len + n, &used, 64), -1);
	/* A length past the limit is refused before its bytes arrive. */
	memset(buf, 0, 8);
	buf[2] = 1; /* 65536 */
	memset(&r, 0, sizeof(r));
	assert_int_equal(ctl_request_feed(&r, buf, 8, &used, 4096), -1);
	/* Not a text string. */
	memcpy(buf, "\x01\0\0\0\0\0\0\0\x00", 9);
	memset(&r, 0, sizeof(r));
	assert_int_equal(ctl_request_feed(&r, buf, 9, &used, 64), -1);
	/* An unknown command is a complete request, of an unknown command (answered with nothing). */
	memcpy(buf, "\x04\0\0\0\0\0\0\0\x63" "Zap\x04\0\0\0\0\0\0\0\x63" "Zap", 24);
	memset(&r, 0, sizeof(r));
	assert_int_equal(ctl_request_feed(&r, buf, 24, &used, 64), 1);
	assert_int_equal(r.cmd, CTL_CMD_UNKNOWN);
	assert_int_equal(used, 24);
}

/* A Describe request whose argument message is the CBOR args[0..n): ctl_request_feed's answer. */
#define ARGS(s) (s), sizeof(s) - 1
static int feed_describe_args(const char *args, size_t n, bool *metadata)
{
	uint8_t buf[256];
	size_t len, used, total = 0;
	struct ctl_request r = { 0 };
	uint8_t *f;
	int ret;

	for (int i = 0; i < 2; i++) {
		f = ctl_frame_cmd(CTL_DESCRIBE, &len);
		memcpy(buf + total, f, len);
		total += len;
		free(f);
	}
	assert_true(total + 8 + n <= sizeof(buf));
	memset(buf + total, 0, 8);
	buf[total] = (uint8_t)n;
	memcpy(buf + total + 8, args, n);
	total += 8 + n;
	ret = ctl_request_feed(&r, buf, total, &used, 128);
	if (ret == 1)
		*metadata = r.metadata;
	return ret;
}

static void test_describe_args(void **state)
{
	bool metadata = false;

	(void)state;
	assert_int_equal(feed_describe_args(ARGS("\xa1\x68" "metadata\xf5"), &metadata), 1);
	assert_true(metadata);
	assert_int_equal(feed_describe_args(ARGS("\xa1\x68" "metadata\xf4"), &metadata), 1);
	assert_false(metadata);
	/* A newer client's extra field, whatever its value, is skipped as serde skips it. */
	assert_int_equal(feed_describe_args(ARGS("\xa2\x63" "new\x82\x01\x02\x68" "metadata\xf5"), &metadata),
			 1);
	assert_true(metadata);
	/* The same key twice is refused, whether the two agree or not: no last-one-wins. */
	assert_int_equal(feed_describe_args(ARGS("\xa2\x68" "metadata\xf4\x68" "metadata\xf5"), &metadata),
			 -1);
	assert_int_equal(feed_describe_args(ARGS("\xa2\x68" "metadata\xf5\x68" "metadata\xf5"), &metadata),
			 -1);
	assert_non_null(strstr(err_msg(), "\"metadata\" given twice"));
	/* No metadata; not a boolean (an integer, null, a double whose bits are 21); a non-text key. */
	assert_int_equal(feed_describe_args(ARGS("\xa0"), &metadata), -1);
	assert_int_equal(feed_describe_args(ARGS("\xa1\x68" "metadata\x01"), &metadata), -1);
	assert_int_equal(feed_describe_args(ARGS("\xa1\x68" "metadata\xf6"), &metadata), -1);
	assert_int_equal(feed_describe_args(ARGS("\xa1\x68" "metadata\xfb\0\0\0\0\0\0\0\x15"), &metadata),
			 -1);
	assert_int_equal(feed_describe_args(ARGS("\xa2\x01\x01\x68" "metadata\xf5"), &metadata), -1);
	/* Not a map, an indefinite-length one, a truncated one, bytes after it. */
	assert_int_equal(feed_describe_args(ARGS("\xf5"), &metadata), -1);
	assert_int_equal(feed_describe_args(ARGS("\xbf\x68" "metadata\xf5\xff"), &metadata), -1);
	assert_int_equal(feed_describe_args(ARGS("\xa2\x68" "metadata\xf5"), &metadata), -1);
	assert_int_equal(feed_describe_args(ARGS("\xa1\x68" "metadata\xf5\x00"), &metadata), -1);
}

static const struct ctl_server_ops no_ops;

static void test_stale_socket_file_is_replaced(void **state)
{
	char dir[] = "/tmp/nitrovm-ctl.XXXXXX", path[64];
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct evloop *loop = evloop_create();
	struct ctl_server *s;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/1f.sock", dir);
	memcpy(a.sun_path, path, strlen(path) + 1);
	/* Bound, never listened on: what a process that died leaves. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	close(fd);
	s = ctl_server_start(loop, path, &no_ops, NULL);
	assert_non_null(s);
	/* A live one is someone's enclave: not replaced. */
	assert_null(ctl_server_start(loop, path, &no_ops, NULL));
	ctl_server_stop(s);
	assert_int_equal(access(path, F_OK), -1);
	rmdir(dir);
	evloop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encodings_are_ciboriums),
		cmocka_unit_test(test_replies_decode),
		cmocka_unit_test(test_request_arrives_in_pieces),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_describe_args),
		cmocka_unit_test(test_stale_socket_file_is_replaced),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
