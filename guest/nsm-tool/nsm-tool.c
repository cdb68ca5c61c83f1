// SPDX-License-Identifier: MIT
/*
 * nsm-tool: ask the Nitro Secure Module from inside an enclave, through /dev/nsm (Linux's nsm driver) and its
 * one ioctl, NSM_IOCTL_RAW, which carries a CBOR request and returns a CBOR response (reference E.1, E.2).
 *
 *   nsm-tool describe                      DescribeNSM
 *   nsm-tool describe-pcr N                DescribePCR {index}
 *   nsm-tool extend-pcr N HEXDATA          ExtendPCR {index, data}
 *   nsm-tool lock-pcr N                    LockPCR {index}
 *   nsm-tool lock-pcrs RANGE               LockPCRs {range}: PCRs 0 .. RANGE-1
 *   nsm-tool random [N]                    GetRandom, repeated until N bytes (default: one answer)
 *   nsm-tool attest [--nonce HEX] [--user-data HEX] [--public-key HEX] [--out FILE] [--hex]
 *   nsm-tool bench COUNT                   COUNT Attestation round trips, timed: one NSM-BENCH line (bench/nsm);
 *                                          COUNT 0: ask until killed, printing nothing (a load beside others)
 *
 * Each prints the response as one line of JSON (byte strings as hex); attest prints the document's payload
 * decoded, writes the raw document (COSE_Sign1 bytes) to --out, and with --hex prints it hex-encoded between
 * "NSM-DOCUMENT-BEGIN <length>" and "NSM-DOCUMENT-END" lines of 64 digits each, for a console to carry out.
 *
 * Exit status: 0 done; 1 bad usage; 2 the NSM answered {"Error": ...}; 3 the device or the response failed.
 *
 * The CBOR is written and read by hand: requests are a handful of fixed shapes, and a static binary without
 * libcbor stays small and builds anywhere.  Responses come from the (emulated or real) hypervisor and are
 * read with bounds checks all the same.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#ifndef NSM_DEV
#define NSM_DEV "/dev/nsm"
#endif
/* _IOWR(0x0A, 0, struct nsm_raw): 32-byte argument, magic 0x0A, number 0. */
#define NSM_IOCTL_RAW	 0xC0200A00UL
#define NSM_REQUEST_MAX	 0x1000 /* the driver refuses larger requests (EMSGSIZE) */
#define NSM_RESPONSE_MAX 0x3000 /* the driver's response buffer */
#define NSM_FIELD_MAX	 1024	/* user_data, nonce, public_key */
#define NSM_MAX_PCRS	 32
#define CBOR_MAX_DEPTH	 16
#define HEX_LINE_DIGITS	 64
#define BENCH_MAX	 100000 /* timed round trips kept for the percentiles: 800 KB */

enum exit_status {
	EXIT_OK = 0,
	EXIT_USAGE = 1,
	EXIT_NSM_ERROR = 2,
	EXIT_DEVICE = 3,
};

/* The ioctl's argument, as include/uapi/linux/nsm.h lays it out (two iovecs). */
struct nsm_raw {
	uint64_t req_addr, req_len;
	uint64_t resp_addr, resp_len;
};

/* ---- CBOR writing ---- */

struct cbuf {
	uint8_t b[NSM_REQUEST_MAX];
	size_t len;
	bool overflow;
};

static void put(struct cbuf *c, const void *p, size_t n)
{
	if (n > sizeof(c->b) - c->len) {
		c->overflow = true;
		return;
	}
	memcpy(c->b + c->len, p, n);
	c->len += n;
}

static void head(struct cbuf *c, unsigned int major, uint64_t v)
{
	uint8_t h[9];
	size_t n = 1;

	if (v < 24) {
		h[0] = (uint8_t)(major << 5 | v);
	} else if (v <= 0xff) {
		h[0] = (uint8_t)(major << 5 | 24);
		h[1] = (uint8_t)v;
		n = 2;
	} else if (v <= 0xffff) {
		h[0] = (uint8_t)(major << 5 | 25);
		h[1] = (uint8_t)(v >> 8);
		h[2] = (uint8_t)v;
		n = 3;
	} else {
		h[0] = (uint8_t)(major << 5 | 26);
		for (int i = 0; i < 4; i++)
			h[1 + i] = (uint8_t)(v >> (24 - 8 * i));
		n = 5;
	}
	put(c, h, n);
}

