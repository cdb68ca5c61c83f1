/* SPDX-License-Identifier: MIT */
/*
 * The little CBOR the NSM speaks (internal to src/nsm).
 *
 * Encoding goes into a fixed buffer through libcbor's head encoders (shortest heads, as serde_cbor writes them);
 * running out of room sets a flag once instead of failing at every call.
 *
 * Decoding reads one head at a time from a bounded cursor.  The request grammar needs nothing more, and a
 * reader whose every bound is in view is easier to trust with guest bytes than a general decoder: lengths are
 * checked against the bytes left before anything is read, indefinite lengths and reserved heads are refused,
 * and skipping an unknown value is bounded in depth.
 */
#ifndef NITROVM_NSM_CBOR_H
#define NITROVM_NSM_CBOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nsm_enc {
	uint8_t *p;
	size_t len, cap;
	bool overflow;
};

void nsm_enc_init(struct nsm_enc *e, uint8_t *buf, size_t cap);
void nsm_enc_uint(struct nsm_enc *e, uint64_t v);
void nsm_enc_negint(struct nsm_enc *e, uint64_t v); /* the integer -1 - v */
void nsm_enc_bytes(struct nsm_enc *e, const void *data, size_t n);
/* A byte string's head alone, for contents hashed or copied separately. */
void nsm_enc_bytes_head(struct nsm_enc *e, size_t n);
void nsm_enc_text(struct nsm_enc *e, const char *s);
void nsm_enc_array(struct nsm_enc *e, size_t n);
void nsm_enc_map(struct nsm_enc *e, size_t n);
void nsm_enc_bool(struct nsm_enc *e, bool v);
void nsm_enc_null(struct nsm_enc *e);

/* Major types. */
#define CBOR_UINT   0
#define CBOR_NEGINT 1
#define CBOR_BYTES  2
#define CBOR_TEXT   3
#define CBOR_ARRAY  4
#define CBOR_MAP    5
#define CBOR_TAG    6
#define CBOR_SIMPLE 7
/* Simple values (major 7) by their additional information. */
#define CBOR_FALSE 20
#define CBOR_TRUE  21
#define CBOR_NULL  22
/* Deeper than anything a request needs ({name: {field: value}} is depth 2); unknown values may nest a little. */
#define NSM_CBOR_MAX_DEPTH 8

struct nsm_dec {
	const uint8_t *p, *end;
};

struct cbor_head {
	uint8_t major;
	uint8_t info;	     /* additional information (0-27) */
	uint64_t arg;	     /* value, length or count; for major 7 the simple value or float bits */
	const uint8_t *data; /* byte and text strings: their contents, arg bytes, inside the input */
};

void nsm_dec_init(struct nsm_dec *d, const void *buf, size_t len);
/* The next head; strings are consumed whole.  -1 when malformed or past the end. */
int nsm_dec_head(struct nsm_dec *d, struct cbor_head *h);
/* Skip one complete item whose head was just read.  -1 when malformed or deeper than NSM_CBOR_MAX_DEPTH. */
int nsm_dec_skip_rest(struct nsm_dec *d, const struct cbor_head *h, unsigned int depth);
static inline size_t nsm_dec_left(const struct nsm_dec *d)
{
	return (size_t)(d->end - d->p);
}
static inline bool nsm_head_is_text(const struct cbor_head *h, const char *s, size_t n)
{
	return h->major == CBOR_TEXT && h->arg == n && !__builtin_memcmp(h->data, s, n);
}

#endif
