// SPDX-License-Identifier: MIT
/*
 * JSON as serde_json reads and writes it (sjson.h says why and what that means).  The number rules follow
 * serde_json's parser step by step, because its results for long or far-scaled numbers depend on the order
 * in which it drops digits and scales.
 */
#include "sjson.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "util.h"

/* ---- growable text ---- */

struct sbuf {
	char *p;
	size_t len, cap;
};

static void sb_add(struct sbuf *b, const void *s, size_t n)
{
	char *q = grow_array(b->p, &b->cap, b->len + n + 1, 1, 64);

	if (!q)
		abort();
	b->p = q;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_byte(struct sbuf *b, unsigned char c)
{
	sb_add(b, &c, 1);
}

/* ---- numbers out: ryu's shortest round-trip form and serde_json's layout of it ---- */

/* Whether the decimal digits[0..n) × 10^exp10 (exp10: the first digit's power) reads back as v. */
static bool reads_back(const char *digits, int n, int exp10, double v)
{
	char text[48];

	/* An integer mantissa: no decimal point, so the C library's locale cannot change the reading. */
	snprintf(text, sizeof(text), "%.*se%d", n, digits, exp10 - (n - 1));
	return strtod(text, NULL) == v;
}

/* digits + one unit in the last place; a carry out of the first digit makes it 10...0 one power higher. */
static void next_up(char *digits, int n, int *exp10)
{
	int i = n - 1;

	while (i >= 0 && digits[i] == '9')
		digits[i--] = '0';
	if (i >= 0) {
		digits[i]++;
		return;
	}
	digits[0] = '1';
	(*exp10)++;
}

/*
 * The shortest digits that read back as v (> 0, finite), and the power of ten of the first one.  For each
 * length the C library's correctly rounded candidate is tried first: ryu picks it too whenever it reads back.
 * Just above a power of two the doubles below v are closer together than those above, so the candidate can
 * fall outside below while the next one up still reads back; ryu takes that one at this length.
 */
static int shortest_digits(double v, char digits[20], int *exp10)
{
	char text[48];
	int n = 1;

	for (int prec = 1; prec <= 17; prec++) {
		const char *s;

		snprintf(text, sizeof(text), "%.*e", prec - 1, v);
		n = 0;
		for (s = text; *s && *s != 'e'; s++)
			if (*s >= '0' && *s <= '9')
				digits[n++] = *s;
		*exp10 = atoi(s + 1);
		if (reads_back(digits, n, *exp10, v))
			break;
		next_up(digits, n, exp10);
		if (reads_back(digits, n, *exp10, v))
			break;
	}
	while (n > 1 && digits[n - 1] == '0')
		n--;
	digits[n] = '\0';
	return n;
}

void sjson_format_f64(double d, char *out)
{
	char digits[20], *o = out;
	int n, exp10, kk, k;

	if (signbit(d))
		*o++ = '-';
	if (d == 0) {
		strcpy(o, "0.0");
		return;
	}
	n = shortest_digits(fabs(d), digits, &exp10);
	kk = exp10 + 1; /* 10^(kk-1) <= |d| < 10^kk */
	k = kk - n;	/* |d| = digits × 10^k */
	if (k >= 0 && kk <= 16)
		sprintf(o, "%s%.*s.0", digits, k, "0000000000000000");
	else if (kk > 0 && kk <= 16)
		sprintf(o, "%.*s.%s", kk, digits, digits + kk);
	else if (kk > -5 && kk <= 0)
		sprintf(o, "0.%.*s%s", -kk, "0000", digits);
	else if (n == 1)
		sprintf(o, "%se%d", digits, kk - 1);
	else
		sprintf(o, "%c.%se%d", digits[0], digits + 1, kk - 1);
}

/* ---- writing ---- */

static void write_string(struct sbuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	sb_byte(b, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6] = { '\\', 'u', '0', '0' };

		switch (c) {
		case '"': sb_str(b, "\\\""); break;
		case '\\': sb_str(b, "\\\\"); break;
		case '\b': sb_str(b, "\\b"); break;
		case '\f': sb_str(b, "\\f"); break;
		case '\n': sb_str(b, "\\n"); break;
		case '\r': sb_str(b, "\\r"); break;
		case '\t': sb_str(b, "\\t"); break;
		default:
			if (c >= 0x20) {
				sb_byte(b, c);
				break;
			}
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			sb_add(b, esc, sizeof(esc));
		}
	}
	sb_byte(b, '"');
}

