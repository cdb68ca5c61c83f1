/* SPDX-License-Identifier: MIT */
/*
 * The enclave process's side of nitro-cli's protocol (ctl_proto.h): a listening socket on the enclave
 * process's event loop, so a stock nitro-cli, or nitrovm's own commands, can describe, name, find, attach to and
 * terminate the enclave.
 *
 * Every peer is untrusted: a request must arrive whole within CTL_REQUEST_TIMEOUT_MS and fit in
 * CTL_REQUEST_MAX bytes, at most CTL_MAX_CONNS are served at once, and nothing a peer does blocks the loop.
 * Who may do what follows nitro-cli (its CommandRequesterPolicy), by the peer's SO_PEERCRED: the process's
 * owner and root may do anything; others may only ask (Describe, GetEnclaveCID, GetEnclaveFlags,
 * GetEnclaveName, GetIDbyName) and get EACCES for the rest.
 */
#ifndef NITROVM_ENCLAVE_CTL_SERVER_H
#define NITROVM_ENCLAVE_CTL_SERVER_H

#include <stdbool.h>
#include <stdint.h>

struct evloop;
struct ctl_server;

#define CTL_REQUEST_TIMEOUT_MS 5000
#define CTL_REQUEST_MAX	       4096 /* three small messages; a name is at most CTL_STRING_MAX */
#define CTL_MAX_CONNS	       64
#define CTL_LISTEN_BACKLOG     64

struct ctl_server_ops {
	/*
	 * The enclave as nitro-cli's describe-enclaves shows it (a JSON object, serde's pretty layout, no trailing
	 * newline), or NULL while it cannot be told yet (the measurements are still being computed): the request
	 * then waits for ctl_server_describe_ready().  The caller frees it.
	 */
	char *(*describe)(void *opaque, bool metadata);
	uint64_t (*cid)(void *opaque);
	uint64_t (*flags)(void *opaque);
	const char *(*name)(void *opaque);
	const char *(*id)(void *opaque);
	/* End the enclave; ctl_server_terminated() answers the request once it has ended. */
	void (*terminate)(void *opaque);
	/* A console client's socket, confirmed: ops owns it from now on (history, then live bytes). */
	void (*console)(void *opaque, int fd);
};

/* Bind path (replacing nothing: a live socket there is an error) and serve on loop. */
struct ctl_server *ctl_server_start(struct evloop *loop, const char *path, const struct ctl_server_ops *ops,
				   void *opaque);
/* Answer every waiting Terminate: the line for the client's stderr and the JSON for its stdout. */
void ctl_server_terminated(struct ctl_server *s, const char *stderr_line, const char *stdout_json);
/* The describe callback can answer now: serve the requests that waited for it. */
void ctl_server_describe_ready(struct ctl_server *s);
/* Stop listening, remove the socket file, drop every connection. */
void ctl_server_stop(struct ctl_server *s);

#endif
