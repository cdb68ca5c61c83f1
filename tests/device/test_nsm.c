// SPDX-License-Identifier: MIT
/*
 * virtio-nsm through the real transport and virtqueue, driven the way both Linux drivers do it: the request as
 * one device-readable chain, the 0x3000-byte response buffer as a second, device-writable chain, one kick, and
 * then used(request, 0) followed by used(response, length) and a single interrupt.  Every request, every error
 * the device emits, and the malformed chains of the device's header comment.
 *
 * Attestations are signed on the module's worker thread: an exchange waits (bounded) for the answer, and a
 * certifier that holds the worker at the gate shows that other requests are answered meanwhile, that a reset
 * drops what was being signed, and that chains beyond the device's slots wait in the ring until one frees.
 *
 * A module whose boot measurement is still running (pending): the requests that read or change the PCR bank
 * wait for it and are answered in order once it is in, with its values; GetRandom is not held up; a failed
 * measurement answers them InternalError.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "nsm/nsm.h"
#include "virtio_harness.h"

#define QSIZE	      8
#define REQ_GPA	      FAKE_BUF_GPA		/* up to 8 KiB of request */
#define RESP_GPA      (FAKE_BUF_GPA + 0x2000) /* the 0x3000 response buffer */
#define REQ2_GPA      FAKE_R1_GPA		/* a second exchange while the first waits */
#define RESP2_GPA     (FAKE_R1_GPA + 0x1000)
#define REQ3_GPA      (FAKE_R1_GPA + 0x5000)	/* and a third */
#define RESP3_GPA     (FAKE_R1_GPA + 0x6000)
#define REQ(s)	      (const uint8_t *)(s), sizeof(s) - 1
#define MODULE_ID     "i-0123456789abcdef0-enc00000000000000aa"
/* How long an exchange waits for the worker's answer: a signature takes milliseconds, a loaded CI host more. */
#define ANSWER_WAIT_MS 10000
#define ATTEST_BYTES  "\xa1\x6b" "Attestation" "\xa1\x65" "nonce" "\x42" "hi"
#define ATTEST_REQ    REQ(ATTEST_BYTES)

struct fixture {
	struct test_dev td;
	struct virtio_nsm *dev;
	struct nsm_boot boot;
	char dir[64];
	uint16_t next_desc; /* descriptors are used round-robin so heads differ between requests */
};

/*
 * A certifier that keeps the worker waiting until the test opens the gate, in front of a CA in this process:
 * the first Attestation then waits for its signer as it would for a slow issuer.
 */
struct gated_certifier {
	struct nsm_certifier ops;
	struct nsm_certifier *ca;
	pthread_mutex_t lock;
	pthread_cond_t open_cond;
	bool open;
};

static struct gated_certifier gate;

static int gated_issue(struct nsm_certifier *c, struct evp_pkey_st *key, const char *name, time_t now,
		       struct nsm_leaf *out)
{
	struct gated_certifier *g = (struct gated_certifier *)c;

