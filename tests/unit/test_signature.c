// SPDX-License-Identifier: MIT
/*
 * Unit tests for EIF signatures: round trips on the three curves, the exact bytes nitro-cli writes (checked
 * against an encoder and a verifier written here independently of src/eif/signature.c), tamper detection, the
 * certificate validity window, key rejection, PCR8, and robustness against malformed sections.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "eif/eif.h"
#include "eif/signature.h"

#define DAY (24L * 3600)

/*
 * A P-256 certificate made once with `openssl req -x509`; its PCR8 was computed with
 * `openssl x509 -outform DER | openssl dgst -sha384 -binary` and SHA384(0^48 || that) in Python.
 */
static const char fixed_cert[] = "-----BEGIN CERTIFICATE-----\n"
				 "MIIBszCCAVmgAwIBAgIUHBW8RTbsPttz08FbzRojNVTVvAAwCgYIKoZIzj0EAwIw\n"
				 "LjEaMBgGA1UEAwwRZml4ZWQgcGNyOCB2ZWN0b3IxEDAOBgNVBAoMB25pdHJvdm0w\n"
				 "IBcNMjYxMTIyMDA1MzIyWhgPMjEyNjEwMjkwMDUzMjJaMC4xGjAYBgNVBAMMEWZp\n"
				 "eGVkIHBjcjggdmVjdG9yMRAwDgYDVQQKDAduaXRyb3ZtMFkwEwYHKoZIzj0CAQYI\n"
				 "KoZIzj0DAQcDQgAE93dHp39x4f1brMa9RfNq0MfVWWedkLGA1S1Ttf5tKOD/bjCx\n"
				 "/nm6wuz7H7E60fJvzRATK5IIGBFvy4tyvr/Oh6NTMFEwHQYDVR0OBBYEFBfK9jmL\n"
				 "oclVqS613XIBPrafx04CMB8GA1UdIwQYMBaAFBfK9jmLoclVqS613XIBPrafx04C\n"
				 "MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgDagQW4uR9DH3hGTH\n"
				 "IgIzt1ntsqVbh4XY06LrOuFBw2sCIQDZZ4fcPeacqGPKZy8iWJDNzStEXGC54vu0\n"
				 "aQfNzbybAg==\n"
				 "-----END CERTIFICATE-----\n";
static const char fixed_cert_pcr8[] =
	"0d1a2043dd995820dcdd73a728d2729399f328f48fe3fa59ac11a6901f083addb0fa65ac04299ca952a47799bb68b969";

/* ---- test fixtures made with OpenSSL directly ---- */

struct pem {
	uint8_t *data;
	size_t len;
};

static struct pem bio_to_pem(BIO *bio)
{
	struct pem p;
	char *d;
	long n = BIO_get_mem_data(bio, &d);

	assert_true(n > 0);
	p.data = malloc((size_t)n);
	assert_non_null(p.data);
	memcpy(p.data, d, (size_t)n);
	p.len = (size_t)n;
	BIO_free(bio);
	return p;
}

static EVP_PKEY *gen_ec(const char *curve)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);

	assert_non_null(k);
	return k;
}

static struct pem key_pem(EVP_PKEY *k)
{
	BIO *bio = BIO_new(BIO_s_mem());

	assert_int_equal(PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL), 1);
	return bio_to_pem(bio);
}

/* A self-signed certificate valid from now + from_days to now + to_days. */
static X509 *make_cert(EVP_PKEY *k, long from_days, long to_days, const EVP_MD *md)
{
	X509 *x = X509_new();
	X509_NAME *name;

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), from_days * DAY);
	X509_gmtime_adj(X509_getm_notAfter(x), to_days * DAY);
	X509_set_pubkey(x, k);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"nitrovm tests", -1, -1,
				   0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"signer \"one\"", -1, -1,
				   0);
	X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC, (const unsigned char *)"DE", -1, -1, 0);
	X509_set_issuer_name(x, name);
	assert_true(X509_sign(x, k, md) > 0);
	return x;
}

static struct pem cert_pem(X509 *x)
{
	BIO *bio = BIO_new(BIO_s_mem());

	assert_int_equal(PEM_write_bio_X509(bio, x), 1);
	return bio_to_pem(bio);
}

struct signer {
	EVP_PKEY *key;
	X509 *cert;
	struct pem key_pem, cert_pem;
};

static void signer_make(struct signer *s, const char *curve, long from_days, long to_days)
{
	s->key = gen_ec(curve);
	s->cert = make_cert(s->key, from_days, to_days, EVP_sha384());
	s->key_pem = key_pem(s->key);
	s->cert_pem = cert_pem(s->cert);
}

static void signer_free(struct signer *s)
{
	EVP_PKEY_free(s->key);
	X509_free(s->cert);
	free(s->key_pem.data);
	free(s->cert_pem.data);
}

