// SPDX-License-Identifier: MIT
/*
 * X.509 certificates for EIF signing: parse, DER, public key, validity, and the fields describe-eif prints.
 * The text forms are OpenSSL's own (OBJ_obj2txt, ASN1_TIME_print) because nitro-cli prints them through the
 * Rust openssl crate, which calls the same functions.
 */
#include "crypto.h"

#include <errno.h>
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

int cert_load_pem(const uint8_t *pem, size_t len, struct x509_st **cert)
{
	BIO *bio;
	X509 *c;

	*cert = NULL;
	if (len > INT_MAX)
		return err_set(EFBIG, "the certificate file is too large to be a PEM certificate");
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return err_set(ENOMEM, "out of memory reading the certificate");
	c = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	ERR_clear_error();
	if (!c) {
		if (memmem(pem, len, "-----BEGIN CERTIFICATE-----", 27))
			return err_set(EINVAL,
				       "the certificate's PEM block does not decode to an X.509 certificate");
		if (memmem(pem, len, "PRIVATE KEY-----", 16))
			return err_set(EINVAL, "the certificate file holds a private key, not a certificate");
		return err_set(EINVAL, "the certificate file holds no PEM certificate (expected \"-----BEGIN "
				       "CERTIFICATE-----\")");
	}
	*cert = c;
	return 0;
}

void cert_free(struct x509_st *cert)
{
	X509_free(cert);
}

int cert_der(const struct x509_st *cert, uint8_t **der, size_t *len)
{
	int n = i2d_X509(cert, NULL);
	unsigned char *p;
	uint8_t *buf;

	if (n <= 0) {
		ERR_clear_error();
		return err_set(EINVAL, "the certificate cannot be encoded as DER");
	}
	buf = malloc((size_t)n);
	if (!buf)
		return err_set(ENOMEM, "out of memory encoding the certificate");
	p = buf;
	if (i2d_X509(cert, &p) != n) {
		free(buf);
		ERR_clear_error();
		return err_set(EINVAL, "the certificate cannot be encoded as DER");
	}
	*der = buf;
	*len = (size_t)n;
	return 0;
}

int cert_public_key(const struct x509_st *cert, struct evp_pkey_st **key)
{
	EVP_PKEY *k = X509_get0_pubkey(cert);

	ERR_clear_error();
	if (!k || !EVP_PKEY_up_ref(k))
		return err_set(EINVAL, "the certificate's public key cannot be decoded");
	*key = k;
	return 0;
}

int cert_check_validity(const struct x509_st *cert, time_t now)
{
	const ASN1_TIME *nb = X509_get0_notBefore(cert), *na = X509_get0_notAfter(cert);
	int b = nb ? ASN1_TIME_cmp_time_t(nb, now) : -2;
	int a = na ? ASN1_TIME_cmp_time_t(na, now) : -2;

	ERR_clear_error();
	if (b == -2 || a == -2)
		return err_set(EINVAL, "the certificate's validity dates cannot be read");
	if (b > 0)
		return CERT_NOT_YET_VALID;
	if (a < 0)
		return CERT_EXPIRED;
	return CERT_VALID;
}

static int time_text(const ASN1_TIME *t, char *out, size_t len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p;
	long n;

	if (!bio)
		return err_set(ENOMEM, "out of memory");
	/* ASN1_TIME_print writes "Bad time value" and fails on garbage; show what it wrote either way. */
	if (t)
		ASN1_TIME_print(bio, t);
	n = BIO_get_mem_data(bio, &p);
	snprintf(out, len, "%.*s", (int)MAX(n, 0L), p ? p : "");
	BIO_free(bio);
	ERR_clear_error();
	return 0;
}

int cert_not_before_text(const struct x509_st *cert, char *out, size_t len)
{
	return time_text(X509_get0_notBefore(cert), out, len);
}

int cert_not_after_text(const struct x509_st *cert, char *out, size_t len)
{
	return time_text(X509_get0_notAfter(cert), out, len);
}

int cert_sig_alg_name(const struct x509_st *cert, char *out, size_t len)
{
	const X509_ALGOR *alg = NULL;
	const ASN1_OBJECT *obj = NULL;

	X509_get0_signature(NULL, &alg, cert);
	if (alg)
		X509_ALGOR_get0(&obj, NULL, NULL, alg);
	if (!obj || len > INT_MAX || OBJ_obj2txt(out, (int)len, obj, 0) < 0) {
		ERR_clear_error();
		return err_set(EINVAL, "the certificate's signature algorithm cannot be read");
	}
	return 0;
}

char *cert_signature_hex(const struct x509_st *cert)
{
	static const char digits[] = "0123456789ABCDEF";
	const ASN1_BIT_STRING *sig = NULL;
	const unsigned char *p;
	char *out;
	int n;

	X509_get0_signature(&sig, NULL, cert);
	n = sig ? ASN1_STRING_length(sig) : 0;
	p = sig ? ASN1_STRING_get0_data(sig) : NULL;
	out = malloc(n > 0 ? 3 * (size_t)n : 1);
	if (!out)
		return NULL;
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		out[3 * i] = digits[p[i] >> 4];
		out[3 * i + 1] = digits[p[i] & 15];
		out[3 * i + 2] = i + 1 < n ? ':' : '\0';
	}
	return out;
}

unsigned int cert_issuer_count(const struct x509_st *cert)
{
	const X509_NAME *name = X509_get_issuer_name(cert);
	int n = name ? X509_NAME_entry_count(name) : 0;

	return n > 0 ? (unsigned int)n : 0;
}

int cert_issuer_entry(const struct x509_st *cert, unsigned int i, char *key, size_t key_len, char **value,
		      size_t *value_len)
{
	const X509_NAME *name = X509_get_issuer_name(cert);
	const X509_NAME_ENTRY *e;
	unsigned char *utf8 = NULL;
	char *v;
	int n;

	*value = NULL;
	*value_len = 0;
	if (!name || i >= cert_issuer_count(cert) || key_len > INT_MAX)
		return err_set(EINVAL, "the certificate has no issuer entry %u", i);
	e = X509_NAME_get_entry(name, (int)i);
	if (!e || OBJ_obj2txt(key, (int)key_len, X509_NAME_ENTRY_get_object(e), 0) < 0) {
		ERR_clear_error();
		return err_set(EINVAL, "issuer entry %u of the certificate cannot be read", i);
	}
	n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
	if (n < 0) {
		ERR_clear_error();
		return err_set(EINVAL, "issuer entry %u (%s) of the certificate is not convertible to UTF-8",
			       i, key);
	}
	v = malloc((size_t)n + 1);
	if (!v) {
		OPENSSL_free(utf8);
		return err_set(ENOMEM, "out of memory");
	}
	memcpy(v, utf8, (size_t)n);
	v[n] = '\0';
	OPENSSL_free(utf8);
	*value = v;
	*value_len = (size_t)n;
	return 0;
}
