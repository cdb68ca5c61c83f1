/* SPDX-License-Identifier: MIT */
/*
 * vsock in nitrovm: the enclave's only channel to the outside.
 *
 * Layers, from the guest outwards (a byte from the guest follows them in this order):
 *
 *   hw/virtio/vsock.c   the virtio-vsock device (id 19): pops the guest's tx buffers, turns each into a parsed
 *                       struct vsock_hdr plus its payload as a scatter list into guest memory, and lets the
 *                       connection table fill the guest's rx buffers (payload read by the host side straight
 *                       into them).  Knows virtqueues, nothing of connections.
 *   vsock/conn.c        the connection table and state machine (struct vsock_mux): REQUEST/RESPONSE/RST/
 *                       SHUTDOWN/RW/CREDIT_*, credit-based flow control both ways, every header field checked.
 *                       Knows neither virtqueues nor sockets: packets in from the guest, packets out through a
 *                       small queue, and a host side reached through per-connection endpoint callbacks
 *                       (struct vsock_endpoint_ops, conn.h) that take and give scatter lists.
 *   vsock/stream.c      the endpoint on one host stream socket: readv/writev between the guest's buffers and
 *                       the socket, readiness from an epoll set, a connect still in progress, abortive close.
 *   vsock/emul.c        the parent side for the emulated hypervisor: struct vsock_host (endpoint.h) built on
 *                       the table and stream.c.  A connection owns its host stream: one the user joined (a
 *                       bridge's TCP or Unix socket: bytes go straight between it and the guest), or one end of
 *                       a socketpair whose other end the user holds (the heartbeat, tests).
 *   vsock/afvsock.c     the same struct vsock_host on the host's AF_VSOCK sockets, for native Nitro.
 *   enclave/heartbeat.c, enclave/console.c and the host bridges: plain fd code on struct vsock_host.
 *
 * This header holds the protocol facts shared by those layers (virtio 1.2, 5.10; Linux's virtio_vsock.h).
 */
#ifndef NITROVM_VSOCK_H
#define NITROVM_VSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Well-known CIDs.  On Nitro the enclave's parent instance is CID 3 and the hypervisor (console) CID 0. */
#define VSOCK_CID_HYPERVISOR 0
#define VSOCK_CID_LOCAL	     1
#define VSOCK_CID_HOST	     2
#define VSOCK_CID_PARENT     3
#define VSOCK_CID_ANY	     0xffffffffU
/* nitro-cli's CID_TO_CONSOLE_PORT_OFFSET: the console of enclave C is CID 0 port C + 10000. */
#define VSOCK_CONSOLE_PORT_OFFSET 10000
/* The enclave's init connects here and sends VSOCK_HEARTBEAT_BYTE; the parent echoes it. */
#define VSOCK_HEARTBEAT_PORT 9000
#define VSOCK_HEARTBEAT_BYTE 0xb7

/* Packet header, 44 bytes, every field little-endian on the wire. */
#define VSOCK_HDR_SIZE 44

enum vsock_type {
	VSOCK_TYPE_STREAM = 1,
	VSOCK_TYPE_SEQPACKET = 2, /* not offered: the device does not negotiate VIRTIO_VSOCK_F_SEQPACKET */
};

enum vsock_op {
	VSOCK_OP_INVALID = 0,
	VSOCK_OP_REQUEST = 1,
	VSOCK_OP_RESPONSE = 2,
	VSOCK_OP_RST = 3,
	VSOCK_OP_SHUTDOWN = 4,
	VSOCK_OP_RW = 5,
	VSOCK_OP_CREDIT_UPDATE = 6,
	VSOCK_OP_CREDIT_REQUEST = 7,
	VSOCK_OP_MAX = VSOCK_OP_CREDIT_REQUEST,
};

/* SHUTDOWN flags: the sender will receive no more (RCV) / send no more (SEND). */
#define VSOCK_SHUTDOWN_RCV  1U
#define VSOCK_SHUTDOWN_SEND 2U
#define VSOCK_SHUTDOWN_BOTH (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)

/* event queue: the only event, sent when the device loses every connection (the guest re-reads guest_cid). */
#define VSOCK_EVENT_TRANSPORT_RESET 0
#define VSOCK_EVENT_SIZE	    4

/*
 * The largest payload of one packet: Linux's VIRTIO_VSOCK_MAX_PKT_BUF_SIZE (64 KiB).  Linux never sends more in
 * one packet; a longer len from the guest is malformed, and the device copies at most this much per packet.
 */
#define VSOCK_MAX_PKT_PAYLOAD (64 * 1024)
/*
 * Pieces (struct iovec entries) one packet's payload may come in, from the device to the host socket and back:
 * a descriptor chain's own bound (64 segments; Linux's tx chains have at most 2 + MAX_SKB_FRAGS = 19), and the
 * 2 pieces of a wrapped ring buffer.  Arrays of this size live on the stack (1 KiB).
 */
#define VSOCK_PKT_IOV_MAX 64

/* A packet header in host byte order. */
struct vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
};

void vsock_hdr_decode(const uint8_t raw[VSOCK_HDR_SIZE], struct vsock_hdr *h);
void vsock_hdr_encode(const struct vsock_hdr *h, uint8_t raw[VSOCK_HDR_SIZE]);
/* "RW", "RST"... for log lines; "op 9" style for unknown values (buf of at least 16 bytes). */
const char *vsock_op_name(uint16_t op, char *buf, size_t len);

/*
 * Where the vsock layers' log lines go (guest misbehaviour and limits, one line each, without a newline).  The
 * default writes "nitrovm: vsock: <line>\n" to stderr.  NULL restores the default.
 */
typedef void vsock_log_fn(const char *line);
void vsock_set_log(vsock_log_fn *fn);
void vsock_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
