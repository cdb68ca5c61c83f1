// SPDX-License-Identifier: MIT
/*
 * crypto/cose.c on its own: what the writer puts out byte for byte for each curve (as nitro-cli signs EIFs:
 * untagged, protected header {1: alg}, empty unprotected map, raw r||s), the Sig_structure it signs checked
 * with OpenSSL directly, and what the parser reports: tags, the algorithm's kinds, critical headers, and a
 * fault with the part and the byte for each way an envelope can be wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <string.h>

#include "common/util.h"
#include "crypto/cose.h"

#define FLAGS CBOR_DEC_KNOWN_SIMPLE
#define DEPTH 16
#define SIGN1(lit) (const uint8_t *)(lit), sizeof(lit) - 1

static const uint8_t payload[] = "the payload";

static const struct {
	const char *group;
	enum ec_curve curve;
	uint8_t protected_hdr[4];
	size_t protected_len, field;
	const EVP_MD *(*md)(void);
} curves[] = {
	{ "P-256", EC_CURVE_P256, { 0xa1, 0x01, 0x26 }, 3, 32, EVP_sha256 },
	{ "P-384", EC_CURVE_P384, { 0xa1, 0x01, 0x38, 0x22 }, 4, 48, EVP_sha384 },
	{ "P-521", EC_CURVE_P521, { 0xa1, 0x01, 0x38, 0x23 }, 4, 66, EVP_sha512 },
};

/* ECDSA over Sig_structure, checked by OpenSSL from bytes assembled here rather than by cose.c. */
static void check_with_openssl(EVP_PKEY *key, unsigned int c, const uint8_t *sig)
{
	uint8_t tbs[256], digest[EVP_MAX_MD_SIZE], *der = NULL;
	unsigned int dlen;
	size_t n = 0;
	ECDSA_SIG *es = ECDSA_SIG_new();
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
	int der_len;

	tbs[n++] = 0x84;
	tbs[n++] = 0x6a;
	memcpy(tbs + n, "Signature1", 10);
	n += 10;
	tbs[n++] = (uint8_t)(0x40 | curves[c].protected_len);
	memcpy(tbs + n, curves[c].protected_hdr, curves[c].protected_len);
	n += curves[c].protected_len;
	tbs[n++] = 0x40;
	tbs[n++] = (uint8_t)(0x40 | (sizeof(payload) - 1));
	memcpy(tbs + n, payload, sizeof(payload) - 1);
	n += sizeof(payload) - 1;
	assert_true(EVP_Digest(tbs, n, digest, &dlen, curves[c].md(), NULL));
	ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)curves[c].field, NULL),
		       BN_bin2bn(sig + curves[c].field, (int)curves[c].field, NULL));
	der_len = i2d_ECDSA_SIG(es, &der);
	assert_true(der_len > 0);
	assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
	assert_int_equal(EVP_PKEY_verify(ctx, der, (size_t)der_len, digest, dlen), 1);
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	EVP_PKEY_CTX_free(ctx);
}

static void test_write_each_curve(void **state)
{
	(void)state;
	for (unsigned int c = 0; c < ARRAY_SIZE(curves); c++) {
		EVP_PKEY *key = EVP_EC_gen(curves[c].group);
		size_t plen = curves[c].protected_len, off = 0;
		struct cose_error e;
		struct cose_sign1 s;
		struct cbor_enc enc;

		assert_non_null(key);
		cbor_enc_init_heap(&enc);
		assert_int_equal(cose_sign1_write(&enc, key, curves[c].curve, payload, sizeof(payload) - 1), 0);
		/* 84 | 4n <protected> | a0 | 4b "the payload" | 58 2f r||s */
		assert_int_equal(enc.buf[off++], 0x84);
		assert_int_equal(enc.buf[off++], 0x40 | plen);
		assert_memory_equal(enc.buf + off, curves[c].protected_hdr, plen);
		off += plen;
		assert_int_equal(enc.buf[off++], 0xa0);
		assert_int_equal(enc.buf[off++], 0x40 | (sizeof(payload) - 1));
		assert_memory_equal(enc.buf + off, payload, sizeof(payload) - 1);
		off += sizeof(payload) - 1;
		assert_int_equal(enc.buf[off++], 0x58);
		assert_int_equal(enc.buf[off++], 2 * curves[c].field);
		assert_int_equal(off + 2 * curves[c].field, enc.len);
		check_with_openssl(key, c, enc.buf + off);

		assert_int_equal(cose_sign1_parse(enc.buf, enc.len, FLAGS, DEPTH, &s, &e), 0);
		assert_false(s.tagged);
		assert_int_equal(s.alg_kind, COSE_ALG_INT);
		assert_int_equal(s.alg, ec_curve_cose_alg(curves[c].curve));
		assert_int_equal(cose_sign1_verify(&s, key, curves[c].curve, "the key"), 0);
		enc.buf[enc.len - 1] ^= 1;
		assert_int_equal(cose_sign1_verify(&s, key, curves[c].curve, "the key"), -EBADMSG);
		assert_string_equal(err_msg(), "the COSE signature does not verify with the key");
		s.signature_len--;
		assert_int_equal(cose_sign1_verify(&s, key, curves[c].curve, "the key"), -EBADMSG);
		assert_non_null(strstr(err_msg(), "signatures are"));
		cbor_enc_release(&enc);
		EVP_PKEY_free(key);
	}
}

