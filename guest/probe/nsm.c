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
#include "probe.h"

#define NSM_BASE       0xd0001000UL
#define NSM_IRQ        6
#define VIRTIO_ID_NSM  33
#define NSM_REQ_MAX    0x1000
#define NSM_RESP_SIZE  0x3000
#define QSIZE          8
#define WAIT_US        5000000 /* an attestation is signed: allow for a slow, emulated host */
#define DOC_CHUNK      100     /* document bytes per nsm-doc line */

/* virtio-mmio registers and bits (the subset used here). */
#define R_MAGIC        0x000
#define R_VERSION      0x004
#define R_DEVICE_ID    0x008
#define R_DEV_FEAT     0x010
#define R_DEV_FEAT_SEL 0x014
#define R_DRV_FEAT     0x020
#define R_DRV_FEAT_SEL 0x024
#define R_QUEUE_SEL    0x030
#define R_QUEUE_MAX    0x034
#define R_QUEUE_NUM    0x038
#define R_QUEUE_READY  0x044
#define R_QUEUE_NOTIFY 0x050
#define R_INT_STATUS   0x060
#define R_INT_ACK      0x064
#define R_STATUS       0x070
#define R_DESC_LO      0x080
#define R_DRIVER_LO    0x090
#define R_DEVICE_LO    0x0a0
#define ST_ACK         0x01
#define ST_DRIVER      0x02
#define ST_DRIVER_OK   0x04
#define ST_FEATURES_OK 0x08
#define ST_NEEDS_RESET 0x40
#define F_VERSION_1    32
#define DESC_F_WRITE   2

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
} __attribute__((packed));

struct nsm_vq {
	struct desc desc[QSIZE];
	struct {
		uint16_t flags, idx, ring[QSIZE], used_event;
	} __attribute__((packed, aligned(16))) avail;
	struct {
		uint16_t flags, idx;
		struct {
			uint32_t id, len;
		} __attribute__((packed)) ring[QSIZE];
		uint16_t avail_event;
	} __attribute__((packed, aligned(16))) used;
	uint8_t req[NSM_REQ_MAX] __attribute__((aligned(4096)));
	uint8_t resp[NSM_RESP_SIZE] __attribute__((aligned(4096)));
};

static struct nsm_vq vq __attribute__((aligned(4096), section(".noinit.nsm")));
static uint16_t avail_idx;
static uint32_t qsize; /* the queue size set in the handshake (QueueNum is write-only) */

static uint32_t rd(uint32_t r)
{
	return mmio_read32(NSM_BASE + r);
}

static void wr(uint32_t r, uint32_t v)
{
	mmio_write32(NSM_BASE + r, v);
}

static void wr64(uint32_t r, uint64_t v)
{
	wr(r, (uint32_t)v);
	wr(r + 4, (uint32_t)(v >> 32));
}

