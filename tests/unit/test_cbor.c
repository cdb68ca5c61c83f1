// SPDX-License-Identifier: MIT
/*
 * Unit tests: the CBOR codec (src/common/cbor.c) on its own: shortest heads at every size boundary, the
 * sticky overflow flag, a decoder that refuses what its options do not allow and reports where, and the reader
 * of maps of known keys (cbor_map.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/cbor.h"

#define LIT(s) (const uint8_t *)(s), sizeof(s) - 1

/* Every head size, each side of each boundary. */
static const struct {
	uint64_t v;
	const char *head; /* after the major type's bits, which the test adds to the first byte */
	size_t len;
} boundaries[] = {
	{0, "\x00", 1},
	{23, "\x17", 1},
	{24, "\x18\x18", 2},
	{255, "\x18\xff", 2},
	{256, "\x19\x01\x00", 3},
	{65535, "\x19\xff\xff", 3},
	{65536, "\x1a\x00\x01\x00\x00", 5},
	{0xffffffffULL, "\x1a\xff\xff\xff\xff", 5},
	{0x100000000ULL, "\x1b\x00\x00\x00\x01\x00\x00\x00\x00", 9},
	{UINT64_MAX, "\x1b\xff\xff\xff\xff\xff\xff\xff\xff", 9},
};

static void encode_head(struct cbor_enc *e, uint8_t major, uint64_t v)
{
	switch (major) {
	case CBOR_UINT:
		cbor_enc_uint(e, v);
		break;
	case CBOR_NEGINT:
		cbor_enc_negint(e, v);
		break;
	case CBOR_BYTES:
		cbor_enc_bytes_head(e, (size_t)v);
		break;
	case CBOR_ARRAY:
		cbor_enc_array(e, v);
		break;
	case CBOR_MAP:
		cbor_enc_map(e, v);
		break;
	case CBOR_TAG:
		cbor_enc_tag(e, v);
		break;
	}
}

static void test_head_boundaries(void **state)
{
	static const uint8_t majors[] = {CBOR_UINT, CBOR_NEGINT, CBOR_BYTES, CBOR_ARRAY, CBOR_MAP, CBOR_TAG};
	uint8_t buf[16], want[16];

	(void)state;
	for (size_t m = 0; m < sizeof(majors); m++) {
		for (size_t i = 0; i < sizeof(boundaries) / sizeof(boundaries[0]); i++) {
			struct cbor_enc e;
			struct cbor_dec d;
			struct cbor_head h;

			cbor_enc_init(&e, buf, sizeof(buf));
			encode_head(&e, majors[m], boundaries[i].v);
			memcpy(want, boundaries[i].head, boundaries[i].len);
			want[0] |= (uint8_t)(majors[m] << 5);
			assert_false(e.failed);
			assert_int_equal(e.len, boundaries[i].len);
			assert_memory_equal(buf, want, e.len);

			/* And back; a string's head alone claims contents that are not there. */
			cbor_dec_init(&d, buf, e.len, 0, 4);
			if (majors[m] == CBOR_BYTES && boundaries[i].v) {
				assert_int_equal(cbor_dec_head(&d, &h), -EBADMSG);
				assert_int_equal(d.err, CBOR_ERR_TRUNCATED);
				continue;
			}
			assert_int_equal(cbor_dec_head(&d, &h), 0);
			assert_int_equal(h.major, majors[m]);
			assert_true(h.arg == boundaries[i].v);
			assert_int_equal(cbor_dec_left(&d), 0);
		}
	}
}

