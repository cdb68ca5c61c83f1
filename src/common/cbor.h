/* SPDX-License-Identifier: MIT */
/*
 * The one CBOR codec (RFC 8949) of nitrovm: EIF signature sections (eif/signature.c), NSM requests, responses
 * and attestation documents (nsm/request.c, nsm/attestation.c) and the attestation verifier (nsm/verify.c).
 *
 * Encoding writes the shortest head for every value, as serde_cbor does, because nitro-cli and nsm-api
 * compare and hash encodings byte for byte.  It goes into a fixed buffer or a heap buffer that grows; running
 * out of room (or memory) sets a sticky flag once, so a caller encodes a whole structure and checks once at
 * the end.
 *
 * Decoding reads one head at a time from a bounded cursor, and heads are decoded here rather than by
 * libcbor's streaming decoder.  The head grammar is small (a byte, then 0, 1, 2, 4 or 8 bytes of argument),
 * and libcbor 0.8 was a liability for it: it refuses the one-byte heads of tags 6..20 as "unassigned"
 * although 0xd2 is how tag 18, COSE_Sign1, is written, which took a workaround in every user.  Every bound is
 * in view here: a string's length is checked against the bytes left before it is used, a container's count is
 * checked before a loop trusts it (every item takes at least a byte), and skipping an unknown value recurses
 * at most max_depth deep.  Byte and text strings are not copied: a head points into the input.
 *
 * What a decoder accepts beyond definite-length, well-formed items is the caller's choice (CBOR_DEC_*): the
 * verifier takes indefinite-length maps because real NSM hardware writes its payload as one; signature
 * sections and NSM requests refuse them.  Every failure records what went wrong and the byte offset of the
 * head at fault, for messages that say "... at byte N".
 *
 * A map whose keys a table names (the NSM's requests, the issuer's messages, nitro-cli's describe
 * arguments and replies) is read by cbor_map_read (cbor_map.c), so each such reader checks unknown, repeated,
 * mistyped, too long and missing keys alike.
 */
#ifndef NITROVM_COMMON_CBOR_H
#define NITROVM_COMMON_CBOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Major types: the top three bits of a head's first byte. */
#define CBOR_UINT   0
#define CBOR_NEGINT 1 /* the integer -1 - argument */
#define CBOR_BYTES  2
#define CBOR_TEXT   3
#define CBOR_ARRAY  4
#define CBOR_MAP    5
#define CBOR_TAG    6
#define CBOR_SIMPLE 7 /* simple values and floats */

/* Additional information: the low five bits of a head's first byte. */
#define CBOR_INFO_INLINE_MAX 23 /* 0..23: the argument itself */
#define CBOR_INFO_ARG1	     24 /* 24..27: a 1, 2, 4 or 8-byte big-endian argument follows */
#define CBOR_INFO_ARG8	     27
#define CBOR_INFO_INDEF	     31 /* indefinite length (majors 2-5), or the break (major 7); 28-30 are reserved */

/* Simple values (major 7) by their additional information; 25..27 are half, single and double floats. */
#define CBOR_FALSE     20
#define CBOR_TRUE      21
#define CBOR_NULL      22
#define CBOR_UNDEFINED 23

/* The longest head: the first byte and an 8-byte argument. */
#define CBOR_HEAD_MAX 9

/* ---- encoding ---- */

struct cbor_enc {
	uint8_t *buf;
	size_t len, cap;
	bool grow;   /* buf is heap memory that grows; the caller frees it (cbor_enc_release) or keeps it */
	bool failed; /* out of room (fixed buffer) or out of memory: nothing more is written */
};

/* Into buf[0..cap). */
void cbor_enc_init(struct cbor_enc *e, uint8_t *buf, size_t cap);
/* Into a heap buffer that grows as needed; e->buf is NULL until something is written. */
void cbor_enc_init_heap(struct cbor_enc *e);
/* Free a heap buffer (nothing for a fixed one) and forget it. */
void cbor_enc_release(struct cbor_enc *e);

void cbor_enc_uint(struct cbor_enc *e, uint64_t v);
void cbor_enc_negint(struct cbor_enc *e, uint64_t v); /* the integer -1 - v */
void cbor_enc_bytes(struct cbor_enc *e, const void *data, size_t n);
/* A byte string's head alone, for contents hashed or copied separately. */
void cbor_enc_bytes_head(struct cbor_enc *e, size_t n);
void cbor_enc_text(struct cbor_enc *e, const char *s);
void cbor_enc_array(struct cbor_enc *e, uint64_t n);
void cbor_enc_map(struct cbor_enc *e, uint64_t n); /* n pairs follow */
void cbor_enc_tag(struct cbor_enc *e, uint64_t tag);
void cbor_enc_bool(struct cbor_enc *e, bool v);
void cbor_enc_null(struct cbor_enc *e);