/* Before the i-th member of a container: the separator and, when pretty, the new line and its indent. */
static void write_separator(struct sbuf *b, size_t i, int depth, bool pretty)
{
	if (i)
		sb_byte(b, ',');
	if (!pretty)
		return;
	sb_byte(b, '\n');
	for (int d = 0; d < depth; d++)
		sb_str(b, "  ");
}

/* After n members: serde_json's pretty layout closes a non-empty container on its own line. */
static void write_close(struct sbuf *b, size_t n, int depth, bool pretty, char close)
{
	if (n)
		write_separator(b, 0, depth, pretty);
	sb_byte(b, close);
}

static void write_value(struct sbuf *b, struct json_object *o, int depth, bool pretty)
{
	char num[SJSON_F64_MAX];
	size_t i = 0, n;

	switch (json_object_get_type(o)) {
	case json_type_null:
		sb_str(b, "null");
		break;
	case json_type_boolean:
		sb_str(b, json_object_get_boolean(o) ? "true" : "false");
		break;
	case json_type_int:
		/* json-c keeps u64 and i64 apart inside but shows only the sign: enough to pick the getter. */
		if (json_object_get_int64(o) < 0)
			snprintf(num, sizeof(num), "%" PRId64, json_object_get_int64(o));
		else
			snprintf(num, sizeof(num), "%" PRIu64, json_object_get_uint64(o));
		sb_str(b, num);
		break;
	case json_type_double:
		/* serde_json writes null for what JSON cannot hold. */
		if (!isfinite(json_object_get_double(o))) {
			sb_str(b, "null");
			break;
		}
		sjson_format_f64(json_object_get_double(o), num);
		sb_str(b, num);
		break;
	case json_type_string:
		write_string(b, json_object_get_string(o), (size_t)json_object_get_string_len(o));
		break;
	case json_type_array:
		n = json_object_array_length(o);
		sb_byte(b, '[');
		for (i = 0; i < n; i++) {
			write_separator(b, i, depth + 1, pretty);
			write_value(b, json_object_array_get_idx(o, i), depth + 1, pretty);
		}
		write_close(b, n, depth, pretty, ']');
		break;
	case json_type_object:
		sb_byte(b, '{');
		json_object_object_foreach(o, key, val)
		{
			write_separator(b, i++, depth + 1, pretty);
			write_string(b, key, strlen(key));
			sb_str(b, pretty ? ": " : ":");
			write_value(b, val, depth + 1, pretty);
		}
		write_close(b, i, depth, pretty, '}');
		break;
	}
}

char *sjson_write(struct json_object *o, bool pretty, size_t *len)
{
	struct sbuf b = { 0 };

	sb_add(&b, "", 0);
	write_value(&b, o, 0, pretty);
	if (len)
		*len = b.len;
	return b.p;
}

/* ---- parsing ---- */

struct parser {
	const unsigned char *s;
	size_t len, pos;
	int depth_left; /* serde_json's remaining_depth */
	struct sbuf str;
};

static int fail(const struct parser *p, const char *why)
{
	return err_set(EINVAL, "%s at byte %zu", why, p->pos);
}

