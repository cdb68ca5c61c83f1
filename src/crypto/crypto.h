/* SPDX-License-Identifier: MIT */
/*
 * Thin wrappers over OpenSSL's libcrypto: SHA-384 and the PCR arithmetic built on it (hash.c), ECDSA with raw
 * r||s signatures as COSE wants them (ecdsa.c), and X.509 certificate loading and inspection (x509.c).
 *
 * PCR arithmetic, as the Nitro hypervisor and NSM do it:
 *   extend(pcr, data)   pcr := SHA384(pcr || data)
 *   measure(content)    extend(zero, SHA384(content)) = SHA384(0^48 || SHA384(content))
 */
#ifndef NITROVM_CRYPTO_H
#define NITROVM_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SHA384_LEN 48
#define SHA256_LEN 32

struct SHA512state_st;

/* An incremental SHA-384 whose state can be copied mid-stream (PCR1's input is a prefix of PCR0's). */
struct sha384_ctx {
	struct SHA512state_st *md;
};

int sha384_init(struct sha384_ctx *c);
void sha384_update(struct sha384_ctx *c, const void *data, size_t len);
int sha384_copy(struct sha384_ctx *dst, const struct sha384_ctx *src);
void sha384_final(struct sha384_ctx *c, uint8_t out[SHA384_LEN]);
void sha384_free(struct sha384_ctx *c);
void sha384(const void *data, size_t len, uint8_t out[SHA384_LEN]);
/* SHA-256 (the kernel cache's key: SHA-NI makes it the fastest digest here, 1.7 GB/s against 1.0 for SHA-384). */
void sha256(const void *data, size_t len, uint8_t out[SHA256_LEN]);

/*
 * Content digests of container images (OCI descriptors name blobs by SHA-256, rarely SHA-512), incremental so
 * that a blob is verified while it streams.  digest_final() also frees the state; digest_free() is for
 * abandoning one.
 */
enum digest_alg {
	DIGEST_SHA256,
	DIGEST_SHA512,
};
#define DIGEST_MAX_LEN 64

struct digest_ctx {
	enum digest_alg alg;
	void *state;
};

int digest_init(struct digest_ctx *c, enum digest_alg alg);
void digest_update(struct digest_ctx *c, const void *data, size_t len);
/* Writes digest_len(alg) bytes. */
void digest_final(struct digest_ctx *c, uint8_t out[DIGEST_MAX_LEN]);
void digest_free(struct digest_ctx *c);
size_t digest_len(enum digest_alg alg);

void pcr_extend(uint8_t pcr[SHA384_LEN], const void *data, size_t len);
/* PCR value of a zero register extended with the digest of some content. */
void pcr_from_digest(const uint8_t digest[SHA384_LEN], uint8_t pcr[SHA384_LEN]);
void pcr_measure(const void *content, size_t len, uint8_t pcr[SHA384_LEN]);

/*
 * ---- ECDSA (ecdsa.c) ----
 *
 * Only the three NIST curves COSE names for ECDSA, each with the digest RFC 8152 pairs it with: P-256/SHA-256
 * (ES256, -7), P-384/SHA-384 (ES384, -35), P-521/SHA-512 (ES512, -36).  Signatures are raw r||s, each half
 * left-padded to the curve's field size (32, 48, 66 bytes), as COSE carries them; never DER.
 * Keys are OpenSSL EVP_PKEYs, kept opaque here so that callers need no OpenSSL headers.
 */
struct evp_pkey_st;
struct x509_st;

enum ec_curve {
	EC_CURVE_NONE = 0,
	EC_CURVE_P256,
	EC_CURVE_P384,
	EC_CURVE_P521,
};

#define EC_MAX_FIELD_LEN  66
#define EC_MAX_SIG_LEN	  (2 * EC_MAX_FIELD_LEN)
#define EC_MAX_DIGEST_LEN 64

/* 32, 48 or 66; 0 for EC_CURVE_NONE. */
size_t ec_curve_field_len(enum ec_curve c);
/* "P-256", "P-384", "P-521". */
const char *ec_curve_name(enum ec_curve c);
/* The COSE algorithm for the curve: -7, -35 or -36 (0 for none). */
int ec_curve_cose_alg(enum ec_curve c);
/* The curve a COSE algorithm implies, EC_CURVE_NONE for any other algorithm. */
enum ec_curve ec_curve_from_cose_alg(long long alg);
/* Digest data with the curve's hash; *out_len gets 32, 48 or 64. */
int ec_curve_digest(enum ec_curve c, const void *data, size_t len, uint8_t out[EC_MAX_DIGEST_LEN],
		    size_t *out_len);
