// SPDX-License-Identifier: MIT
/* Unit tests: EIF header and section encoding, CRC, PCR formulas, reader checks, metadata JSON. */
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
#include "crypto/crypto.h"
#include "eif/eif.h"

static const char empty_pcr_hex[] = "21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c"
				    "10edb30948c90ba67310f7b964fc500a";

/* A bit-at-a-time CRC-32/ISO-HDLC, independent of the library's table/PCLMUL one. */
static uint32_t ref_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
	}
	return ~crc;
}

static void expect_pcr(const uint8_t *pcr, const void *a, size_t alen, const void *b, size_t blen, const void *c,
		       size_t clen)
{
	struct sha384_ctx ctx;
	uint8_t d[SHA384_LEN], want[SHA384_LEN], zero[SHA384_LEN] = { 0 };

	assert_int_equal(sha384_init(&ctx), 0);
	sha384_update(&ctx, a, alen);
	sha384_update(&ctx, b, blen);
	sha384_update(&ctx, c, clen);
	sha384_final(&ctx, d);
	/* PCR = SHA384(0^48 || SHA384(content)), computed here from first principles. */
	assert_int_equal(sha384_init(&ctx), 0);
	sha384_update(&ctx, zero, sizeof(zero));
	sha384_update(&ctx, d, sizeof(d));
	sha384_final(&ctx, want);
	assert_memory_equal(pcr, want, SHA384_LEN);
}

static void test_crc_check_value(void **state)
{
	(void)state;
	assert_int_equal(eif_crc32_update(0, "123456789", 9), 0xCBF43926u);
	/* Chaining gives the same as one call. */
	assert_int_equal(eif_crc32_update(eif_crc32_update(0, "1234", 4), "56789", 5), 0xCBF43926u);
}

static void test_empty_pcr_vector(void **state)
{
	uint8_t pcr[SHA384_LEN];
	char hex[2 * SHA384_LEN + 1];

	(void)state;
	pcr_measure("", 0, pcr);
	hex_encode(pcr, SHA384_LEN, hex);
	assert_string_equal(hex, empty_pcr_hex);
}

static void test_pcr4_vector(void **state)
{
	/* Reference B.3: PCR4 of instance i-0a9f2a8b8dd31c7c8 in a real AWS attestation document. */
	static const char id[] = "i-0a9f2a8b8dd31c7c8";
	uint8_t pcr[SHA384_LEN] = { 0 };
	char hex[2 * SHA384_LEN + 1];

	(void)state;
	pcr_extend(pcr, id, strlen(id));
	hex_encode(pcr, SHA384_LEN, hex);
	assert_string_equal(hex, "f8e8fc387257438667dc453ccde507690656c27e1abd42f5b6746a609697b0b2"
				 "27fdbd345b5133b9eac8248d718ad75b");
}

/* A fake bzImage: enough of a setup header for architecture detection. */
static uint8_t *fake_bzimage(size_t len)
{
	uint8_t *k = calloc(1, len);

	assert_non_null(k);
	for (size_t i = 0; i < len; i++)
		k[i] = (uint8_t)(i * 7);
	memcpy(k + 0x202, "HdrS", 4);
	k[0x20e] = 0;
	k[0x20f] = 0;
	return k;
}

struct image {
	uint8_t *kernel, *r0, *r1, *buf;
	size_t klen, r0len, r1len, len;
	struct eif_build b;
	struct eif_measurements m;
};

