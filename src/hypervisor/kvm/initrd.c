// SPDX-License-Identifier: MIT
/*
 * The EIF's ramdisks as the kernel gets them: concatenated into one initrd, each starting 4-byte aligned (the
 * kernel's initramfs unpacker reads cpio archives back to back and skips zero padding between them).  Both
 * machines place the result where their boot protocol wants it.
 */
#include "kvm.h"

#include <string.h>

#include "eif/eif.h"

#define RAMDISK_JOIN_ALIGN 4

uint64_t kvm_initrd_size(const struct eif *e)
{
	uint64_t total = 0;

	for (unsigned int i = 0; i < e->nramdisks; i++)
		total = (total + RAMDISK_JOIN_ALIGN - 1) / RAMDISK_JOIN_ALIGN * RAMDISK_JOIN_ALIGN +
			e->ramdisks[i]->size;
	return total;
}

void kvm_initrd_copy(const struct eif *e, uint8_t *dst)
{
	uint64_t off = 0;

	for (unsigned int i = 0; i < e->nramdisks; i++) {
		size_t pad = (size_t)((RAMDISK_JOIN_ALIGN - off % RAMDISK_JOIN_ALIGN) % RAMDISK_JOIN_ALIGN);

		memset(dst + off, 0, pad);
		off += pad;
		memcpy(dst + off, e->ramdisks[i]->data, e->ramdisks[i]->size);
		off += e->ramdisks[i]->size;
	}
}
