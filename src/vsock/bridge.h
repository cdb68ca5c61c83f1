/* SPDX-License-Identifier: MIT */
/*
 * Host bridges: the enclave's parent-side vsock ports joined to sockets on the host, chosen per port by the
 * caller (the commands' options are src/cli/bridge_opts.c's).  Written only against struct vsock_host
 * (endpoint.h), so they work unchanged for the emulated hypervisor and for native Nitro.
 *
 *   Unix-socket vsock PATH                  Firecracker's hybrid vsock: a host client connects to the Unix
 *                                           socket PATH and sends "CONNECT <port>\n"; once the enclave
 *                                           accepted, it reads "OK <parent port>\n" and then the stream.
 *                                           Enclave connections to parent port P go to the Unix socket
 *                                           PATH_P while that file exists (otherwise the enclave gets RST).
 *   rule HOST=vsock:PORT                    host -> enclave: connections to HOST go to enclave port PORT.
 *   rule vsock:PORT=HOST                    enclave -> host: connections to parent port PORT go to HOST
 *                                           (HOST vsock:1:PORT: over AF_VSOCK to the host's local CID, where
 *                                           an unmodified parent application listens as on EC2).
 *   HOST is tcp:ADDR:PORT (loopback only unless allow_remote), unix:PATH, or vsock:[CID:]PORT.
 *
 * Where the parent side joins host sockets to enclave connections (the emulated hypervisor: join operations of
 * endpoint.h), a bridge makes or accepts the host-side socket and hands it to the connection, which moves its
 * bytes straight to and from the enclave's buffers.  Elsewhere (native AF_VSOCK) every connection is a splice
 * of two non-blocking streams (bridge_splice.c): two bounded buffers.  Either way half-close is passed on in
 * each direction and a reset on either side as a reset.
 */
#ifndef NITROVM_VSOCK_BRIDGE_H
#define NITROVM_VSOCK_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct evloop;
struct vsock_host;

/* Bridge rules of one enclave, both directions together. */
#define BRIDGE_MAX_RULES 16
/*
 * Bytes buffered per direction of one connection: one 64 KiB write of the sender fits whole, and the side that
 * does not read stops the other side's reads there (no unbounded growth).
 */
#define BRIDGE_BUF_SIZE (64 * 1024)
/* Bridged connections at once: the vsock device's own limit (VSOCK_MAX_CONNECTIONS); past it a new one is closed. */
#define BRIDGE_MAX_CONNS 1023
/* Backlog of the host listeners (TCP, Unix). */
#define BRIDGE_LISTEN_BACKLOG 128
/* "CONNECT 4294967295\n" plus slack for extra spaces: Firecracker reads at most 32 bytes of it too. */
#define BRIDGE_CONNECT_LINE_MAX 32
/* Ports of a Unix-socket vsock PATH whose PATH_<port> sockets are served at once (each is a parent-side listener). */
#define BRIDGE_UDS_MAX_PORTS 16

enum bridge_addr_kind {
	BRIDGE_ADDR_TCP,
	BRIDGE_ADDR_UNIX,
	BRIDGE_ADDR_VSOCK,
};

/* A socket address on the host side of a bridge. */
struct bridge_addr {
	enum bridge_addr_kind kind;
	struct sockaddr_storage sa; /* TCP (IPv4 or IPv6) and Unix */
	socklen_t salen;
	uint32_t cid;  /* vsock */
	uint32_t port; /* vsock */
	char text[128]; /* as given, for log lines */
};

enum bridge_dir {
	BRIDGE_TO_ENCLAVE,   /* a host listener; each connection goes to the enclave's vsock_port */
	BRIDGE_FROM_ENCLAVE, /* a parent-side vsock listener on vsock_port; each connection goes to host */
};

struct bridge_rule {
	enum bridge_dir dir;
	struct bridge_addr host;
	uint32_t vsock_port;
};

struct bridge_config {
	struct bridge_rule rules[BRIDGE_MAX_RULES];
	unsigned int nrules;
	const char *uds_path; /* the Unix-socket vsock (Firecracker's protocol), or NULL */
	bool allow_remote;    /* TCP addresses other than loopback are accepted */
	/*
	 * The stream to a Unix socket path for a connection from the enclave (connected, non-blocking), or
	 * -errno: for a process that can no longer reach the file system itself (enclave/keeper.h), which also
	 * leaves the PATH_<port> file check to the connect.  NULL: socket() and connect() here.
	 */
	int (*connect_unix)(void *opaque, const char *path);
	void *connect_unix_opaque;
};

/*
 * Add one rule: "HOST=vsock:PORT" (BRIDGE_TO_ENCLAVE) or "vsock:PORT=HOST" (BRIDGE_FROM_ENCLAVE), HOST being
 * tcp:ADDR:PORT, unix:PATH or vsock:[CID:]PORT.  0, or -EINVAL with err_msg() saying what is wrong in it.
 */
int bridge_config_add_rule(struct bridge_config *c, enum bridge_dir dir, const char *rule);
/* The Unix-socket vsock's path (Firecracker's protocol; kept as given, not copied).  0 or -EINVAL. */
int bridge_config_set_uds(struct bridge_config *c, const char *path);
/* The checks that need the whole configuration (loopback-only TCP).  0 or -EINVAL with err_msg(). */
int bridge_config_check(const struct bridge_config *c);

struct bridge_set;

/*
 * Bind every listener of c before the enclave starts: the parent-side vsock ports (so an early connection from
 * the enclave is not refused) and the host sockets (so a port in use fails the launch, not a later connection).
 * Host connections are taken only after bridge_set_start().  NULL with err_msg().
 */
struct bridge_set *bridge_set_create(struct vsock_host *h, struct evloop *loop, const struct bridge_config *c);
/* The enclave runs as CID cid: start taking host connections into it. */
int bridge_set_start(struct bridge_set *s, uint64_t cid);
/* Close every listener and connection (connections are reset). */
void bridge_set_free(struct bridge_set *s);

/* ---- the splice helper (bridge_splice.c), shared by every bridge ---- */

enum splice_state {
	SPLICE_RUNNING,
	SPLICE_DONE,  /* both directions ended in order: close both streams */
	SPLICE_RESET, /* a side failed or was reset: reset the other one too */
};

struct splice_dir {
	uint8_t *buf; /* BRIDGE_BUF_SIZE ring */
	size_t head, len;
	bool eof;  /* the source reached end of stream */
	bool shut; /* the end was passed on: shutdown(destination, SHUT_WR) */
};

/*
 * Two streams joined: dir[i] carries fd[i]'s bytes to fd[1 - i].  The owner watches each fd for
 * splice_events() and calls splice_pump() after any event on either.
 */
struct splice {
	int fd[2];
	struct splice_dir dir[2];
	uint64_t bytes[2]; /* moved from fd[i] to fd[1 - i] */
};

int splice_init(struct splice *s, int fd0, int fd1);
/* Move what can move now, without blocking; the new state. */
enum splice_state splice_pump(struct splice *s);
/* What fd[side] must be watched for now: EPOLLIN, EPOLLOUT, both, or 0 (nothing: not watched at all). */
uint32_t splice_events(const struct splice *s, int side);
/* Free the buffers (the descriptors stay the caller's). */
void splice_release(struct splice *s);
/* Close a stream abortively: a TCP peer sees RST (SO_LINGER 0), others a hang-up. */
void bridge_close_reset(int fd);

#endif