static void test_pcr0(uint8_t pcr0[SHA384_LEN], uint8_t seed)
{
	for (int i = 0; i < SHA384_LEN; i++)
		pcr0[i] =
			(uint8_t)(seed +
				  11 * i); /* values both below and above 23, so both uint encodings occur */
}

/* ---- an independent reader of the section's outer layer ---- */

/* Reads a CBOR head at *p (definite lengths only); returns major type, sets *val. */
static int head(const uint8_t **p, const uint8_t *end, uint64_t *val)
{
	uint8_t ib, ai;
	int n;

	assert_true(*p < end);
	ib = *(*p)++;
	ai = ib & 31;
	if (ai < 24) {
		*val = ai;
		return ib >> 5;
	}
	n = ai == 24 ? 1 : ai == 25 ? 2 : ai == 26 ? 4 : 8;
	assert_true(ai <= 27 && end - *p >= n);
	*val = 0;
	while (n--)
		*val = *val << 8 | *(*p)++;
	return ib >> 5;
}

/* The array of byte values starting at *p, into a heap buffer. */
static uint8_t *read_uint_array(const uint8_t **p, const uint8_t *end, size_t *len)
{
	uint64_t n, v;
	uint8_t *out;

	assert_int_equal(head(p, end, &n), 4);
	out = malloc(n + 1);
	assert_non_null(out);
	for (uint64_t i = 0; i < n; i++) {
		assert_int_equal(head(p, end, &v), 0);
		assert_true(v <= 255);
		out[i] = (uint8_t)v;
	}
	*len = n;
	return out;
}

static void expect_text(const uint8_t **p, const uint8_t *end, const char *s)
{
	uint64_t n;

	assert_int_equal(head(p, end, &n), 3);
	assert_int_equal(n, strlen(s));
	assert_memory_equal(*p, s, n);
	*p += n;
}

/* Split a section into its certificate text and COSE bytes. */
static void split_section(const uint8_t *sec, size_t len, struct pem *cert, struct pem *cose)
{
	const uint8_t *p = sec, *end = sec + len;
	uint64_t n;

	assert_int_equal(head(&p, end, &n), 4);
	assert_int_equal(n, 1);
	assert_int_equal(head(&p, end, &n), 5);
	assert_int_equal(n, 2);
	expect_text(&p, end, "signing_certificate");
	cert->data = read_uint_array(&p, end, &cert->len);
	expect_text(&p, end, "signature");
	cose->data = read_uint_array(&p, end, &cose->len);
	assert_ptr_equal(p, end);
}

/* Encode a section from parts, the way nitro-cli's serde_cbor does. */
static void put_head(uint8_t **p, int major, uint64_t v)
{
	uint8_t mt = (uint8_t)(major << 5);

	if (v < 24) {
		*(*p)++ = mt | (uint8_t)v;
	} else if (v <= 0xff) {
		*(*p)++ = mt | 24;
		*(*p)++ = (uint8_t)v;
	} else if (v <= 0xffff) {
		*(*p)++ = mt | 25;
		*(*p)++ = (uint8_t)(v >> 8);
		*(*p)++ = (uint8_t)v;
	} else {
		*(*p)++ = mt | 26;
		for (int s = 24; s >= 0; s -= 8)
			*(*p)++ = (uint8_t)(v >> s);
	}
}

static void put_text(uint8_t **p, const char *s)
{
	put_head(p, 3, strlen(s));
	memcpy(*p, s, strlen(s));
	*p += strlen(s);
}

static void put_uints(uint8_t **p, const uint8_t *d, size_t n)
{
	put_head(p, 4, n);
	for (size_t i = 0; i < n; i++)
		put_head(p, 0, d[i]);
}

static struct pem join_section(const struct pem *cert, const struct pem *cose)
{
	struct pem s;
	uint8_t *p;

	s.data = malloc(64 + 2 * (cert->len + cose->len));
	assert_non_null(s.data);
	p = s.data;
	put_head(&p, 4, 1);
	put_head(&p, 5, 2);
	put_text(&p, "signing_certificate");
	put_uints(&p, cert->data, cert->len);
	put_text(&p, "signature");
	put_uints(&p, cose->data, cose->len);
	s.len = (size_t)(p - s.data);
	return s;
}

static struct pem sign_section(const struct signer *s, const uint8_t pcr0[SHA384_LEN])
{
	struct pem sec;

	assert_int_equal(eif_signature_create_pem(pcr0, s->cert_pem.data, s->cert_pem.len, s->key_pem.data,
						  s->key_pem.len, &sec.data, &sec.len),
			 0);
	return sec;
}

