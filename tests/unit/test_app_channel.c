// SPDX-License-Identifier: MIT
/*
 * Unit tests: the parent's end of the app channel.  The reader of the init's frames (src/enclave/app_parse.c)
 * with good and broken streams fed in every chunking; then the channel itself (src/enclave/app_channel.c) over
 * a scripted vsock host whose one connection is a socketpair the test plays the init on, driven by the real
 * event loop: the handshake, output with the user pausing and resuming it, stdin and its end, signals, the exit
 * status and its acknowledgement, and an init that breaks the protocol or goes away.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/util.h"
#include "enclave/app_channel.h"
#include "enclave/app_parse.h"
#include "enclave/app_wire.h"
#include "vsock/endpoint.h"

/* ---- frames, as the init writes them ---- */

static size_t frame(uint8_t *out, uint8_t type, const void *payload, uint32_t len)
{
	app_wire_header(out, type, len);
	memcpy(out + APP_WIRE_HEADER, payload, len);
	return APP_WIRE_HEADER + len;
}

static size_t good_stream(uint8_t *b)
{
	size_t n = app_wire_hello(b, APP_WIRE_HELLO);

	n += frame(b + n, APP_WIRE_STDOUT, "hello\n", 6);
	n += frame(b + n, APP_WIRE_STDERR, "oops\n", 5);
	n += frame(b + n, APP_WIRE_STDOUT, "x", 1);
	n += app_wire_exit(b + n, APP_EXIT_CODE, 3);
	return n;
}

struct seen {
	int hello, exits;
	char out[64], err[64];
	size_t out_len, err_len;
	enum app_exit_kind kind;
	uint32_t value;
};

/* Feed b in pieces of chunk bytes; returns the first error, or 0. */
static int feed_all(const uint8_t *b, size_t len, size_t chunk, struct seen *s)
{
	struct app_parser p;
	size_t off = 0;

	app_parser_init(&p);
	memset(s, 0, sizeof(*s));
	while (off < len) {
		size_t n = MIN(MIN(chunk, len - off), app_parser_need(&p)), used;
		struct app_event ev;
		int ret = app_parser_feed(&p, b + off, n, &used, &ev);

		if (ret < 0)
			return ret;
		assert_int_equal(used, n);
		off += used;
		if (!ret)
			continue;
		if (ev.kind == APP_EVENT_HELLO)
			s->hello++;
		if (ev.kind == APP_EVENT_OUTPUT && ev.stream == 1) {
			memcpy(s->out + s->out_len, ev.data, ev.len);
			s->out_len += ev.len;
		}
		if (ev.kind == APP_EVENT_OUTPUT && ev.stream == 2) {
			memcpy(s->err + s->err_len, ev.data, ev.len);
			s->err_len += ev.len;
		}
		if (ev.kind == APP_EVENT_EXIT) {
			s->exits++;
			s->kind = ev.exit_kind;
			s->value = ev.exit_value;
		}
	}
	return 0;
}

static void test_parse_good_stream_any_chunking(void **state)
{
	uint8_t b[256];
	size_t len = good_stream(b);
	struct seen s;

	(void)state;
	for (size_t chunk = 1; chunk <= len; chunk++) {
		assert_int_equal(feed_all(b, len, chunk, &s), 0);
		assert_int_equal(s.hello, 1);
		assert_int_equal(s.out_len, 7);
		assert_memory_equal(s.out, "hello\nx", 7);
		assert_int_equal(s.err_len, 5);
		assert_int_equal(s.exits, 1);
		assert_int_equal(s.kind, APP_EXIT_CODE);
		assert_int_equal(s.value, 3);
	}
}

static void expect_refused(const uint8_t *b, size_t len, const char *words)
{
	struct seen s;

	assert_true(feed_all(b, len, len, &s) < 0);
	assert_non_null(strstr(err_msg(), "broke the app channel's protocol"));
	assert_non_null(strstr(err_msg(), words));
}

