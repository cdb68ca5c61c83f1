// SPDX-License-Identifier: MIT
/*
 * Attestation documents, as the Nitro NSM makes them (AWS's attestation_process.md):
 *
 *   COSE_Sign1 (untagged) = [ bstr(A1 01 38 22 = {1: -35, ES384}), {}, bstr(payload), bstr(r || s, 96 bytes) ]
 *   payload = { "module_id": text, "digest": "SHA384", "timestamp": uint ms, "pcrs": {uint: bstr(48)},
 *               "certificate": bstr(DER leaf), "cabundle": [bstr(DER root), bstr(DER intermediate)],
 *               "public_key": bstr|null, "user_data": bstr|null, "nonce": bstr|null }
 *
 * in nsm-api's AttestationDoc field order, definite lengths, shortest heads.  pcrs holds every locked PCR
 * (0-15 from boot, and those the enclave locked since), with zero values in debug mode as Nitro does.  The
 * signature covers Sig_structure = ["Signature1", protected, h'', payload] (RFC 8152, 4.4) hashed with SHA-384.
 */
#include "nsm.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cbor.h"
#include "common/util.h"
#include "crypto/cose.h"

#define COSE_ALG_ES384	 (-35)
#define DOC_MAX_CABUNDLE 8 /* what the checker accepts; we emit 2 */

struct nsm_signer {
	struct nsm_certifier *certifier;
	char name[NSM_MODULE_ID_MAX];
	EVP_PKEY *key;
	struct nsm_leaf leaf;
	time_t renew_after; /* a failed renewal is not tried again before this */
};

static int signer_renew(struct nsm_signer *s, time_t now)
{
	struct nsm_leaf leaf;
	int ret = s->certifier->issue(s->certifier, s->key, s->name, now, &leaf);

	if (ret)
		return ret;
	nsm_leaf_free(&s->leaf);
	s->leaf = leaf;
	return 0;
}

int nsm_signer_new(struct nsm_certifier *c, const char *name, time_t now, struct nsm_signer **out)
{
	struct nsm_signer *s = calloc(1, sizeof(*s));
	int ret;

	*out = NULL;
	if (!s) {
		c->free(c);
		return err_set(ENOMEM, "out of memory");
	}
	s->certifier = c;
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->key = EVP_EC_gen("P-384");
	ERR_clear_error();
	ret = s->key ? signer_renew(s, now) : err_set(EIO, "OpenSSL could not generate the enclave's P-384 key");
	if (ret) {
		nsm_signer_free(s);
		return ret;
	}
	*out = s;
	return 0;
}

int nsm_signer_create(struct nsm_ca *ca, const char *name, time_t now, struct nsm_signer **out)
{
	struct nsm_certifier *c = nsm_ca_certifier(ca);

	*out = NULL;
	return c ? nsm_signer_new(c, name, now, out) : -ENOMEM;
}

void nsm_signer_free(struct nsm_signer *s)
{
	if (!s)
		return;
	EVP_PKEY_free(s->key);
	nsm_leaf_free(&s->leaf);
	s->certifier->free(s->certifier);
	free(s);
}

void nsm_signer_leaf(const struct nsm_signer *s, const uint8_t **der, size_t *len)
{
	*der = s->leaf.cert;
	*len = s->leaf.cert_len;
}

struct nsm_ca *nsm_signer_ca(const struct nsm_signer *s)
{
	return nsm_certifier_ca(s->certifier);
}

/*
 * A leaf near its end is renewed before it signs.  When that fails (the issuer refused, or is busy), the
 * current leaf signs while it is still valid, and the renewal is tried again a minute later rather than at
 * every request.
 */
static int signer_fresh(struct nsm_signer *s, time_t now)
{
	int ret;

	if (s->leaf.not_after - now >= NSM_CA_LEAF_RENEW_SECS || now < s->renew_after)
		return s->leaf.not_after > now ? 0 : err_set(EKEYEXPIRED, "the enclave's leaf certificate expired");
	ret = signer_renew(s, now);
	if (!ret || s->leaf.not_after <= now)
		return ret;
	fprintf(stderr, "nitrovm: the NSM's leaf certificate could not be renewed (the current one signs until it "
			"expires): %s\n", err_msg());
	s->renew_after = now + NSM_CA_RENEW_RETRY_SECS;
	return 0;
}

