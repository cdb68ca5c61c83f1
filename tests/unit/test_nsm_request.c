// SPDX-License-Identifier: MIT
/*
 * Unit tests for the NSM's PCR bank and its CBOR requests and responses.  Expected bytes are written out by
 * hand from aws-nitro-enclaves-nsm-api's serde schema, not produced by the encoder under test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "nsm/nsm.h"

/* Reference B.3: PCR4 of a real document for this instance. */
#define REAL_INSTANCE "i-0a9f2a8b8dd31c7c8"
#define REAL_PCR4                                                                                             \
	"f8e8fc387257438667dc453ccde507690656c27e1abd42f5b6746a609697b0b227fdbd345b5133b9eac8248d718ad75b"
#define EMPTY_PCR                                                                                             \
	"21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c10edb30948c90ba67310f7b964fc500a"
#define MODULE_ID "i-0a9f2a8b8dd31c7c8-enc019802a541b75725"

static void unhex(const char *h, uint8_t *out, size_t len)
{
	assert_int_equal(hex_decode(h, out, len), 0);
}

/* ---- PCR arithmetic ---- */

static void test_pcr4_vector(void **state)
{
	struct nsm_boot b = { .parent_id = REAL_INSTANCE };
	uint8_t want[NSM_PCR_LEN];
	struct nsm_pcrs p;

	(void)state;
	unhex(REAL_PCR4, want, sizeof(want));
	nsm_pcrs_boot(&p, &b);
	assert_memory_equal(p.value[4], want, NSM_PCR_LEN);
	/* No role: PCR3 stays zero, as on an instance without an IAM role. */
	for (unsigned int i = 0; i < NSM_PCR_LEN; i++)
		assert_int_equal(p.value[3][i], 0);
	for (unsigned int i = 0; i < NSM_MAX_PCRS; i++)
		assert_int_equal(p.locked[i], i < NSM_BOOT_LOCKED_PCRS);
}

static void test_pcr_measure_vector(void **state)
{
	uint8_t want[NSM_PCR_LEN], got[NSM_PCR_LEN];

	(void)state;
	unhex(EMPTY_PCR, want, sizeof(want));
	pcr_measure("", 0, got);
	assert_memory_equal(got, want, NSM_PCR_LEN);
}

static void test_pcr_extend_rules(void **state)
{
	struct nsm_boot b = { .parent_id = "i-x", .parent_role = "arn:aws:iam::123456789012:role/r" };
	uint8_t want[NSM_PCR_LEN] = { 0 }, role[NSM_PCR_LEN] = { 0 };
	struct nsm_pcrs p;

	(void)state;
	nsm_pcrs_boot(&p, &b);
	pcr_extend(role, b.parent_role, strlen(b.parent_role));
	assert_memory_equal(p.value[3], role, NSM_PCR_LEN);
	/* extend(pcr, data) = SHA384(pcr || data), twice. */
	pcr_extend(want, "abc", 3);
	pcr_extend(want, "", 0);
	assert_int_equal(nsm_pcr_extend(&p, 16, "abc", 3), NSM_E_SUCCESS);
	assert_int_equal(nsm_pcr_extend(&p, 16, "", 0), NSM_E_SUCCESS);
	assert_memory_equal(p.value[16], want, NSM_PCR_LEN);
	assert_int_equal(nsm_pcr_extend(&p, 0, "x", 1), NSM_E_READ_ONLY_INDEX);
	assert_int_equal(nsm_pcr_extend(&p, 15, "x", 1), NSM_E_READ_ONLY_INDEX);
	assert_int_equal(nsm_pcr_extend(&p, 32, "x", 1), NSM_E_INVALID_INDEX);
	assert_int_equal(nsm_pcr_lock(&p, 16), NSM_E_SUCCESS);
	assert_int_equal(nsm_pcr_lock(&p, 16), NSM_E_READ_ONLY_INDEX);
	assert_int_equal(nsm_pcr_extend(&p, 16, "x", 1), NSM_E_READ_ONLY_INDEX);
	assert_int_equal(nsm_pcr_lock(&p, 32), NSM_E_INVALID_INDEX);
	assert_int_equal(nsm_pcr_lock_range(&p, 33), NSM_E_INVALID_INDEX);
	assert_int_equal(nsm_pcr_lock_range(&p, 32), NSM_E_SUCCESS);
	assert_int_equal(nsm_pcr_lock_range(&p, 32), NSM_E_SUCCESS);
	assert_true(p.locked[31]);
}