/* The same over pieces hashed in order as one input, so that a large piece is not copied next to the rest. */
struct digest_part {
	const void *data;
	size_t len;
};
int ec_curve_digest_parts(enum ec_curve c, const struct digest_part *parts, size_t n,
			  uint8_t out[EC_MAX_DIGEST_LEN], size_t *out_len);

/*
 * Load a PEM private key (PKCS#8 "PRIVATE KEY" or SEC1 "EC PRIVATE KEY").  Anything but an EC key on one of
 * the three curves is rejected with one sentence naming what was found ("an RSA key", "an EC key on
 * secp256k1"). Encrypted keys are rejected rather than prompting for a passphrase.
 */
int eckey_load_private_pem(const uint8_t *pem, size_t len, struct evp_pkey_st **key, enum ec_curve *curve);
/*
 * The curve of a (public or private) key, or -EINVAL with a sentence naming the key type/curve found, whose
 * subject is what (e.g. "the signing certificate's key").
 */
int eckey_curve(const struct evp_pkey_st *key, const char *what, enum ec_curve *curve);
/* True when both keys have the same public part. */
bool eckey_same_public(const struct evp_pkey_st *a, const struct evp_pkey_st *b);
void eckey_free(struct evp_pkey_st *key);

/* Sign a digest; sig receives 2 * ec_curve_field_len(curve) bytes. */
int ecdsa_sign_raw(struct evp_pkey_st *key, enum ec_curve curve, const uint8_t *digest, size_t digest_len,
		   uint8_t sig[EC_MAX_SIG_LEN]);
/* 0 when sig (r||s) verifies, -EBADMSG when it does not, another negative errno on failure to try. */
int ecdsa_verify_raw(struct evp_pkey_st *key, enum ec_curve curve, const uint8_t *digest, size_t digest_len,
		     const uint8_t *sig, size_t sig_len);

/*
 * ---- X.509 certificates (x509.c) ----
 *
 * Only what EIF signing needs: parse the first certificate of a PEM text, its DER (PCR8 hashes the DER that
 * OpenSSL re-encodes from the PEM, like nitro-cli), its public key, its validity window, and the fields
 * describe-eif prints, each in the text form OpenSSL (and so nitro-cli, through the Rust openssl crate)
 * gives.
 */
enum cert_validity {
	CERT_VALID = 0,
	CERT_NOT_YET_VALID = 1,
	CERT_EXPIRED = 2,
};

int cert_load_pem(const uint8_t *pem, size_t len, struct x509_st **cert);
void cert_free(struct x509_st *cert);
/* DER encoding, heap (free()). */
int cert_der(const struct x509_st *cert, uint8_t **der, size_t *len);
/* The subject public key (caller frees with eckey_free), whatever its type. */
int cert_public_key(const struct x509_st *cert, struct evp_pkey_st **key);
/* Where now lies relative to notBefore..notAfter: enum cert_validity, or a negative errno. */
int cert_check_validity(const struct x509_st *cert, time_t now);
/* notBefore / notAfter as ASN1_TIME_print writes them: "Jan  1 00:00:00 2024 GMT". */
int cert_not_before_text(const struct x509_st *cert, char *out, size_t len);
int cert_not_after_text(const struct x509_st *cert, char *out, size_t len);
/* The signature algorithm's name as OBJ_obj2txt gives it, e.g. "ecdsa-with-SHA384". */
int cert_sig_alg_name(const struct x509_st *cert, char *out, size_t len);
/* The certificate's signature bytes as "AB:CD:..." (uppercase, colon-separated), heap (free()). */
char *cert_signature_hex(const struct x509_st *cert);
/* Issuer name entries, in the certificate's order. */
unsigned int cert_issuer_count(const struct x509_st *cert);
/*
 * Entry i: key is OBJ_obj2txt's name for the attribute type (the long name, e.g. "commonName", or the dotted
 * OID when OpenSSL has no name for it); value is the UTF-8 text, NUL-terminated (*value_len excludes the NUL;
 * values can contain NUL bytes).  -EINVAL if the value cannot be converted to UTF-8.  value is heap (free()).
 */
int cert_issuer_entry(const struct x509_st *cert, unsigned int i, char *key, size_t key_len, char **value,
		      size_t *value_len);

#endif
