/* SPDX-License-Identifier: MIT */
/*
 * The parent's end of the app channel (app_wire.h): it listens on vsock port APP_WIRE_PORT before the enclave
 * starts (like the heartbeat, so the init's early connection is not refused), takes the one connection of the
 * enclave's init, answers its HELLO, and from then on hands the app's output and exit status to its user and
 * sends the app's stdin and signals in.  Plain descriptor code on struct vsock_host: the same for every
 * hypervisor.
 *
 * Flow control, both ways, so that neither end's memory grows with a reader that does not read:
 *   - out of the enclave, one frame at a time: ops->output() says how much of a frame it took; when it took
 *     less, the channel stops reading the stream (the init, and then the app, block on their writes) until the
 *     user calls app_channel_resume();
 *   - into the enclave, a bounded queue: app_channel_input() takes what fits and ops->input_room() says when
 *     there is room again.
 *
 * Every callback runs on the event loop's thread; none may free the channel.
 */
#ifndef NITROVM_ENCLAVE_APP_CHANNEL_H
#define NITROVM_ENCLAVE_APP_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app_wire.h"

struct evloop;
struct vsock_host;
struct app_channel;

/* Bytes queued towards the init: two frames of stdin, and room besides for signals and the acknowledgement. */
#define APP_CHANNEL_QUEUE_MAX (2 * (APP_WIRE_HEADER + APP_WIRE_MAX_PAYLOAD))
#define APP_CHANNEL_CONTROL_RESERVE 1024

struct app_channel_ops {
	/* The init said hello: the app starts now. */
	void (*started)(void *opaque);
	/* Bytes the app wrote (stream 1: stdout, 2: stderr).  Returns how many were taken now. */
	size_t (*output)(void *opaque, int stream, const uint8_t *buf, size_t len);
	/* The app ended; the acknowledgement that lets the init end the enclave is on its way. */
	void (*exited)(void *opaque, enum app_exit_kind kind, uint32_t value);
	/* app_channel_input() can take bytes again (after it took fewer than offered). */
	void (*input_room)(void *opaque);
	/* The channel ended without an exit status; why in one sentence (optional). */
	void (*broken)(void *opaque, const char *why);
};

/* Listen now.  NULL with err_msg() (the port is taken). */
struct app_channel *app_channel_listen(struct vsock_host *h, struct evloop *loop, const struct app_channel_ops *ops,
				       void *opaque);
/* True between the init's HELLO and the end of the channel: signals and input reach the app. */
bool app_channel_up(const struct app_channel *c);
/* Send signo to the app.  -ENOTCONN when the channel is not up, -ENOBUFS when the queue is full. */
int app_channel_signal(struct app_channel *c, int signo);
/* Queue up to len bytes of stdin; returns how many were taken (0 when the channel is not up or full). */
size_t app_channel_input(struct app_channel *c, const uint8_t *buf, size_t len);
/* The app's stdin ends (after what was queued). */
void app_channel_input_eof(struct app_channel *c);
/* The user can take output again: the rest of the frame it refused goes first. */
void app_channel_resume(struct app_channel *c);
void app_channel_free(struct app_channel *c);

#endif
