// SPDX-License-Identifier: MIT
/* The CBOR codec (cbor.h). */
#include "cbor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"

/* A heap buffer's first allocation (it doubles from there): a signature section is a few kilobytes. */
#define ENC_GROW_MIN 256
/* The one-byte head of the break that ends an indefinite-length item. */
#define CBOR_BREAK 0xff

/* ---- encoding ---- */

void cbor_enc_init(struct cbor_enc *e, uint8_t *buf, size_t cap)
{
	memset(e, 0, sizeof(*e));
	e->buf = buf;
	e->cap = cap;
}

void cbor_enc_init_heap(struct cbor_enc *e)
{
	memset(e, 0, sizeof(*e));
	e->grow = true;
}

void cbor_enc_release(struct cbor_enc *e)
{
	if (e->grow)
		free(e->buf);
	e->buf = NULL;
	e->len = e->cap = 0;
}

/* Room for n more bytes, or false (and the flag, for good) when there is none. */
static bool enc_room(struct cbor_enc *e, size_t n)
{
	uint8_t *q;

	if (e->failed)
		return false;
	if (n <= e->cap - e->len)
		return true;
	if (!e->grow || n > SIZE_MAX - e->len) {
		e->failed = true;
		return false;
	}
	q = grow_array(e->buf, &e->cap, e->len + n, 1, ENC_GROW_MIN);
	if (!q) {
		e->failed = true;
		return false;
	}
	e->buf = q;
	return true;
}

static void enc_raw(struct cbor_enc *e, const void *data, size_t n)
{
	if (!enc_room(e, n))
		return;
	if (n)
		memcpy(e->buf + e->len, data, n);
	e->len += n;
}