static void test_negative_and_simple(void **state)
{
	uint8_t buf[64];
	struct cbor_enc e;
	struct cbor_dec d;
	struct cbor_head h;

	(void)state;
	cbor_enc_init(&e, buf, sizeof(buf));
	cbor_enc_negint(&e, 0);	 /* -1 */
	cbor_enc_negint(&e, 34); /* -35, ES384 */
	cbor_enc_negint(&e, 99); /* -100 */
	cbor_enc_bool(&e, false);
	cbor_enc_bool(&e, true);
	cbor_enc_null(&e);
	cbor_enc_text(&e, "IETF");
	cbor_enc_bytes(&e, "\x01\x02", 2);
	cbor_enc_bytes(&e, NULL, 0);
	assert_false(e.failed);
	assert_int_equal(e.len, 17);
	assert_memory_equal(buf, "\x20\x38\x22\x38\x63\xf4\xf5\xf6\x64IETF\x42\x01\x02\x40", 17);

	cbor_dec_init(&d, buf, e.len, CBOR_DEC_KNOWN_SIMPLE, 4);
	assert_int_equal(cbor_dec_head(&d, &h), 0);
	assert_true(h.major == CBOR_NEGINT && h.arg == 0);
	assert_int_equal(cbor_dec_head(&d, &h), 0);
	assert_true(h.major == CBOR_NEGINT && h.arg == 34 && h.at == 1);
	assert_int_equal(cbor_dec_head(&d, &h), 0);
	assert_string_equal(cbor_head_name(&h), "a negative integer");
	assert_int_equal(cbor_dec_head(&d, &h), 0);
	assert_string_equal(cbor_head_name(&h), "a boolean");
	assert_int_equal(cbor_dec_head(&d, &h), 0);
	assert_true(h.major == CBOR_SIMPLE && h.info == CBOR_TRUE);
	assert_int_equal(cbor_dec_head(&d, &h), 0);
	assert_string_equal(cbor_head_name(&h), "null");
	assert_int_equal(cbor_dec_head(&d, &h), 0);
	assert_true(cbor_head_is_text(&h, "IETF"));
	assert_false(cbor_head_is_text(&h, "IET"));
	assert_int_equal(cbor_dec_head(&d, &h), 0);
	assert_true(h.major == CBOR_BYTES && h.arg == 2 && !memcmp(h.data, "\x01\x02", 2));
	assert_int_equal(cbor_dec_head(&d, &h), 0);
	/* An empty string still points into the input: present, not absent. */
	assert_true(h.major == CBOR_BYTES && h.arg == 0 && h.data == buf + 17);
	assert_int_equal(cbor_dec_finish(&d), 0);
}

static void test_enc_overflow_is_sticky(void **state)
{
	uint8_t buf[8];
	struct cbor_enc e;

	(void)state;
	memset(buf, 0xee, sizeof(buf));
	cbor_enc_init(&e, buf, 4);
	cbor_enc_uint(&e, 500);	  /* 3 bytes */
	cbor_enc_uint(&e, 70000); /* 5 bytes: does not fit, and nothing of it is written */
	assert_true(e.failed);
	assert_int_equal(e.len, 3);
	assert_int_equal(buf[3], 0xee);
	cbor_enc_uint(&e, 1); /* would fit, but the encoding is already broken */
	assert_int_equal(e.len, 3);
	assert_int_equal(buf[3], 0xee);

	/* A string whose head fits but whose contents do not. */
	cbor_enc_init(&e, buf, 4);
	cbor_enc_text(&e, "abcd");
	assert_true(e.failed);
	assert_int_equal(e.len, 1);
}

static void test_enc_heap(void **state)
{
	static uint8_t big[100000];
	struct cbor_enc e;

	(void)state;
	memset(big, 0x5a, sizeof(big));
	cbor_enc_init_heap(&e);
	assert_null(e.buf);
	cbor_enc_array(&e, 2);
	cbor_enc_bytes(&e, big, sizeof(big));
	cbor_enc_uint(&e, 7);
	assert_false(e.failed);
	assert_int_equal(e.len, 1 + 5 + sizeof(big) + 1);
	assert_memory_equal(e.buf, "\x82\x5a\x00\x01\x86\xa0", 6);
	assert_memory_equal(e.buf + 6, big, sizeof(big));
	assert_int_equal(e.buf[e.len - 1], 7);
	cbor_enc_release(&e);
	assert_null(e.buf);
}

/* One item whose heads are all of different kinds and sizes. */
static const uint8_t sample[] = "\xa4"					/* map(4) */
				"\x61k\x83\x01\x39\x01\x00\xf9\x3c\x00" /* "k": [1, -257, 1.0] */
				"\x18\x20\xd2\x42xy"			/* 32: 18(h'7879') */
				"\x62id\x5a\x00\x00\x00\x03zzz"		/* "id": h'7a7a7a' (long head) */
				"\x20\xa1\xf4\x9b\x00\x00\x00\x00\x00\x00\x00\x00"; /* -1: {false: []} */

