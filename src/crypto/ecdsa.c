// SPDX-License-Identifier: MIT
/*
 * ECDSA on P-256, P-384 and P-521 with raw r||s signatures, the form COSE (and so the EIF signature section)
 * carries.  OpenSSL signs and verifies DER ECDSA-Sig-Value; the conversion happens here and nowhere else.
 */
#include "crypto.h"

#include <errno.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static const struct {
	enum ec_curve curve;
	const char *name;
	int nid;
	size_t field_len;
	int cose_alg;
} curves[] = {
	{EC_CURVE_P256, "P-256", NID_X9_62_prime256v1, 32, -7},
	{EC_CURVE_P384, "P-384", NID_secp384r1, 48, -35},
	{EC_CURVE_P521, "P-521", NID_secp521r1, 66, -36},
};

static int curve_index(enum ec_curve c)
{
	for (size_t i = 0; i < ARRAY_SIZE(curves); i++)
		if (curves[i].curve == c)
			return (int)i;
	return -1;
}

size_t ec_curve_field_len(enum ec_curve c)
{
	int i = curve_index(c);

	return i < 0 ? 0 : curves[i].field_len;
}

const char *ec_curve_name(enum ec_curve c)
{
	int i = curve_index(c);

	return i < 0 ? "no curve" : curves[i].name;
}

int ec_curve_cose_alg(enum ec_curve c)
{
	int i = curve_index(c);

	return i < 0 ? 0 : curves[i].cose_alg;
}

enum ec_curve ec_curve_from_cose_alg(long long alg)
{
	for (size_t i = 0; i < ARRAY_SIZE(curves); i++)
		if (curves[i].cose_alg == alg)
			return curves[i].curve;
	return EC_CURVE_NONE;
}

static const EVP_MD *curve_md(enum ec_curve c)
{
	switch (c) {
	case EC_CURVE_P256:
		return EVP_sha256();
	case EC_CURVE_P384:
		return EVP_sha384();
	case EC_CURVE_P521:
		return EVP_sha512();
	default:
		return NULL;
	}
}

int ec_curve_digest_parts(enum ec_curve c, const struct digest_part *parts, size_t n,
			  uint8_t out[EC_MAX_DIGEST_LEN], size_t *out_len)
{
	const EVP_MD *md = curve_md(c);
	EVP_MD_CTX *ctx;
	unsigned int len = EC_MAX_DIGEST_LEN;
	bool ok;

	if (!md)
		return err_set(EINVAL, "no digest for an unknown curve");
	ctx = EVP_MD_CTX_new();
	ok = ctx && EVP_DigestInit_ex(ctx, md, NULL);
	for (size_t i = 0; ok && i < n; i++)
		ok = EVP_DigestUpdate(ctx, parts[i].data, parts[i].len);
	ok = ok && EVP_DigestFinal_ex(ctx, out, &len);
	EVP_MD_CTX_free(ctx);
	if (!ok) {
		ERR_clear_error();
		return err_set(EIO, "OpenSSL could not compute a %s digest", EVP_MD_get0_name(md));
	}
	*out_len = len;
	return 0;
}

int ec_curve_digest(enum ec_curve c, const void *data, size_t len, uint8_t out[EC_MAX_DIGEST_LEN],
		    size_t *out_len)
{
	const struct digest_part whole = { data, len };

	return ec_curve_digest_parts(c, &whole, 1, out, out_len);
}

/* "an RSA", "a DSA": the article goes by how the acronym's first letter is spoken. */
static const char *article(const char *word)
{
	return word && strchr("AEFHILMNORSXaeiou", word[0]) ? "an" : "a";
}

static int describe_unsupported(const EVP_PKEY *key, const char *what)
{
	const char *type;
	char group[80];
	size_t glen = 0;

	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) {
		type = EVP_PKEY_get0_type_name(key);
		if (!type)
			type = OBJ_nid2sn(EVP_PKEY_get_base_id(key));
		if (!type)
			type = "unknown-type";
		return err_set(
			EINVAL,
			"%s is %s %s key (%d bits); EIF signatures need an EC key on P-256, P-384 or P-521",
			what, article(type), type, EVP_PKEY_get_bits(key));
	}
	if (!EVP_PKEY_get_group_name(key, group, sizeof(group), &glen)) {
		ERR_clear_error();
		return err_set(EINVAL,
			       "%s is an EC key with explicit curve parameters; EIF signatures need a named "
			       "curve: P-256, P-384 or P-521",
			       what);
	}
	return err_set(EINVAL, "%s is an EC key on curve %s; EIF signatures need P-256, P-384 or P-521", what,
		       group);
}

static int key_curve(const EVP_PKEY *key, const char *what, enum ec_curve *curve)
{
	char group[80];
	size_t glen = 0;
	int nid;

	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
	    !EVP_PKEY_get_group_name(key, group, sizeof(group), &glen))
		return describe_unsupported(key, what);
	nid = OBJ_sn2nid(group);
	if (nid == NID_undef)
		nid = EC_curve_nist2nid(group);
	for (size_t i = 0; i < ARRAY_SIZE(curves); i++) {
		if (curves[i].nid == nid) {
			*curve = curves[i].curve;
			return 0;
		}
	}
	return describe_unsupported(key, what);
}

