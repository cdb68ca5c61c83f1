// SPDX-License-Identifier: MIT
/*
 * probe.nsm=1: the Nitro Secure Module at 0xd0001000 (virtio id 33), driven the way
 * both Linux drivers drive it: the request as one device-readable chain, the
 * 0x3000-byte response buffer as a second, device-writable chain, one kick, then
 * used(request, 0) and used(response, len).  Sends DescribeNSM and Attestation,
 * prints the response sizes and first bytes, and the whole attestation document
 * as hex (`nsm-doc` lines) for the host to verify.
 *
 * probe.nsm_bench=<n>: then time n Attestation and n DescribeNSM round trips with
 * the TSC (the figures of bench/nsm).
 */
#include "virtio_mmio.h"

#define NSM_BASE       0xd0001000UL
#define NSM_IRQ        6
#define VIRTIO_ID_NSM  33
#define NSM_REQ_MAX    0x1000
#define NSM_RESP_SIZE  0x3000
/*
 * The first Attestation waits for the enclave's leaf: its issuer opens (or, on first use, creates) the CA at
 * nice 10, behind this vCPU spinning below, which on a one-CPU nested host leaves it a tenth of the CPU; a Linux
 * guest sleeps while it waits, and its driver allows minutes.  Only a failure waits this long.
 */
#define WAIT_US        60000000
#define DOC_CHUNK      100     /* document bytes per nsm-doc line */

static struct {
	struct vq q;
	uint8_t req[NSM_REQ_MAX] __attribute__((aligned(4096)));
	uint8_t resp[NSM_RESP_SIZE] __attribute__((aligned(4096)));
} nsm __attribute__((aligned(4096), section(".noinit.nsm")));

/* Two descriptors are in flight per exchange: a queue of 2 will do. */
static bool handshake(void)
{
	if (!vmmio_negotiate(NSM_BASE, "nsm", NULL) || !vmmio_queue_setup(NSM_BASE, "nsm", 0, &nsm.q, 2))
		return false;
	vmmio_driver_ok(NSM_BASE);
	return !(vmmio_read(NSM_BASE, VMMIO_STATUS) & VMMIO_ST_NEEDS_RESET);
}

/* One exchange: request chain (desc 0) and response chain (desc 1).  Returns the response length or -1. */
static int nsm_call(const uint8_t *req, uint32_t len, const char *what)
{
	struct vq *q = &nsm.q;
	uint32_t qn = q->num;
	uint16_t used = q->used.idx;
	uint64_t t0;

	memcpy(nsm.req, req, len);
	q->desc[0] = (struct vq_desc){ (uint64_t)nsm.req, len, 0, 0 };
	q->desc[1] = (struct vq_desc){ (uint64_t)nsm.resp, NSM_RESP_SIZE, VIRTQ_DESC_F_WRITE, 0 };
	q->avail.ring[q->avail_idx % qn] = 0;
	q->avail.ring[(uint16_t)(q->avail_idx + 1) % qn] = 1;
	barrier();
	q->avail_idx += 2;
	q->avail.idx = q->avail_idx;
	vmmio_notify(NSM_BASE, 0);
	t0 = time_us();
	while (*(volatile uint16_t *)&q->used.idx != (uint16_t)(used + 2) && time_us() - t0 < WAIT_US)
		cpu_relax();
	vmmio_ack(NSM_BASE);
	if (*(volatile uint16_t *)&q->used.idx != (uint16_t)(used + 2)) {
		report_fail_machine("nsm", "%s: used idx %u, want %u (status 0x%x)", what, q->used.idx,
				    (uint16_t)(used + 2), vmmio_read(NSM_BASE, VMMIO_STATUS));
		return -1;
	}
	/* The order both Linux drivers check: the request first, then the response with its length. */
	if (q->used.ring[used % qn].id != 0 || q->used.ring[used % qn].len != 0 ||
	    q->used.ring[(uint16_t)(used + 1) % qn].id != 1) {
		report_fail_machine("nsm", "%s: used ring order wrong (%u/%u then %u)", what,
				    q->used.ring[used % qn].id, q->used.ring[used % qn].len,
				    q->used.ring[(uint16_t)(used + 1) % qn].id);
		return -1;
	}
	return (int)q->used.ring[(uint16_t)(used + 1) % qn].len;
}

static void first_bytes(char *out, size_t n, const uint8_t *p, int len)
{
	size_t o = 0;

	for (int i = 0; i < len && i < 16 && o + 3 < n; i++)
		o += (size_t)snprintf(out + o, n - o, "%02x", p[i]);
	out[o] = '\0';
}

