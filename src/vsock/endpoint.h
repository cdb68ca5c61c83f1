/* SPDX-License-Identifier: MIT */
/*
 * The parent side of vsock: listen(port) and connect(cid, port), the same for both hypervisors (DESIGN.md, "One
 * pipeline, two hypervisors").  Everything above it -- the heartbeat responder, the console client, the host
 * bridges -- is plain file-descriptor code and runs unchanged on either implementation:
 *
 *   emulated (vsock/emul.c, vsock_emul_create): the enclave is nitrovm's own KVM guest.  A connection is one end
 *       of a socketpair; the other end is serviced by nitrovm's event loop and joined to the virtio-vsock device
 *       through the connection table (vsock/conn.c).  The parent is CID 3; the hypervisor (CID 0) serves the
 *       enclave console on port enclave CID + 10000.
 *   native (vsock/afvsock.c, vsock_afvsock_create): the host's AF_VSOCK sockets, as nitro-cli uses them on an EC2
 *       parent instance.
 *
 * Contract for users (the bridges are written against this):
 *   - Every call is made from the thread running the launch's event loop; none blocks.
 *   - Descriptors returned are O_NONBLOCK and O_CLOEXEC, and belong to the caller (close() them when done).
 *   - listen(): a descriptor that polls readable (EPOLLIN) while a connection waits; take it with accept().
 *     Bind it BEFORE the enclave starts for ports the enclave uses at boot (the heartbeat): a guest REQUEST to
 *     a port nobody listens on is refused with RST, exactly as on Nitro.  unlisten() closes it; connections
 *     already accepted are not affected, connections not yet accepted are reset.
 *   - accept(): a connected stream, or -EAGAIN when none waits.  peer_cid / peer_port say who connected.
 *   - connect(): a stream to cid:port at once, possibly still being established.  Wait for EPOLLOUT before the
 *     first write.  A refusal (nothing listens in the enclave, or the enclave is gone) shows as a hang-up:
 *     EPOLLHUP/EPOLLERR, read() returning 0 or failing with ECONNREFUSED/ECONNRESET.  Treat it as a reset.
 *   - A stream behaves like a TCP socket: shutdown(fd, SHUT_WR) sends end-of-stream to the enclave (a guest
 *     read() returns 0) while data still flows back; read() returns 0 once the enclave shut its side down;
 *     close() ends both directions.  Data is never lost or reordered; a peer that vanishes turns into a
 *     hang-up on the other side.  Flow control is end to end: a full stream means the enclave is not reading.
 *   - Errors are negative errno values with err_msg() set (common/util.h).
 */
#ifndef NITROVM_VSOCK_ENDPOINT_H
#define NITROVM_VSOCK_ENDPOINT_H

#include <stdint.h>

struct evloop;
struct vsock_host;

struct vsock_host_ops {
	const char *name; /* "emulated" or "af_vsock" */
	/* Listen on the parent's port.  Returns the listening descriptor or -errno (-EADDRINUSE...). */
	int (*listen)(struct vsock_host *h, uint32_t port);
	/* The next connection waiting on listening descriptor lfd: a stream descriptor, or -EAGAIN. */
	int (*accept)(struct vsock_host *h, int lfd, uint64_t *peer_cid, uint32_t *peer_port);
	/* Stop listening and close lfd. */
	void (*unlisten)(struct vsock_host *h, int lfd);
	/* A stream to cid:port (the enclave's CID, or VSOCK_CID_HYPERVISOR for its console): descriptor or -errno. */
	int (*connect)(struct vsock_host *h, uint64_t cid, uint32_t port);
	/*
	 * Optional: connect() that also tells when the enclave accepted, for users that must know it before any
	 * byte flows (the Unix bridge answers "OK <port>" only then, as Firecracker does).  efd is an eventfd the
	 * caller owns; once the enclave accepted, the parent-side port of the connection is added to it (so it
	 * polls readable and reads back as that port).  A refusal shows as a hang-up of the stream, as for
	 * connect().  NULL: the stream shows it itself -- EPOLLOUT, then SO_ERROR 0 (AF_VSOCK); the emulated
	 * side needs it because its socketpair is writable at once.
	 */
	int (*connect_notify)(struct vsock_host *h, uint64_t cid, uint32_t port, int efd);
	/* Release the implementation; streams already handed out stay valid descriptors (they hang up). */
	void (*destroy)(struct vsock_host *h);
};

struct vsock_host {
	const struct vsock_host_ops *ops;
};

static inline int vsock_listen(struct vsock_host *h, uint32_t port)
{
	return h->ops->listen(h, port);
}

static inline int vsock_accept(struct vsock_host *h, int lfd, uint64_t *peer_cid, uint32_t *peer_port)
{
	return h->ops->accept(h, lfd, peer_cid, peer_port);
}

static inline void vsock_unlisten(struct vsock_host *h, int lfd)
{
	h->ops->unlisten(h, lfd);
}

static inline int vsock_connect(struct vsock_host *h, uint64_t cid, uint32_t port)
{
	return h->ops->connect(h, cid, port);
}

static inline void vsock_host_destroy(struct vsock_host *h)
{
	if (h)
		h->ops->destroy(h);
}

/* ---- native: AF_VSOCK ---- */

/* Connections to a CID that does not answer fail after this long (nitro-cli's console connect timeout). */
#define VSOCK_AFVSOCK_CONNECT_TIMEOUT_MS 20000
/* Backlog of AF_VSOCK listeners. */
#define VSOCK_AFVSOCK_BACKLOG 128

/* The host's AF_VSOCK.  NULL with err_msg() when the host has no vsock (no /dev/vsock, no module). */
struct vsock_host *vsock_afvsock_create(void);

/* ---- emulated: inside nitrovm's virtio-vsock device ---- */

struct vsock_mux;
struct vsock_emul;

/* Connections waiting in one emulated listener before the guest's REQUESTs to it are refused (RST). */
#define VSOCK_EMUL_BACKLOG 128
/* Listening descriptors of one emulated host. */
#define VSOCK_EMUL_MAX_LISTENERS 32

/*
 * The hypervisor's own services on CID 0 (the console): return a stream descriptor for port, or -ECONNREFUSED.
 * Runs on the event-loop thread.
 */
typedef int (*vsock_emul_service_fn)(void *opaque, uint32_t port);

/*
 * An emulated parent side on the connection table m (which it does not own), serviced from loop.  Raises the
 * process's soft descriptor limit when it cannot hold VSOCK_MAX_CONNECTIONS socketpairs.  NULL with err_msg().
 */
struct vsock_emul *vsock_emul_create(struct vsock_mux *m, struct evloop *loop);
struct vsock_host *vsock_emul_host(struct vsock_emul *e);
void vsock_emul_set_service(struct vsock_emul *e, vsock_emul_service_fn fn, void *opaque);
/* Service pending socket events now (the event loop does it; tests call it directly). */
void vsock_emul_poll(struct vsock_emul *e);
/* The descriptor the event loop watches (an epoll descriptor of all connection streams). */
int vsock_emul_fd(const struct vsock_emul *e);

#endif