static void test_truncated_everywhere(void **state)
{
	struct cbor_dec d;

	(void)state;
	cbor_dec_init(&d, sample, sizeof(sample) - 1, CBOR_DEC_KNOWN_SIMPLE, 4);
	assert_int_equal(cbor_dec_skip_item(&d, 0), 0);
	assert_int_equal(cbor_dec_finish(&d), 0);
	for (size_t n = 0; n < sizeof(sample) - 1; n++) {
		cbor_dec_init(&d, sample, n, CBOR_DEC_KNOWN_SIMPLE, 4);
		assert_int_equal(cbor_dec_skip_item(&d, 0), -EBADMSG);
		/* Out of data, one way or another, and never said to be past where the data ends. */
		assert_true(d.err == CBOR_ERR_END || d.err == CBOR_ERR_TRUNCATED || d.err == CBOR_ERR_COUNT);
		assert_true(d.at <= n);
	}
}

static void test_lengths_past_the_input(void **state)
{
	static const struct {
		const uint8_t *in;
		size_t len;
		enum cbor_err err;
	} cases[] = {
		{LIT("\x5a\xff\xff\xff\xff"), CBOR_ERR_TRUNCATED},
		{LIT("\x7b\xff\xff\xff\xff\xff\xff\xff\xff"
		     "abc"),
		 CBOR_ERR_TRUNCATED},
		{LIT("\x43"
		     "ab"),
		 CBOR_ERR_TRUNCATED},
		{LIT("\x19\x01"), CBOR_ERR_TRUNCATED},
		{LIT("\x9b\xff\xff\xff\xff\xff\xff\xff\xff\x00"), CBOR_ERR_COUNT},
		{LIT("\xbb\xff\xff\xff\xff\xff\xff\xff\xff\x00"), CBOR_ERR_COUNT},
		{LIT("\xa2\x01\x02\x03"), CBOR_ERR_COUNT},
		{LIT("\x83\x01\x02"), CBOR_ERR_COUNT},
		{LIT("\xc1"), CBOR_ERR_END},
	};
	char msg[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cbor_dec d;

		cbor_dec_init(&d, cases[i].in, cases[i].len, 0, 4);
		assert_int_equal(cbor_dec_skip_item(&d, 0), -EBADMSG);
		assert_int_equal(d.err, cases[i].err);
	}

	/* A count is checked before anything loops on it: a map of n pairs claims 2n items, saturated. */
	{
		struct cbor_dec d;

		cbor_dec_init(&d, LIT("\xbb\xff\xff\xff\xff\xff\xff\xff\xff\x00"), 0, 4);
		assert_int_equal(cbor_dec_skip_item(&d, 0), -EBADMSG);
		assert_true(d.err_items == UINT64_MAX && d.err_left == 1 && d.err_major == CBOR_MAP);
		cbor_dec_describe(&d, NULL, msg, sizeof(msg));
		assert_string_equal(msg, "a map claims 18446744073709551615 items but only 1 bytes are left");
		cbor_dec_describe(&d, "the payload map", msg, sizeof(msg));
		assert_string_equal(
			msg, "the payload map claims 18446744073709551615 items but only 1 bytes are left");
	}
	/* Exactly the bytes left is fine. */
	{
		struct cbor_dec d;

		cbor_dec_init(&d,
			      LIT("\x43"
				  "abc"),
			      0, 4);
		assert_int_equal(cbor_dec_skip_item(&d, 0), 0);
	}
}

