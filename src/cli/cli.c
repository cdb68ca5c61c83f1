// SPDX-License-Identifier: MIT
/* Shared pieces of the subcommands: error lines, option parsing, serde-style JSON output. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "eif/eif.h"

int cli_fail(enum cli_error e, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "[ E%02d ] ", (int)e);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return e == E_UNSPECIFIED ? 1 : (int)e;
}

int cli_fail_err(enum cli_error e)
{
	return cli_fail(e, "%s", err_msg());
}

static char bad_option[128];

int cli_getopt(int argc, char **argv, const struct option *opts)
{
	int c;

	opterr = 0;
	c = getopt_long(argc, argv, "+h", opts, NULL);
	if (c == '?' || c == ':') {
		const char *arg = argv[optind - 1];

		if (optopt && optopt != '?') {
			const struct option *o;

			for (o = opts; o->name; o++)
				if (o->val == optopt)
					break;
			snprintf(bad_option, sizeof(bad_option), "option --%s needs a value",
				 o->name ? o->name : "?");
		} else {
			snprintf(bad_option, sizeof(bad_option), "unknown option '%s'", arg);
		}
		return '?';
	}
	return c;
}

int cli_bad_option(const char *cmd)
{
	return cli_fail(E_INVALID_ARGUMENT, "%s for %s; run 'nitrovm %s --help' for its options", bad_option, cmd,
			cmd);
}

bool cli_help_requested(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	}
	return false;
}

/* ---- serde_json-compatible pretty printer ---- */

struct sbuf {
	char *p;
	size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = MAX(b->cap * 2, b->len + n + 64);
		char *q = realloc(b->p, cap);

		if (!q)
			abort();
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_indent(struct sbuf *b, int depth)
{
	for (int i = 0; i < depth; i++)
		sb_add(b, "  ", 2);
}

static void sb_json_string(struct sbuf *b, const char *s, size_t n)
{
	sb_add(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];

		switch (c) {
		case '"': sb_add(b, "\\\"", 2); break;
		case '\\': sb_add(b, "\\\\", 2); break;
		case '\n': sb_add(b, "\\n", 2); break;
		case '\r': sb_add(b, "\\r", 2); break;
		case '\t': sb_add(b, "\\t", 2); break;
		case '\b': sb_add(b, "\\b", 2); break;
		case '\f': sb_add(b, "\\f", 2); break;
		default:
			if (c < 0x20) {
				snprintf(esc, sizeof(esc), "\\u%04x", c);
				sb_str(b, esc);
			} else {
				sb_add(b, (const char *)&c, 1);
			}
		}
	}
	sb_add(b, "\"", 1);
}

static void sb_json(struct sbuf *b, struct json_object *o, int depth)
{
	switch (json_object_get_type(o)) {
	case json_type_null:
		sb_str(b, "null");
		break;
	case json_type_boolean:
		sb_str(b, json_object_get_boolean(o) ? "true" : "false");
		break;
	case json_type_int:
	case json_type_double:
		sb_str(b, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		break;
	case json_type_string:
		sb_json_string(b, json_object_get_string(o), (size_t)json_object_get_string_len(o));
		break;
	case json_type_array: {
		size_t n = json_object_array_length(o);

		if (!n) {
			sb_str(b, "[]");
			break;
		}
		sb_str(b, "[\n");
		for (size_t i = 0; i < n; i++) {
			sb_indent(b, depth + 1);
			sb_json(b, json_object_array_get_idx(o, i), depth + 1);
			sb_str(b, i + 1 < n ? ",\n" : "\n");
		}
		sb_indent(b, depth);
		sb_str(b, "]");
		break;
	}
	case json_type_object: {
		int n = json_object_object_length(o), i = 0;

		if (!n) {
			sb_str(b, "{}");
			break;
		}
		sb_str(b, "{\n");
		json_object_object_foreach(o, key, val)
		{
			sb_indent(b, depth + 1);
			sb_json_string(b, key, strlen(key));
			sb_str(b, ": ");
			sb_json(b, val, depth + 1);
			sb_str(b, ++i < n ? ",\n" : "\n");
		}
		sb_indent(b, depth);
		sb_str(b, "}");
		break;
	}
	}
}

char *cli_json_pretty(struct json_object *o)
{
	struct sbuf b = { 0 };

	sb_json(&b, o, 0);
	return b.p;
}

void cli_print_json(struct json_object *o)
{
	char *s = cli_json_pretty(o);

	fputs(s, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	free(s);
}

struct json_object *cli_hex_json(const uint8_t *buf, size_t len)
{
	char *hex = malloc(2 * len + 1);
	struct json_object *o;

	if (!hex)
		abort();
	hex_encode(buf, len, hex);
	o = json_object_new_string(hex);
	free(hex);
	return o;
}

struct json_object *cli_measurements_json(const struct eif_measurements *m, const uint8_t *pcr8)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "HashAlgorithm", json_object_new_string("Sha384 { ... }"));
	json_object_object_add(o, "PCR0", cli_hex_json(m->pcr0, SHA384_LEN));
	json_object_object_add(o, "PCR1", cli_hex_json(m->pcr1, SHA384_LEN));
	json_object_object_add(o, "PCR2", cli_hex_json(m->pcr2, SHA384_LEN));
	if (pcr8)
		json_object_object_add(o, "PCR8", cli_hex_json(pcr8, SHA384_LEN));
	return o;
}

int cli_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

int cli_parse_size(const char *s, uint64_t default_unit, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t unit = default_unit;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': unit = KiB; end++; break;
	case 'm': case 'M': unit = MiB; end++; break;
	case 'g': case 'G': unit = GiB; end++; break;
	case 't': case 'T': unit = 1024 * GiB; end++; break;
	default: return -EINVAL;
	}
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end || (v && unit > UINT64_MAX / v))
		return -EINVAL;
	*out = v * unit;
	return 0;
}
