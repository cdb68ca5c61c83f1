// SPDX-License-Identifier: MIT
/*
 * SHA-384 through OpenSSL's low-level SHA-512 family rather than EVP.  The digest code is the same (the same
 * assembly), but EVP's first use in a process builds the library context, loads openssl.cnf and the default
 * provider and fills the method store: 1.2-2 ms here, measured, which is a third of the launch budget
 * (bench/boot) spent before the enclave's first instruction, on the image measurement alone.  The low-level
 * functions are deprecated in OpenSSL 3 but present in every 3.x; only this file uses them.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "crypto.h"

#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

int sha384_init(struct sha384_ctx *c)
{
	c->md = malloc(sizeof(*c->md));
	if (!c->md || !SHA384_Init(c->md)) {
		free(c->md);
		c->md = NULL;
		return -1;
	}
	return 0;
}

void sha384_update(struct sha384_ctx *c, const void *data, size_t len)
{
	SHA384_Update(c->md, data, len);
}

int sha384_copy(struct sha384_ctx *dst, const struct sha384_ctx *src)
{
	dst->md = malloc(sizeof(*dst->md));
	if (!dst->md)
		return -1;
	*dst->md = *src->md;
	return 0;
}

void sha384_final(struct sha384_ctx *c, uint8_t out[SHA384_LEN])
{
	SHA384_Final(out, c->md);
	sha384_free(c);
}

void sha384_free(struct sha384_ctx *c)
{
	free(c->md);
	c->md = NULL;
}

void sha384(const void *data, size_t len, uint8_t out[SHA384_LEN])
{
	SHA384(data, len, out);
}

void sha256(const void *data, size_t len, uint8_t out[SHA256_LEN])
{
	SHA256(data, len, out);
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