static void test_indefinite_only_when_enabled(void **state)
{
	static const uint8_t arr[] = "\x9f\x01\xbf\x61"
				     "a\x02\xff\xff"; /* [_ 1, {_ "a": 2}] */
	struct cbor_iter it;
	struct cbor_dec d;
	struct cbor_head h;
	unsigned int n = 0;

	(void)state;
	cbor_dec_init(&d, arr, sizeof(arr) - 1, 0, 4);
	assert_int_equal(cbor_dec_head(&d, &h), -EBADMSG);
	assert_true(d.err == CBOR_ERR_INDEFINITE && d.at == 0);

	cbor_dec_init(&d, arr, sizeof(arr) - 1, CBOR_DEC_INDEF_CONTAINERS, 4);
	assert_int_equal(cbor_dec_head(&d, &h), 0);
	assert_true(h.major == CBOR_ARRAY && h.indefinite);
	assert_string_equal(cbor_head_name(&h), "an array");
	assert_int_equal(cbor_dec_enter(&d, &h, &it), 0);
	while (cbor_dec_more(&d, &it)) {
		assert_int_equal(cbor_dec_skip_item(&d, 1), 0);
		n++;
	}
	assert_int_equal(n, 2);
	assert_int_equal(d.at, sizeof(arr) - 2); /* the break, read last */
	assert_int_equal(cbor_dec_finish(&d), 0);

	/* The break: a head of its own when containers may be indefinite, refused by skip outside one. */
	cbor_dec_init(&d, LIT("\xff"), 0, 4);
	assert_int_equal(cbor_dec_head(&d, &h), -EBADMSG);
	assert_int_equal(d.err, CBOR_ERR_INDEFINITE);
	cbor_dec_init(&d, LIT("\xff"), CBOR_DEC_INDEF_CONTAINERS, 4);
	assert_int_equal(cbor_dec_head(&d, &h), 0);
	assert_true(cbor_head_is_break(&h));
	assert_int_equal(cbor_dec_skip(&d, &h, 0), -EBADMSG);
	assert_int_equal(d.err, CBOR_ERR_BREAK);
	/* An indefinite container that never ends. */
	cbor_dec_init(&d, LIT("\x9f\x01\x02"), CBOR_DEC_INDEF_CONTAINERS, 4);
	assert_int_equal(cbor_dec_skip_item(&d, 0), -EBADMSG);
	assert_true(d.err == CBOR_ERR_END && d.at == 3);

	/* Strings are a separate option: containers alone do not allow chunked strings. */
	cbor_dec_init(&d,
		      LIT("\x5f\x41"
			  "a\x41"
			  "b\xff"),
		      CBOR_DEC_INDEF_CONTAINERS, 4);
	assert_int_equal(cbor_dec_skip_item(&d, 0), -EBADMSG);
	assert_int_equal(d.err, CBOR_ERR_INDEFINITE);
	cbor_dec_init(&d,
		      LIT("\x5f\x41"
			  "a\x41"
			  "b\xff"),
		      CBOR_DEC_INDEF_STRINGS, 4);
	assert_int_equal(cbor_dec_skip_item(&d, 0), 0);
	assert_int_equal(cbor_dec_finish(&d), 0);
	cbor_dec_init(&d,
		      LIT("\x7f\x41"
			  "a\xff"),
		      CBOR_DEC_INDEF_STRINGS, 4);
	assert_int_equal(cbor_dec_skip_item(&d, 0), -EBADMSG);
	assert_true(d.err == CBOR_ERR_CHUNK && d.at == 1);
	/* Integers and tags have no indefinite form, whatever the options. */
	cbor_dec_init(&d, LIT("\xdf"), CBOR_DEC_INDEF_CONTAINERS | CBOR_DEC_INDEF_STRINGS, 4);
	assert_int_equal(cbor_dec_head(&d, &h), -EBADMSG);
	assert_int_equal(d.err, CBOR_ERR_INVALID);
}

/* n nested one-item arrays around a final item: "\x81" * n + tail. */
static size_t nest(uint8_t *buf, size_t n, const char *tail, size_t tail_len)
{
	memset(buf, 0x81, n);
	memcpy(buf + n, tail, tail_len);
	return n + tail_len;
}

static int skip_nested(size_t n, const char *tail, unsigned int flags, unsigned int max_depth,
		       struct cbor_dec *d)
{
	static uint8_t buf[64];
	size_t len = nest(buf, n, tail, strlen(tail));

	cbor_dec_init(d, buf, len, flags, max_depth);
	return cbor_dec_skip_item(d, 0);
}

static void test_depth_limit(void **state)
{
	struct cbor_dec d;
	char msg[64];

	(void)state;
	/* The top item is at depth 0; with 8 arrays the final integer is at depth 8. */
	assert_int_equal(skip_nested(8, "\x01", 0, 8, &d), 0);
	assert_int_equal(skip_nested(9, "\x01", 0, 8, &d), -EBADMSG);
	assert_int_equal(d.err, CBOR_ERR_DEPTH);
	assert_int_equal(d.at, 8); /* the array whose item would be too deep */
	cbor_dec_describe(&d, NULL, msg, sizeof(msg));
	assert_string_equal(msg, "items are nested more than 8 deep");
	/* An empty container at the limit holds nothing too deep... */
	assert_int_equal(skip_nested(8, "\x80", 0, 8, &d), 0);
	/* ...unless the limit counts containers. */
	assert_int_equal(skip_nested(8, "\x80", CBOR_DEC_DEPTH_COUNTS_CONTAINERS, 8, &d), -EBADMSG);
	assert_int_equal(d.err, CBOR_ERR_DEPTH);
	assert_int_equal(skip_nested(7, "\x80", CBOR_DEC_DEPTH_COUNTS_CONTAINERS, 8, &d), 0);
	assert_int_equal(skip_nested(7, "\x81\x01", CBOR_DEC_DEPTH_COUNTS_CONTAINERS, 8, &d), 0);
	/* A tag's item is one deeper too. */
	assert_int_equal(skip_nested(7, "\xd2\x01", 0, 8, &d), 0);
	assert_int_equal(skip_nested(8, "\xd2\x01", 0, 8, &d), -EBADMSG);
	assert_int_equal(d.err, CBOR_ERR_DEPTH);
	/* Deep input is refused, not recursed into. */
	assert_int_equal(skip_nested(60, "\x01", 0, 16, &d), -EBADMSG);
	assert_true(d.err == CBOR_ERR_DEPTH && d.at == 16);
}

