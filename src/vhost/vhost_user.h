/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user protocol (QEMU's docs/interop/vhost-user.rst): a frontend (the VMM that has the guest's
 * memory) hands a device's virtqueues to a backend over a Unix socket.  Each message is a 12-byte header
 * (request, flags, payload size; host byte order, little-endian here) and its payload; file descriptors travel
 * as SCM_RIGHTS with the message.  The backend shares the guest's memory by the descriptors of SET_MEM_TABLE,
 * learns each ring's addresses, and is kicked and calls through eventfds.
 *
 * Both sides of nitrovm use this file: the backend (backend.c, `nitrovm vhost-user-vsock`) and the frontend
 * (frontend.c, -M nitro-enclave,vsock=ID).  What arrives on the socket is untrusted either way:
 * vhost_user_decode() checks every size, index and descriptor count before anything is used, and is what
 * fuzz_vhost_user drives.
 */
#ifndef NITROVM_VHOST_USER_H
#define NITROVM_VHOST_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vhost_user_request {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_RESET_OWNER = 4,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_LOG_BASE = 6,
	VHOST_USER_SET_LOG_FD = 7,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_SET_VRING_ERR = 14,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_GET_QUEUE_NUM = 17,
	VHOST_USER_SET_VRING_ENABLE = 18,
	VHOST_USER_SEND_RARP = 19,
	VHOST_USER_NET_SET_MTU = 20,
	VHOST_USER_SET_BACKEND_REQ_FD = 21,
	VHOST_USER_IOTLB_MSG = 22,
	VHOST_USER_SET_VRING_ENDIAN = 23,
	VHOST_USER_GET_CONFIG = 24,
	VHOST_USER_SET_CONFIG = 25,
	VHOST_USER_RESET_DEVICE = 34,
	VHOST_USER_GET_MAX_MEM_SLOTS = 36,
	VHOST_USER_SET_STATUS = 39,
	VHOST_USER_GET_STATUS = 40,
	VHOST_USER_REQUEST_MAX = 64, /* above every request number defined */
};

/* Header flags: the version in bits 0-1, then reply and need-reply. */
#define VHOST_USER_VERSION	    0x1
#define VHOST_USER_VERSION_MASK	    0x3
#define VHOST_USER_FLAG_REPLY	    (1u << 2)
#define VHOST_USER_FLAG_NEED_REPLY  (1u << 3)
#define VHOST_USER_HDR_SIZE	    12

/* A virtio feature bit that is the protocol's own: the backend speaks the protocol-features handshake. */
#define VHOST_USER_F_PROTOCOL_FEATURES 30
/* Protocol features (GET_PROTOCOL_FEATURES). */
#define VHOST_USER_PROTOCOL_F_MQ	   0
#define VHOST_USER_PROTOCOL_F_REPLY_ACK	   3
#define VHOST_USER_PROTOCOL_F_CONFIG	   9
#define VHOST_USER_PROTOCOL_F_RESET_DEVICE 13

/* SET_VRING_KICK/CALL/ERR: the queue index in bits 0-7; bit 8 says no descriptor comes (polling). */
#define VHOST_USER_VRING_IDX_MASK  0xff
#define VHOST_USER_VRING_NOFD_MASK (1u << 8)

/*
 * Memory regions of one SET_MEM_TABLE without VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS (which neither side
 * offers): QEMU's VHOST_MEMORY_BASELINE_NREGIONS, and so also the most descriptors one message carries.
 */
#define VHOST_USER_MAX_REGIONS 8
#define VHOST_USER_MAX_FDS     VHOST_USER_MAX_REGIONS
/* GET_CONFIG/SET_CONFIG carry at most this much of the device's configuration space. */
#define VHOST_USER_MAX_CONFIG 256
/* The largest payload of any message we accept: a memory table (8 + 8 * 32) or a config (12 + 256). */
#define VHOST_USER_PAYLOAD_MAX (12 + VHOST_USER_MAX_CONFIG)

struct vhost_user_region {
	uint64_t gpa;	     /* guest physical address */
	uint64_t size;
	uint64_t uaddr;	     /* where the frontend has it mapped: ring addresses are given in these terms */
	uint64_t mmap_offset; /* of the region within its descriptor */
};

struct vhost_user_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc, used, avail, log; /* frontend user addresses */
};

/* A decoded message: which fields hold depends on the request. */
struct vhost_user_msg {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
	union {
		uint64_t u64;				  /* features, kick/call/err index word, status */
		struct { uint32_t index, num; } state;	  /* vring num, base, enable */
		struct vhost_user_vring_addr addr;
		struct {
			uint32_t nregions;
			struct vhost_user_region regions[VHOST_USER_MAX_REGIONS];
		} mem;
		struct {
			uint32_t offset, size, flags;
			uint8_t data[VHOST_USER_MAX_CONFIG];
		} config;
	};
	int fds[VHOST_USER_MAX_FDS];
	unsigned int nfds;
};

/*
 * Check one message of len bytes (header and payload) that came with nfds descriptors: the version, the
 * payload size the request needs exactly, counts and offsets inside their bounds, and the descriptor count the
 * request takes (a memory table one per region, a kick or call one unless it says it has none, others none).
 * A reply (is_reply) must carry the REPLY flag.  Fills m (m->fds are set by the caller, not here).  0, or
 * -EPROTO with err_msg() saying what is wrong.
 */
int vhost_user_decode(const uint8_t *buf, size_t len, unsigned int nfds, bool is_reply, struct vhost_user_msg *m);
const char *vhost_user_request_name(uint32_t request);

/*
 * Read one message from the socket fd, waiting at most timeout_ms for each piece of it (the first too):
 * 0 with *m filled and m->fds owned by the caller, -ECONNRESET when the peer closed, or -EPROTO/-errno with
 * err_msg().  Descriptors of a message refused are closed here.
 */
int vhost_user_recv(int fd, bool is_reply, int timeout_ms, struct vhost_user_msg *m);
/* Send one message with fds (m->nfds of m->fds).  0 or -errno with err_msg(). */
int vhost_user_send(int fd, const struct vhost_user_msg *m);
void vhost_user_close_fds(struct vhost_user_msg *m);

#endif
