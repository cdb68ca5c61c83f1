// SPDX-License-Identifier: MIT
/*
 * The EIF signature section, byte for byte as nitro-cli writes it (serde_cbor of Vec<PcrSignature>, with the
 * awslabs COSE crate's untagged COSE_Sign1 inside), and its verification.
 *
 * Encoding uses libcbor's item encoders, which always pick the shortest head like serde_cbor does.  Decoding
 * uses libcbor's streaming decoder one head at a time, with our own cursor on top: it never allocates on the
 * strength of a length it has not checked against the bytes left, never recurses deeper than SIG_MAX_DEPTH,
 * and names the byte where the input stops making sense.  The section comes from an untrusted file (and the
 * fuzzer).
 */
#include "signature.h"

#include <cbor.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "eif/eif.h"

/* nitro-cli writes nesting depth 3; COSE headers add a little.  Anything deeper is not a signature section.
 */
#define SIG_MAX_DEPTH 16
/* The certificate is stored as one CBOR item per byte, so a file this large could never fit in the section.
 */
#define SIG_CERT_FILE_MAX EIF_SIGNATURE_MAX_SIZE
#define SIG_KEY_FILE_MAX  (64 * 1024)

static const char ctx_signature1[] = "Signature1";

/* ---- encoding ---- */

struct cbuf {
	uint8_t *p;
	size_t len, cap;
	bool failed;
};

/* Room for n more bytes, or NULL once allocation has failed (checked once, at the end). */
static uint8_t *cbuf_room(struct cbuf *b, size_t n)
{
	if (b->failed)
		return NULL;
	if (n > b->cap - b->len) {
		size_t cap = MAX(b->cap * 2, b->len + n + 256);
		uint8_t *q = realloc(b->p, cap);

		if (!q) {
			b->failed = true;
			return NULL;
		}
		b->p = q;
		b->cap = cap;
	}
	return b->p + b->len;
}

/* The longest CBOR head: initial byte plus an 8-byte argument. */
#define HEAD_MAX 9

static void put_uint(struct cbuf *b, uint64_t v)
{
	uint8_t *d = cbuf_room(b, HEAD_MAX);

	if (d)
		b->len += cbor_encode_uint(v, d, HEAD_MAX);
}

/* The integer -1 - v. */
static void put_negint(struct cbuf *b, uint64_t v)
{
	uint8_t *d = cbuf_room(b, HEAD_MAX);

	if (d)
		b->len += cbor_encode_negint(v, d, HEAD_MAX);
}

static void put_array(struct cbuf *b, size_t n)
{
	uint8_t *d = cbuf_room(b, HEAD_MAX);

	if (d)
		b->len += cbor_encode_array_start(n, d, HEAD_MAX);
}

static void put_map(struct cbuf *b, size_t n)
{
	uint8_t *d = cbuf_room(b, HEAD_MAX);

	if (d)
		b->len += cbor_encode_map_start(n, d, HEAD_MAX);
}

static void put_bytes(struct cbuf *b, const void *data, size_t n)
{
	uint8_t *d = cbuf_room(b, HEAD_MAX + n);
	size_t h;

	if (!d)
		return;
	h = cbor_encode_bytestring_start(n, d, HEAD_MAX);
	if (n)
		memcpy(d + h, data, n);
	b->len += h + n;
}

static void put_text(struct cbuf *b, const char *s)
{
	size_t n = strlen(s);
	uint8_t *d = cbuf_room(b, HEAD_MAX + n);
	size_t h;

	if (!d)
		return;
	h = cbor_encode_string_start(n, d, HEAD_MAX);
	memcpy(d + h, s, n);
	b->len += h + n;
}

/* What serde_cbor makes of a Vec<u8> without serde_bytes: an array with one unsigned integer per byte. */
static void put_byte_array(struct cbuf *b, const uint8_t *data, size_t n)
{
	put_array(b, n);
	for (size_t i = 0; i < n; i++)
		put_uint(b, data[i]);
}

/* PcrInfo {register_index: 0, register_value: PCR0}, the COSE payload. */
static void put_pcr_payload(struct cbuf *b, const uint8_t pcr0[SHA384_LEN])
{
	put_map(b, 2);
	put_text(b, "register_index");
	put_uint(b, 0);
	put_text(b, "register_value");
	put_byte_array(b, pcr0, SHA384_LEN);
}

/* The protected header {1: alg}; COSE algorithms here are all negative. */
static void put_protected(struct cbuf *b, int alg)
{
	put_map(b, 1);
	put_uint(b, 1);
	put_negint(b, (uint64_t)(-1 - (long long)alg));
}

/* Sig_structure = ["Signature1", protected, external_aad = h'', payload] (RFC 8152 section 4.4). */
static void put_sig_structure(struct cbuf *b, const uint8_t *prot, size_t prot_len, const uint8_t *payload,
			      size_t payload_len)
{
	put_array(b, 4);
	put_text(b, ctx_signature1);
	put_bytes(b, prot, prot_len);
	put_bytes(b, NULL, 0);
	put_bytes(b, payload, payload_len);
}