static void test_invalid_heads(void **state)
{
	struct cbor_dec d;
	struct cbor_head h;
	char msg[64];

	(void)state;
	for (unsigned int b = 0; b < 256; b++) {
		uint8_t in[9] = {(uint8_t)b};
		bool reserved = (b & 0x1f) >= 28 && (b & 0x1f) <= 30;
		bool unassigned = (b >= 0xe0 && b <= 0xf3) || b == 0xf8;
		int ret;

		cbor_dec_init(&d, in, sizeof(in), CBOR_DEC_INDEF_CONTAINERS, 4);
		ret = cbor_dec_head(&d, &h);
		if (reserved) {
			assert_int_equal(ret, -EBADMSG);
			assert_int_equal(d.err, CBOR_ERR_INVALID);
		}
		cbor_dec_init(&d, in, sizeof(in), CBOR_DEC_INDEF_CONTAINERS | CBOR_DEC_KNOWN_SIMPLE, 4);
		ret = cbor_dec_head(&d, &h);
		if (unassigned) {
			assert_int_equal(ret, -EBADMSG);
			assert_int_equal(d.err, CBOR_ERR_INVALID);
		}
	}
	cbor_dec_init(&d, LIT("\x1c"), 0, 4);
	assert_int_equal(cbor_dec_head(&d, &h), -EBADMSG);
	cbor_dec_describe(&d, NULL, msg, sizeof(msg));
	assert_string_equal(msg, "byte 0x1c does not start a valid CBOR item");
	/* Refused even with nothing after it, as libcbor refused it. */
	cbor_dec_init(&d, LIT("\xf8"), CBOR_DEC_KNOWN_SIMPLE, 4);
	assert_int_equal(cbor_dec_head(&d, &h), -EBADMSG);
	assert_int_equal(d.err, CBOR_ERR_INVALID);
	/* Without the option, an unassigned simple value is just a simple value. */
	cbor_dec_init(&d, LIT("\xf8\x20"), 0, 4);
	assert_int_equal(cbor_dec_head(&d, &h), 0);
	assert_true(h.major == CBOR_SIMPLE && h.arg == 0x20);
	assert_string_equal(cbor_head_name(&h), "a simple value");
	/* Tag 18, COSE_Sign1, in its one-byte head (libcbor 0.8 refused it). */
	cbor_dec_init(&d, LIT("\xd2\x80"), CBOR_DEC_KNOWN_SIMPLE, 4);
	assert_int_equal(cbor_dec_head(&d, &h), 0);
	assert_true(h.major == CBOR_TAG && h.arg == 18);
	/* Floats of every size, their bits in arg. */
	cbor_dec_init(&d, LIT("\xf9\x3c\x00\xfa\x3f\x80\x00\x00\xfb\x3f\xf0\x00\x00\x00\x00\x00\x00"),
		      CBOR_DEC_KNOWN_SIMPLE, 4);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(cbor_dec_head(&d, &h), 0);
		assert_true(cbor_head_is_float(&h));
	}
	assert_true(h.arg == 0x3ff0000000000000ULL);
	/* Not the shortest form, but well formed: accepted as it always was. */
	cbor_dec_init(&d, LIT("\x18\x05"), 0, 4);
	assert_int_equal(cbor_dec_head(&d, &h), 0);
	assert_true(h.arg == 5);
}

