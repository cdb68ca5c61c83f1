// SPDX-License-Identifier: MIT
/*
 * Unit tests for the attestation document verifier (src/nsm/verify.c).
 *
 * Documents and chains are made here the way AWS makes them (attestation_process.md), with OpenSSL and a CBOR writer
 * of this file's own, sharing nothing with the code under test: root → regional (pathlen 2) → zonal (pathlen
 * 1) → instance (pathlen 0) → leaf (CA:FALSE), all P-384 with ecdsa-with-SHA384, CA key usage critical 0x86,
 * the leaf's digitalSignature; payloads in AWS's field order, definite or indefinite length, the COSE_Sign1
 * tagged or not.  Each check the verifier makes is then broken once, and the message must name what failed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "crypto/crypto.h"
#include "nsm/verify.h"

#define HOUR (3600L)
#define DAY  (24 * HOUR)
/* Each try verifies five P-384 signatures at most: a few hundred keep the test under a second or two. */
#define MUTATIONS 400

/* Chain positions, root first like the cabundle. */
enum { ROOT, REGIONAL, ZONAL, INSTANCE, LEAF, NCERTS };

static EVP_PKEY *keys[NCERTS];
static EVP_PKEY *other_root_key;

static const char *const subjects[NCERTS] = {
	"aws.nitro-enclaves",
	"1f2e3d4c5b6a7988.us-east-1.aws.nitro-enclaves",
	"0a1b2c3d4e5f6a7b.zonal.us-east-1.aws.nitro-enclaves",
	"i-0a9f2a8b8dd31c7c8.us-east-1.aws.nitro-enclaves",
	"i-0a9f2a8b8dd31c7c8-enc019802a541b75725.us-east-1.aws",
};

/* How one certificate of a test chain is made. */
struct cert_spec {
	int pathlen; /* -1: none */
	bool ca;
	const char *key_usage;	    /* OpenSSL config text */
	long not_before, not_after; /* seconds from now */
	bool bc_not_critical;
};

struct chain_spec {
	struct cert_spec c[NCERTS];
};

static struct chain_spec aws_chain(void)
{
	static const char ca_ku[] = "critical,digitalSignature,keyCertSign,cRLSign"; /* 0x86 */
	struct chain_spec s = {{
		{-1, true, ca_ku, -DAY, 30 * 365 * DAY, false},
		{2, true, ca_ku, -DAY, 20 * DAY, false},
		{1, true, ca_ku, -DAY, 5 * DAY, false},
		{0, true, ca_ku, -HOUR, DAY, false},
		{-1, false, "critical,digitalSignature,nonRepudiation", -HOUR / 2, 3 * HOUR, false},
	}};

	return s;
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
		       const struct cert_spec *s, long serial)
{
	X509 *x = X509_new();
	X509_NAME *name;
	char bc[64];

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), s->not_before);
	X509_gmtime_adj(X509_getm_notAfter(x), s->not_after);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC, (const unsigned char *)"US", -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"Amazon", -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC, (const unsigned char *)"AWS", -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	snprintf(bc, sizeof(bc), "%sCA:%s", s->bc_not_critical ? "" : "critical,", s->ca ? "TRUE" : "FALSE");
	if (s->pathlen >= 0)
		snprintf(bc + strlen(bc), sizeof(bc) - strlen(bc), ",pathlen:%d", s->pathlen);
	add_ext(x, issuer ? issuer : x, NID_basic_constraints, bc);
	add_ext(x, issuer ? issuer : x, NID_key_usage, s->key_usage);
	add_ext(x, issuer ? issuer : x, NID_subject_key_identifier, "hash");
	if (issuer)
		add_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
	assert_true(X509_sign(x, issuer_key, EVP_sha384()) > 0);
	return x;
}

struct der {
	uint8_t *p;
	int len;
};

static struct der to_der(X509 *x)
{
	struct der d = {NULL, i2d_X509(x, NULL)};

	assert_true(d.len > 0);
	d.p = malloc((size_t)d.len);
	assert_non_null(d.p);
	{
		unsigned char *q = d.p;

		assert_int_equal(i2d_X509(x, &q), d.len);
	}
	return d;
}

/* A chain made to a spec; certs[ROOT] is the root. */
struct chain {
	X509 *x[NCERTS];
	struct der der[NCERTS];
};

static void chain_make(struct chain *ch, const struct chain_spec *s)
{
	for (int i = 0; i < NCERTS; i++) {
		X509 *issuer = i ? ch->x[i - 1] : NULL;

		ch->x[i] =
			make_cert(subjects[i], keys[i], issuer, i ? keys[i - 1] : keys[i], &s->c[i], 100 + i);
		ch->der[i] = to_der(ch->x[i]);
	}
}

