// SPDX-License-Identifier: MIT
/*
 * The KVM hypervisor's vsock: the connection table and the emulated parent side exist from create_slot on (so
 * the launch can bind the heartbeat listener before the enclave starts), the virtio-vsock device joins them
 * when the machine is built, and the guest's CID is set at start.  The machine wires the parent side's
 * descriptor to the device: when a host stream is ready, the device services it and fills rx buffers under one
 * taking of its locks.  Like the Nitro hypervisor, it also serves
 * the enclave console as a vsock stream on CID 0, port enclave CID + 10000: every byte the 16550 transmits is
 * copied to each connected console client.
 */
#include "kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/util.h"
#include "hw/virtio/virtio.h"
#include "vsock/conn.h"
#include "vsock/endpoint.h"

/* Console clients at once: nitro-cli attaches one; a few more cost nothing and help debugging. */
#define KVM_CONSOLE_CLIENTS_MAX 8
/*
 * How long a vCPU writing the UART waits for a console client that does not read before the rest of that
 * write is dropped for it.  The socket holds a few hundred KiB, so a client that keeps up never loses a byte,
 * and one that stalls (or shares the event loop with a client that is connecting) cannot hang the enclave.
 */
#define KVM_CONSOLE_STALL_MS 200
/*
 * Output kept from the start until the first client attaches, and then given to it.  The launch can attach
 * only once start returned and the CID is known, by which time a fast guest has printed (or even finished);
 * Nitro drops that output (nitro-cli issues #343, #664), we keep the first 64 KiB: a kernel's boot log fits.
 */
#define KVM_CONSOLE_EARLY_MAX (64 * 1024)

struct kvm_vsock {
	struct vsock_mux *mux;
	struct vsock_emul *emul;
	struct evloop *loop;	   /* watches the emulated side's descriptor, when there is a loop */
	struct virtio_vsock *dev; /* the device, while the machine has it */
	pthread_mutex_t console_lock; /* the vCPU writing the UART vs the loop adding clients */
	int console_fd[KVM_CONSOLE_CLIENTS_MAX]; /* our ends; -1 when free */
	bool console_attached;			 /* a client attached once: stop keeping early output */
	size_t early_len;
	uint8_t early[KVM_CONSOLE_EARLY_MAX];
};

