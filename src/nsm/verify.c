// SPDX-License-Identifier: MIT
/*
 * Verification of NSM attestation documents (verify.h; AWS's attestation_process.md).
 *
 * The document is untrusted input from start to end: the CBOR is read one head at a time by common/cbor.h's
 * decoder, which never trusts a length before checking it against the bytes left, never recurses deeper than
 * ATT_MAX_DEPTH and names the byte where the input stops making sense.
 * Byte and text strings are not copied; struct att_doc points into the caller's buffer.
 *
 * The chain is validated by OpenSSL's X509_verify_cert against a store that holds the pinned root only, with
 * the intermediates as untrusted certificates; the checks OpenSSL leaves optional (a CA without a key usage
 * extension, a non-critical basicConstraints, a leaf without digitalSignature) are made here, and the chain
 * OpenSSL builds must be exactly [leaf, cabundle[N] .. cabundle[1], root], so that what the document claims
 * is the chain is the chain that was checked.
 */
#include "verify.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cbor.h"
#include "common/util.h"
#include "crypto/cose.h"
#include "crypto/crypto.h"

/* The payload nests three deep (map → pcrs/cabundle → item); headers a little more. */
#define ATT_MAX_DEPTH 16
/* Real NSM hardware writes the payload as an indefinite-length map; no one writes chunked strings. */
#define ATT_CBOR_FLAGS (CBOR_DEC_INDEF_CONTAINERS | CBOR_DEC_KNOWN_SIMPLE)
/* COSE algorithm ES384 (RFC 8152 table 5): the only one NSM documents use. */
#define COSE_ALG_ES384 (-35)
/* PCR values are SHA-256, SHA-384 or SHA-512 digests. */
#define PCR_LEN_SHA256 32
#define PCR_LEN_SHA384 48
#define PCR_LEN_SHA512 64

/* ---- CBOR reading ---- */

/* A decoder over one structure of the document, its name and where it starts, for messages. */
struct cur {
	struct cbor_dec d;
	const char *what;
	size_t off;
};

static void cur_init(struct cur *c, const uint8_t *buf, size_t len, const char *what, size_t off)
{
	cbor_dec_init(&c->d, buf, len, ATT_CBOR_FLAGS, ATT_MAX_DEPTH);
	c->what = what;
	c->off = off;
}

