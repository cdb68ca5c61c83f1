/* SPDX-License-Identifier: MIT */
/*
 * Guest-physical memory as devices see it: a few host-mapped regions.  Every address a guest hands a device goes
 * through guest_mem_ptr(), which returns NULL unless [gpa, gpa + len) lies wholly inside one region, so a device
 * can never be talked into touching host memory outside the guest.
 */
#ifndef NITROVM_HW_GUEST_MEM_H
#define NITROVM_HW_GUEST_MEM_H

#include <stddef.h>
#include <stdint.h>

#define GUEST_MEM_MAX_REGIONS 8

struct guest_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
};

struct guest_mem {
	unsigned int nregions;
	struct guest_mem_region regions[GUEST_MEM_MAX_REGIONS];
};

static inline void *guest_mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	for (unsigned int i = 0; i < m->nregions; i++) {
		const struct guest_mem_region *r = &m->regions[i];

		/* Written to be overflow-safe for any gpa and len. */
		if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
			return r->hva + (gpa - r->gpa);
	}
	return NULL;
}

#endif