static int cbuf_check(struct cbuf *b)
{
	if (b->failed) {
		free(b->p);
		memset(b, 0, sizeof(*b));
		return err_set(ENOMEM, "out of memory encoding the signature");
	}
	return 0;
}

/* Digest the Sig_structure of a COSE_Sign1 with the hash its curve calls for. */
static int sig_structure_digest(enum ec_curve curve, const uint8_t *prot, size_t prot_len,
				const uint8_t *payload, size_t payload_len, uint8_t digest[EC_MAX_DIGEST_LEN],
				size_t *digest_len)
{
	struct cbuf s = {0};
	int ret;

	put_sig_structure(&s, prot, prot_len, payload, payload_len);
	ret = cbuf_check(&s);
	if (!ret)
		ret = ec_curve_digest(curve, s.p, s.len, digest, digest_len);
	free(s.p);
	return ret;
}

int eif_signature_create_pem(const uint8_t pcr0[SHA384_LEN], const uint8_t *cert_pem, size_t cert_len,
			     const uint8_t *key_pem, size_t key_len, uint8_t **section, size_t *len)
{
	struct cbuf payload = {0}, prot = {0}, cose = {0}, out = {0};
	struct evp_pkey_st *key = NULL, *pub = NULL;
	struct x509_st *cert = NULL;
	uint8_t digest[EC_MAX_DIGEST_LEN], sig[EC_MAX_SIG_LEN];
	size_t digest_len, sig_len;
	enum ec_curve curve;
	int ret;

	*section = NULL;
	*len = 0;
	ret = cert_load_pem(cert_pem, cert_len, &cert);
	if (ret)
		return err_wrap(-ret, "signing certificate");
	ret = eckey_load_private_pem(key_pem, key_len, &key, &curve);
	if (ret)
		goto out;
	/* A key that does not match the certificate would make an image that no verifier accepts. */
	ret = cert_public_key(cert, &pub);
	if (ret) {
		err_wrap(-ret, "signing certificate");
		goto out;
	}
	if (!eckey_same_public(key, pub)) {
		ret = err_set(EINVAL,
			      "the private key does not belong to the signing certificate (their public keys "
			      "differ)");
		goto out;
	}

	put_pcr_payload(&payload, pcr0);
	put_protected(&prot, ec_curve_cose_alg(curve));
	ret = cbuf_check(&payload);
	if (!ret)
		ret = cbuf_check(&prot);
	if (!ret)
		ret = sig_structure_digest(curve, prot.p, prot.len, payload.p, payload.len, digest,
					   &digest_len);
	if (!ret)
		ret = ecdsa_sign_raw(key, curve, digest, digest_len, sig);
	if (ret)
		goto out;
	sig_len = 2 * ec_curve_field_len(curve);

	/* COSE_Sign1 = [protected, unprotected = {}, payload, signature], untagged like nitro-cli's. */
	put_array(&cose, 4);
	put_bytes(&cose, prot.p, prot.len);
	put_map(&cose, 0);
	put_bytes(&cose, payload.p, payload.len);
	put_bytes(&cose, sig, sig_len);
	ret = cbuf_check(&cose);
	if (ret)
		goto out;

	put_array(&out, 1);
	put_map(&out, 2);
	put_text(&out, "signing_certificate");
	put_byte_array(&out, cert_pem, cert_len);
	put_text(&out, "signature");
	put_byte_array(&out, cose.p, cose.len);
	ret = cbuf_check(&out);
	if (ret)
		goto out;
	if (out.len > EIF_SIGNATURE_MAX_SIZE) {
		ret = err_set(
			EFBIG,
			"the signature section would be %zu bytes, more than the %u bytes an EIF allows "
			"(the certificate file is %zu bytes; give only the signing certificate)",
			out.len, EIF_SIGNATURE_MAX_SIZE, cert_len);
		free(out.p);
		goto out;
	}
	*section = out.p;
	*len = out.len;
out:
	free(payload.p);
	free(prot.p);
	free(cose.p);
	eckey_free(pub);
	eckey_free(key);
	cert_free(cert);
	return ret;
}

int eif_signature_create(const uint8_t pcr0[SHA384_LEN], const char *cert_path, const char *key_path,
			 uint8_t **section, size_t *len)
{
	uint8_t *cert = NULL, *key = NULL;
	size_t cert_len, key_len;
	int ret;

	*section = NULL;
	*len = 0;
	ret = file_read_all(cert_path, &cert, &cert_len, SIG_CERT_FILE_MAX);
	if (ret)
		return ret;
	ret = file_read_all(key_path, &key, &key_len, SIG_KEY_FILE_MAX);
	if (!ret)
		ret = eif_signature_create_pem(pcr0, cert, cert_len, key, key_len, section, len);
	/* The key file's bytes are the secret itself: do not leave them in freed heap. */
	if (key)
		explicit_bzero(key, key_len);
	free(key);
	free(cert);
	return ret;
}

