// SPDX-License-Identifier: MIT
/*
 * nitrovm's vhost-user-vsock backend (vhost.h): a frontend's virtio-vsock device served by the same pieces that
 * serve nitrovm's own enclaves -- the virtio-vsock device model (hw/virtio/vsock.c) on a virtio-mmio transport,
 * the connection table and the emulated parent side (vsock/), the host bridges and the heartbeat.
 *
 * The transport is driven by this file instead of a guest's vCPUs: what the frontend says of a ring (its size,
 * its addresses, its base, its kick) becomes the register writes a driver would make, once the ring may run
 * (it has a kick descriptor and, with protocol features, was enabled).  So every check the transport and the
 * split-ring code make of a guest's rings and buffers holds here too.  The ring addresses come in the
 * frontend's own address space and are turned into guest-physical ones through the memory table; buffer
 * addresses are guest-physical already.  Each queue interrupts its driver through its own call eventfd.
 *
 * Everything runs on the event loop's thread: messages, kicks, host streams.
 */
#include "vhost.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "common/evloop.h"
#include "common/util.h"
#include "enclave/heartbeat.h"
#include "hw/guest_mem.h"
#include "hw/virtio/virtio.h"
#include "vhost_user.h"
#include "vsock/conn.h"
#include "vsock/endpoint.h"

/*
 * Ring sizes a frontend may choose: any split ring (QEMU's vhost-user-vsock rings have 1024 entries).  The
 * device model does not depend on the size; each chain's walk is bounded by it.
 */
#define VHOST_VSOCK_QUEUE_MAX VIRTQ_MAX_SIZE
#define VHOST_VRING_F_LOG     0x1

/* Virtio features offered: the transport's (version 1, indirect descriptors, event index), and the protocol's. */
#define BACKEND_FEATURES (VIRTIO_TRANSPORT_FEATURES | VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES))
#define BACKEND_PROTOCOL_FEATURES                                                                  \
	(VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK) | VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG) | \
	 VIRTIO_BIT(VHOST_USER_PROTOCOL_F_RESET_DEVICE))

struct vring {
	struct vhost_vsock_backend *b;
	unsigned int index;
	uint32_t num;
	struct vhost_user_vring_addr addr;
	bool addr_set;
	uint16_t base;
	int kick, call, err;
	bool started; /* it has a kick descriptor */
	bool enabled; /* SET_VRING_ENABLE 1 (or no protocol features: enabled when started) */
	bool active;  /* the transport's queue runs it */
};

struct vhost_vsock_backend {
	const struct vhost_vsock_config *c;
	struct evloop *loop;
	int lfd, fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];

	struct guest_mem mem;
	uint64_t uaddr[VHOST_USER_MAX_REGIONS];
	void *map[VHOST_USER_MAX_REGIONS];
	size_t map_len[VHOST_USER_MAX_REGIONS];

	struct vsock_mux *mux;
	struct vsock_emul *emul;
	struct virtio_vsock *dev;
	struct virtio_mmio_dev *t;
	struct virtio_device_ops ops; /* virtio-vsock's, with the frontend's ring sizes */
	bool transport_up;
	struct heartbeat *hb;
	struct bridge_set *bridges;
	int any_lfd; /* forward-cid's catch-all listener */

	uint64_t features, protocol;
	bool protocol_acked; /* VHOST_USER_F_PROTOCOL_FEATURES was acked: rings start disabled */
	bool warned_seal;
	struct vring vq[VHOST_VSOCK_QUEUES];
};

static void blog(const struct vhost_vsock_backend *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void blog(const struct vhost_vsock_backend *b, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "nitrovm: vhost-user-vsock CID %llu: %s\n", (unsigned long long)b->c->guest_cid, line);
}

/* ---- the transport, driven as a driver would ---- */

static void reg_write(struct vhost_vsock_backend *b, uint64_t off, uint32_t v)
{
	virtio_mmio_access(b->t, off, &v, 4, true);
}

static uint32_t reg_read(struct vhost_vsock_backend *b, uint64_t off)
{
	uint32_t v = 0;

	virtio_mmio_access(b->t, off, &v, 4, false);
	return v;
}