static void enc_opt_bytes(struct cbor_enc *e, const uint8_t *p, size_t n)
{
	if (p)
		cbor_enc_bytes(e, p, n);
	else
		cbor_enc_null(e);
}

static void encode_payload(struct cbor_enc *e, const struct nsm_signer *s, const struct nsm_doc_input *in)
{
	static const uint8_t zero[NSM_PCR_LEN];
	size_t nlocked = 0;

	for (unsigned int i = 0; i < NSM_MAX_PCRS; i++)
		nlocked += in->pcrs->locked[i];
	cbor_enc_map(e, 9);
	cbor_enc_text(e, "module_id");
	cbor_enc_text(e, in->module_id);
	cbor_enc_text(e, "digest");
	cbor_enc_text(e, "SHA384");
	cbor_enc_text(e, "timestamp");
	cbor_enc_uint(e, in->timestamp_ms);
	cbor_enc_text(e, "pcrs");
	cbor_enc_map(e, nlocked);
	for (unsigned int i = 0; i < NSM_MAX_PCRS; i++) {
		if (!in->pcrs->locked[i])
			continue;
		cbor_enc_uint(e, i);
		cbor_enc_bytes(e, in->zero_pcrs ? zero : in->pcrs->value[i], NSM_PCR_LEN);
	}
	cbor_enc_text(e, "certificate");
	cbor_enc_bytes(e, s->leaf.cert, s->leaf.cert_len);
	cbor_enc_text(e, "cabundle");
	cbor_enc_array(e, 2);
	cbor_enc_bytes(e, s->leaf.root, s->leaf.root_len);
	cbor_enc_bytes(e, s->leaf.intermediate, s->leaf.intermediate_len);
	cbor_enc_text(e, "public_key");
	enc_opt_bytes(e, in->public_key, in->public_key_len);
	cbor_enc_text(e, "user_data");
	enc_opt_bytes(e, in->user_data, in->user_data_len);
	cbor_enc_text(e, "nonce");
	enc_opt_bytes(e, in->nonce, in->nonce_len);
}

int nsm_attestation_document(struct nsm_signer *s, const struct nsm_doc_input *in, uint8_t *out, size_t cap,
			     size_t *len)
{
	time_t now = (time_t)(in->timestamp_ms / 1000);
	struct cbor_enc payload, doc;
	uint8_t *buf;
	int ret;

	ret = signer_fresh(s, now);
	if (ret)
		return ret;
	buf = malloc(NSM_DOCUMENT_MAX);
	if (!buf)
		return err_set(ENOMEM, "out of memory building the document");
	cbor_enc_init(&payload, buf, NSM_DOCUMENT_MAX);
	encode_payload(&payload, s, in);
	cbor_enc_init(&doc, out, cap);
	ret = payload.failed ? -ENOSPC : cose_sign1_write(&doc, s->key, EC_CURVE_P384, payload.buf, payload.len);
	*len = doc.len;
	free(buf);
	return ret;
}

/* ---- checking our own documents (tests, bench) ---- */

struct doc_fields {
	const uint8_t *cert;
	size_t cert_len;
	const uint8_t *bundle[DOC_MAX_CABUNDLE];
	size_t bundle_len[DOC_MAX_CABUNDLE];
	unsigned int nbundle;
	uint64_t timestamp_ms;
};