static void make_image(struct image *im, size_t klen, size_t r0len, size_t r1len)
{
	static const char cmdline[] = "console=ttyS0 reboot=k";
	static const char md[] = "{\"ImageName\":\"t\"}";

	memset(im, 0, sizeof(*im));
	im->kernel = fake_bzimage(klen);
	im->klen = klen;
	im->r0 = malloc(r0len);
	im->r1 = r1len ? malloc(r1len) : NULL;
	memset(im->r0, 0x30, r0len);
	if (r1len)
		memset(im->r1, 0x31, r1len);
	im->r0len = r0len;
	im->r1len = r1len;
	im->b.kernel = (struct eif_blob){ im->kernel, klen };
	im->b.cmdline = (struct eif_blob){ (const uint8_t *)cmdline, strlen(cmdline) };
	im->b.metadata = (struct eif_blob){ (const uint8_t *)md, strlen(md) };
	im->b.ramdisks[0] = (struct eif_blob){ im->r0, r0len };
	if (r1len)
		im->b.ramdisks[1] = (struct eif_blob){ im->r1, r1len };
	im->b.nramdisks = r1len ? 2 : 1;
	im->len = eif_build_size(&im->b);
	im->buf = malloc(im->len);
	assert_int_equal(eif_write_mem(&im->b, im->buf, &im->m), 0);
}

static void free_image(struct image *im)
{
	free(im->kernel);
	free(im->r0);
	free(im->r1);
	free(im->buf);
}

static void test_header_encoding(void **state)
{
	struct image im;
	const uint8_t *h;
	uint64_t off = EIF_HEADER_SIZE;
	static const uint16_t types[] = { EIF_SECTION_KERNEL, EIF_SECTION_CMDLINE, EIF_SECTION_METADATA,
					  EIF_SECTION_RAMDISK, EIF_SECTION_RAMDISK };

	(void)state;
	make_image(&im, 1000, 300, 200);
	h = im.buf;
	assert_memory_equal(h, ".eif", 4);
	assert_int_equal(get_be16(h + 4), 4);
	assert_int_equal(get_be16(h + 6), 0);
	assert_true(get_be64(h + 8) == 1ULL << 30);
	assert_true(get_be64(h + 16) == 2);
	assert_int_equal(get_be16(h + 0x18), 0);
	assert_int_equal(get_be16(h + 0x1a), 5);
	for (unsigned int i = 0; i < 5; i++) {
		uint64_t size = get_be64(h + 0x11c + 8 * i);

		assert_true(get_be64(h + 0x1c + 8 * i) == off);
		assert_int_equal(get_be16(h + off), types[i]);
		assert_int_equal(get_be16(h + off + 2), 0);
		assert_true(get_be64(h + off + 4) == size);
		off += 12 + size;
	}
	for (unsigned int i = 5; i < 32; i++)
		assert_true(get_be64(h + 0x1c + 8 * i) == 0 && get_be64(h + 0x11c + 8 * i) == 0);
	assert_true(off == im.len);
	assert_int_equal(get_be32(h + 0x21c), 0);
	/* The CRC covers everything but itself, including the unused word at 0x21c. */
	{
		uint32_t crc = ref_crc32(0, h, 0x220);

		crc = ref_crc32(crc, h + 0x224, im.len - 0x224);
		assert_int_equal(get_be32(h + 0x220), crc);
		assert_int_equal(im.m.crc, crc);
	}
	/* cmdline is stored without a trailing NUL. */
	assert_true(get_be64(h + 0x11c + 8) == strlen("console=ttyS0 reboot=k"));
	free_image(&im);
}

static void check_pcrs(size_t klen, size_t r0len, size_t r1len)
{
	static const char cmdline[] = "console=ttyS0 reboot=k";
	struct image im;
	struct eif e;
	struct eif_measurements m;
	uint8_t *k_c;

	make_image(&im, klen, r0len, r1len);
	k_c = malloc(klen + strlen(cmdline));
	memcpy(k_c, im.kernel, klen);
	memcpy(k_c + klen, cmdline, strlen(cmdline));
	expect_pcr(im.m.pcr0, k_c, klen + strlen(cmdline), im.r0, r0len, im.r1, r1len);
	expect_pcr(im.m.pcr1, k_c, klen + strlen(cmdline), im.r0, r0len, "", 0);
	expect_pcr(im.m.pcr2, im.r1, r1len, "", 0, "", 0);

	/* Reading the file back measures the same. */
	assert_int_equal(eif_parse(&e, im.buf, im.len), 0);
	assert_int_equal(eif_measure(&e, &m), 0);
	assert_memory_equal(m.pcr0, im.m.pcr0, SHA384_LEN);
	assert_memory_equal(m.pcr1, im.m.pcr1, SHA384_LEN);
	assert_memory_equal(m.pcr2, im.m.pcr2, SHA384_LEN);
	assert_int_equal(m.crc, e.crc_stored);

	/* Measuring the inputs without writing agrees too. */
	assert_int_equal(eif_build_measure(&im.b, &m), 0);
	assert_memory_equal(m.pcr0, im.m.pcr0, SHA384_LEN);
	assert_memory_equal(m.pcr2, im.m.pcr2, SHA384_LEN);
	free(k_c);
	free_image(&im);
}

