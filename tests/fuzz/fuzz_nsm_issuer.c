// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the issuer (src/nsm/issuer.c, issuer_wire.c): what it reads comes from an enclave
 * process that a guest may have taken over.  The input is a run of messages (a 16-bit little-endian length,
 * then the bytes), each handed to one issuer as its socket would, at a clock the input moves; each is also
 * decoded as a reply, as the enclave process decodes what comes back.  Nothing may crash or read past a
 * message; every reply the issuer gives must decode as a reply; a request that decodes must survive being
 * encoded and decoded again unchanged; and nothing but the bound id and the first key is ever certified.
 */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "fuzz_input.h"
#include "nsm/issuer.h"

/* A clock in the CA's validity: the issuer refuses no request for its time. */
#define FUZZ_NOW ((time_t)1790000000)
/* A leaf's subject: CN=<enclave id, cut to fit 64 bytes with this>this (src/nsm/ca.c). */
#define LEAF_CN_SUFFIX ".nitrovm.nitro-enclaves"

static char state_dir[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct nsm_ca *ca;

	(void)argc;
	(void)argv;
	snprintf(state_dir, sizeof(state_dir), "/tmp/nitrovm-fuzz-issuer.XXXXXX");
	/* The chain is made once, here; every input's issuer opens it. */
	if (!mkdtemp(state_dir) || nsm_ca_open(state_dir, FUZZ_NOW, &ca))
		abort();
	nsm_ca_free(ca);
	return 0;
}

static void check_round_trip(const struct nsm_issuer_request *q)
{
	static uint8_t buf[NSM_ISSUER_MSG_MAX];
	struct nsm_issuer_request again;
	size_t len = nsm_issuer_encode_request(q, buf, sizeof(buf));

	if (!len || nsm_issuer_decode_request(buf, len, &again))
		abort();
	if (again.op != q->op || strcmp(again.id, q->id) || again.key_len != q->key_len ||
	    (q->op == NSM_ISSUER_ISSUE && (again.seq != q->seq || memcmp(again.key, q->key, q->key_len))))
		abort();
}

/* A certificate the issuer gave: for the first bound id only, and always for the same key. */
static void check_certified(const struct nsm_issuer_reply *r, const char *bound, uint8_t *first_key,
			    size_t *first_len)
{
	const unsigned char *der = r->leaf;
	X509 *x = d2i_X509(NULL, &der, (long)r->leaf_len);
	unsigned char *spki = NULL;
	char cn[NSM_MODULE_ID_MAX + sizeof(LEAF_CN_SUFFIX)];
	size_t prefix;
	int len;

	if (!x || !bound[0])
		abort();
	len = i2d_PUBKEY(X509_get0_pubkey(x), &spki);
	if (len <= 0 || (size_t)len > NSM_ISSUER_KEY_MAX)
		abort();
	if (!*first_len) {
		memcpy(first_key, spki, (size_t)len);
		*first_len = (size_t)len;
	} else if (*first_len != (size_t)len || memcmp(first_key, spki, (size_t)len)) {
		abort();
	}
	len = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
	if (len <= (int)strlen(LEAF_CN_SUFFIX))
		abort();
	prefix = (size_t)len - strlen(LEAF_CN_SUFFIX);
	if (strcmp(cn + prefix, LEAF_CN_SUFFIX) || prefix > strlen(bound) || strncmp(cn, bound, prefix))
		abort();
	OPENSSL_free(spki);
	X509_free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t reply[NSM_ISSUER_MSG_MAX], first_key[NSM_ISSUER_KEY_MAX];
	struct input in = { data, size };
	struct nsm_issuer *is;
	char bound[NSM_MODULE_ID_MAX] = "";
	size_t first_len = 0;
	uint64_t mono = 0;

	if (nsm_issuer_new(state_dir, &is))
		abort();
	while (in.left) {
		size_t want = take16(&in), len = MIN(want, in.left), rlen;
		uint8_t *msg = malloc(len ? len : 1);
		struct nsm_issuer_request q;
		struct nsm_issuer_reply r;

		if (!msg)
			break;
		memcpy(msg, in.p, len); /* exactly sized, so ASan sees a read past it */
		in.p += len;
		in.left -= len;
		mono += take8(&in) * 60u; /* minutes pass: the rate limit's refill */
		if (!nsm_issuer_decode_request(msg, len, &q)) {
			check_round_trip(&q);
			if (q.op == NSM_ISSUER_BIND && !bound[0])
				snprintf(bound, sizeof(bound), "%s", q.id);
		}
		if (!nsm_issuer_decode_reply(msg, len, &r) && !r.error && (!r.leaf_len || !r.root_len))
			abort();
		rlen = nsm_issuer_handle(is, msg, len, FUZZ_NOW, mono, reply, sizeof(reply));
		free(msg);
		if (!rlen)
			continue;
		if (rlen > sizeof(reply) || nsm_issuer_decode_reply(reply, rlen, &r))
			abort();
		if (!r.error)
			check_certified(&r, bound, first_key, &first_len);
	}
	nsm_issuer_free(is);
	return 0;
}
