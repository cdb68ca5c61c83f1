// SPDX-License-Identifier: MIT
/*
 * The vhost-user frontend for the emulated machine's vsock device (-M nitro-enclave,vsock=ID with -chardev
 * socket,id=ID,path=P, QEMU's docs/system/i386/nitro-enclave.rst): the guest still sees nitrovm's virtio-mmio transport at
 * 0xd0000000, but its rx and tx rings are run by an external backend (rust-vmm's vhost-device-vsock, or
 * `nitrovm vhost-user-vsock`), as QEMU's nitro-enclave machine hands them to one.
 *
 * At connect: the features and protocol features handshake, SET_OWNER, the guest's CID from the backend's
 * configuration (GET_CONFIG: the backend's guest-cid is the enclave's CID), and the memory table: the
 * enclave's memory is one memfd, each guest-memory region of it is given with its offset in that file.  When
 * the driver sets DRIVER_OK: the agreed features, then each ready ring (size, base 0, addresses in our own
 * mapping, a kick and a call eventfd, enabled).  Kicks reach the backend through the kick eventfds; the
 * backend's calls come back on the call eventfds, which set InterruptStatus and raise the device's interrupt
 * (virtio-mmio has one interrupt and a status register the driver reads, so a call cannot go to KVM as an
 * irqfd directly).  A driver reset stops the rings (GET_VRING_BASE).  The event queue stays ours: nitrovm
 * never sends a vsock event.
 *
 * The backend is another process; what it sends is checked as any peer's (vhost_user_decode).  When it goes
 * away, the enclave ends with a sentence saying so.
 */
#include "vhost.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/util.h"
#include "hw/virtio/virtio.h"
#include "vhost_user.h"

/* vsock's rx and tx rings go to the backend; the event queue (2) stays with the device model here. */
#define FRONTEND_RINGS 2
#define VSOCK_QUEUES   3
/* The ring size our transport offers the driver (what Linux's vsock driver then uses). */
#define FRONTEND_QUEUE_MAX 256
/* Features nitrovm's transport always offers (virtio.h): the backend must offer them too. */
#define FRONTEND_REQUIRED VIRTIO_TRANSPORT_FEATURES
/* Device-specific feature bits passed through from the backend (virtio 1.2, 6: bits 0-23). */
#define FRONTEND_DEVICE_BITS 0xffffffULL
#define FRONTEND_PROTOCOL                                                                            \
	(VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK) | VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG))

struct vhost_vsock_frontend {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct evloop *loop;
	const struct guest_mem *mem;
	int mem_fd;
	const uint8_t *mem_base; /* the start of mem_fd's mapping: regions' file offsets are hva - mem_base */
	uint64_t features;	 /* the backend's */
	uint64_t protocol;	 /* agreed */
	uint64_t cid;
	struct virtio_device_ops ops;
	struct virtio_mmio_dev *t;
	int kick[FRONTEND_RINGS], call[FRONTEND_RINGS];
	bool running[FRONTEND_RINGS];
	bool broken; /* a request failed: the backend is not spoken to again */
	vhost_frontend_gone_fn gone;
	void *gone_opaque;
};

/* One request; with a reply (GET_*), or with REPLY_ACK's status when want_ack.  -errno with err_msg(). */
static int request(struct vhost_vsock_frontend *f, struct vhost_user_msg *m, struct vhost_user_msg *r, bool want_ack)
{
	bool ack = want_ack && (f->protocol & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK));
	uint32_t req = m->request;
	int ret;

	if (f->broken)
		return err_set(EPIPE, "the vhost-user backend at %s is gone", f->path);
	m->flags = VHOST_USER_VERSION | (ack ? VHOST_USER_FLAG_NEED_REPLY : 0);
	ret = vhost_user_send(f->fd, m);
	if (!ret && (r || ack)) {
		struct vhost_user_msg tmp;

		if (!r)
			r = &tmp;
		ret = vhost_user_recv(f->fd, true, VHOST_USER_MSG_TIMEOUT_MS, r);
		if (!ret && r->request != req) {
			vhost_user_close_fds(r);
			ret = err_set(EPROTO, "the vhost-user backend answered %s with %s", vhost_user_request_name(req),
				      vhost_user_request_name(r->request));
		}
		if (!ret && r->nfds) {
			vhost_user_close_fds(r);
			ret = err_set(EPROTO, "the vhost-user backend sent descriptors with its answer");
		}
		if (!ret && !r->nfds && r == &tmp && tmp.u64)
			ret = err_set(EIO, "the vhost-user backend refused %s", vhost_user_request_name(req));
	}
	if (ret == -ECONNRESET)
		ret = err_set(ECONNRESET, "the vhost-user backend at %s closed the connection", f->path);
	if (ret < 0)
		f->broken = true;
	return ret;
}