static int cur_fail(const struct cur *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cur_fail(const struct cur *c, const char *fmt, ...)
{
	char detail[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return err_set(EINVAL, "%s is not valid CBOR at byte %zu: %s", c->what, c->off + c->d.at, detail);
}

/* A document well formed as CBOR but not as an attestation document. */
static int cur_schema(const struct cur *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cur_schema(const struct cur *c, const char *fmt, ...)
{
	char detail[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return err_set(EINVAL, "%s (at byte %zu)", detail, c->off + c->d.at);
}

/* The decoder's own failure; what names the container whose count was a lie (NULL: its type). */
static int cur_dec_fail(const struct cur *c, const char *what)
{
	char detail[128];

	/* Containers of indefinite length are allowed, so only strings can be refused for it. */
	if (c->d.err == CBOR_ERR_INDEFINITE)
		return cur_fail(c, "indefinite-length strings are not used in attestation documents");
	cbor_dec_describe(&c->d, what, detail, sizeof(detail));
	return cur_fail(c, "%s", detail);
}

static int cur_next(struct cur *c, struct cbor_head *h)
{
	return cbor_dec_head(&c->d, h) ? cur_dec_fail(c, NULL) : 0;
}

static int cur_check_end(struct cur *c, const char *after)
{
	if (!cbor_dec_finish(&c->d))
		return 0;
	return cur_fail(c, "%zu bytes follow %s", cbor_dec_left(&c->d), after);
}

/* Containers of either length: begin with the container's head, then more() before each item (or pair). */
static int container_begin(struct cur *c, const struct cbor_head *h, const char *what, struct cbor_iter *it)
{
	return cbor_dec_enter(&c->d, h, it) ? cur_dec_fail(c, what) : 0;
}

static bool container_more(struct cur *c, struct cbor_iter *it)
{
	return cbor_dec_more(&c->d, it);
}

/* Skip one whole item, at depth depth. */
static int skip_item(struct cur *c, unsigned int depth)
{
	return cbor_dec_skip_item(&c->d, depth) ? cur_dec_fail(c, NULL) : 0;
}

static bool is_null(const struct cbor_head *h)
{
	return h->major == CBOR_SIMPLE && h->info == CBOR_NULL;
}

/* ---- the COSE_Sign1 envelope ---- */

/* The COSE layer's refusal (crypto/cose.h) in the verifier's words. */
static int envelope_fail(const struct cose_error *e)
{
	bool hdr = e->fault >= COSE_FAULT_HDR_CBOR;
	struct cur c = { .d = e->dec, .what = hdr ? "the COSE protected header" : "the document",
			 .off = hdr ? e->header_off : 0 };
	static const char *const part_names[] = {
		[COSE_PART_PROTECTED] = "protected header",
		[COSE_PART_UNPROTECTED] = "unprotected header",
		[COSE_PART_PAYLOAD] = "payload",
		[COSE_PART_SIGNATURE] = "signature",
	};

	switch (e->fault) {
	case COSE_FAULT_TAG:
		return cur_schema(&c, "the document is tagged %llu, not COSE_Sign1 (18)",
				  (unsigned long long)e->value);
	case COSE_FAULT_NOT_ARRAY:
		return cur_schema(&c, "the document is %s, not a COSE_Sign1 array", cbor_head_name(&e->found));
	case COSE_FAULT_ARRAY_LEN:
		return cur_schema(&c, "the document is an array of %llu items; a COSE_Sign1 has 4",
				  (unsigned long long)e->value);
	case COSE_FAULT_PART:
		return cur_schema(&c, "the COSE_Sign1 %s is %s, not a %s", part_names[e->part],
				  cbor_head_name(&e->found),
				  e->part == COSE_PART_UNPROTECTED ? "map" : "byte string");
	case COSE_FAULT_TRAILING:
		return cur_fail(&c, "%llu bytes follow the COSE_Sign1 array", (unsigned long long)e->value);
	case COSE_FAULT_HDR_NOT_MAP:
		return cur_schema(&c, "the COSE protected header is %s, not a map", cbor_head_name(&e->found));
	case COSE_FAULT_HDR_LABEL:
		return cur_schema(&c, "a label of the COSE protected header is %s, not an integer or text",
				  cbor_head_name(&e->found));
	case COSE_FAULT_HDR_ALG_TWICE:
		return cur_schema(&c, "the COSE algorithm (label 1) appears twice in the protected header");
	case COSE_FAULT_HDR_TRAILING:
		return cur_fail(&c, "%llu bytes follow the header map", (unsigned long long)e->value);
	default:
		return cur_dec_fail(&c, NULL);
	}
}

/* The protected header must say ES384 and nothing we would have to understand ("crit", label 2). */
static int check_protected(const struct cose_sign1 *s, size_t off)
{
	struct cur c = { .what = "the COSE protected header", .off = off };

	if (!s->protected_len)
		return err_set(EINVAL, "the COSE protected header is empty; attestation documents carry {1: -35} "
				       "(ES384)");
	if (s->crit) {
		c.d.at = s->crit_at;
		return cur_schema(&c, "the COSE protected header lists critical headers (label 2), which "
				      "attestation documents do not use");
	}
	if (s->alg_kind == COSE_ALG_ABSENT)
		return err_set(EINVAL, "the COSE protected header does not name its algorithm; attestation "
				       "documents carry {1: -35} (ES384)");
	if (s->alg_kind == COSE_ALG_INT && s->alg == COSE_ALG_ES384)
		return 0;
	c.d.at = s->alg_head.at;
	if (s->alg_kind == COSE_ALG_INT)
		return cur_schema(&c, "the COSE algorithm is %lld, not ES384 (-35)", s->alg);
	return cur_schema(&c, "the COSE algorithm is %s, not ES384 (-35)", cbor_head_name(&s->alg_head));
}

/* COSE_Sign1 = [protected: bstr, unprotected: map, payload: bstr, signature: bstr], optionally tag 18. */
static int parse_cose(const uint8_t *buf, size_t len, struct att_doc *d)
{
	struct cose_error e;
	struct cose_sign1 s;

	/* Real NSM hardware writes the payload as an indefinite-length map; no one writes chunked strings. */
	if (cose_sign1_parse(buf, len, ATT_CBOR_FLAGS, ATT_MAX_DEPTH, &s, &e))
		return envelope_fail(&e);
	d->tagged = s.tagged;
	d->protected_hdr = (struct att_bytes){ s.protected_hdr, s.protected_len, true };
	d->payload = (struct att_bytes){ s.payload, s.payload_len, true };
	d->signature = (struct att_bytes){ s.signature, s.signature_len, true };
	return check_protected(&s, e.header_off);
}

/* ---- the payload ---- */

enum field {
	F_MODULE_ID,
	F_DIGEST,
	F_TIMESTAMP,
	F_PCRS,
	F_CERTIFICATE,
	F_CABUNDLE,
	F_PUBLIC_KEY,
	F_USER_DATA,
	F_NONCE,
	F_COUNT,
};

static const char *const field_names[F_COUNT] = {
	"module_id", "digest",	   "timestamp", "pcrs",	 "certificate",
	"cabundle",  "public_key", "user_data", "nonce",
};

/* Fields the CDDL marks optional ("? public_key") and real documents send as null. */
static bool field_optional(enum field f)
{
	return f == F_PUBLIC_KEY || f == F_USER_DATA || f == F_NONCE;
}

static int read_text_field(struct cur *c, const char *name, const char **s, size_t *len)
{
	struct cbor_head h;
	int ret = cur_next(c, &h);

	if (ret)
		return ret;
	if (h.major != CBOR_TEXT)
		return cur_schema(c, "the payload's %s is %s, not text", name, cbor_head_name(&h));
	*s = (const char *)h.data;
	*len = (size_t)h.arg;
	return 0;
}

/* A byte string of min..max bytes; null too when nullable. */
static int read_bytes_field(struct cur *c, const char *name, size_t min, size_t max, bool nullable,
			    struct att_bytes *out)
{
	struct cbor_head h;
	size_t len;
	int ret = cur_next(c, &h);

	if (ret)
		return ret;
	memset(out, 0, sizeof(*out));
	if (nullable && is_null(&h))
		return 0;
	if (h.major != CBOR_BYTES)
		return cur_schema(c, "the payload's %s is %s, not a byte string%s", name, cbor_head_name(&h),
				  nullable ? " or null" : "");
	len = (size_t)h.arg; /* no longer than the input */
	if (len < min || len > max)
		return cur_schema(c, "the payload's %s is %zu bytes long; it must be %zu to %zu", name, len,
				  min, max);
	out->data = h.data;
	out->len = len;
	out->present = true;
	return 0;
}

static int read_pcrs(struct cur *c, struct att_doc *d)
{
	uint32_t seen = 0;
	struct cbor_iter k;
	struct cbor_head h;
	size_t len;
	int ret = cur_next(c, &h);

	if (ret)
		return ret;
	if (h.major != CBOR_MAP)
		return cur_schema(c, "the payload's pcrs is %s, not a map", cbor_head_name(&h));
	ret = container_begin(c, &h, "pcrs", &k);
	while (!ret && container_more(c, &k)) {
		struct att_pcr *p;

		ret = cur_next(c, &h);
		if (ret)
			break;
		if (h.major != CBOR_UINT || h.arg >= ATT_MAX_PCRS) {
			ret = h.major == CBOR_UINT
				      ? cur_schema(c,
						   "the payload's pcrs has index %llu; indexes are 0 to %d",
						   (unsigned long long)h.arg, ATT_MAX_PCRS - 1)
				      : cur_schema(c, "a key of the payload's pcrs is %s, not an index",
						   cbor_head_name(&h));
			break;
		}
		if (seen & (1u << h.arg)) {
			ret = cur_schema(c, "the payload's pcrs has PCR%llu twice",
					 (unsigned long long)h.arg);
			break;
		}
		/* 32 distinct indexes at most, so pcrs[] cannot overflow. */
		seen |= 1u << h.arg;
		p = &d->pcrs[d->npcrs++];
		p->index = (unsigned int)h.arg;
		ret = cur_next(c, &h);
		if (ret)
			break;
		if (h.major != CBOR_BYTES) {
			ret = cur_schema(c, "PCR%u in the payload is %s, not a byte string", p->index,
					 cbor_head_name(&h));
			break;
		}
		len = (size_t)h.arg;
		if (len != PCR_LEN_SHA256 && len != PCR_LEN_SHA384 && len != PCR_LEN_SHA512) {
			ret = cur_schema(c, "PCR%u in the payload is %zu bytes long; PCRs are 32, 48 or 64",
					 p->index, len);
			break;
		}
		p->value = (struct att_bytes){h.data, len, true};
	}
	if (!ret && !d->npcrs)
		ret = cur_schema(c, "the payload's pcrs is empty; it must hold 1 to %d PCRs", ATT_MAX_PCRS);
	return ret;
}

static int read_cabundle(struct cur *c, struct att_doc *d)
{
	struct cbor_iter k;
	struct cbor_head h;
	int ret = cur_next(c, &h);

	if (ret)
		return ret;
	if (h.major != CBOR_ARRAY)
		return cur_schema(c, "the payload's cabundle is %s, not an array", cbor_head_name(&h));
	ret = container_begin(c, &h, "cabundle", &k);
	while (!ret && container_more(c, &k)) {
		char name[32];

		if (d->ncabundle == ATT_CABUNDLE_MAX) {
			ret = cur_schema(c, "the payload's cabundle has more than %d certificates",
					 ATT_CABUNDLE_MAX);
			break;
		}
		snprintf(name, sizeof(name), "cabundle[%u]", d->ncabundle);
		ret = read_bytes_field(c, name, 1, ATT_FIELD_MAX, false, &d->cabundle[d->ncabundle]);
		d->ncabundle++;
	}
	if (!ret && !d->ncabundle)
		ret = cur_schema(
			c, "the payload's cabundle is empty; it must hold the root certificate at least");
	return ret;
}

static int read_field(struct cur *c, enum field f, struct att_doc *d)
{
	const char *name = field_names[f];
	struct cbor_head h;
	int ret;

	switch (f) {
	case F_MODULE_ID:
		ret = read_text_field(c, name, &d->module_id, &d->module_id_len);
		if (!ret && !d->module_id_len)
			ret = cur_schema(c, "the payload's module_id is empty");
		return ret;
	case F_DIGEST:
		ret = read_text_field(c, name, &d->digest, &d->digest_len);
		if (!ret && (d->digest_len != 6 || memcmp(d->digest, "SHA384", 6)))
			ret = cur_schema(c, "the payload's digest is \"%.*s\", not \"SHA384\"",
					 (int)MIN(d->digest_len, 32), d->digest);
		return ret;
	case F_TIMESTAMP:
		ret = cur_next(c, &h);
		if (!ret && h.major != CBOR_UINT)
			ret = cur_schema(c, "the payload's timestamp is %s, not an unsigned integer",
					 cbor_head_name(&h));
		if (!ret && !h.arg)
			ret = cur_schema(c, "the payload's timestamp is 0");
		d->timestamp = h.arg;
		return ret;
	case F_PCRS:
		return read_pcrs(c, d);
	case F_CERTIFICATE:
		return read_bytes_field(c, name, 1, ATT_FIELD_MAX, false, &d->certificate);
	case F_CABUNDLE:
		return read_cabundle(c, d);
	case F_PUBLIC_KEY:
		/* attestation_process.md: public_key is 1..1024 bytes when present. */
		return read_bytes_field(c, name, 1, ATT_FIELD_MAX, true, &d->public_key);
	case F_USER_DATA:
		return read_bytes_field(c, name, 0, ATT_FIELD_MAX, true, &d->user_data);
	case F_NONCE:
		return read_bytes_field(c, name, 0, ATT_FIELD_MAX, true, &d->nonce);
	default:
		return -EINVAL;
	}
}

static int parse_payload(const uint8_t *doc, struct att_doc *d)
{
	bool seen[F_COUNT] = {false};
	struct cbor_iter k;
	struct cur c;
	struct cbor_head h;
	int ret;

	cur_init(&c, d->payload.data, d->payload.len, "the document's payload",
		 (size_t)(d->payload.data - doc));
	ret = cur_next(&c, &h);
	if (ret)
		return ret;
	if (h.major != CBOR_MAP)
		return cur_schema(&c, "the document's payload is %s, not a map", cbor_head_name(&h));
	d->indefinite = h.indefinite;
	ret = container_begin(&c, &h, "the payload map", &k);
	while (!ret && container_more(&c, &k)) {
		enum field f;

		ret = cur_next(&c, &h);
		if (ret)
			break;
		if (h.major != CBOR_TEXT) {
			ret = cur_schema(&c, "a key of the payload is %s, not text", cbor_head_name(&h));
			break;
		}
		for (f = 0; f < F_COUNT; f++)
			if (cbor_head_is_text(&h, field_names[f]))
				break;
		if (f == F_COUNT) {
			/* Fields AWS may add later are not ours to judge; they are neither trusted nor shown.
			 */
			ret = skip_item(&c, 1);
			continue;
		}
		if (seen[f]) {
			ret = cur_schema(&c, "the payload has %s twice", field_names[f]);
			break;
		}
		seen[f] = true;
		ret = read_field(&c, f, d);
	}
	if (!ret)
		ret = cur_check_end(&c, "the payload map");
	for (enum field f = 0; !ret && f < F_COUNT; f++)
		if (!seen[f] && !field_optional(f))
			ret = err_set(EINVAL, "the document's payload has no %s", field_names[f]);
	return ret;
}

int att_parse(const uint8_t *buf, size_t len, struct att_doc *d)
{
	int ret;

	memset(d, 0, sizeof(*d));
	if (len > ATT_DOCUMENT_MAX)
		return err_set(EINVAL, "the document is %zu bytes; attestation documents are at most %d", len,
			       ATT_DOCUMENT_MAX);
	ret = parse_cose(buf, len, d);
	if (!ret)
		ret = parse_payload(buf, d);
	return ret;
}

const struct att_pcr *att_doc_pcr(const struct att_doc *d, unsigned int index)
{
	for (unsigned int i = 0; i < d->npcrs; i++)
		if (d->pcrs[i].index == index)
			return &d->pcrs[i];
	return NULL;
}

/* ---- the certificate chain ---- */

/* The chain as the document gives it: chain[0] the leaf, chain[i] = cabundle[n - i], chain[n] the root. */
struct chain {
	X509 *certs[ATT_CABUNDLE_MAX + 1];
	unsigned int n; /* number of certificates */
};

static void chain_free(struct chain *ch)
{
	for (unsigned int i = 0; i < ch->n; i++)
		X509_free(ch->certs[i]);
	ch->n = 0;
}

/* "the leaf certificate" or "cabundle[i]", for the certificate at chain position pos. */
static void cert_name(const struct att_doc *d, unsigned int pos, char *out, size_t len)
{
	if (!pos)
		snprintf(out, len, "the leaf certificate");
	else
		snprintf(out, len, "cabundle[%u]", d->ncabundle - pos);
}

static int parse_der(const struct att_bytes *b, const char *name, X509 **out)
{
	const unsigned char *p = b->data;

	*out = d2i_X509(NULL, &p, (long)b->len);
	if (!*out)
		return err_set(EBADMSG, "%s is not a valid DER certificate", name);
	if (p != b->data + b->len) {
		X509_free(*out);
		*out = NULL;
		return err_set(EBADMSG, "%s has %zu bytes after its DER certificate", name,
			       (size_t)(b->data + b->len - p));
	}
	return 0;
}

static int chain_load(const struct att_doc *d, struct chain *ch)
{
	char name[32];
	int ret;

	memset(ch, 0, sizeof(*ch));
	ret = parse_der(&d->certificate, "the leaf certificate", &ch->certs[0]);
	if (ret)
		return ret;
	ch->n = 1;
	for (unsigned int pos = 1; pos <= d->ncabundle; pos++) {
		cert_name(d, pos, name, sizeof(name));
		ret = parse_der(&d->cabundle[d->ncabundle - pos], name, &ch->certs[pos]);
		if (ret) {
			chain_free(ch);
			return ret;
		}
		ch->n++;
	}
	return 0;
}

static void subject_cn(X509 *x, char *out, size_t len)
{
	X509_NAME *n = X509_get_subject_name(x);

	if (X509_NAME_get_text_by_NID(n, NID_commonName, out, (int)len) < 0)
		snprintf(out, len, "no common name");
}

static bool same_cert(X509 *a, const X509 *b)
{
	return !X509_cmp(a, b);
}

/* basicConstraints CA:TRUE, critical, and a keyUsage with keyCertSign (attestation_process.md). */
static int check_ca(X509 *x, const char *name)
{
	uint32_t flags = X509_get_extension_flags(x);
	int i = X509_get_ext_by_NID(x, NID_basic_constraints, -1);
	char cn[128];

	subject_cn(x, cn, sizeof(cn));
	if (!(flags & EXFLAG_CA) || i < 0)
		return err_set(EBADMSG, "%s (CN=%s) is not a CA certificate (no basicConstraints CA:TRUE)",
			       name, cn);
	if (!X509_EXTENSION_get_critical(X509_get_ext(x, i)))
		return err_set(EBADMSG, "%s (CN=%s) has a basicConstraints extension that is not critical",
			       name, cn);
	if (!(flags & EXFLAG_KUSAGE) || !(X509_get_key_usage(x) & KU_KEY_CERT_SIGN))
		return err_set(EBADMSG, "%s (CN=%s) is a CA certificate without the keyCertSign key usage",
			       name, cn);
	return 0;
}

/* Not a CA, no pathlen, a keyUsage with digitalSignature, a P-384 key (ES384). */
static int check_leaf(X509 *x)
{
	uint32_t flags = X509_get_extension_flags(x);
	EVP_PKEY *key = X509_get0_pubkey(x);
	enum ec_curve curve;
	char cn[128];

	subject_cn(x, cn, sizeof(cn));
	if (flags & EXFLAG_CA)
		return err_set(EBADMSG,
			       "the leaf certificate (CN=%s) is a CA certificate (basicConstraints "
			       "CA:TRUE); the leaf must not be one",
			       cn);
	if (X509_get_pathlen(x) >= 0)
		return err_set(EBADMSG, "the leaf certificate (CN=%s) has a path length constraint", cn);
	if (!(flags & EXFLAG_KUSAGE) || !(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE))
		return err_set(EBADMSG, "the leaf certificate (CN=%s) lacks the digitalSignature key usage",
			       cn);
	if (!key)
		return err_set(EBADMSG, "the leaf certificate's public key cannot be decoded");
	if (eckey_curve(key, "the leaf certificate's key", &curve))
		return -EBADMSG;
	if (curve != EC_CURVE_P384)
		return err_set(EBADMSG, "the leaf certificate's key is on %s; ES384 needs P-384",
			       ec_curve_name(curve));
	return 0;
}

static void time_text(time_t t, char *out, size_t len)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, len, "%lld", (long long)t);
}

static void asn1_time_text(const ASN1_TIME *a, char *out, size_t len)
{
	struct tm tm;

	if (!ASN1_TIME_to_tm(a, &tm) || !strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, len, "an unreadable date");
}

/* One sentence for what X509_verify_cert found, naming the certificate by its place in the document. */
static int chain_error(const struct att_doc *d, const struct chain *ch, X509_STORE_CTX *ctx, time_t at)
{
	int err = X509_STORE_CTX_get_error(ctx);
	int depth = X509_STORE_CTX_get_error_depth(ctx);
	X509 *x = X509_STORE_CTX_get_current_cert(ctx);
	char name[64] = "a certificate", cn[128] = "?", when[32], date[32];

	if (x) {
		subject_cn(x, cn, sizeof(cn));
		for (unsigned int pos = 0; pos < ch->n; pos++)
			if (same_cert(ch->certs[pos], x))
				cert_name(d, pos, name, sizeof(name));
	} else if (depth >= 0 && (unsigned int)depth < ch->n) {
		cert_name(d, (unsigned int)depth, name, sizeof(name));
	}
	time_text(at, when, sizeof(when));
	switch (err) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		asn1_time_text(X509_get0_notAfter(x), date, sizeof(date));
		return err_set(EBADMSG, "%s (CN=%s) expired at %s, before the verification time %s", name, cn,
			       date, when);
	case X509_V_ERR_CERT_NOT_YET_VALID:
		asn1_time_text(X509_get0_notBefore(x), date, sizeof(date));
		return err_set(EBADMSG, "%s (CN=%s) is not valid before %s, after the verification time %s",
			       name, cn, date, when);
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
		return err_set(EBADMSG, "the signature on %s (CN=%s) does not verify with its issuer's key",
			       name, cn);
	case X509_V_ERR_PATH_LENGTH_EXCEEDED:
		return err_set(EBADMSG,
			       "the chain is longer than the path length constraint of %s (CN=%s) allows",
			       name, cn);
	case X509_V_ERR_INVALID_CA:
		return err_set(EBADMSG, "%s (CN=%s) issues a certificate but is not a valid CA", name, cn);
	case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
		return err_set(EBADMSG, "%s (CN=%s) issues a certificate but lacks the keyCertSign key usage",
			       name, cn);
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		return err_set(EBADMSG,
			       "the certificate chain does not lead to the pinned root: no issuer found for "
			       "%s (CN=%s)",
			       name, cn);
	default:
		return err_set(EBADMSG, "the certificate chain does not verify: %s (CN=%s): %s", name, cn,
			       X509_verify_cert_error_string(err));
	}
}

static void der_sha256_hex(X509 *x, char out[17])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (X509_digest(x, EVP_sha256(), md, &n) && n >= 8)
		hex_encode(md, 8, out);
	else
		snprintf(out, 17, "?");
}