static const uint8_t describe_req[] = "\x6b" "DescribeNSM";
/* {"Attestation": {"user_data": "probe-user-data", "nonce": "probe-nonce-0001", "public_key": null}} */
static const uint8_t attest_req[] = "\xa1\x6b" "Attestation" "\xa3"
				    "\x69" "user_data" "\x4f" "probe-user-data"
				    "\x65" "nonce" "\x50" "probe-nonce-0001"
				    "\x6a" "public_key" "\xf6";
static const uint8_t doc_prefix[] = "\xa1\x6b" "Attestation" "\xa1\x68" "document" "\x59";

/* "<check>: info <offset> <hex>" lines, DOC_CHUNK bytes each, for the host to reassemble. */
static void print_hex(const char *check, const uint8_t *p, uint32_t len)
{
	char hex[2 * DOC_CHUNK + 1];

	for (uint32_t i = 0; i < len; i += DOC_CHUNK) {
		uint32_t n = len - i < DOC_CHUNK ? len - i : DOC_CHUNK;

		for (uint32_t j = 0; j < n; j++)
			snprintf(hex + 2 * j, 3, "%02x", p[i + j]);
		report_info(check, "%u %s", i, hex);
	}
}

static void print_document(int len)
{
	uint32_t doc_len, off = sizeof(doc_prefix) - 1 + 2;

	if (len < (int)off || memcmp(nsm.resp, doc_prefix, sizeof(doc_prefix) - 1)) {
		report_fail("nsm", "Attestation: response is not {\"Attestation\": {\"document\": bstr}}");
		return;
	}
	doc_len = (uint32_t)nsm.resp[off - 2] << 8 | nsm.resp[off - 1];
	if (off + doc_len != (uint32_t)len) {
		report_fail("nsm", "Attestation: document of %u bytes in a %d-byte response", doc_len, len);
		return;
	}
	report_ok("nsm", "Attestation: %d-byte response, %u-byte document", len, doc_len);
	print_hex("nsm-doc", nsm.resp + off, doc_len);
}

static void bench(void)
{
	uint64_t t0, t1, min = ~0ULL, max = 0;
	uint32_t n = cfg.nsm_bench;

	for (int pass = 0; pass < 2; pass++) {
		const uint8_t *req = pass ? describe_req : attest_req;
		uint32_t len = pass ? sizeof(describe_req) - 1 : sizeof(attest_req) - 1;
		const char *name = pass ? "DescribeNSM" : "Attestation";

		min = ~0ULL;
		max = 0;
		t0 = time_us();
		for (uint32_t i = 0; i < n; i++) {
			uint64_t a = time_us(), d;

			if (nsm_call(req, len, name) <= 0)
				return;
			d = time_us() - a;
			min = d < min ? d : min;
			max = d > max ? d : max;
		}
		t1 = time_us();
		report_info("nsm-bench", "%s n=%u total_us=%lu mean_us=%lu min_us=%lu max_us=%lu per_s=%lu", name, n,
			    t1 - t0, (t1 - t0) / n, min, max, n * 1000000UL / (t1 - t0 ? t1 - t0 : 1));
	}
}

void check_nsm(void)
{
	char fb[40];
	int len;

	if (!cfg.nsm) {
		report_skip("nsm", "no probe.nsm=1 on the command line");
		return;
	}
	if (!vmmio_identify(NSM_BASE, "nsm", VIRTIO_ID_NSM))
		return;
	if (!handshake()) {
		report_fail_machine("nsm", "handshake failed (status 0x%x)", vmmio_read(NSM_BASE, VMMIO_STATUS));
		return;
	}
	len = nsm_call(describe_req, sizeof(describe_req) - 1, "DescribeNSM");
	if (len > 0) {
		first_bytes(fb, sizeof(fb), nsm.resp, len);
		if (memcmp(nsm.resp, "\xa1\x6b" "DescribeNSM", 13))
			report_fail("nsm", "DescribeNSM: %d bytes %s...", len, fb);
		else
			report_ok("nsm", "DescribeNSM: %d bytes %s...", len, fb);
		print_hex("nsm-describe", nsm.resp, (uint32_t)len);
	}
	len = nsm_call(attest_req, sizeof(attest_req) - 1, "Attestation");
	if (len > 0)
		print_document(len);
	if (cfg.nsm_bench)
		bench();
	vmmio_write(NSM_BASE, VMMIO_STATUS, 0);
}
