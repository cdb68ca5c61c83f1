// SPDX-License-Identifier: MIT
/*
 * The machine's devices and how they reach the guest: the UART (on the bus where the machine puts it) with
 * KVM_IRQ_LINE for its level-triggered interrupt; virtio-mmio transports on the MMIO bus with one ioeventfd per
 * queue (the guest's QueueNotify write never leaves the kernel; the event loop sees an eventfd) and one irqfd
 * each.  The machine's other devices (x86: i8042, debug exit, ACPI sleep) are its own (kvm_arch_devices_create).
 */
#include "kvm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/util.h"
#include "hw/serial.h"
#include "hw/virtio/virtio.h"
#include "vhost/vhost.h"

/* Console input read from the caller per event-loop wakeup. */
#define CONSOLE_READ_CHUNK 256

int kvm_irq_line(struct kvm_vm *vm, unsigned int gsi, bool level)
{
	struct kvm_irq_level l = { .irq = gsi, .level = level };

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0)
		return err_set(errno, "KVM_IRQ_LINE %u failed: %s", gsi, strerror(errno));
	return 0;
}

int kvm_irqfd_create(struct kvm_vm *vm, unsigned int gsi, int *fd)
{
	struct kvm_irqfd req = { .gsi = gsi };

	*fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (*fd < 0)
		return err_set(errno, "cannot create an eventfd: %s", strerror(errno));
	req.fd = (uint32_t)*fd;
	if (ioctl(vm->vm_fd, KVM_IRQFD, &req) < 0) {
		int e = errno;

		close(*fd);
		*fd = -1;
		return err_set(e, "KVM_IRQFD for GSI %u failed: %s", gsi, strerror(e));
	}
	return 0;
}

int kvm_ioeventfd_create(struct kvm_vm *vm, uint64_t addr, unsigned int len, uint64_t datamatch, int *fd)
{
	struct kvm_ioeventfd req = {
		.datamatch = datamatch,
		.addr = addr,
		.len = len,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
	};

	*fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (*fd < 0)
		return err_set(errno, "cannot create an eventfd: %s", strerror(errno));
	req.fd = *fd;
	if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &req) < 0) {
		int e = errno;

		close(*fd);
		*fd = -1;
		return err_set(e, "KVM_IOEVENTFD at %#llx failed: %s", (unsigned long long)addr, strerror(e));
	}
	return 0;
}

/* ---- the console UART ---- */