static void chain_free(struct chain *ch)
{
	for (int i = 0; i < NCERTS; i++) {
		X509_free(ch->x[i]);
		free(ch->der[i].p);
	}
}

/* ---- an independent CBOR writer ---- */

struct out {
	uint8_t buf[32768];
	size_t len;
};

static void put(struct out *o, const void *p, size_t n)
{
	assert_true(o->len + n <= sizeof(o->buf));
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

static void head(struct out *o, unsigned int major, uint64_t v)
{
	uint8_t h[9];
	size_t n;

	if (v < 24) {
		h[0] = (uint8_t)(major << 5 | v);
		n = 1;
	} else if (v <= 0xff) {
		h[0] = (uint8_t)(major << 5 | 24);
		h[1] = (uint8_t)v;
		n = 2;
	} else if (v <= 0xffff) {
		h[0] = (uint8_t)(major << 5 | 25);
		put_be16(h + 1, (uint16_t)v);
		n = 3;
	} else if (v <= 0xffffffff) {
		h[0] = (uint8_t)(major << 5 | 26);
		put_be32(h + 1, (uint32_t)v);
		n = 5;
	} else {
		h[0] = (uint8_t)(major << 5 | 27);
		put_be64(h + 1, v);
		n = 9;
	}
	put(o, h, n);
}

static void bytes(struct out *o, const void *p, size_t n)
{
	head(o, 2, n);
	put(o, p, n);
}

static void text(struct out *o, const char *s)
{
	head(o, 3, strlen(s));
	put(o, s, strlen(s));
}

static void null(struct out *o)
{
	put(o, "\xf6", 1);
}

/* ---- documents ---- */

struct blob {
	const uint8_t *p;
	size_t len;
	bool present;
};

struct doc_spec {
	const char *module_id, *digest;
	uint64_t timestamp;
	unsigned int npcrs;
	unsigned int pcr_index[40];
	size_t pcr_len[40];
	struct blob certificate;
	unsigned int ncabundle;
	struct blob cabundle[8];
	struct blob public_key, user_data, nonce;
	bool indefinite, tagged;
	unsigned int omit; /* bit per field in AWS order */
	int alg;
	EVP_PKEY *signer;
};

static uint8_t pcr_value(unsigned int index, size_t i)
{
	return (uint8_t)(index * 16 + i);
}

static struct doc_spec aws_doc(const struct chain *ch)
{
	static const uint8_t nonce[] = {0xde, 0xad, 0xbe, 0xef};
	static const uint8_t user_data[] = "hello from the enclave";
	struct doc_spec s = {
		.module_id = "i-0a9f2a8b8dd31c7c8-enc019802a541b75725",
		.digest = "SHA384",
		.timestamp = (uint64_t)time(NULL) * 1000,
		.npcrs = 16,
		.certificate = {ch->der[LEAF].p, (size_t)ch->der[LEAF].len, true},
		.ncabundle = 4,
		.user_data = {user_data, sizeof(user_data) - 1, true},
		.nonce = {nonce, sizeof(nonce), true},
		.alg = -35,
		.signer = keys[LEAF],
	};

	for (unsigned int i = 0; i < 16; i++) {
		s.pcr_index[i] = i;
		s.pcr_len[i] = 48;
	}
	for (unsigned int i = 0; i < 4; i++)
		s.cabundle[i] = (struct blob){ch->der[i].p, (size_t)ch->der[i].len, true};
	return s;
}

static void opt_bytes(struct out *o, const struct blob *b)
{
	if (b->present)
		bytes(o, b->p, b->len);
	else
		null(o);
}

static void payload(struct out *o, const struct doc_spec *s)
{
	unsigned int fields = 0;

	for (unsigned int i = 0; i < 9; i++)
		fields += !(s->omit & (1u << i));
	if (s->indefinite)
		put(o, "\xbf", 1);
	else
		head(o, 5, fields);
	if (!(s->omit & 1)) {
		text(o, "module_id");
		text(o, s->module_id);
	}
	if (!(s->omit & 2)) {
		text(o, "digest");
		text(o, s->digest);
	}
	if (!(s->omit & 4)) {
		uint8_t ts[9] = {0x1b};

		/* AWS writes the timestamp with an 8-byte argument whatever its value. */
		text(o, "timestamp");
		put_be64(ts + 1, s->timestamp);
		put(o, ts, sizeof(ts));
	}
	if (!(s->omit & 8)) {
		text(o, "pcrs");
		head(o, 5, s->npcrs);
		for (unsigned int i = 0; i < s->npcrs; i++) {
			uint8_t v[64];

			for (size_t j = 0; j < s->pcr_len[i]; j++)
				v[j] = pcr_value(s->pcr_index[i], j);
			head(o, 0, s->pcr_index[i]);
			bytes(o, v, s->pcr_len[i]);
		}
	}
	if (!(s->omit & 16)) {
		text(o, "certificate");
		bytes(o, s->certificate.p, s->certificate.len);
	}
	if (!(s->omit & 32)) {
		text(o, "cabundle");
		head(o, 4, s->ncabundle);
		for (unsigned int i = 0; i < s->ncabundle; i++)
			bytes(o, s->cabundle[i].p, s->cabundle[i].len);
	}
	if (!(s->omit & 64)) {
		text(o, "public_key");
		opt_bytes(o, &s->public_key);
	}
	if (!(s->omit & 128)) {
		text(o, "user_data");
		opt_bytes(o, &s->user_data);
	}
	if (!(s->omit & 256)) {
		text(o, "nonce");
		opt_bytes(o, &s->nonce);
	}
	if (s->indefinite)
		put(o, "\xff", 1);
}

/* ES384 over Sig_structure, as r||s. */
static void cose_sign(EVP_PKEY *key, const uint8_t *prot, size_t prot_len, const uint8_t *pl, size_t pl_len,
		      uint8_t sig[96])
{
	static struct out tbs;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char der[160];
	const unsigned char *p = der;
	size_t der_len = sizeof(der);
	ECDSA_SIG *es;

	tbs.len = 0;
	head(&tbs, 4, 4);
	text(&tbs, "Signature1");
	bytes(&tbs, prot, prot_len);
	bytes(&tbs, NULL, 0);
	bytes(&tbs, pl, pl_len);
	assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, key), 1);
	assert_int_equal(EVP_DigestSign(md, der, &der_len, tbs.buf, tbs.len), 1);
	EVP_MD_CTX_free(md);
	es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	assert_non_null(es);
	assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 48), 48);
	assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 48, 48), 48);
	ECDSA_SIG_free(es);
}