/* A console client connects (event-loop thread). */
static int console_service(void *opaque, uint32_t port)
{
	struct kvm_vm *vm = opaque;
	struct kvm_vsock *kv = vm->vsock;
	int sv[2], slot = -1;

	if (!vm->cid || port != vm->cid + VSOCK_CONSOLE_PORT_OFFSET)
		return err_set(ECONNREFUSED, "nothing listens on vsock CID 0 port %u (the console of enclave %llu is "
					     "port %llu)", port, (unsigned long long)vm->cid,
			       (unsigned long long)(vm->cid + VSOCK_CONSOLE_PORT_OFFSET));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return err_set(errno, "cannot create the console stream: %s", strerror(errno));
	/* The user's end follows the endpoint contract (non-blocking). */
	fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
	shutdown(sv[0], SHUT_RD); /* the console is read-only, as on Nitro */
	pthread_mutex_lock(&kv->console_lock);
	for (int i = 0; i < KVM_CONSOLE_CLIENTS_MAX && slot < 0; i++)
		if (kv->console_fd[i] < 0)
			slot = i;
	if (slot >= 0) {
		kv->console_fd[slot] = sv[0];
		/* A fresh socket takes 64 KiB without blocking. */
		if (!kv->console_attached && kv->early_len &&
		    send(sv[0], kv->early, kv->early_len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
			/* Nothing to do: the client simply misses the early output. */
		}
		kv->console_attached = true;
	}
	pthread_mutex_unlock(&kv->console_lock);
	if (slot < 0) {
		close(sv[0]);
		close(sv[1]);
		return err_set(EBUSY, "%d console clients are attached already", KVM_CONSOLE_CLIENTS_MAX);
	}
	return sv[1];
}

void kvm_vsock_console_output(struct kvm_vm *vm, const uint8_t *buf, size_t len)
{
	struct kvm_vsock *kv = vm->vsock;

	if (!kv)
		return;
	pthread_mutex_lock(&kv->console_lock);
	if (!kv->console_attached) {
		size_t n = MIN(len, KVM_CONSOLE_EARLY_MAX - kv->early_len);

		memcpy(kv->early + kv->early_len, buf, n);
		kv->early_len += n;
	}
	for (int i = 0; i < KVM_CONSOLE_CLIENTS_MAX; i++) {
		const uint8_t *p = buf;
		size_t left = len;

		while (kv->console_fd[i] >= 0 && left) {
			ssize_t n = send(kv->console_fd[i], p, left, MSG_NOSIGNAL | MSG_DONTWAIT);
			struct pollfd pfd = { .fd = kv->console_fd[i], .events = POLLOUT };

			if (n >= 0) {
				p += n;
				left -= (size_t)n;
				continue;
			}
			if (errno == EAGAIN && !atomic_load(&vm->stopping) && poll(&pfd, 1, KVM_CONSOLE_STALL_MS) > 0)
				continue;
			if (errno != EAGAIN && errno != EINTR) {
				/* The client went away: detach it. */
				close(kv->console_fd[i]);
				kv->console_fd[i] = -1;
			}
			break;
		}
	}
	pthread_mutex_unlock(&kv->console_lock);
}

/* A host stream is ready (event-loop thread). */
static void vsock_host_ready(void *opaque, int fd, uint32_t events)
{
	struct kvm_vsock *kv = opaque;

	(void)fd;
	(void)events;
	if (kv->dev)
		virtio_vsock_host_ready(kv->dev);
	else
		vsock_emul_poll(kv->emul);
}

void kvm_vsock_set_device(struct kvm_vm *vm, struct virtio_vsock *dev)
{
	vm->vsock->dev = dev;
}

int kvm_vsock_create(struct kvm_vm *vm)
{
	struct kvm_vsock *kv = calloc(1, sizeof(*kv));

	if (!kv)
		return err_set(ENOMEM, "out of memory creating vsock");
	vm->vsock = kv;
	pthread_mutex_init(&kv->console_lock, NULL);
	for (int i = 0; i < KVM_CONSOLE_CLIENTS_MAX; i++)
		kv->console_fd[i] = -1;
	kv->mux = vsock_mux_create();
	if (!kv->mux)
		return -ENOMEM;
	kv->emul = vsock_emul_create(kv->mux);
	if (!kv->emul)
		return -ENOMEM;
	vsock_emul_set_service(kv->emul, console_service, vm);
	if (!vm->cfg.loop)
		return 0;
	kv->loop = vm->cfg.loop;
	return evloop_add(kv->loop, vsock_emul_fd(kv->emul), EPOLLIN, vsock_host_ready, kv);
}

void kvm_vsock_set_cid(struct kvm_vm *vm, uint64_t cid)
{
	vsock_mux_lock(vm->vsock->mux);
	vsock_mux_set_guest_cid(vm->vsock->mux, cid);
	vsock_mux_unlock(vm->vsock->mux);
}

struct vsock_mux *kvm_vsock_mux(struct kvm_vm *vm)
{
	return vm->vsock ? vm->vsock->mux : NULL;
}

/* Runs after the devices are gone: nothing calls into the table any more. */
void kvm_vsock_destroy(struct kvm_vm *vm)
{
	struct kvm_vsock *kv = vm->vsock;

	if (!kv)
		return;
	if (kv->loop && kv->emul)
		evloop_del(kv->loop, vsock_emul_fd(kv->emul));
	if (kv->emul)
		vsock_host_destroy(vsock_emul_host(kv->emul));
	vsock_mux_destroy(kv->mux);
	for (int i = 0; i < KVM_CONSOLE_CLIENTS_MAX; i++)
		if (kv->console_fd[i] >= 0)
			close(kv->console_fd[i]);
	pthread_mutex_destroy(&kv->console_lock);
	free(kv);
	vm->vsock = NULL;
}

struct vsock_host *kvm_vsock_host(struct hypervisor *hv)
{
	struct kvm_vm *vm = to_kvm_vm(hv);

	return vm->vsock && vm->vsock->emul ? vsock_emul_host(vm->vsock->emul) : NULL;
}
