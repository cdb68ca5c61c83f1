// SPDX-License-Identifier: MIT
/*
 * Where the kernel goes, chosen as the decompressor's KASLR chooses (arch/x86/boot/compressed/kaslr.c):
 *
 *  - physical: every kernel_alignment-aligned slot in usable RAM from the minimum address up, where the whole
 *    image fits without touching a range to avoid (the initrd, the command line, the zero page, and the
 *    decompressor's own code and buffer), equally likely; none at all leaves the kernel at its preferred
 *    address ("Physical KASLR disabled"), where the decompressor unpacks in place;
 *  - virtual: an offset from the preferred address in steps of kernel_alignment such that the image stays
 *    inside the kernel's 1 GiB mapping (KERNEL_IMAGE_SIZE), independent of the physical choice;
 *  - "nokaslr": both at the preferred address, nothing relocated.
 *
 * The random numbers come from getrandom(), where the decompressor mixes RDRAND, RDTSC and the i8254.
 */
#include "kernel.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "common/util.h"

/* Slot areas remembered at most, as the decompressor's MAX_SLOT_AREA: a few RAM ranges split by avoids. */
#define KASLR_MAX_AREAS 100

struct slot_area {
	uint64_t start, slots;
};

struct slot_list {
	struct slot_area a[KASLR_MAX_AREAS];
	unsigned int n;
	uint64_t total;
};

uint64_t kaslr_getrandom(void *opaque, uint64_t n)
{
	/* Rejection sampling: every value below n equally likely. */
	uint64_t limit = UINT64_MAX - UINT64_MAX % n, r;

	(void)opaque;
	do {
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			r = 0; /* getrandom() on the urandom pool only fails before the host's boot completes */
	} while (r >= limit);
	return r % n;
}

static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) / a * a;
}

static void store_slots(const struct kaslr_input *in, struct slot_list *l, uint64_t start, uint64_t end)
{
	start = align_up(start, in->alignment);
	if (start >= end || end - start < in->image_size || l->n == KASLR_MAX_AREAS)
		return;
	l->a[l->n] = (struct slot_area){ start, (end - start - in->image_size) / in->alignment + 1 };
	l->total += l->a[l->n++].slots;
}

static bool overlaps(const struct kaslr_range *r, uint64_t start, uint64_t end)
{
	return r->size && r->start < end && start < r->start + r->size;
}

/* The lowest range to avoid that overlaps [start, end) (the decompressor's own too, when asked), or NULL. */
static const struct kaslr_range *first_overlap(const struct kaslr_input *in, uint64_t start, uint64_t end,
					       bool with_decompressor)
{
	const struct kaslr_range *best = NULL;

	for (unsigned int i = 0; i < in->navoid; i++) {
		const struct kaslr_range *r = &in->avoid[i];

		if (overlaps(r, start, end) && (!best || r->start < best->start))
			best = r;
	}
	if (with_decompressor && overlaps(&in->decompressor, start, end) &&
	    (!best || in->decompressor.start < best->start))
		best = &in->decompressor;
	return best;
}

/* One RAM range, clipped to [min, limit), split around what must be avoided. */
static void process_range(const struct kaslr_input *in, struct slot_list *l, const struct kaslr_range *ram)
{
	uint64_t start = MAX(ram->start, in->min_addr), end = MIN(ram->start + ram->size, in->limit);

	while (start < end) {
		const struct kaslr_range *r = first_overlap(in, start, end, true);

		if (!r) {
			store_slots(in, l, start, end);
			return;
		}
		if (r->start > start)
			store_slots(in, l, start, r->start);
		start = r->start + r->size;
	}
}

static bool choose_phys(const struct kaslr_input *in, kaslr_random_fn rnd, void *opaque, struct kaslr_choice *c)
{
	struct slot_list l = { .n = 0 };
	uint64_t pick;

	for (unsigned int i = 0; i < in->nram; i++)
		process_range(in, &l, &in->ram[i]);
	c->phys_slots = l.total;
	if (!l.total)
		return false;
	pick = rnd(opaque, l.total);
	for (unsigned int i = 0; i < l.n; i++) {
		if (pick < l.a[i].slots) {
			c->phys = l.a[i].start + pick * in->alignment;
			return true;
		}
		pick -= l.a[i].slots;
	}
	return false;
}

static void choose_virt(const struct kaslr_input *in, kaslr_random_fn rnd, void *opaque, struct kaslr_choice *c)
{
	uint64_t room = KERNEL_IMAGE_SIZE - MIN(KERNEL_IMAGE_SIZE, in->pref_address + in->image_size);

	c->virt_slots = 1 + room / in->alignment;
	c->virt = in->pref_address + rnd(opaque, c->virt_slots) * in->alignment;
}

static bool overlaps_avoid(const struct kaslr_input *in, uint64_t start, uint64_t size)
{
	return first_overlap(in, start, start + size, false) != NULL;
}

int kaslr_choose(const struct kaslr_input *in, kaslr_random_fn rnd, void *opaque, struct kaslr_choice *out)
{
	memset(out, 0, sizeof(*out));
	out->phys = out->virt = in->pref_address;
	if (!in->alignment || !in->image_size || in->image_size > KERNEL_IMAGE_SIZE)
		return err_set(EINVAL, "no placement for a kernel of %llu bytes", (unsigned long long)in->image_size);
	if (in->randomize) {
		out->phys_randomized = choose_phys(in, rnd, opaque, out);
		choose_virt(in, rnd, opaque, out);
	}
	if (out->phys_randomized)
		return 0;
	if (in->pref_address + in->image_size > in->limit || overlaps_avoid(in, in->pref_address, in->image_size))
		return err_set(ENOSPC, "the kernel (%llu MiB from %#llx) does not fit in enclave memory beside the "
				       "initrd; give the enclave more memory",
			       (unsigned long long)(in->image_size >> 20) + 1, (unsigned long long)in->pref_address);
	return 0;
}

bool kaslr_cmdline_disabled(const char *cmdline)
{
	static const char word[] = "nokaslr";
	const char *p = cmdline;

	while (p && (p = strstr(p, word)) != NULL) {
		bool starts = p == cmdline || isspace((unsigned char)p[-1]);
		char after = p[sizeof(word) - 1];

		if (starts && (!after || isspace((unsigned char)after)))
			return true;
		p += sizeof(word) - 1;
	}
	return false;
}
