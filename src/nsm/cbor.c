// SPDX-License-Identifier: MIT
#include "cbor.h"

#include <cbor.h>
#include <string.h>

/* The longest head: the initial byte and an 8-byte argument. */
#define HEAD_MAX 9

void nsm_enc_init(struct nsm_enc *e, uint8_t *buf, size_t cap)
{
	e->p = buf;
	e->len = 0;
	e->cap = cap;
	e->overflow = false;
}

/* Room for n more bytes, or NULL (and the flag) when there is none. */
static uint8_t *nsm_enc_room(struct nsm_enc *e, size_t n)
{
	if (e->overflow || n > e->cap - e->len) {
		e->overflow = true;
		return NULL;
	}
	return e->p + e->len;
}

/* libcbor's encoders return 0 when the head does not fit in the size they are given. */
static void nsm_enc_head(struct nsm_enc *e, size_t (*fn)(uint64_t, unsigned char *, size_t), uint64_t v)
{
	size_t n;

	if (e->overflow)
		return;
	n = fn(v, e->p + e->len, e->cap - e->len);
	if (!n)
		e->overflow = true;
	e->len += n;
}

void nsm_enc_uint(struct nsm_enc *e, uint64_t v)
{
	nsm_enc_head(e, cbor_encode_uint, v);
}

void nsm_enc_negint(struct nsm_enc *e, uint64_t v)
{
	nsm_enc_head(e, cbor_encode_negint, v);
}

static size_t bytes_start(uint64_t n, unsigned char *p, size_t room)
{
	return cbor_encode_bytestring_start((size_t)n, p, room);
}

static size_t text_start(uint64_t n, unsigned char *p, size_t room)
{
	return cbor_encode_string_start((size_t)n, p, room);
}

static size_t array_start(uint64_t n, unsigned char *p, size_t room)
{
	return cbor_encode_array_start((size_t)n, p, room);
}

static size_t map_start(uint64_t n, unsigned char *p, size_t room)
{
	return cbor_encode_map_start((size_t)n, p, room);
}

static void nsm_enc_raw(struct nsm_enc *e, const void *data, size_t n)
{
	uint8_t *d = nsm_enc_room(e, n);

	if (d && n) {
		memcpy(d, data, n);
		e->len += n;
	}
}

void nsm_enc_bytes_head(struct nsm_enc *e, size_t n)
{
	nsm_enc_head(e, bytes_start, n);
}

void nsm_enc_bytes(struct nsm_enc *e, const void *data, size_t n)
{
	nsm_enc_head(e, bytes_start, n);
	nsm_enc_raw(e, data, n);
}

void nsm_enc_text(struct nsm_enc *e, const char *s)
{
	size_t n = strlen(s);

	nsm_enc_head(e, text_start, n);
	nsm_enc_raw(e, s, n);
}

void nsm_enc_array(struct nsm_enc *e, size_t n)
{
	nsm_enc_head(e, array_start, n);
}

void nsm_enc_map(struct nsm_enc *e, size_t n)
{
	nsm_enc_head(e, map_start, n);
}

void nsm_enc_bool(struct nsm_enc *e, bool v)
{
	uint8_t b = v ? 0xf5 : 0xf4;

	nsm_enc_raw(e, &b, 1);
}

void nsm_enc_null(struct nsm_enc *e)
{
	static const uint8_t null = 0xf6;

	nsm_enc_raw(e, &null, 1);
}

/* ---- decoding ---- */

void nsm_dec_init(struct nsm_dec *d, const void *buf, size_t len)
{
	d->p = buf;
	d->end = d->p + len;
}

int nsm_dec_head(struct nsm_dec *d, struct cbor_head *h)
{
	size_t n;
	uint8_t ib;

	if (d->p >= d->end)
		return -1;
	ib = *d->p++;
	h->major = ib >> 5;
	h->info = ib & 0x1f;
	h->data = NULL;
	if (h->info < 24) {
		h->arg = h->info;
	} else if (h->info <= 27) {
		/* 24..27: a 1, 2, 4 or 8-byte big-endian argument follows. */
		n = (size_t)1 << (h->info - 24);
		if (n > nsm_dec_left(d))
			return -1;
		h->arg = 0;
		for (size_t i = 0; i < n; i++)
			h->arg = h->arg << 8 | d->p[i];
		d->p += n;
	} else {
		/* 28-30 are reserved; 31 is an indefinite length (or a break), which no request needs. */
		return -1;
	}
	if (h->major == CBOR_BYTES || h->major == CBOR_TEXT) {
		if (h->arg > nsm_dec_left(d))
			return -1;
		h->data = d->p;
		d->p += h->arg;
	}
	return 0;
}

int nsm_dec_skip_rest(struct nsm_dec *d, const struct cbor_head *h, unsigned int depth)
{
	struct cbor_head c;
	uint64_t items;

	switch (h->major) {
	case CBOR_ARRAY:
	case CBOR_MAP:
		if (depth >= NSM_CBOR_MAX_DEPTH)
			return -1;
		/* Every item takes at least a byte: a count beyond the bytes left is a lie, refused before looping. */
		items = h->arg;
		if (items > nsm_dec_left(d) || (h->major == CBOR_MAP && items > nsm_dec_left(d) / 2))
			return -1;
		if (h->major == CBOR_MAP)
			items *= 2;
		for (uint64_t i = 0; i < items; i++)
			if (nsm_dec_head(d, &c) || nsm_dec_skip_rest(d, &c, depth + 1))
				return -1;
		return 0;
	case CBOR_TAG:
		if (depth >= NSM_CBOR_MAX_DEPTH || nsm_dec_head(d, &c))
			return -1;
		return nsm_dec_skip_rest(d, &c, depth + 1);
	default:
		/* Integers, strings (consumed by nsm_dec_head), simple values and floats (their bits in arg). */
		return 0;
	}
}