static void test_finish(void **state)
{
	struct cbor_dec d;
	struct cbor_head h;

	(void)state;
	cbor_dec_init(&d, LIT("\x01\x02\x03"), 0, 4);
	assert_int_equal(cbor_dec_head(&d, &h), 0);
	assert_int_equal(cbor_dec_finish(&d), -EBADMSG);
	assert_true(d.err == CBOR_ERR_TRAILING && d.at == 1 && cbor_dec_left(&d) == 2);
	cbor_dec_init(&d, NULL, 0, 0, 4);
	assert_int_equal(cbor_dec_finish(&d), 0);
	assert_int_equal(cbor_dec_head(&d, &h), -EBADMSG);
	assert_true(d.err == CBOR_ERR_END && d.at == 0);
}

/* ---- cbor_map_read ---- */

static enum cbor_map_status read_map(const uint8_t *buf, size_t len, unsigned int flags, struct cbor_field *f,
				     unsigned int nf, struct cbor_map_fault *fault)
{
	struct cbor_dec d;

	cbor_dec_init(&d, buf, len, 0, 4);
	return cbor_map_read(&d, 0, 4, flags, f, nf, fault);
}

static void test_map_reads_a_table(void **state)
{
	struct cbor_field f[] = {
		{ .key = "n", .type = CBOR_FIELD_UINT, .max = 300, .required = true },
		{ .key = "t", .type = CBOR_FIELD_TEXT, .max = 3 },
		{ .key = "b", .type = CBOR_FIELD_BYTES_OR_NULL },
		{ .key = "z", .type = CBOR_FIELD_BYTES },
	};
	struct cbor_map_fault fault;

	(void)state;
	/* {"n": 300, "t": "abc", "b": null, "z": h''} */
	assert_int_equal(read_map(LIT("\xa4\x61n\x19\x01\x2c\x61t\x63" "abc" "\x61" "b\xf6\x61z\x40"), 0, f, 4, &fault),
			 CBOR_MAP_OK);
	assert_int_equal(f[0].u, 300);
	assert_true(f[1].seen && f[1].len == 3 && !memcmp(f[1].data, "abc", 3));
	assert_true(f[2].seen && !f[2].data);
	assert_true(f[3].seen && f[3].data && !f[3].len); /* present and empty, not null */
	/* only the required key */
	assert_int_equal(read_map(LIT("\xa1\x61n\x01"), 0, f, 4, NULL), CBOR_MAP_OK);
	assert_false(f[1].seen || f[2].seen || f[3].seen);
}

static void test_map_faults(void **state)
{
	struct cbor_field f[] = {
		{ .key = "n", .type = CBOR_FIELD_UINT, .max = 300, .required = true },
		{ .key = "t", .type = CBOR_FIELD_TEXT, .max = 3 },
	};
	struct cbor_map_fault fault;

	(void)state;
	assert_int_equal(read_map(LIT("\x81\x01"), 0, f, 2, &fault), CBOR_MAP_MALFORMED);
	assert_int_equal(read_map(LIT("\xa5"), 0, f, 2, &fault), CBOR_MAP_MALFORMED); /* over max_pairs */
	assert_int_equal(read_map(LIT("\xa1\x61n"), 0, f, 2, &fault), CBOR_MAP_MALFORMED);
	assert_int_equal(read_map(LIT("\xa1\x61n\x19\x01\x2d"), 0, f, 2, &fault), CBOR_MAP_TOO_LARGE);
	assert_ptr_equal(fault.field, &f[0]);
	assert_int_equal(fault.at, 1);
	assert_int_equal(read_map(LIT("\xa2\x61n\x01\x61t\x64" "abcd"), 0, f, 2, &fault), CBOR_MAP_TOO_LARGE);
	assert_int_equal(fault.at, 4);
	assert_int_equal(read_map(LIT("\xa1\x61n\x41x"), 0, f, 2, &fault), CBOR_MAP_WRONG_TYPE);
	assert_int_equal(read_map(LIT("\xa2\x61n\x01\x61n\x02"), 0, f, 2, &fault), CBOR_MAP_REPEATED);
	assert_int_equal(fault.at, 4);
	assert_int_equal(read_map(LIT("\xa1\x61t\x61x"), 0, f, 2, &fault), CBOR_MAP_MISSING);
	assert_ptr_equal(fault.field, &f[0]);
	/* an unknown text key: refused, or skipped when asked; a key that is not text is refused either way */
	assert_int_equal(read_map(LIT("\xa2\x61n\x01\x61q\x82\x01\x02"), 0, f, 2, &fault), CBOR_MAP_UNKNOWN);
	assert_int_equal(read_map(LIT("\xa2\x61n\x01\x61q\x82\x01\x02"), CBOR_MAP_SKIP_UNKNOWN, f, 2, &fault),
			 CBOR_MAP_OK);
	assert_int_equal(read_map(LIT("\xa2\x61n\x01\x01\x01"), CBOR_MAP_SKIP_UNKNOWN, f, 2, &fault),
			 CBOR_MAP_UNKNOWN);
	/* malformed CBOR after a faulty entry is what is reported: the whole map is read */
	assert_int_equal(read_map(LIT("\xa2\x61n\x41x\x61t\x7f"), 0, f, 2, &fault), CBOR_MAP_MALFORMED);
	/* the first faulty entry, not a later one */
	assert_int_equal(read_map(LIT("\xa2\x61n\x41x\x61t\x01"), 0, f, 2, &fault), CBOR_MAP_WRONG_TYPE);
	assert_ptr_equal(fault.field, &f[0]);
}