/* ---- decoding ---- */

enum tok_kind {
	TK_NONE,
	TK_UINT,
	TK_NEGINT, /* value is -1 - val */
	TK_BYTES,
	TK_TEXT,
	TK_ARRAY,
	TK_MAP,
	TK_TAG,
	TK_FLOAT,
	TK_SIMPLE,
	TK_INDEF, /* any indefinite-length start, or a stray break */
};

/* One CBOR head as the streaming decoder reports it. */
struct tok {
	enum tok_kind kind;
	uint64_t val;	     /* integer, array/map count, tag number */
	const uint8_t *data; /* byte or text string contents, inside the input */
	size_t len;
};

static void tok_set(void *ctx, enum tok_kind kind, uint64_t val)
{
	struct tok *t = ctx;

	t->kind = kind;
	t->val = val;
}

static void on_u8(void *c, uint8_t v)
{
	tok_set(c, TK_UINT, v);
}

static void on_u16(void *c, uint16_t v)
{
	tok_set(c, TK_UINT, v);
}

static void on_u32(void *c, uint32_t v)
{
	tok_set(c, TK_UINT, v);
}

static void on_u64(void *c, uint64_t v)
{
	tok_set(c, TK_UINT, v);
}

static void on_n8(void *c, uint8_t v)
{
	tok_set(c, TK_NEGINT, v);
}

static void on_n16(void *c, uint16_t v)
{
	tok_set(c, TK_NEGINT, v);
}

static void on_n32(void *c, uint32_t v)
{
	tok_set(c, TK_NEGINT, v);
}

static void on_n64(void *c, uint64_t v)
{
	tok_set(c, TK_NEGINT, v);
}

static void on_array(void *c, size_t n)
{
	tok_set(c, TK_ARRAY, n);
}

static void on_map(void *c, size_t n)
{
	tok_set(c, TK_MAP, n);
}

static void on_tag(void *c, uint64_t v)
{
	tok_set(c, TK_TAG, v);
}

static void on_indef(void *c)
{
	tok_set(c, TK_INDEF, 0);
}

static void on_simple(void *c)
{
	tok_set(c, TK_SIMPLE, 0);
}

static void on_bool(void *c, bool v)
{
	tok_set(c, TK_SIMPLE, v);
}

static void on_float(void *c, float v)
{
	(void)v;
	tok_set(c, TK_FLOAT, 0);
}

static void on_double(void *c, double v)
{
	(void)v;
	tok_set(c, TK_FLOAT, 0);
}

static void on_string(void *ctx, enum tok_kind kind, cbor_data data, size_t len)
{
	struct tok *t = ctx;

	t->kind = kind;
	t->data = data;
	t->len = len;
}

static void on_bytes(void *c, cbor_data d, size_t n)
{
	on_string(c, TK_BYTES, d, n);
}

static void on_text(void *c, cbor_data d, size_t n)
{
	on_string(c, TK_TEXT, d, n);
}

/* Every callback is set: the streaming decoder calls them without checking for NULL. */
static const struct cbor_callbacks tok_callbacks = {
	.uint8 = on_u8,
	.uint16 = on_u16,
	.uint32 = on_u32,
	.uint64 = on_u64,
	.negint8 = on_n8,
	.negint16 = on_n16,
	.negint32 = on_n32,
	.negint64 = on_n64,
	.byte_string_start = on_indef,
	.byte_string = on_bytes,
	.string = on_text,
	.string_start = on_indef,
	.indef_array_start = on_indef,
	.array_start = on_array,
	.indef_map_start = on_indef,
	.map_start = on_map,
	.tag = on_tag,
	.float2 = on_float,
	.float4 = on_float,
	.float8 = on_double,
	.undefined = on_simple,
	.null = on_simple,
	.boolean = on_bool,
	.indef_break = on_indef,
};

static const char *kind_name(enum tok_kind k)
{
	switch (k) {
	case TK_UINT:
		return "an unsigned integer";
	case TK_NEGINT:
		return "a negative integer";
	case TK_BYTES:
		return "a byte string";
	case TK_TEXT:
		return "a text string";
	case TK_ARRAY:
		return "an array";
	case TK_MAP:
		return "a map";
	case TK_TAG:
		return "a tag";
	case TK_FLOAT:
		return "a float";
	case TK_SIMPLE:
		return "a simple value";
	default:
		return "nothing";
	}
}

struct cur {
	const uint8_t *base, *p, *end;
	const char *what; /* the structure being read, for messages */
	size_t at;	  /* offset of the head read last */
};

static void cur_init(struct cur *c, const uint8_t *buf, size_t len, const char *what)
{
	c->base = c->p = buf;
	c->end = buf + len;
	c->what = what;
	c->at = 0;
}

static size_t cur_left(const struct cur *c)
{
	return (size_t)(c->end - c->p);
}