static void test_pcr_formulas(void **state)
{
	(void)state;
	check_pcrs(1000, 300, 200);
	check_pcrs(5000, 300, 0);
	/* Large enough for the two-thread path. */
	check_pcrs(3 * MiB, 2 * MiB, 5 * MiB);
}

static void test_single_ramdisk_pcr2_is_empty_vector(void **state)
{
	struct image im;
	char hex[2 * SHA384_LEN + 1];

	(void)state;
	make_image(&im, 1000, 300, 0);
	hex_encode(im.m.pcr2, SHA384_LEN, hex);
	assert_string_equal(hex, empty_pcr_hex);
	assert_memory_equal(im.m.pcr0, im.m.pcr1, SHA384_LEN);
	free_image(&im);
}

static void test_parse_fields(void **state)
{
	struct image im;
	struct eif e;

	(void)state;
	make_image(&im, 1000, 300, 200);
	assert_int_equal(eif_parse(&e, im.buf, im.len), 0);
	assert_int_equal(e.version, 4);
	assert_int_equal(e.nsections, 5);
	assert_int_equal(e.nramdisks, 2);
	assert_true(e.kernel->size == 1000);
	assert_ptr_equal(e.kernel->data, im.buf + EIF_HEADER_SIZE + 12);
	assert_memory_equal(e.cmdline->data, "console=ttyS0", 13);
	assert_true(e.ramdisks[1]->size == 200);
	assert_null(e.signature);
	assert_non_null(e.metadata);
	free_image(&im);
}

static void expect_parse_error(const uint8_t *buf, size_t len, const char *fragment)
{
	struct eif e;

	assert_int_equal(eif_parse(&e, buf, len), -EINVAL);
	if (!strstr(err_msg(), fragment))
		fail_msg("message '%s' lacks '%s'", err_msg(), fragment);
}

static void test_parse_errors(void **state)
{
	struct image im;
	uint8_t *b;

	(void)state;
	make_image(&im, 1000, 300, 200);
	b = malloc(im.len + 20);

	expect_parse_error(im.buf, 100, "shorter than the 548-byte EIF header");
	memcpy(b, im.buf, im.len);
	b[0] = 'X';
	expect_parse_error(b, im.len, "magic");
	memcpy(b, im.buf, im.len);
	put_be16(b + 4, 5);
	expect_parse_error(b, im.len, "version 5 is not supported");
	memcpy(b, im.buf, im.len);
	put_be16(b + 0x1a, 33);
	expect_parse_error(b, im.len, "more than the maximum of 32");
	expect_parse_error(im.buf, im.len - 1, "past the end of the file");
	memcpy(b, im.buf, im.len);
	memset(b + im.len, 0, 20);
	expect_parse_error(b, im.len + 20, "trailing data");
	memcpy(b, im.buf, im.len);
	put_be16(b + EIF_HEADER_SIZE, 9); /* kernel section's type */
	expect_parse_error(b, im.len, "unknown type 9");
	memcpy(b, im.buf, im.len);
	put_be64(b + 0x1c + 8, get_be64(b + 0x1c + 8) - 4); /* cmdline offset into the kernel */
	expect_parse_error(b, im.len, "overlap");
	memcpy(b, im.buf, im.len);
	put_be64(b + 0x11c, 999); /* table size of the kernel disagrees with its header */
	expect_parse_error(b, im.len, "999 bytes by the EIF header");
	free(b);
	free_image(&im);
}