static void test_ids(void **state)
{
	char pid[64], eid[128];

	(void)state;
	nsm_launch_ids(NULL, REAL_INSTANCE, 0x019802a541b75725ULL, pid, sizeof(pid), eid, sizeof(eid));
	assert_string_equal(pid, REAL_INSTANCE);
	/* nitro-cli formats the slot uid with {:x}: lowercase hex, no leading zeros. */
	assert_string_equal(eid, "i-0a9f2a8b8dd31c7c8-enc19802a541b75725");
	nsm_launch_ids(NULL, "i-1", 0x5, pid, sizeof(pid), eid, sizeof(eid));
	assert_string_equal(eid, "i-1-enc5");
	nsm_launch_ids("i-234-enc5678", "i-1", 0x5, pid, sizeof(pid), eid, sizeof(eid));
	assert_string_equal(eid, "i-234-enc5678");
	assert_int_equal(nsm_check_parent_string("--parent-id", "i-0123456789abcdef0", NSM_PARENT_ID_MAX), 0);
	assert_int_equal(nsm_check_parent_string("--parent-id", "", NSM_PARENT_ID_MAX), -EINVAL);
	assert_int_equal(nsm_check_parent_string("--parent-id", "a b", NSM_PARENT_ID_MAX), -EINVAL);
}

/* ---- requests and responses ---- */

static int fake_random(void *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = (uint8_t)i;
	return 0;
}

static int failing_random(void *buf, size_t len)
{
	(void)buf;
	(void)len;
	return -EIO;
}

static struct nsm_boot boot;

static struct nsm *new_module(bool debug)
{
	struct nsm_config c = { .module_id = MODULE_ID, .debug_mode = debug, .boot = &boot };
	struct nsm *n;

	memset(&boot, 0, sizeof(boot));
	pcr_measure("image", 5, boot.pcr0);
	pcr_measure("bootstrap", 9, boot.pcr1);
	pcr_measure("", 0, boot.pcr2);
	boot.parent_id = REAL_INSTANCE;
	n = nsm_create(&c);
	assert_non_null(n);
	nsm_set_sources(n, fake_random, NULL);
	return n;
}

static uint8_t resp[NSM_RESPONSE_MAX];

/* A literal request: its bytes and length (without the literal's NUL). */
#define REQ(s) (const uint8_t *)(s), sizeof(s) - 1

/* Send req (len bytes) and compare the whole response with want. */
#define EXCHANGE(n, req, want) exchange(n, (const uint8_t *)(req), sizeof(req) - 1, (const uint8_t *)(want), sizeof(want) - 1)
static void exchange(struct nsm *n, const uint8_t *req, size_t len, const uint8_t *want, size_t want_len)
{
	size_t got = nsm_handle(n, req, len, resp, sizeof(resp));

	if (got != want_len || memcmp(resp, want, want_len)) {
		char hex[2 * 256 + 1];

		hex_encode(resp, MIN(got, (size_t)256), hex);
		print_error("response (%zu bytes, want %zu): %s\n", got, want_len, hex);
	}
	assert_int_equal(got, want_len);
	assert_memory_equal(resp, want, want_len);
}

/* {"Error": "<name>"}: A1 65 "Error" 6x name */
static size_t error_bytes(const char *name, uint8_t *out)
{
	size_t n = strlen(name);

	memcpy(out, "\xa1\x65" "Error", 7);
	out[7] = (uint8_t)(0x60 | n);
	memcpy(out + 8, name, n);
	return 8 + n;
}

static void expect_error(struct nsm *n, const uint8_t *req, size_t len, const char *name)
{
	uint8_t want[64];
	size_t wl = error_bytes(name, want);

	exchange(n, req, len, want, wl);
}
#define EXPECT_ERROR(n, req, name) expect_error(n, (const uint8_t *)(req), sizeof(req) - 1, name)

static void test_error_encodings(void **state)
{
	static const char *const names[] = { "Success",		"InvalidArgument", "InvalidIndex",
					     "InvalidResponse", "ReadOnlyIndex",   "InvalidOperation",
					     "BufferTooSmall",	"InputTooLarge",   "InternalError" };
	uint8_t want[64], got[64];

	(void)state;
	assert_int_equal(ARRAY_SIZE(names), NSM_E_COUNT);
	for (unsigned int i = 0; i < NSM_E_COUNT; i++) {
		size_t wl = error_bytes(names[i], want);

		assert_string_equal(nsm_error_name((enum nsm_error)i), names[i]);
		assert_int_equal(nsm_encode_error((enum nsm_error)i, got, sizeof(got)), wl);
		assert_memory_equal(got, want, wl);
		/* One byte short: nothing rather than a truncated error. */
		assert_int_equal(nsm_encode_error((enum nsm_error)i, got, wl - 1), 0);
	}
}

