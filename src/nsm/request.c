// SPDX-License-Identifier: MIT
/*
 * NSM requests and responses in nsm-api's CBOR (serde_cbor, externally tagged enums; aws-nitro-enclaves-nsm-api):
 *
 *   "DescribeNSM" | "GetRandom"                                   unit requests: a bare text string
 *   {"DescribePCR": {"index": u16}}   {"LockPCR": {"index": u16}}   {"LockPCRs": {"range": u16}}
 *   {"ExtendPCR": {"index": u16, "data": bstr}}
 *   {"Attestation": {"user_data": bstr|null, "nonce": bstr|null, "public_key": bstr|null}}
 *
 * Responses mirror them, fields in nsm-api's declared order; unit responses ("LockPCR", "LockPCRs") are bare
 * text; failures are {"Error": "<ErrorCode>"}.
 *
 * Which error for what (QEMU's model and nsm-check agree where they speak; the rest is chosen and documented in
 * docs/attestation.md):
 *   InputTooLarge     request over 4096 bytes; Attestation field over 1024 bytes
 *   InvalidOperation  not CBOR, trailing bytes, an unknown request, the wrong shape for a known one
 *   InvalidArgument   a known request whose fields are missing, repeated or of the wrong type
 *   InvalidIndex      index >= 32, LockPCRs range > 32
 *   ReadOnlyIndex     ExtendPCR or LockPCR on a locked PCR
 *   BufferTooSmall    the response does not fit the buffer the guest gave
 *   InternalError     no entropy, no signing key, signing failed
 * Fields a request does not know are ignored, as serde does.
 *
 * The boot measurement may still be running when the guest asks (nsm_config.boot_pending: the hypervisor
 * measures the image file on a thread of its own while the enclave boots).  Every request that reads or changes
 * the PCR bank -- DescribePCR, ExtendPCR, LockPCR, LockPCRs, Attestation, and DescribeNSM, which lists the locked
 * PCRs that LockPCR changes -- waits for it, in a queue of NSM_ASYNC_MAX (one per request the device can hold),
 * and is answered in the order it came once nsm_boot_measured() runs; while any waits, later ones queue behind,
 * so no answer shows the bank in an order the guest did not ask in.  GetRandom and malformed or unknown requests
 * touch no PCR and are answered at once.
 */
#include "nsm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/cbor.h"
#include "common/util.h"
#include "worker.h"

/* The requests that wait for the boot measurement, as they came. */
struct nsm_waiting {
	uint64_t tag;
	size_t cap, len;
	uint8_t req[NSM_REQUEST_MAX];
};

enum nsm_boot_state {
	NSM_BOOT_READY = 0,
	NSM_BOOT_PENDING, /* PCR0/1/2 are being measured */
	NSM_BOOT_FAILED,  /* they never will be: the bank's requests answer InternalError */
};

/*
 * The device calls under its own lock, one request at a time; the lock here is for the measurement's thread,
 * which fills PCR0/1/2 and answers what waited.
 */
struct nsm {
	pthread_mutex_t lock;
	pthread_cond_t measured; /* boot is no longer pending and nothing waits */
	enum nsm_boot_state boot;
	struct nsm_waiting waiting[NSM_ASYNC_MAX];
	unsigned int wait_head, nwaiting;
	uint8_t wait_resp[NSM_RESPONSE_MAX]; /* the answer of the one that waited, on its way to done */
	nsm_done_fn *done;
	void *done_opaque;

	struct nsm_pcrs pcrs;
	char module_id[NSM_MODULE_ID_MAX];
	bool debug_mode;
	struct nsm_worker *worker; /* signs: on its thread (nsm_submit) or the caller's (nsm_handle) */
	nsm_random_fn *random;
	nsm_clock_fn *clock_ms;
	struct nsm_attest_job job; /* an Attestation being taken; the worker keeps its own copy */
};

/* How the request being answered wants an Attestation done, and what became of it. */
struct answer {
	bool defer;	/* sign on the worker's thread (nsm_submit) */
	uint64_t tag;	/* the caller's, for the worker's answer */
	uint8_t *resp;	/* where an answer given whole goes (cap bytes) */
	size_t cap;
	bool given;	/* the answer is len bytes in resp already, or NSM_PENDING */
	size_t len;
};

