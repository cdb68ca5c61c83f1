// SPDX-License-Identifier: MIT
/*
 * Unit tests: the init's end of the app channel (guest/init/app_link.c), run on the host.  A forked process
 * plays the enclave's init: it runs a real app (/bin/sh) on pipes and relays it over one end of a socketpair;
 * the test plays the parent on the other end, reading the init's frames with the parent's own reader
 * (src/enclave/app_parse.c), so the two ends are checked against each other.  Output, stdin, signals, the exit
 * status and its acknowledgement; a parent that goes away or breaks the protocol (the output then goes to the
 * console, here a pipe); children that keep the app's stdout open; and the handshake with a parent that is not
 * nitrovm's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../guest/init/app_link.h"
#include "common/util.h"
#include "enclave/app_parse.h"
#include "enclave/app_wire.h"

/* What the "init" process exits with when the relay says the parent did not take the status. */
#define NOT_DELIVERED 100

struct guest {
	pid_t pid;
	int chan;    /* the parent's end (the test's) */
	int console; /* the read end of the init's fallback */
};

/* In the forked init: the app on pipes, the relay, then exit with the app's status (or NOT_DELIVERED). */
static void guest_main(int chan, int console, const char *script, bool handshake)
{
	int in[2], out[2], err[2], status, ret;
	struct app_link_io io;
	sigset_t chld;
	pid_t app;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	if (handshake && app_link_handshake(chan, 2000))
		_exit(99);
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
		_exit(98);
	app = fork();
	if (!app) {
		sigprocmask(SIG_UNBLOCK, &chld, NULL);
		signal(SIGPIPE, SIG_DFL);
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		execl("/bin/sh", "sh", "-c", script, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	io = (struct app_link_io){ .chan = chan, .app_in = in[1], .app_out = out[0], .app_err = err[0],
				   .sigchld = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK), .fallback = console,
				   .app = app };
	ret = app_link_relay(&io, &status);
	_exit(ret ? NOT_DELIVERED : WIFSIGNALED(status) ? 200 + WTERMSIG(status) : WEXITSTATUS(status));
}

static struct guest start(const char *script)
{
	struct guest g;
	int sv[2], cons[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(pipe2(cons, O_CLOEXEC), 0);
	g.pid = fork();
	assert_true(g.pid >= 0);
	if (!g.pid) {
		close(sv[0]);
		close(cons[0]);
		guest_main(sv[1], cons[1], script, true);
	}
	close(sv[1]);
	close(cons[1]);
	g.chan = sv[0];
	g.console = cons[0];
	return g;
}

/* The parent's side of the handshake. */
static void welcome(struct guest *g)
{
	uint8_t b[APP_WIRE_HEADER + APP_WIRE_HELLO_SIZE];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = read(g->chan, b + got, sizeof(b) - got);

		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_int_equal(b[0], APP_WIRE_HELLO);
	assert_true(app_wire_hello_ok(b + APP_WIRE_HEADER, APP_WIRE_HELLO_SIZE));
	assert_int_equal(write(g->chan, b, app_wire_hello(b, APP_WIRE_WELCOME)), (ssize_t)sizeof(b));
}

static void send_frame(struct guest *g, uint8_t type, const void *p, uint32_t len)
{
	uint8_t b[APP_WIRE_HEADER + 64];

	app_wire_header(b, type, len);
	memcpy(b + APP_WIRE_HEADER, p, len);
	assert_int_equal(write(g->chan, b, APP_WIRE_HEADER + len), (ssize_t)(APP_WIRE_HEADER + len));
}

struct heard {
	char out[1 << 21], err[4096];
	size_t out_len, err_len;
	bool exited;
	enum app_exit_kind kind;
	uint32_t value;
};

/*
 * Read frames (the parser starts past the handshake: a HELLO is fed to it first) until the exit or until
 * the stdout seen so far contains `until`.  Returns false when the stream ended first.
 */
static bool listen_until(struct guest *g, struct app_parser *p, struct heard *h, const char *until)
{
	uint8_t b[APP_WIRE_MAX_PAYLOAD];

	while (!h->exited) {
		size_t need = app_parser_need(p), off = 0;
		ssize_t n = read(g->chan, b, need);

		if (n <= 0)
			return false;
		while (off < (size_t)n) {
			struct app_event ev;
			size_t used;
			int ret = app_parser_feed(p, b + off, (size_t)n - off, &used, &ev);

			assert_true(ret >= 0);
			off += used;
			if (ret && ev.kind == APP_EVENT_OUTPUT && ev.stream == 1) {
				assert_true(h->out_len + ev.len < sizeof(h->out));
				memcpy(h->out + h->out_len, ev.data, ev.len);
				h->out_len += ev.len;
				h->out[h->out_len] = '\0';
			} else if (ret && ev.kind == APP_EVENT_OUTPUT) {
				memcpy(h->err + h->err_len, ev.data, ev.len);
				h->err_len += ev.len;
				h->err[h->err_len] = '\0';
			} else if (ret && ev.kind == APP_EVENT_EXIT) {
				h->exited = true;
				h->kind = ev.exit_kind;
				h->value = ev.exit_value;
			}
		}
		if (until && strstr(h->out, until))
			return true;
	}
	return true;
}

static void parser_past_hello(struct app_parser *p)
{
	uint8_t b[APP_WIRE_HEADER + APP_WIRE_HELLO_SIZE];
	struct app_event ev;
	size_t used;

	app_parser_init(p);
	assert_int_equal(app_parser_feed(p, b, app_wire_hello(b, APP_WIRE_HELLO), &used, &ev), 1);
}

static int finish(struct guest *g)
{
	int st;

	assert_int_equal(waitpid(g->pid, &st, 0), g->pid);
	close(g->chan);
	close(g->console);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void test_output_stdin_exit(void **state)
{
	struct heard *h = calloc(1, sizeof(*h));
	struct guest g = start("echo out; echo err >&2; read x; echo \"in:$x\"; cat; exit 3");
	struct app_parser p;

	(void)state;
	welcome(&g);
	parser_past_hello(&p);
	send_frame(&g, APP_WIRE_STDIN, "hello\nrest\n", 11);
	send_frame(&g, APP_WIRE_STDIN_EOF, "", 0);
	assert_true(listen_until(&g, &p, h, NULL));
	assert_string_equal(h->out, "out\nin:hello\nrest\n");
	assert_string_equal(h->err, "err\n");
	assert_int_equal(h->kind, APP_EXIT_CODE);
	assert_int_equal(h->value, 3);
	send_frame(&g, APP_WIRE_EXIT_ACK, "", 0);
	assert_int_equal(finish(&g), 3);
	free(h);
}

static void test_signal_reaches_the_app(void **state)
{
	struct heard *h = calloc(1, sizeof(*h));
	struct guest g = start("trap 'echo term; exit 5' TERM; echo ready; while :; do sleep 0.05; done");
	struct app_parser p;
	uint8_t sig[4] = { 15, 0, 0, 0 };

	(void)state;
	welcome(&g);
	parser_past_hello(&p);
	assert_true(listen_until(&g, &p, h, "ready\n"));
	send_frame(&g, APP_WIRE_SIGNAL, sig, 4);
	assert_true(listen_until(&g, &p, h, NULL));
	assert_string_equal(h->out, "ready\nterm\n");
	assert_int_equal(h->value, 5);
	send_frame(&g, APP_WIRE_EXIT_ACK, "", 0);
	assert_int_equal(finish(&g), 5);
	free(h);
}

static void test_killed_app_reported_as_signal(void **state)
{
	struct heard *h = calloc(1, sizeof(*h));
	struct guest g = start("echo x; kill -9 $$");
	struct app_parser p;

	(void)state;
	welcome(&g);
	parser_past_hello(&p);
	assert_true(listen_until(&g, &p, h, NULL));
	assert_int_equal(h->kind, APP_EXIT_SIGNAL);
	assert_int_equal(h->value, 9);
	send_frame(&g, APP_WIRE_EXIT_ACK, "", 0);
	assert_int_equal(finish(&g), 209);
	free(h);
}

/* A megabyte through the channel, faster than the parent reads: nothing lost, nothing reordered. */
static void test_large_output(void **state)
{
	struct heard *h = calloc(1, sizeof(*h));
	struct guest g = start("i=0; while [ $i -lt 16384 ]; do echo 0123456789abcdef0123456789abcdef0123456789ab"
			       "cdef0123456789abcd-$i; i=$((i + 1)); done | head -c 1048576");
	struct app_parser p;
	char line[128];
	size_t off = 0;

	(void)state;
	welcome(&g);
	parser_past_hello(&p);
	assert_true(listen_until(&g, &p, h, NULL));
	assert_int_equal(h->out_len, 1048576);
	for (int i = 0; off + 80 < h->out_len; i++) {
		int n = snprintf(line, sizeof(line), "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd-%d\n",
				 i);

		assert_memory_equal(h->out + off, line, (size_t)n);
		off += (size_t)n;
	}
	send_frame(&g, APP_WIRE_EXIT_ACK, "", 0);
	assert_int_equal(finish(&g), 0);
	free(h);
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* A child left behind with the app's stdout does not keep the exit status from the parent. */
static void test_children_left_behind_do_not_hold_the_exit(void **state)
{
	struct heard *h = calloc(1, sizeof(*h));
	struct guest g = start("sleep 30 & echo done; exit 4");
	struct app_parser p;
	struct timespec t0;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	welcome(&g);
	parser_past_hello(&p);
	assert_true(listen_until(&g, &p, h, NULL));
	assert_true(seconds_since(&t0) < 5);
	assert_string_equal(h->out, "done\n");
	assert_int_equal(h->value, 4);
	send_frame(&g, APP_WIRE_EXIT_ACK, "", 0);
	assert_int_equal(finish(&g), 4);
	free(h);
}

static void read_console(struct guest *g, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got + 1 < len && (n = read(g->console, buf + got, len - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
}

/* The parent goes away: the rest of the output goes to the console, and the status is said undelivered. */
static void test_parent_gone_output_falls_back(void **state)
{
	struct heard *h = calloc(1, sizeof(*h));
	struct guest g = start("echo first; sleep 0.3; echo second; exit 6");
	struct app_parser p;
	char cons[256];
	int st;

	(void)state;
	welcome(&g);
	parser_past_hello(&p);
	assert_true(listen_until(&g, &p, h, "first\n"));
	close(g.chan);
	assert_int_equal(waitpid(g.pid, &st, 0), g.pid);
	assert_int_equal(WEXITSTATUS(st), NOT_DELIVERED);
	read_console(&g, cons, sizeof(cons));
	assert_string_equal(cons, "second\n");
	close(g.console);
	free(h);
}

/* A frame the parent may not send ends the channel the same way. */
static void test_bad_parent_frame_falls_back(void **state)
{
	struct heard *h = calloc(1, sizeof(*h));
	struct guest g = start("echo first; sleep 0.3; echo second; exit 6");
	struct app_parser p;
	char cons[256];
	int st;

	(void)state;
	welcome(&g);
	parser_past_hello(&p);
	assert_true(listen_until(&g, &p, h, "first\n"));
	send_frame(&g, APP_WIRE_STDOUT, "x", 1); /* the init's own frame type, from the parent */
	assert_int_equal(waitpid(g.pid, &st, 0), g.pid);
	assert_int_equal(WEXITSTATUS(st), NOT_DELIVERED);
	read_console(&g, cons, sizeof(cons));
	assert_string_equal(cons, "second\n");
	close(g.chan);
	close(g.console);
	free(h);
}

/* ---- the handshake against parents that are not nitrovm's ---- */

static int handshake_against(const void *answer, size_t len, bool close_after, int timeout_ms)
{
	int sv[2], ret;
	uint8_t b[64];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	if (len)
		assert_int_equal(write(sv[0], answer, len), (ssize_t)len);
	if (close_after)
		shutdown(sv[0], SHUT_WR);
	ret = app_link_handshake(sv[1], timeout_ms);
	assert_true(read(sv[0], b, sizeof(b)) == APP_WIRE_HEADER + APP_WIRE_HELLO_SIZE);
	assert_int_equal(b[0], APP_WIRE_HELLO);
	close(sv[0]);
	close(sv[1]);
	return ret;
}

static void test_handshake(void **state)
{
	uint8_t w[APP_WIRE_HEADER + APP_WIRE_HELLO_SIZE];
	struct timespec t0;

	(void)state;
	app_wire_hello(w, APP_WIRE_WELCOME);
	assert_int_equal(handshake_against(w, sizeof(w), false, 1000), 0);
	assert_int_equal(handshake_against("HTTP/1.1 400 Bad Request\r\n", 26, true, 1000), -EPROTO);
	w[APP_WIRE_HEADER + 4] = 2; /* another version */
	assert_int_equal(handshake_against(w, sizeof(w), false, 1000), -EPROTO);
	assert_int_equal(handshake_against("", 0, true, 1000), -EPIPE);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(handshake_against("", 0, false, 200), -ETIMEDOUT);
	assert_true(seconds_since(&t0) < 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_output_stdin_exit),
		cmocka_unit_test(test_signal_reaches_the_app),
		cmocka_unit_test(test_killed_app_reported_as_signal),
		cmocka_unit_test(test_large_output),
		cmocka_unit_test(test_children_left_behind_do_not_hold_the_exit),
		cmocka_unit_test(test_parent_gone_output_falls_back),
		cmocka_unit_test(test_bad_parent_frame_falls_back),
		cmocka_unit_test(test_handshake),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
