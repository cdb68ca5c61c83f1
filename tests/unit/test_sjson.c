// SPDX-License-Identifier: MIT
/*
 * Unit tests: JSON as serde_json reads and writes it (common/sjson.c).  Every expected text below is what
 * serde_json 1.0.135 (nitro-cli 1.5's, default features) gives for the input: read with from_slice::<Value>
 * and written with to_string, or, for the formatter, an f64 written with to_string.
 */
#include <errno.h>
#include <float.h>
#include <json-c/json.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/sjson.h"
#include "common/util.h"

static char *roundtrip(const char *text, size_t len)
{
	struct json_object *o;
	char *out;

	if (sjson_parse(text, len, &o))
		return NULL;
	out = sjson_write(o, false, NULL);
	json_object_put(o);
	return out;
}

static void expect(const char *text, const char *want)
{
	char *got = roundtrip(text, strlen(text));

	if (!got)
		fail_msg("%s: refused (%s), serde_json gives %s", text, err_msg(), want);
	if (strcmp(got, want))
		fail_msg("%s: %s, serde_json gives %s", text, got, want);
	free(got);
}

static void expect_refused(const char *text, size_t len, const char *why)
{
	char *got = roundtrip(text, len);

	if (got)
		fail_msg("%.*s: accepted as %s, serde_json refuses it", (int)len, text, got);
	if (!strstr(err_msg(), why))
		fail_msg("%.*s: '%s' does not say '%s'", (int)len, text, err_msg(), why);
}

static void test_format_f64(void **state)
{
	static const struct {
		double d;
		const char *want;
	} cases[] = {
		{ 0.0, "0.0" },
		{ -0.0, "-0.0" },
		{ 1.0, "1.0" },
		{ -1.5, "-1.5" },
		{ 100.0, "100.0" },
		{ 0.1, "0.1" },
		{ 0.1 + 0.2, "0.30000000000000004" },
		{ 2.0 / 3.0, "0.6666666666666666" },
		{ 12345678.9, "12345678.9" },
		/* Up to 16 digits before the point in plain form, then exponents without "+" or padding. */
		{ 1e15, "1000000000000000.0" },
		{ 1e16, "1e16" },
		{ 123456789012345680.0, "1.2345678901234568e17" },
		{ 9223372036854775808.0, "9.223372036854776e18" },
		{ 1e21, "1e21" },
		{ 1e23, "1e23" },
		/* Down to 0.0001 in plain form, then exponents. */
		{ 0.0001, "0.0001" },
		{ 0.00001, "0.00001" },
		{ 1.2345e-5, "0.000012345" },
		{ 1e-7, "1e-7" },
		{ DBL_MAX, "1.7976931348623157e308" },
		{ DBL_MIN, "2.2250738585072014e-308" },
		{ 5e-324, "5e-324" },
	};
	char out[SJSON_F64_MAX];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		sjson_format_f64(cases[i].d, out);
		if (strcmp(out, cases[i].want))
			fail_msg("%.17g: %s, serde_json gives %s", cases[i].d, out, cases[i].want);
	}
	/*
	 * Powers of two, where the doubles below are twice as dense as those above: the shortest text that reads
	 * back is one unit above the nearest text of that length.
	 */
	sjson_format_f64(ldexp(1.0, -1017), out);
	assert_string_equal(out, "7.120236347223045e-307");
	sjson_format_f64(ldexp(1.0, -791), out);
	assert_string_equal(out, "7.678447687145631e-239");
	sjson_format_f64(ldexp(1.0, -705), out);
	assert_string_equal(out, "5.940911144672375e-213");
}

/* Any double: the text reads back as it, and no text with one digit less does (shortest, like ryu). */
static void test_format_f64_shortest(void **state)
{
	char out[SJSON_F64_MAX], shorter[40];
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	(void)state;
	for (int i = 0; i < 50000; i++) {
		char digits[24], *s;
		double d;
		int n = 0;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memcpy(&d, &x, sizeof(d));
		if (!isfinite(d) || d == 0)
			continue;
		sjson_format_f64(d, out);
		assert_true(strtod(out, NULL) == d);
		for (s = out; *s && *s != 'e'; s++)
			if (*s >= '0' && *s <= '9' && (n || *s != '0'))
				digits[n++] = *s;
		while (n > 1 && digits[n - 1] == '0')
			n--;
		if (n < 2)
			continue;
		snprintf(shorter, sizeof(shorter), "%.*e", n - 2, d);
		assert_true(strtod(shorter, NULL) != d);
	}
}

static void test_numbers(void **state)
{
	(void)state;
	expect("0", "0");
	expect("1.0", "1.0");
	expect("1e3", "1000.0");
	expect("1E+3", "1000.0");
	expect("-1.5e-7", "-1.5e-7");
	/* -0 is no integer for serde_json. */
	expect("-0", "-0.0");
	expect("-0.0", "-0.0");
	/* Integers stay integers while u64 (or, negative, i64) holds them. */
	expect("18446744073709551615", "18446744073709551615");
	expect("18446744073709551616", "1.8446744073709552e19");
	expect("-9223372036854775808", "-9223372036854775808");
	expect("-9223372036854775809", "-9.223372036854776e18");
	expect("123456789012345678901234567890", "1.2345678901234568e29");
	/* serde_json's best-effort reading, not the nearest double: 3.60454190515309e-27 and so on would be. */
	expect("3.6045419051530900e-27", "3.6045419051530894e-27");
	expect("0.333333333333333333333", "0.33333333333333337");
	expect("7.13031705966457172e14", "713031705966457.2");
	/* A fraction digit still joins a significand that stopped growing in the integer part. */
	expect("184467440737095516199.3", "1.844674407370955e20");
	/* Too small is zero; too large is an error, unless the significand is zero. */
	expect("1e-400", "0.0");
	expect("2.4703282292062328e-324", "0.0");
	expect("-1e-999999999999", "-0.0");
	expect("0e999999999999", "0.0");
	expect_refused("1e400", 5, "out of range");
	expect_refused("1e999999999999", 14, "out of range");
}

