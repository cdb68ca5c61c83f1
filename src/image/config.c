// SPDX-License-Identifier: MIT
/*
 * Image configs (OCI's and Docker's: one JSON shape) and DockerInfo, the `docker image inspect` view of an
 * image that nitro-cli puts in the EIF metadata.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int parse_diff_ids(struct json_object *o, struct image_config *c)
{
	struct json_object *rootfs, *ids;
	const char *type = NULL;
	char what[64];
	int ret;

	ret = ijson_object(o, "rootfs", "the image config", true, &rootfs);
	if (!ret)
		ret = ijson_string(rootfs, "type", "the image config's rootfs", true, &type);
	if (!ret && strcmp(type, "layers"))
		ret = err_set(EPROTONOSUPPORT, "the image config's rootfs has type '%.64s', not \"layers\"",
			      type);
	if (!ret)
		ret = ijson_array(rootfs, "diff_ids", "the image config's rootfs", true, &ids);
	if (ret)
		return ret;
	c->ndiff_ids = json_object_array_length(ids);
	if (c->ndiff_ids > IMAGE_MAX_LAYERS)
		return err_set(E2BIG, "the image config lists %zu layers, more than the %d nitrovm applies",
			       c->ndiff_ids, IMAGE_MAX_LAYERS);
	c->diff_ids = calloc(c->ndiff_ids + 1, sizeof(*c->diff_ids));
	if (!c->diff_ids)
		return err_set(ENOMEM, "out of memory");
	for (size_t i = 0; i < c->ndiff_ids; i++) {
		struct json_object *e = json_object_array_get_idx(ids, i);

		snprintf(what, sizeof(what), "the image config's diff_ids[%zu]", i);
		if (!json_object_is_type(e, json_type_string))
			return err_set(EINVAL, "%s is not a string", what);
		ret = image_digest_parse(json_object_get_string(e), what, &c->diff_ids[i]);
		if (ret)
			return ret;
	}
	return 0;
}

static int parse_run_config(struct json_object *o, struct image_config *c)
{
	const char *what = "the image config's \"config\"";
	struct json_object *cc;
	int ret = ijson_object(o, "config", "the image config", false, &cc);

	if (ret || !cc)
		return ret;
	ret = ijson_strv(cc, "Entrypoint", what, &c->entrypoint, &c->has_entrypoint);
	if (!ret)
		ret = ijson_strv(cc, "Cmd", what, &c->cmd, &c->has_cmd);
	if (!ret)
		ret = ijson_strv(cc, "Env", what, &c->env, NULL);
	if (!ret)
		ret = ijson_string(cc, "WorkingDir", what, false, &c->working_dir);
	if (!ret)
		ret = ijson_string(cc, "User", what, false, &c->user);
	return ret;
}

int image_config_parse(const uint8_t *buf, size_t len, struct image_config *c)
{
	const char *what = "the image config";
	uint8_t md[DIGEST_MAX_LEN];
	struct digest_ctx d;
	int ret;

	memset(c, 0, sizeof(*c));
	if (len > IMAGE_MAX_CONFIG)
		return err_set(EFBIG, "the image config is %zu bytes, more than the %llu nitrovm reads", len,
			       IMAGE_MAX_CONFIG);
	if (digest_init(&d, DIGEST_SHA256))
		return err_set(ENOMEM, "out of memory");
	digest_update(&d, buf, len);
	digest_final(&d, md);
	image_digest_set(&c->id, DIGEST_SHA256, md);
	ret = ijson_parse(buf, len, what, &c->json);
	if (!ret)
		ret = ijson_string(c->json, "architecture", what, true, &c->arch);
	if (!ret)
		ret = ijson_string(c->json, "os", what, true, &c->os);
	if (!ret && strcmp(c->os, "linux"))
		ret = err_set(EPROTONOSUPPORT, "the image is for the OS '%.64s'; enclaves run linux images",
			      c->os);
	if (!ret)
		ret = ijson_string(c->json, "variant", what, false, &c->variant);
	if (!ret)
		ret = ijson_string(c->json, "created", what, false, &c->created);
	if (!ret)
		ret = ijson_string(c->json, "author", what, false, &c->author);
	if (!ret)
		ret = parse_run_config(c->json, c);
	if (!ret)
		ret = parse_diff_ids(c->json, c);
	if (ret)
		image_config_free(c);
	return ret;
}

void image_config_free(struct image_config *c)
{
	json_object_put(c->json);
	strv_free(&c->entrypoint);
	strv_free(&c->cmd);
	strv_free(&c->env);
	free(c->diff_ids);
	memset(c, 0, sizeof(*c));
}

/* ---- DockerInfo ---- */

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A deep copy with every object's keys sorted, as serde_json's default map writes them. */
static struct json_object *sorted_copy(struct json_object *o)
{
	struct json_object *out;

