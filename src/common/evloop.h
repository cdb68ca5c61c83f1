/* SPDX-License-Identifier: MIT */
/*
 * A small epoll loop for the main thread: file descriptors with a callback each, run until stopped.  Signals
 * arrive as a signalfd (SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR2 and SIGCHLD are blocked for the whole process
 * by evloop_block_signals(), which must run before any thread is created so every thread inherits the mask).
 *
 * Callbacks run on the loop's thread only; evloop_stop() may be called from any thread.
 */
#ifndef NITROVM_COMMON_EVLOOP_H
#define NITROVM_COMMON_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

struct evloop;

/* events is EPOLLIN/EPOLLOUT/EPOLLHUP/EPOLLERR as epoll reports them. */
typedef void (*evloop_cb)(void *opaque, int fd, uint32_t events);
/* Called with the signal number taken from the signalfd. */
typedef void (*evloop_signal_cb)(void *opaque, int signo);

struct evloop *evloop_create(void);
void evloop_destroy(struct evloop *l);

/* Watch fd for events (EPOLLIN by default when 0).  Returns 0 or -errno with err_msg() set. */
int evloop_add(struct evloop *l, int fd, uint32_t events, evloop_cb cb, void *opaque);
void evloop_del(struct evloop *l, int fd);

/* Block those signals in the calling thread (and so in threads it creates later). */
int evloop_block_signals(void);
/* Deliver the blocked signals to cb through a signalfd watched by the loop. */
int evloop_watch_signals(struct evloop *l, evloop_signal_cb cb, void *opaque);

/* Run callbacks until evloop_stop(); returns 0, or -errno when epoll itself fails. */
int evloop_run(struct evloop *l);
void evloop_stop(struct evloop *l);
/* Wait up to timeout_ms (-1: for ever) for events and run their callbacks once: their number, or -errno. */
int evloop_run_once(struct evloop *l, int timeout_ms);

#endif