static void test_parse_refuses_what_the_init_may_not_send(void **state)
{
	uint8_t b[APP_WIRE_HEADER * 4 + 64];
	size_t n;

	(void)state;
	/* output before hello */
	expect_refused(b, frame(b, APP_WIRE_STDOUT, "x", 1), "not a hello");
	/* a hello of another version */
	n = app_wire_hello(b, APP_WIRE_HELLO);
	b[APP_WIRE_HEADER + 4] = 9;
	expect_refused(b, n, "not a hello");
	/* a parent's frame type from the init */
	n = app_wire_hello(b, APP_WIRE_HELLO);
	expect_refused(b, n + frame(b + n, APP_WIRE_SIGNAL, "\x0f\0\0\0", 4), "may not send");
	/* empty output */
	n = app_wire_hello(b, APP_WIRE_HELLO);
	expect_refused(b, n + frame(b + n, APP_WIRE_STDOUT, "", 0), "empty output");
	/* an exit status out of range, a signal that does not exist, an unknown kind, a short exit frame */
	n = app_wire_hello(b, APP_WIRE_HELLO);
	expect_refused(b, n + app_wire_exit(b + n, APP_EXIT_CODE, 256), "above 255");
	expect_refused(b, n + app_wire_exit(b + n, APP_EXIT_SIGNAL, 0), "signal that does not exist");
	expect_refused(b, n + app_wire_exit(b + n, APP_EXIT_SIGNAL, 65), "signal that does not exist");
	expect_refused(b, n + app_wire_exit(b + n, 7, 1), "unknown kind");
	expect_refused(b, n + frame(b + n, APP_WIRE_EXIT, "\0\0\0\0", 4), "wrong size");
	/* anything after the exit */
	n += app_wire_exit(b + n, APP_EXIT_SIGNAL, 15);
	expect_refused(b, n + frame(b + n, APP_WIRE_STDOUT, "late", 4), "after the exit");
	/* a header claiming more than the protocol allows, or with reserved bytes */
	n = app_wire_hello(b, APP_WIRE_HELLO);
	app_wire_header(b + n, APP_WIRE_STDOUT, APP_WIRE_MAX_PAYLOAD + 1);
	expect_refused(b, n + APP_WIRE_HEADER, "longer than");
	app_wire_header(b + n, APP_WIRE_STDOUT, 1);
	b[n + 2] = 1;
	expect_refused(b, n + APP_WIRE_HEADER + 1, "reserved bytes");
}

static void test_parse_refuses_everything_after_an_error(void **state)
{
	uint8_t b[64];
	struct app_parser p;
	struct app_event ev;
	size_t used, n = frame(b, APP_WIRE_STDOUT, "x", 1);

	(void)state;
	app_parser_init(&p);
	assert_true(app_parser_feed(&p, b, n, &used, &ev) < 0);
	n = app_wire_hello(b, APP_WIRE_HELLO);
	assert_true(app_parser_feed(&p, b, n, &used, &ev) < 0);
}

/* ---- the channel over a scripted host ---- */

struct script_host {
	struct vsock_host host;
	int pipe[2];
	int parent_end; /* what accept() hands out, once */
	bool listening;
};

static int sh_listen(struct vsock_host *h, uint32_t port)
{
	struct script_host *s = (struct script_host *)h;

	assert_int_equal(port, APP_WIRE_PORT);
	assert_int_equal(pipe2(s->pipe, O_NONBLOCK | O_CLOEXEC), 0);
	s->listening = true;
	return s->pipe[0];
}

static int sh_accept(struct vsock_host *h, int lfd, uint64_t *cid, uint32_t *port)
{
	struct script_host *s = (struct script_host *)h;
	int fd = s->parent_end;
	char c;

	(void)lfd;
	while (read(s->pipe[0], &c, 1) == 1)
		;
	if (fd < 0)
		return -EAGAIN;
	s->parent_end = -1;
	*cid = 16;
	*port = 1234;
	return fd;
}

static void sh_unlisten(struct vsock_host *h, int lfd)
{
	struct script_host *s = (struct script_host *)h;

	(void)lfd;
	close(s->pipe[0]);
	close(s->pipe[1]);
	s->listening = false;
}

static const struct vsock_host_ops script_ops = {
	.name = "script", .listen = sh_listen, .accept = sh_accept, .unlisten = sh_unlisten,
};

struct user {
	struct evloop *loop;
	struct app_channel *c;
	int started, exited, broken, room;
	char why[256];
	enum app_exit_kind kind;
	uint32_t value;
	char out[APP_WIRE_MAX_PAYLOAD * 3];
	size_t out_len;
	size_t take_limit; /* take at most this much per call (0: all) */
	bool full;	   /* take nothing now */
};

static void u_started(void *opaque)
{
	((struct user *)opaque)->started++;
}

static size_t u_output(void *opaque, int stream, const uint8_t *buf, size_t len)
{
	struct user *u = opaque;
	size_t n = u->take_limit ? MIN(len, u->take_limit) : len;

	if (u->full)
		return 0;
	assert_int_equal(stream, 1);
	memcpy(u->out + u->out_len, buf, n);
	u->out_len += n;
	if (u->take_limit)
		u->full = true;
	return n;
}

static void u_exited(void *opaque, enum app_exit_kind kind, uint32_t value)
{
	struct user *u = opaque;

	u->exited++;
	u->kind = kind;
	u->value = value;
}

static void u_room(void *opaque)
{
	((struct user *)opaque)->room++;
}

static void u_broken(void *opaque, const char *why)
{
	struct user *u = opaque;

	u->broken++;
	snprintf(u->why, sizeof(u->why), "%s", why);
}