/* The shortest head for the argument, as RFC 8949 section 4.2.1 (and serde_cbor) writes it. */
static void enc_head(struct cbor_enc *e, uint8_t major, uint64_t v)
{
	uint8_t h[CBOR_HEAD_MAX];
	unsigned int info, n;

	if (v <= CBOR_INFO_INLINE_MAX) {
		info = (unsigned int)v;
		n = 0;
	} else if (v <= UINT8_MAX) {
		info = CBOR_INFO_ARG1;
		n = 1;
	} else if (v <= UINT16_MAX) {
		info = CBOR_INFO_ARG1 + 1;
		n = 2;
	} else if (v <= UINT32_MAX) {
		info = CBOR_INFO_ARG1 + 2;
		n = 4;
	} else {
		info = CBOR_INFO_ARG8;
		n = 8;
	}
	h[0] = (uint8_t)(major << 5 | info);
	for (unsigned int i = 0; i < n; i++)
		h[1 + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	enc_raw(e, h, 1 + n);
}

void cbor_enc_uint(struct cbor_enc *e, uint64_t v)
{
	enc_head(e, CBOR_UINT, v);
}

void cbor_enc_negint(struct cbor_enc *e, uint64_t v)
{
	enc_head(e, CBOR_NEGINT, v);
}

void cbor_enc_bytes_head(struct cbor_enc *e, size_t n)
{
	enc_head(e, CBOR_BYTES, n);
}

void cbor_enc_bytes(struct cbor_enc *e, const void *data, size_t n)
{
	enc_head(e, CBOR_BYTES, n);
	enc_raw(e, data, n);
}

void cbor_enc_text(struct cbor_enc *e, const char *s)
{
	size_t n = strlen(s);

	enc_head(e, CBOR_TEXT, n);
	enc_raw(e, s, n);
}

void cbor_enc_array(struct cbor_enc *e, uint64_t n)
{
	enc_head(e, CBOR_ARRAY, n);
}

void cbor_enc_map(struct cbor_enc *e, uint64_t n)
{
	enc_head(e, CBOR_MAP, n);
}

void cbor_enc_tag(struct cbor_enc *e, uint64_t tag)
{
	enc_head(e, CBOR_TAG, tag);
}

void cbor_enc_bool(struct cbor_enc *e, bool v)
{
	enc_head(e, CBOR_SIMPLE, v ? CBOR_TRUE : CBOR_FALSE);
}

void cbor_enc_null(struct cbor_enc *e)
{
	enc_head(e, CBOR_SIMPLE, CBOR_NULL);
}

/* ---- decoding ---- */

void cbor_dec_init(struct cbor_dec *d, const void *buf, size_t len, unsigned int flags,
		   unsigned int max_depth)
{
	memset(d, 0, sizeof(*d));
	d->base = d->p = buf;
	/* Not buf + 0 when buf is NULL: pointer arithmetic on NULL is undefined even for 0. */
	d->end = len ? d->p + len : d->p;
	d->flags = flags;
	d->max_depth = max_depth;
}

static int dec_fail(struct cbor_dec *d, enum cbor_err err, size_t at)
{
	d->err = err;
	d->at = at;
	return -EBADMSG;
}

/* Simple values with a meaning, and floats; the rest are unassigned (RFC 8949 section 3.3). */
static bool simple_known(uint8_t info)
{
	return (info >= CBOR_FALSE && info <= CBOR_UNDEFINED) ||
	       (info > CBOR_INFO_ARG1 && info <= CBOR_INFO_ARG8);
}

/* Additional information 31: an indefinite length or the break, each only where the options allow it. */
static int dec_indefinite(struct cbor_dec *d, struct cbor_head *h)
{
	unsigned int need;

	switch (h->major) {
	case CBOR_BYTES:
	case CBOR_TEXT:
		need = CBOR_DEC_INDEF_STRINGS;
		break;
	case CBOR_ARRAY:
	case CBOR_MAP:
		need = CBOR_DEC_INDEF_CONTAINERS;
		break;
	case CBOR_SIMPLE:
		need = CBOR_DEC_INDEF_CONTAINERS | CBOR_DEC_INDEF_STRINGS;
		break;
	default:
		/* Integers and tags have no indefinite form. */
		return dec_fail(d, CBOR_ERR_INVALID, h->at);
	}
	if (!(d->flags & need))
		return dec_fail(d, CBOR_ERR_INDEFINITE, h->at);
	h->indefinite = true;
	d->p++;
	return 0;
}

int cbor_dec_head(struct cbor_dec *d, struct cbor_head *h)
{
	size_t left = cbor_dec_left(d), n;

	memset(h, 0, sizeof(*h));
	h->at = d->at = cbor_dec_offset(d);
	if (!left)
		return dec_fail(d, CBOR_ERR_END, h->at);
	h->major = d->p[0] >> 5;
	h->info = d->p[0] & 0x1f;
	if (h->info == CBOR_INFO_INDEF)
		return dec_indefinite(d, h);
	if (h->info > CBOR_INFO_ARG8)
		return dec_fail(d, CBOR_ERR_INVALID, h->at);
	/* Before the argument's length is checked: libcbor refused these heads whatever followed them. */
	if (h->major == CBOR_SIMPLE && (d->flags & CBOR_DEC_KNOWN_SIMPLE) && !simple_known(h->info))
		return dec_fail(d, CBOR_ERR_INVALID, h->at);
	n = h->info < CBOR_INFO_ARG1 ? 0 : (size_t)1 << (h->info - CBOR_INFO_ARG1);
	if (n > left - 1)
		return dec_fail(d, CBOR_ERR_TRUNCATED, h->at);
	h->arg = n ? 0 : h->info;
	for (size_t i = 1; i <= n; i++)
		h->arg = h->arg << 8 | d->p[i];
	left -= 1 + n;
	if (h->major == CBOR_BYTES || h->major == CBOR_TEXT) {
		if (h->arg > left)
			return dec_fail(d, CBOR_ERR_TRUNCATED, h->at);
		h->data = d->p + 1 + n;
		n += h->arg;
	}
	d->p += 1 + n;
	return 0;
}

/* Items a definite container's head claims; a map of n pairs holds 2n, saturated so a lie stays a lie. */
static uint64_t head_items(const struct cbor_head *h)
{
	if (h->major != CBOR_MAP)
		return h->arg;
	return h->arg > UINT64_MAX / 2 ? UINT64_MAX : 2 * h->arg;
}

int cbor_dec_enter(struct cbor_dec *d, const struct cbor_head *h, struct cbor_iter *it)
{
	uint64_t items = head_items(h);

	it->indefinite = h->indefinite;
	it->left = h->arg;
	/* Every item takes at least a byte: a count above the bytes left is a lie, refused before a loop. */
	if (!h->indefinite && items > cbor_dec_left(d)) {
		d->err_major = h->major;
		d->err_items = items;
		d->err_left = cbor_dec_left(d);
		return dec_fail(d, CBOR_ERR_COUNT, h->at);
	}
	return 0;
}

bool cbor_dec_more(struct cbor_dec *d, struct cbor_iter *it)
{
	if (it->indefinite) {
		if (d->p < d->end && *d->p == CBOR_BREAK) {
			d->at = cbor_dec_offset(d);
			d->p++;
			return false;
		}
		return true;
	}
	if (!it->left)
		return false;
	it->left--;
	return true;
}

/* The chunks of an indefinite-length string, up to and including its break. */
static int skip_chunks(struct cbor_dec *d, const struct cbor_head *h)
{
	struct cbor_iter it = {.indefinite = true};
	struct cbor_head c;

	while (cbor_dec_more(d, &it)) {
		if (cbor_dec_head(d, &c))
			return -EBADMSG;
		if (c.major != h->major || c.indefinite)
			return dec_fail(d, CBOR_ERR_CHUNK, c.at);
	}
	return 0;
}

int cbor_dec_skip(struct cbor_dec *d, const struct cbor_head *h, unsigned int depth)
{
	unsigned int per_item = h->major == CBOR_MAP ? 2 : 1;
	struct cbor_iter it;
	struct cbor_head c;

	switch (h->major) {
	case CBOR_BYTES:
	case CBOR_TEXT:
		return h->indefinite ? skip_chunks(d, h) : 0;
	case CBOR_SIMPLE:
		return cbor_head_is_break(h) ? dec_fail(d, CBOR_ERR_BREAK, h->at) : 0;
	case CBOR_ARRAY:
	case CBOR_MAP:
	case CBOR_TAG:
		break;
	default:
		return 0;
	}
	if ((d->flags & CBOR_DEC_DEPTH_COUNTS_CONTAINERS) && depth >= d->max_depth)
		return dec_fail(d, CBOR_ERR_DEPTH, h->at);
	if (h->major == CBOR_TAG) {
		/* No count check: a tag with nothing after it is an item that ends early. */
		if (depth >= d->max_depth)
			return dec_fail(d, CBOR_ERR_DEPTH, h->at);
		return cbor_dec_skip_item(d, depth + 1);
	}
	if (cbor_dec_enter(d, h, &it))
		return -EBADMSG;
	while (cbor_dec_more(d, &it)) {
		for (unsigned int i = 0; i < per_item; i++) {
			/* Checked per item, not per container: an empty container at the limit is fine. */
			if (depth >= d->max_depth)
				return dec_fail(d, CBOR_ERR_DEPTH, h->at);
			if (cbor_dec_head(d, &c) || cbor_dec_skip(d, &c, depth + 1))
				return -EBADMSG;
		}
	}
	return 0;
}

int cbor_dec_skip_item(struct cbor_dec *d, unsigned int depth)
{
	struct cbor_head h;

	if (cbor_dec_head(d, &h))
		return -EBADMSG;
	return cbor_dec_skip(d, &h, depth);
}

int cbor_dec_finish(struct cbor_dec *d)
{
	if (d->p == d->end)
		return 0;
	return dec_fail(d, CBOR_ERR_TRAILING, cbor_dec_offset(d));
}

void cbor_dec_describe(const struct cbor_dec *d, const char *what, char *out, size_t cap)
{
	switch (d->err) {
	case CBOR_OK:
		snprintf(out, cap, "no error");
		break;
	case CBOR_ERR_END:
		snprintf(out, cap, "the data ends where another item was expected");
		break;
	case CBOR_ERR_TRUNCATED:
		snprintf(out, cap, "an item runs past the end of the data");
		break;
	case CBOR_ERR_INVALID:
		snprintf(out, cap, "byte 0x%02x does not start a valid CBOR item", d->base[d->at]);
		break;
	case CBOR_ERR_INDEFINITE:
		snprintf(out, cap, "an indefinite-length item where none is allowed");
		break;
	case CBOR_ERR_CHUNK:
		snprintf(out, cap,
			 "a chunk of an indefinite-length string is not a definite string of its type");
		break;
	case CBOR_ERR_BREAK:
		snprintf(out, cap, "a break outside an indefinite-length item");
		break;
	case CBOR_ERR_COUNT:
		snprintf(out, cap, "%s claims %llu items but only %zu bytes are left",
			 what ? what : cbor_major_name(d->err_major), (unsigned long long)d->err_items,
			 d->err_left);
		break;
	case CBOR_ERR_DEPTH:
		snprintf(out, cap, "items are nested more than %u deep", d->max_depth);
		break;
	case CBOR_ERR_TRAILING:
		snprintf(out, cap, "%zu bytes follow the last item", cbor_dec_left(d));
		break;
	}
}

const char *cbor_major_name(uint8_t major)
{
	static const char *const names[] = {
		[CBOR_UINT] = "an unsigned integer",
		[CBOR_NEGINT] = "a negative integer",
		[CBOR_BYTES] = "a byte string",
		[CBOR_TEXT] = "a text string",
		[CBOR_ARRAY] = "an array",
		[CBOR_MAP] = "a map",
		[CBOR_TAG] = "a tag",
		[CBOR_SIMPLE] = "a simple value",
	};

	return major < sizeof(names) / sizeof(names[0]) ? names[major] : "nothing";
}

const char *cbor_head_name(const struct cbor_head *h)
{
	if ((h->major == CBOR_BYTES || h->major == CBOR_TEXT) && h->indefinite)
		return "an indefinite-length string";
	if (h->major != CBOR_SIMPLE)
		return cbor_major_name(h->major);
	if (h->indefinite)
		return "a break";
	if (cbor_head_is_float(h))
		return "a float";
	switch (h->info) {
	case CBOR_FALSE:
	case CBOR_TRUE:
		return "a boolean";
	case CBOR_NULL:
		return "null";
	case CBOR_UNDEFINED:
		return "undefined";
	default:
		return "a simple value";
	}
}

bool cbor_head_is_text(const struct cbor_head *h, const char *s)
{
	size_t n = strlen(s);

	return h->major == CBOR_TEXT && !h->indefinite && h->arg == n && !memcmp(h->data, s, n);
}