static int get_u64(struct vhost_vsock_frontend *f, uint32_t req, uint64_t *out)
{
	struct vhost_user_msg m = { .request = req }, r;
	int ret = request(f, &m, &r, false);

	if (!ret)
		*out = r.u64;
	return ret;
}

static int set_u64(struct vhost_vsock_frontend *f, uint32_t req, uint64_t v)
{
	struct vhost_user_msg m = { .request = req, .u64 = v };

	return request(f, &m, NULL, true);
}

static int set_state(struct vhost_vsock_frontend *f, uint32_t req, uint32_t index, uint32_t num)
{
	struct vhost_user_msg m = { .request = req, .state = { index, num } };

	return request(f, &m, NULL, true);
}

static int set_ring_fd(struct vhost_vsock_frontend *f, uint32_t req, uint32_t index, int fd)
{
	struct vhost_user_msg m = { .request = req, .u64 = index, .nfds = 1 };

	m.fds[0] = fd;
	return request(f, &m, NULL, true);
}

static int read_cid(struct vhost_vsock_frontend *f)
{
	struct vhost_user_msg m = { .request = VHOST_USER_GET_CONFIG, .config = { .offset = 0, .size = 8 } }, r;
	int ret = request(f, &m, &r, false);

	if (ret < 0)
		return ret;
	if (r.config.size != 8)
		return err_set(EPROTO, "the vhost-user backend gave %u bytes of the vsock configuration (8 expected)",
			       r.config.size);
	f->cid = get_le64(r.config.data);
	if (f->cid < 3 || f->cid >= 0xffffffffULL)
		return err_set(EPROTO, "the vhost-user backend gives the enclave CID %llu, which is reserved",
			       (unsigned long long)f->cid);
	return 0;
}

static int send_mem_table(struct vhost_vsock_frontend *f)
{
	struct vhost_user_msg m = { .request = VHOST_USER_SET_MEM_TABLE };

	if (!f->mem->nregions || f->mem->nregions > VHOST_USER_MAX_REGIONS)
		return err_set(EINVAL, "%u guest memory regions cannot be shared over vhost-user", f->mem->nregions);
	m.mem.nregions = f->mem->nregions;
	m.nfds = f->mem->nregions;
	for (unsigned int i = 0; i < f->mem->nregions; i++) {
		const struct guest_mem_region *r = &f->mem->regions[i];

		m.mem.regions[i] = (struct vhost_user_region){ r->gpa, r->size, (uint64_t)(uintptr_t)r->hva,
							       (uint64_t)(r->hva - f->mem_base) };
		m.fds[i] = f->mem_fd;
	}
	return request(f, &m, NULL, true);
}

static int handshake(struct vhost_vsock_frontend *f)
{
	uint64_t proto = 0;
	int ret = get_u64(f, VHOST_USER_GET_FEATURES, &f->features);

	if (ret < 0)
		return ret;
	if (!(f->features & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES)))
		return err_set(EPROTO, "the vhost-user backend at %s does not speak protocol features (its configuration, "
				       "the enclave's CID, cannot be read)", f->path);
	if ((f->features & FRONTEND_REQUIRED) != FRONTEND_REQUIRED)
		return err_set(EPROTO, "the vhost-user backend at %s lacks virtio features %#llx that nitrovm's transport "
				       "offers the enclave", f->path,
			       (unsigned long long)(FRONTEND_REQUIRED & ~f->features));
	ret = get_u64(f, VHOST_USER_GET_PROTOCOL_FEATURES, &proto);
	if (ret < 0)
		return ret;
	if (!(proto & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG)))
		return err_set(EPROTO, "the vhost-user backend at %s cannot give its configuration (no "
				       "VHOST_USER_PROTOCOL_F_CONFIG): the enclave's CID is unknown", f->path);
	/* REPLY_ACK holds from the next message on: this one is never acknowledged (as QEMU sends it). */
	{
		struct vhost_user_msg m = { .request = VHOST_USER_SET_PROTOCOL_FEATURES, .u64 = proto & FRONTEND_PROTOCOL };

		ret = request(f, &m, NULL, false);
		f->protocol = m.u64;
	}
	if (!ret) {
		struct vhost_user_msg m = { .request = VHOST_USER_SET_OWNER };

		ret = request(f, &m, NULL, true);
	}
	if (!ret)
		ret = read_cid(f);
	if (!ret)
		ret = send_mem_table(f);
	return ret;
}