/* ---- decoding ---- */

/* Options of a decoder (cbor_dec_init's flags). */
enum {
	/* Arrays and maps of indefinite length, and the break (0xff) that ends them. */
	CBOR_DEC_INDEF_CONTAINERS = 1u << 0,
	/* Byte and text strings of indefinite length: definite chunks of the same type, then a break. */
	CBOR_DEC_INDEF_STRINGS = 1u << 1,
	/*
	 * Only the simple values with a meaning (false, true, null, undefined) and floats: the unassigned
	 * ones (0xe0..0xf3 and the two-byte 0xf8 form) are refused as libcbor refused them.  Neither
	 * nitro-cli nor the NSM ever writes one.
	 */
	CBOR_DEC_KNOWN_SIMPLE = 1u << 2,
	/*
	 * max_depth bounds containers rather than items: an array, map or tag at depth max_depth is refused
	 * even when it is empty.  Without it, the bound is on items: nothing may sit deeper than max_depth,
	 * so an empty container there is fine.  The NSM's request decoder has always counted the first way,
	 * the signature and attestation parsers the second; each keeps the answers it gave.
	 */
	CBOR_DEC_DEPTH_COUNTS_CONTAINERS = 1u << 3,
};

enum cbor_err {
	CBOR_OK,
	CBOR_ERR_END,	     /* the input ends where an item was expected */
	CBOR_ERR_TRUNCATED,  /* a head's argument or a string's contents run past the end */
	CBOR_ERR_INVALID,    /* a reserved head, or a simple value CBOR_DEC_KNOWN_SIMPLE refuses */
	CBOR_ERR_INDEFINITE, /* an indefinite length or a break the options do not allow */
	CBOR_ERR_CHUNK,	     /* a chunk of an indefinite-length string is not a definite one of its type */
	CBOR_ERR_BREAK,	     /* a break outside an indefinite-length item */
	CBOR_ERR_COUNT,	     /* a container claims more items than there are bytes left */
	CBOR_ERR_DEPTH,	     /* items nested deeper than max_depth */
	CBOR_ERR_TRAILING,   /* bytes follow what should have been the end (cbor_dec_finish) */
};

struct cbor_dec {
	const uint8_t *base, *p, *end;
	unsigned int flags;
	unsigned int max_depth;
	size_t at; /* offset of the head read last, or of the failure */
	/* The last failure; err_major, err_items and err_left describe a CBOR_ERR_COUNT. */
	enum cbor_err err;
	uint8_t err_major;
	uint64_t err_items; /* items claimed: a map of n pairs claims 2n */
	size_t err_left;    /* bytes left after the container's head */
};

struct cbor_head {
	uint8_t major;
	uint8_t info;	     /* additional information (0..27, or CBOR_INFO_INDEF) */
	bool indefinite;     /* majors 2-5: no length given; major 7: the break */
	uint64_t arg;	     /* value, length, count or tag; for major 7 the simple value or float bits */
	const uint8_t *data; /* definite strings: their arg bytes, inside the input */
	size_t at;	     /* offset of the head in the input */
};

/* Items nest at most max_depth deep under whatever depth the caller gives cbor_dec_skip. */
void cbor_dec_init(struct cbor_dec *d, const void *buf, size_t len, unsigned int flags,
		   unsigned int max_depth);

/*
 * The next head.  A definite string is consumed whole (h->data points at its contents); a container's or a
 * tag's contents follow as further heads.  0, or -EBADMSG with d->err and d->at set.
 */
int cbor_dec_head(struct cbor_dec *d, struct cbor_head *h);

/*
 * Skip the rest of the item whose head h was just read, h being at depth depth: a container's items are at
 * depth + 1, a tag's item too.  0 or -EBADMSG.
 */
int cbor_dec_skip(struct cbor_dec *d, const struct cbor_head *h, unsigned int depth);
/* Read and skip one whole item at depth depth. */
int cbor_dec_skip_item(struct cbor_dec *d, unsigned int depth);

/*
 * Walking a container of either length: cbor_dec_enter with its head (a definite count is checked against the
 * bytes left), then cbor_dec_more before each item, or each key/value pair of a map.  cbor_dec_more returns
 * false at the end, having consumed the break of an indefinite container.
 */
