// SPDX-License-Identifier: MIT
/*
 * Content digests as OCI descriptors write them ("sha256:<64 hex>", "sha512:<128 hex>"), and their checks.
 * Parsing is strict (lowercase hex, exact length): a digest is compared as bytes, and two spellings of one
 * digest would make two cache entries and two answers to "is this the image I asked for".
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static const struct {
	const char *prefix;
	enum digest_alg alg;
} algorithms[] = {
	{"sha256:", DIGEST_SHA256},
	{"sha512:", DIGEST_SHA512},
};

int image_digest_parse(const char *s, const char *what, struct image_digest *d)
{
	for (size_t i = 0; i < ARRAY_SIZE(algorithms); i++) {
		size_t pl = strlen(algorithms[i].prefix), n = digest_len(algorithms[i].alg);
		const char *hex = s + pl;

		if (strncmp(s, algorithms[i].prefix, pl))
			continue;
		if (strlen(hex) != 2 * n || strspn(hex, "0123456789abcdef") != 2 * n)
			return err_set(EINVAL, "%s: digest '%.80s' is not %s and %zu lowercase hex digits",
				       what, s, algorithms[i].prefix, 2 * n);
		memset(d, 0, sizeof(*d));
		d->alg = algorithms[i].alg;
		hex_decode(hex, d->bytes, n);
		snprintf(d->str, sizeof(d->str), "%s", s);
		return 0;
	}
	return err_set(EINVAL, "%s: digest '%.80s' is not sha256:<hex> or sha512:<hex>", what, s);
}

void image_digest_set(struct image_digest *d, enum digest_alg alg, const uint8_t *bytes)
{
	size_t n = digest_len(alg);

	memset(d, 0, sizeof(*d));
	d->alg = alg;
	memcpy(d->bytes, bytes, n);
	strcpy(d->str, alg == DIGEST_SHA512 ? "sha512:" : "sha256:");
	hex_encode(bytes, n, d->str + 7);
}

bool image_digest_equal(const struct image_digest *a, const struct image_digest *b)
{
	return a->alg == b->alg && !memcmp(a->bytes, b->bytes, digest_len(a->alg));
}

const char *image_digest_short(const struct image_digest *d, char out[13])
{
	snprintf(out, 13, "%s", d->str + 7);
	return out;
}

int image_verifier_init(struct image_verifier *v, const struct image_digest *want)
{
	memset(v, 0, sizeof(*v));
	v->want = want;
	if (want && digest_init(&v->ctx, want->alg))
		return err_set(ENOMEM, "out of memory");
	return 0;
}

void image_verifier_update(struct image_verifier *v, const void *buf, size_t len)
{
	if (v->want)
		digest_update(&v->ctx, buf, len);
	v->bytes += len;
}

int image_verifier_finish(struct image_verifier *v, const char *what)
{
	struct image_digest got;
	uint8_t md[DIGEST_MAX_LEN];

	if (!v->want)
		return 0;
	digest_final(&v->ctx, md);
	image_digest_set(&got, v->want->alg, md);
	if (!image_digest_equal(&got, v->want))
		return err_set(EBADMSG, "%s does not match its digest: expected %s, got %s", what,
			       v->want->str, got.str);
	return 0;
}

void image_verifier_free(struct image_verifier *v)
{
	digest_free(&v->ctx);
}

int image_digest_verify_buf(const struct image_digest *want, const void *buf, size_t len, const char *what)
{
	struct image_verifier v;
	int ret = image_verifier_init(&v, want);

	if (ret)
		return ret;
	image_verifier_update(&v, buf, len);
	return image_verifier_finish(&v, what);
}