/* A frontend address (its own mapping of guest memory) as guest-physical, or false. */
static bool uaddr_to_gpa(const struct vhost_vsock_backend *b, uint64_t ua, uint64_t *gpa)
{
	for (unsigned int i = 0; i < b->mem.nregions; i++) {
		const struct guest_mem_region *r = &b->mem.regions[i];

		if (ua >= b->uaddr[i] && ua - b->uaddr[i] < r->size) {
			*gpa = r->gpa + (ua - b->uaddr[i]);
			return true;
		}
	}
	return false;
}

static void write_gpa(struct vhost_vsock_backend *b, uint64_t lo_off, uint64_t gpa)
{
	reg_write(b, lo_off, (uint32_t)gpa);
	reg_write(b, lo_off + 4, (uint32_t)(gpa >> 32));
}

static bool transport_bring_up(struct vhost_vsock_backend *b)
{
	/* Legacy drivers (QEMU's virtio-mmio default) do not ack VERSION_1; the split ring is the same here. */
	uint64_t f = (b->features & VIRTIO_TRANSPORT_FEATURES) | VIRTIO_BIT(VIRTIO_F_VERSION_1);
	uint32_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	reg_write(b, VIRTIO_MMIO_STATUS, 0);
	reg_write(b, VIRTIO_MMIO_STATUS, st);
	reg_write(b, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	reg_write(b, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
	reg_write(b, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	reg_write(b, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
	reg_write(b, VIRTIO_MMIO_STATUS, st | VIRTIO_STATUS_FEATURES_OK);
	reg_write(b, VIRTIO_MMIO_STATUS, st | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	if (!(reg_read(b, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK)) {
		blog(b, "the device refused features %#llx", (unsigned long long)f);
		return false;
	}
	b->transport_up = true;
	return true;
}

/* Start running ring v in the transport: its registers as a driver writes them, then the frontend's base. */
static bool ring_activate(struct vhost_vsock_backend *b, struct vring *v)
{
	uint64_t desc, avail, used;
	struct virtq *q;

	if (!uaddr_to_gpa(b, v->addr.desc, &desc) || !uaddr_to_gpa(b, v->addr.avail, &avail) ||
	    !uaddr_to_gpa(b, v->addr.used, &used)) {
		blog(b, "queue %u: ring addresses outside the memory table", v->index);
		return false;
	}
	reg_write(b, VIRTIO_MMIO_QUEUE_SEL, v->index);
	reg_write(b, VIRTIO_MMIO_QUEUE_NUM, v->num);
	write_gpa(b, VIRTIO_MMIO_QUEUE_DESC_LOW, desc);
	write_gpa(b, VIRTIO_MMIO_QUEUE_DRIVER_LOW, avail);
	write_gpa(b, VIRTIO_MMIO_QUEUE_DEVICE_LOW, used);
	reg_write(b, VIRTIO_MMIO_QUEUE_READY, 1);
	if (!reg_read(b, VIRTIO_MMIO_QUEUE_READY)) {
		blog(b, "queue %u: the rings are unusable (see the line above)", v->index);
		return false;
	}
	virtio_mmio_lock(b->t);
	q = virtio_mmio_vq(b->t, v->index);
	virtq_set_next_avail(q, v->base);
	virtio_mmio_unlock(b->t);
	v->active = true;
	return true;
}

static void ring_deactivate(struct vhost_vsock_backend *b, struct vring *v)
{
	if (!v->active)
		return;
	virtio_mmio_lock(b->t);
	v->base = virtq_next_avail(virtio_mmio_vq(b->t, v->index));
	virtio_mmio_unlock(b->t);
	reg_write(b, VIRTIO_MMIO_QUEUE_SEL, v->index);
	reg_write(b, VIRTIO_MMIO_QUEUE_READY, 0);
	v->active = false;
}

static bool ring_wanted(const struct vhost_vsock_backend *b, const struct vring *v)
{
	return v->started && v->enabled && v->addr_set && v->num && b->mem.nregions;
}

static void heartbeat_restart(struct vhost_vsock_backend *b);

/* Make the transport run exactly the rings that may run; the device is reset when none does. */
static void rings_sync(struct vhost_vsock_backend *b)
{
	bool any = false;

	for (unsigned int i = 0; i < VHOST_VSOCK_QUEUES; i++)
		any |= ring_wanted(b, &b->vq[i]);
	if (any && !b->transport_up && !transport_bring_up(b))
		return;
	for (unsigned int i = 0; i < VHOST_VSOCK_QUEUES; i++) {
		struct vring *v = &b->vq[i];

		if (ring_wanted(b, v) && !v->active && ring_activate(b, v))
			virtio_mmio_queue_notify(b->t, i); /* buffers made available before the start */
		else if (!ring_wanted(b, v))
			ring_deactivate(b, v);
	}
	if (!any && b->transport_up) {
		/* The driver is gone (stopped, reset, rebooting): so are its connections, as on a device reset. */
		reg_write(b, VIRTIO_MMIO_STATUS, 0);
		b->transport_up = false;
		heartbeat_restart(b);
	}
}

/* ---- descriptors the frontend gives ---- */

static void on_kick(void *opaque, int fd, uint32_t events)
{
	struct vring *v = opaque;
	uint64_t n;

	(void)events;
	if (read(fd, &n, sizeof(n)) < 0) {
		/* Nothing counted yet (a spurious wake-up): nothing to do. */
	}
	if (v->active)
		virtio_mmio_queue_notify(v->b->t, v->index);
}

/*
 * A kick, call or error descriptor of the frontend's.  Made non-blocking: a call to a descriptor that cannot take
 * it (a full pipe instead of an eventfd) must not stop the one thread serving every VM.
 */
static void set_fd(int *slot, int fd)
{
	if (*slot >= 0)
		close(*slot);
	if (fd >= 0) {
		int fl = fcntl(fd, F_GETFL);

		if (fl >= 0 && !(fl & O_NONBLOCK))
			fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	}
	*slot = fd;
}

static void set_kick(struct vhost_vsock_backend *b, struct vring *v, int fd)
{
	if (v->kick >= 0 && b->loop)
		evloop_del(b->loop, v->kick);
	set_fd(&v->kick, fd);
	if (fd >= 0 && b->loop && evloop_add(b->loop, fd, EPOLLIN, on_kick, v) < 0)
		blog(b, "queue %u: cannot watch the kick descriptor: %s", v->index, err_msg());
}

/* The transport interrupts queue's driver: its call eventfd. */
static void queue_irq(void *opaque, unsigned int queue)
{
	struct vhost_vsock_backend *b = opaque;
	uint64_t one = 1;

	if (queue < VHOST_VSOCK_QUEUES && b->vq[queue].call >= 0 && write(b->vq[queue].call, &one, sizeof(one)) < 0) {
		/* A full counter still wakes the frontend. */
	}
}

/* The device found the driver broke a rule: the frontend hears of it through the queues' error eventfds. */
static void device_error_irq(void *opaque)
{
	struct vhost_vsock_backend *b = opaque;
	uint64_t one = 1;

	for (unsigned int i = 0; i < VHOST_VSOCK_QUEUES; i++)
		if (b->vq[i].err >= 0 && write(b->vq[i].err, &one, sizeof(one)) < 0) {
			/* As for calls. */
		}
}

static void unmap_memory(struct vhost_vsock_backend *b)
{
	for (unsigned int i = 0; i < b->mem.nregions; i++)
		munmap(b->map[i], b->map_len[i]);
	b->mem.nregions = 0;
}

static void rings_forget(struct vhost_vsock_backend *b)
{
	for (unsigned int i = 0; i < VHOST_VSOCK_QUEUES; i++) {
		struct vring *v = &b->vq[i];

		set_kick(b, v, -1);
		set_fd(&v->call, -1);
		set_fd(&v->err, -1);
		*v = (struct vring){ .b = b, .index = i, .kick = -1, .call = -1, .err = -1 };
	}
}

/* RESET_OWNER, RESET_DEVICE and a frontend that went away: back to the state before the first message. */
static void device_reset(struct vhost_vsock_backend *b)
{
	for (unsigned int i = 0; i < VHOST_VSOCK_QUEUES; i++)
		b->vq[i].started = false;
	rings_sync(b);
	rings_forget(b);
	unmap_memory(b);
	b->features = b->protocol = 0;
	b->protocol_acked = false;
}

/* ---- messages ---- */

static int reply(struct vhost_vsock_backend *b, int fd, const struct vhost_user_msg *req, struct vhost_user_msg *r)
{
	r->request = req->request;
	r->flags = VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY;
	r->nfds = 0;
	(void)b;
	return fd >= 0 ? vhost_user_send(fd, r) : 0;
}

static int reply_u64(struct vhost_vsock_backend *b, int fd, const struct vhost_user_msg *req, uint64_t v)
{
	struct vhost_user_msg r = { .u64 = v };

	return reply(b, fd, req, &r);
}

/*
 * A frontend that shrank its memory file under us would fault the backend (SIGBUS).  QEMU's memfd backends seal
 * against that by default; a file without the seal is accepted with one line saying so.
 */
static void check_seals(struct vhost_vsock_backend *b, int fd)
{
	int seals = fcntl(fd, F_GET_SEALS);

	if (seals >= 0 && !(seals & F_SEAL_SHRINK) && !b->warned_seal) {
		blog(b, "the frontend's memory is not sealed against shrinking (QEMU's memfd backends are, by default)");
		b->warned_seal = true;
	}
}

static int set_mem_table(struct vhost_vsock_backend *b, struct vhost_user_msg *m)
{
	if (b->transport_up) {
		blog(b, "the memory table changed while the device ran: it is reset");
		for (unsigned int i = 0; i < VHOST_VSOCK_QUEUES; i++)
			ring_deactivate(b, &b->vq[i]);
		reg_write(b, VIRTIO_MMIO_STATUS, 0);
		b->transport_up = false;
	}
	unmap_memory(b);
	for (unsigned int i = 0; i < m->mem.nregions; i++) {
		const struct vhost_user_region *r = &m->mem.regions[i];
		uint64_t len = r->mmap_offset + r->size; /* decode checked it does not wrap */
		void *p;

		struct stat st;

		/* Past the end of its file a mapping faults (SIGBUS): the region must lie inside the file. */
		if (fstat(m->fds[i], &st) < 0 || st.st_size < 0 || (uint64_t)st.st_size < len) {
			unmap_memory(b);
			return err_set(EINVAL, "vhost-user: memory region %u (%llu bytes at offset %llu) is not inside its "
					  "file (of %lld bytes)", i, (unsigned long long)r->size,
				       (unsigned long long)r->mmap_offset, (long long)st.st_size);
		}
		check_seals(b, m->fds[i]);
		if (len > SIZE_MAX || (p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
						m->fds[i], 0)) == MAP_FAILED) {
			int err = errno;

			unmap_memory(b);
			return err_set(err ? err : EINVAL, "vhost-user: cannot map memory region %u (%llu bytes at offset "
					  "%llu): %s", i, (unsigned long long)r->size, (unsigned long long)r->mmap_offset,
					  strerror(err ? err : EINVAL));
		}
		b->map[i] = p;
		b->map_len[i] = (size_t)len;
		b->uaddr[i] = r->uaddr;
		b->mem.regions[i] = (struct guest_mem_region){ r->gpa, r->size, (uint8_t *)p + r->mmap_offset };
		b->mem.nregions = i + 1;
	}
	vhost_user_close_fds(m);
	rings_sync(b);
	return 0;
}

static struct vring *ring_of(struct vhost_vsock_backend *b, uint32_t index)
{
	if (index >= VHOST_VSOCK_QUEUES) {
		err_set(EPROTO, "vhost-user: queue %u does not exist (vsock has %d)", index, VHOST_VSOCK_QUEUES);
		return NULL;
	}
	return &b->vq[index];
}

static int get_config(struct vhost_vsock_backend *b, int fd, const struct vhost_user_msg *m)
{
	struct vhost_user_msg r = { .config = { .offset = m->config.offset, .size = m->config.size } };

	/* Byte by byte: the transport takes accesses of 1 to 8 bytes, and the space is 8 bytes anyway. */
	for (uint32_t i = 0; i < m->config.size; i++)
		virtio_mmio_access(b->t, VIRTIO_MMIO_CONFIG + m->config.offset + i, &r.config.data[i], 1, false);
	return reply(b, fd, m, &r);
}

/* Requests about one ring. */
static int ring_request(struct vhost_vsock_backend *b, int fd, struct vhost_user_msg *m)
{
	uint32_t index = m->request == VHOST_USER_SET_VRING_ADDR ? m->addr.index
			 : (m->request == VHOST_USER_SET_VRING_KICK || m->request == VHOST_USER_SET_VRING_CALL ||
			    m->request == VHOST_USER_SET_VRING_ERR)
				 ? (uint32_t)(m->u64 & VHOST_USER_VRING_IDX_MASK)
				 : m->state.index;
	struct vring *v = ring_of(b, index);
	int nfd = m->nfds ? m->fds[0] : -1;

	if (!v)
		return -EPROTO;
	switch (m->request) {
	case VHOST_USER_SET_VRING_NUM:
		if (!m->state.num || m->state.num > VHOST_VSOCK_QUEUE_MAX || (m->state.num & (m->state.num - 1)))
			return err_set(EPROTO, "vhost-user: queue %u of size %u (a power of two up to %d)", index,
				       m->state.num, VHOST_VSOCK_QUEUE_MAX);
		if (v->active)
			return err_set(EPROTO, "vhost-user: queue %u resized while it runs", index);
		v->num = m->state.num;
		return 0;
	case VHOST_USER_SET_VRING_BASE:
		if (m->state.num > UINT16_MAX)
			return err_set(EPROTO, "vhost-user: queue %u base %u (split rings count to 65535)", index,
				       m->state.num);
		if (v->active)
			return err_set(EPROTO, "vhost-user: queue %u base set while it runs", index);
		v->base = (uint16_t)m->state.num;
		return 0;
	case VHOST_USER_SET_VRING_ADDR:
		if (v->active)
			return err_set(EPROTO, "vhost-user: queue %u moved while it runs", index);
		if (m->addr.flags & ~VHOST_VRING_F_LOG)
			return err_set(EPROTO, "vhost-user: queue %u address flags %#x", index, m->addr.flags);
		v->addr = m->addr;
		v->addr_set = true;
		return 0;
	case VHOST_USER_GET_VRING_BASE: {
		struct vhost_user_msg r = { .state = { index, 0 } };

		/* The ring stops (vhost-user.rst): what the driver made available after base stays for the next start. */
		v->started = false;
		rings_sync(b);
		set_kick(b, v, -1);
		r.state.num = v->base;
		return reply(b, fd, m, &r);
	}
	case VHOST_USER_SET_VRING_KICK:
		if (nfd < 0)
			return err_set(EPROTO, "vhost-user: queue %u without a kick descriptor (polling is not offered)",
				       index);
		m->nfds = 0;
		set_kick(b, v, nfd);
		v->started = true;
		if (!b->protocol_acked)
			v->enabled = true;
		rings_sync(b);
		return 0;
	case VHOST_USER_SET_VRING_CALL:
		m->nfds = 0;
		set_fd(&v->call, nfd);
		return 0;
	case VHOST_USER_SET_VRING_ERR:
		m->nfds = 0;
		set_fd(&v->err, nfd);
		return 0;
	case VHOST_USER_SET_VRING_ENABLE:
		if (m->state.num > 1)
			return err_set(EPROTO, "vhost-user: queue %u enable %u (0 or 1)", index, m->state.num);
		v->enabled = m->state.num;
		rings_sync(b);
		return 0;
	}
	return -EPROTO;
}

int vhost_vsock_backend_handle(struct vhost_vsock_backend *b, int fd, struct vhost_user_msg *m)
{
	bool ack = (b->protocol & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK)) && (m->flags & VHOST_USER_FLAG_NEED_REPLY);
	int ret = 0;

	switch (m->request) {
	case VHOST_USER_GET_FEATURES:
		return reply_u64(b, fd, m, BACKEND_FEATURES);
	case VHOST_USER_GET_PROTOCOL_FEATURES:
		return reply_u64(b, fd, m, BACKEND_PROTOCOL_FEATURES);
	case VHOST_USER_GET_QUEUE_NUM:
		return reply_u64(b, fd, m, VHOST_VSOCK_QUEUES);
	case VHOST_USER_GET_CONFIG:
		return get_config(b, fd, m);
	case VHOST_USER_GET_VRING_BASE:
		return ring_request(b, fd, m);
	case VHOST_USER_SET_FEATURES:
		if (m->u64 & ~BACKEND_FEATURES)
			ret = err_set(EPROTO, "vhost-user: features %#llx were never offered",
				      (unsigned long long)(m->u64 & ~BACKEND_FEATURES));
		else if (b->transport_up && m->u64 != b->features)
			blog(b, "features changed while the device runs; they apply at its next start");
		if (!ret) {
			b->features = m->u64;
			b->protocol_acked = m->u64 & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES);
		}
		break;
	case VHOST_USER_SET_PROTOCOL_FEATURES:
		if (m->u64 & ~BACKEND_PROTOCOL_FEATURES)
			ret = err_set(EPROTO, "vhost-user: protocol features %#llx were never offered",
				      (unsigned long long)(m->u64 & ~BACKEND_PROTOCOL_FEATURES));
		else
			b->protocol = m->u64;
		break;
	case VHOST_USER_SET_OWNER:
		break;
	case VHOST_USER_RESET_OWNER:
	case VHOST_USER_RESET_DEVICE:
		device_reset(b);
		break;
	case VHOST_USER_SET_MEM_TABLE:
		ret = set_mem_table(b, m);
		break;
	case VHOST_USER_SET_CONFIG:
		/* virtio-vsock's configuration (the guest's CID) is the device's: writes change nothing (virtio 5.10.4). */
		break;
	case VHOST_USER_SET_VRING_NUM:
	case VHOST_USER_SET_VRING_BASE:
	case VHOST_USER_SET_VRING_ADDR:
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
	case VHOST_USER_SET_VRING_ENABLE:
		ret = ring_request(b, fd, m);
		break;
	default:
		ret = err_set(EPROTO, "vhost-user: %s (request %u) is not offered by this backend",
			      vhost_user_request_name(m->request), m->request);
		break;
	}
	vhost_user_close_fds(m);
	if (ack && reply_u64(b, fd, m, ret ? 1 : 0) < 0 && !ret)
		ret = -EPIPE;
	return ret;
}

/* ---- the socket ---- */

static void on_listener(void *opaque, int fd, uint32_t events);

static void disconnect(struct vhost_vsock_backend *b, const char *why)
{
	blog(b, "the frontend %s; waiting for the next one on %s", why, b->path);
	device_reset(b);
	evloop_del(b->loop, b->fd);
	close(b->fd);
	b->fd = -1;
	if (evloop_add(b->loop, b->lfd, EPOLLIN, on_listener, b) < 0)
		blog(b, "cannot listen again: %s", err_msg());
}

static void on_frontend(void *opaque, int fd, uint32_t events)
{
	struct vhost_vsock_backend *b = opaque;
	struct vhost_user_msg m;
	int ret;

	(void)events;
	ret = vhost_user_recv(fd, false, VHOST_USER_MSG_TIMEOUT_MS, &m);
	if (ret == -ECONNRESET) {
		disconnect(b, "disconnected");
		return;
	}
	if (!ret)
		ret = vhost_vsock_backend_handle(b, fd, &m);
	if (ret < 0) {
		blog(b, "%s", err_msg());
		disconnect(b, "broke the protocol and was disconnected");
	}
}

static void on_listener(void *opaque, int fd, uint32_t events)
{
	struct vhost_vsock_backend *b = opaque;
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	(void)events;
	if (c < 0)
		return;
	b->fd = c;
	evloop_del(b->loop, b->lfd); /* one frontend at a time */
	if (evloop_add(b->loop, c, EPOLLIN, on_frontend, b) < 0) {
		blog(b, "cannot watch the frontend: %s", err_msg());
		disconnect(b, "could not be served");
		return;
	}
	blog(b, "a frontend connected");
}

static void on_host_ready(void *opaque, int fd, uint32_t events)
{
	struct vhost_vsock_backend *b = opaque;

	(void)fd;
	(void)events;
	if (b->transport_up)
		virtio_vsock_host_ready(b->dev);
	else
		vsock_emul_poll(b->emul);
}

static int listen_socket(struct vhost_vsock_backend *b)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, ret;

	if (strlen(b->c->socket) >= sizeof(sa.sun_path))
		return err_set(ENAMETOOLONG, "socket path %s is longer than %zu bytes", b->c->socket,
			       sizeof(sa.sun_path) - 1);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", b->c->socket);
	snprintf(b->path, sizeof(b->path), "%s", b->c->socket);
	if (lstat(b->path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(b->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(errno, "cannot create a socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
		ret = err_set(errno, "cannot listen on %s: %s", b->path, strerror(errno));
		close(fd);
		return ret;
	}
	return fd;
}

/* forward-cid: each enclave connection to a parent port nobody else serves goes to forward_cid, that port. */
static int forward_join(void *opaque, uint32_t parent_port)
{
	struct vhost_vsock_backend *b = opaque;
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = b->c->forward_cid, .svm_port = parent_port };
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static void heartbeat_done(void *opaque, int err)
{
	struct vhost_vsock_backend *b = opaque;

	if (err)
		blog(b, "the heartbeat: %s", err_msg());
	else
		blog(b, "the enclave answered the heartbeat (port 9000): it booted");
}

static void heartbeat_restart(struct vhost_vsock_backend *b)
{
	if (!b->c->heartbeat || !b->loop)
		return;
	heartbeat_free(b->hb);
	b->hb = heartbeat_listen(vsock_emul_host(b->emul), b->loop, heartbeat_done, b);
	if (!b->hb || heartbeat_arm(b->hb, 0) < 0)
		blog(b, "cannot answer the heartbeat: %s", err_msg());
}

static struct vhost_vsock_backend *backend_new(const struct vhost_vsock_config *c)
{
	struct vhost_vsock_backend *b = calloc(1, sizeof(*b));

	if (!b) {
		err_set(ENOMEM, "out of memory");
		return NULL;
	}
	b->c = c;
	b->lfd = b->fd = b->any_lfd = -1;
	/* No descriptors yet (rings_forget closes what it finds: not fd 0). */
	for (unsigned int i = 0; i < VHOST_VSOCK_QUEUES; i++)
		b->vq[i].kick = b->vq[i].call = b->vq[i].err = -1;
	rings_forget(b);
	b->mux = vsock_mux_create();
	b->emul = b->mux ? vsock_emul_create(b->mux) : NULL;
	b->dev = b->emul ? virtio_vsock_new(b->mux) : NULL;
	b->ops = *virtio_vsock_ops();
	b->ops.queue_max_size = VHOST_VSOCK_QUEUE_MAX;
	b->t = b->dev ? virtio_mmio_create(&b->mem, &b->ops, b->dev, device_error_irq, b) : NULL;
	if (!b->t) {
		vhost_vsock_backend_stop(b);
		return NULL;
	}
	virtio_vsock_attach(b->dev, b->t);
	virtio_mmio_set_queue_irq(b->t, queue_irq);
	vsock_mux_lock(b->mux);
	vsock_mux_set_guest_cid(b->mux, c->guest_cid);
	vsock_mux_unlock(b->mux);
	return b;
}

struct vhost_vsock_backend *vhost_vsock_backend_new_detached(const struct vhost_vsock_config *c)
{
	return backend_new(c);
}

struct vhost_vsock_backend *vhost_vsock_backend_start(struct evloop *loop, const struct vhost_vsock_config *c)
{
	struct vhost_vsock_backend *b = backend_new(c);
	struct vsock_host *h;

	if (!b)
		return NULL;
	b->loop = loop;
	h = vsock_emul_host(b->emul);
	if (evloop_add(loop, vsock_emul_fd(b->emul), EPOLLIN, on_host_ready, b) < 0)
		goto fail;
	heartbeat_restart(b);
	if (c->heartbeat && !b->hb)
		goto fail;
	if (c->forward_cid) {
		b->any_lfd = vsock_listen_join(h, VSOCK_PORT_ANY, forward_join, b);
		if (b->any_lfd < 0)
			goto fail;
	}
	b->bridges = bridge_set_create(h, loop, &c->bridges);
	if (!b->bridges || bridge_set_start(b->bridges, c->guest_cid) < 0)
		goto fail;
	b->lfd = listen_socket(b);
	if (b->lfd < 0 || evloop_add(loop, b->lfd, EPOLLIN, on_listener, b) < 0)
		goto fail;
	return b;
fail:
	vhost_vsock_backend_stop(b);
	return NULL;
}

void vhost_vsock_backend_stop(struct vhost_vsock_backend *b)
{
	if (!b)
		return;
	if (b->fd >= 0) {
		if (b->loop)
			evloop_del(b->loop, b->fd);
		close(b->fd);
	}
	if (b->t)
		device_reset(b);
	if (b->lfd >= 0) {
		if (b->loop)
			evloop_del(b->loop, b->lfd);
		close(b->lfd);
		unlink(b->path);
	}
	bridge_set_free(b->bridges);
	heartbeat_free(b->hb);
	if (b->any_lfd >= 0)
		vsock_unlisten(vsock_emul_host(b->emul), b->any_lfd);
	if (b->loop && b->emul)
		evloop_del(b->loop, vsock_emul_fd(b->emul));
	virtio_mmio_destroy(b->t);
	if (b->emul)
		vsock_host_destroy(vsock_emul_host(b->emul));
	virtio_vsock_free(b->dev);
	vsock_mux_destroy(b->mux);
	free(b);
}