static void expect_pcr8_of(X509 *x, const uint8_t pcr8[SHA384_LEN])
{
	uint8_t *der = NULL, d[SHA384_LEN], buf[2 * SHA384_LEN], want[SHA384_LEN];
	int n = i2d_X509(x, &der);
	unsigned int dl;

	assert_true(n > 0);
	assert_int_equal(EVP_Digest(der, (size_t)n, d, &dl, EVP_sha384(), NULL), 1);
	memset(buf, 0, SHA384_LEN);
	memcpy(buf + SHA384_LEN, d, SHA384_LEN);
	assert_int_equal(EVP_Digest(buf, sizeof(buf), want, &dl, EVP_sha384(), NULL), 1);
	assert_memory_equal(pcr8, want, SHA384_LEN);
	OPENSSL_free(der);
}

/* ---- tests ---- */

static void round_trip(const char *curve, uint8_t alg_byte0, int alg_byte1, size_t field)
{
	struct eif_signature_check chk;
	struct signer s;
	struct pem sec, cert, cose;
	uint8_t pcr0[SHA384_LEN];

	signer_make(&s, curve, -1, 30);
	test_pcr0(pcr0, 3);
	sec = sign_section(&s, pcr0);
	assert_true(sec.len <= EIF_SIGNATURE_MAX_SIZE);

	assert_int_equal(eif_signature_check(sec.data, sec.len, pcr0, &chk), 0);
	assert_true(chk.signature_valid);
	assert_true(chk.cert_valid_now);
	assert_true(chk.payload_matches);
	assert_string_equal(chk.problem, "");
	expect_pcr8_of(s.cert, chk.pcr8);
	assert_string_equal(chk.cert.algorithm, "ecdsa-with-SHA384");
	eif_signature_check_free(&chk);

	/* The stored certificate is the PEM text verbatim; the COSE header names the curve's algorithm. */
	split_section(sec.data, sec.len, &cert, &cose);
	assert_int_equal(cert.len, s.cert_pem.len);
	assert_memory_equal(cert.data, s.cert_pem.data, cert.len);
	assert_int_equal(cose.data[0], 0x84);
	assert_int_equal(cose.data[2], 0xa1);
	assert_int_equal(cose.data[3], 0x01);
	assert_int_equal(cose.data[4], alg_byte0);
	if (alg_byte1 >= 0)
		assert_int_equal(cose.data[5], alg_byte1);
	/* The signature is the last item: a bstr of 2 * field bytes, so it ends the COSE array. */
	assert_int_equal(cose.data[cose.len - 2 * field - 2], 0x58);
	assert_int_equal(cose.data[cose.len - 2 * field - 1], 2 * field);
	free(cert.data);
	free(cose.data);
	free(sec.data);
	signer_free(&s);
}

static void test_round_trip_p256(void **state)
{
	(void)state;
	round_trip("P-256", 0x26, -1, 32);
}

static void test_round_trip_p384(void **state)
{
	(void)state;
	round_trip("P-384", 0x38, 0x22, 48);
}

static void test_round_trip_p521(void **state)
{
	(void)state;
	round_trip("P-521", 0x38, 0x23, 66);
}

