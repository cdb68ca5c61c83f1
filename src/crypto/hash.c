// SPDX-License-Identifier: MIT
#include "crypto.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

int sha384_init(struct sha384_ctx *c)
{
	c->md = EVP_MD_CTX_new();
	if (!c->md || !EVP_DigestInit_ex(c->md, EVP_sha384(), NULL)) {
		EVP_MD_CTX_free(c->md);
		c->md = NULL;
		return -1;
	}
	return 0;
}

void sha384_update(struct sha384_ctx *c, const void *data, size_t len)
{
	EVP_DigestUpdate(c->md, data, len);
}

int sha384_copy(struct sha384_ctx *dst, const struct sha384_ctx *src)
{
	dst->md = EVP_MD_CTX_new();
	if (!dst->md || !EVP_MD_CTX_copy_ex(dst->md, src->md)) {
		EVP_MD_CTX_free(dst->md);
		dst->md = NULL;
		return -1;
	}
	return 0;
}

void sha384_final(struct sha384_ctx *c, uint8_t out[SHA384_LEN])
{
	unsigned int n = SHA384_LEN;

	EVP_DigestFinal_ex(c->md, out, &n);
	sha384_free(c);
}

void sha384_free(struct sha384_ctx *c)
{
	EVP_MD_CTX_free(c->md);
	c->md = NULL;
}

void sha384(const void *data, size_t len, uint8_t out[SHA384_LEN])
{
	unsigned int n = SHA384_LEN;

	EVP_Digest(data, len, out, &n, EVP_sha384(), NULL);
}

void pcr_extend(uint8_t pcr[SHA384_LEN], const void *data, size_t len)
{
	struct sha384_ctx c;

	if (sha384_init(&c))
		abort(); /* only on allocation failure inside OpenSSL */
	sha384_update(&c, pcr, SHA384_LEN);
	sha384_update(&c, data, len);
	sha384_final(&c, pcr);
}

void pcr_from_digest(const uint8_t digest[SHA384_LEN], uint8_t pcr[SHA384_LEN])
{
	memset(pcr, 0, SHA384_LEN);
	pcr_extend(pcr, digest, SHA384_LEN);
}

void pcr_measure(const void *content, size_t len, uint8_t pcr[SHA384_LEN])
{
	uint8_t digest[SHA384_LEN];

	sha384(content, len, digest);
	pcr_from_digest(digest, pcr);
}
