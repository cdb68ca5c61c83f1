/* SPDX-License-Identifier: MIT */
/*
 * The vsock connection table and state machine (vsock.h has the layering).  One struct vsock_mux per enclave.
 *
 * Guest side: the device hands in every packet the guest sent (vsock_mux_guest_packet) and takes the packets
 * for the guest out (vsock_mux_guest_next) whenever it has an rx buffer.  Packets for the guest are never
 * stored as such: each connection keeps a few "pending" bits (a RESPONSE to send, a CREDIT_UPDATE owed, data
 * the host side can give, ...) and sits in a FIFO of connections with work, so the queue is bounded by the
 * number of connections whatever the guest does.  RSTs for packets that belong to no connection go through a
 * small bounded queue of their own.
 *
 * Host side: each connection has an endpoint, a struct vsock_endpoint_ops and an opaque pointer.  Data moves
 * as scatter lists, never through a staging copy: towards the guest in "pull" style (the table asks ep->read
 * to fill the guest's rx buffer itself, at most what the guest's credit allows, when the host side said it
 * is readable), towards the host in "push" style (ep->write takes what it can now straight from the guest's
 * tx buffer; only the rest is copied, into a per-connection buffer no larger than the credit we advertise,
 * until the host side says it is writable).  So nothing here grows without bound and nothing polls.
 *
 * Connections are keyed by (host CID, host port, guest port): the guest's CID is fixed.  Host CIDs are
 * VSOCK_CID_PARENT for everything the parent listens on or connects from, and VSOCK_CID_HYPERVISOR (which the
 * guest may only be connected to, never connect to).
 *
 * Locking.  The table does no locking of its own: every function marked "locked" runs under vsock_mux_lock().
 * Endpoint callbacks, the accept callback and the host poll run with it held and must not call
 * vsock_mux_lock() or anything that takes the virtio transport's lock.  Lock order: virtio transport, then
 * this.  The table never calls the device: the device comes to it (packets from the guest, rx buffers, and
 * vsock_mux_poll_host() when the host side's descriptor is ready).
 */
#ifndef NITROVM_VSOCK_CONN_H
#define NITROVM_VSOCK_CONN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "vsock/vsock.h"

/*
 * At most this many connections at once, both directions together.  Firecracker's MAX_CONNECTIONS (1023);
 * each connection costs up to VSOCK_CONN_BUF_SIZE of buffered guest data plus at most two descriptors (a
 * host stream, or a socketpair of the emulated parent side), so the bound caps a hostile guest at 256 MiB and
 * 2046 descriptors.
 * A REQUEST past it gets RST and one log line.
 */
#define VSOCK_MAX_CONNECTIONS 1023
/*
 * Receive buffer per connection, advertised to the guest as buf_alloc: guest data the host side has not taken
 * yet waits here, allocated only when the host falls behind.  It is also the guest's window: a guest sends at
 * most this much before it hears a CREDIT_UPDATE, and Linux sends packets of up to 64 KiB, so with a buffer of
 * one packet (Firecracker's 64 KiB) every packet waits a round trip, host socket write included (bench/vsock,
 * nested: guest->host 287 Mbit/s with 64 KiB, 634 with this size).  256 KiB is what Linux's own host side
 * offers a guest (SO_VM_SOCKETS_BUFFER_SIZE's default).  A connection holds fewer bytes between the guest and
 * its peer than when a socketpair and a bridge ring stood between them (64 KiB + 208 KiB + 64 KiB).
 */
#define VSOCK_CONN_BUF_SIZE (256 * 1024)
/*
 * Send a CREDIT_UPDATE once the guest's view of our free space falls below half the buffer: the guest still
 * has half its window to send while the update travels, so one writing as fast as the host reads does not wait
 * for credit, and an update per half window costs little.
 */
#define VSOCK_CREDIT_UPDATE_THRESHOLD (VSOCK_CONN_BUF_SIZE / 2)
/*
 * RSTs for packets that belong to no connection, waiting for rx buffers.  A guest that sends more of them
 * than it reads answers to loses the excess (each is counted); its connect()s then time out instead of being
 * refused, which is all it can achieve.
 */