/* The section's bytes, and the COSE signature verified by a verifier written here. */
static void test_exact_encoding(void **state)
{
	static const uint8_t start[] = {0x81, 0xa2, 0x73, 's', 'i', 'g', 'n', 'i', 'n', 'g', '_',
					'c',  'e',  'r',  't', 'i', 'f', 'i', 'c', 'a', 't', 'e'};
	static const uint8_t cose_start[] = {0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0};
	uint8_t pcr0[SHA384_LEN], payload[256], sigs[512], digest[SHA384_LEN], *p, *der = NULL;
	struct signer s;
	struct pem sec, cert, cose, rebuilt;
	size_t payload_len, sigs_len, off;
	ECDSA_SIG *es;
	EVP_PKEY_CTX *ctx;
	unsigned int dl;
	int der_len;

	(void)state;
	signer_make(&s, "P-384", -1, 30);
	test_pcr0(pcr0, 200);
	sec = sign_section(&s, pcr0);

	assert_memory_equal(sec.data, start, sizeof(start));
	/* A PEM certificate is a few hundred bytes: a 2-byte array length (0x99), 1 byte (0x98) if short. */
	if (s.cert_pem.len > 255) {
		assert_int_equal(sec.data[sizeof(start)], 0x99);
		assert_int_equal(get_be16(sec.data + sizeof(start) + 1), s.cert_pem.len);
	} else {
		assert_int_equal(sec.data[sizeof(start)], 0x98);
	}
	/* '-' is 45, so every PEM byte >= 24 takes the two-byte form 0x18 xx. */
	assert_int_equal(sec.data[sizeof(start) + 3], 0x18);
	assert_int_equal(sec.data[sizeof(start) + 4], '-');

	split_section(sec.data, sec.len, &cert, &cose);
	rebuilt = join_section(&cert, &cose);
	assert_int_equal(rebuilt.len, sec.len);
	assert_memory_equal(rebuilt.data, sec.data, sec.len);

	/* payload = {"register_index": 0, "register_value": [48 uints]} */
	p = payload;
	put_head(&p, 5, 2);
	put_text(&p, "register_index");
	put_head(&p, 0, 0);
	put_text(&p, "register_value");
	put_uints(&p, pcr0, SHA384_LEN);
	payload_len = (size_t)(p - payload);
	assert_memory_equal(payload, "\xa2\x6eregister_index\x00\x6eregister_value\x98\x30", 34);

	assert_memory_equal(cose.data, cose_start, sizeof(cose_start));
	off = sizeof(cose_start);
	assert_int_equal(cose.data[off], 0x58);
	assert_int_equal(cose.data[off + 1], payload_len);
	assert_memory_equal(cose.data + off + 2, payload, payload_len);
	off += 2 + payload_len;
	assert_int_equal(cose.data[off], 0x58);
	assert_int_equal(cose.data[off + 1], 96);
	assert_int_equal(off + 2 + 96, cose.len);

	/* Sig_structure = ["Signature1", h'A1013822', h'', payload], SHA-384, ECDSA over r||s. */
	p = sigs;
	put_head(&p, 4, 4);
	put_text(&p, "Signature1");
	memcpy(p, "\x44\xa1\x01\x38\x22\x40", 6);
	p += 6;
	put_head(&p, 2, payload_len);
	memcpy(p, payload, payload_len);
	p += payload_len;
	sigs_len = (size_t)(p - sigs);
	assert_int_equal(EVP_Digest(sigs, sigs_len, digest, &dl, EVP_sha384(), NULL), 1);

	es = ECDSA_SIG_new();
	ECDSA_SIG_set0(es, BN_bin2bn(cose.data + off + 2, 48, NULL),
		       BN_bin2bn(cose.data + off + 2 + 48, 48, NULL));
	der_len = i2d_ECDSA_SIG(es, &der);
	ctx = EVP_PKEY_CTX_new(s.key, NULL);
	assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
	assert_int_equal(EVP_PKEY_verify(ctx, der, (size_t)der_len, digest, dl), 1);
	EVP_PKEY_CTX_free(ctx);
	OPENSSL_free(der);
	ECDSA_SIG_free(es);

	free(rebuilt.data);
	free(cert.data);
	free(cose.data);
	free(sec.data);
	signer_free(&s);
}

static void check_ok(const struct pem *sec, const uint8_t pcr0[SHA384_LEN], struct eif_signature_check *chk)
{
	assert_int_equal(eif_signature_check(sec->data, sec->len, pcr0, chk), 0);
}

static void test_tamper_payload(void **state)
{
	struct eif_signature_check chk;
	uint8_t pcr0[SHA384_LEN], other[SHA384_LEN];
	struct signer s;
	struct pem sec, cert, cose, bad;

	(void)state;
	signer_make(&s, "P-384", -1, 30);
	test_pcr0(pcr0, 1);
	sec = sign_section(&s, pcr0);

	/* Checked against another image's PCR0: the signature holds, the payload does not match. */
	test_pcr0(other, 2);
	check_ok(&sec, other, &chk);
	assert_true(chk.signature_valid);
	assert_true(chk.cert_valid_now);
	assert_false(chk.payload_matches);
	assert_non_null(strstr(chk.problem, "the signature was made for an image whose PCR0 is"));
	eif_signature_check_free(&chk);

	/* One value inside the signed payload changed (0x01 -> 0x02 keeps the encoding well-formed). */
	split_section(sec.data, sec.len, &cert, &cose);
	assert_int_equal(cose.data[7 + 2 + 34], pcr0[0]);
	cose.data[7 + 2 + 34] ^= 0x03;
	bad = join_section(&cert, &cose);
	check_ok(&bad, pcr0, &chk);
	assert_false(chk.signature_valid);
	assert_false(chk.payload_matches);
	assert_true(chk.cert_valid_now);
	assert_string_equal(chk.problem,
			    "the COSE signature does not verify with the signing certificate's public key");
	eif_signature_check_free(&chk);

	free(bad.data);
	free(cert.data);
	free(cose.data);
	free(sec.data);
	signer_free(&s);
}