static void text(struct cbuf *c, const char *s)
{
	head(c, 3, strlen(s));
	put(c, s, strlen(s));
}

static void bytes_or_null(struct cbuf *c, const uint8_t *p, size_t n, bool present)
{
	if (!present) {
		put(c, "\xf6", 1);
		return;
	}
	head(c, 2, n);
	put(c, p, n);
}

/* {"Name": {"field": uint}} — serde's externally tagged struct variant with one u16 field. */
static void one_uint_request(struct cbuf *c, const char *name, const char *field, unsigned int v)
{
	head(c, 5, 1);
	text(c, name);
	head(c, 5, 1);
	text(c, field);
	head(c, 0, v);
}

/* ---- CBOR reading: any response, printed as JSON ---- */

struct rd {
	const uint8_t *p, *end;
};

static int rd_head(struct rd *r, unsigned int *major, uint64_t *val, bool *indef)
{
	unsigned int ai;

	if (r->p >= r->end)
		return -1;
	*major = *r->p >> 5;
	ai = *r->p & 0x1f;
	r->p++;
	*indef = false;
	if (ai < 24) {
		*val = ai;
	} else if (ai <= 27) {
		size_t n = (size_t)1 << (ai - 24);

		if ((size_t)(r->end - r->p) < n)
			return -1;
		*val = 0;
		for (size_t i = 0; i < n; i++)
			*val = *val << 8 | *r->p++;
	} else if (ai == 31 && *major >= 2 && *major != 6) {
		*indef = true;
		*val = 0;
	} else {
		return -1;
	}
	return 0;
}

static void print_hex(FILE *f, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", p[i]);
}

static void print_json_string(FILE *f, const uint8_t *p, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '"' || p[i] == '\\')
			fprintf(f, "\\%c", p[i]);
		else if (p[i] < 0x20)
			fprintf(f, "\\u%04x", p[i]);
		else
			fputc(p[i], f);
	}
	fputc('"', f);
}

static bool at_break(struct rd *r)
{
	if (r->p < r->end && *r->p == 0xff) {
		r->p++;
		return true;
	}
	return false;
}

/* Print one item as JSON: byte strings as hex, map keys as strings.  Returns -1 on malformed input. */
static int print_item(struct rd *r, FILE *f, unsigned int depth)
{
	unsigned int major;
	uint64_t v;
	bool indef;

	if (depth > CBOR_MAX_DEPTH || rd_head(r, &major, &v, &indef))
		return -1;
	switch (major) {
	case 0:
		fprintf(f, "%llu", (unsigned long long)v);
		return 0;
	case 1:
		fprintf(f, "-%llu", (unsigned long long)v + 1);
		return 0;
	case 2:
	case 3:
		if (indef || v > (uint64_t)(r->end - r->p))
			return -1;
		if (major == 2) {
			fputc('"', f);
			print_hex(f, r->p, (size_t)v);
			fputc('"', f);
		} else {
			print_json_string(f, r->p, (size_t)v);
		}
		r->p += v;
		return 0;
	case 4:
	case 5:
		fputc(major == 4 ? '[' : '{', f);
		for (uint64_t i = 0; indef ? !at_break(r) : i < v; i++) {
			if (i)
				fputs(", ", f);
			if (major == 5) {
				const uint8_t *k = r->p;
				unsigned int km;
				uint64_t kv;
				bool ki;

				/* JSON keys are strings: text keys as they are, integer keys (PCR indexes)
				 * quoted. */
				if (rd_head(r, &km, &kv, &ki))
					return -1;
				if (km == 0) {
					fprintf(f, "\"%llu\"", (unsigned long long)kv);
				} else {
					r->p = k;
					if (print_item(r, f, depth + 1))
						return -1;
				}
				fputs(": ", f);
			}
			if (print_item(r, f, depth + 1))
				return -1;
		}
		fputc(major == 4 ? ']' : '}', f);
		return 0;
	case 6:
		return print_item(r, f, depth + 1);
	default:
		if (v == 20 || v == 21)
			fputs(v == 21 ? "true" : "false", f);
		else if (v == 22 || v == 23)
			fputs("null", f);
		else
			return -1;
		return 0;
	}
}