	if (json_object_is_type(o, json_type_array)) {
		size_t n = json_object_array_length(o);

		out = json_object_new_array_ext((int)n);
		for (size_t i = 0; out && i < n; i++)
			json_object_array_add(out, sorted_copy(json_object_array_get_idx(o, i)));
		return out;
	}
	if (json_object_is_type(o, json_type_object)) {
		size_t n = (size_t)json_object_object_length(o), i = 0;
		const char **keys = calloc(n + 1, sizeof(*keys));

		if (!keys)
			return NULL;
		json_object_object_foreach(o, k, v)
		{
			(void)v;
			keys[i++] = k;
		}
		qsort(keys, n, sizeof(*keys), key_cmp);
		out = json_object_new_object();
		for (i = 0; out && i < n; i++)
			json_object_object_add(out, keys[i], sorted_copy(json_object_object_get(o, keys[i])));
		free(keys);
		return out;
	}
	return json_object_get(o); /* scalars are immutable: share them */
}

static void add_string(struct json_object *o, const char *key, const char *value)
{
	json_object_object_add(o, key, json_object_new_string(value ? value : ""));
}

int image_config_docker_info(const struct image_config *c, uint64_t size, char **out)
{
	struct json_object *info = json_object_new_object(), *cfg = NULL, *rootfs, *layers;
	const char *comment = NULL, *docker_version = NULL;
	int ret = 0;

	ijson_string(c->json, "comment", "the image config", false, &comment);
	ijson_string(c->json, "docker_version", "the image config", false, &docker_version);
	ijson_object(c->json, "config", "the image config", false, &cfg);
	/* Keys in sorted order; RepoTags and RepoDigests stay empty, as for an image that was loaded, not
	 * pulled: the reference is ImageName's, and the same image gives the same bytes from any source. */
	add_string(info, "Architecture", c->arch);
	add_string(info, "Author", c->author);
	add_string(info, "Comment", comment);
	if (cfg)
		json_object_object_add(info, "Config", sorted_copy(cfg));
	if (c->created)
		add_string(info, "Created", c->created);
	add_string(info, "DockerVersion", docker_version);
	add_string(info, "Id", c->id.str);
	add_string(info, "Os", c->os);
	add_string(info, "Parent", "");
	json_object_object_add(info, "RepoDigests", json_object_new_array());
	json_object_object_add(info, "RepoTags", json_object_new_array());
	rootfs = json_object_new_object();
	layers = json_object_new_array();
	for (size_t i = 0; i < c->ndiff_ids; i++)
		json_object_array_add(layers, json_object_new_string(c->diff_ids[i].str));
	json_object_object_add(rootfs, "Layers", layers);
	add_string(rootfs, "Type", "layers");
	json_object_object_add(info, "RootFS", rootfs);
	json_object_object_add(info, "Size", json_object_new_int64((int64_t)size));
	if (c->variant)
		add_string(info, "Variant", c->variant);
	*out = strdup(json_object_to_json_string_ext(info, JSON_C_TO_STRING_PLAIN |
								   JSON_C_TO_STRING_NOSLASHESCAPE));
	if (!*out)
		ret = err_set(ENOMEM, "out of memory");
	json_object_put(info);
	return ret;
}