static int cur_fail(const struct cur *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cur_fail(const struct cur *c, const char *fmt, ...)
{
	char detail[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return err_set(EINVAL, "%s is malformed at byte %zu: %s", c->what, c->at, detail);
}

static int cur_next(struct cur *c, struct tok *t)
{
	size_t left = cur_left(c);
	struct cbor_decoder_result r;

	c->at = (size_t)(c->p - c->base);
	if (!left)
		return cur_fail(c, "the data ends where another item was expected");
	memset(t, 0, sizeof(*t));
	/*
	 * libcbor 0.8 rejects the one-byte heads of tags 6..20 as "unassigned", yet 0xd2 is how tag 18,
	 * COSE_Sign1, is written.  Those heads carry no argument bytes, so decode them here.
	 */
	if (c->p[0] >= 0xc6 && c->p[0] <= 0xd4) {
		tok_set(t, TK_TAG, (uint64_t)(c->p[0] - 0xc0));
		c->p++;
		return 0;
	}
	r = cbor_stream_decode(c->p, left, &tok_callbacks, t);
	if (r.status == CBOR_DECODER_NEDATA)
		return cur_fail(c, "an item runs past the end of the data");
	if (r.status != CBOR_DECODER_FINISHED || t->kind == TK_NONE || !r.read || r.read > left)
		return cur_fail(c, "byte 0x%02x does not start a valid CBOR item", c->p[0]);
	if (t->kind == TK_INDEF)
		return cur_fail(c, "indefinite-length items are not used in EIF signatures");
	/* The decoder checked this already; a string outside the bytes it consumed would be read out of
	 * bounds. */
	if ((t->kind == TK_BYTES || t->kind == TK_TEXT) &&
	    (t->data < c->p || t->len > r.read || (size_t)(t->data - c->p) > r.read - t->len))
		return cur_fail(c, "a string's length does not match its bytes");
	c->p += r.read;
	return 0;
}

static int cur_expect(struct cur *c, struct tok *t, enum tok_kind kind, const char *what)
{
	int ret = cur_next(c, t);

	if (ret)
		return ret;
	if (t->kind != kind)
		return cur_fail(c, "expected %s (%s), found %s", kind_name(kind), what, kind_name(t->kind));
	return 0;
}

/* Every item takes at least one byte, so a count above the bytes left is a lie: refuse it before looping. */
static int cur_check_count(const struct cur *c, uint64_t n, const char *what)
{
	if (n > cur_left(c))
		return cur_fail(c, "%s claims %llu items but only %zu bytes are left", what,
				(unsigned long long)n, cur_left(c));
	return 0;
}

static int cur_check_end(struct cur *c, const char *after)
{
	if (c->p == c->end)
		return 0;
	c->at = (size_t)(c->p - c->base);
	return cur_fail(c, "%zu bytes follow %s", cur_left(c), after);
}

static int skip_item(struct cur *c, unsigned int depth)
{
	struct tok t;
	uint64_t n;
	int ret;

	if (depth > SIG_MAX_DEPTH)
		return cur_fail(c, "items are nested more than %d deep", SIG_MAX_DEPTH);
	ret = cur_next(c, &t);
	if (ret)
		return ret;
	switch (t.kind) {
	case TK_ARRAY:
		n = t.val;
		break;
	case TK_MAP:
		n = t.val > UINT64_MAX / 2 ? UINT64_MAX : 2 * t.val;
		break;
	case TK_TAG:
		n = 1;
		break;
	default:
		return 0;
	}
	ret = cur_check_count(c, n, kind_name(t.kind));
	for (uint64_t i = 0; !ret && i < n; i++)
		ret = skip_item(c, depth + 1);
	return ret;
}

/* An array of integers 0..255, one per byte (serde's Vec<u8>), into a heap buffer. */
static int read_byte_array(struct cur *c, const char *what, uint8_t **out, size_t *len)
{
	struct tok t;
	uint8_t *buf;
	size_t n;
	int ret = cur_next(c, &t);

	if (ret)
		return ret;
	if (t.kind == TK_BYTES)
		return cur_fail(c, "%s is a byte string; nitro-cli stores it as an array of integers", what);
	if (t.kind != TK_ARRAY)
		return cur_fail(c, "expected an array of byte values (%s), found %s", what,
				kind_name(t.kind));
	ret = cur_check_count(c, t.val, what);
	if (ret)
		return ret;
	n = (size_t)t.val;
	buf = malloc(n ? n : 1);
	if (!buf)
		return err_set(ENOMEM, "out of memory reading %s", what);
	for (size_t i = 0; i < n; i++) {
		ret = cur_next(c, &t);
		if (!ret && t.kind != TK_UINT)
			ret = cur_fail(c, "item %zu of %s is %s, not a byte value", i, what,
				       kind_name(t.kind));
		if (!ret && t.val > 255)
			ret = cur_fail(c, "item %zu of %s is %llu, more than a byte holds", i, what,
				       (unsigned long long)t.val);
		if (ret) {
			free(buf);
			return ret;
		}
		buf[i] = (uint8_t)t.val;
	}
	*out = buf;
	*len = n;
	return 0;
}

static bool tok_is_text(const struct tok *t, const char *s)
{
	size_t n = strlen(s);

	return t->kind == TK_TEXT && t->len == n && !memcmp(t->data, s, n);
}

/* One PcrSignature: {"signing_certificate": [bytes], "signature": [bytes]}, keys in any order like serde. */
struct sig_entry {
	uint8_t *cert, *cose;
	size_t cert_len, cose_len;
};

static void sig_entry_free(struct sig_entry *e)
{
	free(e->cert);
	free(e->cose);
	memset(e, 0, sizeof(*e));
}

static int read_entry(struct cur *c, struct sig_entry *e)
{
	struct tok t;
	uint64_t n;
	int ret;

	memset(e, 0, sizeof(*e));
	ret = cur_expect(c, &t, TK_MAP, "a signature entry");
	if (!ret)
		ret = cur_check_count(c, t.val, "the signature entry");
	if (ret)
		return ret;
	n = t.val;
	for (uint64_t i = 0; i < n && !ret; i++) {
		ret = cur_expect(c, &t, TK_TEXT, "a field name of the signature entry");
		if (ret)
			break;
		if (tok_is_text(&t, "signing_certificate")) {
			ret = e->cert ? cur_fail(c, "\"signing_certificate\" appears twice")
				      : read_byte_array(c, "\"signing_certificate\"", &e->cert, &e->cert_len);
		} else if (tok_is_text(&t, "signature")) {
			ret = e->cose ? cur_fail(c, "\"signature\" appears twice")
				      : read_byte_array(c, "\"signature\"", &e->cose, &e->cose_len);
		} else {
			/* serde ignores fields it does not know; so do we. */
			ret = skip_item(c, 2);
		}
	}
	if (!ret && !e->cert)
		ret = cur_fail(c, "the signature entry has no \"signing_certificate\"");
	if (!ret && !e->cose)
		ret = cur_fail(c, "the signature entry has no \"signature\"");
	if (ret)
		sig_entry_free(e);
	return ret;
}

/* The section: a non-empty array of entries; nitro-cli uses (and writes) only the first, PCR0's. */
static int parse_section(const uint8_t *sec, size_t len, struct sig_entry *first)
{
	struct cur c;
	struct tok t;
	int ret;

	cur_init(&c, sec, len, "the signature section");
	ret = cur_expect(&c, &t, TK_ARRAY, "the list of signatures");
	if (!ret && !t.val)
		ret = cur_fail(&c, "the list of signatures is empty");
	if (!ret)
		ret = cur_check_count(&c, t.val, "the list of signatures");
	if (ret)
		return ret;
	ret = read_entry(&c, first);
	for (uint64_t i = 1; i < t.val && !ret; i++) {
		struct sig_entry other;

		ret = read_entry(&c, &other);
		sig_entry_free(&other);
	}
	if (!ret)
		ret = cur_check_end(&c, "the list of signatures");
	if (ret)
		sig_entry_free(first);
	return ret;
}

struct cose {
	const uint8_t *prot, *payload, *sig;
	size_t prot_len, payload_len, sig_len;
	bool has_alg, alg_is_text;
	long long alg;
};

static int parse_protected(struct cose *s)
{
	struct cur c;
	struct tok k, v;
	uint64_t n;
	int ret;

	/* A zero-length protected header is the empty map (RFC 8152 section 3). */
	if (!s->prot_len)
		return 0;
	cur_init(&c, s->prot, s->prot_len, "the COSE protected header");
	ret = cur_expect(&c, &k, TK_MAP, "the header map");
	if (!ret)
		ret = cur_check_count(&c, k.val, "the header map");
	if (ret)
		return ret;
	n = k.val;
	for (uint64_t i = 0; i < n && !ret; i++) {
		ret = cur_next(&c, &k);
		if (ret)
			break;
		if (k.kind != TK_UINT && k.kind != TK_NEGINT && k.kind != TK_TEXT) {
			ret = cur_fail(&c, "a header label is %s, not an integer or text", kind_name(k.kind));
			break;
		}
		if (k.kind != TK_UINT || k.val != 1) {
			ret = skip_item(&c, 1);
			continue;
		}
		if (s->has_alg) {
			ret = cur_fail(&c, "the algorithm (label 1) appears twice");
			break;
		}
		ret = cur_next(&c, &v);
		if (ret)
			break;
		s->has_alg = true;
		if (v.kind == TK_NEGINT)
			s->alg = v.val > (uint64_t)LLONG_MAX ? LLONG_MIN : -1 - (long long)v.val;
		else if (v.kind == TK_UINT)
			s->alg = v.val > (uint64_t)LLONG_MAX ? LLONG_MAX : (long long)v.val;
		else if (v.kind == TK_TEXT)
			s->alg_is_text = true;
		else
			ret = cur_fail(&c, "the algorithm is %s, not an integer or text", kind_name(v.kind));
	}
	if (!ret)
		ret = cur_check_end(&c, "the header map");
	return ret;
}

/* COSE_Sign1 = [protected: bstr, unprotected: map, payload: bstr, signature: bstr], optionally tag 18. */
static int parse_cose(const uint8_t *buf, size_t len, struct cose *s)
{
	struct cur c;
	struct tok t;
	int ret;

	memset(s, 0, sizeof(*s));
	cur_init(&c, buf, len, "the COSE_Sign1 signature");
	ret = cur_next(&c, &t);
	if (!ret && t.kind == TK_TAG) {
		if (t.val != 18)
			return cur_fail(&c, "tag %llu is not COSE_Sign1's (18)", (unsigned long long)t.val);
		ret = cur_next(&c, &t);
	}
	if (ret)
		return ret;
	if (t.kind != TK_ARRAY)
		return cur_fail(&c, "expected an array (COSE_Sign1), found %s", kind_name(t.kind));
	if (t.val != 4)
		return cur_fail(&c, "COSE_Sign1 is an array of 4 items, not %llu", (unsigned long long)t.val);

	ret = cur_expect(&c, &t, TK_BYTES, "the protected header");
	if (ret)
		return ret;
	s->prot = t.data;
	s->prot_len = t.len;

	ret = cur_expect(&c, &t, TK_MAP, "the unprotected header");
	if (!ret)
		ret = cur_check_count(&c, t.val, "the unprotected header");
	for (uint64_t i = 0; !ret && i < t.val; i++) {
		ret = skip_item(&c, 1);
		if (!ret)
			ret = skip_item(&c, 1);
	}
	if (ret)
		return ret;

	ret = cur_expect(&c, &t, TK_BYTES, "the payload");
	if (ret)
		return ret;
	s->payload = t.data;
	s->payload_len = t.len;

	ret = cur_expect(&c, &t, TK_BYTES, "the signature");
	if (ret)
		return ret;
	s->sig = t.data;
	s->sig_len = t.len;

	ret = cur_check_end(&c, "the COSE_Sign1 array");
	if (!ret)
		ret = parse_protected(s);
	return ret;
}

/* ---- checks ---- */

static void problem(struct eif_signature_check *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void problem(struct eif_signature_check *c, const char *fmt, ...)
{
	va_list ap;

	/* Only the first failure is reported: later checks often fail because of it. */
	if (c->problem[0])
		return;
	va_start(ap, fmt);
	vsnprintf(c->problem, sizeof(c->problem), fmt, ap);
	va_end(ap);
}

static const char *cose_alg_name(enum ec_curve curve)
{
	switch (curve) {
	case EC_CURVE_P256:
		return "ES256";
	case EC_CURVE_P384:
		return "ES384";
	case EC_CURVE_P521:
		return "ES512";
	default:
		return "an unknown algorithm";
	}
}

static void check_signature(const struct x509_st *cert, const struct cose *s, struct eif_signature_check *out)
{
	uint8_t digest[EC_MAX_DIGEST_LEN];
	struct evp_pkey_st *pub = NULL;
	enum ec_curve kc, ac;
	size_t digest_len;
	int ret;

	if (cert_public_key(cert, &pub)) {
		problem(out, "the signing certificate's public key cannot be decoded");
		return;
	}
	if (eckey_curve(pub, "the signing certificate's key", &kc)) {
		problem(out, "%s", err_msg());
		goto out;
	}
	if (!s->has_alg) {
		problem(out, "the COSE signature's protected header does not name its algorithm");
		goto out;
	}
	ac = s->alg_is_text ? EC_CURVE_NONE : ec_curve_from_cose_alg(s->alg);
	if (ac == EC_CURVE_NONE) {
		if (s->alg_is_text)
			problem(out, "the COSE signature names its algorithm as text; EIF signatures use "
				     "ES256 (-7), "
				     "ES384 (-35) or ES512 (-36)");
		else
			problem(out,
				"the COSE signature uses algorithm %lld; EIF signatures use ES256 (-7), "
				"ES384 (-35) "
				"or ES512 (-36)",
				s->alg);
		goto out;
	}
	if (ac != kc) {
		problem(out, "the COSE signature is %s but the signing certificate's key is on %s (%s)",
			cose_alg_name(ac), ec_curve_name(kc), cose_alg_name(kc));
		goto out;
	}
	if (s->sig_len != 2 * ec_curve_field_len(kc)) {
		problem(out, "the COSE signature is %zu bytes long; %s signatures are %zu bytes (r||s)",
			s->sig_len, cose_alg_name(kc), 2 * ec_curve_field_len(kc));
		goto out;
	}
	ret = sig_structure_digest(kc, s->prot, s->prot_len, s->payload, s->payload_len, digest, &digest_len);
	if (!ret)
		ret = ecdsa_verify_raw(pub, kc, digest, digest_len, s->sig, s->sig_len);
	if (ret == -EBADMSG)
		problem(out, "the COSE signature does not verify with the signing certificate's public key");
	else if (ret)
		problem(out, "the COSE signature could not be checked: %s", err_msg());
	else
		out->signature_valid = true;
out:
	eckey_free(pub);
}

static void check_validity(const struct x509_st *cert, struct eif_signature_check *out)
{
	switch (cert_check_validity(cert, time(NULL))) {
	case CERT_VALID:
		out->cert_valid_now = true;
		break;
	case CERT_NOT_YET_VALID:
		problem(out, "the signing certificate is not valid before %s", out->cert.not_before);
		break;
	case CERT_EXPIRED:
		problem(out, "the signing certificate expired on %s", out->cert.not_after);
		break;
	default:
		problem(out, "the signing certificate's validity dates cannot be read");
		break;
	}
}

/* Best-effort reading of a payload that differs from ours, only to word the problem. */
static bool read_pcr_payload(const uint8_t *buf, size_t len, uint64_t *index, uint8_t value[SHA384_LEN])
{
	bool have_index = false, have_value = false;
	struct cur c;
	struct tok t;
	int ret;

	cur_init(&c, buf, len, "the signed payload");
	if (cur_expect(&c, &t, TK_MAP, "the payload") || cur_check_count(&c, t.val, "the payload"))
		return false;
	for (uint64_t i = 0, n = t.val; i < n; i++) {
		if (cur_next(&c, &t))
			return false;
		if (tok_is_text(&t, "register_index")) {
			if (cur_expect(&c, &t, TK_UINT, "register_index"))
				return false;
			*index = t.val;
			have_index = true;
		} else if (tok_is_text(&t, "register_value")) {
			uint8_t *v;
			size_t vlen;

			if (read_byte_array(&c, "register_value", &v, &vlen))
				return false;
			if (vlen == SHA384_LEN)
				memcpy(value, v, SHA384_LEN);
			free(v);
			if (vlen != SHA384_LEN)
				return false;
			have_value = true;
		} else if (skip_item(&c, 1)) {
			return false;
		}
	}
	ret = cur_check_end(&c, "the payload");
	return !ret && have_index && have_value;
}

static void check_payload(const struct cose *s, const uint8_t pcr0[SHA384_LEN],
			  struct eif_signature_check *out)
{
	char signed_hex[2 * SHA384_LEN + 1], image_hex[2 * SHA384_LEN + 1];
	uint8_t value[SHA384_LEN];
	struct cbuf want = {0};
	uint64_t index = 0;

	put_pcr_payload(&want, pcr0);
	if (cbuf_check(&want)) {
		problem(out, "%s", err_msg());
		return;
	}
	/* nitro-cli compares the encoded payloads byte for byte; so do we, for the same verdicts. */
	if (want.len == s->payload_len && !memcmp(want.p, s->payload, want.len)) {
		out->payload_matches = true;
		free(want.p);
		return;
	}
	free(want.p);
	if (!read_pcr_payload(s->payload, s->payload_len, &index, value)) {
		problem(out,
			"the signed payload is not {register_index: 0, register_value: PCR0} as nitro-cli "
			"encodes it");
		return;
	}
	if (index != 0) {
		problem(out, "the signature covers PCR%llu, not PCR0", (unsigned long long)index);
		return;
	}
	if (!memcmp(value, pcr0, SHA384_LEN)) {
		problem(out, "the signed payload holds this image's PCR0 but not in nitro-cli's encoding");
		return;
	}
	hex_encode(value, SHA384_LEN, signed_hex);
	hex_encode(pcr0, SHA384_LEN, image_hex);
	problem(out,
		"the signature was made for an image whose PCR0 is %.16s..., not for this one (PCR0 "
		"%.16s...)",
		signed_hex, image_hex);
}

/* ---- certificate information for describe-eif ---- */

static void append(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
	/* Whole pieces only, so a UTF-8 sequence or an escape is never cut in half. */
	if (*len + n + 1 > cap)
		return;
	memcpy(out + *len, s, n);
	*len += n;
	out[*len] = '\0';
}

/*
 * nitro-cli prints an issuer value as format!("{:?}", value) with the quotes removed: Rust's Debug escapes of
 * a str (\0 \t \r \n \\ \" and \u{..} for control characters), minus every '"'.  Reproduce that.
 */
static void rust_debug_unquoted(const char *s, size_t n, char *out, size_t cap)
{
	size_t len = 0;
	char esc[16];

	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		switch (ch) {
		case '\0':
			append(out, cap, &len, "\\0", 2);
			continue;
		case '\t':
			append(out, cap, &len, "\\t", 2);
			continue;
		case '\r':
			append(out, cap, &len, "\\r", 2);
			continue;
		case '\n':
			append(out, cap, &len, "\\n", 2);
			continue;
		case '\\':
			append(out, cap, &len, "\\\\", 2);
			continue;
		case '"':
			append(out, cap, &len, "\\", 1);
			continue;
		default:
			break;
		}
		if (ch < 0x20 || ch == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u{%x}", ch);
			append(out, cap, &len, esc, strlen(esc));
			continue;
		}
		/* C1 controls (U+0080..U+009F) are escaped as well. */
		if (ch == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
		    (unsigned char)s[i + 1] <= 0x9f) {
			snprintf(esc, sizeof(esc), "\\u{%x}", (unsigned char)s[i + 1]);
			append(out, cap, &len, esc, strlen(esc));
			i++;
			continue;
		}
		if (ch >= 0x80) {
			size_t seq = ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 : ch >= 0xc0 ? 2 : 1;

			seq = MIN(seq, n - i);
			append(out, cap, &len, s + i, seq);
			i += seq - 1;
			continue;
		}
		append(out, cap, &len, (const char *)&ch, 1);
	}
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct eif_cert_name_entry *)a)->key,
		      ((const struct eif_cert_name_entry *)b)->key);
}

