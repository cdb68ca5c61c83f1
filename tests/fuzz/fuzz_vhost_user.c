// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the vhost-user-vsock backend (src/vhost): what a frontend sends is untrusted.  The input
 * is a sequence of messages, each as the socket would carry it (header, payload) preceded by two bytes of the
 * harness's: the message's length and how many descriptors come with it.  Every message goes through
 * vhost_user_decode(); those it accepts are handled by a backend with no socket and no loop, their descriptors
 * being a 1 MiB memfd (memory tables) or an eventfd (kicks, calls), so memory tables are mapped, rings set up
 * in that memory and kicked.  The memfd's bytes come from the input's tail: the rings the backend walks are
 * the fuzzer's too.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vhost/vhost.h"
#include "vhost/vhost_user.h"

#include "fuzz_input.h"

#define GUEST_MEM (1024 * 1024)

static int memfd = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vhost_vsock_config c = { .guest_cid = 16 };
	struct vhost_vsock_backend *b;
	struct input in = { data, size };
	int rounds = 0;

	if (memfd < 0) {
		/* Sealed as QEMU seals its memfd backends: the backend says nothing about it. */
		memfd = memfd_create("fuzz-guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (memfd < 0 || ftruncate(memfd, GUEST_MEM) < 0 ||
		    fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
			abort();
	}
	/* Guest memory: zeros, then as much of the input as fits from its end. */
	{
		uint8_t *g = mmap(NULL, GUEST_MEM, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
		size_t n = size < GUEST_MEM ? size : GUEST_MEM;

		if (g == MAP_FAILED)
			abort();
		memset(g, 0, GUEST_MEM);
		memcpy(g, data + size - n, n);
		munmap(g, GUEST_MEM);
	}
	b = vhost_vsock_backend_new_detached(&c);
	if (!b)
		abort();
	while (in.left && rounds++ < 64) {
		size_t len = take8(&in) * 2u;
		unsigned int nfds = take8(&in) % (VHOST_USER_MAX_FDS + 2);
		struct vhost_user_msg m;
		uint8_t *copy;

		if (len > in.left)
			len = in.left;
		/* An exactly-sized copy: AddressSanitizer sees a read past the message. */
		copy = malloc(len ? len : 1);
		memcpy(copy, in.p, len);
		in.p += len;
		in.left -= len;
		if (vhost_user_decode(copy, len, nfds, false, &m) == 0) {
			m.nfds = nfds;
			for (unsigned int i = 0; i < nfds; i++)
				m.fds[i] = m.request == VHOST_USER_SET_MEM_TABLE ? dup(memfd)
									    : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			vhost_vsock_backend_handle(b, -1, &m);
			vhost_user_close_fds(&m); /* what the backend did not keep */
		}
		free(copy);
	}
	vhost_vsock_backend_stop(b);
	return 0;
}
