// SPDX-License-Identifier: MIT
/*
 * JSON from images and registries, read defensively: one complete document, bounded depth, members checked
 * for their type before use.  json-c keeps the last of duplicate keys; nothing here relies on which.
 */
#include <errno.h>
#include <json-c/json.h>
#include <string.h>

#include "internal.h"

int ijson_parse(const uint8_t *buf, size_t len, const char *what, struct json_object **out)
{
	return ijson_parse_as(buf, len, what, json_type_object, out);
}

int ijson_parse_as(const uint8_t *buf, size_t len, const char *what, int type, struct json_object **out)
{
	struct json_tokener *tok;
	struct json_object *o;
	enum json_tokener_error e;
	size_t end;

	*out = NULL;
	if (len > INT32_MAX)
		return err_set(EFBIG, "%s is too large to be JSON nitrovm reads", what);
	if (memchr(buf, '\0', len))
		return err_set(EINVAL, "%s is not JSON: it holds a NUL byte", what);
	tok = json_tokener_new_ex(IMAGE_JSON_MAX_DEPTH);
	if (!tok)
		return err_set(ENOMEM, "out of memory");
	o = json_tokener_parse_ex(tok, (const char *)buf, (int)len);
	e = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!o && e == json_tokener_success)
		return err_set(EINVAL, "%s is not a JSON %s but null", what,
			       type == json_type_array ? "array" : "object");
	if (!o || e != json_tokener_success) {
		json_object_put(o);
		return err_set(EINVAL, "%s is not valid JSON (%s near byte %zu)", what,
			       e == json_tokener_continue ? "it ends too early" : json_tokener_error_desc(e),
			       end);
	}
	while (end < len && strchr(" \t\r\n", buf[end]))
		end++;
	if (end < len || !json_object_is_type(o, (enum json_type)type)) {
		json_object_put(o);
		return err_set(EINVAL, "%s is not one JSON %s%s", what,
			       type == json_type_array ? "array" : "object",
			       end < len ? " (more follows it)" : "");
	}
	*out = o;
	return 0;
}

/* The member, or NULL when missing or null; a missing required one is an error. */
static int member(struct json_object *o, const char *key, const char *what, bool required,
		  struct json_object **out)
{
	struct json_object *m = NULL;

	*out = NULL;
	if (o && json_object_is_type(o, json_type_object))
		json_object_object_get_ex(o, key, &m);
	if (!m && required)
		return err_set(EINVAL, "%s has no \"%s\"", what, key);
	*out = m;
	return 0;
}

static int wrong_type(const char *what, const char *key, const char *want)
{
	return err_set(EINVAL, "%s: \"%s\" is not %s", what, key, want);
}

int ijson_string(struct json_object *o, const char *key, const char *what, bool required, const char **out)
{
	struct json_object *m;
	int ret = member(o, key, what, required, &m);

	if (ret || !m)
		return ret;
	if (!json_object_is_type(m, json_type_string))
		return wrong_type(what, key, "a string");
	if (strlen(json_object_get_string(m)) != (size_t)json_object_get_string_len(m))
		return err_set(EINVAL, "%s: \"%s\" holds a NUL character", what, key);
	*out = json_object_get_string(m);
	return 0;
}

int ijson_string_buf(struct json_object *o, const char *key, const char *what, bool required, char *buf,
		     size_t len)
{
	const char *s = NULL;
	int ret = ijson_string(o, key, what, required, &s);

	if (ret || !s)
		return ret;
	if (strlen(s) >= len)
		return err_set(EINVAL, "%s: \"%s\" is longer than %zu bytes", what, key, len - 1);
	memcpy(buf, s, strlen(s) + 1);
	return 0;
}

int ijson_u64(struct json_object *o, const char *key, const char *what, bool required, uint64_t *out)
{
	struct json_object *m;
	int ret = member(o, key, what, required, &m);
	int64_t v;

	if (ret || !m)
		return ret;
	if (!json_object_is_type(m, json_type_int))
		return wrong_type(what, key, "a whole number");
	v = json_object_get_int64(m);
	/* json-c keeps numbers past INT64_MAX as unsigned and clamps what get_int64 returns. */
	if (v < 0 || json_object_get_uint64(m) > INT64_MAX)
		return err_set(EINVAL, "%s: \"%s\" is not a whole number from 0 to 2^63 - 1", what, key);
	*out = (uint64_t)v;
	return 0;
}

int ijson_object(struct json_object *o, const char *key, const char *what, bool required,
		 struct json_object **out)
{
	int ret = member(o, key, what, required, out);

	if (!ret && *out && !json_object_is_type(*out, json_type_object)) {
		*out = NULL;
		return wrong_type(what, key, "an object");
	}
	return ret;
}

int ijson_array(struct json_object *o, const char *key, const char *what, bool required,
		struct json_object **out)
{
	int ret = member(o, key, what, required, out);

	if (!ret && *out && !json_object_is_type(*out, json_type_array)) {
		*out = NULL;
		return wrong_type(what, key, "an array");
	}
	return ret;
}

int ijson_strv(struct json_object *o, const char *key, const char *what, struct strv *out, bool *present)
{
	struct json_object *a;
	int ret = ijson_array(o, key, what, false, &a);
	size_t n;

	if (present)
		*present = false;
	if (ret || !a)
		return ret;
	n = json_object_array_length(a);
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);
		const char *s = json_object_get_string(e);

		if (!json_object_is_type(e, json_type_string))
			return err_set(EINVAL, "%s: \"%s\"[%zu] is not a string", what, key, i);
		if (strlen(s) != (size_t)json_object_get_string_len(e))
			return err_set(EINVAL, "%s: \"%s\"[%zu] holds a NUL character", what, key, i);
		if (strv_push(out, s, strlen(s)))
			return -ENOMEM;
	}
	if (present)
		*present = true;
	return 0;
}
