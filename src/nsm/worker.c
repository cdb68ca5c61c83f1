// SPDX-License-Identifier: MIT
/*
 * The NSM's worker thread: everything slow that an Attestation needs, off the thread that serves the device,
 * vsock and the console.  That is a P-384 signature per document (1.2-1.5 ms here, tens of milliseconds in the
 * nested tier), the leaf's renewal every two hours (a request to the issuer process and its answer), and at the
 * start the enclave's key and its first certificate, which wait for the issuer to open the CA.
 *
 * Jobs (worker.h) queue in a ring of NSM_ASYNC_MAX and are signed one at a time, in order; each answer goes to
 * the done callback from this thread.  The signer is prepared once, as soon as the thread starts, so the first
 * Attestation normally finds it ready; if it cannot be made, that is said once and every Attestation answers
 * InternalError.
 */
#include "worker.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"

struct nsm_worker {
	pthread_mutex_t lock; /* the ring, stop, done; held only to queue or take a job, never while signing */
	pthread_cond_t wake;
	pthread_t thread;
	bool started, stop;
	nsm_done_fn *done;
	void *done_opaque;
	struct nsm_attest_job ring[NSM_ASYNC_MAX];
	unsigned int head, count;

	/* Used by one signing thread at a time: the worker's, or nsm_handle's caller (sign_lock). */
	pthread_mutex_t sign_lock;
	const char *module_id;
	struct nsm_signer *signer;
	struct nsm_certifier *certifier; /* until the signer is made from it */
	bool signer_failed;
	struct nsm_attest_job job; /* the one being signed */
	uint8_t doc[NSM_RESPONSE_MAX];
	uint8_t resp[NSM_RESPONSE_MAX];
};

struct nsm_worker *nsm_worker_new(const char *module_id, struct nsm_signer *signer,
				  struct nsm_certifier *certifier)
{
	struct nsm_worker *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	pthread_mutex_init(&w->lock, NULL);
	pthread_mutex_init(&w->sign_lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	w->module_id = module_id;
	w->signer = signer;
	w->certifier = certifier;
	return w;
}

/* sign_lock held.  The signer, made from the certifier the first time: the key, then its certificate. */
static struct nsm_signer *worker_signer(struct nsm_worker *w)
{
	struct nsm_certifier *c = w->certifier;

	if (w->signer || w->signer_failed)
		return w->signer;
	w->certifier = NULL;
	if (!c || nsm_signer_new(c, w->module_id, time(NULL), &w->signer)) {
		/* No caller to return this to: say it once, here; Attestation answers InternalError from now on. */
		fprintf(stderr, "nitrovm: the NSM cannot sign attestation documents (Attestation will answer "
				"InternalError): %s\n", c ? err_msg() : "no certificate issuer");
		w->signer_failed = true;
	}
	/*
	 * OpenSSL's scratch memory (key generation, certificate parsing) is free now but still resident in this
	 * thread's malloc arena: give it back, the VMM idles for the enclave's whole life.
	 */
	malloc_trim(0);
	return w->signer;
}

static void *worker_main(void *arg)
{
	struct nsm_worker *w = arg;
	nsm_done_fn *done;
	void *opaque;
	size_t len;

	pthread_mutex_lock(&w->sign_lock);
	worker_signer(w);
	pthread_mutex_unlock(&w->sign_lock);
	for (;;) {
		pthread_mutex_lock(&w->lock);
		while (!w->stop && !w->count)
			pthread_cond_wait(&w->wake, &w->lock);
		if (w->stop) {
			pthread_mutex_unlock(&w->lock);
			return NULL;
		}
		w->job = w->ring[w->head];
		w->head = (w->head + 1) % NSM_ASYNC_MAX;
		w->count--;
		done = w->done;
		opaque = w->done_opaque;
		pthread_mutex_unlock(&w->lock);
		len = nsm_worker_run(w, &w->job, w->resp);
		if (done)
			done(opaque, w->job.tag, w->resp, len);
	}
}

void nsm_worker_start(struct nsm_worker *w)
{
	if (w->started)
		return;
	/* Without a thread, jobs wait: nothing can sign them, and saying so once is the signer's business. */
	if (pthread_create(&w->thread, NULL, worker_main, w)) {
		fprintf(stderr, "nitrovm: cannot start the NSM's signing thread; Attestation requests will wait\n");
		return;
	}
	w->started = true;
}

void nsm_worker_free(struct nsm_worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	if (w->started)
		pthread_join(w->thread, NULL);
	nsm_signer_free(w->signer);
	if (w->certifier)
		w->certifier->free(w->certifier);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->sign_lock);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

void nsm_worker_set_done(struct nsm_worker *w, nsm_done_fn *done, void *opaque)
{
	pthread_mutex_lock(&w->lock);
	w->done = done;
	w->done_opaque = opaque;
	pthread_mutex_unlock(&w->lock);
}

bool nsm_worker_async(struct nsm_worker *w)
{
	bool async;

	pthread_mutex_lock(&w->lock);
	async = w->done != NULL;
	pthread_mutex_unlock(&w->lock);
	return async;
}

int nsm_worker_submit(struct nsm_worker *w, const struct nsm_attest_job *j)
{
	int ret = 0;

	pthread_mutex_lock(&w->lock);
	if (w->count == NSM_ASYNC_MAX) {
		ret = -EBUSY;
	} else {
		w->ring[(w->head + w->count) % NSM_ASYNC_MAX] = *j;
		w->count++;
		pthread_cond_signal(&w->wake);
	}
	pthread_mutex_unlock(&w->lock);
	return ret;
}

size_t nsm_worker_run(struct nsm_worker *w, const struct nsm_attest_job *j, uint8_t *resp)
{
	size_t len;

	pthread_mutex_lock(&w->sign_lock);
	len = nsm_attest_answer(worker_signer(w), w->module_id, j, w->doc, resp);
	pthread_mutex_unlock(&w->sign_lock);
	return len;
}

struct nsm_signer *nsm_worker_detach_signer(struct nsm_worker *w)
{
	struct nsm_signer *s;

	pthread_mutex_lock(&w->sign_lock);
	s = worker_signer(w);
	w->signer = NULL;
	w->signer_failed = true;
	pthread_mutex_unlock(&w->sign_lock);
	return s;
}
