/* SPDX-License-Identifier: MIT */
/* Little-endian fields at any alignment: boot protocol headers, ELF files, relocation tables. */
#ifndef NITROVM_COMMON_LE_H
#define NITROVM_COMMON_LE_H

#include <stdint.h>

static inline uint16_t le16_read(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t le32_read(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t le64_read(const uint8_t *p)
{
	return (uint64_t)le32_read(p) | (uint64_t)le32_read(p + 4) << 32;
}

static inline void le_write(uint8_t *p, uint64_t v, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++, v >>= 8)
		p[i] = v & 0xff;
}

#endif