static void test_describe_nsm(void **state)
{
	struct nsm *n = new_module(false);

	(void)state;
	EXCHANGE(n, "\x6b" "DescribeNSM",
		 "\xa1\x6b" "DescribeNSM" "\xa7"
		 "\x6d" "version_major" "\x01"
		 "\x6d" "version_minor" "\x00"
		 "\x6d" "version_patch" "\x00"
		 "\x69" "module_id" "\x78\x27" MODULE_ID
		 "\x68" "max_pcrs" "\x18\x20"
		 "\x6b" "locked_pcrs" "\x90" "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"
		 "\x66" "digest" "\x66" "SHA384");
	/* LockPCR 17 shows up in locked_pcrs. */
	EXCHANGE(n, "\xa1\x67" "LockPCR" "\xa1\x65" "index" "\x11", "\x67" "LockPCR");
	EXCHANGE(n, "\x6b" "DescribeNSM",
		 "\xa1\x6b" "DescribeNSM" "\xa7"
		 "\x6d" "version_major" "\x01"
		 "\x6d" "version_minor" "\x00"
		 "\x6d" "version_patch" "\x00"
		 "\x69" "module_id" "\x78\x27" MODULE_ID
		 "\x68" "max_pcrs" "\x18\x20"
		 "\x6b" "locked_pcrs" "\x91" "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x11"
		 "\x66" "digest" "\x66" "SHA384");
	nsm_free(n);
}

static void test_get_random(void **state)
{
	static const uint8_t prefix[] = "\xa1\x69" "GetRandom" "\xa1\x66" "random" "\x59\x01\x00";
	struct nsm *n = new_module(false);
	size_t got;

	(void)state;
	got = nsm_handle(n, (const uint8_t *)"\x69" "GetRandom", 10, resp, sizeof(resp));
	assert_int_equal(got, sizeof(prefix) - 1 + NSM_RANDOM_BYTES);
	assert_memory_equal(resp, prefix, sizeof(prefix) - 1);
	for (unsigned int i = 0; i < NSM_RANDOM_BYTES; i++)
		assert_int_equal(resp[sizeof(prefix) - 1 + i], (uint8_t)i);
	nsm_set_sources(n, failing_random, NULL);
	EXPECT_ERROR(n, "\x69" "GetRandom", "InternalError");
	nsm_free(n);
}

static void test_describe_pcr(void **state)
{
	/* {"DescribePCR": {"lock": true|false, "data": bstr(48)}} */
	static const char locked_hdr[] = "\xa1\x6b" "DescribePCR" "\xa2\x64" "lock" "\xf5\x64" "data" "\x58\x30";
	static const char unlocked_hdr[] = "\xa1\x6b" "DescribePCR" "\xa2\x64" "lock" "\xf4\x64" "data" "\x58\x30";
	const size_t HDR_LEN = sizeof(locked_hdr) - 1;
	struct nsm *n = new_module(false);
	uint8_t want[128];
	size_t wl;

	(void)state;
	memcpy(want, locked_hdr, HDR_LEN);
	memcpy(want + HDR_LEN, boot.pcr0, NSM_PCR_LEN);
	wl = HDR_LEN + NSM_PCR_LEN;
	exchange(n, REQ("\xa1\x6b" "DescribePCR" "\xa1\x65" "index" "\x00"), want, wl);
	/* PCR 20: unlocked, zero; index as a two-byte uint is fine (serde does not insist on shortest). */
	memcpy(want, unlocked_hdr, HDR_LEN);
	memset(want + HDR_LEN, 0, NSM_PCR_LEN);
	exchange(n, REQ("\xa1\x6b" "DescribePCR" "\xa1\x65" "index" "\x19\x00\x14"), want, wl);
	EXPECT_ERROR(n, "\xa1\x6b" "DescribePCR" "\xa1\x65" "index" "\x18\x20", "InvalidIndex");
	EXPECT_ERROR(n, "\xa1\x6b" "DescribePCR" "\xa1\x65" "index" "\x1a\x00\x01\x00\x00", "InvalidArgument");
	EXPECT_ERROR(n, "\xa1\x6b" "DescribePCR" "\xa1\x65" "index" "\x20", "InvalidArgument");
	EXPECT_ERROR(n, "\xa1\x6b" "DescribePCR" "\xa0", "InvalidArgument");
	EXPECT_ERROR(n, "\xa1\x6b" "DescribePCR" "\xa2\x65" "index" "\x00\x65" "index" "\x01", "InvalidArgument");
	/* Unknown fields are ignored, as serde does. */
	memcpy(want, locked_hdr, HDR_LEN);
	memcpy(want + HDR_LEN, boot.pcr0, NSM_PCR_LEN);
	exchange(n, REQ("\xa1\x6b" "DescribePCR" "\xa2\x63" "foo" "\x82\x01\x02\x65" "index" "\x00"), want, wl);
	nsm_free(n);
}

