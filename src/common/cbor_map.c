// SPDX-License-Identifier: MIT
/*
 * Maps of known text keys (cbor.h, cbor_map_read): the one shape in which nitrovm reads a CBOR map whose keys a
 * table names, so every such reader makes the same checks (unknown keys, repeated keys, wrong types, lengths,
 * missing keys) in the same order, whoever wrote the map.
 */
#include "cbor.h"

#include <stddef.h>

static const struct cbor_field *field_of(const struct cbor_field *f, unsigned int nf, const struct cbor_head *k)
{
	for (unsigned int i = 0; i < nf; i++)
		if (cbor_head_is_text(k, f[i].key))
			return &f[i];
	return NULL;
}

/* The value v for the field: its status, and the field filled when it is OK. */
static enum cbor_map_status take_value(struct cbor_field *f, const struct cbor_head *v)
{
	switch (f->type) {
	case CBOR_FIELD_UINT:
		if (v->major != CBOR_UINT)
			return CBOR_MAP_WRONG_TYPE;
		if (f->max && v->arg > f->max)
			return CBOR_MAP_TOO_LARGE;
		f->u = v->arg;
		return CBOR_MAP_OK;
	case CBOR_FIELD_BYTES_OR_NULL:
		if (v->major == CBOR_SIMPLE && v->info == CBOR_NULL) {
			f->data = NULL;
			f->len = 0;
			return CBOR_MAP_OK;
		}
		/* fallthrough */
	case CBOR_FIELD_BYTES:
	case CBOR_FIELD_TEXT:
		if (v->major != (f->type == CBOR_FIELD_TEXT ? CBOR_TEXT : CBOR_BYTES))
			return CBOR_MAP_WRONG_TYPE;
		if (f->max && v->arg > f->max)
			return CBOR_MAP_TOO_LARGE;
		/* A zero-length string points at where it would be: "present and empty" stays apart from null. */
		f->data = v->data;
		f->len = (size_t)v->arg;
		return CBOR_MAP_OK;
	case CBOR_FIELD_BOOL:
		/* By the additional information: a float whose bits happen to be 21 is not true. */
		if (v->major != CBOR_SIMPLE || (v->info != CBOR_TRUE && v->info != CBOR_FALSE))
			return CBOR_MAP_WRONG_TYPE;
		f->u = v->info == CBOR_TRUE;
		return CBOR_MAP_OK;
	case CBOR_FIELD_INT:
		if (v->major != CBOR_UINT && v->major != CBOR_NEGINT)
			return CBOR_MAP_WRONG_TYPE;
		/* Negative: -1 - arg, so one bound on arg keeps both ends of a two's complement range. */
		if (v->arg > (f->max && f->max < INT64_MAX ? f->max : (uint64_t)INT64_MAX))
			return CBOR_MAP_TOO_LARGE;
		f->i = v->major == CBOR_UINT ? (int64_t)v->arg : -(int64_t)v->arg - 1;
		return CBOR_MAP_OK;
	}
	return CBOR_MAP_WRONG_TYPE;
}

static void note(struct cbor_map_fault *fault, enum cbor_map_status status, size_t at, const struct cbor_field *f)
{
	if (fault->status)
		return; /* the first fault is the one reported */
	fault->status = status;
	fault->at = at;
	fault->field = f;
}

enum cbor_map_status cbor_map_read(struct cbor_dec *d, unsigned int depth, uint64_t max_pairs, unsigned int flags,
				   struct cbor_field *f, unsigned int nf, struct cbor_map_fault *fault)
{
	struct cbor_map_fault own = { 0 }, entry = { 0 };
	struct cbor_head h, k, v;
	struct cbor_iter it;

	if (!fault)
		fault = &own;
	*fault = (struct cbor_map_fault){ 0 };
	d->err = CBOR_OK;
	for (unsigned int i = 0; i < nf; i++) {
		f[i].seen = false;
		f[i].u = 0;
		f[i].i = 0;
		f[i].data = NULL;
		f[i].len = 0;
	}
	if (cbor_dec_head(d, &h) || h.major != CBOR_MAP || (!h.indefinite && h.arg > max_pairs) ||
	    cbor_dec_enter(d, &h, &it)) {
		note(fault, CBOR_MAP_MALFORMED, d->err ? d->at : h.at, NULL);
		return fault->status;
	}
	for (uint64_t pairs = 0; cbor_dec_more(d, &it); pairs++) {
		size_t at = cbor_dec_offset(d);
		struct cbor_field *hit;
		enum cbor_map_status st;

		if (pairs == max_pairs || cbor_dec_head(d, &k) || cbor_dec_skip(d, &k, depth + 1) ||
		    cbor_dec_head(d, &v) || cbor_dec_skip(d, &v, depth + 1)) {
			note(fault, CBOR_MAP_MALFORMED, d->err ? d->at : at, NULL);
			return fault->status;
		}
		hit = k.major == CBOR_TEXT ? (struct cbor_field *)field_of(f, nf, &k) : NULL;
		if (!hit) {
			if (k.major != CBOR_TEXT || !(flags & CBOR_MAP_SKIP_UNKNOWN))
				note(&entry, CBOR_MAP_UNKNOWN, k.at, NULL);
			continue;
		}
		if (hit->seen) {
			note(&entry, CBOR_MAP_REPEATED, k.at, hit);
			continue;
		}
		hit->seen = true;
		st = take_value(hit, &v);
		if (st)
			note(&entry, st, k.at, hit);
	}
	for (unsigned int i = 0; i < nf; i++)
		if (f[i].required && !f[i].seen)
			note(&entry, CBOR_MAP_MISSING, h.at, &f[i]);
	*fault = entry;
	return fault->status;
}
