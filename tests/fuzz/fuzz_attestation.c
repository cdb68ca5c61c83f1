// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the attestation verifier's parser (src/nsm/verify.c, att_parse): the COSE_Sign1
 * envelope, its protected header and the payload's schema, on untrusted bytes.  The input is copied into an
 * exactly-sized heap block so that AddressSanitizer sees any read past it.
 *
 * Checked when a document is accepted: everything struct att_doc points at lies inside the input, the counts
 * are within the limits verify.h promises, and the required fields are there.  When it is refused, there is a
 * sentence saying why.  A broken promise aborts, which libFuzzer reports as a crash with the input saved.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "nsm/verify.h"

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
	free(buf);
	return 0;
}
