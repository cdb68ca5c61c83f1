// SPDX-License-Identifier: MIT
/*
 * The issuer's policy (issuer.h): what it certifies, for whom, how often.
 *
 *   - one enclave id: the first bind names it, and it never changes (the enclave process binds before its
 *     guest runs, so no guest can have chosen it);
 *   - one key: the first public key certified is the only one certified after (renewals keep the key, as the
 *     NSM always has), so a compromised enclave process cannot have keys of its choosing certified;
 *   - a token bucket: NSM_ISSUER_BURST certificates at once, then one per NSM_ISSUER_REFILL_SECS on the
 *     monotonic clock the caller gives.
 *
 * Refusals are sentences in the reply and lines on the issuer's stderr (the enclave's log), so that whoever
 * reads the log later sees that something asked for what it should not have.
 */
#include "issuer.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/* Refusals logged over the issuer's life: enough to see what was asked for, too few to flood the log. */
#define ISSUER_LOG_BUDGET 16

struct nsm_issuer {
	char state_dir[PATH_MAX];
	struct nsm_ca *ca;
	unsigned int log_budget;
	int ca_errno; /* the CA could not be opened: this, and ca_error, answer every issue */
	char ca_error[NSM_ISSUER_MESSAGE_MAX];
	bool bound;
	char id[NSM_MODULE_ID_MAX];
	EVP_PKEY *key; /* the first key certified: the only one from then on */
	unsigned int tokens;
	uint64_t refilled; /* when the bucket last gained a token, or was last full */
};

int nsm_issuer_new(const char *state_dir, struct nsm_issuer **out)
{
	struct nsm_issuer *is = calloc(1, sizeof(*is));

	*out = NULL;
	if (!is)
		return err_set(ENOMEM, "out of memory");
	snprintf(is->state_dir, sizeof(is->state_dir), "%s", state_dir);
	is->tokens = NSM_ISSUER_BURST;
	is->log_budget = ISSUER_LOG_BUDGET;
	*out = is;
	return 0;
}

/* At the bind, which a launch makes only once its enclave is about to run: a failed launch makes no chain. */
static void open_ca(struct nsm_issuer *is, time_t now)
{
	int ret = nsm_ca_open(is->state_dir, now, &is->ca);

	if (ret) {
		is->ca_errno = -ret;
		snprintf(is->ca_error, sizeof(is->ca_error), "the NSM's attestation CA: %s", err_msg());
	}
}

void nsm_issuer_free(struct nsm_issuer *is)
{
	if (!is)
		return;
	nsm_ca_free(is->ca);
	EVP_PKEY_free(is->key);
	free(is);
}

/* One token if there is one, after adding those the time since the last refill has earned. */
static bool take_token(struct nsm_issuer *is, uint64_t mono_s)
{
	uint64_t earned = mono_s > is->refilled ? (mono_s - is->refilled) / NSM_ISSUER_REFILL_SECS : 0;

	if (is->tokens == NSM_ISSUER_BURST) {
		/* A full bucket earns nothing: the clock starts with the first token taken. */
		is->refilled = mono_s;
	} else if (earned) {
		is->tokens = (unsigned int)MIN((uint64_t)NSM_ISSUER_BURST, is->tokens + earned);
		is->refilled = is->tokens == NSM_ISSUER_BURST ? mono_s
							      : is->refilled + earned * NSM_ISSUER_REFILL_SECS;
	}
	if (!is->tokens)
		return false;
	is->tokens--;
	return true;
}

static void log_refusal(struct nsm_issuer *is, const char *what)
{
	if (!is->log_budget)
		return;
	fprintf(stderr, "%s: refused: %s\n", NSM_ISSUER_PROC_NAME, what);
	if (!--is->log_budget)
		fprintf(stderr, "%s: further refusals are not logged\n", NSM_ISSUER_PROC_NAME);
}

