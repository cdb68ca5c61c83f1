// SPDX-License-Identifier: MIT
/*
 * Unit tests for the NSM's local CA and attestation documents: the chain's shape (extensions, lifetimes, keys
 * 0600) checked with OpenSSL's own verifier, the refusal of loose key files, persistence across opens, and the
 * COSE_Sign1 document: its exact framing, signature and chain round trip, tamper detection, debug-mode PCRs,
 * and the nsm-check case of 1024 bytes in each of user_data, nonce and public_key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "common/cbor.h"
#include "nsm/nsm.h"

#define MODULE_ID "i-0123456789abcdef0-enc0123456789abcdef"
#define NOW	  ((time_t)1790000000) /* 2026-09-22, a fixed "now" for every test */

static char dir[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/nitrovm-nsm-test.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static X509 *der_cert(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);

	assert_non_null(x);
	return x;
}

static void check_ca_extensions(X509 *x, long pathlen)
{
	int crit = -1;
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
	ASN1_BIT_STRING *ku;

	assert_non_null(bc);
	assert_int_equal(crit, 1);
	assert_true(bc->ca);
	assert_non_null(bc->pathlen);
	assert_int_equal(ASN1_INTEGER_get(bc->pathlen), pathlen);
	BASIC_CONSTRAINTS_free(bc);
	ku = X509_get_ext_d2i(x, NID_key_usage, &crit, NULL);
	assert_non_null(ku);
	assert_int_equal(crit, 1);
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE | KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	ASN1_BIT_STRING_free(ku);
	assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA384);
}

static void check_mode(const char *name, mode_t want)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/ca/%s", dir, name);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, want);
}