/* The whole document; *payload_off receives where the payload bytes start. */
static void make_doc(const struct doc_spec *s, struct out *doc, size_t *payload_off)
{
	static struct out pl, prot;
	uint8_t sig[96];

	pl.len = prot.len = doc->len = 0;
	payload(&pl, s);
	head(&prot, 5, 1);
	head(&prot, 0, 1);
	head(&prot, 1, (uint64_t)(-1 - s->alg));
	cose_sign(s->signer, prot.buf, prot.len, pl.buf, pl.len, sig);
	if (s->tagged)
		put(doc, "\xd2", 1);
	head(doc, 4, 4);
	bytes(doc, prot.buf, prot.len);
	head(doc, 5, 0);
	head(doc, 2, pl.len);
	if (payload_off)
		*payload_off = doc->len;
	put(doc, pl.buf, pl.len);
	bytes(doc, sig, sizeof(sig));
}

/* ---- fixtures ---- */

static struct chain good;

static int group_setup(void **state)
{
	struct chain_spec s = aws_chain();

	(void)state;
	for (int i = 0; i < NCERTS; i++) {
		keys[i] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
		assert_non_null(keys[i]);
	}
	other_root_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	chain_make(&good, &s);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	chain_free(&good);
	for (int i = 0; i < NCERTS; i++)
		EVP_PKEY_free(keys[i]);
	EVP_PKEY_free(other_root_key);
	return 0;
}

static struct out doc;

static int verify_spec(const struct doc_spec *s, X509 *root, time_t at, const struct att_expect *e)
{
	struct att_doc d;

	make_doc(s, &doc, NULL);
	return att_verify(doc.buf, doc.len, root, at, e, &d);
}

/* Rejected, with a message that contains fragment. */
static void assert_rejected(int ret, const char *fragment)
{
	if (!ret || !strstr(err_msg(), fragment))
		fail_msg("expected a rejection mentioning \"%s\"; got %d \"%s\"", fragment, ret,
			 ret ? err_msg() : "");
}

/* ---- accepted ---- */

