// SPDX-License-Identifier: MIT
#include "describe.h"

#include <errno.h>
#include <json-c/json.h>

#include "common/util.h"
#include "eif.h"

static struct json_object *get_ref(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (o && json_object_object_get_ex(o, key, &v))
		return json_object_get(v);
	return json_object_new_string("");
}

/* "Metadata": the build metadata, DockerInfo, and the custom metadata's keys flattened in (nitro-cli's shape). */
static struct json_object *metadata_json(struct json_object *md)
{
	static const char *const build_keys[] = { "BuildTime", "BuildTool", "BuildToolVersion", "OperatingSystem",
						  "KernelVersion" };
	struct json_object *o = json_object_new_object(), *bm = NULL, *docker = NULL, *custom = NULL;

	json_object_object_get_ex(md, "BuildMetadata", &bm);
	for (size_t i = 0; i < ARRAY_SIZE(build_keys); i++)
		json_object_object_add(o, build_keys[i], get_ref(bm, build_keys[i]));
	json_object_object_get_ex(md, "DockerInfo", &docker);
	json_object_object_add(o, "DockerInfo", json_object_get(docker));
	if (json_object_object_get_ex(md, "CustomMetadata", &custom) && json_object_is_type(custom, json_type_object)) {
		json_object_object_foreach(custom, key, val)
			json_object_object_add(o, key, json_object_get(val));
	}
	return o;
}

struct json_object *eif_describe_metadata(const struct eif *e)
{
	const struct eif_section *s = e->metadata;
	struct json_tokener *tok;
	struct json_object *md, *o;

	if (!s)
		return NULL;
	tok = json_tokener_new();
	if (!tok)
		return NULL;
	md = json_tokener_parse_ex(tok, (const char *)s->data, (int)s->size);
	if (!md || json_tokener_get_error(tok) != json_tokener_success || !json_object_is_type(md, json_type_object)) {
		json_tokener_free(tok);
		json_object_put(md);
		err_set(EINVAL, "the metadata section at byte %llu is not a JSON object", (unsigned long long)s->offset);
		return NULL;
	}
	json_tokener_free(tok);
	o = json_object_new_object();
	json_object_object_add(o, "ImageName", get_ref(md, "ImageName"));
	json_object_object_add(o, "ImageVersion", get_ref(md, "ImageVersion"));
	json_object_object_add(o, "Metadata", metadata_json(md));
	json_object_put(md);
	return o;
}
