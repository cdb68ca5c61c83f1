// SPDX-License-Identifier: MIT
/*
 * A certifier over a CA opened in this process (nsm.h, struct nsm_certifier): what tests, fuzzers and tools
 * use.  The VMM does not: its leaf is certified by the issuer process (issuer.h), so that the intermediate's
 * key never lives where the guest's bytes are parsed.
 */
#include "nsm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

struct ca_certifier {
	struct nsm_certifier ops;
	struct nsm_ca *ca;
};

void nsm_leaf_free(struct nsm_leaf *l)
{
	free(l->cert);
	free(l->root);
	free(l->intermediate);
	memset(l, 0, sizeof(*l));
}

static int dup_der(const uint8_t *der, size_t len, uint8_t **out, size_t *out_len)
{
	*out = malloc(len);
	if (!*out)
		return err_set(ENOMEM, "out of memory");
	memcpy(*out, der, len);
	*out_len = len;
	return 0;
}

static int ca_issue(struct nsm_certifier *c, struct evp_pkey_st *key, const char *name, time_t now,
		    struct nsm_leaf *out)
{
	struct nsm_ca *ca = ((struct ca_certifier *)c)->ca;
	const uint8_t *der;
	size_t len;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = nsm_ca_issue_leaf(ca, key, name, now, &out->cert, &out->cert_len, &out->not_after);
	/* After the issue: it may have replaced the intermediate. */
	if (!ret) {
		nsm_ca_root_der(ca, &der, &len);
		ret = dup_der(der, len, &out->root, &out->root_len);
	}
	if (!ret) {
		nsm_ca_intermediate_der(ca, &der, &len);
		ret = dup_der(der, len, &out->intermediate, &out->intermediate_len);
	}
	if (ret)
		nsm_leaf_free(out);
	return ret;
}

static void ca_free(struct nsm_certifier *c)
{
	struct ca_certifier *cc = (struct ca_certifier *)c;

	nsm_ca_free(cc->ca);
	free(cc);
}

struct nsm_certifier *nsm_ca_certifier(struct nsm_ca *ca)
{
	struct ca_certifier *cc = calloc(1, sizeof(*cc));

	if (!cc) {
		nsm_ca_free(ca);
		err_set(ENOMEM, "out of memory");
		return NULL;
	}
	cc->ops = (struct nsm_certifier){ .issue = ca_issue, .free = ca_free };
	cc->ca = ca;
	return &cc->ops;
}

struct nsm_ca *nsm_certifier_ca(struct nsm_certifier *c)
{
	return c && c->issue == ca_issue ? ((struct ca_certifier *)c)->ca : NULL;
}
