/* SPDX-License-Identifier: MIT */
/*
 * The boot heartbeat, the same for every hypervisor (it only uses struct vsock_host): the parent listens on
 * vsock port 9000 before the enclave starts; the enclave's init connects, sends 0xB7 and waits for it back.
 * nitro-cli terminates an enclave whose heartbeat is missing or wrong; so do we (LAUNCH_ERR_HEARTBEAT).
 */
#ifndef NITROVM_ENCLAVE_HEARTBEAT_H
#define NITROVM_ENCLAVE_HEARTBEAT_H

#include <stdint.h>

#include "common/util.h"

struct evloop;
struct vsock_host;
struct heartbeat;

/*
 * nitro-cli's boot timeout (src/enclave_proc/resource_manager.rs): 90 s per started 6 GiB of EIF plus 90 s per
 * started 100 GiB of enclave memory, so at least 180 s.
 */
#define HEARTBEAT_TIMEOUT_STEP_MS 90000ULL
#define HEARTBEAT_EIF_STEP	  (6 * GiB)
#define HEARTBEAT_MEMORY_STEP	  (100 * GiB)
/*
 * Test hook, read only in builds with test hooks (-Dtest_hooks=true): a shorter (or longer) timeout in
 * milliseconds, so the timeout path can be tested in seconds.
 */
#define HEARTBEAT_TIMEOUT_ENV "NITROVM_HEARTBEAT_TIMEOUT_MS"

/*
 * err: 0 when the heartbeat was answered; -ETIMEDOUT when none came in time; -EPROTO for a wrong byte;
 * -ECONNRESET when the echo could not be written back (the enclave is gone).  A connection that ends without a
 * byte is an attempt the enclave abandoned: it is dropped and the next one awaited.  err_msg() says it in words.
 */
typedef void (*heartbeat_done_fn)(void *opaque, int err);

uint64_t heartbeat_timeout_ms(uint64_t eif_size, uint64_t memory_bytes);
/* Listen on port 9000 now (before the enclave starts).  NULL with err_msg() (-EADDRINUSE...). */
struct heartbeat *heartbeat_listen(struct vsock_host *h, struct evloop *loop, heartbeat_done_fn done, void *opaque);
/* The enclave started: done() follows within timeout_ms (0: no timeout, for front ends that wait forever). */
int heartbeat_arm(struct heartbeat *hb, uint64_t timeout_ms);
void heartbeat_free(struct heartbeat *hb);

#endif