#define VSOCK_ORPHAN_RST_MAX 256
/* Ports the parent side picks for connections it opens (Firecracker's range: [2^30, 2^31)). */
#define VSOCK_EPHEMERAL_PORT_MIN (1U << 30)
#define VSOCK_EPHEMERAL_PORT_MAX ((1U << 31) - 1)
/* Listening ports per table: the heartbeat, the console and a bridge per configured port fit easily. */
#define VSOCK_MAX_LISTENERS 64
/*
 * Pieces of one read that fills several rx buffers: Linux's rx buffers are single 4 KiB pieces, so 16 of them
 * (64 KiB, one read) use 16; a buffer in many pieces ends the batch early rather than growing this.
 */
#define VSOCK_RX_IOV_MAX 128
/* Hash buckets for the connection table: about one connection each at the limit. */
#define VSOCK_CONN_BUCKETS 1024

struct vsock_conn;
struct vsock_mux;

/*
 * The host side of one connection.  All run with the table lock held (see top), on whatever thread called the
 * table (the event loop or a vCPU thread).
 */
struct vsock_endpoint_ops {
	/*
	 * Guest data for the host: take up to the n entries' bytes now (they point into guest memory or the
	 * table's buffer: read them once, keep no pointer), return how many (0..total), or -errno when the host
	 * side cannot take any ever again (the connection is then reset).  Returning less than the total means
	 * "call vsock_mux_host_writable() when you can take more".
	 */
	ssize_t (*write)(void *ep, const struct iovec *iov, unsigned int n);
	/*
	 * Host data for the guest: at most the n entries' bytes into them (the guest's rx buffer).  Returns the
	 * bytes read, 0 at end of stream (the host will send no more), -EAGAIN when nothing is there now (then
	 * call vsock_mux_host_readable() when there is), other -errno to reset the connection.  Called only after
	 * vsock_mux_host_readable().
	 */
	ssize_t (*read)(void *ep, const struct iovec *iov, unsigned int n);
	/* The guest will send nothing more and all its data was written: end the host's input (EOF). */
	void (*shutdown_write)(void *ep);
	/* The guest will read nothing more: what the host still writes is lost (EPIPE for it). */
	void (*shutdown_read)(void *ep);
	/*
	 * A connection the host opened was accepted by the guest; no byte has moved yet.  -errno resets the
	 * connection at once (ep->closed(ECONNRESET) follows).
	 */
	int (*connected)(void *ep);
	/*
	 * The connection is gone: err is 0 after an orderly close, ECONNREFUSED when the guest refused a
	 * connection the host opened, ECONNRESET on a reset.  The table forgets ep; the endpoint frees itself.
	 */
	void (*closed)(void *ep, int err);
};

/*
 * A guest REQUEST reached a listener: return 0 and fill *ops / *ep to accept (the connection is established at
 * once), or -errno to refuse it with RST.
 */
typedef int (*vsock_accept_fn)(void *opaque, struct vsock_conn *c, uint32_t guest_port,
			       const struct vsock_endpoint_ops **ops, void **ep);

struct vsock_mux_stats {
	uint64_t malformed;	/* packets dropped or answered RST for a bad header */
	uint64_t refused_limit;	/* REQUESTs refused at VSOCK_MAX_CONNECTIONS */
	uint64_t credit_violations;
	uint64_t bytes_to_host;
};

struct vsock_mux *vsock_mux_create(void);
void vsock_mux_destroy(struct vsock_mux *m);

void vsock_mux_lock(struct vsock_mux *m);
void vsock_mux_unlock(struct vsock_mux *m);

/* Locked.  The enclave's CID, known once the hypervisor starts it (0 until then: every packet is dropped). */
void vsock_mux_set_guest_cid(struct vsock_mux *m, uint64_t cid);
uint64_t vsock_mux_guest_cid(const struct vsock_mux *m);

/*
 * Set by the host side (vsock/emul.c): fn services its pending socket events, locked.  The device calls it
 * through vsock_mux_poll_host() when the host side's descriptor is ready, then fills rx buffers with what the
 * events made ready, all under one taking of each lock.
 */
void vsock_mux_set_host_poll(struct vsock_mux *m, void (*fn)(void *opaque), void *opaque);
/* Locked.  Let the host side service its events now (nothing when none was set). */
void vsock_mux_poll_host(struct vsock_mux *m);

/* ---- guest side (the device) ---- */

/*
 * Locked.  A packet the guest sent: h as decoded (copied out of guest memory before it was looked at), payload
 * the h->len bytes after the header as n entries pointing into the guest's buffer (the payload is moved,
 * never parsed, so the guest changing it meanwhile only changes its own data).  The device checked that len is
 * at most VSOCK_MAX_PKT_PAYLOAD and that the entries hold exactly len bytes; everything else is checked here.
 * Never fails: bad packets are dropped or answered with RST.
 */