static void test_tamper_signature(void **state)
{
	struct eif_signature_check chk;
	uint8_t pcr0[SHA384_LEN];
	struct signer s;
	struct pem sec, cert, cose, bad;

	(void)state;
	signer_make(&s, "P-256", -1, 30);
	test_pcr0(pcr0, 9);
	sec = sign_section(&s, pcr0);
	split_section(sec.data, sec.len, &cert, &cose);
	cose.data[cose.len - 1] ^= 0x01; /* last byte of s */
	bad = join_section(&cert, &cose);
	check_ok(&bad, pcr0, &chk);
	assert_false(chk.signature_valid);
	assert_true(chk.cert_valid_now);
	assert_true(chk.payload_matches);
	assert_string_equal(chk.problem,
			    "the COSE signature does not verify with the signing certificate's public key");
	eif_signature_check_free(&chk);
	free(bad.data);

	/* r||s one byte short: the length is wrong before any arithmetic. */
	cose.data[cose.len - 2 * 32 - 1] = 63;
	bad = join_section(&cert, &(struct pem){cose.data, cose.len - 1});
	check_ok(&bad, pcr0, &chk);
	assert_false(chk.signature_valid);
	assert_string_equal(chk.problem,
			    "the COSE signature is 63 bytes long; ES256 signatures are 64 bytes (r||s)");
	eif_signature_check_free(&chk);

	free(bad.data);
	free(cert.data);
	free(cose.data);
	free(sec.data);
	signer_free(&s);
}

static void test_tamper_certificate(void **state)
{
	struct eif_signature_check chk;
	uint8_t pcr0[SHA384_LEN];
	struct signer s, t, u;
	struct pem sec, cert, cose, bad;
	char *mid;

	(void)state;
	signer_make(&s, "P-384", -1, 30);
	signer_make(&t, "P-384", -1, 30);
	signer_make(&u, "P-256", -1, 30);
	test_pcr0(pcr0, 5);
	sec = sign_section(&s, pcr0);
	split_section(sec.data, sec.len, &cert, &cose);

	/* Another certificate on the same curve: the signature is not its key's. */
	bad = join_section(&t.cert_pem, &cose);
	check_ok(&bad, pcr0, &chk);
	assert_false(chk.signature_valid);
	assert_true(chk.payload_matches);
	assert_string_equal(chk.problem,
			    "the COSE signature does not verify with the signing certificate's public key");
	expect_pcr8_of(t.cert, chk.pcr8);
	eif_signature_check_free(&chk);
	free(bad.data);

	/* A certificate on another curve: the algorithm does not fit the key. */
	bad = join_section(&u.cert_pem, &cose);
	check_ok(&bad, pcr0, &chk);
	assert_false(chk.signature_valid);
	assert_string_equal(
		chk.problem,
		"the COSE signature is ES384 but the signing certificate's key is on P-256 (ES256)");
	eif_signature_check_free(&chk);
	free(bad.data);

	/* A damaged PEM text: the section is unusable, and says so. */
	mid = (char *)cert.data + cert.len / 2;
	*mid = '!';
	bad = join_section(&cert, &cose);
	assert_int_equal(eif_signature_check(bad.data, bad.len, pcr0, &chk), -EINVAL);
	assert_non_null(strstr(err_msg(), "signing certificate"));
	assert_null(chk.cert.signature_hex);
	free(bad.data);

	free(cert.data);
	free(cose.data);
	free(sec.data);
	signer_free(&s);
	signer_free(&t);
	signer_free(&u);
}

static void test_validity_window(void **state)
{
	struct eif_signature_check chk;
	uint8_t pcr0[SHA384_LEN];
	struct signer s;
	struct pem sec;
	char want[128];

	(void)state;
	test_pcr0(pcr0, 4);

	signer_make(&s, "P-384", -30, -1);
	sec = sign_section(&s, pcr0);
	check_ok(&sec, pcr0, &chk);
	assert_true(chk.signature_valid);
	assert_false(chk.cert_valid_now);
	assert_true(chk.payload_matches);
	snprintf(want, sizeof(want), "the signing certificate expired on %s", chk.cert.not_after);
	assert_string_equal(chk.problem, want);
	if (strlen(chk.cert.not_after) != 24 || strcmp(chk.cert.not_after + 21, "GMT"))
		fail_msg("NotAfter \"%s\" is not in ASN1_TIME_print's form", chk.cert.not_after);
	eif_signature_check_free(&chk);
	free(sec.data);
	signer_free(&s);

	signer_make(&s, "P-521", 2, 30);
	sec = sign_section(&s, pcr0);
	check_ok(&sec, pcr0, &chk);
	assert_true(chk.signature_valid);
	assert_false(chk.cert_valid_now);
	snprintf(want, sizeof(want), "the signing certificate is not valid before %s", chk.cert.not_before);
	assert_string_equal(chk.problem, want);
	eif_signature_check_free(&chk);
	free(sec.data);
	signer_free(&s);
}

