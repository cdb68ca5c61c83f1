// SPDX-License-Identifier: MIT
/*
 * An image's metadata as nitro-cli shows it.  nitro-cli deserialises the section into its EifIdentityInfo with
 * serde_json and prints a MetadataDescribeInfo whose custom metadata is #[serde(flatten)]ed: what that means
 * for the bytes (key order, numbers, repeated keys, refusals) is followed here.
 */
#include "describe.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>

#include "common/sjson.h"
#include "common/util.h"
#include "eif.h"

static const char *const build_keys[] = { "BuildTime", "BuildTool", "BuildToolVersion", "OperatingSystem",
					  "KernelVersion" };

/*
 * What nitro-cli's reader needs of the section to deserialise its EifIdentityInfo: these fields, the names
 * and build details as strings (unknown fields are ignored).  Without them it fails, and so describe-eif.
 */
static int check_identity(unsigned long long at, struct json_object *md)
{
	static const char *const top_keys[] = { "ImageName", "ImageVersion", "BuildMetadata", "DockerInfo",
						"CustomMetadata" };
	struct json_object *v, *bm = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(top_keys); i++)
		if (!json_object_object_get_ex(md, top_keys[i], &v))
			return err_set(EINVAL, "the metadata section at byte %llu has no \"%s\", which nitro-cli's "
					       "reader requires", at, top_keys[i]);
	for (size_t i = 0; i < 2; i++)
		if (json_object_object_get_ex(md, top_keys[i], &v) && !json_object_is_type(v, json_type_string))
			return err_set(EINVAL, "the metadata section at byte %llu has a \"%s\" that is not a string",
				       at, top_keys[i]);
	json_object_object_get_ex(md, "BuildMetadata", &bm);
	if (!json_object_is_type(bm, json_type_object))
		return err_set(EINVAL, "the metadata section at byte %llu has a \"BuildMetadata\" that is not an "
				       "object", at);
	for (size_t i = 0; i < ARRAY_SIZE(build_keys); i++)
		if (!json_object_object_get_ex(bm, build_keys[i], &v) || !json_object_is_type(v, json_type_string))
			return err_set(EINVAL, "the metadata section at byte %llu has no string \"%s\" in "
					       "\"BuildMetadata\", which nitro-cli's reader requires", at, build_keys[i]);
	return 0;
}

static const char *json_kind(struct json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_boolean: return "a boolean";
	case json_type_int:
	case json_type_double: return "a number";
	case json_type_string: return "a string";
	case json_type_array: return "an array";
	default: return "an object";
	}
}

static struct json_object *field(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	json_object_object_get_ex(o, key, &v);
	return json_object_get(v);
}

/*
 * "Metadata": the build metadata, DockerInfo, then the custom metadata's keys as #[serde(flatten)] writes them:
 * in the custom object's (sorted) order after the others, and a custom key that repeats one of the six before
 * it printed a second time rather than replacing it.
 */
static struct json_object *metadata_json(struct json_object *md)
{
	struct json_object *o = json_object_new_object(), *bm = NULL, *custom = NULL;

	json_object_object_get_ex(md, "BuildMetadata", &bm);
	for (size_t i = 0; i < ARRAY_SIZE(build_keys); i++)
		json_object_object_add(o, build_keys[i], field(bm, build_keys[i]));
	json_object_object_add(o, "DockerInfo", field(md, "DockerInfo"));
	json_object_object_get_ex(md, "CustomMetadata", &custom);
	if (custom) {
		json_object_object_foreach(custom, key, val)
			json_object_object_add_ex(o, key, json_object_get(val), JSON_C_OBJECT_ADD_KEY_IS_NEW);
	}
	return o;
}

int eif_describe_metadata(const struct eif *e, struct json_object **out)
{
	const struct eif_section *s = e->metadata;
	unsigned long long at = s ? (unsigned long long)s->offset : 0;
	struct json_object *md, *custom = NULL;
	int ret;

	*out = NULL;
	if (!s)
		return 0;
	ret = sjson_parse((const char *)s->data, s->size, &md);
	if (ret) {
		char why[256];

		snprintf(why, sizeof(why), "%s", err_msg());
		return err_set(EINVAL, "the metadata section at byte %llu is not a JSON object: %s of the section", at,
			       why);
	}
	/* nitro-cli reads an Option<EifIdentityInfo>: null is no metadata. */
	if (!md)
		return 0;
	if (!json_object_is_type(md, json_type_object))
		ret = err_set(EINVAL, "the metadata section at byte %llu is not a JSON object", at);
	if (!ret)
		ret = check_identity(at, md);
	if (!ret && json_object_object_get_ex(md, "CustomMetadata", &custom) && custom &&
	    !json_object_is_type(custom, json_type_object))
		ret = err_set(EDOM, "the custom metadata is %s, not a JSON object, so its keys cannot be listed in "
				    "\"Metadata\" (nitro-cli's describe fails on it too)", json_kind(custom));
	if (!ret) {
		*out = json_object_new_object();
		json_object_object_add(*out, "ImageName", field(md, "ImageName"));
		json_object_object_add(*out, "ImageVersion", field(md, "ImageVersion"));
		json_object_object_add(*out, "Metadata", metadata_json(md));
	}
	json_object_put(md);
	return ret;
}
