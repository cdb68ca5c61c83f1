// SPDX-License-Identifier: MIT
/*
 * The EIF signature section, byte for byte as nitro-cli writes it (serde_cbor of Vec<PcrSignature>, with the
 * awslabs COSE crate's untagged COSE_Sign1 inside), and its verification.
 *
 * The CBOR is common/cbor.h's: shortest heads like serde_cbor's, and a bounded decoder that never allocates
 * on the strength of a length it has not checked against the bytes left, never recurses deeper than
 * SIG_MAX_DEPTH, and names the byte where the input stops making sense.  The section comes from an untrusted
 * file (and the fuzzer), so the decoder takes nothing beyond what nitro-cli writes: no indefinite lengths, no
 * unassigned simple values.
 */
#include "signature.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cbor.h"
#include "common/util.h"
#include "crypto/cose.h"
#include "eif/eif.h"

/* nitro-cli writes nesting depth 3; COSE headers add a little.  Anything deeper is not a signature section.
 */
#define SIG_MAX_DEPTH 16
/* The certificate is stored as one CBOR item per byte, so a file this large could never fit in the section.
 */
#define SIG_CERT_FILE_MAX EIF_SIGNATURE_MAX_SIZE
#define SIG_KEY_FILE_MAX  (64 * 1024)

/* ---- encoding ---- */

/* What serde_cbor makes of a Vec<u8> without serde_bytes: an array with one unsigned integer per byte. */
static void put_byte_array(struct cbor_enc *b, const uint8_t *data, size_t n)
{
	cbor_enc_array(b, n);
	for (size_t i = 0; i < n; i++)
		cbor_enc_uint(b, data[i]);
}

/* PcrInfo {register_index: 0, register_value: PCR0}, the COSE payload. */
static void put_pcr_payload(struct cbor_enc *b, const uint8_t pcr0[SHA384_LEN])
{
	cbor_enc_map(b, 2);
	cbor_enc_text(b, "register_index");
	cbor_enc_uint(b, 0);
	cbor_enc_text(b, "register_value");
	put_byte_array(b, pcr0, SHA384_LEN);
}

/* A heap encoder that ran out of memory gives its buffer back. */
static int enc_check(struct cbor_enc *b)
{
	if (b->failed) {
		cbor_enc_release(b);
		return err_set(ENOMEM, "out of memory encoding the signature");
	}
	return 0;
}