static void console_output(void *opaque, const uint8_t *buf, size_t len)
{
	struct kvm_vm *vm = opaque;

	kvm_vsock_console_output(vm, buf, len);
	/* Blocking: the console is never lossy.  A kick (EINTR) during teardown drops the rest. */
	while (len) {
		ssize_t n = send(vm->console[0], buf, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR && !atomic_load(&vm->stopping))
				continue;
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

static void console_input(void *opaque, int fd, uint32_t events)
{
	struct kvm_vm *vm = opaque;
	uint8_t buf[CONSOLE_READ_CHUNK];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	(void)events;
	if (n > 0) {
		serial_receive(vm->serial, buf, (size_t)n);
		return;
	}
	if (n == 0 || (errno != EAGAIN && errno != EINTR))
		evloop_del(vm->cfg.loop, fd); /* the caller closed its side: no more input */
}

static void serial_irq(void *opaque, bool level)
{
	struct kvm_vm *vm = opaque;

	kvm_irq_line(vm, vm->serial_irq, level);
}

/* The UART on the bus is the machine's business (kvm_arch_devices_create): x86 ports, an arm64 MMIO page. */
static int console_create(struct kvm_vm *vm)
{
	vm->serial = serial_create(console_output, vm, serial_irq, vm);
	if (!vm->serial)
		return err_set(ENOMEM, "out of memory creating the serial port");
	return evloop_add(vm->cfg.loop, vm->console[0], EPOLLIN, console_input, vm);
}

/* ---- virtio-mmio ---- */

static void virtio_raise_irq(void *opaque)
{
	struct kvm_virtio *v = opaque;
	uint64_t one = 1;

	if (write(v->irqfd, &one, sizeof(one)) < 0) {
		/* EAGAIN only: the counter is already non-zero, the interrupt is pending anyway. */
	}
}

static void virtio_mmio_io(void *opaque, uint64_t offset, void *data, unsigned int len, bool is_write)
{
	struct kvm_virtio *v = opaque;

	virtio_mmio_access(v->dev, offset, data, len, is_write);
}

static void virtio_notify_ready(void *opaque, int fd, uint32_t events)
{
	struct kvm_virtio_notify *n = opaque;
	uint64_t count;

	(void)events;
	if (read(fd, &count, sizeof(count)) != sizeof(count))
		return;
	virtio_mmio_queue_notify(n->v->dev, n->queue);
}

static int virtio_attach(struct kvm_vm *vm, unsigned int slot, const struct virtio_device_ops *ops, void *dev,
			 void (*dev_free)(void *))
{
	struct kvm_virtio *v = &vm->virtio[slot];
	uint64_t base = kvm_virtio_base(slot);
	int ret;

	v->vm = vm;
	v->slot = slot;
	v->dev_opaque = dev;
	v->dev_free = dev_free;
	v->nqueues = MIN(ops->num_queues, (unsigned int)KVM_VIRTIO_MAX_QUEUES);
	v->present = true;
	ret = kvm_irqfd_create(vm, kvm_virtio_gsi(slot), &v->irqfd);
	if (ret < 0)
		return ret;
	v->dev = virtio_mmio_create(&vm->gmem, ops, dev, virtio_raise_irq, v);
	if (!v->dev)
		return -ENOMEM;
	ret = bus_register(&vm->bus, BUS_MMIO, base, KVM_VIRTIO_SIZE, virtio_mmio_io, v, "virtio-mmio");
	for (unsigned int q = 0; !ret && q < v->nqueues; q++) {
		v->notify[q] = (struct kvm_virtio_notify){ v, q };
		ret = kvm_ioeventfd_create(vm, base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, q, &v->notify_fd[q]);
		if (!ret)
			ret = evloop_add(vm->cfg.loop, v->notify_fd[q], EPOLLIN, virtio_notify_ready, &v->notify[q]);
	}
	return ret;
}

static void virtio_detach(struct kvm_vm *vm, struct kvm_virtio *v)
{
	for (unsigned int q = 0; q < v->nqueues; q++) {
		if (v->notify_fd[q] < 0)
			continue;
		evloop_del(vm->cfg.loop, v->notify_fd[q]);
		close(v->notify_fd[q]);
	}
	/* The device first: its own threads (the NSM's signer) may still complete requests through the transport. */
	if (v->dev_free && v->dev_opaque)
		v->dev_free(v->dev_opaque);
	if (v->dev)
		virtio_mmio_destroy(v->dev);
	if (v->irqfd >= 0)
		close(v->irqfd);
	memset(v, 0, sizeof(*v));
}

/* The vhost-user backend went away (or refused the rings): the enclave has no vsock any more, it ends. */
static void vhost_vsock_gone(void *opaque, const char *why)
{
	kvm_vm_request_exit(opaque, HV_EXIT_HOST_ERROR, 1, "%s", why);
}

/* vsock= (QEMU's nitro-enclave): the same transport in the first virtio slot, its rings run by a vhost-user backend. */
static int vhost_vsock_device_create(struct kvm_vm *vm)
{
	struct vhost_vsock_frontend *f = vhost_vsock_frontend_connect(vm->cfg.kvm.vsock_vhost_user, &vm->gmem, vm->mem_fd,
								      vm->mem, vm->cfg.loop, vhost_vsock_gone, vm);
	int ret;

	if (!f)
		return -ENOTCONN;
	ret = virtio_attach(vm, KVM_VIRTIO_VSOCK, vhost_vsock_frontend_ops(f), f, vhost_vsock_frontend_free);
	if (ret < 0)
		return ret;
	vhost_vsock_frontend_attach(f, vm->virtio[KVM_VIRTIO_VSOCK].dev);
	vm->vhost_vsock = f;
	return 0;
}

/* Every enclave has the vsock device in the first virtio slot, on the table kvm_vsock_create() made. */
static int vsock_device_create(struct kvm_vm *vm)
{
	struct virtio_vsock *vs;
	int ret;

	if (vm->cfg.kvm.vsock_vhost_user)
		return vhost_vsock_device_create(vm);
	vs = virtio_vsock_new(kvm_vsock_mux(vm));

	if (!vs)
		return -ENOMEM;
	ret = virtio_attach(vm, KVM_VIRTIO_VSOCK, virtio_vsock_ops(), vs, virtio_vsock_free);
	if (ret < 0)
		return ret;
	virtio_vsock_attach(vs, vm->virtio[KVM_VIRTIO_VSOCK].dev);
	kvm_vsock_set_device(vm, vs);
	return 0;
}

int kvm_devices_create(struct kvm_vm *vm)
{
	int ret;

	for (unsigned int i = 0; i < KVM_VIRTIO_SLOTS; i++) {
		vm->virtio[i].irqfd = -1;
		for (unsigned int q = 0; q < KVM_VIRTIO_MAX_QUEUES; q++)
			vm->virtio[i].notify_fd[q] = -1;
	}
	ret = console_create(vm);
	if (!ret)
		ret = kvm_arch_devices_create(vm);
	if (ret < 0)
		return ret;
	ret = vsock_device_create(vm);
	if (ret < 0)
		return ret;
	if (vm->cfg.kvm.test_rng) {
		void *rng = virtio_rng_new();

		if (!rng)
			return err_set(ENOMEM, "out of memory creating the virtio-rng device");
		ret = virtio_attach(vm, KVM_VIRTIO_RNG, virtio_rng_ops(), rng, virtio_rng_free);
		if (ret < 0)
			return ret;
	}
	return 0;
}

void kvm_devices_destroy(struct kvm_vm *vm)
{
	if (vm->vsock)
		kvm_vsock_set_device(vm, NULL);
	vm->vhost_vsock = NULL; /* freed with its transport */
	for (unsigned int i = 0; i < KVM_VIRTIO_SLOTS; i++)
		if (vm->virtio[i].present)
			virtio_detach(vm, &vm->virtio[i]);
	if (vm->console[0] >= 0 && vm->cfg.loop)
		evloop_del(vm->cfg.loop, vm->console[0]);
	kvm_arch_devices_destroy(vm);
	serial_destroy(vm->serial);
	vm->serial = NULL;
}

int kvm_virtio_attach(struct kvm_vm *vm, unsigned int slot, const struct virtio_device_ops *ops, void *dev,
		      void (*dev_free)(void *))
{
	return virtio_attach(vm, slot, ops, dev, dev_free);
}
