/* SPDX-License-Identifier: MIT */
/*
 * A test device: a one-byte write of c to I/O port 0x501 ends the VM with exit status c.  The probe guest uses it
 * to report pass/fail without a reset; real enclaves never touch it.
 */
#ifndef NITROVM_HW_DEBUG_EXIT_H
#define NITROVM_HW_DEBUG_EXIT_H

#include <stdbool.h>
#include <stdint.h>

#define DEBUG_EXIT_PORT 0x501

/* Called from a vCPU thread with the byte written. */
typedef void (*debug_exit_fn)(void *opaque, uint8_t code);

struct debug_exit {
	debug_exit_fn fn;
	void *opaque;
};

/* Bus handler; opaque is a struct debug_exit. */
void debug_exit_io(void *opaque, uint64_t offset, void *data, unsigned int len, bool is_write);

#endif
