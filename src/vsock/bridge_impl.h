/* SPDX-License-Identifier: MIT */
/* Internals shared by bridge.c (the set, connections, TCP/Unix/AF_VSOCK forwards) and bridge_uds.c. */
#ifndef NITROVM_VSOCK_BRIDGE_IMPL_H
#define NITROVM_VSOCK_BRIDGE_IMPL_H

#include "vsock/bridge.h"

/* A descriptor in the set's private epoll; fn runs on its events.  Interest 0 means "not in the set at all". */
struct bridge_watch {
	int fd;
	uint32_t events;
	bool added;
	void (*fn)(struct bridge_watch *w, uint32_t events);
	void *owner;
};

struct bridge_listener {
	struct bridge_watch w;
	struct bridge_set *s;
	bool used;
	enum bridge_dir dir;
	bool handshake;		   /* TO_ENCLAVE: Firecracker's "CONNECT <port>" names the enclave port */
	uint32_t vsock_port;	   /* TO_ENCLAVE: the enclave's port; FROM_ENCLAVE: the parent port served */
	struct bridge_addr target; /* FROM_ENCLAVE: where each connection goes */
};

/*
 * One bridged connection, a small state machine:
 *   HANDSHAKE   (the Unix-socket vsock only) reading "CONNECT <port>\n" from the host client
 *   CONNECTING  the outgoing side is being connected; the accepted side waits, unread
 *   SPLICING    both connected: bytes move (bridge_splice.c) until both directions ended or a reset
 * and then it is closed (in order, or by resetting both sides) and freed.  Where the parent side joins host
 * sockets to enclave connections, a host connection leaves at HANDSHAKE's end (or at once): it is handed over.
 */
enum bridge_conn_state {
	BC_HANDSHAKE,
	BC_CONNECTING,
	BC_SPLICING,
};

/* Sides, as in struct splice: the host's stream and the enclave's. */
#define SIDE_HOST  0
#define SIDE_VSOCK 1

struct bridge_conn {
	struct bridge_set *s;
	enum bridge_conn_state state;
	bool reply_ok;		  /* answer "OK <port>\n" to the host client once the enclave accepted */
	int out;		  /* CONNECTING: the side being connected */
	struct bridge_watch w[2]; /* SIDE_HOST, SIDE_VSOCK */
	struct splice sp;
	char line[BRIDGE_CONNECT_LINE_MAX + 1];
	size_t line_len;
	char what[192]; /* for log lines */
	struct bridge_conn *prev, *next;
	bool dead;
};

#define BRIDGE_MAX_LISTENERS (BRIDGE_MAX_RULES + 1 + BRIDGE_UDS_MAX_PORTS)

struct bridge_uds;

struct bridge_set {
	struct vsock_host *h;
	struct evloop *loop;
	int epfd;
	uint64_t cid;
	bool started;
	struct bridge_listener listeners[BRIDGE_MAX_LISTENERS];
	struct bridge_conn *conns, *dead;
	unsigned int nconns;
	bool limit_logged;
	struct bridge_uds *uds;
	int (*connect_unix)(void *opaque, const char *path); /* bridge_config's */
	void *connect_unix_opaque;
};

/* A stream to the host address a, connecting or connected (non-blocking), or -errno. */
int bridge_host_socket(struct bridge_set *s, const struct bridge_addr *a);

int bridge_watch_set(struct bridge_set *s, struct bridge_watch *w, uint32_t events);
/* A listener for the rule's direction; NULL with err_msg(). */
struct bridge_listener *bridge_listen_host(struct bridge_set *s, const struct bridge_addr *a, uint32_t vsock_port,
					   bool handshake);
struct bridge_listener *bridge_listen_vsock(struct bridge_set *s, uint32_t port, const struct bridge_addr *target);
void bridge_unlisten(struct bridge_listener *l);

/* bridge_uds.c */
int bridge_uds_create(struct bridge_set *s, const char *path);
void bridge_uds_free(struct bridge_set *s);
/* HANDSHAKE: read the CONNECT line.  The enclave port (>= 0), -EAGAIN for more bytes, -EINVAL/-EPIPE to drop. */
int bridge_uds_read_connect(struct bridge_conn *bc);

/* bridge_config.c */
int bridge_addr_unix(struct bridge_addr *a, const char *path);

#endif
