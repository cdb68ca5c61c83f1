/* SPDX-License-Identifier: MIT */
/*
 * The machine's address decoder: one sorted table of port-I/O and MMIO ranges, each with a handler.  A vCPU
 * thread looks up the address of every PIO/MMIO exit here and calls the device synchronously.  Ranges are
 * registered while the machine is built (single-threaded) and never change while vCPUs run, so lookups need no
 * lock; devices lock their own state.
 */
#ifndef NITROVM_HW_BUS_H
#define NITROVM_HW_BUS_H

#include <stdbool.h>
#include <stdint.h>

/* A machine has a serial port, an i8042, a debug port, a power-management port and a few virtio windows. */
#define BUS_MAX_RANGES 32

enum bus_space { BUS_PIO, BUS_MMIO };

/*
 * offset is relative to the range base; data holds len bytes (1, 2, 4 or 8), little-endian as the guest sees them.
 * Reads fill data; unhandled bytes must be left as the caller initialised them (zero).
 */
typedef void (*bus_handler)(void *opaque, uint64_t offset, void *data, unsigned int len, bool is_write);

struct bus_range {
	uint64_t base;
	uint64_t len;
	enum bus_space space;
	bus_handler handler;
	void *opaque;
	const char *name;
};

struct bus {
	unsigned int nranges;
	struct bus_range ranges[BUS_MAX_RANGES];
};

/* Insert a range; fails (-EEXIST/-ENOSPC with err_msg) when it overlaps another range of the same space. */
int bus_register(struct bus *b, enum bus_space space, uint64_t base, uint64_t len, bus_handler h, void *opaque,
		 const char *name);
/* Dispatch an access; returns false when nothing is mapped there (reads: PIO all ones, MMIO zeros). */
bool bus_access(const struct bus *b, enum bus_space space, uint64_t addr, void *data, unsigned int len,
		bool is_write);

#endif