static void check_accepted(bool indefinite, bool tagged)
{
	struct doc_spec s = aws_doc(&good);
	struct att_doc d;
	int ret;

	s.indefinite = indefinite;
	s.tagged = tagged;
	make_doc(&s, &doc, NULL);
	ret = att_verify(doc.buf, doc.len, good.x[ROOT], time(NULL), NULL, &d);
	if (ret)
		fail_msg("rejected: %s", err_msg());
	assert_int_equal(d.indefinite, indefinite);
	assert_int_equal(d.tagged, tagged);
	assert_int_equal(d.module_id_len, strlen(s.module_id));
	assert_memory_equal(d.module_id, s.module_id, d.module_id_len);
	assert_int_equal(d.timestamp, s.timestamp);
	assert_int_equal(d.npcrs, 16);
	assert_int_equal(d.pcrs[4].index, 4);
	assert_int_equal(d.pcrs[4].value.len, 48);
	assert_int_equal(d.pcrs[4].value.data[1], pcr_value(4, 1));
	assert_int_equal(d.ncabundle, 4);
	assert_int_equal(d.certificate.len, (size_t)good.der[LEAF].len);
	assert_false(d.public_key.present);
	assert_true(d.nonce.present);
	assert_int_equal(d.nonce.len, 4);
	assert_int_equal(d.user_data.len, strlen("hello from the enclave"));
}

static void test_definite_untagged(void **state)
{
	(void)state;
	check_accepted(false, false);
}

static void test_indefinite_untagged(void **state)
{
	(void)state;
	check_accepted(true, false);
}

static void test_definite_tagged(void **state)
{
	(void)state;
	check_accepted(false, true);
}

static void test_indefinite_tagged(void **state)
{
	(void)state;
	check_accepted(true, true);
}

static void test_expected_values_match(void **state)
{
	struct doc_spec s = aws_doc(&good);
	struct att_expect e = {0};
	uint8_t pcr4[48];

	(void)state;
	for (size_t i = 0; i < sizeof(pcr4); i++)
		pcr4[i] = pcr_value(4, i);
	e.nonce = s.nonce.p;
	e.nonce_len = s.nonce.len;
	e.user_data = s.user_data.p;
	e.user_data_len = s.user_data.len;
	e.npcrs = 1;
	e.pcrs[0].index = 4;
	e.pcrs[0].value = pcr4;
	e.pcrs[0].len = sizeof(pcr4);
	assert_int_equal(verify_spec(&s, good.x[ROOT], time(NULL), &e), 0);
}

/* at = 0: the document's own timestamp; a document from yesterday verifies at its time, not now. */
static void test_at_document_time(void **state)
{
	struct doc_spec s = aws_doc(&good);

	(void)state;
	assert_int_equal(verify_spec(&s, good.x[ROOT], 0, NULL), 0);
	s.timestamp = (uint64_t)(time(NULL) - 2 * DAY) * 1000;
	assert_rejected(verify_spec(&s, good.x[ROOT], 0, NULL), "is not valid before");
}

/* ---- tampering ---- */

static void test_flipped_payload_byte(void **state)
{
	struct doc_spec s = aws_doc(&good);
	struct att_doc d;
	size_t off;
	uint8_t *p;

	(void)state;
	make_doc(&s, &doc, &off);
	/* A byte of module_id's text: still a valid payload, so only the signature can tell. */
	p = memmem(doc.buf + off, doc.len - off, "enc0198", 7);
	assert_non_null(p);
	p[3] ^= 0x01;
	assert_rejected(att_verify(doc.buf, doc.len, good.x[ROOT], time(NULL), NULL, &d),
			"the COSE signature does not verify with the leaf certificate's key");
}

static void test_flipped_signature_byte(void **state)
{
	struct doc_spec s = aws_doc(&good);
	struct att_doc d;

	(void)state;
	make_doc(&s, &doc, NULL);
	doc.buf[doc.len - 7] ^= 0x40;
	assert_rejected(att_verify(doc.buf, doc.len, good.x[ROOT], time(NULL), NULL, &d),
			"the COSE signature does not verify with the leaf certificate's key");
}

/* One byte of a certificate's own signature: DER stays valid, the issuer's signature does not. */
static void check_flipped_cert(int which, const char *name)
{
	struct doc_spec s = aws_doc(&good);
	uint8_t copy[2048];
	size_t len = (size_t)good.der[which].len;

	memcpy(copy, good.der[which].p, len);
	copy[len - 3] ^= 0x01;
	if (which == LEAF)
		s.certificate.p = copy;
	else
		s.cabundle[which].p = copy;
	assert_rejected(verify_spec(&s, good.x[ROOT], time(NULL), NULL), name);
	assert_rejected(-EBADMSG, "does not verify with its issuer's key");
}

static void test_flipped_leaf_cert_byte(void **state)
{
	(void)state;
	check_flipped_cert(LEAF, "the signature on the leaf certificate");
}

static void test_flipped_intermediate_cert_byte(void **state)
{
	(void)state;
	check_flipped_cert(ZONAL, "the signature on cabundle[2]");
}