static int peek(const struct parser *p)
{
	return p->pos < p->len ? p->s[p->pos] : -1;
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static void skip_whitespace(struct parser *p)
{
	for (int c = peek(p); c == ' ' || c == '\t' || c == '\n' || c == '\r'; c = peek(p))
		p->pos++;
}

/* What Rust's str::from_utf8 accepts: no overlong forms, no surrogates, nothing past U+10FFFF. */
static bool utf8_valid(const unsigned char *s, size_t n)
{
	static const uint32_t min[4] = { 0, 0x80, 0x800, 0x10000 };

	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t more;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0)
			more = 1, cp = c & 0x1f;
		else if ((c & 0xf0) == 0xe0)
			more = 2, cp = c & 0x0f;
		else if ((c & 0xf8) == 0xf0)
			more = 3, cp = c & 0x07;
		else
			return false;
		if (n - i - 1 < more)
			return false;
		for (size_t k = 1; k <= more; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min[more] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += more + 1;
	}
	return true;
}

static void put_utf8(struct sbuf *b, uint32_t cp)
{
	unsigned char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | cp >> 18);
		u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	sb_add(b, u, n);
}

static int parse_hex4(struct parser *p, uint32_t *out)
{
	*out = 0;
	for (int i = 0; i < 4; i++) {
		int c = peek(p);

		if (c < 0)
			return fail(p, "the text ends inside a \\u escape");
		if (is_digit(c))
			c -= '0';
		else if (c >= 'a' && c <= 'f')
			c -= 'a' - 10;
		else if (c >= 'A' && c <= 'F')
			c -= 'A' - 10;
		else
			return fail(p, "a \\u escape needs four hex digits");
		*out = *out << 4 | (uint32_t)c;
		p->pos++;
	}
	return 0;
}

/* After "\u": a character, or a UTF-16 surrogate pair written as two escapes (lone halves are refused). */
static int parse_unicode_escape(struct parser *p)
{
	uint32_t hi, lo;
	int ret;

	ret = parse_hex4(p, &hi);
	if (ret)
		return ret;
	if (hi >= 0xdc00 && hi <= 0xdfff)
		return fail(p, "a \\u escape holds a low surrogate with no high one before it");
	if (hi < 0xd800 || hi > 0xdbff) {
		put_utf8(&p->str, hi);
		return 0;
	}
	if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
		return fail(p, "a \\u escape holds a high surrogate with no \\u low one after it");
	p->pos += 2;
	ret = parse_hex4(p, &lo);
	if (ret)
		return ret;
	if (lo < 0xdc00 || lo > 0xdfff)
		return fail(p, "a \\u escape holds a high surrogate with no \\u low one after it");
	put_utf8(&p->str, 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00));
	return 0;
}

static int parse_escape(struct parser *p)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	int c = peek(p);
	const char *e;

	if (c < 0)
		return fail(p, "the text ends inside an escape");
	if (c == 'u') {
		p->pos++;
		return parse_unicode_escape(p);
	}
	e = c ? strchr(from, c) : NULL;
	if (!e)
		return fail(p, "unknown escape in a string");
	sb_byte(&p->str, (unsigned char)to[e - from]);
	p->pos++;
	return 0;
}

/* From just after the opening quote; the text ends up in p->str. */
static int parse_string(struct parser *p)
{
	int ret;

	p->str.len = 0;
	sb_add(&p->str, "", 0);
	for (;;) {
		int c = peek(p);

		if (c < 0)
			return fail(p, "the text ends inside a string");
		if (c < 0x20)
			return fail(p, "a control character must be escaped inside a string");
		p->pos++;
		if (c == '"')
			break;
		if (c != '\\') {
			sb_byte(&p->str, (unsigned char)c);
			continue;
		}
		ret = parse_escape(p);
		if (ret)
			return ret;
	}
	if (!utf8_valid((const unsigned char *)p->str.p, p->str.len))
		return fail(p, "a string is not valid UTF-8 (ending here)");
	return 0;
}