static int parse_payload(const uint8_t *p, size_t len, struct doc_fields *f)
{
	struct cbor_dec d;
	struct cbor_head h, k, v;

	cbor_dec_init(&d, p, len, NSM_CBOR_FLAGS, NSM_CBOR_MAX_DEPTH);
	if (cbor_dec_head(&d, &h) || h.major != CBOR_MAP || h.arg > len)
		return err_set(EBADMSG, "the document's payload is not a map");
	for (uint64_t i = 0; i < h.arg; i++) {
		if (cbor_dec_head(&d, &k) || k.major != CBOR_TEXT || cbor_dec_head(&d, &v))
			return err_set(EBADMSG, "the document's payload has a malformed entry");
		if (cbor_head_is_text(&k, "certificate") && v.major == CBOR_BYTES) {
			f->cert = v.data;
			f->cert_len = v.arg;
		} else if (cbor_head_is_text(&k, "timestamp") && v.major == CBOR_UINT) {
			f->timestamp_ms = v.arg;
		} else if (cbor_head_is_text(&k, "cabundle") && v.major == CBOR_ARRAY &&
			   v.arg <= DOC_MAX_CABUNDLE) {
			for (uint64_t j = 0; j < v.arg; j++) {
				struct cbor_head b;

				if (cbor_dec_head(&d, &b) || b.major != CBOR_BYTES)
					return err_set(EBADMSG, "the document's cabundle holds a non-bstr");
				f->bundle[f->nbundle] = b.data;
				f->bundle_len[f->nbundle++] = b.arg;
			}
		} else if (cbor_dec_skip(&d, &v, 1)) {
			return err_set(EBADMSG, "the document's payload has a malformed value");
		}
	}
	if (cbor_dec_left(&d) || !f->cert || !f->nbundle || !f->timestamp_ms)
		return err_set(EBADMSG, "the document's payload lacks certificate, cabundle or timestamp");
	return 0;
}

static X509 *der_cert(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;

	return len <= LONG_MAX ? d2i_X509(NULL, &p, (long)len) : NULL;
}

static int verify_chain(X509 *leaf, const struct doc_fields *f, struct x509_st *root)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	int ret = -EIO;

	if (!store || !ctx || !untrusted || !X509_STORE_add_cert(store, root))
		goto out;
	/* cabundle = [root, intermediates...]: the root is the pinned one, the rest may build the path. */
	for (unsigned int i = 1; i < f->nbundle; i++) {
		X509 *c = der_cert(f->bundle[i], f->bundle_len[i]);

		if (!c || !sk_X509_push(untrusted, c)) {
			X509_free(c);
			ret = err_set(EBADMSG, "cabundle[%u] is not a certificate", i);
			goto out;
		}
	}
	if (!X509_STORE_CTX_init(ctx, store, leaf, untrusted))
		goto out;
	X509_STORE_CTX_set_time(ctx, 0, (time_t)(f->timestamp_ms / 1000));
	ret = X509_verify_cert(ctx) == 1
		      ? 0
		      : err_set(EBADMSG, "the document's certificate chain does not verify: %s",
				X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
out:
	sk_X509_pop_free(untrusted, X509_free);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	ERR_clear_error();
	return ret;
}

int nsm_attestation_check(const uint8_t *doc, size_t len, struct x509_st *root, const uint8_t **payload,
			  size_t *payload_len)
{
	struct doc_fields f = { 0 };
	struct cose_error e;
	struct cose_sign1 s;
	EVP_PKEY *key;
	X509 *leaf;
	int ret;

	if (cose_sign1_parse(doc, len, NSM_CBOR_FLAGS, NSM_CBOR_MAX_DEPTH, &s, &e))
		return err_set(EBADMSG, "the document is not a COSE_Sign1 [protected, {}, payload, signature]");
	if (s.alg_kind != COSE_ALG_INT || s.alg != COSE_ALG_ES384)
		return err_set(EBADMSG, "the document's protected header is not {1: -35} (ES384)");
	ret = parse_payload(s.payload, s.payload_len, &f);
	if (ret)
		return ret;
	leaf = der_cert(f.cert, f.cert_len);
	if (!leaf)
		return err_set(EBADMSG, "the document's certificate is not DER X.509");
	key = X509_get0_pubkey(leaf);
	ret = key ? cose_sign1_verify(&s, key, EC_CURVE_P384, "the leaf certificate's key")
		  : err_set(EBADMSG, "no key in the certificate");
	if (!ret)
		ret = verify_chain(leaf, &f, root);
	X509_free(leaf);
	ERR_clear_error();
	if (!ret) {
		*payload = s.payload;
		*payload_len = s.payload_len;
	}
	return ret;
}