	pthread_mutex_lock(&g->lock);
	while (!g->open)
		pthread_cond_wait(&g->open_cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
	return g->ca->issue(g->ca, key, name, now, out);
}

static void gated_free(struct nsm_certifier *c)
{
	struct gated_certifier *g = (struct gated_certifier *)c;

	g->ca->free(g->ca);
}

static void gate_open(void)
{
	pthread_mutex_lock(&gate.lock);
	gate.open = true;
	pthread_cond_broadcast(&gate.open_cond);
	pthread_mutex_unlock(&gate.lock);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/*
 * The module signs with a ready signer, or (gated) makes its signer through the gate; pending: its PCR0/1/2
 * are still being measured.
 */
static int setup_module(void **state, bool gated, bool pending)
{
	static struct fixture f;
	struct nsm_config c = { .module_id = MODULE_ID, .boot = &f.boot, .boot_pending = pending };
	struct nsm_ca *ca;
	struct nsm *n;

	memset(&f, 0, sizeof(f));
	snprintf(f.dir, sizeof(f.dir), "/tmp/nitrovm-nsm-dev.XXXXXX");
	if (!mkdtemp(f.dir))
		return -1;
	pcr_measure("image", 5, f.boot.pcr0);
	f.boot.parent_id = "i-0123456789abcdef0";
	if (nsm_ca_open(f.dir, time(NULL), &ca))
		return -1;
	if (gated) {
		gate = (struct gated_certifier){ .ops = { .issue = gated_issue, .free = gated_free },
						 .ca = nsm_ca_certifier(ca) };
		pthread_mutex_init(&gate.lock, NULL);
		pthread_cond_init(&gate.open_cond, NULL);
		c.certifier = &gate.ops;
	} else if (nsm_signer_create(ca, MODULE_ID, time(NULL), &c.signer)) {
		return -1;
	}
	n = nsm_create(&c);
	f.dev = n ? virtio_nsm_new(n) : NULL;
	if (!f.dev || test_dev_init(&f.td, virtio_nsm_ops(), f.dev, false))
		return -1;
	nsm_start(n);
	harness_log_capture();
	*state = &f;
	return 0;
}

static int setup(void **state)
{
	return setup_module(state, false, false);
}

static int setup_gated(void **state)
{
	return setup_module(state, true, false);
}

static int setup_pending(void **state)
{
	return setup_module(state, false, true);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	assert_true(fake_canary_intact(&f->td.mem));
	/* The module first: its worker may still complete through the transport (the machine frees likewise). */
	gate_open();
	virtio_nsm_free(f->dev);
	test_dev_free(&f->td);
	return nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Wait until the used ring reaches idx and the interrupts number irqs: the worker answers on its own thread. */
static void wait_answered(struct test_dev *td, uint16_t idx, unsigned int irqs)
{
	for (unsigned int ms = 0; ms < ANSWER_WAIT_MS; ms++) {
		if (drv_used_idx(td, 0) == idx && __atomic_load_n(&td->irqs, __ATOMIC_ACQUIRE) == irqs)
			return;
		usleep(1000);
	}
	fail_msg("no answer within %d ms: used idx %u (want %u), %u interrupts (want %u)", ANSWER_WAIT_MS,
		 drv_used_idx(td, 0), idx, td->irqs, irqs);
}

#define F(state) ((struct fixture *)*(state))

static uint16_t take_desc(struct fixture *f)
{
	return f->next_desc++ % QSIZE;
}

/* Publish one chain of a single descriptor. */
static uint16_t post(struct fixture *f, uint64_t gpa, uint32_t len, uint16_t flags)
{
	uint16_t d = take_desc(f);

	drv_desc(&f->td, 0, d, gpa, len, flags, 0);
	drv_avail(&f->td, 0, d);
	return d;
}

/*
 * The Linux drivers' exchange: request chain, response chain of resp_cap bytes, kick; checks the used ring
 * order and the single interrupt, and returns the response length (the response is at RESP_GPA).
 */
static uint32_t exchange(struct fixture *f, const uint8_t *req, size_t len, uint32_t resp_cap)
{
	struct test_dev *td = &f->td;
	uint16_t used = drv_used_idx(td, 0), rq, rs;
	unsigned int irqs = td->irqs;
	struct virtq_used_elem e0, e1;

	memcpy(fake_gpa(&td->mem, REQ_GPA, len ? len : 1), req, len);
	memset(fake_gpa(&td->mem, RESP_GPA, NSM_RESPONSE_MAX), 0xee, NSM_RESPONSE_MAX);
	/* The last interrupt was handled (a new one raises the line only when InterruptStatus gains a bit). */
	wr32(td, VIRTIO_MMIO_INTERRUPT_ACK, rd32(td, VIRTIO_MMIO_INTERRUPT_STATUS));
	/* Like Linux with EVENT_IDX: interrupt me once the next used entry appears. */
	drv_set_used_event(td, 0, used);
	rq = post(f, REQ_GPA, (uint32_t)len, 0);
	rs = post(f, RESP_GPA, resp_cap, VIRTQ_DESC_F_WRITE);
	drv_kick(td, 0);
	assert_false(dev_needs_reset(td));
	wait_answered(td, (uint16_t)(used + 2), irqs + 1);
	e0 = drv_used_elem(td, 0, used);
	e1 = drv_used_elem(td, 0, (uint16_t)(used + 1));
	assert_int_equal(e0.id, rq);
	assert_int_equal(e0.len, 0);
	assert_int_equal(e1.id, rs);
	assert_true(e1.len > 0 && e1.len <= resp_cap);
	assert_int_equal(td->irqs, irqs + 1);
	return e1.len;
}

static const uint8_t *response(struct fixture *f)
{
	return fake_gpa(&f->td.mem, RESP_GPA, NSM_RESPONSE_MAX);
}

static void expect_prefix(struct fixture *f, uint32_t len, const char *prefix, size_t plen)
{
	assert_true(len >= plen);
	assert_memory_equal(response(f), prefix, plen);
}
#define EXPECT_PREFIX(f, len, s) expect_prefix(f, len, s, sizeof(s) - 1)

static void expect_error(struct fixture *f, uint32_t len, const char *name)
{
	uint8_t want[64];
	size_t wl = nsm_encode_error(NSM_E_SUCCESS, want, sizeof(want));

	(void)wl;
	for (unsigned int e = 0; e < NSM_E_COUNT; e++)
		if (!strcmp(nsm_error_name((enum nsm_error)e), name))
			wl = nsm_encode_error((enum nsm_error)e, want, sizeof(want));
	assert_memory_equal(want + 8, name, strlen(name)); /* the name really is one of ErrorCode's */
	assert_int_equal(len, wl);
	assert_memory_equal(response(f), want, wl);
}

static void test_identity(void **state)
{
	struct test_dev *td = &F(state)->td;

	assert_int_equal(rd32(td, VIRTIO_MMIO_DEVICE_ID), 33);
	wr32(td, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	assert_int_equal(rd32(td, VIRTIO_MMIO_DEVICE_FEATURES),
			 1U << VIRTIO_RING_F_INDIRECT_DESC | 1U << VIRTIO_RING_F_EVENT_IDX);
	wr32(td, VIRTIO_MMIO_QUEUE_SEL, 1);
	assert_int_equal(rd32(td, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
}

static void test_every_request(void **state)
{
	struct fixture *f = F(state);
	const uint8_t *payload;
	size_t payload_len;
	struct nsm_ca *ca;
	uint32_t n;

	drv_bring_up(&f->td, QSIZE);
	n = exchange(f, REQ("\x6b" "DescribeNSM"), NSM_RESPONSE_MAX);
	EXPECT_PREFIX(f, n, "\xa1\x6b" "DescribeNSM" "\xa7\x6d" "version_major" "\x01");
	n = exchange(f, REQ("\x69" "GetRandom"), NSM_RESPONSE_MAX);
	EXPECT_PREFIX(f, n, "\xa1\x69" "GetRandom" "\xa1\x66" "random" "\x59\x01\x00");
	assert_int_equal(n, 22 + NSM_RANDOM_BYTES);
	n = exchange(f, REQ("\xa1\x6b" "DescribePCR" "\xa1\x65" "index" "\x00"), NSM_RESPONSE_MAX);
	EXPECT_PREFIX(f, n, "\xa1\x6b" "DescribePCR" "\xa2\x64" "lock" "\xf5\x64" "data" "\x58\x30");
	assert_memory_equal(response(f) + n - NSM_PCR_LEN, f->boot.pcr0, NSM_PCR_LEN);
	n = exchange(f, REQ("\xa1\x69" "ExtendPCR" "\xa2\x65" "index" "\x10\x64" "data" "\x41" "x"), NSM_RESPONSE_MAX);
	EXPECT_PREFIX(f, n, "\xa1\x69" "ExtendPCR" "\xa1\x64" "data" "\x58\x30");
	n = exchange(f, REQ("\xa1\x67" "LockPCR" "\xa1\x65" "index" "\x10"), NSM_RESPONSE_MAX);
	EXPECT_PREFIX(f, n, "\x67" "LockPCR");
	n = exchange(f, REQ("\xa1\x68" "LockPCRs" "\xa1\x65" "range" "\x18\x20"), NSM_RESPONSE_MAX);
	EXPECT_PREFIX(f, n, "\x68" "LockPCRs");
	n = exchange(f, ATTEST_REQ, NSM_RESPONSE_MAX);
	EXPECT_PREFIX(f, n, "\xa1\x6b" "Attestation" "\xa1\x68" "document" "\x59");
	assert_int_equal(nsm_ca_open(f->dir, time(NULL), &ca), 0);
	assert_int_equal(nsm_attestation_check(response(f) + 26, n - 26, nsm_ca_root(ca), &payload, &payload_len), 0);
	nsm_ca_free(ca);
	assert_int_equal(harness_log_lines, 0);
}

static int failing_random(void *buf, size_t len)
{
	(void)buf;
	(void)len;
	return -EIO;
}

/* Every error code the device emits, through the queue. */
static void test_every_error(void **state)
{
	struct fixture *f = F(state);
	static uint8_t big[NSM_REQUEST_MAX + 1];
	uint32_t n;

	drv_bring_up(&f->td, QSIZE);
	n = exchange(f, REQ("\xa1\x6b" "DescribePCR" "\xa1\x65" "index" "\x61" "0"), NSM_RESPONSE_MAX);
	expect_error(f, n, "InvalidArgument");
	n = exchange(f, REQ("\xa1\x6b" "DescribePCR" "\xa1\x65" "index" "\x18\x20"), NSM_RESPONSE_MAX);
	expect_error(f, n, "InvalidIndex");
	n = exchange(f, REQ("\xa1\x69" "ExtendPCR" "\xa2\x65" "index" "\x01\x64" "data" "\x41" "x"), NSM_RESPONSE_MAX);
	expect_error(f, n, "ReadOnlyIndex");
	n = exchange(f, REQ("\x64" "Nope"), NSM_RESPONSE_MAX);
	expect_error(f, n, "InvalidOperation");
	/* A response buffer too small for DescribeNSM, big enough for the error. */
	n = exchange(f, REQ("\x6b" "DescribeNSM"), 64);
	expect_error(f, n, "BufferTooSmall");
	/* 4097 bytes: never read, InputTooLarge. */
	memset(big, 0x6b, sizeof(big));
	n = exchange(f, big, sizeof(big), NSM_RESPONSE_MAX);
	expect_error(f, n, "InputTooLarge");
	nsm_set_sources(virtio_nsm_module(f->dev), failing_random, NULL);
	n = exchange(f, REQ("\x69" "GetRandom"), NSM_RESPONSE_MAX);
	expect_error(f, n, "InternalError");
	/* An empty request is not CBOR. */
	n = exchange(f, (const uint8_t *)"", 0, NSM_RESPONSE_MAX);
	expect_error(f, n, "InvalidOperation");
	assert_int_equal(harness_log_lines, 0);
}

/* A request in two readable descriptors is gathered (drivers send one; nothing forbids more). */
static void test_split_request(void **state)
{
	struct fixture *f = F(state);
	struct test_dev *td = &f->td;
	uint8_t *req = fake_gpa(&td->mem, REQ_GPA, 16);

	drv_bring_up(td, QSIZE);
	memcpy(req, "\x6b" "DescribeNSM", 12);
	drv_desc(td, 0, 0, REQ_GPA, 5, VIRTQ_DESC_F_NEXT, 1);
	drv_desc(td, 0, 1, REQ_GPA + 5, 7, 0, 0);
	drv_avail(td, 0, 0);
	drv_desc(td, 0, 2, RESP_GPA, NSM_RESPONSE_MAX, VIRTQ_DESC_F_WRITE, 0);
	drv_avail(td, 0, 2);
	drv_kick(td, 0);
	assert_int_equal(drv_used_idx(td, 0), 2);
	assert_int_equal(drv_used_elem(td, 0, 0).id, 0);
	assert_int_equal(drv_used_elem(td, 0, 1).id, 2);
	EXPECT_PREFIX(f, drv_used_elem(td, 0, 1).len, "\xa1\x6b" "DescribeNSM");
}

/* The response chain is published after a kick was seen: the request waits, untouched, for it. */
static void test_response_published_late(void **state)
{
	struct fixture *f = F(state);
	struct test_dev *td = &f->td;

	drv_bring_up(td, QSIZE);
	memcpy(fake_gpa(&td->mem, REQ_GPA, 12), "\x6b" "DescribeNSM", 12);
	post(f, REQ_GPA, 12, 0);
	drv_kick(td, 0);
	assert_int_equal(drv_used_idx(td, 0), 0);
	assert_false(dev_needs_reset(td));
	post(f, RESP_GPA, NSM_RESPONSE_MAX, VIRTQ_DESC_F_WRITE);
	drv_kick(td, 0);
	assert_int_equal(drv_used_idx(td, 0), 2);
	assert_int_equal(drv_used_elem(td, 0, 0).len, 0);
	EXPECT_PREFIX(f, drv_used_elem(td, 0, 1).len, "\xa1\x6b" "DescribeNSM");
}

/* One chain with both parts, and a writable chain where the request belongs: InvalidArgument in it. */
static void test_mixed_chains(void **state)
{
	struct fixture *f = F(state);
	struct test_dev *td = &f->td;
	uint32_t n;

	drv_bring_up(td, QSIZE);
	memcpy(fake_gpa(&td->mem, REQ_GPA, 12), "\x6b" "DescribeNSM", 12);
	drv_desc(td, 0, 0, REQ_GPA, 12, VIRTQ_DESC_F_NEXT, 1);
	drv_desc(td, 0, 1, RESP_GPA, NSM_RESPONSE_MAX, VIRTQ_DESC_F_WRITE, 0);
	drv_avail(td, 0, 0);
	drv_kick(td, 0);
	assert_int_equal(drv_used_idx(td, 0), 1);
	n = drv_used_elem(td, 0, 0).len;
	expect_error(f, n, "InvalidArgument");
	/* A writable chain first. */
	drv_desc(td, 0, 2, RESP_GPA, NSM_RESPONSE_MAX, VIRTQ_DESC_F_WRITE, 0);
	drv_avail(td, 0, 2);
	drv_kick(td, 0);
	assert_int_equal(drv_used_idx(td, 0), 2);
	expect_error(f, drv_used_elem(td, 0, 1).len, "InvalidArgument");
	/* A proper request whose response chain also carries a readable part. */
	drv_desc(td, 0, 3, REQ_GPA, 12, 0, 0);
	drv_avail(td, 0, 3);
	drv_desc(td, 0, 4, REQ_GPA, 12, VIRTQ_DESC_F_NEXT, 5);
	drv_desc(td, 0, 5, RESP_GPA, NSM_RESPONSE_MAX, VIRTQ_DESC_F_WRITE, 0);
	drv_avail(td, 0, 4);
	drv_kick(td, 0);
	assert_int_equal(drv_used_idx(td, 0), 4);
	assert_int_equal(drv_used_elem(td, 0, 2).id, 3);
	assert_int_equal(drv_used_elem(td, 0, 2).len, 0);
	assert_int_equal(drv_used_elem(td, 0, 3).id, 4);
	expect_error(f, drv_used_elem(td, 0, 3).len, "InvalidArgument");
	assert_false(dev_needs_reset(td));
	/* Still serving. */
	n = exchange(f, REQ("\x6b" "DescribeNSM"), NSM_RESPONSE_MAX);
	EXPECT_PREFIX(f, n, "\xa1\x6b" "DescribeNSM");
}

/* Two readable chains in a row: nowhere to answer, so the device asks for a reset, and recovers after one. */
static void test_no_response_buffer(void **state)
{
	struct fixture *f = F(state);
	struct test_dev *td = &f->td;
	uint32_t n;

	drv_bring_up(td, QSIZE);
	memcpy(fake_gpa(&td->mem, REQ_GPA, 12), "\x6b" "DescribeNSM", 12);
	post(f, REQ_GPA, 12, 0);
	post(f, REQ_GPA, 12, 0);
	drv_kick(td, 0);
	assert_true(dev_needs_reset(td));
	assert_int_equal(drv_used_idx(td, 0), 0);
	assert_int_equal(harness_log_lines, 1);
	f->next_desc = 0;
	drv_bring_up(td, QSIZE);
	assert_false(dev_needs_reset(td));
	n = exchange(f, REQ("\x6b" "DescribeNSM"), NSM_RESPONSE_MAX);
	EXPECT_PREFIX(f, n, "\xa1\x6b" "DescribeNSM");
}

/* A response buffer that cannot hold even {"Error": "BufferTooSmall"}: reset, never a partial answer. */
static void test_tiny_response_buffer(void **state)
{
	struct fixture *f = F(state);
	struct test_dev *td = &f->td;

	drv_bring_up(td, QSIZE);
	memcpy(fake_gpa(&td->mem, REQ_GPA, 12), "\x6b" "DescribeNSM", 12);
	post(f, REQ_GPA, 12, 0);
	post(f, RESP_GPA, 10, VIRTQ_DESC_F_WRITE);
	drv_kick(td, 0);
	assert_true(dev_needs_reset(td));
	assert_int_equal(drv_used_idx(td, 0), 0);
}

/* Several exchanges queued before one kick are all answered, pairwise, with one interrupt. */
static void test_batched(void **state)
{
	struct fixture *f = F(state);
	struct test_dev *td = &f->td;
	unsigned int irqs;

	drv_bring_up(td, QSIZE);
	memcpy(fake_gpa(&td->mem, REQ_GPA, 12), "\x6b" "DescribeNSM", 12);
	for (int i = 0; i < 3; i++) {
		post(f, REQ_GPA, 12, 0);
		post(f, RESP_GPA, NSM_RESPONSE_MAX, VIRTQ_DESC_F_WRITE);
	}
	irqs = td->irqs;
	drv_kick(td, 0);
	assert_int_equal(drv_used_idx(td, 0), 6);
	for (uint16_t i = 0; i < 6; i++) {
		assert_int_equal(drv_used_elem(td, 0, i).id, i);
		assert_int_equal(drv_used_elem(td, 0, i).len == 0, i % 2 == 0);
	}
	assert_int_equal(td->irqs, irqs + 1);
}

/* One request/response pair on given buffers, kicked; the caller looks for the answer. */
static void post_pair(struct fixture *f, uint64_t req_gpa, uint64_t resp_gpa, const uint8_t *req, size_t len)
{
	memcpy(fake_gpa(&f->td.mem, req_gpa, len), req, len);
	memset(fake_gpa(&f->td.mem, resp_gpa, NSM_RESPONSE_MAX), 0xee, NSM_RESPONSE_MAX);
	post(f, req_gpa, (uint32_t)len, 0);
	post(f, resp_gpa, NSM_RESPONSE_MAX, VIRTQ_DESC_F_WRITE);
	drv_kick(&f->td, 0);
}

static void check_document(struct fixture *f, uint64_t resp_gpa, uint32_t n)
{
	const uint8_t *resp = fake_gpa(&f->td.mem, resp_gpa, NSM_RESPONSE_MAX), *payload;
	size_t payload_len;
	struct nsm_ca *ca;

	assert_memory_equal(resp, "\xa1\x6b" "Attestation" "\xa1\x68" "document" "\x59", 24);
	assert_int_equal(nsm_ca_open(f->dir, time(NULL), &ca), 0);
	assert_int_equal(nsm_attestation_check(resp + 26, n - 26, nsm_ca_root(ca), &payload, &payload_len), 0);
	nsm_ca_free(ca);
}

/*
 * While an Attestation waits for its signature (here: for its signer, the gate shut), a DescribePCR is
 * answered at once, its pair used first; the attestation follows when the gate opens, with its own interrupt.
 */
static void test_attestation_does_not_block(void **state)
{
	struct fixture *f = F(state);
	struct test_dev *td = &f->td;
	unsigned int irqs;

	drv_bring_up(td, QSIZE);
	irqs = td->irqs;
	post_pair(f, REQ_GPA, RESP_GPA, ATTEST_REQ);
	usleep(20000);
	assert_int_equal(drv_used_idx(td, 0), 0);
	post_pair(f, REQ2_GPA, RESP2_GPA, REQ("\xa1\x6b" "DescribePCR" "\xa1\x65" "index" "\x00"));
	assert_int_equal(drv_used_idx(td, 0), 2);
	assert_int_equal(drv_used_elem(td, 0, 0).id, 2);
	assert_int_equal(drv_used_elem(td, 0, 1).id, 3);
	assert_memory_equal(fake_gpa(&td->mem, RESP2_GPA, 16), "\xa1\x6b" "DescribePCR", 13);
	assert_int_equal(td->irqs, irqs + 1);
	/* The driver's interrupt handler: acknowledge, and ask to hear of the next used entry. */
	wr32(td, VIRTIO_MMIO_INTERRUPT_ACK, rd32(td, VIRTIO_MMIO_INTERRUPT_STATUS));
	drv_set_used_event(td, 0, 2);
	gate_open();
	wait_answered(td, 4, irqs + 2);
	assert_int_equal(drv_used_elem(td, 0, 2).id, 0);
	assert_int_equal(drv_used_elem(td, 0, 2).len, 0);
	assert_int_equal(drv_used_elem(td, 0, 3).id, 1);
	check_document(f, RESP_GPA, drv_used_elem(td, 0, 3).len);
	assert_int_equal(harness_log_lines, 0);
}

/* A driver reset while a document is being signed: the document is dropped, the buffers are not written. */
static void test_reset_drops_pending(void **state)
{
	struct fixture *f = F(state);
	struct test_dev *td = &f->td;
	static uint8_t untouched[NSM_RESPONSE_MAX];
	uint32_t n;

	drv_bring_up(td, QSIZE);
	post_pair(f, REQ_GPA, RESP_GPA, ATTEST_REQ);
	wr32(td, VIRTIO_MMIO_STATUS, 0);
	gate_open();
	/* The worker signs and answers; give it the time a signature takes, then look. */
	usleep(200000);
	memset(untouched, 0xee, sizeof(untouched));
	assert_memory_equal(fake_gpa(&td->mem, RESP_GPA, NSM_RESPONSE_MAX), untouched, NSM_RESPONSE_MAX);
	assert_int_equal(drv_used_idx(td, 0), 0);
	f->next_desc = 0;
	drv_bring_up(td, QSIZE);
	n = exchange(f, ATTEST_REQ, NSM_RESPONSE_MAX);
	check_document(f, RESP_GPA, n);
}

/*
 * Every slot holding an attestation (4 pairs fill the 8-entry ring), and a driver that breaks the rules by
 * publishing descriptors the device still holds, as a DescribeNSM pair: that pair waits in the ring until a
 * slot frees, then is served without another kick.
 */
static void test_slots_full(void **state)
{
	struct fixture *f = F(state);
	struct test_dev *td = &f->td;
	const uint16_t pairs = QSIZE / 2;

	drv_bring_up(td, QSIZE);
	memcpy(fake_gpa(&td->mem, REQ_GPA, 32), ATTEST_REQ);
	for (uint16_t i = 0; i < pairs; i++) {
		drv_desc(td, 0, 2 * i, REQ_GPA, sizeof(ATTEST_BYTES) - 1, 0, 0);
		drv_avail(td, 0, 2 * i);
		drv_desc(td, 0, 2 * i + 1, RESP_GPA, NSM_RESPONSE_MAX, VIRTQ_DESC_F_WRITE, 0);
		drv_avail(td, 0, 2 * i + 1);
	}
	drv_kick(td, 0);
	memcpy(fake_gpa(&td->mem, REQ2_GPA, 16), "\x6b" "DescribeNSM", 12);
	drv_desc(td, 0, 0, REQ2_GPA, 12, 0, 0);
	drv_avail(td, 0, 0);
	drv_desc(td, 0, 1, RESP2_GPA, NSM_RESPONSE_MAX, VIRTQ_DESC_F_WRITE, 0);
	drv_avail(td, 0, 1);
	drv_kick(td, 0);
	usleep(20000);
	assert_int_equal(drv_used_idx(td, 0), 0);
	gate_open();
	for (unsigned int ms = 0; ms < ANSWER_WAIT_MS && drv_used_idx(td, 0) != 2 * (pairs + 1); ms++)
		usleep(1000);
	assert_int_equal(drv_used_idx(td, 0), 2 * (pairs + 1));
	assert_memory_equal(fake_gpa(&td->mem, RESP2_GPA, 16), "\xa1\x6b" "DescribeNSM", 13);
	assert_false(dev_needs_reset(td));
}

#define DESCRIBE_PCR0 "\xa1\x6b" "DescribePCR" "\xa1\x65" "index" "\x00"
#define GET_RANDOM    "\x69" "GetRandom"
#define DESCRIBE_NSM  "\x6b" "DescribeNSM"

/*
 * While PCR0/1/2 are measured, DescribePCR and DescribeNSM wait and GetRandom is answered at once; once the
 * measurement is in, the two that waited are answered in the order they came, DescribePCR with the measured
 * PCR0 (not the zeros the bank held meanwhile), with one more interrupt.
 */
static void test_bank_requests_wait_for_measurement(void **state)
{
	struct fixture *f = F(state);
	struct test_dev *td = &f->td;
	struct nsm_boot measured = { 0 };
	const uint8_t *pcr0;
	unsigned int irqs;

	drv_bring_up(td, QSIZE);
	irqs = td->irqs;
	post_pair(f, REQ_GPA, RESP_GPA, REQ(DESCRIBE_PCR0));
	post_pair(f, REQ2_GPA, RESP2_GPA, REQ(DESCRIBE_NSM));
	assert_int_equal(drv_used_idx(td, 0), 0);
	post_pair(f, REQ3_GPA, RESP3_GPA, REQ(GET_RANDOM));
	assert_int_equal(drv_used_idx(td, 0), 2);
	assert_int_equal(drv_used_elem(td, 0, 0).id, 4);
	assert_memory_equal(fake_gpa(&td->mem, RESP3_GPA, 16), "\xa1\x69" "GetRandom", 11);
	assert_int_equal(td->irqs, irqs + 1);
	wr32(td, VIRTIO_MMIO_INTERRUPT_ACK, rd32(td, VIRTIO_MMIO_INTERRUPT_STATUS));
	drv_set_used_event(td, 0, 2);

	pcr_measure("measured image", 14, measured.pcr0);
	nsm_boot_measured(virtio_nsm_module(f->dev), &measured);
	wait_answered(td, 6, irqs + 2);
	assert_int_equal(drv_used_elem(td, 0, 2).id, 0);
	assert_int_equal(drv_used_elem(td, 0, 4).id, 2);
	/* {"DescribePCR": {"lock": true, "data": h'<48 bytes>'}} */
	pcr0 = fake_gpa(&td->mem, RESP_GPA, NSM_RESPONSE_MAX);
	assert_memory_equal(pcr0, "\xa1\x6b" "DescribePCR" "\xa2\x64" "lock" "\xf5\x64" "data" "\x58\x30", 27);
	assert_memory_equal(pcr0 + 27, measured.pcr0, NSM_PCR_LEN);
	assert_memory_equal(fake_gpa(&td->mem, RESP2_GPA, 16), "\xa1\x6b" "DescribeNSM", 13);
	/* Once in, nothing waits any more. */
	assert_int_equal(exchange(f, REQ(DESCRIBE_PCR0), NSM_RESPONSE_MAX), 27 + NSM_PCR_LEN);
	assert_memory_equal(response(f) + 27, measured.pcr0, NSM_PCR_LEN);
}

/* An Attestation asked for during the measurement is signed after it, and verifies. */
static void test_attestation_waits_for_measurement(void **state)
{
	struct fixture *f = F(state);
	struct test_dev *td = &f->td;
	struct nsm_boot measured = { 0 };
	unsigned int irqs;

	drv_bring_up(td, QSIZE);
	irqs = td->irqs; /* before the worker may answer */
	post_pair(f, REQ_GPA, RESP_GPA, ATTEST_REQ);
	usleep(20000);
	assert_int_equal(drv_used_idx(td, 0), 0);
	nsm_boot_measured(virtio_nsm_module(f->dev), &measured);
	wait_answered(td, 2, irqs + 1);
	check_document(f, RESP_GPA, drv_used_elem(td, 0, 1).len);
}

/* A measurement that failed: what waited and what touches the bank later answer InternalError; GetRandom works. */
static void test_measurement_failed(void **state)
{
	struct fixture *f = F(state);
	struct test_dev *td = &f->td;

	drv_bring_up(td, QSIZE);
	post_pair(f, REQ_GPA, RESP_GPA, REQ(DESCRIBE_PCR0));
	assert_int_equal(drv_used_idx(td, 0), 0);
	nsm_boot_measured(virtio_nsm_module(f->dev), NULL);
	assert_int_equal(drv_used_idx(td, 0), 2);
	expect_error(f, drv_used_elem(td, 0, 1).len, "InternalError");
	expect_error(f, exchange(f, REQ("\xa1\x67" "LockPCR" "\xa1\x65" "index" "\x10"), NSM_RESPONSE_MAX),
		     "InternalError");
	EXPECT_PREFIX(f, exchange(f, REQ(GET_RANDOM), NSM_RESPONSE_MAX), "\xa1\x69" "GetRandom");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
#define P(name) cmocka_unit_test_setup_teardown(name, setup_pending, teardown)
#define G(name) cmocka_unit_test_setup_teardown(name, setup_gated, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_identity),	       T(test_every_request),	   T(test_every_error),
		T(test_split_request),	       T(test_response_published_late), T(test_mixed_chains),
		T(test_no_response_buffer),    T(test_tiny_response_buffer),	   T(test_batched),
		G(test_attestation_does_not_block), G(test_reset_drops_pending), G(test_slots_full),
		P(test_bank_requests_wait_for_measurement), P(test_attestation_waits_for_measurement),
		P(test_measurement_failed),
	};

	return cmocka_run_group_tests_name("virtio-nsm", tests, NULL, NULL);
}