/* Step over one item (the COSE headers before the payload). */
static int skip_item(struct rd *r, unsigned int depth)
{
	unsigned int major;
	uint64_t v;
	bool indef;

	if (depth > CBOR_MAX_DEPTH || rd_head(r, &major, &v, &indef))
		return -1;
	switch (major) {
	case 2:
	case 3:
		if (indef || v > (uint64_t)(r->end - r->p))
			return -1;
		r->p += v;
		return 0;
	case 4:
	case 5:
		for (uint64_t i = 0; indef ? !at_break(r) : i < v; i++)
			if (skip_item(r, depth + 1) || (major == 5 && skip_item(r, depth + 1)))
				return -1;
		return 0;
	case 6:
		return skip_item(r, depth + 1);
	default:
		return 0;
	}
}

/* ---- talking to the NSM ---- */

static uint8_t response[NSM_RESPONSE_MAX];

static int nsm_call(int fd, const struct cbuf *req, size_t *resp_len)
{
	struct nsm_raw raw = {
		.req_addr = (uintptr_t)req->b,
		.req_len = req->len,
		.resp_addr = (uintptr_t)response,
		.resp_len = sizeof(response),
	};

	if (req->overflow) {
		fprintf(stderr, "nsm-tool: the request does not fit in the %d bytes the driver takes\n",
			NSM_REQUEST_MAX);
		return EXIT_USAGE;
	}
	if (ioctl(fd, NSM_IOCTL_RAW, &raw)) {
		fprintf(stderr, "nsm-tool: NSM_IOCTL_RAW on %s failed: %s\n", NSM_DEV, strerror(errno));
		return EXIT_DEVICE;
	}
	if (raw.resp_len > sizeof(response)) {
		fprintf(stderr, "nsm-tool: the driver reports a %llu-byte response, more than its buffer\n",
			(unsigned long long)raw.resp_len);
		return EXIT_DEVICE;
	}
	*resp_len = (size_t)raw.resp_len;
	return EXIT_OK;
}

/* {"Error": "Name"}: print the name to stderr and say so, in one write: stderr is unbuffered, and the console
 * it shares with stdout (and the kernel's messages) may put another line between two writes. */
static bool is_error(const uint8_t *p, size_t n)
{
	static const uint8_t prefix[] = {0xa1, 0x65, 'E', 'r', 'r', 'o', 'r'};
	struct rd r = {p + sizeof(prefix), p + n};
	unsigned int major;
	uint64_t v;
	bool indef;

	if (n < sizeof(prefix) || memcmp(p, prefix, sizeof(prefix)))
		return false;
	if (!rd_head(&r, &major, &v, &indef) && major == 3 && !indef && v <= (uint64_t)(r.end - r.p) &&
	    v <= INT_MAX)
		fprintf(stderr, "nsm-tool: the NSM answered with an error: %.*s\n", (int)v, r.p);
	else
		fputs("nsm-tool: the NSM answered with an error: (unreadable)\n", stderr);
	return true;
}

static int print_response(const uint8_t *p, size_t n)
{
	struct rd r = {p, p + n};

	if (print_item(&r, stdout, 0) || r.p != r.end) {
		fputs("\n", stdout);
		fprintf(stderr, "nsm-tool: the %zu-byte response is not valid CBOR\n", n);
		return EXIT_DEVICE;
	}
	fputs("\n", stdout);
	return EXIT_OK;
}

/* Send a request and print its response; *resp_len (if asked) is the response's length in response[]. */
static int transact(int fd, const struct cbuf *req, bool print, size_t *resp_len)
{
	size_t n = 0;
	int ret = nsm_call(fd, req, &n);

	if (ret)
		return ret;
	if (resp_len)
		*resp_len = n;
	if (is_error(response, n)) {
		print_response(response, n);
		return EXIT_NSM_ERROR;
	}
	return print ? print_response(response, n) : EXIT_OK;
}

/* ---- arguments ---- */

static int parse_uint(const char *s, unsigned long max, unsigned int *out)
{
	char *end;
	unsigned long v;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || v > max)
		return -1;
	*out = (unsigned int)v;
	return 0;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Hex into a static-sized buffer; -1 for odd length, bad digits or more than max bytes. */
static int parse_hex(const char *s, uint8_t *out, size_t max, size_t *len)
{
	size_t n = strlen(s);

	if (n % 2 || n / 2 > max)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = n / 2;
	return 0;
}