static void test_extend_and_lock(void **state)
{
	/* {"ExtendPCR": {"data": bstr(48)}} */
	static const char hdr[] = "\xa1\x69" "ExtendPCR" "\xa1\x64" "data" "\x58\x30";
	struct nsm *n = new_module(false);
	uint8_t want[128], pcr[NSM_PCR_LEN] = { 0 };

	(void)state;
	pcr_extend(pcr, "hello", 5);
	memcpy(want, hdr, sizeof(hdr) - 1);
	memcpy(want + sizeof(hdr) - 1, pcr, NSM_PCR_LEN);
	exchange(n, REQ("\xa1\x69" "ExtendPCR" "\xa2\x65" "index" "\x10\x64" "data" "\x45" "hello"), want, sizeof(hdr) - 1 + NSM_PCR_LEN);
	EXPECT_ERROR(n, "\xa1\x69" "ExtendPCR" "\xa2\x65" "index" "\x00\x64" "data" "\x41" "x", "ReadOnlyIndex");
	EXPECT_ERROR(n, "\xa1\x69" "ExtendPCR" "\xa2\x65" "index" "\x18\x20\x64" "data" "\x41" "x", "InvalidIndex");
	EXPECT_ERROR(n, "\xa1\x69" "ExtendPCR" "\xa1\x65" "index" "\x10", "InvalidArgument");
	EXPECT_ERROR(n, "\xa1\x69" "ExtendPCR" "\xa2\x65" "index" "\x10\x64" "data" "\x61" "x", "InvalidArgument");
	EXPECT_ERROR(n, "\xa1\x69" "ExtendPCR" "\xa2\x65" "index" "\x10\x64" "data" "\xf6", "InvalidArgument");
	EXCHANGE(n, "\xa1\x67" "LockPCR" "\xa1\x65" "index" "\x10", "\x67" "LockPCR");
	EXPECT_ERROR(n, "\xa1\x67" "LockPCR" "\xa1\x65" "index" "\x10", "ReadOnlyIndex");
	EXPECT_ERROR(n, "\xa1\x67" "LockPCR" "\xa1\x65" "index" "\x03", "ReadOnlyIndex");
	EXPECT_ERROR(n, "\xa1\x67" "LockPCR" "\xa1\x65" "index" "\x18\x20", "InvalidIndex");
	EXPECT_ERROR(n, "\xa1\x69" "ExtendPCR" "\xa2\x65" "index" "\x10\x64" "data" "\x41" "x", "ReadOnlyIndex");
	EXPECT_ERROR(n, "\xa1\x68" "LockPCRs" "\xa1\x65" "range" "\x18\x21", "InvalidIndex");
	EXCHANGE(n, "\xa1\x68" "LockPCRs" "\xa1\x65" "range" "\x18\x20", "\x68" "LockPCRs");
	EXCHANGE(n, "\xa1\x68" "LockPCRs" "\xa1\x65" "range" "\x00", "\x68" "LockPCRs");
	EXPECT_ERROR(n, "\xa1\x69" "ExtendPCR" "\xa2\x65" "index" "\x18\x1f\x64" "data" "\x41" "x", "ReadOnlyIndex");
	nsm_free(n);
}