static void test_number_syntax(void **state)
{
	static const char *const bad[] = { "01", "1.", ".5", "+1", "-", "1e", "1e+", "NaN", "Infinity", "0x10",
					   "1.e5", "--1" };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		expect_refused(bad[i], strlen(bad[i]), "");
}

static void test_strings(void **state)
{
	static const char in[] = "\"\\u00e9\\/\\b\\f\\n\\r\\t\\\"\\\\\\u0000\\u001f\\u007f\\ud83d\\ude80\"";
	static const char want[] = "\"\xc3\xa9/\\b\\f\\n\\r\\t\\\"\\\\\\u0000\\u001f\x7f\xf0\x9f\x9a\x80\"";

	(void)state;
	expect(in, want);
	expect("\"Zo\xc3\xab\"", "\"Zo\xc3\xab\"");
	expect_refused("\"\\ud83d\"", 8, "high surrogate");
	expect_refused("\"\\ude00\"", 8, "low surrogate");
	expect_refused("\"\\ud83dx\"", 9, "high surrogate");
	expect_refused("\"\\ud83d\\u0041\"", 14, "high surrogate");
	expect_refused("\"\\x\"", 4, "unknown escape");
	expect_refused("\"\\u12G4\"", 8, "four hex digits");
	expect_refused("\"\x01\"", 3, "control character");
	expect_refused("\"a\0b\"", 5, "control character");
	/* Rust's UTF-8: no overlong forms, no encoded surrogates, nothing past U+10FFFF, nothing cut short. */
	expect_refused("\"\xc0\x80\"", 4, "UTF-8");
	expect_refused("\"\xed\xa0\x80\"", 5, "UTF-8");
	expect_refused("\"\xf4\x90\x80\x80\"", 6, "UTF-8");
	expect_refused("\"\xc3\"", 3, "UTF-8");
	/* A byte-order mark is no whitespace. */
	expect_refused("\xef\xbb\xbf{}", 5, "expected a JSON value");
}

static void test_objects(void **state)
{
	(void)state;
	/* Bytewise key order at every depth (upper case first, UTF-8 after ASCII); the last duplicate wins. */
	expect("{\"b\":1,\"B\":2,\"a\":{\"z\":[],\"y\":{}},\"aa\":0,\"\xc3\xa9\":1,\"z\":2,\"a\":\"last\"}",
	       "{\"B\":2,\"a\":\"last\",\"aa\":0,\"b\":1,\"z\":2,\"\xc3\xa9\":1}");
	expect("{\"k\":{\"b\":[{\"d\":1,\"c\":2}],\"a\":null}}", "{\"k\":{\"a\":null,\"b\":[{\"c\":2,\"d\":1}]}}");
	expect(" [ true , false , null ] ", "[true,false,null]");
	expect("\t\r\n{}\n", "{}");
	expect("null", "null");
	expect_refused("[1,]", 4, "trailing comma");
	expect_refused("{\"a\":1,}", 8, "trailing comma");
	expect_refused("[1 2]", 5, "expected ',' or ']'");
	expect_refused("{\"a\" 1}", 7, "expected ':'");
	expect_refused("{1:2}", 5, "key must be a string");
	expect_refused("{\"a\":1", 6, "ends inside an object");
	expect_refused("1 2", 3, "more follows");
	expect_refused("truex", 5, "more follows");
	expect_refused("nul", 3, "expected a JSON value");
	expect_refused("", 0, "ends where a value should be");
	/* The one thing serde_json takes that a json-c object cannot hold. */
	expect_refused("{\"a\\u0000b\":1}", 14, "U+0000");
}

static void test_depth(void **state)
{
	char text[2 * SJSON_RECURSION_LIMIT + 1];
	int n = SJSON_RECURSION_LIMIT - 1;
	char *out;

	(void)state;
	memset(text, '[', (size_t)n);
	memset(text + n, ']', (size_t)n);
	out = roundtrip(text, 2 * (size_t)n);
	assert_non_null(out);
	assert_memory_equal(out, text, 2 * (size_t)n);
	free(out);
	n++;
	memset(text, '[', (size_t)n);
	memset(text + n, ']', (size_t)n);
	expect_refused(text, 2 * (size_t)n, "127 levels");
}

static void test_pretty(void **state)
{
	static const char in[] = "{\"b\":[1,{\"x\":[]}],\"a\":{},\"c\":\"\"}";
	static const char want[] = "{\n"
				   "  \"a\": {},\n"
				   "  \"b\": [\n"
				   "    1,\n"
				   "    {\n"
				   "      \"x\": []\n"
				   "    }\n"
				   "  ],\n"
				   "  \"c\": \"\"\n"
				   "}";
	struct json_object *o;
	size_t len;
	char *out;

	(void)state;
	assert_int_equal(sjson_parse(in, strlen(in), &o), 0);
	out = sjson_write(o, true, &len);
	assert_string_equal(out, want);
	assert_int_equal(len, strlen(want));
	free(out);
	json_object_put(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_f64),   cmocka_unit_test(test_format_f64_shortest),
		cmocka_unit_test(test_numbers),	     cmocka_unit_test(test_number_syntax),
		cmocka_unit_test(test_strings),	     cmocka_unit_test(test_objects),
		cmocka_unit_test(test_depth),	     cmocka_unit_test(test_pretty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