static void test_metadata_json(void **state)
{
	struct eif_metadata_in in = {
		.image_name = "hello",
		.image_version = "1.0",
		.build_tool = "nitrovm",
		.build_tool_version = "0.1.0",
		.operating_system = "Linux",
		.kernel_version = "6.12.107+deb12",
		/* nitro-cli re-serialises it as serde_json::Value: keys sorted, numbers in serde's form. */
		.custom_metadata_json = "{\"team\": \"x\", \"n\": [1, 2.50, 1e3], \"b\": {\"z\": 0, \"y\": -0}}\n",
	};
	char *out, t[64];
	size_t len;

	(void)state;
	setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
	assert_int_equal(eif_build_time(t, sizeof(t)), 0);
	assert_string_equal(t, "2023-11-14T22:13:20+00:00");
	assert_int_equal(eif_metadata_build(&in, &out, &len), 0);
	assert_string_equal(out, "{\"ImageName\":\"hello\",\"ImageVersion\":\"1.0\",\"BuildMetadata\":{"
				 "\"BuildTime\":\"2023-11-14T22:13:20+00:00\",\"BuildTool\":\"nitrovm\","
				 "\"BuildToolVersion\":\"0.1.0\",\"OperatingSystem\":\"Linux\","
				 "\"KernelVersion\":\"6.12.107+deb12\"},\"DockerInfo\":null,"
				 "\"CustomMetadata\":{\"b\":{\"y\":-0.0,\"z\":0},\"n\":[1,2.5,1000.0],"
				 "\"team\":\"x\"}}");
	assert_int_equal(len, strlen(out));
	free(out);
	in.custom_metadata_json = "{\"team\": ";
	assert_int_equal(eif_metadata_build(&in, &out, &len), -EINVAL);
	assert_non_null(strstr(err_msg(), "not valid JSON"));
	setenv("SOURCE_DATE_EPOCH", "soon", 1);
	assert_int_equal(eif_build_time(t, sizeof(t)), -EINVAL);
	unsetenv("SOURCE_DATE_EPOCH");
	assert_int_equal(eif_build_time(t, sizeof(t)), 0);
	assert_non_null(strstr(t, "+00:00"));
}

static void test_arch_detection(void **state)
{
	uint8_t k[0x400] = { 0 };

	(void)state;
	assert_int_equal(eif_detect_arch(k, sizeof(k)), EIF_ARCH_UNKNOWN);
	memcpy(k + 0x202, "HdrS", 4);
	assert_int_equal(eif_detect_arch(k, sizeof(k)), EIF_ARCH_X86_64);
	memset(k, 0, sizeof(k));
	memcpy(k + 0x38, "ARM\x64", 4);
	assert_int_equal(eif_detect_arch(k, sizeof(k)), EIF_ARCH_ARM64);
	assert_int_equal(eif_detect_arch(k, 0x3a), EIF_ARCH_UNKNOWN);
}

static void test_kernel_version(void **state)
{
	uint8_t k[0x800] = { 0 };
	char os[32], ver[64];

	(void)state;
	memcpy(k + 0x202, "HdrS", 4);
	k[0x20e] = 0x00; /* string at 0x400 + 0x200 = 0x600 */
	k[0x20f] = 0x04;
	strcpy((char *)k + 0x600, "6.12.107+deb12-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP");
	eif_kernel_version(k, sizeof(k), os, sizeof(os), ver, sizeof(ver));
	assert_string_equal(os, "Linux");
	assert_string_equal(ver, "6.12.107+deb12");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc_check_value),
		cmocka_unit_test(test_empty_pcr_vector),
		cmocka_unit_test(test_pcr4_vector),
		cmocka_unit_test(test_header_encoding),
		cmocka_unit_test(test_pcr_formulas),
		cmocka_unit_test(test_single_ramdisk_pcr2_is_empty_vector),
		cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_metadata_json),
		cmocka_unit_test(test_arch_detection),
		cmocka_unit_test(test_kernel_version),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
