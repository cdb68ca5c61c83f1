// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the attestation verifier's parser (src/nsm/verify.c, att_parse): the COSE_Sign1
 * envelope, its protected header and the payload's schema, on untrusted bytes; and for the COSE layer under it
 * (src/crypto/cose.c) on its own, with the decoder options of each of its users.  The input is copied into an
 * exactly-sized heap block so that AddressSanitizer sees any read past it.
 *
 * Checked when a document is accepted: everything struct att_doc points at lies inside the input, the counts
 * are within the limits verify.h promises, and the required fields are there.  When it is refused, there is a
 * sentence saying why.  The COSE layer's parts and fault positions lie inside the input, and what it signs it
 * reads back and verifies: one input in COSE_ROUND_TRIP_EVERY is signed as a payload (a P-384 signature costs
 * about a millisecond, too much for every input).  A broken promise aborts, which libFuzzer reports as a crash
 * with the input saved.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <string.h>

#include "common/util.h"
#include "crypto/cose.h"
#include "nsm/verify.h"

#define COSE_ROUND_TRIP_EVERY 16
#define COSE_MAX_DEPTH	      16

#define CHECK(cond)                                                                       \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "fuzz_attestation: broken promise: %s\n", #cond); \
			abort();                                                          \
		}                                                                         \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool inside(const uint8_t *buf, size_t len, const void *p, size_t n)
{
	const uint8_t *q = p;

	return q >= buf && q <= buf + len && n <= (size_t)(buf + len - q);
}

static void check_bytes(const uint8_t *buf, size_t len, const struct att_bytes *b, size_t max)
{
	if (!b->present)
		return;
	CHECK(inside(buf, len, b->data, b->len));
	CHECK(b->len <= max);
}

static void check_accepted(const uint8_t *buf, size_t len, const struct att_doc *d)
{
	CHECK(len <= ATT_DOCUMENT_MAX);
	CHECK(d->protected_hdr.present && d->payload.present && d->signature.present);
	CHECK(inside(buf, len, d->protected_hdr.data, d->protected_hdr.len));
	CHECK(inside(buf, len, d->payload.data, d->payload.len));
	CHECK(inside(buf, len, d->signature.data, d->signature.len));
	CHECK(d->module_id_len && inside(buf, len, d->module_id, d->module_id_len));
	CHECK(d->digest_len == 6 && !memcmp(d->digest, "SHA384", 6));
	CHECK(d->timestamp);
	CHECK(d->npcrs >= 1 && d->npcrs <= ATT_MAX_PCRS);
	for (unsigned int i = 0; i < d->npcrs; i++) {
		CHECK(d->pcrs[i].index < ATT_MAX_PCRS && d->pcrs[i].value.present);
		check_bytes(buf, len, &d->pcrs[i].value, 64);
		CHECK(att_doc_pcr(d, d->pcrs[i].index) == &d->pcrs[i]);
	}
	CHECK(d->certificate.present && d->certificate.len >= 1);
	check_bytes(buf, len, &d->certificate, ATT_FIELD_MAX);
	CHECK(d->ncabundle >= 1 && d->ncabundle <= ATT_CABUNDLE_MAX);
	for (unsigned int i = 0; i < d->ncabundle; i++) {
		CHECK(d->cabundle[i].present && d->cabundle[i].len >= 1);
		check_bytes(buf, len, &d->cabundle[i], ATT_FIELD_MAX);
	}
	check_bytes(buf, len, &d->public_key, ATT_FIELD_MAX);
	check_bytes(buf, len, &d->user_data, ATT_FIELD_MAX);
	check_bytes(buf, len, &d->nonce, ATT_FIELD_MAX);
}

static struct evp_pkey_st *round_trip_key;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	round_trip_key = EVP_EC_gen("P-384");
	if (!round_trip_key)
		abort();
	return 0;
}

/* The COSE layer alone, with the options of the EIF reader and of the verifier. */
static void check_cose(const uint8_t *buf, size_t len, unsigned int flags)
{
	struct cose_error e;
	struct cose_sign1 s;

	if (cose_sign1_parse(buf, len, flags, COSE_MAX_DEPTH, &s, &e)) {
		CHECK(e.fault != COSE_FAULT_NONE);
		CHECK(e.fault < COSE_FAULT_HDR_CBOR ? e.dec.at <= len : e.header_off + e.dec.at <= len);
		return;
	}
	CHECK(inside(buf, len, s.protected_hdr, s.protected_len));
	CHECK(inside(buf, len, s.payload, s.payload_len));
	CHECK(inside(buf, len, s.signature, s.signature_len));
	CHECK(s.alg_kind != COSE_ALG_OTHER || s.alg_end <= s.protected_len);
	/* Made-up bytes never carry a signature this key made. */
	CHECK(cose_sign1_verify(&s, round_trip_key, EC_CURVE_P384, "the key") != 0);
}

/* Sign the input as a payload: what the writer makes, the parser reads back whole and the check accepts. */
static void round_trip(const uint8_t *payload, size_t len)
{
	struct cbor_enc e;
	struct cose_error err;
	struct cose_sign1 s;

	cbor_enc_init_heap(&e);
	CHECK(cose_sign1_write(&e, round_trip_key, EC_CURVE_P384, payload, len) == 0);
	CHECK(cose_sign1_parse(e.buf, e.len, CBOR_DEC_KNOWN_SIMPLE, COSE_MAX_DEPTH, &s, &err) == 0);
	CHECK(!s.tagged && s.alg_kind == COSE_ALG_INT && s.alg == -35 && !s.crit);
	CHECK(s.payload_len == len && (!len || !memcmp(s.payload, payload, len)));
	CHECK(cose_sign1_verify(&s, round_trip_key, EC_CURVE_P384, "the key") == 0);
	cbor_enc_release(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	struct att_doc d;

	if (!buf)
		abort();
	if (size)
		memcpy(buf, data, size);
	if (!att_parse(buf, size, &d))
		check_accepted(buf, size, &d);
	else
		CHECK(err_msg()[0]);
	check_cose(buf, size, CBOR_DEC_KNOWN_SIMPLE);
	check_cose(buf, size, CBOR_DEC_INDEF_CONTAINERS | CBOR_DEC_KNOWN_SIMPLE);
	if (size && buf[0] % COSE_ROUND_TRIP_EVERY == 0)
		round_trip(buf, size);
	free(buf);
	return 0;
}