/* serde_json's test before significand * 10 + digit. */
static bool u64_would_overflow(uint64_t a, int digit)
{
	return a > UINT64_MAX / 10 || (a == UINT64_MAX / 10 && (uint64_t)digit > UINT64_MAX % 10);
}

/* 10^n as Rust's f64 literals hold it: the nearest double, which glibc's strtod gives. */
static double pow10_nearest(unsigned int n)
{
	char text[8];

	snprintf(text, sizeof(text), "1e%u", n);
	return strtod(text, NULL);
}

/*
 * significand × 10^exp the way serde_json computes it without float_roundtrip: one multiplication or division
 * by a power of ten from its table (10^0 .. 10^308), dividing by 10^308 first for smaller exponents.
 */
static int f64_from_parts(struct parser *p, bool negative, uint64_t significand, int32_t exp, double *out)
{
	double f = (double)significand;

	for (;;) {
		uint32_t magnitude = exp < 0 ? 0u - (uint32_t)exp : (uint32_t)exp;

		if (magnitude <= 308) {
			if (exp < 0) {
				f /= pow10_nearest(magnitude);
				break;
			}
			f *= pow10_nearest(magnitude);
			if (isinf(f))
				return fail(p, "number out of range");
			break;
		}
		if (f == 0)
			break;
		if (exp >= 0)
			return fail(p, "number out of range");
		f /= 1e308;
		exp += 308;
	}
	*out = negative ? -f : f;
	return 0;
}

/* After "." (not yet eaten): digits join the significand until it would overflow; later ones are dropped. */
static int parse_fraction(struct parser *p, uint64_t *significand, int32_t *exp)
{
	bool any = false;
	int c;

	p->pos++;
	while (is_digit(c = peek(p))) {
		any = true;
		if (u64_would_overflow(*significand, c - '0')) {
			while (is_digit(peek(p)))
				p->pos++;
			break;
		}
		*significand = *significand * 10 + (uint64_t)(c - '0');
		(*exp)--;
		p->pos++;
	}
	if (!any)
		return fail(p, c < 0 ? "the text ends inside a number"
				     : "a number needs a digit after its point");
	return 0;
}

static int32_t add_saturating(int32_t a, int64_t b)
{
	int64_t r = (int64_t)a + b;

	return r > INT32_MAX ? INT32_MAX : r < INT32_MIN ? INT32_MIN : (int32_t)r;
}

/*
 * After "e" or "E" (not yet eaten): adds the exponent to *exp.  Returns 1 when the exponent overflows i32 and
 * the number is therefore zero (serde_json refuses the overflow only when it would make the number huge).
 */
static int parse_exponent(struct parser *p, uint64_t significand, int32_t *exp)
{
	bool positive = true;
	int32_t e;
	int c;

	p->pos++;
	c = peek(p);
	if (c == '+' || c == '-') {
		positive = c == '+';
		p->pos++;
	}
	c = peek(p);
	if (c < 0)
		return fail(p, "the text ends inside a number");
	if (!is_digit(c))
		return fail(p, "a number's exponent has no digits");
	e = c - '0';
	p->pos++;
	while (is_digit(c = peek(p))) {
		p->pos++;
		if (e > INT32_MAX / 10 || (e == INT32_MAX / 10 && c - '0' > INT32_MAX % 10)) {
			if (significand && positive)
				return fail(p, "number out of range");
			while (is_digit(peek(p)))
				p->pos++;
			return 1;
		}
		e = e * 10 + (c - '0');
	}
	*exp = add_saturating(*exp, positive ? e : -(int64_t)e);
	return 0;
}

static struct json_object *new_double(double d)
{
	char text[SJSON_F64_MAX];

	/* Carry serde_json's text along, should json-c itself ever print the number. */
	sjson_format_f64(d, text);
	return json_object_new_double_s(d, text);
}

