/* SPDX-License-Identifier: MIT */
/*
 * Private to the NSM module: the requests (request.c) and the worker thread that signs (worker.c).
 *
 * An Attestation is taken on the caller's thread (the device's, which also serves vsock and the console) as a
 * job: the request's fields and the PCRs copied as they are at that moment, so that what the document attests
 * is what the guest saw when it asked, whatever it does while the document is signed.  The worker makes the
 * document and hands the answer back through the module's done callback.
 */
#ifndef NITROVM_NSM_WORKER_H
#define NITROVM_NSM_WORKER_H

#include <pthread.h>

#include "nsm.h"

/* The Attestation request's optional fields, in nsm-api's declared order. */
enum nsm_attest_field {
	NSM_FIELD_USER_DATA,
	NSM_FIELD_NONCE,
	NSM_FIELD_PUBLIC_KEY,
	NSM_ATTEST_FIELDS,
};

struct nsm_attest_job {
	uint64_t tag; /* the device's, returned with the answer */
	size_t cap;   /* the response buffer the guest gave */
	uint64_t timestamp_ms;
	bool zero_pcrs;
	struct nsm_pcrs pcrs;
	struct {
		bool present; /* false: null or absent */
		size_t len;
		uint8_t data[NSM_ATTESTATION_FIELD_MAX];
	} field[NSM_ATTEST_FIELDS];
};

/* request.c: {"Attestation": {"document": ...}} for the job, or {"Error": ...}, into resp (job->cap bytes). */
size_t nsm_attest_answer(struct nsm_signer *s, const char *module_id, const struct nsm_attest_job *j,
			 uint8_t doc[NSM_RESPONSE_MAX], uint8_t *resp);

struct nsm_worker;

/* Takes ownership of signer and certifier (either may be NULL).  module_id must outlive the worker. */
struct nsm_worker *nsm_worker_new(const char *module_id, struct nsm_signer *signer,
				  struct nsm_certifier *certifier);
/* Stops and joins the thread; jobs not done are dropped without an answer. */
void nsm_worker_free(struct nsm_worker *w);
void nsm_worker_set_done(struct nsm_worker *w, nsm_done_fn *done, void *opaque);
void nsm_worker_start(struct nsm_worker *w);
/* Queue a copy of j: 0, or -EBUSY with NSM_ASYNC_MAX jobs waiting already. */
int nsm_worker_submit(struct nsm_worker *w, const struct nsm_attest_job *j);
/* Answer j on the caller's thread (nsm_handle), into resp (j->cap bytes). */
size_t nsm_worker_run(struct nsm_worker *w, const struct nsm_attest_job *j, uint8_t *resp);
/* Whether a done callback is set: without one, every answer is given at once. */
bool nsm_worker_async(struct nsm_worker *w);
struct nsm_signer *nsm_worker_detach_signer(struct nsm_worker *w);

#endif