/* A byte of the leaf's subject: its issuer's signature no longer covers it. */
static void test_flipped_leaf_subject_byte(void **state)
{
	struct doc_spec s = aws_doc(&good);
	uint8_t copy[2048];
	size_t len = (size_t)good.der[LEAF].len;
	uint8_t *p;

	(void)state;
	memcpy(copy, good.der[LEAF].p, len);
	p = memmem(copy, len, "enc0198", 7);
	assert_non_null(p);
	p[0] ^= 0x02;
	s.certificate.p = copy;
	assert_rejected(verify_spec(&s, good.x[ROOT], time(NULL), NULL), "the leaf certificate");
}

/* ---- the chain ---- */

static void test_expired_leaf(void **state)
{
	struct doc_spec s = aws_doc(&good);

	(void)state;
	assert_rejected(
		verify_spec(&s, good.x[ROOT], time(NULL) + 4 * HOUR, NULL),
		"the leaf certificate (CN=i-0a9f2a8b8dd31c7c8-enc019802a541b75725.us-east-1.aws) expired at");
	assert_rejected(
		verify_spec(&s, good.x[ROOT], time(NULL) - 3 * HOUR / 4, NULL),
		"the leaf certificate (CN=i-0a9f2a8b8dd31c7c8-enc019802a541b75725.us-east-1.aws) is not "
		"valid before");
}

static void test_expired_intermediate(void **state)
{
	struct doc_spec s = aws_doc(&good);

	(void)state;
	/* Six days on, the zonal CA (five days) and the instance CA and leaf have expired: one is named. */
	assert_rejected(verify_spec(&s, good.x[ROOT], time(NULL) + 6 * DAY, NULL), "expired at");
}

static void test_wrong_root(void **state)
{
	struct cert_spec rs = aws_chain().c[ROOT];
	X509 *other = make_cert(subjects[ROOT], other_root_key, NULL, other_root_key, &rs, 1);
	struct doc_spec s = aws_doc(&good);

	(void)state;
	assert_rejected(verify_spec(&s, other, time(NULL), NULL),
			"the certificate chain does not lead to the pinned root");
	X509_free(other);
}

/* cabundle[0] claims the pinned root, but the chain was issued by another one of the same name. */
static void test_chain_from_another_root(void **state)
{
	struct chain_spec cs = aws_chain();
	struct chain bad;
	EVP_PKEY *saved = keys[ROOT];
	struct doc_spec s;

	(void)state;
	keys[ROOT] = other_root_key;
	chain_make(&bad, &cs);
	keys[ROOT] = saved;
	s = aws_doc(&bad);
	s.cabundle[0] = (struct blob){good.der[ROOT].p, (size_t)good.der[ROOT].len, true};
	assert_rejected(verify_spec(&s, good.x[ROOT], time(NULL), NULL), "cabundle[1]");
	chain_free(&bad);
}

static void check_bad_chain(const struct chain_spec *cs, const char *fragment)
{
	struct chain ch;
	struct doc_spec s;

	chain_make(&ch, cs);
	s = aws_doc(&ch);
	assert_rejected(verify_spec(&s, ch.x[ROOT], time(NULL), NULL), fragment);
	chain_free(&ch);
}

static void test_ca_without_keycertsign(void **state)
{
	struct chain_spec cs = aws_chain();

	(void)state;
	cs.c[ZONAL].key_usage = "critical,digitalSignature,cRLSign";
	check_bad_chain(&cs, "cabundle[2] (CN=0a1b2c3d4e5f6a7b.zonal.us-east-1.aws.nitro-enclaves) is a CA "
			     "certificate without the keyCertSign key usage");
}

static void test_ca_basic_constraints_not_critical(void **state)
{
	struct chain_spec cs = aws_chain();

	(void)state;
	cs.c[REGIONAL].bc_not_critical = true;
	check_bad_chain(
		&cs, "cabundle[1] (CN=1f2e3d4c5b6a7988.us-east-1.aws.nitro-enclaves) has a basicConstraints "
		     "extension that is not critical");
}

static void test_intermediate_not_a_ca(void **state)
{
	struct chain_spec cs = aws_chain();

	(void)state;
	cs.c[INSTANCE].ca = false;
	cs.c[INSTANCE].pathlen = -1;
	check_bad_chain(&cs, "cabundle[3] (CN=i-0a9f2a8b8dd31c7c8.us-east-1.aws.nitro-enclaves) is not a CA");
}

static void test_leaf_is_a_ca(void **state)
{
	struct chain_spec cs = aws_chain();

	(void)state;
	cs.c[LEAF].ca = true;
	check_bad_chain(
		&cs, "the leaf certificate (CN=i-0a9f2a8b8dd31c7c8-enc019802a541b75725.us-east-1.aws) is a "
		     "CA certificate");
}