static const struct app_channel_ops user_ops = {
	.started = u_started, .output = u_output, .exited = u_exited, .input_room = u_room, .broken = u_broken,
};

struct rig {
	struct script_host host;
	struct user u;
	int init_end; /* the test's end: it plays the enclave's init */
};

static void rig_up(struct rig *r)
{
	int sv[2];
	memset(r, 0, sizeof(*r));
	r->host.host.ops = &script_ops;
	int small = 4096;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	/* small socket buffers, so that the channel's own queue is what fills up */
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	r->host.parent_end = sv[0];
	r->init_end = sv[1];
	fcntl(r->init_end, F_SETFL, 0);
	r->u.loop = evloop_create();
	assert_non_null(r->u.loop);
	r->u.c = app_channel_listen(&r->host.host, r->u.loop, &user_ops, &r->u);
	assert_non_null(r->u.c);
	assert_int_equal(write(r->host.pipe[1], "x", 1), 1); /* the init connects */
}

static void rig_down(struct rig *r)
{
	app_channel_free(r->u.c);
	evloop_destroy(r->u.loop);
	close(r->init_end);
}

/* Run the loop until it is idle for a moment. */
static void spin(struct rig *r)
{
	while (evloop_run_once(r->u.loop, 50) > 0)
		;
}

static void init_says(struct rig *r, const uint8_t *b, size_t len)
{
	assert_int_equal(write(r->init_end, b, len), (ssize_t)len);
	spin(r);
}

