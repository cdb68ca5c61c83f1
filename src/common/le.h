/* SPDX-License-Identifier: MIT */
/*
 * Little-endian fields at any alignment (boot protocol headers, ACPI tables, ELF files, relocation tables, vsock
 * headers): the one set of helpers, included by common/util.h.
 */
#ifndef NITROVM_COMMON_LE_H
#define NITROVM_COMMON_LE_H

#include <stdint.h>

static inline uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* The n low bytes of v (n <= 8). */
static inline void put_le(uint8_t *p, uint64_t v, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++, v >>= 8)
		p[i] = v & 0xff;
}

static inline void put_le16(uint8_t *p, uint16_t v)
{
	put_le(p, v, 2);
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
	put_le(p, v, 4);
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
	put_le(p, v, 8);
}

#endif
