// SPDX-License-Identifier: MIT
/*
 * The EIF's ramdisks as the kernel gets them: concatenated into one initrd, each starting 4-byte aligned (the
 * kernel's initramfs unpacker reads cpio archives back to back and skips zero padding between them).  Both
 * machines place the result where their boot protocol wants it.
 *
 * The bytes move inside enclave memory's own file (copy_file_range(2), the kernel copying page-cache pages):
 * a copy through the mapping would fault in, zero and then overwrite every 4 KiB page of the destination,
 * which for a large image was most of the start under nested virtualization.  A file that cannot (huge pages)
 * gets the copy through the mapping.
 */
#include "kvm.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "eif/eif.h"

uint64_t kvm_initrd_size(const struct eif *e)
{
	uint64_t total = 0;

	for (unsigned int i = 0; i < e->nramdisks; i++)
		total = (total + RAMDISK_JOIN_ALIGN - 1) / RAMDISK_JOIN_ALIGN * RAMDISK_JOIN_ALIGN +
			e->ramdisks[i]->size;
	return total;
}

/*
 * len bytes from src (in enclave memory) to dst, apart: through enclave memory's file when dst is in it too and
 * the file allows it, else memcpy.  vm NULL: dst is not enclave memory.
 */
static void ram_copy(struct kvm_vm *vm, uint8_t *dst, const uint8_t *src, size_t len)
{
	off_t in, out;

	if (!vm || vm->mem_fd < 0) {
		memcpy(dst, src, len);
		return;
	}
	in = src - vm->mem;
	out = dst - vm->mem;
	while (len) {
		ssize_t n = copy_file_range(vm->mem_fd, &in, vm->mem_fd, &out, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* the rest through the mapping: in and out say where it starts */
		len -= (size_t)n;
	}
	if (len)
		memcpy(vm->mem + out, vm->mem + in, len);
}

void kvm_initrd_copy(struct kvm_vm *vm, const struct eif *e, uint8_t *dst)
{
	uint64_t off = 0;

	for (unsigned int i = 0; i < e->nramdisks; i++) {
		size_t pad = (size_t)((RAMDISK_JOIN_ALIGN - off % RAMDISK_JOIN_ALIGN) % RAMDISK_JOIN_ALIGN);

		memset(dst + off, 0, pad);
		off += pad;
		ram_copy(vm, dst + off, e->ramdisks[i]->data, e->ramdisks[i]->size);
		off += e->ramdisks[i]->size;
	}
}