/* A fixed buffer too small for the document: -ENOSPC, the caller's BufferTooSmall. */
static void test_write_no_room(void **state)
{
	EVP_PKEY *key = EVP_EC_gen("P-384");
	uint8_t small[64];
	struct cbor_enc enc;

	(void)state;
	cbor_enc_init(&enc, small, sizeof(small));
	assert_int_equal(cose_sign1_write(&enc, key, EC_CURVE_P384, payload, sizeof(payload) - 1), -ENOSPC);
	EVP_PKEY_free(key);
}

static void test_parse_headers(void **state)
{
	struct cose_error e;
	struct cose_sign1 s;

	(void)state;
	/* Tagged, an unprotected header with something in it, crit listed, a text algorithm. */
	assert_int_equal(cose_sign1_parse(SIGN1("\xd2\x84\x48\xa2\x01\x62" "ab" "\x02\x81\x04\xa1\x04\x41k\x40\x40"),
					  FLAGS, DEPTH, &s, &e),
			 0);
	assert_true(s.tagged);
	assert_int_equal(s.alg_kind, COSE_ALG_TEXT);
	assert_true(s.crit);
	assert_int_equal(s.crit_at, 5);
	/* Empty protected header: the empty map, no algorithm. */
	assert_int_equal(cose_sign1_parse(SIGN1("\x84\x40\xa0\x40\x40"), FLAGS, DEPTH, &s, &e), 0);
	assert_int_equal(s.alg_kind, COSE_ALG_ABSENT);
	assert_false(s.crit);
	/* An algorithm that is a map is stepped over whole: the label after it still reads as a label. */
	assert_int_equal(cose_sign1_parse(SIGN1("\x84\x47\xa2\x01\xa1\x01\x01\x02\x80\xa0\x40\x40"), FLAGS,
					  DEPTH, &s, &e),
			 0);
	assert_int_equal(s.alg_kind, COSE_ALG_OTHER);
	assert_int_equal(s.alg_head.major, CBOR_MAP);
	assert_int_equal(s.alg_head.at, 2);
	assert_true(s.crit);
	/* A negative algorithm beyond long long is clamped, not wrapped. */
	assert_int_equal(cose_sign1_parse(SIGN1("\x84\x4b\xa1\x01\x3b\xff\xff\xff\xff\xff\xff\xff\xff\xa0\x40\x40"),
					  FLAGS, DEPTH, &s, &e),
			 0);
	assert_true(s.alg == LLONG_MIN);
}

/* Each fault, with the part and the byte where the parser stopped. */
static void test_parse_faults(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		enum cose_fault fault;
		size_t at;
	} cases[] = {
		{ "", 0, COSE_FAULT_CBOR, 0 },
		{ "\xd1\x84", 2, COSE_FAULT_TAG, 0 },
		{ "\xa0", 1, COSE_FAULT_NOT_ARRAY, 0 },
		{ "\x83\x40\xa0\x40", 4, COSE_FAULT_ARRAY_LEN, 0 },
		{ "\x84\xa0\xa0\x40\x40", 5, COSE_FAULT_PART, 1 },
		{ "\x84\x40\x80\x40\x40", 5, COSE_FAULT_PART, 2 },
		{ "\x84\x40\xa0\x40\xf6", 5, COSE_FAULT_PART, 4 },
		{ "\x84\x40\xa0\x40\x40\x00", 6, COSE_FAULT_TRAILING, 5 },
		{ "\x84\x41\x80\xa0\x40\x40", 6, COSE_FAULT_HDR_NOT_MAP, 0 },
		{ "\x84\x43\xa1\x41\x00\xa0\x40\x40", 8, COSE_FAULT_HDR_LABEL, 1 },
		{ "\x84\x45\xa2\x01\x26\x01\x26\xa0\x40\x40", 10, COSE_FAULT_HDR_ALG_TWICE, 3 },
		{ "\x84\x44\xa1\x01\x26\x00\xa0\x40\x40", 9, COSE_FAULT_HDR_TRAILING, 3 },
		{ "\x84\x44\xa2\x01\x26\x02\xa0\x40\x40", 9, COSE_FAULT_HDR_CBOR, 4 },
	};
	struct cose_error e;
	struct cose_sign1 s;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		if (cose_sign1_parse((const uint8_t *)cases[i].in, cases[i].len, FLAGS, DEPTH, &s, &e) != -EINVAL)
			fail_msg("case %zu was accepted", i);
		if (e.fault != cases[i].fault || e.dec.at != cases[i].at)
			fail_msg("case %zu: fault %d at %zu, want %d at %zu", i, e.fault, e.dec.at, cases[i].fault,
				 cases[i].at);
	}
	/* Header faults count from the protected header's first byte, which is header_off into the input. */
	assert_int_equal(cose_sign1_parse(SIGN1("\x84\x44\xa1\x01\x26\x00\xa0\x40\x40"), FLAGS, DEPTH, &s, &e),
			 -EINVAL);
	assert_int_equal(e.header_off, 2);
	assert_int_equal(cose_sign1_parse(SIGN1("\x84\x40\x80\x40\x40"), FLAGS, DEPTH, &s, &e), -EINVAL);
	assert_int_equal(e.part, COSE_PART_UNPROTECTED);
	assert_int_equal(e.found.major, CBOR_ARRAY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_each_curve),
		cmocka_unit_test(test_write_no_room),
		cmocka_unit_test(test_parse_headers),
		cmocka_unit_test(test_parse_faults),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
