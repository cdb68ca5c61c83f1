/* SPDX-License-Identifier: MIT */
/*
 * Bytes for a descriptor that may block (the enclave's console going to our stdout, a pipe nobody reads), written
 * by a thread of their own, so that whoever produces them (the event loop, which also serves vsock and the
 * device queues) never waits for the reader.  The queue is bounded: when it is full, what does not fit is
 * dropped and counted, and a line saying how much was lost is written when there is room again.
 */
#ifndef NITROVM_COMMON_OUT_PUMP_H
#define NITROVM_COMMON_OUT_PUMP_H

#include <stddef.h>
#include <stdint.h>

/* What may wait for a slow reader: generous for a console, nothing for a host's memory. */
#define OUT_PUMP_QUEUE (4 * 1024 * 1024)

struct out_pump;

/* A pump writing to fd (which stays the caller's).  NULL with err_msg(). */
struct out_pump *out_pump_start(int fd);
/* Queue len bytes; never blocks.  Returns how many were dropped (0 when all fit). */
size_t out_pump_put(struct out_pump *p, const uint8_t *buf, size_t len);
/* Write what is queued (waiting for the reader as long as it takes) and stop the thread. */
void out_pump_finish(struct out_pump *p);

#endif
