/* SPDX-License-Identifier: MIT */
/*
 * QMP, the QEMU Machine Protocol, as the enclave process speaks it for the QEMU front end (-qmp): what QEMU's
 * own tools and its Python library (qemu.qmp) expect of a QEMU that runs an enclave machine.
 *
 * Protocol (QEMU's docs/interop/qmp-spec): on connect the server sends a greeting
 * {"QMP": {"version": {...}, "capabilities": []}}; the client must first execute qmp_capabilities; then each
 * {"execute": NAME[, "arguments": {...}][, "id": ANY]} gets exactly one {"return": ...} or
 * {"error": {"class": C, "desc": D}}, carrying the same "id".  Events ({"event": NAME[, "data": {...}],
 * "timestamp": {"seconds", "microseconds"}}) go to every negotiated client.  Each message the server sends
 * ends with CR LF; what clients send is a stream of JSON objects, with or without anything between them.
 *
 * Commands: qmp_capabilities, query-status, query-version, query-name, query-commands, qom-get (the enclave CID
 * at /machine/peripheral/nitro-vsock, property enclave-cid, as QEMU's nitro documentation gives it),
 * system_powerdown and quit.  Events: POWERDOWN, SHUTDOWN.
 *
 * Clients are untrusted: one message is at most QMP_MSG_MAX bytes and nested at most QMP_DEPTH_MAX deep, what
 * a client does not read is bounded by QMP_OUT_MAX, and a client breaking a bound is disconnected; errors
 * never end the enclave.
 */
#ifndef NITROVM_ENCLAVE_QMP_H
#define NITROVM_ENCLAVE_QMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* QEMU reads messages of up to 64 MiB; ours are a line each: 64 KiB is generous and bounds a client's cost. */
#define QMP_MSG_MAX (64 * 1024)
/* Nesting of one message: QEMU's commands go 3 deep; json-c's own default is 32. */
#define QMP_DEPTH_MAX 16
/* Output waiting for a client that does not read (replies and events) before it is disconnected. */
#define QMP_OUT_MAX (1024 * 1024)
/* Clients at once per server; QEMU's socket chardev takes one, a few more help monitoring. */
#define QMP_CLIENTS_MAX 8
/* Listening sockets (-qmp given twice). */
#define QMP_LISTEN_MAX 2

struct json_object;

/* What QMP's commands act on: the enclave process. */
struct qmp_ops {
	void *opaque;
	/* system_powerdown and quit: end the enclave (the SHUTDOWN event follows from qmp_server_ended). */
	void (*powerdown)(void *opaque);
	void (*quit)(void *opaque);
};

/* What QMP's queries answer. */
struct qmp_facts {
	const char *name; /* query-name */
	uint64_t cid;	  /* qom-get enclave-cid; 0 until the enclave runs */
	bool running;	  /* query-status: "running", else "prelaunch" */
};

/* ---- one client's session: bytes in, bytes out (no sockets: fuzz_qmp drives this part) ---- */

struct qmp_session;

/* out(opaque, text, len): a message the session sends, CR LF included.  A negative return ends the session. */
typedef int (*qmp_out_fn)(void *opaque, const char *text, size_t len);

/* A session that has just sent its greeting through out.  NULL on allocation failure. */
struct qmp_session *qmp_session_new(const struct qmp_ops *ops, const struct qmp_facts *facts, qmp_out_fn out,
				    void *out_opaque);
void qmp_session_free(struct qmp_session *s);
/*
 * Bytes from the client: every complete message is answered, a partial one kept for the next call.  Returns 0,
 * or -EPROTO (err_msg() says why) when the client broke a bound or sent what is not JSON (after the error
 * reply), or the out function's error: close the session then.
 */
int qmp_session_input(struct qmp_session *s, const uint8_t *buf, size_t len);
/* An event for this session, as text ready to send (data may be NULL): sent when negotiated. */
int qmp_session_event(struct qmp_session *s, const char *name, struct json_object *data);

/* ---- the server on an event loop ---- */

struct evloop;
struct qmp_server;

/* Where a server listens: a Unix socket path, or TCP on a loopback address. */
struct qmp_listen_addr {
	const char *path; /* Unix; NULL for TCP */
	const char *host; /* TCP: a loopback address or name */
	const char *port;
	bool wait; /* QEMU's wait=on: the enclave starts only once a client connected */
};

/*
 * Listen on every address (the socket files are created now, and removed by qmp_server_stop()), then serve
 * clients on loop.  Addresses with wait set are waited on here, before this returns.  NULL with err_msg().
 */
struct qmp_server *qmp_server_start(struct evloop *loop, const struct qmp_listen_addr *addrs, unsigned int n,
				    const struct qmp_ops *ops, const struct qmp_facts *facts);
/* The facts changed (the enclave runs now, with its CID). */
void qmp_server_update(struct qmp_server *q, const struct qmp_facts *facts);
/* POWERDOWN to every client, now (before the enclave is asked to end). */
void qmp_server_powerdown_event(struct qmp_server *q);
/*
 * The enclave ended: SHUTDOWN (guest: whether the guest ended itself, reason: QEMU's ShutdownCause name) to
 * every client, written out as far as each client takes it without waiting (the loop runs no more).
 */
void qmp_server_ended(struct qmp_server *q, bool guest, const char *reason);
/* Close every client and listener, remove socket files. */
void qmp_server_stop(struct qmp_server *q);

#endif
