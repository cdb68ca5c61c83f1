/* SPDX-License-Identifier: MIT */
/*
 * Verification of NSM attestation documents, ours and those real Nitro hardware makes (AWS's attestation_process.md):
 *
 *   1. parse: COSE_Sign1, tagged 18 or untagged; protected header {1: -35}; a payload map of definite or
 *      indefinite length whose fields have the types and limits of AWS's attestation_process.md;
 *   2. chain: [leaf, cabundle[N] .. cabundle[1], pinned root] validated with OpenSSL at a chosen time, with
 *      basic constraints, path lengths and key usages checked, and cabundle[0] equal to the pinned root;
 *   3. the COSE ES384 signature over Sig_structure ["Signature1", protected, h'', payload] with the leaf's
 * key;
 *   4. the values the caller expects (nonce, PCRs, user data, public key).
 *
 * Every failure is one sentence (err_msg()) naming what failed; the return value is then a negative errno:
 * -EINVAL for a malformed document, -EBADMSG for one that is well formed but not trustworthy or not what was
 * expected, -ENOMEM.  Nothing is printed.
 */
#ifndef NITROVM_NSM_VERIFY_H
#define NITROVM_NSM_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct x509_st;

/* Limits of attestation_process.md ("Syntactical validation"). */
#define ATT_MAX_PCRS	 32	     /* pcrs has 1..32 entries, indexes 0..31 */
#define ATT_FIELD_MAX	 1024	     /* public_key, user_data, nonce; every certificate */
#define ATT_CABUNDLE_MAX 16	     /* not an AWS limit: real chains have 3 or 4; a bound for the parser */
#define ATT_DOCUMENT_MAX (64 * 1024) /* a real document is about 4.5 KiB; NSM responses fit in 12 KiB */

/* A byte string inside the document buffer (not a copy); present is false for null or absent fields. */
struct att_bytes {
	const uint8_t *data;
	size_t len;
	bool present;
};

struct att_pcr {
	unsigned int index;
	struct att_bytes value;
};

/* The payload, pointing into the document the caller keeps alive. */
struct att_doc {
	bool tagged;	       /* the COSE_Sign1 carried tag 18 */
	bool indefinite;       /* the payload map was indefinite-length */
	const char *module_id; /* not NUL-terminated: module_id_len bytes */
	size_t module_id_len;
	const char *digest;
	size_t digest_len;
	uint64_t timestamp; /* milliseconds since the epoch */
	unsigned int npcrs;
	struct att_pcr pcrs[ATT_MAX_PCRS]; /* in document order */
	struct att_bytes certificate;
	unsigned int ncabundle;
	struct att_bytes cabundle[ATT_CABUNDLE_MAX]; /* [root, intermediate 1, ... intermediate N] */
	struct att_bytes public_key, user_data, nonce;

	/* The COSE parts, for the signature check. */
	struct att_bytes protected_hdr, payload, signature;
};

/* What the caller expects; a NULL pointer or npcrs = 0 means "no expectation". */
struct att_expect {
	const uint8_t *nonce, *user_data, *public_key;
	size_t nonce_len, user_data_len, public_key_len;
	unsigned int npcrs;
	struct {
		unsigned int index;
		const uint8_t *value;
		size_t len;
	} pcrs[ATT_MAX_PCRS];
};

/* Step 1 only: the structure and the schema.  On failure *doc is unspecified. */
int att_parse(const uint8_t *buf, size_t len, struct att_doc *doc);

/*
 * Steps 1 to 4.  root is the pinned root certificate; at is the time the certificates must be valid at
 * (0: the document's own timestamp, rounded down to the second); expect may be NULL.  On success *doc
 * describes the payload.
 */
int att_verify(const uint8_t *buf, size_t len, const struct x509_st *root, time_t at,
	       const struct att_expect *expect, struct att_doc *doc);

/* A root certificate to pin, from PEM or DER bytes; free it with cert_free() (crypto.h). */
int att_root_load(const uint8_t *buf, size_t len, struct x509_st **root);

/* The PCR with this index, or NULL. */
const struct att_pcr *att_doc_pcr(const struct att_doc *doc, unsigned int index);

#endif
