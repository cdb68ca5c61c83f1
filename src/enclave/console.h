/* SPDX-License-Identifier: MIT */
/*
 * The debug-console client, the same for every hypervisor: connect to vsock CID 0 port enclave CID + 10000
 * (nitro-cli's console address) and hand what arrives to a sink until the stream ends.  The sink runs on the
 * event loop's thread and must not block: the loop also serves vsock, whose credit is what lets the console's
 * bytes arrive at all.
 * Like nitro-cli, it shows what the enclave prints from the moment it attaches; earlier output is not replayed.
 */
#ifndef NITROVM_ENCLAVE_CONSOLE_H
#define NITROVM_ENCLAVE_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

struct evloop;
struct vsock_host;
struct console_client;

/* Where the console's bytes go; called on the loop's thread, it must return without waiting for anyone. */
typedef void console_sink_fn(void *opaque, const uint8_t *buf, size_t len);

/* nitro-cli reads the console in 1024-byte chunks. */
#define CONSOLE_READ_CHUNK 1024
/*
 * A console refused before its first byte is tried again every CONSOLE_RETRY_INTERVAL_MS for
 * CONSOLE_RETRY_WINDOW_MS after attaching: natively it is connected right after NE_START_ENCLAVE, while the
 * enclave boots (nitro-cli waits up to 20 s for its connect, the same window).
 */
#define CONSOLE_RETRY_INTERVAL_MS 100
#define CONSOLE_RETRY_WINDOW_MS	  20000

/* Attach to enclave cid's console, handing its bytes to sink.  NULL with err_msg(). */
struct console_client *console_client_attach(struct vsock_host *h, struct evloop *loop, uint64_t cid,
					     console_sink_fn *sink, void *opaque);
/* Copy whatever is readable now (at the end, after the enclave stopped), then detach and free. */
void console_client_free(struct console_client *c);

#endif