/*
 * OpenSSL may build another path than the one the document states (a cabundle certificate that is not
 * used, intermediates in a different order); AWS's procedure validates exactly [leaf, INTERM_N..1, ROOT].
 */
static int check_built_chain(const struct att_doc *d, const struct chain *ch, X509_STORE_CTX *ctx)
{
	STACK_OF(X509) *built = X509_STORE_CTX_get0_chain(ctx);
	int n = built ? sk_X509_num(built) : 0;
	char name[32];

	for (unsigned int pos = 0; pos < ch->n; pos++) {
		if ((int)pos >= n || !same_cert(sk_X509_value(built, (int)pos), ch->certs[pos])) {
			cert_name(d, pos, name, sizeof(name));
			return err_set(EBADMSG,
				       "the certificate chain does not lead to the pinned root through the "
				       "cabundle in order: %s is not where the chain OpenSSL built has it",
				       name);
		}
	}
	if (n != (int)ch->n)
		return err_set(EBADMSG,
			       "the certificate chain OpenSSL built has %d certificates, not the %u of the "
			       "document",
			       n, ch->n);
	return 0;
}

static int check_chain(const struct att_doc *d, const struct chain *ch, const X509 *root, time_t at)
{
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	STACK_OF(X509) *untrusted = NULL;
	X509 *doc_root = ch->certs[ch->n - 1];
	char want[17], got[17], name[32];
	int ret;

	/* The root the document names must be the one we pin, byte for byte (AWS: compare with the root). */
	if (!same_cert(doc_root, root)) {
		der_sha256_hex(doc_root, got);
		der_sha256_hex((X509 *)root, want);
		return err_set(EBADMSG,
			       "the certificate chain does not lead to the pinned root: the document's root "
			       "(cabundle[0], SHA-256 %s…) is not the pinned root (SHA-256 %s…)",
			       got, want);
	}
	for (unsigned int pos = 1; pos < ch->n; pos++) {
		cert_name(d, pos, name, sizeof(name));
		ret = check_ca(ch->certs[pos], name);
		if (ret)
			return ret;
	}
	ret = check_leaf(ch->certs[0]);
	if (ret)
		return ret;

	ret = -ENOMEM;
	store = X509_STORE_new();
	ctx = X509_STORE_CTX_new();
	untrusted = sk_X509_new_null();
	if (!store || !ctx || !untrusted || !X509_STORE_add_cert(store, (X509 *)root))
		goto out;
	for (unsigned int pos = 1; pos + 1 < ch->n; pos++)
		if (!sk_X509_push(untrusted, ch->certs[pos]))
			goto out;
	if (!X509_STORE_CTX_init(ctx, store, ch->certs[0], untrusted))
		goto out;
	/* No CRLs (AWS's procedure disables revocation); the time is the caller's, not the clock. */
	X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), at);
	X509_VERIFY_PARAM_set_depth(X509_STORE_CTX_get0_param(ctx), ATT_CABUNDLE_MAX + 1);
	if (X509_verify_cert(ctx) != 1)
		ret = chain_error(d, ch, ctx, at);
	else
		ret = check_built_chain(d, ch, ctx);