static void test_leaf_without_digital_signature(void **state)
{
	struct chain_spec cs = aws_chain();

	(void)state;
	cs.c[LEAF].key_usage = "critical,nonRepudiation";
	check_bad_chain(&cs, "lacks the digitalSignature key usage");
}

static void test_pathlen_violated(void **state)
{
	struct chain_spec cs = aws_chain();

	(void)state;
	/* The zonal CA may only issue end-entity certificates, yet it issued the instance CA. */
	cs.c[ZONAL].pathlen = 0;
	check_bad_chain(&cs, "path length constraint of");
}

static void test_cabundle_out_of_order(void **state)
{
	struct doc_spec s = aws_doc(&good);
	struct blob t = s.cabundle[1];

	(void)state;
	s.cabundle[1] = s.cabundle[2];
	s.cabundle[2] = t;
	assert_rejected(verify_spec(&s, good.x[ROOT], time(NULL), NULL), "in order");
}

static void test_root_not_first(void **state)
{
	struct doc_spec s = aws_doc(&good);

	(void)state;
	/* [regional, zonal, instance]: the root left out of the cabundle. */
	for (unsigned int i = 0; i < 3; i++)
		s.cabundle[i] = s.cabundle[i + 1];
	s.ncabundle = 3;
	assert_rejected(verify_spec(&s, good.x[ROOT], time(NULL), NULL),
			"the certificate chain does not lead to the pinned root");
}

static void test_signed_by_another_key(void **state)
{
	struct doc_spec s = aws_doc(&good);

	(void)state;
	s.signer = keys[INSTANCE];
	assert_rejected(verify_spec(&s, good.x[ROOT], time(NULL), NULL),
			"the COSE signature does not verify with the leaf certificate's key");
}

/* ---- the envelope ---- */

static void test_wrong_algorithm(void **state)
{
	struct doc_spec s = aws_doc(&good);

	(void)state;
	s.alg = -7;
	assert_rejected(verify_spec(&s, good.x[ROOT], time(NULL), NULL),
			"the COSE algorithm is -7, not ES384 (-35)");
}

static void test_wrong_tag(void **state)
{
	struct doc_spec s = aws_doc(&good);
	struct att_doc d;

	(void)state;
	s.tagged = true;
	make_doc(&s, &doc, NULL);
	doc.buf[0] = 0xd1; /* tag 17, COSE_Mac0 */
	assert_rejected(att_verify(doc.buf, doc.len, good.x[ROOT], time(NULL), NULL, &d), "tagged 17");
}

static void test_truncated(void **state)
{
	struct doc_spec s = aws_doc(&good);
	struct att_doc d;

	(void)state;
	make_doc(&s, &doc, NULL);
	for (size_t cut = 0; cut < doc.len; cut += 37)
		assert_int_not_equal(att_verify(doc.buf, cut, good.x[ROOT], time(NULL), NULL, &d), 0);
	assert_rejected(att_verify(doc.buf, doc.len - 1, good.x[ROOT], time(NULL), NULL, &d),
			"the document is not valid CBOR at byte");
	doc.buf[doc.len++] = 0;
	assert_rejected(att_verify(doc.buf, doc.len, good.x[ROOT], time(NULL), NULL, &d),
			"1 bytes follow the COSE_Sign1 array");
}

/* An indefinite payload without its break: the payload, not the envelope, is at fault. */
static void test_payload_not_cbor(void **state)
{
	struct doc_spec s = aws_doc(&good);
	struct att_doc d;
	size_t off;

	(void)state;
	s.indefinite = true;
	make_doc(&s, &doc, &off);
	/* The payload's first key "module_id" becomes a head with a reserved additional value (0x7c). */
	doc.buf[off + 1] = 0x7c;
	assert_rejected(att_verify(doc.buf, doc.len, good.x[ROOT], time(NULL), NULL, &d),
			"the document's payload is not valid CBOR at byte");
}

/* ---- the limits of attestation_process.md ---- */

static void check_limit(struct doc_spec *s, const char *fragment)
{
	assert_rejected(verify_spec(s, good.x[ROOT], time(NULL), NULL), fragment);
}

static void test_limits_text_fields(void **state)
{
	struct doc_spec s;

	(void)state;
	s = aws_doc(&good);
	s.module_id = "";
	check_limit(&s, "the payload's module_id is empty");
	s = aws_doc(&good);
	s.digest = "SHA256";
	check_limit(&s, "the payload's digest is \"SHA256\", not \"SHA384\"");
	s = aws_doc(&good);
	s.timestamp = 0;
	check_limit(&s, "the payload's timestamp is 0");
}

