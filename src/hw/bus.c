// SPDX-License-Identifier: MIT
#include "bus.h"

#include <errno.h>
#include <string.h>

#include "common/util.h"

/* Order: PIO before MMIO, then by base.  The table is tiny; insertion keeps it sorted for the binary search. */
static int bus_cmp(enum bus_space sa, uint64_t a, enum bus_space sb, uint64_t b)
{
	if (sa != sb)
		return sa < sb ? -1 : 1;
	return a < b ? -1 : a > b;
}

int bus_register(struct bus *b, enum bus_space space, uint64_t base, uint64_t len, bus_handler h, void *opaque,
		 const char *name)
{
	unsigned int pos = 0;

	if (!len || base + len < base)
		return err_set(EINVAL, "device %s has an empty or wrapping address range", name);
	if (b->nranges == BUS_MAX_RANGES)
		return err_set(ENOSPC, "too many device ranges (at most %d)", BUS_MAX_RANGES);
	for (unsigned int i = 0; i < b->nranges; i++) {
		const struct bus_range *r = &b->ranges[i];

		if (r->space == space && base < r->base + r->len && r->base < base + len)
			return err_set(EEXIST, "device %s at %#llx overlaps %s", name, (unsigned long long)base,
				       r->name);
		if (bus_cmp(r->space, r->base, space, base) < 0)
			pos = i + 1;
	}
	memmove(&b->ranges[pos + 1], &b->ranges[pos], (b->nranges - pos) * sizeof(b->ranges[0]));
	b->ranges[pos] = (struct bus_range){ base, len, space, h, opaque, name };
	b->nranges++;
	return 0;
}

/* The range holding [addr, addr + len), or NULL. */
static const struct bus_range *bus_find(const struct bus *b, enum bus_space space, uint64_t addr, unsigned int len)
{
	unsigned int lo = 0, hi = b->nranges;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		const struct bus_range *r = &b->ranges[mid];

		if (bus_cmp(r->space, r->base, space, addr) > 0) {
			hi = mid;
		} else if (r->space == space && addr - r->base < r->len) {
			/* An access straddling the end of a range is not this device's. */
			return len <= r->len - (addr - r->base) ? r : NULL;
		} else {
			lo = mid + 1;
		}
	}
	return NULL;
}

bool bus_access(const struct bus *b, enum bus_space space, uint64_t addr, void *data, unsigned int len,
		bool is_write)
{
	const struct bus_range *r = bus_find(b, space, addr, len);

	if (!r) {
		/* An empty ISA bus floats high, which tells probing drivers nothing is there; empty MMIO reads 0. */
		if (!is_write)
			memset(data, space == BUS_PIO ? 0xff : 0, len);
		return false;
	}
	r->handler(r->opaque, addr - r->base, data, len, is_write);
	return true;
}
