// SPDX-License-Identifier: MIT
/*
 * COSE_Sign1 with ECDSA (cose.h): the Sig_structure digest, the writer and the parser that EIF signatures
 * (eif/signature.c), NSM attestation documents (nsm/attestation.c) and the attestation verifier
 * (nsm/verify.c) share.
 *
 * Sig_structure is hashed in pieces (its head, the protected header, h'' and the payload's head, the payload)
 * so that a payload of several KiB is never copied to be signed or checked.
 */
#include "cose.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "common/util.h"

static const char sig_context[] = "Signature1";

/* {1: alg}: a map head, the label and an algorithm of at most three bytes (-36 is 0x38 0x23). */
#define COSE_PROTECTED_MAX 8
/* Sig_structure's head up to the protected header's contents: array(4), "Signature1", the bstr's head. */
#define SIG_HEAD_MAX (1 + 1 + sizeof(sig_context) - 1 + CBOR_HEAD_MAX)
/* Between the protected header and the payload's contents: h'' and the payload bstr's head. */
#define SIG_MIDDLE_MAX (1 + CBOR_HEAD_MAX)

const char *cose_alg_name(enum ec_curve curve)
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

/* The curve's digest of Sig_structure = ["Signature1", protected, h'', payload] (RFC 8152 section 4.4). */
static int sig_structure_digest(enum ec_curve curve, const uint8_t *prot, size_t prot_len, const uint8_t *payload,
				size_t payload_len, uint8_t digest[EC_MAX_DIGEST_LEN], size_t *digest_len)
{
	uint8_t head[SIG_HEAD_MAX], middle[SIG_MIDDLE_MAX];
	struct digest_part parts[4];
	struct cbor_enc h, m;

	cbor_enc_init(&h, head, sizeof(head));
	cbor_enc_array(&h, 4);
	cbor_enc_text(&h, sig_context);
	cbor_enc_bytes_head(&h, prot_len);
	cbor_enc_init(&m, middle, sizeof(middle));
	cbor_enc_bytes(&m, NULL, 0);
	cbor_enc_bytes_head(&m, payload_len);
	/* Both buffers are sized for the longest heads: neither can run out. */
	parts[0] = (struct digest_part){ h.buf, h.len };
	parts[1] = (struct digest_part){ prot, prot_len };
	parts[2] = (struct digest_part){ m.buf, m.len };
	parts[3] = (struct digest_part){ payload, payload_len };
	return ec_curve_digest_parts(curve, parts, ARRAY_SIZE(parts), digest, digest_len);
}

/* ---- writing ---- */

int cose_sign1_write(struct cbor_enc *e, struct evp_pkey_st *key, enum ec_curve curve, const uint8_t *payload,
		     size_t payload_len)
{
	uint8_t prot[COSE_PROTECTED_MAX], digest[EC_MAX_DIGEST_LEN], sig[EC_MAX_SIG_LEN];
	int alg = ec_curve_cose_alg(curve);
	struct cbor_enc p;
	size_t digest_len;
	int ret;

	if (!alg)
		return err_set(EINVAL, "cannot sign a COSE_Sign1: unknown curve");
	/* The protected header {1: alg}; the ECDSA algorithms are all negative. */
	cbor_enc_init(&p, prot, sizeof(prot));
	cbor_enc_map(&p, 1);
	cbor_enc_uint(&p, COSE_LABEL_ALG);
	cbor_enc_negint(&p, (uint64_t)(-1 - (long long)alg));
	ret = sig_structure_digest(curve, p.buf, p.len, payload, payload_len, digest, &digest_len);
	if (!ret)
		ret = ecdsa_sign_raw(key, curve, digest, digest_len, sig);
	if (ret)
		return ret;
	cbor_enc_array(e, 4);
	cbor_enc_bytes(e, p.buf, p.len);
	cbor_enc_map(e, 0);
	cbor_enc_bytes(e, payload, payload_len);
	cbor_enc_bytes(e, sig, 2 * ec_curve_field_len(curve));
	return e->failed ? -ENOSPC : 0;
}

