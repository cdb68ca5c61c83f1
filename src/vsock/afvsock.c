// SPDX-License-Identifier: MIT
/*
 * The native parent side (endpoint.h): the host's own AF_VSOCK sockets, as nitro-cli uses them on an EC2 parent
 * instance.  The descriptors are the sockets themselves; the kernel does the flow control.
 */
#include "vsock/endpoint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "common/util.h"
#include "vsock/vsock.h"

struct afvsock {
	struct vsock_host host;
};

static int vsock_socket(void)
{
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return err_set(errno, "cannot create an AF_VSOCK socket: %s (is the vsock module loaded?)",
			       strerror(errno));
	return fd;
}

static int af_listen(struct vsock_host *h, uint32_t port)
{
	/*
	 * Any local CID: on a parent instance that is CID 3, the address nitro-cli binds; elsewhere (tests, hosts
	 * with vsock loopback) it is whatever the host's CID is.
	 */
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port };
	int fd = vsock_socket();

	(void)h;
	if (fd < 0)
		return fd;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, VSOCK_AFVSOCK_BACKLOG) < 0) {
		int e = errno;

		close(fd);
		return err_set(e, "cannot listen on vsock port %u: %s", port, strerror(e));
	}
	return fd;
}

static int af_accept(struct vsock_host *h, int lfd, uint64_t *peer_cid, uint32_t *peer_port)
{
	struct sockaddr_vm a = { 0 };
	socklen_t alen = sizeof(a);
	int fd;

	(void)h;
	fd = accept4(lfd, (struct sockaddr *)&a, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
			return -EAGAIN;
		return err_set(errno, "accepting a vsock connection failed: %s", strerror(errno));
	}
	*peer_cid = a.svm_cid;
	*peer_port = a.svm_port;
	return fd;
}

static void af_unlisten(struct vsock_host *h, int lfd)
{
	(void)h;
	if (lfd >= 0)
		close(lfd);
}

static int af_connect(struct vsock_host *h, uint64_t cid, uint32_t port)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = (unsigned int)cid, .svm_port = port };
	struct timeval tv = { VSOCK_AFVSOCK_CONNECT_TIMEOUT_MS / 1000, (VSOCK_AFVSOCK_CONNECT_TIMEOUT_MS % 1000) * 1000 };
	int fd;

	(void)h;
	if (cid >= VSOCK_CID_ANY)
		return err_set(EINVAL, "vsock CID %llu is out of range", (unsigned long long)cid);
	fd = vsock_socket();
	if (fd < 0)
		return fd;
	/* Bounds how long a non-answering CID keeps the connection pending (the kernel default is 2 s). */
	setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS && errno != EINTR) {
		int e = errno;

		close(fd);
		return err_set(e, "cannot connect to vsock %llu:%u: %s", (unsigned long long)cid, port, strerror(e));
	}
	return fd;
}

static void af_destroy(struct vsock_host *h)
{
	free(h);
}

static const struct vsock_host_ops afvsock_ops = {
	.name = "af_vsock",
	.listen = af_listen,
	.accept = af_accept,
	.unlisten = af_unlisten,
	.connect = af_connect,
	.destroy = af_destroy,
};

struct vsock_host *vsock_afvsock_create(void)
{
	struct afvsock *a;
	int fd = vsock_socket();

	if (fd < 0)
		return NULL;
	close(fd);
	a = calloc(1, sizeof(*a));
	if (!a) {
		err_set(ENOMEM, "out of memory");
		return NULL;
	}
	a->host.ops = &afvsock_ops;
	return &a->host;
}
