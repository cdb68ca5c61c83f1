/* SPDX-License-Identifier: MIT */
/*
 * The debug-console client, the same for every hypervisor: connect to vsock CID 0 port enclave CID + 10000
 * (nitro-cli's console address, reference C.8) and copy what arrives to a descriptor until the stream ends.
 * Like nitro-cli, it shows what the enclave prints from the moment it attaches; earlier output is not replayed.
 */
#ifndef NITROVM_ENCLAVE_CONSOLE_H
#define NITROVM_ENCLAVE_CONSOLE_H

#include <stdint.h>

struct evloop;
struct vsock_host;
struct console_client;

/* nitro-cli reads the console in 1024-byte chunks. */
#define CONSOLE_READ_CHUNK 1024
/*
 * A console refused before its first byte is tried again every CONSOLE_RETRY_INTERVAL_MS for
 * CONSOLE_RETRY_WINDOW_MS after attaching: natively it is connected right after NE_START_ENCLAVE, while the
 * enclave boots (nitro-cli waits up to 20 s for its connect, the same window).
 */
#define CONSOLE_RETRY_INTERVAL_MS 100
#define CONSOLE_RETRY_WINDOW_MS	  20000

/* Attach to enclave cid's console, copying to out.  NULL with err_msg(). */
struct console_client *console_client_attach(struct vsock_host *h, struct evloop *loop, uint64_t cid, int out);
/* Copy whatever is readable now (at the end, after the enclave stopped), then detach and free. */
void console_client_free(struct console_client *c);

#endif