/* ---- checking ---- */

int cose_sign1_verify(const struct cose_sign1 *s, struct evp_pkey_st *key, enum ec_curve curve,
		      const char *key_name)
{
	uint8_t digest[EC_MAX_DIGEST_LEN];
	size_t digest_len, want = 2 * ec_curve_field_len(curve);
	int ret;

	if (s->signature_len != want)
		return err_set(EBADMSG, "the COSE signature is %zu bytes long; %s signatures are %zu bytes (r||s)",
			       s->signature_len, cose_alg_name(curve), want);
	ret = sig_structure_digest(curve, s->protected_hdr, s->protected_len, s->payload, s->payload_len, digest,
				   &digest_len);
	if (!ret)
		ret = ecdsa_verify_raw(key, curve, digest, digest_len, s->signature, s->signature_len);
	if (ret == -EBADMSG)
		return err_set(EBADMSG, "the COSE signature does not verify with %s", key_name);
	if (ret)
		return err_wrap(-ret, "the COSE signature could not be checked");
	return 0;
}

/* ---- parsing ---- */

static int fault(struct cose_error *e, enum cose_fault f, const struct cbor_dec *d)
{
	e->fault = f;
	e->dec = *d;
	return -EINVAL;
}

/* One of the byte strings of the array, part. */
static int read_bstr(struct cbor_dec *d, enum cose_part part, const uint8_t **data, size_t *len,
		     struct cose_error *e)
{
	struct cbor_head h;

	if (cbor_dec_head(d, &h))
		return fault(e, COSE_FAULT_CBOR, d);
	if (h.major != CBOR_BYTES) {
		e->part = part;
		e->found = h;
		return fault(e, COSE_FAULT_PART, d);
	}
	*data = h.data;
	*len = (size_t)h.arg;
	return 0;
}

/* The algorithm's value: kept as data, its judgement is the caller's. */
static int read_alg(struct cbor_dec *d, struct cose_sign1 *s, struct cose_error *e)
{
	struct cbor_head *h = &s->alg_head;

	if (s->alg_kind != COSE_ALG_ABSENT)
		return fault(e, COSE_FAULT_HDR_ALG_TWICE, d);
	if (cbor_dec_head(d, h))
		return fault(e, COSE_FAULT_HDR_CBOR, d);
	s->alg_end = cbor_dec_offset(d);
	switch (h->major) {
	case CBOR_NEGINT:
		s->alg_kind = COSE_ALG_INT;
		s->alg = h->arg > (uint64_t)LLONG_MAX ? LLONG_MIN : -1 - (long long)h->arg;
		return 0;
	case CBOR_UINT:
		s->alg_kind = COSE_ALG_INT;
		s->alg = h->arg > (uint64_t)LLONG_MAX ? LLONG_MAX : (long long)h->arg;
		return 0;
	case CBOR_TEXT:
		s->alg_kind = COSE_ALG_TEXT;
		return 0;
	default:
		/* A container's items must not be read as labels: step over the whole value. */
		s->alg_kind = COSE_ALG_OTHER;
		return cbor_dec_skip(d, h, 1) ? fault(e, COSE_FAULT_HDR_CBOR, d) : 0;
	}
}