static int parse_number(struct parser *p, struct json_object **out)
{
	bool negative = false, is_float = false;
	uint64_t significand = 0;
	int32_t exp = 0;
	double f = 0;
	int c, ret;

	if (peek(p) == '-') {
		negative = true;
		p->pos++;
	}
	c = peek(p);
	if (c < 0)
		return fail(p, "the text ends inside a number");
	if (c == '0') {
		p->pos++;
		if (is_digit(peek(p)))
			return fail(p, "a number has a leading zero");
	} else if (is_digit(c)) {
		for (; is_digit(c = peek(p)); p->pos++) {
			if (u64_would_overflow(significand, c - '0')) {
				/* Past u64 the significand stops growing and further digits only scale it. */
				is_float = true;
				for (; is_digit(peek(p)); p->pos++)
					exp++;
				break;
			}
			significand = significand * 10 + (uint64_t)(c - '0');
		}
	} else {
		return fail(p, "invalid number");
	}
	if (peek(p) == '.') {
		ret = parse_fraction(p, &significand, &exp);
		if (ret)
			return ret;
		is_float = true;
	}
	if (peek(p) == 'e' || peek(p) == 'E') {
		ret = parse_exponent(p, significand, &exp);
		if (ret < 0)
			return ret;
		if (ret) {
			*out = new_double(negative ? -0.0 : 0.0);
			return 0;
		}
		is_float = true;
	}
	if (!is_float && !negative) {
		*out = json_object_new_uint64(significand);
		return 0;
	}
	/* A negative integer stays one when i64 holds it; -0 and anything below -2^63 become f64. */
	if (!is_float && significand && significand <= (uint64_t)INT64_MAX + 1) {
		*out = json_object_new_int64(-(int64_t)(significand - 1) - 1);
		return 0;
	}
	ret = f64_from_parts(p, negative, significand, exp, &f);
	if (ret)
		return ret;
	*out = new_double(f);
	return 0;
}

static int parse_value(struct parser *p, struct json_object **out);

static int parse_literal(struct parser *p, const char *word)
{
	size_t n = strlen(word);

	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n))
		return fail(p, "expected a JSON value");
	p->pos += n;
	return 0;
}

/* After a member: 1 at the container's end, 0 when another member follows, or an error. */
static int after_member(struct parser *p, char close, const char *what)
{
	char why[64];
	int c;

	skip_whitespace(p);
	c = peek(p);
	if (c == close) {
		p->pos++;
		return 1;
	}
	if (c != ',') {
		if (c < 0)
			snprintf(why, sizeof(why), "the text ends inside %s", what);
		else
			snprintf(why, sizeof(why), "expected ',' or '%c' in %s", close, what);
		return fail(p, why);
	}
	p->pos++;
	skip_whitespace(p);
	if (peek(p) == close)
		return fail(p, "a trailing comma");
	return 0;
}

/* Past a container's opening bracket: true, and past its closing one too, when it is empty. */
static bool opens_empty(struct parser *p, char close)
{
	p->pos++;
	skip_whitespace(p);
	if (peek(p) != close)
		return false;
	p->pos++;
	return true;
}

static int parse_array(struct parser *p, struct json_object **out)
{
	struct json_object *a = json_object_new_array(), *v;
	int ret;

	if (opens_empty(p, ']')) {
		*out = a;
		return 0;
	}
	do {
		ret = parse_value(p, &v);
		if (ret)
			goto fail;
		json_object_array_add(a, v);
		ret = after_member(p, ']', "an array");
		if (ret < 0)
			goto fail;
	} while (!ret);
	*out = a;
	return 0;
fail:
	json_object_put(a);
	return ret;
}

struct member {
	char *key;
	size_t key_len, seq;
	struct json_object *val;
};

static int member_cmp(const void *pa, const void *pb)
{
	const struct member *a = pa, *b = pb;
	int c = memcmp(a->key, b->key, MIN(a->key_len, b->key_len));

	if (c)
		return c;
	if (a->key_len != b->key_len)
		return a->key_len < b->key_len ? -1 : 1;
	return a->seq < b->seq ? -1 : 1;
}