static void test_rejected_keys(void **state)
{
	uint8_t pcr0[SHA384_LEN], *sec = (uint8_t *)"x";
	struct signer s;
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *k1 = gen_ec("secp256k1"), *stranger;
	struct pem rsa_pem = key_pem(rsa), k1_pem = key_pem(k1), other;
	size_t len = 1;

	(void)state;
	test_pcr0(pcr0, 6);
	signer_make(&s, "P-384", -1, 30);

	assert_int_equal(eif_signature_create_pem(pcr0, s.cert_pem.data, s.cert_pem.len, rsa_pem.data,
						  rsa_pem.len, &sec, &len),
			 -EINVAL);
	assert_null(sec);
	assert_int_equal(len, 0);
	assert_string_equal(err_msg(),
			    "the private key is an RSA key (2048 bits); EIF signatures need an EC key on "
			    "P-256, P-384 or P-521");

	assert_int_equal(eif_signature_create_pem(pcr0, s.cert_pem.data, s.cert_pem.len, k1_pem.data,
						  k1_pem.len, &sec, &len),
			 -EINVAL);
	assert_string_equal(err_msg(),
			    "the private key is an EC key on curve secp256k1; EIF signatures need P-256, "
			    "P-384 or P-521");

	/* A key that is not the certificate's. */
	stranger = gen_ec("P-384");
	other = key_pem(stranger);
	assert_int_equal(eif_signature_create_pem(pcr0, s.cert_pem.data, s.cert_pem.len, other.data,
						  other.len, &sec, &len),
			 -EINVAL);
	assert_non_null(strstr(err_msg(), "does not belong to the signing certificate"));

	/* Certificate and key swapped. */
	assert_int_equal(eif_signature_create_pem(pcr0, s.key_pem.data, s.key_pem.len, s.cert_pem.data,
						  s.cert_pem.len, &sec, &len),
			 -EINVAL);
	assert_string_equal(
		err_msg(),
		"signing certificate: the certificate file holds a private key, not a certificate");

	/* Missing files are errno errors the command reports as file errors. */
	assert_int_equal(
		eif_signature_create(pcr0, "/nonexistent/cert.pem", "/nonexistent/key.pem", &sec, &len),
		-ENOENT);

	free(other.data);
	EVP_PKEY_free(stranger);
	free(rsa_pem.data);
	free(k1_pem.data);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(k1);
	signer_free(&s);
}

static void test_section_too_large(void **state)
{
	uint8_t pcr0[SHA384_LEN], *sec = NULL;
	struct signer s;
	size_t len, pad = 20000;
	uint8_t *big;

	(void)state;
	test_pcr0(pcr0, 8);
	signer_make(&s, "P-256", -1, 30);
	/* Text before the PEM block is allowed (and stored), but 20000 'x' take 40000 bytes of CBOR. */
	big = malloc(pad + s.cert_pem.len);
	memset(big, 'x', pad);
	big[pad - 1] = '\n';
	memcpy(big + pad, s.cert_pem.data, s.cert_pem.len);
	assert_int_equal(eif_signature_create_pem(pcr0, big, pad + s.cert_pem.len, s.key_pem.data,
						  s.key_pem.len, &sec, &len),
			 -EFBIG);
	assert_null(sec);
	free(big);
	signer_free(&s);
}

static void test_pcr8_fixed(void **state)
{
	uint8_t pcr8[SHA384_LEN];
	char hex[2 * SHA384_LEN + 1];

	(void)state;
	assert_int_equal(eif_pcr8_from_pem((const uint8_t *)fixed_cert, strlen(fixed_cert), pcr8), 0);
	hex_encode(pcr8, SHA384_LEN, hex);
	assert_string_equal(hex, fixed_cert_pcr8);
	assert_int_equal(eif_pcr8_from_pem((const uint8_t *)"not a certificate", 17, pcr8), -EINVAL);
}

/* describe-eif's certificate fields, for a certificate whose every byte is known. */
static void test_cert_info_fixed(void **state)
{
	struct eif_signature_check chk;
	struct pem cert = {(uint8_t *)fixed_cert, strlen(fixed_cert)}, cose, sec;
	uint8_t pcr0[SHA384_LEN] = {0};
	/* Any COSE_Sign1 will do: the certificate information does not depend on it. */
	uint8_t cose_bytes[] = {0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0x41, 0x00, 0x40};

	(void)state;
	cose = (struct pem){cose_bytes, sizeof(cose_bytes)};
	sec = join_section(&cert, &cose);
	check_ok(&sec, pcr0, &chk);
	assert_false(chk.signature_valid);
	assert_false(chk.payload_matches);
	assert_int_equal(chk.cert.n_issuer, 2);
	assert_string_equal(chk.cert.issuer[0].key, "commonName");
	assert_string_equal(chk.cert.issuer[0].value, "fixed pcr8 vector");
	assert_string_equal(chk.cert.issuer[1].key, "organizationName");
	assert_string_equal(chk.cert.issuer[1].value, "nitrovm");
	assert_string_equal(chk.cert.algorithm, "ecdsa-with-SHA256");
	assert_string_equal(chk.cert.not_before, "Nov 22 00:53:22 2026 GMT");
	assert_string_equal(chk.cert.not_after, "Oct 29 00:53:22 2126 GMT");
	assert_string_equal(
		chk.cert.signature_hex,
		"30:45:02:20:0D:A8:10:5B:8B:91:F4:31:F7:84:64:C7:22:02:33:B7:59:ED:B2:A5:5B:87:85:D8:D3:"
		"A2:EB:3A:E1:41:C3:6B:02:21:00:D9:67:87:DC:3D:E6:9C:A8:63:CA:67:2F:22:58:90:CD:CD:2B:44:"
		"5C:60:B9:E2:FB:B4:69:07:CD:CD:BC:9B:02");
	eif_signature_check_free(&chk);
	free(sec.data);
}