/* The chain: shape, lifetimes, OpenSSL's verdict, files and their modes, persistence. */
static void test_chain(void **state)
{
	struct nsm_ca *ca, *again;
	EVP_PKEY *key = EVP_EC_gen("P-384");
	const uint8_t *der, *der2;
	size_t len, len2;
	uint8_t *leaf_der;
	size_t leaf_len;
	time_t end;
	X509 *leaf, *inter;
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	int crit = -1;
	BASIC_CONSTRAINTS *bc;

	(void)state;
	assert_int_equal(nsm_ca_open(dir, NOW, &ca), 0);
	check_mode(NSM_CA_ROOT_KEY, 0600);
	check_mode(NSM_CA_INTER_KEY, 0600);
	check_mode(NSM_CA_ROOT_CERT, 0644);
	check_ca_extensions(nsm_ca_root(ca), 1);
	check_ca_extensions(nsm_ca_intermediate(ca), 0);
	assert_int_equal(X509_cmp_time(X509_get0_notAfter(nsm_ca_root(ca)), &(time_t){ NOW + 29L * 365 * 86400 }), 1);
	assert_int_equal(X509_cmp_time(X509_get0_notAfter(nsm_ca_intermediate(ca)), &(time_t){ NOW + 31L * 86400 }),
			 -1);

	assert_int_equal(nsm_ca_issue_leaf(ca, key, MODULE_ID, NOW, &leaf_der, &leaf_len, &end), 0);
	assert_int_equal(end, NOW + NSM_CA_LEAF_SECS);
	leaf = der_cert(leaf_der, leaf_len);
	bc = X509_get_ext_d2i(leaf, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_int_equal(crit, 1);
	assert_false(bc->ca);
	BASIC_CONSTRAINTS_free(bc);
	assert_int_equal(X509_get_key_usage(leaf), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_get_extension_flags(leaf) & EXFLAG_CA, 0);

	/* OpenSSL builds and checks [leaf, intermediate, root] at NOW, strictly. */
	nsm_ca_intermediate_der(ca, &der, &len);
	inter = der_cert(der, len);
	assert_true(sk_X509_push(untrusted, inter));
	assert_true(X509_STORE_add_cert(store, nsm_ca_root(ca)));
	assert_true(X509_STORE_CTX_init(ctx, store, leaf, untrusted));
	X509_STORE_CTX_set_time(ctx, 0, NOW + 60);
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
	if (X509_verify_cert(ctx) != 1)
		fail_msg("chain: %s", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	/* ... and not four hours later: the leaf lives three. */
	X509_STORE_CTX_cleanup(ctx);
	assert_true(X509_STORE_CTX_init(ctx, store, leaf, untrusted));
	X509_STORE_CTX_set_time(ctx, 0, NOW + 4 * 3600);
	assert_int_equal(X509_verify_cert(ctx), 0);
	assert_int_equal(X509_STORE_CTX_get_error(ctx), X509_V_ERR_CERT_HAS_EXPIRED);

	/* A second open finds the same root and intermediate. */
	assert_int_equal(nsm_ca_open(dir, NOW + 60, &again), 0);
	nsm_ca_root_der(ca, &der, &len);
	nsm_ca_root_der(again, &der2, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(der, der2, len);
	assert_int_equal(X509_cmp(nsm_ca_intermediate(ca), nsm_ca_intermediate(again)), 0);
	nsm_ca_free(again);
	/* Near the intermediate's end a new one is made, under the same root. */
	assert_int_equal(nsm_ca_open(dir, NOW + 28L * 86400, &again), 0);
	assert_int_not_equal(X509_cmp(nsm_ca_intermediate(ca), nsm_ca_intermediate(again)), 0);
	assert_int_equal(X509_cmp(nsm_ca_root(ca), nsm_ca_root(again)), 0);
	nsm_ca_free(again);

	sk_X509_pop_free(untrusted, X509_free);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(leaf);
	free(leaf_der);
	EVP_PKEY_free(key);
	nsm_ca_free(ca);
}

static void test_loose_key_refused(void **state)
{
	char path[PATH_MAX];
	struct nsm_ca *ca;

	(void)state;
	assert_int_equal(nsm_ca_open(dir, NOW, &ca), 0);
	nsm_ca_free(ca);
	snprintf(path, sizeof(path), "%s/ca/%s", dir, NSM_CA_ROOT_KEY);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(nsm_ca_open(dir, NOW, &ca), -EPERM);
	assert_non_null(strstr(err_msg(), "mode 0640"));
	assert_non_null(strstr(err_msg(), "chmod 600"));
	assert_int_equal(chmod(path, 0600), 0);
	snprintf(path, sizeof(path), "%s/ca/%s", dir, NSM_CA_INTER_KEY);
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(nsm_ca_open(dir, NOW, &ca), -EPERM);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(nsm_ca_open(dir, NOW, &ca), 0);
	nsm_ca_free(ca);
}

/* ---- documents ---- */

static uint64_t fixed_clock(void)
{
	return (uint64_t)NOW * 1000 + 123;
}

static struct nsm_boot boot;

static struct nsm *new_module(bool debug)
{
	struct nsm_config c = { .module_id = MODULE_ID, .debug_mode = debug, .boot = &boot };
	struct nsm_signer *signer;
	struct nsm_ca *ca;
	struct nsm *n;

	memset(&boot, 0, sizeof(boot));
	pcr_measure("image", 5, boot.pcr0);
	pcr_measure("bootstrap", 9, boot.pcr1);
	pcr_measure("", 0, boot.pcr2);
	boot.parent_id = "i-0123456789abcdef0";
	assert_int_equal(nsm_ca_open(dir, NOW, &ca), 0);
	assert_int_equal(nsm_signer_create(ca, MODULE_ID, NOW, &signer), 0);
	c.signer = signer;
	n = nsm_create(&c);
	assert_non_null(n);
	nsm_set_sources(n, NULL, fixed_clock);
	return n;
}

/* A literal request: its bytes and length (without the literal's NUL). */
#define REQ(s) (const uint8_t *)(s), sizeof(s) - 1

static uint8_t resp[NSM_RESPONSE_MAX];

/* Send an Attestation request; return the document inside the response. */
static const uint8_t *attest(struct nsm *n, const uint8_t *req, size_t len, size_t *doc_len)
{
	static const uint8_t head[] = "\xa1\x6b" "Attestation" "\xa1\x68" "document";
	size_t got = nsm_handle(n, req, len, resp, sizeof(resp));
	struct cbor_dec d;
	struct cbor_head h;

	assert_true(got > sizeof(head) - 1);
	assert_memory_equal(resp, head, sizeof(head) - 1);
	cbor_dec_init(&d, resp + sizeof(head) - 1, got - (sizeof(head) - 1), NSM_CBOR_FLAGS,
		      NSM_CBOR_MAX_DEPTH);
	assert_int_equal(cbor_dec_head(&d, &h), 0);
	assert_int_equal(h.major, CBOR_BYTES);
	assert_int_equal(cbor_dec_left(&d), 0);
	*doc_len = h.arg;
	return h.data;
}

struct payload_view {
	char module_id[NSM_MODULE_ID_MAX];
	uint64_t timestamp;
	unsigned int npcrs;
	unsigned int pcr_index[NSM_MAX_PCRS];
	const uint8_t *pcr[NSM_MAX_PCRS];
	bool user_data_null, nonce_null, public_key_null;
	size_t user_data_len, nonce_len, public_key_len;
	unsigned int ncabundle;
	char keys[9][16];
};

/* Walk the payload map in order, checking types as AWS's attestation_process.md states them. */
static void view_payload(const uint8_t *p, size_t len, struct payload_view *v)
{
	struct cbor_dec d;
	struct cbor_head h, k, x;

	memset(v, 0, sizeof(*v));
	cbor_dec_init(&d, p, len, NSM_CBOR_FLAGS, NSM_CBOR_MAX_DEPTH);
	assert_int_equal(cbor_dec_head(&d, &h), 0);
	assert_int_equal(h.major, CBOR_MAP);
	assert_int_equal(h.arg, 9);
	for (unsigned int i = 0; i < 9; i++) {
		assert_int_equal(cbor_dec_head(&d, &k), 0);
		assert_int_equal(k.major, CBOR_TEXT);
		snprintf(v->keys[i], sizeof(v->keys[i]), "%.*s", (int)k.arg, (const char *)k.data);
		assert_int_equal(cbor_dec_head(&d, &x), 0);
		if (!strcmp(v->keys[i], "module_id")) {
			assert_int_equal(x.major, CBOR_TEXT);
			snprintf(v->module_id, sizeof(v->module_id), "%.*s", (int)x.arg, (const char *)x.data);
		} else if (!strcmp(v->keys[i], "digest")) {
			assert_true(cbor_head_is_text(&x, "SHA384"));
		} else if (!strcmp(v->keys[i], "timestamp")) {
			assert_int_equal(x.major, CBOR_UINT);
			v->timestamp = x.arg;
		} else if (!strcmp(v->keys[i], "pcrs")) {
			assert_int_equal(x.major, CBOR_MAP);
			v->npcrs = (unsigned int)x.arg;
			for (unsigned int j = 0; j < v->npcrs; j++) {
				struct cbor_head ki, vi;

				assert_int_equal(cbor_dec_head(&d, &ki), 0);
				assert_int_equal(ki.major, CBOR_UINT);
				assert_int_equal(cbor_dec_head(&d, &vi), 0);
				assert_int_equal(vi.major, CBOR_BYTES);
				assert_int_equal(vi.arg, NSM_PCR_LEN);
				v->pcr_index[j] = (unsigned int)ki.arg;
				v->pcr[j] = vi.data;
			}
		} else if (!strcmp(v->keys[i], "certificate")) {
			assert_int_equal(x.major, CBOR_BYTES);
		} else if (!strcmp(v->keys[i], "cabundle")) {
			assert_int_equal(x.major, CBOR_ARRAY);
			v->ncabundle = (unsigned int)x.arg;
			assert_int_equal(cbor_dec_skip(&d, &x, 1), 0);
		} else {
			bool null = x.major == CBOR_SIMPLE && x.info == CBOR_NULL;

			assert_true(null || x.major == CBOR_BYTES);
			if (!strcmp(v->keys[i], "user_data")) {
				v->user_data_null = null;
				v->user_data_len = null ? 0 : x.arg;
			} else if (!strcmp(v->keys[i], "nonce")) {
				v->nonce_null = null;
				v->nonce_len = null ? 0 : x.arg;
			} else {
				v->public_key_null = null;
				v->public_key_len = null ? 0 : x.arg;
			}
		}
	}
	assert_int_equal(cbor_dec_left(&d), 0);
}

static void test_document(void **state)
{
	static const char *const order[9] = { "module_id",   "digest",	 "timestamp",  "pcrs",	"certificate",
					      "cabundle",    "public_key", "user_data", "nonce" };
	struct nsm *n = new_module(false);
	struct payload_view v;
	const uint8_t *doc, *payload;
	size_t doc_len, payload_len;
	uint8_t copy[NSM_RESPONSE_MAX];

	(void)state;
	doc = attest(n, REQ("\xa1\x6b" "Attestation" "\xa1\x65" "nonce" "\x43" "abc"), &doc_len);
	/* Untagged COSE_Sign1, protected {1: -35}, empty unprotected map, payload as a 2-byte-length bstr. */
	assert_memory_equal(doc, "\x84\x44\xa1\x01\x38\x22\xa0\x59", 8);
	/* ... and a 96-byte r||s signature at the end. */
	assert_memory_equal(doc + doc_len - 98, "\x58\x60", 2);
	{
		struct nsm_ca *rootca;

		assert_int_equal(nsm_ca_open(dir, NOW, &rootca), 0);
		assert_int_equal(nsm_attestation_check(doc, doc_len, nsm_ca_root(rootca), &payload, &payload_len), 0);
		view_payload(payload, payload_len, &v);
		for (unsigned int i = 0; i < 9; i++)
			assert_string_equal(v.keys[i], order[i]);
		assert_string_equal(v.module_id, MODULE_ID);
		assert_int_equal(v.timestamp, fixed_clock());
		assert_int_equal(v.npcrs, 16);
		assert_memory_equal(v.pcr[0], boot.pcr0, NSM_PCR_LEN);
		assert_memory_equal(v.pcr[1], boot.pcr1, NSM_PCR_LEN);
		assert_int_equal(v.ncabundle, 2);
		assert_true(v.user_data_null && v.public_key_null && !v.nonce_null);
		assert_int_equal(v.nonce_len, 3);

		/* One flipped byte anywhere that matters and the check fails. */
		memcpy(copy, doc, doc_len);
		copy[doc_len - 1] ^= 1; /* signature */
		assert_int_not_equal(nsm_attestation_check(copy, doc_len, nsm_ca_root(rootca), &payload, &payload_len),
				     0);
		memcpy(copy, doc, doc_len);
		copy[20] ^= 1; /* payload (module_id) */
		assert_int_not_equal(nsm_attestation_check(copy, doc_len, nsm_ca_root(rootca), &payload, &payload_len),
				     0);
		nsm_ca_free(rootca);
	}
	/* A root the chain does not lead to. */
	{
		char other[96];
		struct nsm_ca *oca;

		snprintf(other, sizeof(other), "%s/other", dir);
		assert_int_equal(nsm_ca_open(other, NOW, &oca), 0);
		assert_int_equal(nsm_attestation_check(doc, doc_len, nsm_ca_root(oca), &payload, &payload_len),
				 -EBADMSG);
		nsm_ca_free(oca);
	}
	/* PCRs locked later are attested too. */
	assert_int_equal(nsm_handle(n, REQ("\xa1\x67" "LockPCR" "\xa1\x65" "index" "\x14"), resp,
				    sizeof(resp)),
			 8);
	doc = attest(n, REQ("\xa1\x6b" "Attestation" "\xa0"), &doc_len);
	{
		struct nsm_ca *rootca;

		assert_int_equal(nsm_ca_open(dir, NOW, &rootca), 0);
		assert_int_equal(nsm_attestation_check(doc, doc_len, nsm_ca_root(rootca), &payload, &payload_len), 0);
		nsm_ca_free(rootca);
	}
	view_payload(payload, payload_len, &v);
	assert_int_equal(v.npcrs, 17);
	assert_int_equal(v.pcr_index[16], 20);
	assert_true(v.user_data_null && v.public_key_null && v.nonce_null);
	nsm_free(n);
}

static void test_debug_mode_zero_pcrs(void **state)
{
	static const uint8_t zero[NSM_PCR_LEN];
	struct nsm *n = new_module(true);
	struct payload_view v;
	const uint8_t *doc, *payload;
	size_t doc_len, payload_len;
	struct nsm_ca *rootca;

	(void)state;
	doc = attest(n, REQ("\xa1\x6b" "Attestation" "\xa0"), &doc_len);
	assert_int_equal(nsm_ca_open(dir, NOW, &rootca), 0);
	assert_int_equal(nsm_attestation_check(doc, doc_len, nsm_ca_root(rootca), &payload, &payload_len), 0);
	nsm_ca_free(rootca);
	view_payload(payload, payload_len, &v);
	assert_int_equal(v.npcrs, 16);
	for (unsigned int i = 0; i < v.npcrs; i++)
		assert_memory_equal(v.pcr[i], zero, NSM_PCR_LEN);
	/* DescribePCR still shows the real value: only documents are zeroed. */
	assert_memory_equal(nsm_pcrs(n)->value[0], boot.pcr0, NSM_PCR_LEN);
	nsm_free(n);
}

/* nsm-check: 1024 bytes each of user_data, nonce and public_key succeed (4096 bytes of request at most). */
static void test_max_fields(void **state)
{
	static uint8_t req[NSM_REQUEST_MAX];
	static const char *const names[] = { "user_data", "nonce", "public_key" };
	struct nsm *n = new_module(false);
	struct cbor_enc e;
	struct payload_view v;
	const uint8_t *doc, *payload;
	size_t doc_len, payload_len;
	uint8_t field[NSM_ATTESTATION_FIELD_MAX];
	struct nsm_ca *rootca;

	(void)state;
	memset(field, 0x5a, sizeof(field));
	cbor_enc_init(&e, req, sizeof(req));
	cbor_enc_map(&e, 1);
	cbor_enc_text(&e, "Attestation");
	cbor_enc_map(&e, 3);
	for (unsigned int i = 0; i < 3; i++) {
		cbor_enc_text(&e, names[i]);
		cbor_enc_bytes(&e, field, sizeof(field));
	}
	assert_false(e.failed);
	doc = attest(n, req, e.len, &doc_len);
	assert_true(doc_len < NSM_DOCUMENT_MAX);
	assert_int_equal(nsm_ca_open(dir, NOW, &rootca), 0);
	assert_int_equal(nsm_attestation_check(doc, doc_len, nsm_ca_root(rootca), &payload, &payload_len), 0);
	nsm_ca_free(rootca);
	view_payload(payload, payload_len, &v);
	assert_int_equal(v.user_data_len, 1024);
	assert_int_equal(v.nonce_len, 1024);
	assert_int_equal(v.public_key_len, 1024);
	nsm_free(n);
}

/* A leaf near its end is replaced before it signs. */
static void test_leaf_renewal(void **state)
{
	struct nsm_ca *ca;
	struct nsm_signer *s;
	struct nsm_pcrs pcrs = { 0 };
	struct nsm_doc_input in = { .module_id = MODULE_ID, .pcrs = &pcrs };
	static uint8_t doc[NSM_DOCUMENT_MAX];
	const uint8_t *leaf1, *leaf2, *payload;
	uint8_t first[2048];
	size_t l1, l2, len, payload_len;

	(void)state;
	assert_int_equal(nsm_ca_open(dir, NOW, &ca), 0);
	assert_int_equal(nsm_signer_create(ca, MODULE_ID, NOW, &s), 0);
	nsm_signer_leaf(s, &leaf1, &l1);
	assert_true(l1 <= sizeof(first));
	memcpy(first, leaf1, l1);
	in.timestamp_ms = (uint64_t)(NOW + 2 * 3600 + 60) * 1000; /* less than an hour left */
	assert_int_equal(nsm_attestation_document(s, &in, doc, sizeof(doc), &len), 0);
	nsm_signer_leaf(s, &leaf2, &l2);
	assert_false(l1 == l2 && !memcmp(first, leaf2, l1));
	assert_int_equal(nsm_attestation_check(doc, len, nsm_ca_root(nsm_signer_ca(s)), &payload, &payload_len), 0);
	/* Too small a buffer: -ENOSPC, which the module answers with BufferTooSmall. */
	assert_int_equal(nsm_attestation_document(s, &in, doc, 100, &len), -ENOSPC);
	nsm_signer_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loose_key_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_document, setup, teardown),
		cmocka_unit_test_setup_teardown(test_debug_mode_zero_pcrs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leaf_renewal, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
