// SPDX-License-Identifier: MIT
/*
 * SHA-384 (and the SHA-256/512 content digests of container images) through OpenSSL's low-level functions
 * rather than EVP.  The digest code is the same (the same assembly), but EVP's first use in a process builds the library context, loads openssl.cnf and the default
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

size_t digest_len(enum digest_alg alg)
{
	return alg == DIGEST_SHA512 ? SHA512_DIGEST_LENGTH : SHA256_DIGEST_LENGTH;
}

int digest_init(struct digest_ctx *c, enum digest_alg alg)
{
	int ok;

	c->alg = alg;
	c->state = malloc(alg == DIGEST_SHA512 ? sizeof(SHA512_CTX) : sizeof(SHA256_CTX));
	if (!c->state)
		return -1;
	ok = alg == DIGEST_SHA512 ? SHA512_Init(c->state) : SHA256_Init(c->state);
	if (!ok) {
		digest_free(c);
		return -1;
	}
	return 0;
}

void digest_update(struct digest_ctx *c, const void *data, size_t len)
{
	if (c->alg == DIGEST_SHA512)
		SHA512_Update(c->state, data, len);
	else
		SHA256_Update(c->state, data, len);
}

void digest_final(struct digest_ctx *c, uint8_t out[DIGEST_MAX_LEN])
{
	if (c->alg == DIGEST_SHA512)
		SHA512_Final(out, c->state);
	else
		SHA256_Final(out, c->state);
	digest_free(c);
}

void digest_free(struct digest_ctx *c)
{
	free(c->state);
	c->state = NULL;
}