static size_t refuse(struct nsm_issuer *is, struct nsm_issuer_reply *r, int error, uint8_t *buf, size_t cap,
		     const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static size_t refuse(struct nsm_issuer *is, struct nsm_issuer_reply *r, int error, uint8_t *buf, size_t cap,
		     const char *fmt, ...)
{
	va_list ap;

	r->error = error;
	va_start(ap, fmt);
	vsnprintf(r->message, sizeof(r->message), fmt, ap);
	va_end(ap);
	log_refusal(is, r->message);
	return nsm_issuer_encode_reply(r, buf, cap);
}

static void bind_id(struct nsm_issuer *is, const char *id, time_t now)
{
	char what[2 * NSM_MODULE_ID_MAX + 64];

	if (!is->bound) {
		snprintf(is->id, sizeof(is->id), "%s", id);
		is->bound = true;
		open_ca(is, now);
		return;
	}
	if (!strcmp(is->id, id))
		return;
	snprintf(what, sizeof(what), "already bound to enclave %s, not rebound to %s", is->id, id);
	log_refusal(is, what);
}

/* The request's key as a P-384 public key, or NULL. */
static EVP_PKEY *request_key(const struct nsm_issuer_request *q)
{
	const unsigned char *p = q->key;
	EVP_PKEY *key = d2i_PUBKEY(NULL, &p, (long)q->key_len);
	enum ec_curve curve;

	if (key && (p != q->key + q->key_len || eckey_curve(key, "the key", &curve) || curve != EC_CURVE_P384)) {
		EVP_PKEY_free(key);
		key = NULL;
	}
	ERR_clear_error();
	return key;
}

static size_t certify(struct nsm_issuer *is, EVP_PKEY *key, time_t now, struct nsm_issuer_reply *r, uint8_t *buf,
		      size_t cap)
{
	uint8_t *leaf = NULL;
	time_t end;
	size_t len;
	int ret = nsm_ca_issue_leaf(is->ca, key, is->id, now, &leaf, &r->leaf_len, &end);

	if (ret)
		return refuse(is, r, -ret, buf, cap, "%s", err_msg());
	r->leaf = leaf;
	r->not_after = (uint64_t)end;
	nsm_ca_root_der(is->ca, &r->root, &r->root_len);
	nsm_ca_intermediate_der(is->ca, &r->intermediate, &r->intermediate_len);
	len = nsm_issuer_encode_reply(r, buf, cap);
	free(leaf);
	return len;
}

static size_t issue(struct nsm_issuer *is, const struct nsm_issuer_request *q, time_t now, uint64_t mono_s,
		    uint8_t *buf, size_t cap)
{
	struct nsm_issuer_reply r = { .seq = q->seq };
	EVP_PKEY *key;
	size_t len;

	if (!is->bound)
		return refuse(is, &r, EPERM, buf, cap,
			      "no enclave id was bound to this issuer before its enclave ran");
	if (strcmp(q->id, is->id))
		return refuse(is, &r, EPERM, buf, cap, "this issuer certifies keys of enclave %s only, not of %s",
			      is->id, q->id);
	key = request_key(q);
	if (!key)
		return refuse(is, &r, EINVAL, buf, cap, "the key to certify is not a P-384 public key (DER)");
	if (is->key && EVP_PKEY_eq(is->key, key) != 1) {
		EVP_PKEY_free(key);
		ERR_clear_error();
		return refuse(is, &r, EPERM, buf, cap, "this issuer certifies one key for enclave %s, and this is "
						   "another one", is->id);
	}
	if (is->ca_errno) {
		EVP_PKEY_free(key);
		return refuse(is, &r, is->ca_errno, buf, cap, "%s", is->ca_error);
	}
	if (!take_token(is, mono_s)) {
		EVP_PKEY_free(key);
		return refuse(is, &r, EAGAIN, buf, cap,
			      "too many certificates asked for enclave %s: %d at once, then one every %d s", is->id,
			      NSM_ISSUER_BURST, NSM_ISSUER_REFILL_SECS);
	}
	len = certify(is, key, now, &r, buf, cap);
	if (!r.error && !is->key)
		is->key = key;
	else
		EVP_PKEY_free(key);
	return len;
}

size_t nsm_issuer_handle(struct nsm_issuer *is, const uint8_t *msg, size_t len, time_t now, uint64_t mono_s,
			 uint8_t *reply, size_t cap)
{
	struct nsm_issuer_request q;
	struct nsm_issuer_reply r = { 0 };

	if (nsm_issuer_decode_request(msg, len, &q))
		return refuse(is, &r, EINVAL, reply, cap, "%s", err_msg());
	if (q.op == NSM_ISSUER_BIND) {
		bind_id(is, q.id, now);
		return 0;
	}
	return issue(is, &q, now, mono_s, reply, cap);
}
