/* SPDX-License-Identifier: MIT */
/*
 * vhost-user for vsock: nitrovm's own vhost-user-vsock backend, which serves a
 * frontend's (QEMU's, or nitrovm's -M nitro-enclave,vsock=) virtio-vsock device with nitrovm's connection table
 * and host bridges, and the frontend side, for the emulated machine.  The protocol itself is vhost_user.h.
 */
#ifndef NITROVM_VHOST_H
#define NITROVM_VHOST_H

#include <stdbool.h>
#include <stdint.h>

#include "vsock/bridge.h"

struct evloop;
struct vhost_vsock_backend;

/*
 * Bytes of a frontend's message after its first: a frontend that stops in the middle of one for this long is
 * disconnected (the backend serves all its VMs from one thread).
 */
#define VHOST_USER_MSG_TIMEOUT_MS 5000
/* Queues the backend serves: rx, tx, and event (which QEMU's vhost-user-vsock keeps to itself). */
#define VHOST_VSOCK_QUEUES 3

struct vhost_vsock_config {
	uint64_t guest_cid;
	const char *socket;   /* the vhost-user socket the backend listens on */
	uint32_t forward_cid; /* every enclave connection nobody else takes goes to this CID, same port (0: none) */
	bool heartbeat;	      /* answer the enclave's heartbeat on parent port 9000 ourselves */
	struct bridge_config bridges; /* uds-path (Firecracker's protocol), forward-listen */
};

/*
 * Listen on c->socket (a stale socket file is replaced) and serve one frontend at a time on loop; when it
 * disconnects, its device is reset and the next one is awaited.  c must outlive the backend.  NULL with
 * err_msg().
 */
struct vhost_vsock_backend *vhost_vsock_backend_start(struct evloop *loop, const struct vhost_vsock_config *c);
void vhost_vsock_backend_stop(struct vhost_vsock_backend *b);

/*
 * One message of the frontend's, already received (m->fds now the backend's): what the backend does with it,
 * replies included (sent on fd).  0, or -errno: the connection must end.  Exposed for fuzz_vhost_user, which
 * drives a backend with no socket (fd -1: replies are dropped) and no loop.
 */
struct vhost_user_msg;
int vhost_vsock_backend_handle(struct vhost_vsock_backend *b, int fd, struct vhost_user_msg *m);
/* A backend for the fuzzer: no socket, no loop, no bridges.  NULL with err_msg(). */
struct vhost_vsock_backend *vhost_vsock_backend_new_detached(const struct vhost_vsock_config *c);

/* ---- the frontend (frontend.c): the emulated machine's vsock device served by an external backend ---- */

struct guest_mem;
struct virtio_mmio_dev;
struct virtio_device_ops;
struct vhost_vsock_frontend;

/* The backend went away, or refused what the device needed (why: one sentence): the enclave must end. */
typedef void (*vhost_frontend_gone_fn)(void *opaque, const char *why);

/*
 * Connect to the backend listening on path and do the handshake: features, SET_OWNER, the enclave's CID from
 * its configuration, the memory table (mem's regions, all inside the memfd mem_fd mapped at mem_base).  Calls
 * and the backend's hang-up are watched on loop.  NULL with err_msg() (no backend there, or one that cannot
 * serve a vsock device).
 */
struct vhost_vsock_frontend *vhost_vsock_frontend_connect(const char *path, const struct guest_mem *mem, int mem_fd,
							  const uint8_t *mem_base, struct evloop *loop,
							  vhost_frontend_gone_fn gone, void *opaque);
/* The device to put on a virtio-mmio transport (dev_opaque: the frontend), then attach the transport. */
const struct virtio_device_ops *vhost_vsock_frontend_ops(struct vhost_vsock_frontend *f);
void vhost_vsock_frontend_attach(struct vhost_vsock_frontend *f, struct virtio_mmio_dev *t);
/* The enclave's CID: the backend's guest-cid. */
uint64_t vhost_vsock_frontend_cid(const struct vhost_vsock_frontend *f);
void vhost_vsock_frontend_free(void *f);

#endif
