// SPDX-License-Identifier: MIT
/*
 * JSON in serde_json's pretty layout: two-space indent, "key": value, objects in insertion order, strings
 * escaped as serde_json escapes them.  nitro-cli prints every JSON document this way (its describe outputs and
 * the replies an enclave process sends), and scripts compare the text.
 */
#include "json_pretty.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

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

char *json_pretty(struct json_object *o)
{
	struct sbuf b = { 0 };

	sb_json(&b, o, 0);
	return b.p;
}
