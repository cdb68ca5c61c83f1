/* SPDX-License-Identifier: MIT */
/*
 * Reading a fuzz input as a program: little-endian numbers taken from the front, zeros once it runs out (so every
 * input, however short, is a complete program).
 */
#ifndef NITROVM_TESTS_FUZZ_INPUT_H
#define NITROVM_TESTS_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

struct input {
	const uint8_t *p;
	size_t left;
};

static inline uint8_t take8(struct input *in)
{
	uint8_t v = 0;

	if (in->left) {
		v = *in->p++;
		in->left--;
	}
	return v;
}

static inline uint16_t take16(struct input *in)
{
	return take8(in) | (uint16_t)take8(in) << 8;
}

static inline uint32_t take32(struct input *in)
{
	return take16(in) | (uint32_t)take16(in) << 16;
}

static inline uint64_t take64(struct input *in)
{
	return take32(in) | (uint64_t)take32(in) << 32;
}

/* Up to n bytes from the front into buf (the rest of buf untouched); returns how many. */
static inline size_t take_bytes(struct input *in, uint8_t *buf, size_t n)
{
	size_t k = n < in->left ? n : in->left;

	for (size_t i = 0; i < k; i++)
		buf[i] = in->p[i];
	in->p += k;
	in->left -= k;
	return k;
}

#endif
