// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the NSM's request decoder and dispatcher (src/nsm/request.c): a sequence of requests,
 * each with the response buffer size to answer into, run against one module so that stateful paths (lock,
 * then extend; lock ranges; attestation after locks) are reached.  Requests are copied into exactly-sized heap
 * blocks so AddressSanitizer sees any read past them.
 *
 * Input: repeated { u16 little-endian request length n, u16 response capacity, n bytes of request }.
 *
 * Checked on every answer: it fits the capacity, and it is a CBOR text string or a one-entry map (a response
 * or {"Error": ...}); an answer of 0 bytes only when the capacity cannot hold the smallest error.
 *
 * The same requests then go to a module whose boot measurement is still pending, through nsm_submit as the
 * device sends them: what touches the PCR bank waits, and is answered through the done callback when the
 * measurement comes in (or fails, for inputs of odd length), checked the same way.  Attestations there go to a
 * worker that is not started and are dropped with the module.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nsm/nsm.h"

#define MAX_REQUESTS 16 /* per input: bounds the time one input takes (attestations are signed) */
/* {"Error": "InvalidOperation"}, the longest error: with at least this much room there is always an answer. */
#define LONGEST_ERROR 24

static struct nsm_boot boot;
static struct nsm_signer *signer;
static uint8_t resp[NSM_RESPONSE_MAX];
static size_t caps[MAX_REQUESTS];

static void check_answer(const uint8_t *answer, size_t got, size_t cap)
{
	if (got > cap || (!got && cap >= LONGEST_ERROR))
		abort();
	if (got && !(answer[0] == 0xa1 || (answer[0] & 0xe0) == 0x60))
		abort();
}

/* A waiting request's answer, from nsm_boot_measured: its tag is its index in the input. */
static void done(void *opaque, uint64_t tag, const uint8_t *answer, size_t len)
{
	(void)opaque;
	if (tag >= MAX_REQUESTS)
		abort();
	check_answer(answer, len, caps[tag]);
}

static int fixed_random(void *buf, size_t len)
{
	memset(buf, 0x42, len);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[] = "/tmp/nitrovm-fuzz-nsm.XXXXXX";
	struct nsm_ca *ca;

	(void)argc;
	(void)argv;
	pcr_measure("image", 5, boot.pcr0);
	boot.parent_id = NSM_DEFAULT_PARENT_ID;
	/* One CA and one leaf for the whole run; the CA's files are not needed once loaded. */
	if (!mkdtemp(dir) || nsm_ca_open(dir, time(NULL), &ca) ||
	    nsm_signer_create(ca, "fuzz", time(NULL), &signer)) {
		fprintf(stderr, "fuzz_nsm_request: cannot make a CA in %s\n", dir);
		abort();
	}
	return 0;
}

/* Every request of the input, against a ready module (nsm_handle) or a pending one (nsm_submit). */
static void run(const uint8_t *data, size_t size, bool pending)
{
	struct nsm_config c = { .module_id = "i-0000000000000000-enc0000000000000001", .boot = &boot,
				.boot_pending = pending };
	bool failed = size % 2;
	unsigned int count = 0;
	struct nsm *n;

	/* The module owns its signer: lend it ours and take it back before freeing the module. */
	c.signer = signer;
	n = nsm_create(&c);
	if (!n)
		abort();
	nsm_set_sources(n, fixed_random, NULL);
	if (pending)
		nsm_set_done(n, done, NULL);
	while (size >= 4 && count < MAX_REQUESTS) {
		size_t len = (size_t)(data[0] | data[1] << 8), cap = (size_t)(data[2] | data[3] << 8), got;
		uint8_t *req;

		data += 4;
		size -= 4;
		len = len < size ? len : size;
		cap = cap % (NSM_RESPONSE_MAX + 1);
		req = malloc(len ? len : 1);
		if (!req)
			abort();
		memcpy(req, data, len);
		data += len;
		size -= len;
		caps[count] = cap;
		got = pending ? nsm_submit(n, req, len, resp, cap, count) : nsm_handle(n, req, len, resp, cap);
		count++;
		free(req);
		if (got != NSM_PENDING)
			check_answer(resp, got, cap);
	}
	if (pending)
		nsm_boot_measured(n, failed ? NULL : &boot);
	nsm_detach_signer(n);
	nsm_free(n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run(data, size, false);
	run(data, size, true);
	return 0;
}