/* Bytewise key order, and of equal keys the last one read, as serde_json's BTreeMap keeps them. */
static struct json_object *members_to_object(struct member *m, size_t n)
{
	struct json_object *o = json_object_new_object();

	qsort(m, n, sizeof(*m), member_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i + 1 < n && m[i + 1].key_len == m[i].key_len &&
		    !memcmp(m[i + 1].key, m[i].key, m[i].key_len)) {
			json_object_put(m[i].val);
			continue;
		}
		json_object_object_add(o, m[i].key, m[i].val);
	}
	return o;
}

static int parse_member(struct parser *p, struct member *m)
{
	int c, ret;

	skip_whitespace(p);
	c = peek(p);
	if (c != '"')
		return fail(p, c < 0 ? "the text ends inside an object" : "an object key must be a string");
	p->pos++;
	ret = parse_string(p);
	if (ret)
		return ret;
	if (memchr(p->str.p, '\0', p->str.len))
		return fail(p, "an object key holds U+0000, which nitrovm cannot keep");
	m->key = strdup(p->str.p);
	if (!m->key)
		abort();
	m->key_len = p->str.len;
	skip_whitespace(p);
	if (peek(p) != ':')
		return fail(p, "expected ':' after an object key");
	p->pos++;
	return parse_value(p, &m->val);
}

static int parse_object(struct parser *p, struct json_object **out)
{
	struct member *m = NULL;
	size_t n = 0, cap = 0;
	int ret;

	if (opens_empty(p, '}')) {
		*out = json_object_new_object();
		return 0;
	}
	do {
		struct member *q = grow_array(m, &cap, n + 1, sizeof(*m), 8);

		if (!q)
			abort();
		m = q;
		m[n] = (struct member){ .seq = n };
		ret = parse_member(p, &m[n++]);
		if (ret)
			goto out;
		ret = after_member(p, '}', "an object");
		if (ret < 0)
			goto out;
	} while (!ret);
	*out = members_to_object(m, n);
	ret = 0;
out:
	for (size_t i = 0; i < n; i++) {
		if (ret)
			json_object_put(m[i].val);
		free(m[i].key);
	}
	free(m);
	return ret;
}

static int parse_value(struct parser *p, struct json_object **out)
{
	int c, ret;

	*out = NULL;
	skip_whitespace(p);
	c = peek(p);
	switch (c) {
	case -1:
		return fail(p, "the text ends where a value should be");
	case 'n':
		return parse_literal(p, "null");
	case 't':
	case 'f':
		ret = parse_literal(p, c == 't' ? "true" : "false");
		if (!ret)
			*out = json_object_new_boolean(c == 't');
		return ret;
	case '"':
		p->pos++;
		ret = parse_string(p);
		if (!ret)
			*out = json_object_new_string_len(p->str.p, (int)p->str.len);
		return ret;
	case '[':
	case '{':
		if (--p->depth_left == 0)
			return fail(p, "nested deeper than serde_json's limit of 127 levels");
		ret = c == '[' ? parse_array(p, out) : parse_object(p, out);
		p->depth_left++;
		return ret;
	default:
		if (c == '-' || is_digit(c))
			return parse_number(p, out);
		return fail(p, "expected a JSON value");
	}
}

int sjson_parse(const char *text, size_t len, struct json_object **out)
{
	struct parser p = { .s = (const unsigned char *)text, .len = len, .depth_left = SJSON_RECURSION_LIMIT };
	struct json_object *v;
	int ret;

	*out = NULL;
	ret = parse_value(&p, &v);
	if (!ret) {
		skip_whitespace(&p);
		if (p.pos < p.len) {
			json_object_put(v);
			ret = fail(&p, "more follows the JSON value");
		}
	}
	free(p.str.p);
	if (!ret)
		*out = v;
	return ret;
}
