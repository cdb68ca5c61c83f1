/* SPDX-License-Identifier: MIT */
/*
 * EIF signatures (section type 4), byte-compatible with nitro-cli:
 *   section data = CBOR array(1) of map(2) {"signing_certificate": [uint8...] (PEM text),
 *                                           "signature": [uint8...] (untagged COSE_Sign1)}
 *   COSE_Sign1   = [bstr({1: alg}), {}, bstr(payload), bstr(r||s)], alg ES256/ES384/ES512 by key curve
 *   payload      = {"register_index": 0, "register_value": [48 x uint8 of PCR0]}
 * PCR8 = measure(DER of the signing certificate).
 */
#ifndef NITROVM_EIF_SIGNATURE_H
#define NITROVM_EIF_SIGNATURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"

/*
 * What describe-eif prints as "SigningCertificate", in nitro-cli's text forms.  The issuer entries are sorted
 * by key and a repeated attribute keeps its last value (nitro-cli collects them in a BTreeMap); at most 16
 * distinct attributes are kept.  Values are shown as nitro-cli shows them: Rust's Debug escapes (\n, \\,
 * \u{1b}, ...) with the double quotes removed, "error" when the value is not convertible to UTF-8, cut at 255
 * bytes.
 */
struct eif_cert_name_entry {
	char key[64]; /* OpenSSL long name, e.g. "commonName" */
	char value[256];
};

struct eif_cert_info {
	unsigned int n_issuer;
	struct eif_cert_name_entry issuer[16];
	char algorithm[64];  /* e.g. "ecdsa-with-SHA384" */
	char not_before[64]; /* OpenSSL's text form, "Jan  1 00:00:00 2024 GMT" */
	char not_after[64];
	char *signature_hex; /* "AB:CD:...", heap */
};

struct eif_signature_check {
	bool signature_valid; /* COSE signature verifies with the certificate's key */
	bool cert_valid_now;  /* now is within notBefore..notAfter */
	bool payload_matches; /* payload is {register_index: 0, register_value: PCR0} */
	uint8_t pcr8[SHA384_LEN];
	struct eif_cert_info cert;
	char problem[256]; /* the first check that failed, as a sentence; empty when all passed */
};

/*
 * Build the signature section for an image whose PCR0 is given, with a PEM EC private key (P-256, P-384 or
 * P-521) and its PEM certificate.  *section is heap memory the caller frees.
 */
int eif_signature_create(const uint8_t pcr0[SHA384_LEN], const char *cert_path, const char *key_path,
			 uint8_t **section, size_t *len);
/*
 * The same from the files' contents.  The certificate text is stored verbatim (nitro-cli stores the file as
 * it is).  Fails with -EINVAL and one sentence when the key is not an EC key on P-256/P-384/P-521, when the
 * certificate does not parse, or when the key does not belong to the certificate; with -EFBIG when the
 * section would exceed EIF_SIGNATURE_MAX_SIZE.
 */
int eif_signature_create_pem(const uint8_t pcr0[SHA384_LEN], const uint8_t *cert_pem, size_t cert_len,
			     const uint8_t *key_pem, size_t key_len, uint8_t **section, size_t *len);

/*
 * Decode and check a signature section against PCR0.  Returns 0 when the section could be decoded (the
 * checks' results are in *out, including failures), or a negative errno with err_msg() set when it is
 * malformed: not the CBOR nitro-cli writes, a COSE_Sign1 that does not decode, or a certificate OpenSSL
 * cannot parse (PCR8 and the certificate information need it).  On failure *out holds nothing to free.
 *
 * The payload check compares the encoded payload with nitro-cli's encoding of {0, PCR0} byte for byte, as
 * nitro-cli's describe-eif does.  The certificate is not checked against any trust anchor (nitro-cli does
 * not).
 */
int eif_signature_check(const uint8_t *section, size_t len, const uint8_t pcr0[SHA384_LEN],
			struct eif_signature_check *out);
void eif_signature_check_free(struct eif_signature_check *c);

/* PCR8 of a PEM certificate (what `pcr --signing-certificate` prints). */
int eif_pcr8_from_pem(const uint8_t *pem, size_t len, uint8_t pcr8[SHA384_LEN]);

#endif
