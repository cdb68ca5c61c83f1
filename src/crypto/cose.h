/* SPDX-License-Identifier: MIT */
/*
 * COSE_Sign1 (RFC 8152 sections 4.2 and 4.4) with ECDSA, the one envelope nitrovm signs and reads:
 *
 *   COSE_Sign1    = [protected: bstr(header map), unprotected: map, payload: bstr, signature: bstr]
 *   Sig_structure = ["Signature1", protected, external_aad = h'', payload], hashed with the algorithm's
 *                   digest and signed as raw r||s (crypto.h's ECDSA)
 *
 * Written untagged with the protected header {1: alg} and an empty unprotected map, as nitro-cli's EIF
 * signatures (ES256, ES384 or ES512 by the key's curve) and the Nitro NSM's attestation documents (ES384) are;
 * read tagged (18) or untagged.
 *
 * The parser takes untrusted bytes and says what it found, not what it thinks of it: a fault names the part
 * and keeps the decoder's state, and the protected header's algorithm and critical-header list come back as
 * data, so that the EIF code and the attestation verifier each word a refusal in their own terms and apply
 * their own policy (an EIF accepts three algorithms, a document one).  Nothing is copied: every part points
 * into the input.
 */
#ifndef NITROVM_CRYPTO_COSE_H
#define NITROVM_CRYPTO_COSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cbor.h"
#include "crypto/crypto.h"

#define COSE_SIGN1_TAG	18 /* RFC 8152 section 2 */
#define COSE_LABEL_ALG	1  /* header label of the algorithm */
#define COSE_LABEL_CRIT 2  /* header label of the list of critical headers */

/* The four items of a COSE_Sign1, in order. */
enum cose_part {
	COSE_PART_PROTECTED,
	COSE_PART_UNPROTECTED,
	COSE_PART_PAYLOAD,
	COSE_PART_SIGNATURE,
};

/* What the protected header says the algorithm is. */
enum cose_alg_kind {
	COSE_ALG_ABSENT, /* no label 1 (or an empty protected header) */
	COSE_ALG_INT,	 /* alg holds it */
	COSE_ALG_TEXT,	 /* a text name, which RFC 8152 allows and no ECDSA user writes */
	COSE_ALG_OTHER,	 /* neither an integer nor text: alg_head says what */
};

struct cose_sign1 {
	bool tagged;
	const uint8_t *protected_hdr, *payload, *signature; /* the byte strings' contents, inside the input */
	size_t protected_len, payload_len, signature_len;
	enum cose_alg_kind alg_kind;
	long long alg;		   /* COSE_ALG_INT: the value, clamped to long long */
	struct cbor_head alg_head; /* the algorithm's head (its offset is inside the protected header) */
	size_t alg_end;		   /* offset just past that head in the protected header */
	bool crit;		   /* the protected header lists critical headers (label 2) */
	size_t crit_at;		   /* where that label is in the protected header */
};

enum cose_fault {
	COSE_FAULT_NONE = 0,
	COSE_FAULT_CBOR,	 /* the decoder stopped: dec says why and where */
	COSE_FAULT_TAG,		 /* a tag other than 18: value */
	COSE_FAULT_NOT_ARRAY,	 /* found is not a definite-length array */
	COSE_FAULT_ARRAY_LEN,	 /* an array of value items, not 4 */
	COSE_FAULT_PART,	 /* part is found, not a bstr (or, for the unprotected header, a map) */
	COSE_FAULT_TRAILING,	 /* value bytes follow the COSE_Sign1 */
	COSE_FAULT_HDR_CBOR,	 /* the protected header does not decode: dec says why and where */
	COSE_FAULT_HDR_NOT_MAP,	 /* the protected header is found, not a map */
	COSE_FAULT_HDR_LABEL,	 /* a label that is neither an integer nor text (RFC 8152 section 3): found */
	COSE_FAULT_HDR_ALG_TWICE, /* the algorithm appears twice */
	COSE_FAULT_HDR_TRAILING, /* value bytes follow the header map */
};

/*
 * Why a COSE_Sign1 was refused.  dec is the decoder as it stopped, over the whole input for envelope faults
 * and over the protected header's bytes for COSE_FAULT_HDR_* ones (header_off is where those start in the
 * input): dec.at is the byte at fault, and cbor_dec_describe(&dec, ...) words a COSE_FAULT_CBOR or
 * COSE_FAULT_HDR_CBOR.
 */
struct cose_error {
	enum cose_fault fault;
	enum cose_part part;
	struct cbor_head found;
	uint64_t value;
	struct cbor_dec dec;
	size_t header_off;
};

/*
 * Parse a COSE_Sign1 (tag 18 optional) with a decoder of these flags and depth (common/cbor.h), and its
 * protected header (an empty byte string is the empty map, RFC 8152 section 3).  Returns 0, or -EINVAL with
 * *e filled; err_msg() is left alone, the caller words the fault.
 */
int cose_sign1_parse(const uint8_t *buf, size_t len, unsigned int dec_flags, unsigned int max_depth,
		     struct cose_sign1 *s, struct cose_error *e);

/*
 * Check s's signature with key, on curve (which the caller has matched with the algorithm): its length, then
 * ECDSA over Sig_structure with the curve's digest.  0; -EBADMSG with a sentence that names the key as
 * key_name ("the leaf certificate's key") when it is the wrong length or does not verify; another negative
 * errno with a sentence when it could not be checked.
 */
int cose_sign1_verify(const struct cose_sign1 *s, struct evp_pkey_st *key, enum ec_curve curve,
		      const char *key_name);

/*
 * Append an untagged COSE_Sign1 of payload to e: [bstr({1: curve's algorithm}), {}, bstr(payload),
 * bstr(r||s)], signed with key.  0; -ENOSPC when e ran out of room; another negative errno with err_msg()
 * when signing failed.
 */
int cose_sign1_write(struct cbor_enc *e, struct evp_pkey_st *key, enum ec_curve curve, const uint8_t *payload,
		     size_t payload_len);

/* "ES256", "ES384", "ES512" for the curves; "an unknown algorithm" otherwise. */
const char *cose_alg_name(enum ec_curve curve);

#endif