/* What the parent sent the init: exactly len bytes. */
static void init_reads(struct rig *r, uint8_t *b, size_t len)
{
	size_t got = 0;

	spin(r);
	while (got < len) {
		ssize_t n = recv(r->init_end, b + got, len - got, MSG_DONTWAIT);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	assert_int_equal(got, len);
}

/* The parent closed the channel without a word. */
static void init_reads_the_end(struct rig *r)
{
	uint8_t b;

	spin(r);
	assert_int_equal(recv(r->init_end, &b, 1, MSG_DONTWAIT), 0);
}

static void handshake(struct rig *r)
{
	uint8_t b[APP_WIRE_HEADER + APP_WIRE_HELLO_SIZE];

	init_says(r, b, app_wire_hello(b, APP_WIRE_HELLO));
	init_reads(r, b, sizeof(b));
	assert_int_equal(b[0], APP_WIRE_WELCOME);
	assert_true(app_wire_hello_ok(b + APP_WIRE_HEADER, APP_WIRE_HELLO_SIZE));
	assert_int_equal(r->u.started, 1);
	assert_true(app_channel_up(r->u.c));
	assert_false(r->host.listening); /* one init, one connection: the port is closed again */
}

static void test_channel_carries_output_and_exit(void **state)
{
	uint8_t b[256];
	struct rig r;
	size_t n;

	(void)state;
	rig_up(&r);
	assert_false(app_channel_up(r.u.c));
	assert_int_equal(app_channel_signal(r.u.c, 15), -ENOTCONN);
	handshake(&r);
	n = frame(b, APP_WIRE_STDOUT, "one ", 4);
	n += frame(b + n, APP_WIRE_STDOUT, "two\n", 4);
	init_says(&r, b, n);
	assert_int_equal(r.u.out_len, 8);
	assert_memory_equal(r.u.out, "one two\n", 8);
	init_says(&r, b, app_wire_exit(b, APP_EXIT_SIGNAL, 9));
	assert_int_equal(r.u.exited, 1);
	assert_int_equal(r.u.kind, APP_EXIT_SIGNAL);
	assert_int_equal(r.u.value, 9);
	init_reads(&r, b, APP_WIRE_HEADER);
	assert_int_equal(b[0], APP_WIRE_EXIT_ACK);
	assert_false(app_channel_up(r.u.c));
	/* the init reboots: its end goes away, which is no error after the exit */
	close(r.init_end);
	r.init_end = open("/dev/null", O_RDONLY);
	spin(&r);
	assert_int_equal(r.u.broken, 0);
	rig_down(&r);
}

static void test_channel_pauses_for_a_full_user(void **state)
{
	uint8_t b[256];
	struct rig r;
	size_t n;

	(void)state;
	rig_up(&r);
	handshake(&r);
	r.u.take_limit = 3; /* takes 3 bytes, then is full until resumed */
	n = frame(b, APP_WIRE_STDOUT, "abcdefgh", 8);
	n += frame(b + n, APP_WIRE_STDOUT, "ij", 2);
	init_says(&r, b, n);
	assert_int_equal(r.u.out_len, 3);
	for (int i = 0; i < 5; i++) {
		r.u.full = false;
		app_channel_resume(r.u.c);
		spin(&r);
	}
	assert_int_equal(r.u.out_len, 10);
	assert_memory_equal(r.u.out, "abcdefghij", 10);
	rig_down(&r);
}

static void test_channel_sends_stdin_and_signals(void **state)
{
	uint8_t big[APP_CHANNEL_QUEUE_MAX * 2], b[APP_WIRE_HEADER + APP_WIRE_MAX_PAYLOAD];
	size_t took = 0, n;
	struct rig r;

	(void)state;
	rig_up(&r);
	handshake(&r);
	assert_int_equal(app_channel_input(r.u.c, (const uint8_t *)"hi\n", 3), 3);
	init_reads(&r, b, APP_WIRE_HEADER + 3);
	assert_int_equal(b[0], APP_WIRE_STDIN);
	assert_memory_equal(b + APP_WIRE_HEADER, "hi\n", 3);
	assert_int_equal(app_channel_signal(r.u.c, 15), 0);
	assert_int_equal(app_channel_signal(r.u.c, 65), -EINVAL);
	init_reads(&r, b, APP_WIRE_HEADER + APP_WIRE_SIGNAL_SIZE);
	assert_int_equal(b[0], APP_WIRE_SIGNAL);
	assert_int_equal(b[APP_WIRE_HEADER], 15);
	/* more stdin than the queue and the socket hold: what is taken is bounded, the rest waits for room */
	memset(big, 'z', sizeof(big));
	for (int i = 0; i < 64 && took < sizeof(big); i++) {
		n = app_channel_input(r.u.c, big + took, sizeof(big) - took);
		if (!n)
			break;
		took += n;
	}
	assert_true(took < sizeof(big));
	/* a signal still gets through: it may use the reserve */
	assert_int_equal(app_channel_signal(r.u.c, 2), 0);
	/* the init reads: room again */
	for (int i = 0; i < 200; i++) {
		if (recv(r.init_end, b, sizeof(b), MSG_DONTWAIT) <= 0)
			spin(&r);
	}
	assert_true(r.u.room >= 1);
	app_channel_input_eof(r.u.c);
	assert_int_equal(app_channel_input(r.u.c, (const uint8_t *)"late", 4), 0);
	rig_down(&r);
}

static void expect_broken(const uint8_t *b, size_t len, const char *words)
{
	struct rig r;

	rig_up(&r);
	handshake(&r);
	init_says(&r, b, len);
	assert_int_equal(r.u.broken, 1);
	assert_non_null(strstr(r.u.why, words));
	assert_false(app_channel_up(r.u.c));
	assert_int_equal(app_channel_input(r.u.c, (const uint8_t *)"x", 1), 0);
	rig_down(&r);
}

static void test_channel_ends_on_a_broken_init(void **state)
{
	uint8_t b[64];

	(void)state;
	expect_broken(b, frame(b, APP_WIRE_STDIN_EOF, "", 0), "may not send");
	expect_broken(b, app_wire_hello(b, APP_WIRE_HELLO), "may not send");
	app_wire_header(b, APP_WIRE_STDOUT, 1u << 30);
	expect_broken(b, APP_WIRE_HEADER, "longer than");
}

static void test_channel_init_gone_before_exit(void **state)
{
	struct rig r;

	(void)state;
	rig_up(&r);
	handshake(&r);
	close(r.init_end);
	r.init_end = open("/dev/null", O_RDONLY);
	spin(&r);
	assert_int_equal(r.u.broken, 1);
	assert_non_null(strstr(r.u.why, "before it sent the app's exit status"));
	assert_int_equal(r.u.exited, 0);
	rig_down(&r);
}

static void test_channel_hello_is_answered_before_anything(void **state)
{
	uint8_t b[64];
	struct rig r;

	(void)state;
	rig_up(&r);
	/* no hello: the channel never comes up and the init hears nothing but the end */
	init_says(&r, b, frame(b, APP_WIRE_STDOUT, "x", 1));
	assert_int_equal(r.u.started, 0);
	assert_int_equal(r.u.out_len, 0);
	assert_false(app_channel_up(r.u.c));
	init_reads_the_end(&r);
	rig_down(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good_stream_any_chunking),
		cmocka_unit_test(test_parse_refuses_what_the_init_may_not_send),
		cmocka_unit_test(test_parse_refuses_everything_after_an_error),
		cmocka_unit_test(test_channel_carries_output_and_exit),
		cmocka_unit_test(test_channel_pauses_for_a_full_user),
		cmocka_unit_test(test_channel_sends_stdin_and_signals),
		cmocka_unit_test(test_channel_ends_on_a_broken_init),
		cmocka_unit_test(test_channel_init_gone_before_exit),
		cmocka_unit_test(test_channel_hello_is_answered_before_anything),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