static const char *const error_names[NSM_E_COUNT] = {
	[NSM_E_SUCCESS] = "Success",
	[NSM_E_INVALID_ARGUMENT] = "InvalidArgument",
	[NSM_E_INVALID_INDEX] = "InvalidIndex",
	[NSM_E_INVALID_RESPONSE] = "InvalidResponse",
	[NSM_E_READ_ONLY_INDEX] = "ReadOnlyIndex",
	[NSM_E_INVALID_OPERATION] = "InvalidOperation",
	[NSM_E_BUFFER_TOO_SMALL] = "BufferTooSmall",
	[NSM_E_INPUT_TOO_LARGE] = "InputTooLarge",
	[NSM_E_INTERNAL_ERROR] = "InternalError",
};

const char *nsm_error_name(enum nsm_error e)
{
	return (unsigned int)e < NSM_E_COUNT ? error_names[e] : NULL;
}

static int default_random(void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = getrandom((uint8_t *)buf + done, len - done, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

static uint64_t default_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct nsm *nsm_create(const struct nsm_config *c)
{
	struct nsm *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	snprintf(n->module_id, sizeof(n->module_id), "%s", c->module_id);
	n->debug_mode = c->debug_mode;
	n->boot = c->boot_pending ? NSM_BOOT_PENDING : NSM_BOOT_READY;
	n->worker = nsm_worker_new(n->module_id, c->signer, c->certifier);
	if (!n->worker) {
		free(n);
		return NULL;
	}
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->measured, NULL);
	nsm_pcrs_boot(&n->pcrs, c->boot);
	nsm_set_sources(n, NULL, NULL);
	return n;
}

void nsm_free(struct nsm *n)
{
	if (!n)
		return;
	nsm_worker_free(n->worker);
	pthread_cond_destroy(&n->measured);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

void nsm_start(struct nsm *n)
{
	nsm_worker_start(n->worker);
}

void nsm_set_done(struct nsm *n, nsm_done_fn *done, void *opaque)
{
	pthread_mutex_lock(&n->lock);
	n->done = done;
	n->done_opaque = opaque;
	pthread_mutex_unlock(&n->lock);
	nsm_worker_set_done(n->worker, done, opaque);
}

struct nsm_signer *nsm_detach_signer(struct nsm *n)
{
	return nsm_worker_detach_signer(n->worker);
}

void nsm_set_sources(struct nsm *n, nsm_random_fn *random, nsm_clock_fn *clock_ms)
{
	n->random = random ? random : default_random;
	n->clock_ms = clock_ms ? clock_ms : default_clock_ms;
}

const struct nsm_pcrs *nsm_pcrs(const struct nsm *n)
{
	return &n->pcrs;
}

const char *nsm_module_id(const struct nsm *n)
{
	return n->module_id;
}

size_t nsm_encode_error(enum nsm_error e, uint8_t *out, size_t cap)
{
	struct cbor_enc enc;
	const char *name = nsm_error_name(e);

	cbor_enc_init(&enc, out, cap);
	cbor_enc_map(&enc, 1);
	cbor_enc_text(&enc, "Error");
	cbor_enc_text(&enc, name ? name : "InternalError");
	return enc.failed ? 0 : enc.len;
}

/* ---- request fields ---- */

/* u16 fields: PCR indexes and ranges. */
#define FIELD_U16(name) { .key = (name), .type = CBOR_FIELD_UINT, .max = UINT16_MAX, .required = true }

/*
 * The fields map of a request: {name: value, ...}, at depth 1 under the request's name.  Returns NSM_E_SUCCESS
 * with every field filled, or the error the request earns: malformed CBOR anywhere is InvalidOperation;
 * well-formed but wrong fields (repeated, mistyped, out of range, missing, a key that is not text)
 * InvalidArgument.  Text keys a request does not know are ignored, as serde does.
 */
static enum nsm_error parse_fields(struct cbor_dec *d, struct cbor_field *f, unsigned int nf)
{
	switch (cbor_map_read(d, 1, UINT64_MAX, CBOR_MAP_SKIP_UNKNOWN, f, nf, NULL)) {
	case CBOR_MAP_OK:
		return NSM_E_SUCCESS;
	case CBOR_MAP_MALFORMED:
		return NSM_E_INVALID_OPERATION;
	default:
		return NSM_E_INVALID_ARGUMENT;
	}
}

/* ---- responses ---- */

/* {"Name": {  -- the caller adds n fields */
static void begin_response(struct cbor_enc *e, const char *name, size_t n)
{
	cbor_enc_map(e, 1);
	cbor_enc_text(e, name);
	cbor_enc_map(e, n);
}

static enum nsm_error describe_nsm(struct nsm *n, struct cbor_enc *e)
{
	unsigned int nlocked = 0;

	for (unsigned int i = 0; i < NSM_MAX_PCRS; i++)
		nlocked += n->pcrs.locked[i];
	begin_response(e, "DescribeNSM", 7);
	cbor_enc_text(e, "version_major");
	cbor_enc_uint(e, NSM_VERSION_MAJOR);
	cbor_enc_text(e, "version_minor");
	cbor_enc_uint(e, NSM_VERSION_MINOR);
	cbor_enc_text(e, "version_patch");
	cbor_enc_uint(e, NSM_VERSION_PATCH);
	cbor_enc_text(e, "module_id");
	cbor_enc_text(e, n->module_id);
	cbor_enc_text(e, "max_pcrs");
	cbor_enc_uint(e, NSM_MAX_PCRS);
	cbor_enc_text(e, "locked_pcrs");
	cbor_enc_array(e, nlocked);
	for (unsigned int i = 0; i < NSM_MAX_PCRS; i++)
		if (n->pcrs.locked[i])
			cbor_enc_uint(e, i);
	cbor_enc_text(e, "digest");
	cbor_enc_text(e, "SHA384");
	return NSM_E_SUCCESS;
}

static enum nsm_error get_random(struct nsm *n, struct cbor_enc *e)
{
	uint8_t buf[NSM_RANDOM_BYTES];

	if (n->random(buf, sizeof(buf)))
		return NSM_E_INTERNAL_ERROR;
	/* Exactly A1 69 "GetRandom" A1 66 "random" 59 01 00: the Linux hwrng reader parses this prefix. */
	begin_response(e, "GetRandom", 1);
	cbor_enc_text(e, "random");
	cbor_enc_bytes(e, buf, sizeof(buf));
	explicit_bzero(buf, sizeof(buf));
	return NSM_E_SUCCESS;
}

static enum nsm_error describe_pcr(struct nsm *n, struct cbor_dec *d, struct cbor_enc *e)
{
	struct cbor_field f[] = { FIELD_U16("index") };
	enum nsm_error err = parse_fields(d, f, ARRAY_SIZE(f));

	if (err)
		return err;
	if (f[0].u >= NSM_MAX_PCRS)
		return NSM_E_INVALID_INDEX;
	begin_response(e, "DescribePCR", 2);
	cbor_enc_text(e, "lock");
	cbor_enc_bool(e, n->pcrs.locked[f[0].u]);
	cbor_enc_text(e, "data");
	cbor_enc_bytes(e, n->pcrs.value[f[0].u], NSM_PCR_LEN);
	return NSM_E_SUCCESS;
}

static enum nsm_error extend_pcr(struct nsm *n, struct cbor_dec *d, struct cbor_enc *e)
{
	struct cbor_field f[] = { FIELD_U16("index"), { .key = "data", .type = CBOR_FIELD_BYTES, .required = true } };
	enum nsm_error err = parse_fields(d, f, ARRAY_SIZE(f));

	if (!err)
		err = nsm_pcr_extend(&n->pcrs, f[0].u, f[1].data, f[1].len);
	if (err)
		return err;
	begin_response(e, "ExtendPCR", 1);
	cbor_enc_text(e, "data");
	cbor_enc_bytes(e, n->pcrs.value[f[0].u], NSM_PCR_LEN);
	return NSM_E_SUCCESS;
}

static enum nsm_error lock_pcr(struct nsm *n, struct cbor_dec *d, struct cbor_enc *e, bool range)
{
	struct cbor_field f[] = { FIELD_U16(range ? "range" : "index") };
	enum nsm_error err = parse_fields(d, f, ARRAY_SIZE(f));

	if (!err)
		err = range ? nsm_pcr_lock_range(&n->pcrs, f[0].u) : nsm_pcr_lock(&n->pcrs, f[0].u);
	if (err)
		return err;
	cbor_enc_text(e, range ? "LockPCRs" : "LockPCR");
	return NSM_E_SUCCESS;
}

size_t nsm_attest_answer(struct nsm_signer *s, const char *module_id, const struct nsm_attest_job *j,
			 uint8_t doc[NSM_RESPONSE_MAX], uint8_t *resp)
{
	const struct nsm_doc_input in = {
		.module_id = module_id,
		.timestamp_ms = j->timestamp_ms,
		.pcrs = &j->pcrs,
		.zero_pcrs = j->zero_pcrs,
		.user_data = j->field[NSM_FIELD_USER_DATA].present ? j->field[NSM_FIELD_USER_DATA].data : NULL,
		.user_data_len = j->field[NSM_FIELD_USER_DATA].len,
		.nonce = j->field[NSM_FIELD_NONCE].present ? j->field[NSM_FIELD_NONCE].data : NULL,
		.nonce_len = j->field[NSM_FIELD_NONCE].len,
		.public_key = j->field[NSM_FIELD_PUBLIC_KEY].present ? j->field[NSM_FIELD_PUBLIC_KEY].data : NULL,
		.public_key_len = j->field[NSM_FIELD_PUBLIC_KEY].len,
	};
	enum nsm_error err = NSM_E_INTERNAL_ERROR;
	struct cbor_enc e;
	size_t len = 0;
	int ret = -EIO;

	if (s)
		ret = nsm_attestation_document(s, &in, doc, NSM_RESPONSE_MAX, &len);
	if (ret == -ENOSPC)
		err = NSM_E_BUFFER_TOO_SMALL;
	if (ret)
		goto fail;
	cbor_enc_init(&e, resp, j->cap);
	begin_response(&e, "Attestation", 1);
	cbor_enc_text(&e, "document");
	cbor_enc_bytes(&e, doc, len);
	if (!e.failed)
		return e.len;
	err = NSM_E_BUFFER_TOO_SMALL;
fail:
	return nsm_encode_error(err, resp, j->cap);
}

/*
 * The request's fields and the PCRs, copied into n->job: the guest may change both while the document is
 * signed, and the document must show them as they were when it asked.
 */
static enum nsm_error take_attestation(struct nsm *n, struct cbor_dec *d, const struct answer *a)
{
	struct cbor_field f[NSM_ATTEST_FIELDS] = {
		[NSM_FIELD_USER_DATA] = { .key = "user_data", .type = CBOR_FIELD_BYTES_OR_NULL },
		[NSM_FIELD_NONCE] = { .key = "nonce", .type = CBOR_FIELD_BYTES_OR_NULL },
		[NSM_FIELD_PUBLIC_KEY] = { .key = "public_key", .type = CBOR_FIELD_BYTES_OR_NULL },
	};
	enum nsm_error err = parse_fields(d, f, ARRAY_SIZE(f));
	struct nsm_attest_job *j = &n->job;

	if (err)
		return err;
	for (unsigned int i = 0; i < ARRAY_SIZE(f); i++)
		if (f[i].data && f[i].len > NSM_ATTESTATION_FIELD_MAX)
			return NSM_E_INPUT_TOO_LARGE;
	j->tag = a->tag;
	j->cap = a->cap;
	j->timestamp_ms = n->clock_ms();
	j->zero_pcrs = n->debug_mode;
	j->pcrs = n->pcrs;
	for (unsigned int i = 0; i < ARRAY_SIZE(f); i++) {
		j->field[i].present = f[i].data != NULL;
		j->field[i].len = f[i].data ? f[i].len : 0;
		memcpy(j->field[i].data, f[i].data ? f[i].data : j->field[i].data, j->field[i].len);
	}
	return NSM_E_SUCCESS;
}

/* Signed here (nsm_handle) or handed to the worker (nsm_submit): either way the answer is given whole. */
static enum nsm_error attestation(struct nsm *n, struct cbor_dec *d, struct answer *a)
{
	enum nsm_error err = take_attestation(n, d, a);

	if (err)
		return err;
	if (a->defer && nsm_worker_async(n->worker)) {
		if (nsm_worker_submit(n->worker, &n->job))
			return NSM_E_INTERNAL_ERROR;
		a->len = NSM_PENDING;
	} else {
		a->len = nsm_worker_run(n->worker, &n->job, a->resp);
	}
	a->given = true;
	return NSM_E_SUCCESS;
}

/* The request's root: a bare name, or {name: fields}. */
static enum nsm_error dispatch(struct nsm *n, struct cbor_dec *d, struct cbor_enc *e, struct answer *a)
{
	struct cbor_head h, name;
	enum nsm_error err;

	if (cbor_dec_head(d, &h))
		return NSM_E_INVALID_OPERATION;
	if (h.major == CBOR_TEXT) {
		if (cbor_dec_left(d))
			return NSM_E_INVALID_OPERATION;
		if (cbor_head_is_text(&h, "DescribeNSM"))
			return describe_nsm(n, e);
		if (cbor_head_is_text(&h, "GetRandom"))
			return get_random(n, e);
		return NSM_E_INVALID_OPERATION;
	}
	if (h.major != CBOR_MAP || h.arg != 1 || cbor_dec_head(d, &name) || name.major != CBOR_TEXT)
		return NSM_E_INVALID_OPERATION;
	/* The whole request must be well-formed before any of it acts: check the end first. */
	{
		struct cbor_dec probe = *d;
		struct cbor_head v;

		if (cbor_dec_head(&probe, &v) || cbor_dec_skip(&probe, &v, 1) || cbor_dec_left(&probe))
			return NSM_E_INVALID_OPERATION;
	}
	if (cbor_head_is_text(&name, "DescribePCR"))
		err = describe_pcr(n, d, e);
	else if (cbor_head_is_text(&name, "ExtendPCR"))
		err = extend_pcr(n, d, e);
	else if (cbor_head_is_text(&name, "LockPCR"))
		err = lock_pcr(n, d, e, false);
	else if (cbor_head_is_text(&name, "LockPCRs"))
		err = lock_pcr(n, d, e, true);
	else if (cbor_head_is_text(&name, "Attestation"))
		err = attestation(n, d, a);
	else
		err = NSM_E_INVALID_OPERATION;
	return err;
}

/* Whether a request reads or changes the PCR bank (values or lock bits): such requests wait for the measurement. */
static bool touches_pcrs(const uint8_t *req, size_t len)
{
	static const char *const names[] = { "DescribePCR", "ExtendPCR", "LockPCR", "LockPCRs", "Attestation" };
	struct cbor_head h, name;
	struct cbor_dec d;

	if (len > NSM_REQUEST_MAX)
		return false;
	cbor_dec_init(&d, req, len, NSM_CBOR_FLAGS, NSM_CBOR_MAX_DEPTH);
	if (cbor_dec_head(&d, &h))
		return false;
	if (h.major == CBOR_TEXT)
		return cbor_head_is_text(&h, "DescribeNSM");
	if (h.major != CBOR_MAP || h.arg != 1 || cbor_dec_head(&d, &name) || name.major != CBOR_TEXT)
		return false;
	for (unsigned int i = 0; i < ARRAY_SIZE(names); i++)
		if (cbor_head_is_text(&name, names[i]))
			return true;
	return false;
}

static size_t answer(struct nsm *n, const uint8_t *req, size_t len, struct answer *a)
{
	enum nsm_error err = NSM_E_INPUT_TOO_LARGE;
	struct cbor_dec d;
	struct cbor_enc e;

	cbor_enc_init(&e, a->resp, a->cap);
	if (n->boot != NSM_BOOT_READY && touches_pcrs(req, len))
		err = NSM_E_INTERNAL_ERROR; /* the measurement failed, or no room to wait for it */
	else if (len <= NSM_REQUEST_MAX) {
		cbor_dec_init(&d, req, len, NSM_CBOR_FLAGS, NSM_CBOR_MAX_DEPTH);
		err = dispatch(n, &d, &e, a);
	}
	if (!err && a->given)
		return a->len;
	if (!err && e.failed)
		err = NSM_E_BUFFER_TOO_SMALL;
	if (!err)
		return e.len;
	return nsm_encode_error(err, a->resp, a->cap);
}

/*
 * n->lock held.  Whether the request waits for the measurement: queued when its answer can come later (true),
 * else waited for here.  A full queue (more than the device holds) is left to answer(): InternalError.
 */
static bool wait_for_boot(struct nsm *n, const uint8_t *req, size_t len, const struct answer *a)
{
	struct nsm_waiting *w;

	if ((n->boot != NSM_BOOT_PENDING && !n->nwaiting) || !touches_pcrs(req, len))
		return false;
	if (!a->defer || !n->done) {
		while (n->boot == NSM_BOOT_PENDING || n->nwaiting)
			pthread_cond_wait(&n->measured, &n->lock);
		return false;
	}
	if (n->nwaiting == NSM_ASYNC_MAX)
		return false;
	w = &n->waiting[(n->wait_head + n->nwaiting++) % NSM_ASYNC_MAX];
	w->tag = a->tag;
	w->cap = MIN(a->cap, sizeof(n->wait_resp));
	w->len = len;
	memcpy(w->req, req, len);
	return true;
}

static size_t take(struct nsm *n, const uint8_t *req, size_t len, struct answer *a)
{
	size_t ret = NSM_PENDING;

	pthread_mutex_lock(&n->lock);
	if (!wait_for_boot(n, req, len, a))
		ret = answer(n, req, len, a);
	pthread_mutex_unlock(&n->lock);
	return ret;
}

size_t nsm_handle(struct nsm *n, const uint8_t *req, size_t len, uint8_t *resp, size_t cap)
{
	struct answer a = { .resp = resp, .cap = cap };

	return take(n, req, len, &a);
}

size_t nsm_submit(struct nsm *n, const uint8_t *req, size_t len, uint8_t *resp, size_t cap, uint64_t tag)
{
	struct answer a = { .defer = true, .tag = tag, .resp = resp, .cap = cap };

	return take(n, req, len, &a);
}

void nsm_boot_measured(struct nsm *n, const struct nsm_boot *b)
{
	pthread_mutex_lock(&n->lock);
	if (b) {
		memcpy(n->pcrs.value[0], b->pcr0, NSM_PCR_LEN);
		memcpy(n->pcrs.value[1], b->pcr1, NSM_PCR_LEN);
		memcpy(n->pcrs.value[2], b->pcr2, NSM_PCR_LEN);
	}
	n->boot = b ? NSM_BOOT_READY : NSM_BOOT_FAILED;
	/* In order; the lock is let go around done (which takes the device's), and what comes meanwhile queues. */
	while (n->nwaiting) {
		struct nsm_waiting *w = &n->waiting[n->wait_head];
		struct answer a = { .defer = true, .tag = w->tag, .resp = n->wait_resp, .cap = w->cap };
		size_t len = answer(n, w->req, w->len, &a);
		nsm_done_fn *done = n->done;
		void *opaque = n->done_opaque;

		n->wait_head = (n->wait_head + 1) % NSM_ASYNC_MAX;
		n->nwaiting--;
		if (len == NSM_PENDING || !done)
			continue; /* an Attestation: the worker answers it */
		pthread_mutex_unlock(&n->lock);
		done(opaque, a.tag, n->wait_resp, len);
		pthread_mutex_lock(&n->lock);
	}
	pthread_cond_broadcast(&n->measured);
	pthread_mutex_unlock(&n->lock);
}