static bool handshake(void)
{
	uint32_t max;

	wr(R_STATUS, 0);
	wr(R_STATUS, ST_ACK);
	wr(R_STATUS, ST_ACK | ST_DRIVER);
	wr(R_DEV_FEAT_SEL, 1);
	if (!(rd(R_DEV_FEAT) & (1U << (F_VERSION_1 - 32)))) {
		report_fail_machine("nsm", "no VIRTIO_F_VERSION_1");
		return false;
	}
	wr(R_DRV_FEAT_SEL, 0);
	wr(R_DRV_FEAT, 0);
	wr(R_DRV_FEAT_SEL, 1);
	wr(R_DRV_FEAT, 1U << (F_VERSION_1 - 32));
	wr(R_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
	if (!(rd(R_STATUS) & ST_FEATURES_OK)) {
		report_fail_machine("nsm", "FEATURES_OK refused");
		return false;
	}
	wr(R_QUEUE_SEL, 0);
	max = rd(R_QUEUE_MAX);
	if (max < 2) {
		report_fail_machine("nsm", "queue 0 holds %u buffers; the protocol needs 2", max);
		return false;
	}
	memset(&vq.desc, 0, sizeof(vq.desc));
	memset(&vq.avail, 0, sizeof(vq.avail));
	memset(&vq.used, 0, sizeof(vq.used));
	avail_idx = 0;
	qsize = max < QSIZE ? 2 : QSIZE;
	wr(R_QUEUE_NUM, qsize);
	wr64(R_DESC_LO, (uint64_t)vq.desc);
	wr64(R_DRIVER_LO, (uint64_t)&vq.avail);
	wr64(R_DEVICE_LO, (uint64_t)&vq.used);
	wr(R_QUEUE_READY, 1);
	wr(R_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	return !(rd(R_STATUS) & ST_NEEDS_RESET);
}

/* One exchange: request chain (desc 0) and response chain (desc 1).  Returns the response length or -1. */
static int nsm_call(const uint8_t *req, uint32_t len, const char *what)
{
	uint32_t qn = qsize;
	uint16_t used = vq.used.idx;
	uint64_t t0;

	memcpy(vq.req, req, len);
	vq.desc[0] = (struct desc){ (uint64_t)vq.req, len, 0, 0 };
	vq.desc[1] = (struct desc){ (uint64_t)vq.resp, NSM_RESP_SIZE, DESC_F_WRITE, 0 };
	vq.avail.ring[avail_idx % qn] = 0;
	vq.avail.ring[(uint16_t)(avail_idx + 1) % qn] = 1;
	barrier();
	avail_idx += 2;
	vq.avail.idx = avail_idx;
	barrier();
	wr(R_QUEUE_NOTIFY, 0);
	t0 = time_us();
	while (*(volatile uint16_t *)&vq.used.idx != (uint16_t)(used + 2) && time_us() - t0 < WAIT_US)
		cpu_relax();
	wr(R_INT_ACK, rd(R_INT_STATUS));
	if (*(volatile uint16_t *)&vq.used.idx != (uint16_t)(used + 2)) {
		report_fail_machine("nsm", "%s: used idx %u, want %u (status 0x%x)", what, vq.used.idx,
				    (uint16_t)(used + 2), rd(R_STATUS));
		return -1;
	}
	/* The order both Linux drivers check: the request first, then the response with its length. */
	if (vq.used.ring[used % qn].id != 0 || vq.used.ring[used % qn].len != 0 ||
	    vq.used.ring[(uint16_t)(used + 1) % qn].id != 1) {
		report_fail_machine("nsm", "%s: used ring order wrong (%u/%u then %u)", what,
				    vq.used.ring[used % qn].id, vq.used.ring[used % qn].len,
				    vq.used.ring[(uint16_t)(used + 1) % qn].id);
		return -1;
	}
	return (int)vq.used.ring[(uint16_t)(used + 1) % qn].len;
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

	if (len < (int)off || memcmp(vq.resp, doc_prefix, sizeof(doc_prefix) - 1)) {
		report_fail("nsm", "Attestation: response is not {\"Attestation\": {\"document\": bstr}}");
		return;
	}
	doc_len = (uint32_t)vq.resp[off - 2] << 8 | vq.resp[off - 1];
	if (off + doc_len != (uint32_t)len) {
		report_fail("nsm", "Attestation: document of %u bytes in a %d-byte response", doc_len, len);
		return;
	}
	report_ok("nsm", "Attestation: %d-byte response, %u-byte document", len, doc_len);
	print_hex("nsm-doc", vq.resp + off, doc_len);
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
	if (rd(R_MAGIC) != 0x74726976 || rd(R_VERSION) != 2 || rd(R_DEVICE_ID) != VIRTIO_ID_NSM) {
		report_fail_machine("nsm", "at 0x%lx: magic 0x%x version %u device %u, want virtio 2 device 33",
				    NSM_BASE, rd(R_MAGIC), rd(R_VERSION), rd(R_DEVICE_ID));
		return;
	}
	if (!handshake()) {
		report_fail_machine("nsm", "handshake failed (status 0x%x)", rd(R_STATUS));
		return;
	}
	len = nsm_call(describe_req, sizeof(describe_req) - 1, "DescribeNSM");
	if (len > 0) {
		first_bytes(fb, sizeof(fb), vq.resp, len);
		if (memcmp(vq.resp, "\xa1\x6b" "DescribeNSM", 13))
			report_fail("nsm", "DescribeNSM: %d bytes %s...", len, fb);
		else
			report_ok("nsm", "DescribeNSM: %d bytes %s...", len, fb);
		print_hex("nsm-describe", vq.resp, (uint32_t)len);
	}
	len = nsm_call(attest_req, sizeof(attest_req) - 1, "Attestation");
	if (len > 0)
		print_document(len);
	if (cfg.nsm_bench)
		bench();
	wr(R_STATUS, 0);
}
