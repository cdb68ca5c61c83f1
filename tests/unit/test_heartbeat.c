// SPDX-License-Identifier: MIT
/*
 * Unit tests: the parent's heartbeat responder (src/enclave/heartbeat.c) over a scripted vsock host whose
 * "connections" are socketpairs the test holds the other end of, driven by the real event loop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/util.h"
#include "enclave/heartbeat.h"
#include "vsock/endpoint.h"
#include "vsock/vsock.h"

#define MAX_PENDING 4

/* A host whose listener is a pipe made readable once, and whose accept() hands out prepared connections. */
struct script_host {
	struct vsock_host host;
	int pipe[2];
	int pending[MAX_PENDING];
	unsigned int npending, next;
};

static int sh_listen(struct vsock_host *h, uint32_t port)
{
	struct script_host *s = (struct script_host *)h;

	assert_int_equal(port, VSOCK_HEARTBEAT_PORT);
	assert_int_equal(pipe2(s->pipe, O_NONBLOCK | O_CLOEXEC), 0);
	return s->pipe[0];
}

static int sh_accept(struct vsock_host *h, int lfd, uint64_t *cid, uint32_t *port)
{
	struct script_host *s = (struct script_host *)h;
	char c;

	(void)lfd;
	if (s->next == s->npending) {
		while (read(s->pipe[0], &c, 1) == 1)
			;
		return -EAGAIN;
	}
	*cid = 16;
	*port = 1000 + s->next;
	return s->pending[s->next++];
}

static void sh_unlisten(struct vsock_host *h, int lfd)
{
	struct script_host *s = (struct script_host *)h;

	(void)lfd;
	close(s->pipe[0]);
	close(s->pipe[1]);
}

static const struct vsock_host_ops script_ops = {
	.name = "script", .listen = sh_listen, .accept = sh_accept, .unlisten = sh_unlisten,
};

/* A connection from the "enclave": returns the enclave's end; the parent's end is queued for accept(). */
static int enclave_connects(struct script_host *s)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	s->pending[s->npending++] = sv[0];
	return sv[1];
}

struct outcome {
	struct evloop *loop;
	int err;
	bool done;
};

static void on_done(void *opaque, int err)
{
	struct outcome *o = opaque;

	o->err = err;
	o->done = true;
	evloop_stop(o->loop);
}

/* Run the responder until it reports; the timeout bounds a test that would otherwise hang. */
static struct outcome run(struct script_host *s)
{
	struct outcome o = { .loop = evloop_create() };
	struct heartbeat *hb;

	assert_non_null(o.loop);
	hb = heartbeat_listen(&s->host, o.loop, on_done, &o);
	assert_non_null(hb);
	assert_int_equal(heartbeat_arm(hb, 2000), 0);
	assert_int_equal(write(s->pipe[1], "x", 1), 1);
	assert_int_equal(evloop_run(o.loop), 0);
	heartbeat_free(hb);
	evloop_destroy(o.loop);
	assert_true(o.done);
	return o;
}

static void test_heartbeat_echoed(void **state)
{
	struct script_host s = { .host.ops = &script_ops };
	uint8_t b = VSOCK_HEARTBEAT_BYTE;
	int e;

	(void)state;
	e = enclave_connects(&s);
	assert_int_equal(write(e, &b, 1), 1);
	assert_int_equal(run(&s).err, 0);
	b = 0;
	assert_int_equal(read(e, &b, 1), 1);
	assert_int_equal(b, VSOCK_HEARTBEAT_BYTE);
	close(e);
}

static void test_wrong_byte_fails(void **state)
{
	struct script_host s = { .host.ops = &script_ops };
	uint8_t b = 0x42;
	struct outcome o;
	int e;

	(void)state;
	e = enclave_connects(&s);
	assert_int_equal(write(e, &b, 1), 1);
	o = run(&s);
	assert_int_equal(o.err, -EPROTO);
	assert_non_null(strstr(err_msg(), "the heartbeat byte was 0x42, not 0xb7"));
	close(e);
}

/*
 * An enclave whose first attempt is abandoned (its connect timed out under load and it retried, as nitrovm's
 * init does) must not fail the boot: the abandoned connection ends without a byte, the retry carries it.
 * Seen in the nested tier as "closed the heartbeat connection without sending the heartbeat byte".
 */
static void test_abandoned_first_connection_then_retry(void **state)
{
	struct script_host s = { .host.ops = &script_ops };
	uint8_t b = VSOCK_HEARTBEAT_BYTE;
	int first, retry;

	(void)state;
	first = enclave_connects(&s);
	retry = enclave_connects(&s);
	close(first);
	assert_int_equal(write(retry, &b, 1), 1);
	assert_int_equal(run(&s).err, 0);
	b = 0;
	assert_int_equal(read(retry, &b, 1), 1);
	assert_int_equal(b, VSOCK_HEARTBEAT_BYTE);
	close(retry);
}

/* The same when the abandoned connection's end is only seen after the listener has handed out the retry. */
static void test_abandoned_connection_seen_late(void **state)
{
	struct script_host s = { .host.ops = &script_ops };
	uint8_t b = VSOCK_HEARTBEAT_BYTE;
	int first, retry;

	(void)state;
	first = enclave_connects(&s);
	close(first);
	retry = enclave_connects(&s);
	assert_int_equal(write(retry, &b, 1), 1);
	assert_int_equal(run(&s).err, 0);
	close(retry);
}

static void test_nothing_times_out(void **state)
{
	struct script_host s = { .host.ops = &script_ops };
	int e;

	(void)state;
	e = enclave_connects(&s);
	close(e);
	assert_int_equal(run(&s).err, -ETIMEDOUT);
	assert_non_null(strstr(err_msg(), "VsockTimeoutError"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heartbeat_echoed),
		cmocka_unit_test(test_wrong_byte_fails),
		cmocka_unit_test(test_abandoned_first_connection_then_retry),
		cmocka_unit_test(test_abandoned_connection_seen_late),
		cmocka_unit_test(test_nothing_times_out),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