/* Issuer values as nitro-cli prints them: sorted keys, Debug escapes without the quotes. */
static void test_cert_info_generated(void **state)
{
	struct eif_signature_check chk;
	uint8_t pcr0[SHA384_LEN];
	struct signer s;
	struct pem sec;

	(void)state;
	test_pcr0(pcr0, 4);
	signer_make(&s, "P-256", -1, 30);
	sec = sign_section(&s, pcr0);
	check_ok(&sec, pcr0, &chk);
	assert_int_equal(chk.cert.n_issuer, 3);
	assert_string_equal(chk.cert.issuer[0].key, "commonName");
	assert_string_equal(chk.cert.issuer[0].value, "signer \\one\\");
	assert_string_equal(chk.cert.issuer[1].key, "countryName");
	assert_string_equal(chk.cert.issuer[1].value, "DE");
	assert_string_equal(chk.cert.issuer[2].key, "organizationName");
	assert_string_equal(chk.cert.issuer[2].value, "nitrovm tests");
	eif_signature_check_free(&chk);
	free(sec.data);
	signer_free(&s);
}

static void expect_malformed(const uint8_t *buf, size_t len, const char *fragment)
{
	struct eif_signature_check chk;
	uint8_t pcr0[SHA384_LEN] = {0};

	assert_int_equal(eif_signature_check(buf, len, pcr0, &chk), -EINVAL);
	if (fragment && !strstr(err_msg(), fragment))
		fail_msg("message \"%s\" lacks \"%s\"", err_msg(), fragment);
}

#define MALFORMED(lit, fragment) expect_malformed((const uint8_t *)(lit), sizeof(lit) - 1, fragment)

static void test_malformed(void **state)
{
	static uint8_t deep[4096];
	uint8_t pcr0[SHA384_LEN];
	struct signer s;
	struct pem sec;
	size_t cose_at;

	(void)state;
	expect_malformed(NULL, 0, "the data ends where another item was expected");
	MALFORMED("\x80", "the list of signatures is empty");
	MALFORMED("\xa0", "expected an array (the list of signatures), found a map");
	MALFORMED("\x81\xa0", "has no \"signing_certificate\"");
	MALFORMED("\x9f\xff", "indefinite-length");
	MALFORMED("\x9b\xff\xff\xff\xff\xff\xff\xff\xff", "claims 18446744073709551615");
	MALFORMED("\x81\xbb\xff\xff\xff\xff\xff\xff\xff\xff", "claims");
	MALFORMED("\x81\xa1\x73signing_certificate\x9a\xff\xff\xff\xff", "claims");
	MALFORMED("\x81\xa1\x73signing_certificate\x42xy", "is a byte string");
	MALFORMED("\x81\xa1\x73signing_certificate\x81\x19\x01\x00", "more than a byte");
	MALFORMED("\x81\xa1\x73signing_certificate\x81\x20", "not a byte value");
	MALFORMED("\x81\xa1\x7bsigning_certificate", "past the end");
	MALFORMED("\x81\xa1\x5b\xff\xff\xff\xff\xff\xff\xff\xff", "past the end");
	MALFORMED("\x1c", "byte 0x1c does not start a valid CBOR item");
	MALFORMED("\x81\xa2\x61x\x01\x61x", "the data ends");
	MALFORMED("\x81\xa2\x69signature\x80\x69signature\x80", "appears twice");

	/* Unknown fields are skipped, but not if they nest without end. */
	deep[0] = 0x81;
	deep[1] = 0xa1;
	deep[2] = 0x61;
	deep[3] = 'x';
	memset(deep + 4, 0x81, sizeof(deep) - 4);
	expect_malformed(deep, sizeof(deep), "nested more than");

	/* Every prefix of a good section is malformed, and every single-byte change is handled. */
	test_pcr0(pcr0, 7);
	signer_make(&s, "P-256", -1, 30);
	sec = sign_section(&s, pcr0);
	for (size_t n = 0; n < sec.len; n++)
		expect_malformed(sec.data, n, NULL);
	sec.data = realloc(sec.data, sec.len + 1);
	sec.data[sec.len] = 0;
	expect_malformed(sec.data, sec.len + 1, "1 bytes follow the list of signatures");
	/* Past the certificate, any change must fail a check if it still decodes; in it, only not crash. */
	cose_at = (size_t)((uint8_t *)memmem(sec.data, sec.len, "\x69signature", 10) - sec.data);
	for (size_t i = 0; i < sec.len; i++) {
		struct eif_signature_check chk;

		sec.data[i] ^= 0xff;
		if (!eif_signature_check(sec.data, sec.len, pcr0, &chk)) {
			if (i >= cose_at)
				assert_false(chk.signature_valid && chk.cert_valid_now &&
					     chk.payload_matches);
			eif_signature_check_free(&chk);
		}
		sec.data[i] ^= 0xff;
	}
	free(sec.data);
	signer_free(&s);
}