struct cbor_iter {
	bool indefinite;
	uint64_t left;
};

int cbor_dec_enter(struct cbor_dec *d, const struct cbor_head *h, struct cbor_iter *it);
bool cbor_dec_more(struct cbor_dec *d, struct cbor_iter *it);

/* 0 when the input is used up; else -EBADMSG, CBOR_ERR_TRAILING and d->at where the extra bytes start. */
int cbor_dec_finish(struct cbor_dec *d);

/*
 * d's last failure as a phrase without a capital or a full stop, e.g. "an item runs past the end of the
 * data".  For CBOR_ERR_COUNT, what names the container ("the payload map"); NULL names it by its type.
 */
void cbor_dec_describe(const struct cbor_dec *d, const char *what, char *out, size_t cap);

static inline size_t cbor_dec_left(const struct cbor_dec *d)
{
	return (size_t)(d->end - d->p);
}

static inline size_t cbor_dec_offset(const struct cbor_dec *d)
{
	return (size_t)(d->p - d->base);
}

/* "an unsigned integer", "a map", ...: a major type as messages name it. */
const char *cbor_major_name(uint8_t major);
/* The same for a head, simple values told apart: "null", "a boolean", "a float", "a break", ... */
const char *cbor_head_name(const struct cbor_head *h);

bool cbor_head_is_text(const struct cbor_head *h, const char *s);

static inline bool cbor_head_is_break(const struct cbor_head *h)
{
	return h->major == CBOR_SIMPLE && h->indefinite;
}

static inline bool cbor_head_is_float(const struct cbor_head *h)
{
	return h->major == CBOR_SIMPLE && h->info > CBOR_INFO_ARG1 && h->info <= CBOR_INFO_ARG8;
}

/* ---- maps of known text keys (cbor_map.c) ---- */

enum cbor_field_type {
	CBOR_FIELD_UINT,	  /* an unsigned integer of at most max */
	CBOR_FIELD_TEXT,	  /* a text string of at most max bytes */
	CBOR_FIELD_BYTES,	  /* a byte string of at most max bytes */
	CBOR_FIELD_BYTES_OR_NULL, /* the same, or null (data then stays NULL) */
	CBOR_FIELD_BOOL,	  /* true or false (u: 1 or 0) */
	CBOR_FIELD_INT,		  /* an integer from -max - 1 to max, within int64_t's range (i) */
};

/* One expected key: the caller sets key, type, max (0: no bound) and required; cbor_map_read the rest. */
struct cbor_field {
	const char *key;
	enum cbor_field_type type;
	uint64_t max;
	bool required;
	bool seen;
	uint64_t u;	     /* an unsigned integer's value, a boolean's */
	int64_t i;	     /* a signed integer's value */
	const uint8_t *data; /* a string's contents, inside the input; NULL for null (or not seen) */
	size_t len;
};

enum cbor_map_status {
	CBOR_MAP_OK,
	CBOR_MAP_MALFORMED,  /* not a map, more pairs than allowed, or CBOR that is not well-formed (d->err) */
	CBOR_MAP_UNKNOWN,    /* a key not in the table, or a key that is not a text string */
	CBOR_MAP_REPEATED,   /* a key given twice */
	CBOR_MAP_WRONG_TYPE, /* a value not of its key's type */
	CBOR_MAP_TOO_LARGE,  /* a value past its key's max */
	CBOR_MAP_MISSING,    /* a required key absent */
};

/* Options of cbor_map_read. */
enum {
	/* Text keys the table does not name are skipped, as serde skips fields it does not know. */
	CBOR_MAP_SKIP_UNKNOWN = 1u << 0,
};

struct cbor_map_fault {
	enum cbor_map_status status;
	size_t at;			/* offset of the head at fault: the map's, or the pair's key */
	const struct cbor_field *field; /* the key at fault (REPEATED, WRONG_TYPE, TOO_LARGE, MISSING), else NULL */
};

/*
 * Read the map at d's position, itself at depth depth and of at most max_pairs pairs, into f[0..nf).  Every pair
 * is read to its end even after a faulty one, so malformed CBOR anywhere is told apart from a well-formed map
 * with a bad entry: MALFORMED wins, then the first faulty entry, then the first required key missing.  Returns
 * the status, also in *fault (may be NULL) with where it is.
 */
enum cbor_map_status cbor_map_read(struct cbor_dec *d, unsigned int depth, uint64_t max_pairs, unsigned int flags,
				   struct cbor_field *f, unsigned int nf, struct cbor_map_fault *fault);

#endif