/* ---- the device, as the transport sees it (callbacks run with its lock held) ---- */

static void fe_config_read(void *dev, uint64_t off, void *data, unsigned int len)
{
	struct vhost_vsock_frontend *f = dev;
	uint8_t cfg[8];

	if (off >= sizeof(cfg) || len > sizeof(cfg) - off)
		return;
	put_le64(cfg, f->cid);
	memcpy(data, cfg + off, len);
}

static void fe_queue_notify(void *dev, struct virtio_mmio_dev *t, unsigned int queue)
{
	struct vhost_vsock_frontend *f = dev;
	uint64_t one = 1;

	(void)t;
	if (queue < FRONTEND_RINGS && f->running[queue] && write(f->kick[queue], &one, sizeof(one)) < 0) {
		/* A full counter: the backend has a kick to read already. */
	}
}

static void fail(struct vhost_vsock_frontend *f)
{
	fprintf(stderr, "nitrovm: vsock: %s\n", err_msg());
	if (f->gone)
		f->gone(f->gone_opaque, err_msg());
}

static int start_ring(struct vhost_vsock_frontend *f, struct virtio_mmio_dev *t, unsigned int i)
{
	struct virtq *q = virtio_mmio_vq(t, i);
	uint64_t desc, avail, used;
	uint32_t num;
	struct vhost_user_msg m = { .request = VHOST_USER_SET_VRING_ADDR };
	int ret;

	if (!virtq_ready(q))
		return 0;
	virtq_layout(q, &num, &desc, &avail, &used);
	m.addr = (struct vhost_user_vring_addr){
		.index = i,
		.desc = (uint64_t)(uintptr_t)guest_mem_ptr(f->mem, desc, 1),
		.avail = (uint64_t)(uintptr_t)guest_mem_ptr(f->mem, avail, 1),
		.used = (uint64_t)(uintptr_t)guest_mem_ptr(f->mem, used, 1),
	};
	ret = set_state(f, VHOST_USER_SET_VRING_NUM, i, num);
	if (!ret)
		ret = set_state(f, VHOST_USER_SET_VRING_BASE, i, 0);
	if (!ret)
		ret = request(f, &m, NULL, true);
	if (!ret)
		ret = set_ring_fd(f, VHOST_USER_SET_VRING_KICK, i, f->kick[i]);
	if (!ret)
		ret = set_ring_fd(f, VHOST_USER_SET_VRING_CALL, i, f->call[i]);
	if (!ret)
		ret = set_state(f, VHOST_USER_SET_VRING_ENABLE, i, 1);
	if (!ret)
		f->running[i] = true;
	return ret;
}

static void fe_driver_ok(void *dev, struct virtio_mmio_dev *t)
{
	struct vhost_vsock_frontend *f = dev;
	/* The driver's features; the backend also needs to hear that we speak protocol features. */
	uint64_t agreed = virtio_mmio_negotiated(t) | VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES);
	int ret = set_u64(f, VHOST_USER_SET_FEATURES, agreed);

	for (unsigned int i = 0; !ret && i < FRONTEND_RINGS; i++)
		ret = start_ring(f, t, i);
	if (ret < 0)
		fail(f);
}

static void fe_reset(void *dev)
{
	struct vhost_vsock_frontend *f = dev;

	for (unsigned int i = 0; i < FRONTEND_RINGS; i++) {
		struct vhost_user_msg m = { .request = VHOST_USER_GET_VRING_BASE, .state = { i, 0 } }, r;

		if (!f->running[i])
			continue;
		f->running[i] = false;
		if (request(f, &m, &r, false) < 0) {
			fail(f);
			return;
		}
	}
}