out:
	if (ret == -ENOMEM)
		err_set(ENOMEM, "out of memory checking the certificate chain");
	sk_X509_free(untrusted);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ret;
}

int att_root_load(const uint8_t *buf, size_t len, struct x509_st **root)
{
	const unsigned char *p = buf;

	*root = NULL;
	/* DER is a SEQUENCE (0x30); anything else is tried as PEM. */
	if (len && buf[0] == 0x30) {
		*root = d2i_X509(NULL, &p, (long)MIN(len, (size_t)LONG_MAX));
		if (!*root || p != buf + len) {
			X509_free(*root);
			*root = NULL;
			return err_set(EINVAL, "the root is not a DER or PEM certificate");
		}
		return 0;
	}
	if (cert_load_pem(buf, len, root))
		return err_set(EINVAL, "the root is not a PEM or DER certificate: %s", err_msg());
	return 0;
}

/* ---- the COSE signature ---- */

static int check_signature(const struct att_doc *d, X509 *leaf)
{
	const struct cose_sign1 s = {
		.protected_hdr = d->protected_hdr.data,
		.protected_len = d->protected_hdr.len,
		.payload = d->payload.data,
		.payload_len = d->payload.len,
		.signature = d->signature.data,
		.signature_len = d->signature.len,
	};

	return cose_sign1_verify(&s, X509_get0_pubkey(leaf), EC_CURVE_P384, "the leaf certificate's key");
}