static void test_limits_pcrs(void **state)
{
	struct doc_spec s;

	(void)state;
	s = aws_doc(&good);
	s.npcrs = 0;
	check_limit(&s, "the payload's pcrs is empty");
	s = aws_doc(&good);
	s.npcrs = 33;
	for (unsigned int i = 16; i < 33; i++) {
		s.pcr_index[i] = i;
		s.pcr_len[i] = 48;
	}
	check_limit(&s, "the payload's pcrs has index 32");
	s = aws_doc(&good);
	s.pcr_index[3] = 2;
	check_limit(&s, "the payload's pcrs has PCR2 twice");
	s = aws_doc(&good);
	s.pcr_len[5] = 47;
	check_limit(&s, "PCR5 in the payload is 47 bytes long");
	/* 32 and 64 are valid PCR sizes, and all 32 indexes. */
	s = aws_doc(&good);
	s.npcrs = 32;
	for (unsigned int i = 0; i < 32; i++) {
		s.pcr_index[i] = 31 - i;
		s.pcr_len[i] = i % 2 ? 32 : 64;
	}
	assert_int_equal(verify_spec(&s, good.x[ROOT], time(NULL), NULL), 0);
}

static void test_limits_certificates(void **state)
{
	static uint8_t big[ATT_FIELD_MAX + 1];
	struct doc_spec s;

	(void)state;
	s = aws_doc(&good);
	s.certificate.len = 0;
	check_limit(&s, "the payload's certificate is 0 bytes long; it must be 1 to 1024");
	s = aws_doc(&good);
	s.certificate = (struct blob){big, sizeof(big), true};
	check_limit(&s, "the payload's certificate is 1025 bytes long");
	s = aws_doc(&good);
	s.ncabundle = 0;
	check_limit(&s, "the payload's cabundle is empty");
	s = aws_doc(&good);
	s.cabundle[2].len = 0;
	check_limit(&s, "the payload's cabundle[2] is 0 bytes long");
	s = aws_doc(&good);
	s.cabundle[1] = (struct blob){big, sizeof(big), true};
	check_limit(&s, "the payload's cabundle[1] is 1025 bytes long");
	/* 1024 bytes that are not a certificate: within the limits, refused by the chain. */
	s = aws_doc(&good);
	s.certificate = (struct blob){big, ATT_FIELD_MAX, true};
	check_limit(&s, "the leaf certificate is not a valid DER certificate");
}

static void test_limits_optional_fields(void **state)
{
	static uint8_t big[ATT_FIELD_MAX + 1];
	struct doc_spec s;

	(void)state;
	s = aws_doc(&good);
	s.public_key = (struct blob){big, 0, true};
	check_limit(&s, "the payload's public_key is 0 bytes long; it must be 1 to 1024");
	s.public_key.len = sizeof(big);
	check_limit(&s, "the payload's public_key is 1025 bytes long");
	s = aws_doc(&good);
	s.user_data = (struct blob){big, sizeof(big), true};
	check_limit(&s, "the payload's user_data is 1025 bytes long; it must be 0 to 1024");
	s = aws_doc(&good);
	s.nonce = (struct blob){big, sizeof(big), true};
	check_limit(&s, "the payload's nonce is 1025 bytes long");
	/* At the limits, and absent altogether, they are fine. */
	s = aws_doc(&good);
	s.public_key = s.user_data = s.nonce = (struct blob){big, ATT_FIELD_MAX, true};
	assert_int_equal(verify_spec(&s, good.x[ROOT], time(NULL), NULL), 0);
	s.omit = 64 | 128 | 256;
	assert_int_equal(verify_spec(&s, good.x[ROOT], time(NULL), NULL), 0);
}

static void test_missing_fields(void **state)
{
	static const char *const names[] = {"module_id", "digest",	"timestamp",
					    "pcrs",	 "certificate", "cabundle"};
	char want[64];

	(void)state;
	for (unsigned int i = 0; i < 6; i++) {
		struct doc_spec s = aws_doc(&good);

		s.omit = 1u << i;
		snprintf(want, sizeof(want), "the document's payload has no %s", names[i]);
		check_limit(&s, want);
	}
}

/* ---- expected values ---- */