/* ---- the loop's side: calls and the backend going away ---- */

static void on_call(void *opaque, int fd, uint32_t events)
{
	struct vhost_vsock_frontend *f = opaque;
	uint64_t n;

	(void)events;
	if (read(fd, &n, sizeof(n)) < 0)
		return;
	virtio_mmio_lock(f->t);
	virtio_mmio_used_interrupt(f->t);
	virtio_mmio_unlock(f->t);
}

static void on_hangup(void *opaque, int fd, uint32_t events)
{
	struct vhost_vsock_frontend *f = opaque;

	(void)events;
	evloop_del(f->loop, fd);
	err_set(ECONNRESET, "the vhost-user backend at %s went away: the enclave's vsock device has no backend any "
			    "more", f->path);
	fail(f);
}

static int connect_backend(struct vhost_vsock_frontend *f, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(ENAMETOOLONG, "vhost-user socket path %s is too long", path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	snprintf(f->path, sizeof(f->path), "%s", path);
	f->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f->fd < 0)
		return err_set(errno, "cannot create a socket: %s", strerror(errno));
	if (connect(f->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return err_set(errno, "cannot connect to the vhost-user backend at %s: %s (the backend must be "
				      "listening there before the enclave starts)", path, strerror(errno));
	return 0;
}

struct vhost_vsock_frontend *vhost_vsock_frontend_connect(const char *path, const struct guest_mem *mem, int mem_fd,
							  const uint8_t *mem_base, struct evloop *loop,
							  vhost_frontend_gone_fn gone, void *opaque)
{
	struct vhost_vsock_frontend *f = calloc(1, sizeof(*f));

	if (!f) {
		err_set(ENOMEM, "out of memory");
		return NULL;
	}
	f->fd = -1;
	f->mem = mem;
	f->mem_fd = mem_fd;
	f->mem_base = mem_base;
	f->loop = loop;
	f->gone = gone;
	f->gone_opaque = opaque;
	for (unsigned int i = 0; i < FRONTEND_RINGS; i++)
		f->kick[i] = f->call[i] = -1;
	if (connect_backend(f, path) < 0 || handshake(f) < 0)
		goto fail;
	for (unsigned int i = 0; i < FRONTEND_RINGS; i++) {
		f->kick[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		f->call[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (f->kick[i] < 0 || f->call[i] < 0) {
			err_set(errno, "cannot create eventfds: %s", strerror(errno));
			goto fail;
		}
		if (loop && evloop_add(loop, f->call[i], EPOLLIN, on_call, f) < 0)
			goto fail;
	}
	/* The backend never speaks first: its socket is watched for the hang-up alone. */
	if (loop && evloop_add(loop, f->fd, EPOLLRDHUP, on_hangup, f) < 0)
		goto fail;
	f->ops = (struct virtio_device_ops){
		.device_id = VIRTIO_ID_VSOCK,
		.num_queues = VSOCK_QUEUES,
		.queue_max_size = FRONTEND_QUEUE_MAX,
		.features = f->features & FRONTEND_DEVICE_BITS,
		.config_read = fe_config_read,
		.queue_notify = fe_queue_notify,
		.reset = fe_reset,
		.driver_ok = fe_driver_ok,
	};
	return f;
fail:
	vhost_vsock_frontend_free(f);
	return NULL;
}

const struct virtio_device_ops *vhost_vsock_frontend_ops(struct vhost_vsock_frontend *f)
{
	return &f->ops;
}

void vhost_vsock_frontend_attach(struct vhost_vsock_frontend *f, struct virtio_mmio_dev *t)
{
	f->t = t;
}

uint64_t vhost_vsock_frontend_cid(const struct vhost_vsock_frontend *f)
{
	return f->cid;
}

void vhost_vsock_frontend_free(void *opaque)
{
	struct vhost_vsock_frontend *f = opaque;

	if (!f)
		return;
	for (unsigned int i = 0; i < FRONTEND_RINGS; i++) {
		if (f->call[i] >= 0) {
			if (f->loop)
				evloop_del(f->loop, f->call[i]);
			close(f->call[i]);
		}
		if (f->kick[i] >= 0)
			close(f->kick[i]);
	}
	if (f->fd >= 0) {
		if (f->loop)
			evloop_del(f->loop, f->fd);
		close(f->fd);
	}
	free(f);
}