/* ---- expected values ---- */

/* "ab12…" style text of a value for messages: the whole value, it is what the user compares. */
static char *hex_alloc(const uint8_t *p, size_t len)
{
	char *s = malloc(2 * len + 1);

	if (s)
		hex_encode(p, len, s);
	return s;
}

static int mismatch(const char *what, const struct att_bytes *got, const uint8_t *want, size_t want_len)
{
	char *g, *w;
	int ret;

	if (!got->present)
		return err_set(EBADMSG, "the document has no %s but %s was expected", what,
			       want_len ? "one" : "an empty one");
	if (got->len == want_len && !memcmp(got->data, want, want_len))
		return 0;
	g = hex_alloc(got->data, got->len);
	w = hex_alloc(want, want_len);
	if (!g || !w)
		ret = err_set(ENOMEM, "out of memory comparing the %s", what);
	else
		ret = err_set(EBADMSG, "the document's %s is %s%s but %s%s was expected", what,
			      got->len ? g : "", got->len ? "" : "empty", want_len ? w : "",
			      want_len ? "" : "an empty one");
	free(g);
	free(w);
	return ret;
}

static int check_expected(const struct att_doc *d, const struct att_expect *e)
{
	int ret = 0;

	if (e->nonce)
		ret = mismatch("nonce", &d->nonce, e->nonce, e->nonce_len);
	if (!ret && e->user_data)
		ret = mismatch("user_data", &d->user_data, e->user_data, e->user_data_len);
	if (!ret && e->public_key)
		ret = mismatch("public_key", &d->public_key, e->public_key, e->public_key_len);
	for (unsigned int i = 0; !ret && i < e->npcrs; i++) {
		const struct att_pcr *p = att_doc_pcr(d, e->pcrs[i].index);
		char *g, *w;

		if (!p) {
			ret = err_set(EBADMSG, "PCR%u is not in the document but a value was expected for it",
				      e->pcrs[i].index);
			break;
		}
		if (p->value.len == e->pcrs[i].len && !memcmp(p->value.data, e->pcrs[i].value, p->value.len))
			continue;
		g = hex_alloc(p->value.data, p->value.len);
		w = hex_alloc(e->pcrs[i].value, e->pcrs[i].len);
		if (!g || !w)
			ret = err_set(ENOMEM, "out of memory comparing PCRs");
		else
			ret = err_set(EBADMSG, "PCR%u is %s but %s was expected", p->index, g, w);
		free(g);
		free(w);
	}
	return ret;
}

int att_verify(const uint8_t *buf, size_t len, const struct x509_st *root, time_t at,
	       const struct att_expect *expect, struct att_doc *d)
{
	struct chain ch;
	int ret;

	ret = att_parse(buf, len, d);
	if (ret)
		return ret;
	if (!at)
		at = (time_t)(d->timestamp / 1000);
	ret = chain_load(d, &ch);
	if (ret)
		return ret;
	ret = check_chain(d, &ch, root, at);
	if (!ret)
		ret = check_signature(d, ch.certs[0]);
	if (!ret && expect)
		ret = check_expected(d, expect);
	chain_free(&ch);
	return ret;
}