static void test_pcr_mismatch(void **state)
{
	struct doc_spec s = aws_doc(&good);
	struct att_expect e = {0};
	uint8_t want[48];
	char msg[256], hex[97];

	(void)state;
	memset(want, 0x9f, sizeof(want));
	e.npcrs = 1;
	e.pcrs[0].index = 4;
	e.pcrs[0].value = want;
	e.pcrs[0].len = sizeof(want);
	assert_rejected(verify_spec(&s, good.x[ROOT], time(NULL), &e), "PCR4 is 404142");
	hex_encode(want, sizeof(want), hex);
	snprintf(msg, sizeof(msg), "but %s was expected", hex);
	assert_rejected(-EBADMSG, msg);
	e.pcrs[0].index = 20;
	assert_rejected(verify_spec(&s, good.x[ROOT], time(NULL), &e), "PCR20 is not in the document");
}

static void test_nonce_mismatch(void **state)
{
	struct doc_spec s = aws_doc(&good);
	static const uint8_t other[] = {0xde, 0xad, 0xbe, 0xee};
	struct att_expect e = {0};

	(void)state;
	e.nonce = other;
	e.nonce_len = sizeof(other);
	assert_rejected(verify_spec(&s, good.x[ROOT], time(NULL), &e),
			"the document's nonce is deadbeef but deadbeee was expected");
	s.nonce.present = false;
	assert_rejected(verify_spec(&s, good.x[ROOT], time(NULL), &e), "the document has no nonce");
}

static void test_user_data_and_public_key_mismatch(void **state)
{
	struct doc_spec s = aws_doc(&good);
	struct att_expect e = {0};

	(void)state;
	e.user_data = (const uint8_t *)"hello";
	e.user_data_len = 5;
	assert_rejected(verify_spec(&s, good.x[ROOT], time(NULL), &e), "the document's user_data is");
	e.user_data = NULL;
	e.public_key = (const uint8_t *)"k";
	e.public_key_len = 1;
	assert_rejected(verify_spec(&s, good.x[ROOT], time(NULL), &e), "the document has no public_key");
}

/* Garbage never crashes and is always refused (random one-bit flips of a good document). */
static void test_mutations(void **state)
{
	struct doc_spec s = aws_doc(&good);
	static struct out base;
	struct att_doc d;
	uint32_t rnd = 12345;

	(void)state;
	s.indefinite = true;
	make_doc(&s, &base, NULL);
	for (int i = 0; i < MUTATIONS; i++) {
		size_t pos;

		doc = base;
		rnd = rnd * 1103515245 + 12345;
		pos = (rnd >> 8) % base.len;
		doc.buf[pos] ^= (uint8_t)(1u << ((rnd >> 4) & 7));
		/* Any byte the signature or a certificate covers; the unprotected header is empty, so none is
		 * free. */
		assert_int_not_equal(att_verify(doc.buf, doc.len, good.x[ROOT], time(NULL), NULL, &d), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_definite_untagged),
		cmocka_unit_test(test_indefinite_untagged),
		cmocka_unit_test(test_definite_tagged),
		cmocka_unit_test(test_indefinite_tagged),
		cmocka_unit_test(test_expected_values_match),
		cmocka_unit_test(test_at_document_time),
		cmocka_unit_test(test_flipped_payload_byte),
		cmocka_unit_test(test_flipped_signature_byte),
		cmocka_unit_test(test_flipped_leaf_cert_byte),
		cmocka_unit_test(test_flipped_intermediate_cert_byte),
		cmocka_unit_test(test_flipped_leaf_subject_byte),
		cmocka_unit_test(test_expired_leaf),
		cmocka_unit_test(test_expired_intermediate),
		cmocka_unit_test(test_wrong_root),
		cmocka_unit_test(test_chain_from_another_root),
		cmocka_unit_test(test_ca_without_keycertsign),
		cmocka_unit_test(test_ca_basic_constraints_not_critical),
		cmocka_unit_test(test_intermediate_not_a_ca),
		cmocka_unit_test(test_leaf_is_a_ca),
		cmocka_unit_test(test_leaf_without_digital_signature),
		cmocka_unit_test(test_pathlen_violated),
		cmocka_unit_test(test_cabundle_out_of_order),
		cmocka_unit_test(test_root_not_first),
		cmocka_unit_test(test_signed_by_another_key),
		cmocka_unit_test(test_wrong_algorithm),
		cmocka_unit_test(test_wrong_tag),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_payload_not_cbor),
		cmocka_unit_test(test_limits_text_fields),
		cmocka_unit_test(test_limits_pcrs),
		cmocka_unit_test(test_limits_certificates),
		cmocka_unit_test(test_limits_optional_fields),
		cmocka_unit_test(test_missing_fields),
		cmocka_unit_test(test_pcr_mismatch),
		cmocka_unit_test(test_nonce_mismatch),
		cmocka_unit_test(test_user_data_and_public_key_mismatch),
		cmocka_unit_test(test_mutations),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