static int usage_error(const char *fmt, const char *arg)
{
	fputs("nsm-tool: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("; run 'nsm-tool --help'\n", stderr);
	return EXIT_USAGE;
}

static const char usage[] =
	"Usage: nsm-tool COMMAND [ARGS]\n\n"
	"Ask the Nitro Secure Module through " NSM_DEV " and print its answer as JSON (bytes as hex).\n\n"
	"  describe                       module id, version, PCR count, locked PCRs, digest\n"
	"  describe-pcr N                 PCR N's value and whether it is locked\n"
	"  extend-pcr N HEXDATA           PCR N := SHA384(PCR N || data); prints the new value\n"
	"  lock-pcr N                     lock PCR N\n"
	"  lock-pcrs RANGE                lock PCRs 0 .. RANGE-1\n"
	"  random [N]                     N random bytes (default: what one request returns)\n"
	"  attest [--nonce HEX] [--user-data HEX] [--public-key HEX] [--out FILE] [--hex]\n"
	"                                 an attestation document: prints its payload; --out writes the raw\n"
	"                                 document, --hex prints it between NSM-DOCUMENT-BEGIN/END lines\n"
	"  bench COUNT                    COUNT timed attestations: 'NSM-BENCH n= p50_us= p99_us= mean_us= max_us='\n"
	"                                 (COUNT 0: attest until killed, printing nothing)\n\n"
	"Exit status: 0 done, 1 bad usage, 2 the NSM answered with an error, 3 the device failed.\n";

/* ---- commands ---- */

static int cmd_simple(int fd, int argc, char **argv)
{
	const char *cmd = argv[0];
	struct cbuf req = {.len = 0};
	unsigned int n;

	if (!strcmp(cmd, "describe")) {
		if (argc != 1)
			return usage_error("describe takes no arguments (got '%s')", argv[1]);
		text(&req, "DescribeNSM");
	} else if (!strcmp(cmd, "describe-pcr") || !strcmp(cmd, "lock-pcr")) {
		/* The NSM answers InvalidIndex for indexes past its PCRs: let it, u16 is the wire type. */
		if (argc != 2 || parse_uint(argv[1], 0xffff, &n))
			return usage_error("%s needs one PCR index", cmd);
		one_uint_request(&req, !strcmp(cmd, "lock-pcr") ? "LockPCR" : "DescribePCR", "index", n);
	} else if (!strcmp(cmd, "lock-pcrs")) {
		if (argc != 2 || parse_uint(argv[1], 0xffff, &n))
			return usage_error("%s needs one range (PCRs 0 .. RANGE-1 are locked)", cmd);
		one_uint_request(&req, "LockPCRs", "range", n);
	} else {
		return usage_error("unknown command '%s'", cmd);
	}
	return transact(fd, &req, true, NULL);
}

static int cmd_extend(int fd, int argc, char **argv)
{
	static uint8_t data[NSM_REQUEST_MAX];
	struct cbuf req = {.len = 0};
	unsigned int n;
	size_t len;

	if (argc != 3 || parse_uint(argv[1], 0xffff, &n))
		return usage_error("%s needs a PCR index and the data in hex", argv[0]);
	if (parse_hex(argv[2], data, sizeof(data), &len))
		return usage_error("the data '%s' is not hex (or is too long)", argv[2]);
	head(&req, 5, 1);
	text(&req, "ExtendPCR");
	head(&req, 5, 2);
	text(&req, "index");
	head(&req, 0, n);
	text(&req, "data");
	bytes_or_null(&req, data, len, true);
	return transact(fd, &req, true, NULL);
}

/*
 * The byte string that ends a response of the form {"Request": {"key": bstr}}: prefix is the CBOR up to the
 * byte string's head.  Nothing may follow it.
 */
static int response_bytes(const uint8_t *p, size_t n, const uint8_t *prefix, size_t prefix_len,
			  const uint8_t **out, size_t *len)
{
	struct rd r = {p + prefix_len, p + n};
	unsigned int major;
	uint64_t v;
	bool indef;

	if (n < prefix_len || memcmp(p, prefix, prefix_len) || rd_head(&r, &major, &v, &indef) || major != 2 ||
	    indef || v != (uint64_t)(r.end - r.p))
		return -1;
	*out = r.p;
	*len = (size_t)v;
	return 0;
}

/* The random bytes of a GetRandom response: {"GetRandom": {"random": bstr}}. */
static int random_bytes(const uint8_t *p, size_t n, const uint8_t **out, size_t *len)
{
	static const uint8_t prefix[] = {0xa1, 0x69, 'G',  'e', 't', 'R', 'a', 'n', 'd', 'o',
					 'm',  0xa1, 0x66, 'r', 'a', 'n', 'd', 'o', 'm'};

	return response_bytes(p, n, prefix, sizeof(prefix), out, len);
}

static int cmd_random(int fd, int argc, char **argv)
{
	struct cbuf req = {.len = 0};
	unsigned int want = 0;
	size_t got = 0;
	int ret;

	if (argc > 2 || (argc == 2 && parse_uint(argv[1], 1 << 20, &want)))
		return usage_error("%s takes an optional byte count (up to 1 MiB)", argv[0]);
	text(&req, "GetRandom");
	if (!want)
		return transact(fd, &req, true, NULL);
	fputs("{\"GetRandom\": {\"random\": \"", stdout);
	while (got < want) {
		const uint8_t *p;
		size_t n, len;

		ret = transact(fd, &req, false, &n);
		if (ret)
			return ret;
		if (random_bytes(response, n, &p, &len) || !len) {
			fprintf(stderr, "nsm-tool: the GetRandom response is not {\"GetRandom\": "
					"{\"random\": bytes}}\n");
			return EXIT_DEVICE;
		}
		if (len > want - got)
			len = want - got;
		print_hex(stdout, p, len);
		got += len;
	}
	fputs("\"}}\n", stdout);
	return EXIT_OK;
}

/* The document inside {"Attestation": {"document": bstr}}. */
static int attestation_document(const uint8_t *p, size_t n, const uint8_t **doc, size_t *len)
{
	static const uint8_t prefix[] = {0xa1, 0x6b, 'A',  't', 't', 'e', 's', 't', 'a', 't', 'i', 'o',
					 'n',  0xa1, 0x68, 'd', 'o', 'c', 'u', 'm', 'e', 'n', 't'};

	return response_bytes(p, n, prefix, sizeof(prefix), doc, len);
}

/* The payload of a COSE_Sign1 (tagged or not): its third item, a byte string. */
static int cose_payload(const uint8_t *doc, size_t len, const uint8_t **pl, size_t *pl_len)
{
	struct rd r = {doc, doc + len};
	unsigned int major;
	uint64_t v;
	bool indef;

	if (rd_head(&r, &major, &v, &indef))
		return -1;
	if (major == 6 && rd_head(&r, &major, &v, &indef))
		return -1;
	if (major != 4 || v != 4 || indef)
		return -1;
	for (int i = 0; i < 3; i++) {
		const uint8_t *start = r.p;

		if (skip_item(&r, 0))
			return -1;
		if (i == 2) {
			struct rd b = {start, r.p};

			if (rd_head(&b, &major, &v, &indef) || major != 2 || indef)
				return -1;
			*pl = b.p;
			*pl_len = (size_t)v;
		}
	}
	return 0;
}

static int write_file(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(p, 1, n, f) != n || fclose(f)) {
		fprintf(stderr, "nsm-tool: cannot write %s: %s\n", path, strerror(errno));
		return EXIT_DEVICE;
	}
	return EXIT_OK;
}