/* BTreeMap::insert semantics: a repeated attribute keeps its last value. */
static void insert_issuer(struct eif_cert_info *ci, const char *key, const char *value)
{
	struct eif_cert_name_entry *e = NULL;

	for (unsigned int i = 0; i < ci->n_issuer; i++)
		if (!strcmp(ci->issuer[i].key, key))
			e = &ci->issuer[i];
	if (!e) {
		if (ci->n_issuer >= ARRAY_SIZE(ci->issuer))
			return;
		e = &ci->issuer[ci->n_issuer++];
		snprintf(e->key, sizeof(e->key), "%s", key);
	}
	snprintf(e->value, sizeof(e->value), "%s", value);
}

static int fill_cert_info(const struct x509_st *cert, struct eif_cert_info *ci)
{
	unsigned int n = cert_issuer_count(cert);

	for (unsigned int i = 0; i < n; i++) {
		char key[sizeof(ci->issuer[0].key)] = "", shown[sizeof(ci->issuer[0].value)];
		char *value = NULL;
		size_t value_len = 0;
		int ret = cert_issuer_entry(cert, i, key, sizeof(key), &value, &value_len);

		if (ret == -ENOMEM)
			return ret;
		if (!key[0])
			continue;
		/* The Rust openssl crate's Debug prints "error" for a value it cannot convert to UTF-8. */
		if (ret)
			snprintf(shown, sizeof(shown), "error");
		else
			rust_debug_unquoted(value, value_len, shown, sizeof(shown));
		free(value);
		insert_issuer(ci, key, shown);
	}
	qsort(ci->issuer, ci->n_issuer, sizeof(ci->issuer[0]), cmp_entry);
	if (cert_sig_alg_name(cert, ci->algorithm, sizeof(ci->algorithm)))
		snprintf(ci->algorithm, sizeof(ci->algorithm), "error");
	cert_not_before_text(cert, ci->not_before, sizeof(ci->not_before));
	cert_not_after_text(cert, ci->not_after, sizeof(ci->not_after));
	ci->signature_hex = cert_signature_hex(cert);
	if (!ci->signature_hex)
		return err_set(ENOMEM, "out of memory");
	return 0;
}