int eckey_curve(const struct evp_pkey_st *key, const char *what, enum ec_curve *curve)
{
	return key_curve(key, what, curve);
}

/* Never prompt on the terminal: an encrypted key is an error the user fixes, not a question we ask. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static bool contains(const uint8_t *buf, size_t len, const char *needle)
{
	return memmem(buf, len, needle, strlen(needle)) != NULL;
}

int eckey_load_private_pem(const uint8_t *pem, size_t len, struct evp_pkey_st **key, enum ec_curve *curve)
{
	EVP_PKEY *k;
	BIO *bio;
	int ret;

	*key = NULL;
	if (len > INT_MAX)
		return err_set(EFBIG, "the private key file is too large to be a PEM key");
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return err_set(ENOMEM, "out of memory reading the private key");
	k = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	ERR_clear_error();
	if (!k) {
		if (contains(pem, len, "ENCRYPTED"))
			return err_set(EINVAL, "the private key is encrypted; give an unencrypted PEM key "
					       "(openssl pkey -in KEY -out PLAIN-KEY)");
		if (contains(pem, len, "-----BEGIN CERTIFICATE-----"))
			return err_set(EINVAL, "the private key file holds a certificate, not a private key");
		if (contains(pem, len, "-----BEGIN PUBLIC KEY-----"))
			return err_set(EINVAL, "the private key file holds a public key, not a private key");
		return err_set(EINVAL,
			       "the private key file holds no PEM private key (expected \"-----BEGIN PRIVATE "
			       "KEY-----\" or \"-----BEGIN EC PRIVATE KEY-----\")");
	}
	ret = key_curve(k, "the private key", curve);
	if (ret) {
		EVP_PKEY_free(k);
		return ret;
	}
	*key = k;
	return 0;
}

bool eckey_same_public(const struct evp_pkey_st *a, const struct evp_pkey_st *b)
{
	int r = EVP_PKEY_eq(a, b);

	ERR_clear_error();
	return r == 1;
}

void eckey_free(struct evp_pkey_st *key)
{
	EVP_PKEY_free(key);
}

int ecdsa_sign_raw(struct evp_pkey_st *key, enum ec_curve curve, const uint8_t *digest, size_t digest_len,
		   uint8_t sig[EC_MAX_SIG_LEN])
{
	size_t fl = ec_curve_field_len(curve), der_len = 0;
	const BIGNUM *r, *s;
	const unsigned char *p;
	EVP_PKEY_CTX *ctx;
	ECDSA_SIG *es = NULL;
	unsigned char *der = NULL;
	int ret = err_set(EIO, "OpenSSL could not sign with the %s key", ec_curve_name(curve));

	if (!fl)
		return err_set(EINVAL, "cannot sign: unknown curve");
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	if (!ctx || EVP_PKEY_sign_init(ctx) <= 0 ||
	    EVP_PKEY_sign(ctx, NULL, &der_len, digest, digest_len) <= 0)
		goto out;
	der = OPENSSL_malloc(der_len);
	if (!der || EVP_PKEY_sign(ctx, der, &der_len, digest, digest_len) <= 0)
		goto out;
	p = der;
	es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	if (!es)
		goto out;
	ECDSA_SIG_get0(es, &r, &s);
	/* COSE wants each integer as exactly field_len big-endian bytes: short values get leading zeros. */
	if (BN_bn2binpad(r, sig, (int)fl) < 0 || BN_bn2binpad(s, sig + fl, (int)fl) < 0)
		goto out;
	ret = 0;
out:
	ECDSA_SIG_free(es);
	OPENSSL_free(der);
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return ret;
}

int ecdsa_verify_raw(struct evp_pkey_st *key, enum ec_curve curve, const uint8_t *digest, size_t digest_len,
		     const uint8_t *sig, size_t sig_len)
{
	size_t fl = ec_curve_field_len(curve);
	BIGNUM *r = NULL, *s = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	ECDSA_SIG *es = NULL;
	unsigned char *der = NULL;
	int der_len, rc, ret = err_set(EIO, "OpenSSL could not verify with the %s key", ec_curve_name(curve));

	if (!fl)
		return err_set(EINVAL, "cannot verify: unknown curve");
	if (sig_len != 2 * fl)
		return err_set(EBADMSG, "the signature is %zu bytes; %s signatures are %zu bytes (r||s)",
			       sig_len, ec_curve_name(curve), 2 * fl);
	r = BN_bin2bn(sig, (int)fl, NULL);
	s = BN_bin2bn(sig + fl, (int)fl, NULL);
	es = ECDSA_SIG_new();
	if (!r || !s || !es || !ECDSA_SIG_set0(es, r, s)) {
		BN_free(r);
		BN_free(s);
		goto out;
	}
	der_len = i2d_ECDSA_SIG(es, &der);
	if (der_len <= 0)
		goto out;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	if (!ctx || EVP_PKEY_verify_init(ctx) <= 0)
		goto out;
	rc = EVP_PKEY_verify(ctx, der, (size_t)der_len, digest, digest_len);
	/* 0 is a wrong signature; negative values are also what out-of-range r or s produce. */
	ret = rc == 1 ? 0
		      : err_set(EBADMSG, "the signature does not verify with the %s key",
				ec_curve_name(curve));
out:
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return ret;
}