static void test_malformed(void **state)
{
	struct nsm *n = new_module(false);
	uint8_t big[NSM_REQUEST_MAX + 1] = { 0x6b };

	(void)state;
	EXPECT_ERROR(n, "", "InvalidOperation");
	EXPECT_ERROR(n, "\xff", "InvalidOperation");
	EXPECT_ERROR(n, "\x6b" "DescribeNS", "InvalidOperation");	    /* truncated */
	EXPECT_ERROR(n, "\x6b" "DescribeNSM" "\x00", "InvalidOperation");   /* trailing byte */
	EXPECT_ERROR(n, "\x67" "LockPCR", "InvalidOperation");	    /* struct variant as a bare name */
	EXPECT_ERROR(n, "\x64" "Nope", "InvalidOperation");
	EXPECT_ERROR(n, "\x4b" "DescribeNSM", "InvalidOperation");	    /* bstr, not text */
	EXPECT_ERROR(n, "\xa1\x64" "Nope" "\xa0", "InvalidOperation");
	EXPECT_ERROR(n, "\xa1\x6b" "DescribeNSM" "\xf6", "InvalidOperation"); /* unit variant as a map */
	EXPECT_ERROR(n, "\xa2\x67" "LockPCR" "\xa0\x67" "LockPCR" "\xa0", "InvalidOperation");
	EXPECT_ERROR(n, "\xbf\x67" "LockPCR" "\xa0\xff", "InvalidOperation"); /* indefinite */
	EXPECT_ERROR(n, "\xa1\x67" "LockPCR" "\xa1\x65" "index", "InvalidOperation");
	EXPECT_ERROR(n, "\xa1\x67" "LockPCR" "\xb9\xff\xff", "InvalidOperation"); /* count far past the data */
	EXPECT_ERROR(n, "\xa1\x69" "ExtendPCR" "\xa2\x65" "index" "\x10\x64" "data" "\x5a\xff\xff\xff\xff",
		     "InvalidOperation");
	EXPECT_ERROR(n, "\xa1\x67" "LockPCR" "\xa1\x63" "foo" "\x81\x81\x81\x81\x81\x81\x81\x81\x81\x81\x00",
		     "InvalidOperation"); /* nesting past the bound */
	EXPECT_ERROR(n, "\xa1\x67" "LockPCR" "\xa1\x65" "index" "\x1c", "InvalidOperation"); /* reserved head */
	EXPECT_ERROR(n, "\xa1\x67" "LockPCR" "\xa1\x01\x10", "InvalidArgument"); /* non-text key */
	memset(big + 1, 'x', sizeof(big) - 1);
	expect_error(n, big, sizeof(big), "InputTooLarge");
	nsm_free(n);
}

static void test_buffer_too_small(void **state)
{
	struct nsm *n = new_module(false);
	uint8_t want[64];
	size_t wl = error_bytes("BufferTooSmall", want), got;

	(void)state;
	got = nsm_handle(n, (const uint8_t *)"\x6b" "DescribeNSM", 12, resp, 64);
	assert_int_equal(got, wl);
	assert_memory_equal(resp, want, wl);
	/* Not even the error fits: nothing (the device then resets). */
	assert_int_equal(nsm_handle(n, (const uint8_t *)"\x6b" "DescribeNSM", 12, resp, wl - 1), 0);
	nsm_free(n);
}

static void test_attestation_errors(void **state)
{
	struct nsm *n = new_module(false);
	static uint8_t req[NSM_REQUEST_MAX];
	size_t len = 0;

	(void)state;
	/* No signer: InternalError, after the fields were checked. */
	EXPECT_ERROR(n, "\xa1\x6b" "Attestation" "\xa0", "InternalError");
	EXPECT_ERROR(n, "\xa1\x6b" "Attestation" "\xa1\x65" "nonce" "\x01", "InvalidArgument");
	/* {"Attestation": {"user_data": bstr(1025)}} */
	memcpy(req, "\xa1\x6b" "Attestation" "\xa1\x69" "user_data" "\x59\x04\x01", 27);
	len = 27 + 1025;
	memset(req + 27, 'u', 1025);
	expect_error(n, req, len, "InputTooLarge");
	nsm_free(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pcr4_vector),	 cmocka_unit_test(test_pcr_measure_vector),
		cmocka_unit_test(test_pcr_extend_rules), cmocka_unit_test(test_ids),
		cmocka_unit_test(test_error_encodings),	 cmocka_unit_test(test_describe_nsm),
		cmocka_unit_test(test_get_random),	 cmocka_unit_test(test_describe_pcr),
		cmocka_unit_test(test_extend_and_lock),	 cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_buffer_too_small), cmocka_unit_test(test_attestation_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