int eif_signature_create_pem(const uint8_t pcr0[SHA384_LEN], const uint8_t *cert_pem, size_t cert_len,
			     const uint8_t *key_pem, size_t key_len, uint8_t **section, size_t *len)
{
	struct cbor_enc payload, cose, out;
	struct evp_pkey_st *key = NULL, *pub = NULL;
	struct x509_st *cert = NULL;
	enum ec_curve curve;
	int ret;

	*section = NULL;
	*len = 0;
	cbor_enc_init_heap(&payload);
	cbor_enc_init_heap(&cose);
	cbor_enc_init_heap(&out);
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
	ret = enc_check(&payload);
	/* COSE_Sign1, untagged like nitro-cli's, with the algorithm of the key's curve. */
	if (!ret)
		ret = cose_sign1_write(&cose, key, curve, payload.buf, payload.len);
	if (ret == -ENOSPC)
		ret = enc_check(&cose);
	if (ret)
		goto out;

	cbor_enc_array(&out, 1);
	cbor_enc_map(&out, 2);
	cbor_enc_text(&out, "signing_certificate");
	put_byte_array(&out, cert_pem, cert_len);
	cbor_enc_text(&out, "signature");
	put_byte_array(&out, cose.buf, cose.len);
	ret = enc_check(&out);
	if (ret)
		goto out;
	if (out.len > EIF_SIGNATURE_MAX_SIZE) {
		ret = err_set(
			EFBIG,
			"the signature section would be %zu bytes, more than the %u bytes an EIF allows "
			"(the certificate file is %zu bytes; give only the signing certificate)",
			out.len, EIF_SIGNATURE_MAX_SIZE, cert_len);
		cbor_enc_release(&out);
		goto out;
	}
	/* The section is the encoder's heap buffer, handed over. */
	*section = out.buf;
	*len = out.len;
out:
	cbor_enc_release(&payload);
	cbor_enc_release(&cose);
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

/* A decoder over one structure, and that structure's name for messages. */
struct cur {
	struct cbor_dec d;
	const char *what;
};

static void cur_init(struct cur *c, const uint8_t *buf, size_t len, const char *what)
{
	/* Only what serde_cbor writes: definite lengths, no unassigned simple values. */
	cbor_dec_init(&c->d, buf, len, CBOR_DEC_KNOWN_SIMPLE, SIG_MAX_DEPTH);
	c->what = what;
}

static int cur_fail(const struct cur *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cur_fail(const struct cur *c, const char *fmt, ...)
{
	char detail[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return err_set(EINVAL, "%s is malformed at byte %zu: %s", c->what, c->d.at, detail);
}

/* The decoder's own failure, at the byte it names. */
static int cur_dec_fail(const struct cur *c)
{
	char detail[128];

	if (c->d.err == CBOR_ERR_INDEFINITE)
		return cur_fail(c, "indefinite-length items are not used in EIF signatures");
	cbor_dec_describe(&c->d, NULL, detail, sizeof(detail));
	return cur_fail(c, "%s", detail);
}

static int cur_next(struct cur *c, struct cbor_head *h)
{
	return cbor_dec_head(&c->d, h) ? cur_dec_fail(c) : 0;
}

/* Skip one whole item, at depth depth. */
static int skip_item(struct cur *c, unsigned int depth)
{
	return cbor_dec_skip_item(&c->d, depth) ? cur_dec_fail(c) : 0;
}

/* Booleans, null and undefined are all "a simple value" here: no field of a section is one. */
static const char *kind_name(const struct cbor_head *h)
{
	if (h->major == CBOR_SIMPLE && !cbor_head_is_float(h))
		return cbor_major_name(CBOR_SIMPLE);
	return cbor_head_name(h);
}

static int cur_expect(struct cur *c, struct cbor_head *h, uint8_t major, const char *what)
{
	int ret = cur_next(c, h);

	if (ret)
		return ret;
	if (h->major != major)
		return cur_fail(c, "expected %s (%s), found %s", cbor_major_name(major), what, kind_name(h));
	return 0;
}

/* Every item takes at least one byte, so a count above the bytes left is a lie: refuse it before looping. */
static int cur_check_count(const struct cur *c, uint64_t n, const char *what)
{
	if (n > cbor_dec_left(&c->d))
		return cur_fail(c, "%s claims %llu items but only %zu bytes are left", what,
				(unsigned long long)n, cbor_dec_left(&c->d));
	return 0;
}

static int cur_check_end(struct cur *c, const char *after)
{
	if (!cbor_dec_finish(&c->d))
		return 0;
	return cur_fail(c, "%zu bytes follow %s", cbor_dec_left(&c->d), after);
}

/* An array of integers 0..255, one per byte (serde's Vec<u8>), into a heap buffer. */
static int read_byte_array(struct cur *c, const char *what, uint8_t **out, size_t *len)
{
	struct cbor_head h;
	uint8_t *buf;
	size_t n;
	int ret = cur_next(c, &h);

	if (ret)
		return ret;
	if (h.major == CBOR_BYTES)
		return cur_fail(c, "%s is a byte string; nitro-cli stores it as an array of integers", what);
	if (h.major != CBOR_ARRAY)
		return cur_fail(c, "expected an array of byte values (%s), found %s", what, kind_name(&h));
	ret = cur_check_count(c, h.arg, what);
	if (ret)
		return ret;
	n = (size_t)h.arg;
	buf = malloc(n ? n : 1);
	if (!buf)
		return err_set(ENOMEM, "out of memory reading %s", what);
	for (size_t i = 0; i < n; i++) {
		ret = cur_next(c, &h);
		if (!ret && h.major != CBOR_UINT)
			ret = cur_fail(c, "item %zu of %s is %s, not a byte value", i, what, kind_name(&h));
		if (!ret && h.arg > UINT8_MAX)
			ret = cur_fail(c, "item %zu of %s is %llu, more than a byte holds", i, what,
				       (unsigned long long)h.arg);
		if (ret) {
			free(buf);
			return ret;
		}
		buf[i] = (uint8_t)h.arg;
	}
	*out = buf;
	*len = n;
	return 0;
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
	struct cbor_head h;
	uint64_t n;
	int ret;

	memset(e, 0, sizeof(*e));
	ret = cur_expect(c, &h, CBOR_MAP, "a signature entry");
	if (!ret)
		ret = cur_check_count(c, h.arg, "the signature entry");
	if (ret)
		return ret;
	n = h.arg;
	for (uint64_t i = 0; i < n && !ret; i++) {
		ret = cur_expect(c, &h, CBOR_TEXT, "a field name of the signature entry");
		if (ret)
			break;
		if (cbor_head_is_text(&h, "signing_certificate")) {
			ret = e->cert ? cur_fail(c, "\"signing_certificate\" appears twice")
				      : read_byte_array(c, "\"signing_certificate\"", &e->cert, &e->cert_len);
		} else if (cbor_head_is_text(&h, "signature")) {
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
	struct cbor_head h;
	struct cur c;
	int ret;

	cur_init(&c, sec, len, "the signature section");
	ret = cur_expect(&c, &h, CBOR_ARRAY, "the list of signatures");
	if (!ret && !h.arg)
		ret = cur_fail(&c, "the list of signatures is empty");
	if (!ret)
		ret = cur_check_count(&c, h.arg, "the list of signatures");
	if (ret)
		return ret;
	ret = read_entry(&c, first);
	for (uint64_t i = 1; i < h.arg && !ret; i++) {
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

/* The COSE layer's refusal in the words of this file: "<part> is malformed at byte N: ...". */
static int cose_fail(const struct cose_error *e)
{
	bool hdr = e->fault >= COSE_FAULT_HDR_CBOR;
	struct cur c = { .d = e->dec, .what = hdr ? "the COSE protected header" : "the COSE_Sign1 signature" };
	static const char *const part_want[] = {
		[COSE_PART_PROTECTED] = "a byte string (the protected header)",
		[COSE_PART_UNPROTECTED] = "a map (the unprotected header)",
		[COSE_PART_PAYLOAD] = "a byte string (the payload)",
		[COSE_PART_SIGNATURE] = "a byte string (the signature)",
	};

	switch (e->fault) {
	case COSE_FAULT_TAG:
		return cur_fail(&c, "tag %llu is not COSE_Sign1's (18)", (unsigned long long)e->value);
	case COSE_FAULT_NOT_ARRAY:
		return cur_fail(&c, "expected an array (COSE_Sign1), found %s", kind_name(&e->found));
	case COSE_FAULT_ARRAY_LEN:
		return cur_fail(&c, "COSE_Sign1 is an array of 4 items, not %llu", (unsigned long long)e->value);
	case COSE_FAULT_PART:
		return cur_fail(&c, "expected %s, found %s", part_want[e->part], kind_name(&e->found));
	case COSE_FAULT_TRAILING:
		return cur_fail(&c, "%llu bytes follow the COSE_Sign1 array", (unsigned long long)e->value);
	case COSE_FAULT_HDR_NOT_MAP:
		return cur_fail(&c, "expected a map (the header map), found %s", kind_name(&e->found));
	case COSE_FAULT_HDR_LABEL:
		return cur_fail(&c, "a header label is %s, not an integer or text", kind_name(&e->found));
	case COSE_FAULT_HDR_ALG_TWICE:
		return cur_fail(&c, "the algorithm (label 1) appears twice");
	case COSE_FAULT_HDR_TRAILING:
		return cur_fail(&c, "%llu bytes follow the header map", (unsigned long long)e->value);
	default:
		return cur_dec_fail(&c);
	}
}

/* COSE_Sign1, tagged or not, as cose.h reads it; an algorithm that is not even a number or a name is malformed. */
static int parse_cose(const uint8_t *buf, size_t len, struct cose_sign1 *s)
{
	struct cose_error e;
	struct cur c;

	/* Only what serde_cbor writes: definite lengths, no unassigned simple values. */
	if (cose_sign1_parse(buf, len, CBOR_DEC_KNOWN_SIMPLE, SIG_MAX_DEPTH, s, &e))
		return cose_fail(&e);
	if (s->alg_kind != COSE_ALG_OTHER)
		return 0;
	cur_init(&c, s->protected_hdr, s->protected_len, "the COSE protected header");
	c.d.at = s->alg_head.at;
	return cur_fail(&c, "the algorithm is %s, not an integer or text", kind_name(&s->alg_head));
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

static void check_signature(const struct x509_st *cert, const struct cose_sign1 *s,
			    struct eif_signature_check *out)
{
	struct evp_pkey_st *pub = NULL;
	enum ec_curve kc, ac;

	if (cert_public_key(cert, &pub)) {
		problem(out, "the signing certificate's public key cannot be decoded");
		return;
	}
	if (eckey_curve(pub, "the signing certificate's key", &kc)) {
		problem(out, "%s", err_msg());
		goto out;
	}
	if (s->alg_kind == COSE_ALG_ABSENT) {
		problem(out, "the COSE signature's protected header does not name its algorithm");
		goto out;
	}
	ac = s->alg_kind == COSE_ALG_INT ? ec_curve_from_cose_alg(s->alg) : EC_CURVE_NONE;
	if (s->alg_kind == COSE_ALG_TEXT) {
		problem(out, "the COSE signature names its algorithm as text; EIF signatures use ES256 (-7), "
			     "ES384 (-35) or ES512 (-36)");
		goto out;
	}
	if (ac == EC_CURVE_NONE) {
		problem(out, "the COSE signature uses algorithm %lld; EIF signatures use ES256 (-7), ES384 (-35) "
			     "or ES512 (-36)", s->alg);
		goto out;
	}
	if (ac != kc) {
		problem(out, "the COSE signature is %s but the signing certificate's key is on %s (%s)",
			cose_alg_name(ac), ec_curve_name(kc), cose_alg_name(kc));
		goto out;
	}
	if (cose_sign1_verify(s, pub, kc, "the signing certificate's public key"))
		problem(out, "%s", err_msg());
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
	struct cbor_head h;
	struct cur c;
	int ret;

	cur_init(&c, buf, len, "the signed payload");
	if (cur_expect(&c, &h, CBOR_MAP, "the payload") || cur_check_count(&c, h.arg, "the payload"))
		return false;
	for (uint64_t i = 0, n = h.arg; i < n; i++) {
		if (cur_next(&c, &h))
			return false;
		if (cbor_head_is_text(&h, "register_index")) {
			if (cur_expect(&c, &h, CBOR_UINT, "register_index"))
				return false;
			*index = h.arg;
			have_index = true;
		} else if (cbor_head_is_text(&h, "register_value")) {
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

static void check_payload(const struct cose_sign1 *s, const uint8_t pcr0[SHA384_LEN],
			  struct eif_signature_check *out)
{
	char signed_hex[2 * SHA384_LEN + 1], image_hex[2 * SHA384_LEN + 1];
	uint8_t value[SHA384_LEN];
	struct cbor_enc want;
	uint64_t index = 0;

	cbor_enc_init_heap(&want);
	put_pcr_payload(&want, pcr0);
	if (enc_check(&want)) {
		problem(out, "%s", err_msg());
		return;
	}
	/* nitro-cli compares the encoded payloads byte for byte; so do we, for the same verdicts. */
	if (want.len == s->payload_len && !memcmp(want.buf, s->payload, want.len)) {
		out->payload_matches = true;
		cbor_enc_release(&want);
		return;
	}
	cbor_enc_release(&want);
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
	struct cose_sign1 s;
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