void vsock_mux_guest_packet(struct vsock_mux *m, const struct vsock_hdr *h, const struct iovec *payload,
			    unsigned int n);
/*
 * Locked.  The device found a packet it cannot pass on (buffer shorter than its header or than h->len): log
 * why, and reset the connection h names or answer RST.  h is NULL when not even the header was readable.
 */
void vsock_mux_guest_bad_packet(struct vsock_mux *m, const struct vsock_hdr *h, const char *why);
/* Locked.  True when a packet waits for the guest. */
bool vsock_mux_guest_pending(const struct vsock_mux *m);
/* One rx buffer of the guest's: its payload area (after the header) in, the packet's header out. */
struct vsock_rx_buf {
	const struct iovec *room;
	unsigned int nroom;
	struct vsock_hdr h;
};

/*
 * Locked.  The next packets for the guest, in up to n rx buffers, their payload read by the host side straight
 * into each buffer's room (at most VSOCK_MAX_PKT_PAYLOAD bytes of it).  Data of one connection fills
 * consecutive buffers with a single read, one RW packet per buffer.  Returns how many buffers were filled
 * (bufs[0 .. return) with h set, h.len payload bytes at the start of the room), 0 when nothing waits.
 */
unsigned int vsock_mux_guest_fill(struct vsock_mux *m, struct vsock_rx_buf *bufs, unsigned int n);
/* Locked.  vsock_mux_guest_fill() for one buffer: 1 with *h filled, 0 when nothing waits. */
int vsock_mux_guest_next(struct vsock_mux *m, struct vsock_hdr *h, const struct iovec *room, unsigned int n);
/* Locked.  The transport was reset: every connection is closed (endpoints see ECONNRESET), listeners stay. */
void vsock_mux_reset(struct vsock_mux *m);

/* ---- host side (the parent endpoints) ---- */

/*
 * Locked.  Accept guest connections to host_cid:port with fn (port VSOCK_PORT_ANY: to every port of host_cid
 * nobody else listens on).  -EADDRINUSE, -ENOSPC.
 */
int vsock_mux_listen(struct vsock_mux *m, uint32_t host_cid, uint32_t port, vsock_accept_fn fn, void *opaque);
/* Locked.  Stop listening; established connections are not affected. */
void vsock_mux_unlisten(struct vsock_mux *m, uint32_t host_cid, uint32_t port);
/*
 * Locked.  Open a connection from the parent (CID 3, a free ephemeral port) to the guest's port: a REQUEST is
 * queued, ops->connected or ops->closed(ECONNREFUSED) follows.  Returns the connection, or NULL with -errno in
 * *err (-ENOTCONN before the CID is known, -EMFILE at the limit).
 */
struct vsock_conn *vsock_mux_connect(struct vsock_mux *m, uint32_t guest_port, const struct vsock_endpoint_ops *ops,
				     void *ep, int *err);
/* Locked.  The host side has data (or end of stream) for the guest: ep->read will be called. */
void vsock_mux_host_readable(struct vsock_mux *m, struct vsock_conn *c);
/* Locked.  The host side can take data again: buffered guest data goes to ep->write. */
void vsock_mux_host_writable(struct vsock_mux *m, struct vsock_conn *c);
/*
 * Locked.  The host side is gone in both directions (its user closed it).  What it wrote before is still read
 * to the end; then the guest gets SHUTDOWN with both flags, and ep->closed(0) follows.  A connection not
 * yet established is reset.
 */
void vsock_mux_host_hangup(struct vsock_mux *m, struct vsock_conn *c);
/* Locked.  Reset the connection at once (RST to the guest); ep->closed(ECONNRESET) follows. */
void vsock_mux_host_reset(struct vsock_mux *m, struct vsock_conn *c);

/* Locked.  Addresses of a connection, for log lines and accept(). */
void vsock_conn_addr(const struct vsock_conn *c, uint32_t *host_cid, uint32_t *host_port, uint32_t *guest_port);
/* Locked.  Open connections now. */
unsigned int vsock_mux_nconns(const struct vsock_mux *m);
void vsock_mux_get_stats(const struct vsock_mux *m, struct vsock_mux_stats *s);

/* Flow-control arithmetic, exposed for tests: what we may still send to a peer that advertised buf_alloc. */
uint32_t vsock_credit_available(uint32_t peer_buf_alloc, uint32_t peer_fwd_cnt, uint32_t tx_cnt);

#endif
