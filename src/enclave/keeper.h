/* SPDX-License-Identifier: MIT */
/*
 * The keeper: what an enclave process that gave up root (privdrop.h) still needs done on the host's file
 * system, done by a small process it forks before any slot or guest memory exists, which stays root and lives
 * until the enclave process is gone.  It does exactly four things, for this one enclave only:
 *
 *   bind     learn the enclave's id (once, before the drop: later requests cannot rename it);
 *   info     write its record <run dir>/<slot>.json (registry.h) with the text given (a JSON object);
 *   ended    write its exit record <slot>.exit, and remove its control socket and the Unix sockets its host
 *            bridges listened on (the registry's and the bridge configuration's paths, not the caller's);
 *   connect  connect to a Unix socket the bridge configuration names (a --forward-connect unix: target, or
 *            --vsock-uds PATH's PATH_<port>) and hand the stream back: the enclave process can no longer reach
 *            those paths, and may not reach any other.
 *
 * If the enclave process dies without saying it ended (killed, crashed), the keeper writes a "killed" exit
 * record and removes the sockets itself.  One SOCK_SEQPACKET datagram per request and per answer (a status,
 * and with connect the stream as SCM_RIGHTS); requests are checked as untrusted input.
 */
#ifndef NITROVM_ENCLAVE_KEEPER_H
#define NITROVM_ENCLAVE_KEEPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry.h"

struct bridge_config;
struct keeper;

/* The keeper's process name (its comm), as ps and the tests see it. */
#define KEEPER_PROC_NAME "nitrovm-keeper"
/* An info record's text, at most (a handful of keys). */
#define KEEPER_INFO_MAX 4096

/* A request, at most: its kind, then an info record's text. */
#define KEEPER_MSG_MAX (1 + KEEPER_INFO_MAX)
/* The enclave id as the keeper keeps it, at most (with its NUL). */
#define KEEPER_ID_MAX 256

/* Fork it (single-threaded caller): 0 with *out, or -errno with err_msg(). */
int keeper_spawn(const struct registry_dirs *d, const struct bridge_config *b, struct keeper **out);
int keeper_bind(struct keeper *k, const char *enclave_id);
int keeper_write_info(struct keeper *k, const char *json);
int keeper_ended(struct keeper *k, const struct registry_exit *x);
/* A connected (non-blocking) stream to path, or -errno; the bridge's connector (bridge.h). */
int keeper_connect_unix(void *keeper, const char *path);
/* Close our end: the keeper exits (after its clean-up if ended was never said). */
void keeper_stop(struct keeper *k);

/* ---- the keeper's side, which its loop runs (and the fuzz target, tests/fuzz/fuzz_keeper.c) ---- */

struct keeper_state {
	const struct registry_dirs *d;
	const struct bridge_config *b;
	char id[KEEPER_ID_MAX];
	bool bound, ended;
};

/*
 * One request as it came (len bytes; msg has room for one more): the status to answer (0 or -errno), and in
 * *fd the stream to hand back with it (connect), else -1.
 */
int keeper_serve(struct keeper_state *k, uint8_t *msg, size_t len, int *fd);

#endif