/* The COSE layer: tags, array size, header shapes. */
static void test_malformed_cose(void **state)
{
	static const struct {
		const char *cose;
		size_t len;
		const char *fragment;
	} cases[] = {
		{"\xd8\x19\x84", 3, "tag 25 is not COSE_Sign1's (18)"},
		{"\x83\x40\xa0\x40", 4, "COSE_Sign1 is an array of 4 items, not 3"},
		{"\x84\xa0\xa0\x40\x40", 5, "expected a byte string (the protected header), found a map"},
		{"\x84\x40\x80\x40\x40", 5, "expected a map (the unprotected header)"},
		{"\x84\x40\xa0\xf6\x40", 5, "expected a byte string (the payload), found a simple value"},
		{"\x84\x40\xa0\x40\x40\x00", 6, "1 bytes follow the COSE_Sign1 array"},
		{"\x84\x42\xa1\x01\xa0\x40\x40", 7, "COSE protected header is malformed"},
		{"\x84\x44\xa2\x01\x26\x02\xa0\x40\x40", 9, "the data ends"},
		{"\x84\x45\xa2\x01\x26\x01\x26\xa0\x40\x40", 10, "appears twice"},
		{"\x84\x44\xa1\x01\x26\x00\xa0\x40\x40", 9, "1 bytes follow the header map"},
	};
	struct pem cert = {(uint8_t *)fixed_cert, strlen(fixed_cert)};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct pem cose = {(uint8_t *)cases[i].cose, cases[i].len}, sec = join_section(&cert, &cose);

		expect_malformed(sec.data, sec.len, cases[i].fragment);
		free(sec.data);
	}
}

/* Decodable COSE whose algorithm is not one an EIF uses: a failed check, not a malformed section. */
static void test_cose_algorithms(void **state)
{
	static const struct {
		const char *cose;
		size_t len;
		const char *problem;
	} cases[] = {
		{"\x84\x40\xa0\x40\x40", 5,
		 "the COSE signature's protected header does not name its algorithm"},
		{"\x84\x43\xa1\x01\x27\xa0\x40\x40", 8,
		 "the COSE signature uses algorithm -8; EIF signatures use ES256 (-7), ES384 (-35) or ES512 "
		 "(-36)"},
		{"\x84\x45\xa1\x01\x62"
		 "ab\xa0\x40\x40",
		 10, "the COSE signature names its algorithm as text"},
		{"\xd2\x84\x43\xa1\x01\x26\xa1\x04\x41\x00\x40\x40", 12,
		 "the COSE signature is 0 bytes long; ES256 signatures are 64 bytes (r||s)"},
	};
	struct pem cert = {(uint8_t *)fixed_cert, strlen(fixed_cert)};
	uint8_t pcr0[SHA384_LEN] = {0};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct pem cose = {(uint8_t *)cases[i].cose, cases[i].len}, sec = join_section(&cert, &cose);
		struct eif_signature_check chk;

		if (eif_signature_check(sec.data, sec.len, pcr0, &chk))
			fail_msg("case %zu: %s", i, err_msg());
		assert_false(chk.signature_valid);
		assert_false(chk.payload_matches);
		if (strncmp(chk.problem, cases[i].problem, strlen(cases[i].problem)))
			fail_msg("case %zu: problem \"%s\"", i, chk.problem);
		eif_signature_check_free(&chk);
		free(sec.data);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_p256),	    cmocka_unit_test(test_round_trip_p384),
		cmocka_unit_test(test_round_trip_p521),	    cmocka_unit_test(test_exact_encoding),
		cmocka_unit_test(test_tamper_payload),	    cmocka_unit_test(test_tamper_signature),
		cmocka_unit_test(test_tamper_certificate),  cmocka_unit_test(test_validity_window),
		cmocka_unit_test(test_rejected_keys),	    cmocka_unit_test(test_section_too_large),
		cmocka_unit_test(test_pcr8_fixed),	    cmocka_unit_test(test_cert_info_fixed),
		cmocka_unit_test(test_cert_info_generated), cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_malformed_cose),	    cmocka_unit_test(test_cose_algorithms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
