/* SPDX-License-Identifier: MIT */
/*
 * The parent side of vsock: listen(port) and connect(cid, port), the same for both hypervisors (the launch
 * pipeline, enclave/launch.h, is one for both).  Everything above it -- the heartbeat responder, the console client, the host
 * bridges -- is plain file-descriptor code and runs unchanged on either implementation:
 *
 *   emulated (vsock/emul.c, vsock_emul_create): the enclave is nitrovm's own KVM guest.  A connection owns a
 *       host stream serviced by nitrovm's event loop and moved to and from the virtio-vsock device through the
 *       connection table (vsock/conn.c): a socket the user joined to it (join operations below: the bytes go
 *       straight between the guest's buffers and that socket), or one end of a socketpair whose other end the
 *       user gets (listen/accept/connect).  The parent is CID 3; the hypervisor (CID 0) serves the enclave
 *       console on port enclave CID + 10000.
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

#include <errno.h>
#include <stdint.h>

struct evloop;
struct vsock_host;

/*
 * A host stream given to an enclave connection (connect_join, listen_join): a non-blocking stream socket (TCP,
 * Unix, AF_VSOCK).  From a successful call on, the vsock side owns it: it passes half-close both ways as
 * shutdown(SHUT_WR), a peer's reset or failure as a reset to the enclave, and closes the socket when the
 * connection ends -- abortively (a TCP peer sees RST) when it ends in a reset or a refusal.
 */
struct vsock_join {
	int fd;
	/*
	 * Optional: runs once the enclave accepted, before any byte moves, with the parent-side port; it may write
	 * a greeting to fd (non-blocking).  A negative return resets the connection.
	 */
	int (*accepted)(int fd, uint32_t parent_port);
};

/*
 * listen_join's source of host streams: called when the enclave's port peer_port connects, on the thread that
 * serves the enclave's packets and with the vsock side's lock held, so non-blocking calls only and no vsock_*
 * call.  Returns a stream socket, connected or with connect() in progress (EINPROGRESS), or -errno to refuse the
 * connection (the enclave gets RST).
 */
typedef int (*vsock_join_fn)(void *opaque, uint32_t peer_port);

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
	 * Optional (the emulated side; NULL for native AF_VSOCK, whose streams are the host's own sockets): a
	 * connection to cid:port carried by the host stream j->fd itself, so its bytes move between the enclave's
	 * buffers and that socket with nothing in between.  See struct vsock_join.  0, or -errno with err_msg()
	 * (j->fd then stays the caller's).
	 */
	int (*connect_join)(struct vsock_host *h, uint64_t cid, uint32_t port, const struct vsock_join *j);
	/*
	 * Optional, as connect_join: enclave connections to the parent's port get their host stream from fn at
	 * once (see vsock_join_fn).  Returns a descriptor for unlisten() (it never polls readable: there is
	 * nothing to accept), or -errno.
	 */
	int (*listen_join)(struct vsock_host *h, uint32_t port, vsock_join_fn fn, void *opaque);
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

/* The join operations, where the implementation has them (else -EOPNOTSUPP: copy through connect/accept). */
static inline int vsock_connect_join(struct vsock_host *h, uint64_t cid, uint32_t port, const struct vsock_join *j)
{
	return h->ops->connect_join ? h->ops->connect_join(h, cid, port, j) : -EOPNOTSUPP;
}

static inline int vsock_listen_join(struct vsock_host *h, uint32_t port, vsock_join_fn fn, void *opaque)
{
	return h->ops->listen_join ? h->ops->listen_join(h, port, fn, opaque) : -EOPNOTSUPP;
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
 * An emulated parent side on the connection table m (which it does not own; it registers itself as the
 * table's host poll).  Raises the process's soft descriptor limit when it cannot hold VSOCK_MAX_CONNECTIONS
 * socketpairs.  Whoever owns the device watches vsock_emul_fd() and, when it polls readable, has the device
 * service it (virtio_vsock_host_ready()), or calls vsock_emul_poll() where there is no device.  NULL with
 * err_msg().
 */
struct vsock_emul *vsock_emul_create(struct vsock_mux *m);
struct vsock_host *vsock_emul_host(struct vsock_emul *e);
void vsock_emul_set_service(struct vsock_emul *e, vsock_emul_service_fn fn, void *opaque);
/* Lock NOT held.  Service pending socket events now, without a device to give packets to. */
void vsock_emul_poll(struct vsock_emul *e);
/* The descriptor to watch: an epoll descriptor of every connection's stream, readable when one is ready. */
int vsock_emul_fd(const struct vsock_emul *e);

#endif
