// SPDX-License-Identifier: MIT
#include "evloop.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "util.h"

/* A VMM watches a handful of fds (signals, console, a few ioeventfds per device): a fixed table is enough. */
#define EVLOOP_MAX_WATCHES 64
/* Events taken from the kernel per epoll_wait call. */
#define EVLOOP_BATCH 16

struct evloop_watch {
	int fd;
	evloop_cb cb;
	void *opaque;
};

struct evloop {
	int epfd;
	int wakefd; /* written by evloop_stop() so a blocked epoll_wait returns */
	int sigfd;
	atomic_bool stop;
	evloop_signal_cb sig_cb;
	void *sig_opaque;
	struct evloop_watch watches[EVLOOP_MAX_WATCHES];
};

/* The signals that end (or, for a container's enclave, are passed to) what the loop runs, and SIGCHLD. */
static const int evloop_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR2, SIGCHLD };

static void evloop_wake(void *opaque, int fd, uint32_t events)
{
	uint64_t v;

	(void)opaque;
	(void)events;
	if (read(fd, &v, sizeof(v)) < 0) {
		/* Nothing to do: the counter is only a doorbell. */
	}
}

struct evloop *evloop_create(void)
{
	struct evloop *l = calloc(1, sizeof(*l));

	if (!l) {
		err_set(ENOMEM, "out of memory creating the event loop");
		return NULL;
	}
	for (unsigned int i = 0; i < EVLOOP_MAX_WATCHES; i++)
		l->watches[i].fd = -1;
	l->sigfd = -1;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->epfd < 0 || l->wakefd < 0) {
		err_set(errno, "cannot create the event loop: %s", strerror(errno));
		goto fail;
	}
	if (evloop_add(l, l->wakefd, EPOLLIN, evloop_wake, l) < 0)
		goto fail;
	return l;
fail:
	evloop_destroy(l);
	return NULL;
}

void evloop_destroy(struct evloop *l)
{
	if (!l)
		return;
	if (l->sigfd >= 0)
		close(l->sigfd);
	if (l->wakefd >= 0)
		close(l->wakefd);
	if (l->epfd >= 0)
		close(l->epfd);
	free(l);
}

static struct evloop_watch *evloop_find(struct evloop *l, int fd)
{
	for (unsigned int i = 0; i < EVLOOP_MAX_WATCHES; i++)
		if (l->watches[i].fd == fd)
			return &l->watches[i];
	return NULL;
}

int evloop_add(struct evloop *l, int fd, uint32_t events, evloop_cb cb, void *opaque)
{
	struct evloop_watch *w = evloop_find(l, -1);
	struct epoll_event ev = { .events = events ? events : EPOLLIN };

	if (!w)
		return err_set(ENOSPC, "event loop full (%d descriptors)", EVLOOP_MAX_WATCHES);
	ev.data.ptr = w;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return err_set(errno, "cannot watch descriptor %d: %s", fd, strerror(errno));
	w->fd = fd;
	w->cb = cb;
	w->opaque = opaque;
	return 0;
}

void evloop_del(struct evloop *l, int fd)
{
	struct evloop_watch *w = evloop_find(l, fd);

	if (!w || fd < 0)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	w->fd = -1;
	w->cb = NULL;
}

int evloop_block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	for (unsigned int i = 0; i < ARRAY_SIZE(evloop_signals); i++)
		sigaddset(&set, evloop_signals[i]);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL))
		return err_set(EINVAL, "cannot block signals");
	return 0;
}

static void evloop_signal_ready(void *opaque, int fd, uint32_t events)
{
	struct evloop *l = opaque;
	struct signalfd_siginfo si;

	(void)events;
	while (read(fd, &si, sizeof(si)) == sizeof(si))
		if (l->sig_cb)
			l->sig_cb(l->sig_opaque, (int)si.ssi_signo);
}

int evloop_watch_signals(struct evloop *l, evloop_signal_cb cb, void *opaque)
{
	sigset_t set;

	sigemptyset(&set);
	for (unsigned int i = 0; i < ARRAY_SIZE(evloop_signals); i++)
		sigaddset(&set, evloop_signals[i]);
	l->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (l->sigfd < 0)
		return err_set(errno, "cannot create a signalfd: %s", strerror(errno));
	l->sig_cb = cb;
	l->sig_opaque = opaque;
	return evloop_add(l, l->sigfd, EPOLLIN, evloop_signal_ready, l);
}

/* One epoll_wait and its callbacks: the number of events, or -errno. */
static int run_batch(struct evloop *l, int timeout_ms)
{
	struct epoll_event evs[EVLOOP_BATCH];
	int n = epoll_wait(l->epfd, evs, EVLOOP_BATCH, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : err_set(errno, "event loop failed: %s", strerror(errno));
	for (int i = 0; i < n && !atomic_load(&l->stop); i++) {
		struct evloop_watch *w = evs[i].data.ptr;

		/* A callback earlier in this batch may have removed this watch. */
		if (w->fd >= 0 && w->cb)
			w->cb(w->opaque, w->fd, evs[i].events);
	}
	return n;
}

int evloop_run(struct evloop *l)
{
	while (!atomic_load(&l->stop)) {
		int n = run_batch(l, -1);

		if (n < 0)
			return n;
	}
	return 0;
}

int evloop_run_once(struct evloop *l, int timeout_ms)
{
	return run_batch(l, timeout_ms);
}

void evloop_stop(struct evloop *l)
{
	uint64_t one = 1;

	atomic_store(&l->stop, true);
	if (write(l->wakefd, &one, sizeof(one)) < 0) {
		/* The counter cannot overflow in practice; the stop flag is already set. */
	}
}