/* The protected header: a map of int or text labels; the algorithm and "crit" are noted, the rest skipped. */
static int parse_protected(struct cose_sign1 *s, unsigned int flags, unsigned int max_depth, struct cose_error *e)
{
	struct cbor_iter it;
	struct cbor_head h;
	struct cbor_dec d;
	int ret;

	/* A zero-length protected header is the empty map (RFC 8152 section 3). */
	if (!s->protected_len)
		return 0;
	cbor_dec_init(&d, s->protected_hdr, s->protected_len, flags, max_depth);
	if (cbor_dec_head(&d, &h))
		return fault(e, COSE_FAULT_HDR_CBOR, &d);
	if (h.major != CBOR_MAP) {
		e->found = h;
		return fault(e, COSE_FAULT_HDR_NOT_MAP, &d);
	}
	/*
	 * Not cbor_dec_enter's count check: a lying count shows as "the data ends" at the byte where it does,
	 * as the EIF parser has always worded it.  The loop is bounded either way: every label takes a byte.
	 */
	it = (struct cbor_iter){ .indefinite = h.indefinite, .left = h.arg };
	while (cbor_dec_more(&d, &it)) {
		if (cbor_dec_head(&d, &h))
			return fault(e, COSE_FAULT_HDR_CBOR, &d);
		if (h.major != CBOR_UINT && h.major != CBOR_NEGINT && h.major != CBOR_TEXT) {
			e->found = h;
			return fault(e, COSE_FAULT_HDR_LABEL, &d);
		}
		if (h.major == CBOR_UINT && h.arg == COSE_LABEL_ALG) {
			ret = read_alg(&d, s, e);
			if (ret)
				return ret;
			continue;
		}
		if (h.major == CBOR_UINT && h.arg == COSE_LABEL_CRIT && !s->crit) {
			s->crit = true;
			s->crit_at = h.at;
		}
		if (cbor_dec_skip_item(&d, 1))
			return fault(e, COSE_FAULT_HDR_CBOR, &d);
	}
	if (cbor_dec_finish(&d)) {
		e->value = cbor_dec_left(&d);
		return fault(e, COSE_FAULT_HDR_TRAILING, &d);
	}
	return 0;
}

/* [protected, unprotected, payload, signature] after the array's head. */
static int parse_items(struct cbor_dec *d, struct cose_sign1 *s, struct cose_error *e)
{
	struct cbor_head h;
	int ret = read_bstr(d, COSE_PART_PROTECTED, &s->protected_hdr, &s->protected_len, e);

	if (ret)
		return ret;
	/* The unprotected header: any map (nitro-cli's and AWS's are empty); nothing in it is used. */
	if (cbor_dec_head(d, &h))
		return fault(e, COSE_FAULT_CBOR, d);
	if (h.major != CBOR_MAP) {
		e->part = COSE_PART_UNPROTECTED;
		e->found = h;
		return fault(e, COSE_FAULT_PART, d);
	}
	if (cbor_dec_skip(d, &h, 0))
		return fault(e, COSE_FAULT_CBOR, d);
	ret = read_bstr(d, COSE_PART_PAYLOAD, &s->payload, &s->payload_len, e);
	if (!ret)
		ret = read_bstr(d, COSE_PART_SIGNATURE, &s->signature, &s->signature_len, e);
	return ret;
}

int cose_sign1_parse(const uint8_t *buf, size_t len, unsigned int dec_flags, unsigned int max_depth,
		     struct cose_sign1 *s, struct cose_error *e)
{
	struct cbor_head h;
	struct cbor_dec d;
	int ret;

	memset(s, 0, sizeof(*s));
	memset(e, 0, sizeof(*e));
	cbor_dec_init(&d, buf, len, dec_flags, max_depth);
	if (cbor_dec_head(&d, &h))
		return fault(e, COSE_FAULT_CBOR, &d);
	if (h.major == CBOR_TAG) {
		if (h.arg != COSE_SIGN1_TAG) {
			e->value = h.arg;
			return fault(e, COSE_FAULT_TAG, &d);
		}
		s->tagged = true;
		if (cbor_dec_head(&d, &h))
			return fault(e, COSE_FAULT_CBOR, &d);
	}
	/* A COSE_Sign1 is an array of four, said so up front. */
	if (h.major != CBOR_ARRAY || h.indefinite) {
		e->found = h;
		return fault(e, COSE_FAULT_NOT_ARRAY, &d);
	}
	if (h.arg != 4) {
		e->value = h.arg;
		return fault(e, COSE_FAULT_ARRAY_LEN, &d);
	}
	ret = parse_items(&d, s, e);
	if (ret)
		return ret;
	if (cbor_dec_finish(&d)) {
		e->value = cbor_dec_left(&d);
		return fault(e, COSE_FAULT_TRAILING, &d);
	}
	e->header_off = (size_t)(s->protected_hdr - buf);
	return parse_protected(s, dec_flags, max_depth, e);
}
