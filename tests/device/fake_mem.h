/* SPDX-License-Identifier: MIT */
/*
 * Fake guest memory for the device tier and the fuzz targets: guard pages and a canary hole, no test framework.
 *
 * Host layout:
 *   [guard, PROT_NONE] [region 0: gpa 0, 64 KiB] [canary hole, 4 KiB of 0xa5] [region 1: gpa 1 MiB, 64 KiB]
 *   [guard, PROT_NONE]
 * The canary hole is host memory right between the two regions but not guest memory: a device that trusted a
 * buffer running off the end of region 0 would write into it, and one running off either end hits a guard.
 * Both region ends are page aligned, so an overrun is caught at its first byte (by the canary check or a fault).
 */
#ifndef NITROVM_TESTS_DEVICE_FAKE_MEM_H
#define NITROVM_TESTS_DEVICE_FAKE_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hw/guest_mem.h"

#define FAKE_PAGE        4096
#define FAKE_R0_GPA      0x0ULL
#define FAKE_R0_SIZE     0x10000ULL
#define FAKE_R1_GPA      0x100000ULL
#define FAKE_R1_SIZE     0x10000ULL
#define FAKE_CANARY      0xa5
#define FAKE_CANARY_SIZE FAKE_PAGE
/* Optional large region, reserved but never touched unless a device misbehaves (length-overflow cases). */
#define FAKE_BIG_GPA     0x100000000ULL
#define FAKE_BIG_SIZE    0x80000000ULL

struct fake_mem {
	struct guest_mem gm;
	uint8_t *map;
	size_t map_size;
	uint8_t *canary;
	uint8_t *big;
};

int fake_mem_init(struct fake_mem *m, bool with_big);
void fake_mem_free(struct fake_mem *m);
/* Zero both regions and rewrite the canary: a fresh memory without new mappings (fuzz targets, per input). */
void fake_mem_clear(struct fake_mem *m);
/* Host pointers of the two regions. */
uint8_t *fake_r0(struct fake_mem *m);
uint8_t *fake_r1(struct fake_mem *m);
bool fake_canary_intact(const struct fake_mem *m);

#endif
