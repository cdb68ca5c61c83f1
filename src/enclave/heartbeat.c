// SPDX-License-Identifier: MIT
/* The parent's half of the boot heartbeat (heartbeat.h), as plain descriptor code on struct vsock_host. */
#include "enclave/heartbeat.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/evloop.h"
#include "vsock/endpoint.h"
#include "vsock/vsock.h"

struct heartbeat {
	struct vsock_host *host;
	struct evloop *loop;
	heartbeat_done_fn done;
	void *opaque;
	int lfd;   /* listener on port 9000, until the heartbeat is over */
	int cfd;   /* the enclave's connection */
	int timer; /* timerfd for the timeout */
	bool over;
};

uint64_t heartbeat_timeout_ms(uint64_t eif_size, uint64_t memory_bytes)
{
	uint64_t eif_steps = (eif_size + HEARTBEAT_EIF_STEP - 1) / HEARTBEAT_EIF_STEP;
	uint64_t mem_steps = (memory_bytes + HEARTBEAT_MEMORY_STEP - 1) / HEARTBEAT_MEMORY_STEP;
#ifdef NITROVM_TEST_HOOKS
	const char *env = getenv(HEARTBEAT_TIMEOUT_ENV);

	if (env && env[0])
		return strtoull(env, NULL, 10);
#endif
	return HEARTBEAT_TIMEOUT_STEP_MS * (MAX(eif_steps, 1) + MAX(mem_steps, 1));
}

static void close_watch(struct heartbeat *hb, int *fd)
{
	if (*fd < 0)
		return;
	evloop_del(hb->loop, *fd);
	close(*fd);
	*fd = -1;
}

/* Stop listening and report once; port 9000 is free again afterwards, as under nitro-cli. */
static void heartbeat_finish(struct heartbeat *hb, int err)
{
	if (hb->over)
		return;
	hb->over = true;
	if (hb->lfd >= 0) {
		evloop_del(hb->loop, hb->lfd);
		vsock_unlisten(hb->host, hb->lfd);
		hb->lfd = -1;
	}
	close_watch(hb, &hb->cfd);
	close_watch(hb, &hb->timer);
	hb->done(hb->opaque, err);
}

static void on_conn(void *opaque, int fd, uint32_t events)
{
	struct heartbeat *hb = opaque;
	uint8_t byte = VSOCK_HEARTBEAT_BYTE;
	ssize_t n = read(fd, &byte, 1);

	(void)events;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	/*
	 * Ended without a byte: an attempt the enclave gave up on (its connect timed out under load, and an init
	 * that retries, like nitrovm's, is already on its next one).  Drop it and keep waiting; only a wrong byte
	 * or the timeout ends the boot.
	 */
	if (n <= 0) {
		close_watch(hb, &hb->cfd);
		return;
	}
	if (byte != VSOCK_HEARTBEAT_BYTE) {
		err_set(EPROTO, "Waiting on enclave to boot failed with error VsockReceivingError: the heartbeat "
				"byte was %#04x, not %#04x", byte, VSOCK_HEARTBEAT_BYTE);
		heartbeat_finish(hb, -EPROTO);
		return;
	}
	/* One byte into an empty stream never blocks; a failure means the enclave is already gone. */
	if (write(fd, &byte, 1) != 1) {
		err_set(ECONNRESET, "Waiting on enclave to boot failed with error VsockSendingError: %s",
			strerror(errno));
		heartbeat_finish(hb, -ECONNRESET);
		return;
	}
	heartbeat_finish(hb, 0);
}

static void on_listen(void *opaque, int fd, uint32_t events)
{
	struct heartbeat *hb = opaque;
	uint64_t cid;
	uint32_t port;
	int c;

	(void)events;
	while ((c = vsock_accept(hb->host, fd, &cid, &port)) >= 0) {
		/*
		 * The newest connection is the live one: an init connects again only after its previous attempt
		 * failed on its side, whether or not that attempt's end has reached us yet.
		 */
		close_watch(hb, &hb->cfd);
		if (evloop_add(hb->loop, c, EPOLLIN, on_conn, hb) < 0) {
			close(c);
			continue;
		}
		hb->cfd = c;
	}
}

static void on_timeout(void *opaque, int fd, uint32_t events)
{
	struct heartbeat *hb = opaque;
	uint64_t ticks;

	(void)events;
	if (read(fd, &ticks, sizeof(ticks)) != sizeof(ticks))
		return;
	err_set(ETIMEDOUT, "Waiting on enclave to boot failed with error VsockTimeoutError: no heartbeat on vsock "
			   "port %d", VSOCK_HEARTBEAT_PORT);
	heartbeat_finish(hb, -ETIMEDOUT);
}

struct heartbeat *heartbeat_listen(struct vsock_host *h, struct evloop *loop, heartbeat_done_fn done, void *opaque)
{
	struct heartbeat *hb = calloc(1, sizeof(*hb));

	if (!hb) {
		err_set(ENOMEM, "out of memory");
		return NULL;
	}
	*hb = (struct heartbeat){ h, loop, done, opaque, -1, -1, -1, false };
	hb->lfd = vsock_listen(h, VSOCK_HEARTBEAT_PORT);
	if (hb->lfd < 0) {
		err_wrap(-hb->lfd, "cannot listen for the heartbeat on vsock port %d", VSOCK_HEARTBEAT_PORT);
		free(hb);
		return NULL;
	}
	if (evloop_add(loop, hb->lfd, EPOLLIN, on_listen, hb) < 0) {
		vsock_unlisten(h, hb->lfd);
		free(hb);
		return NULL;
	}
	return hb;
}

int heartbeat_arm(struct heartbeat *hb, uint64_t timeout_ms)
{
	struct itimerspec t = { .it_value = { (time_t)(timeout_ms / 1000), (long)(timeout_ms % 1000) * 1000000 } };

	if (!timeout_ms || hb->over)
		return 0;
	hb->timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (hb->timer < 0)
		return err_set(errno, "cannot create the heartbeat timer: %s", strerror(errno));
	if (timerfd_settime(hb->timer, 0, &t, NULL) < 0 || evloop_add(hb->loop, hb->timer, EPOLLIN, on_timeout, hb) < 0) {
		close(hb->timer);
		hb->timer = -1;
		return err_set(EIO, "cannot arm the heartbeat timer");
	}
	return 0;
}

void heartbeat_free(struct heartbeat *hb)
{
	if (!hb)
		return;
	if (hb->lfd >= 0) {
		evloop_del(hb->loop, hb->lfd);
		vsock_unlisten(hb->host, hb->lfd);
	}
	close_watch(hb, &hb->cfd);
	close_watch(hb, &hb->timer);
	free(hb);
}