static void print_hex_lines(const uint8_t *p, size_t n)
{
	printf("NSM-DOCUMENT-BEGIN %zu\n", n);
	for (size_t i = 0; i < n; i += HEX_LINE_DIGITS / 2) {
		print_hex(stdout, p + i, n - i < HEX_LINE_DIGITS / 2 ? n - i : HEX_LINE_DIGITS / 2);
		fputc('\n', stdout);
	}
	printf("NSM-DOCUMENT-END\n");
}

static int cmd_attest(int fd, int argc, char **argv)
{
	static uint8_t fields[3][NSM_FIELD_MAX];
	static const char *const names[3] = {"--user-data", "--nonce", "--public-key"};
	size_t lens[3] = {0};
	bool present[3] = {false}, hex = false;
	const char *out = NULL;
	struct cbuf req = {.len = 0};
	const uint8_t *doc, *pl;
	size_t n, doc_len, pl_len;
	int ret;

	for (int i = 1; i < argc; i++) {
		int f;

		if (!strcmp(argv[i], "--hex")) {
			hex = true;
			continue;
		}
		if (i + 1 >= argc)
			return usage_error("%s needs a value", argv[i]);
		if (!strcmp(argv[i], "--out")) {
			out = argv[++i];
			continue;
		}
		for (f = 0; f < 3; f++)
			if (!strcmp(argv[i], names[f]))
				break;
		if (f == 3)
			return usage_error("attest does not take '%s'", argv[i]);
		if (parse_hex(argv[++i], fields[f], NSM_FIELD_MAX, &lens[f]))
			return usage_error("'%s' is not hex of at most 1024 bytes", argv[i]);
		present[f] = true;
	}
	/* {"Attestation": {"user_data", "nonce", "public_key"}}, serde's declared order (reference E.2). */
	head(&req, 5, 1);
	text(&req, "Attestation");
	head(&req, 5, 3);
	for (int f = 0; f < 3; f++) {
		text(&req, f == 0 ? "user_data" : f == 1 ? "nonce" : "public_key");
		bytes_or_null(&req, fields[f], lens[f], present[f]);
	}
	ret = transact(fd, &req, false, &n);
	if (ret)
		return ret;
	if (attestation_document(response, n, &doc, &doc_len)) {
		fprintf(stderr, "nsm-tool: the response is not {\"Attestation\": {\"document\": bytes}}\n");
		return EXIT_DEVICE;
	}
	if (out) {
		ret = write_file(out, doc, doc_len);
		if (ret)
			return ret;
	}
	if (hex)
		print_hex_lines(doc, doc_len);
	if (cose_payload(doc, doc_len, &pl, &pl_len)) {
		fprintf(stderr, "nsm-tool: the %zu-byte document is not a COSE_Sign1\n", doc_len);
		return EXIT_DEVICE;
	}
	return print_response(pl, pl_len);
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The figure bench/nsm reads: percentiles of COUNT round trips, each with a nonce of its own. */
static int cmd_bench(int fd, int argc, char **argv)
{
	static uint64_t took[BENCH_MAX];
	uint64_t total = 0, t0;
	unsigned int count;
	size_t n;
	int ret;

	if (argc != 2 || parse_uint(argv[1], BENCH_MAX, &count))
		return usage_error("bench needs a count of at most 100000 (0: until killed), got '%s'",
				   argc > 1 ? argv[1] : "nothing");
	for (unsigned int i = 0; !count || i < count; i++) {
		struct cbuf req = {.len = 0};
		uint32_t nonce = i;

		head(&req, 5, 1);
		text(&req, "Attestation");
		head(&req, 5, 3);
		text(&req, "user_data");
		bytes_or_null(&req, NULL, 0, false);
		text(&req, "nonce");
		bytes_or_null(&req, (const uint8_t *)&nonce, sizeof(nonce), true);
		text(&req, "public_key");
		bytes_or_null(&req, NULL, 0, false);
		t0 = now_us();
		ret = transact(fd, &req, false, &n);
		if (ret)
			return ret;
		if (count)
			took[i] = now_us() - t0;
	}
	if (!count)
		return EXIT_OK;
	for (unsigned int i = 0; i < count; i++)
		total += took[i];
	qsort(took, count, sizeof(took[0]), cmp_u64);
	printf("NSM-BENCH n=%u p50_us=%llu p99_us=%llu mean_us=%llu max_us=%llu\n", count,
	       (unsigned long long)took[count / 2], (unsigned long long)took[(count * 99) / 100],
	       (unsigned long long)(total / count), (unsigned long long)took[count - 1]);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	int (*run)(int fd, int argc, char **argv);
	int fd, ret;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (!strcmp(argv[1], "extend-pcr"))
		run = cmd_extend;
	else if (!strcmp(argv[1], "random"))
		run = cmd_random;
	else if (!strcmp(argv[1], "attest"))
		run = cmd_attest;
	else if (!strcmp(argv[1], "bench"))
		run = cmd_bench;
	else if (!strcmp(argv[1], "describe") || !strcmp(argv[1], "describe-pcr") ||
		 !strcmp(argv[1], "lock-pcr") || !strcmp(argv[1], "lock-pcrs"))
		run = cmd_simple;
	else
		return usage_error("unknown command '%s'", argv[1]);
	fd = open(NSM_DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "nsm-tool: cannot open %s: %s (is the nsm module loaded?)\n", NSM_DEV,
			strerror(errno));
		return EXIT_DEVICE;
	}
	ret = run(fd, argc - 1, argv + 1);
	close(fd);
	fflush(stdout);
	return ret;
}