static int cert_pcr8(const struct x509_st *cert, uint8_t pcr8[SHA384_LEN])
{
	uint8_t *der;
	size_t len;
	int ret = cert_der(cert, &der, &len);

	if (ret)
		return ret;
	pcr_measure(der, len, pcr8);
	free(der);
	return 0;
}

int eif_pcr8_from_pem(const uint8_t *pem, size_t len, uint8_t pcr8[SHA384_LEN])
{
	struct x509_st *cert;
	int ret = cert_load_pem(pem, len, &cert);

	if (ret)
		return ret;
	ret = cert_pcr8(cert, pcr8);
	cert_free(cert);
	return ret;
}

int eif_signature_check(const uint8_t *section, size_t len, const uint8_t pcr0[SHA384_LEN],
			struct eif_signature_check *out)
{
	struct x509_st *cert = NULL;
	struct sig_entry e;
	struct cose s;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = parse_section(section, len, &e);
	if (ret)
		return ret;
	ret = parse_cose(e.cose, e.cose_len, &s);
	if (ret)
		goto out;
	ret = cert_load_pem(e.cert, e.cert_len, &cert);
	if (ret) {
		err_wrap(-ret, "the signing certificate in the signature section is unusable");
		goto out;
	}
	ret = cert_pcr8(cert, out->pcr8);
	if (!ret)
		ret = fill_cert_info(cert, &out->cert);
	if (ret)
		goto out;
	check_signature(cert, &s, out);
	check_validity(cert, out);
	check_payload(&s, pcr0, out);
out:
	if (ret)
		eif_signature_check_free(out);
	cert_free(cert);
	sig_entry_free(&e);
	return ret;
}

void eif_signature_check_free(struct eif_signature_check *c)
{
	free(c->cert.signature_hex);
	c->cert.signature_hex = NULL;
}