static void test_map_bool_and_int(void **state)
{
	struct cbor_field f[] = {
		{ .key = "b", .type = CBOR_FIELD_BOOL },
		{ .key = "i", .type = CBOR_FIELD_INT, .max = INT32_MAX },
		{ .key = "j", .type = CBOR_FIELD_INT },
	};
	struct cbor_map_fault fault;

	(void)state;
	/* {"b": true, "i": -2147483648, "j": -9223372036854775808} */
	assert_int_equal(read_map(LIT("\xa3\x61" "b\xf5\x61i\x3a\x7f\xff\xff\xff"
				      "\x61j\x3b\x7f\xff\xff\xff\xff\xff\xff\xff"),
				  0, f, 3, &fault),
			 CBOR_MAP_OK);
	assert_int_equal(f[0].u, 1);
	assert_true(f[1].i == INT32_MIN && f[2].i == INT64_MIN);
	assert_int_equal(read_map(LIT("\xa2\x61" "b\xf4\x61i\x1a\x7f\xff\xff\xff"), 0, f, 3, &fault),
			 CBOR_MAP_OK);
	assert_true(f[0].seen && f[0].u == 0 && f[1].i == INT32_MAX && !f[2].seen);
	/* one past either end of the range; past an int64_t when max is 0 */
	assert_int_equal(read_map(LIT("\xa1\x61i\x1a\x80\0\0\0"), 0, f, 3, &fault), CBOR_MAP_TOO_LARGE);
	assert_int_equal(read_map(LIT("\xa1\x61i\x3a\x80\0\0\0"), 0, f, 3, &fault), CBOR_MAP_TOO_LARGE);
	assert_int_equal(read_map(LIT("\xa1\x61j\x1b\x80\0\0\0\0\0\0\0"), 0, f, 3, &fault),
			 CBOR_MAP_TOO_LARGE);
	/* a boolean is false or true: not null, not 1, not a float whose bits are true's number */
	assert_int_equal(read_map(LIT("\xa1\x61" "b\xf6"), 0, f, 3, &fault), CBOR_MAP_WRONG_TYPE);
	assert_int_equal(read_map(LIT("\xa1\x61" "b\x01"), 0, f, 3, &fault), CBOR_MAP_WRONG_TYPE);
	assert_int_equal(read_map(LIT("\xa1\x61" "b\xfb\0\0\0\0\0\0\0\x15"), 0, f, 3, &fault),
			 CBOR_MAP_WRONG_TYPE);
	assert_int_equal(read_map(LIT("\xa1\x61i\xf5"), 0, f, 3, &fault), CBOR_MAP_WRONG_TYPE);
	assert_int_equal(read_map(LIT("\xa2\x61" "b\xf5\x61" "b\xf5"), 0, f, 3, &fault), CBOR_MAP_REPEATED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_head_boundaries),
		cmocka_unit_test(test_negative_and_simple),
		cmocka_unit_test(test_enc_overflow_is_sticky),
		cmocka_unit_test(test_enc_heap),
		cmocka_unit_test(test_truncated_everywhere),
		cmocka_unit_test(test_lengths_past_the_input),
		cmocka_unit_test(test_indefinite_only_when_enabled),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_invalid_heads),
		cmocka_unit_test(test_finish),
		cmocka_unit_test(test_map_reads_a_table),
		cmocka_unit_test(test_map_faults),
		cmocka_unit_test(test_map_bool_and_int),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
