// SPDX-License-Identifier: MIT
/*
 * Image manifests and indexes, OCI's and Docker's schema 2 (the same JSON shape under other media types), and
 * the choice of one platform from an index.  Only what names an image nitrovm can unpack is accepted; the
 * rest is refused with a sentence that says what it is instead.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"
/* buildx stores provenance and SBOMs as index entries of this reference type, platform unknown/unknown. */
#define ANNOTATION_REFERENCE_TYPE "vnd.docker.reference.type"
#define ENCRYPTED_SUFFIX	  "+encrypted"

static const struct {
	const char *type;
	enum layer_compression compression;
} layer_types[] = {
	{"application/vnd.oci.image.layer.v1.tar", LAYER_TAR},
	{"application/vnd.oci.image.layer.v1.tar+gzip", LAYER_GZIP},
	{"application/vnd.oci.image.layer.v1.tar+zstd", LAYER_ZSTD},
	{"application/vnd.oci.image.layer.nondistributable.v1.tar", LAYER_TAR},
	{"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", LAYER_GZIP},
	{"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", LAYER_ZSTD},
	{"application/vnd.docker.image.rootfs.diff.tar", LAYER_TAR},
	{"application/vnd.docker.image.rootfs.diff.tar.gzip", LAYER_GZIP},
	{"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", LAYER_GZIP},
};

const char *layer_compression_name(enum layer_compression c)
{
	switch (c) {
	case LAYER_TAR:
		return "tar";
	case LAYER_GZIP:
		return "tar+gzip";
	case LAYER_ZSTD:
		return "tar+zstd";
	default:
		return "tar (any compression)";
	}
}

const char *image_arch_normalize(const char *arch)
{
	if (!strcmp(arch, "amd64") || !strcmp(arch, "x86_64") || !strcmp(arch, "x86-64"))
		return "amd64";
	if (!strcmp(arch, "arm64") || !strcmp(arch, "aarch64"))
		return "arm64";
	return NULL;
}

static bool is_schema1(const char *type)
{
	return !strcmp(type, MEDIA_DOCKER_SCHEMA1) || !strcmp(type, MEDIA_DOCKER_SCHEMA1_SIGNED);
}

static int refuse_schema1(void)
{
	return err_set(
		EPROTONOSUPPORT,
		"the image has a schema 1 manifest (Docker's format before 2017), which nitrovm does not "
		"read: push it again with a current tool (docker, skopeo copy) to get schema 2");
}

static bool is_manifest_type(const char *t)
{
	return !strcmp(t, MEDIA_OCI_MANIFEST) || !strcmp(t, MEDIA_DOCKER_MANIFEST) ||
	       !strcmp(t, MEDIA_OCI_INDEX) || !strcmp(t, MEDIA_DOCKER_LIST);
}

static bool is_index_type(const char *t)
{
	return !strcmp(t, MEDIA_OCI_INDEX) || !strcmp(t, MEDIA_DOCKER_LIST);
}

static int parse_descriptor(struct json_object *o, const char *what, struct image_descriptor *d)
{
	const char *digest;
	int ret;

	memset(d, 0, sizeof(*d));
	if (!json_object_is_type(o, json_type_object))
		return err_set(EINVAL, "%s is not a JSON object", what);
	ret = ijson_string_buf(o, "mediaType", what, true, d->media_type, sizeof(d->media_type));
	if (!ret)
		ret = ijson_string(o, "digest", what, true, &digest);
	if (!ret)
		ret = image_digest_parse(digest, what, &d->digest);
	if (!ret)
		ret = ijson_u64(o, "size", what, true, &d->size);
	return ret;
}

static int parse_platform(struct json_object *o, const char *what, struct image_descriptor *d)
{
	struct json_object *p, *ann;
	const char *rt = NULL;
	int ret = ijson_object(o, "platform", what, false, &p);

	if (!ret && p) {
		d->has_platform = true;
		ret = ijson_string_buf(p, "os", what, true, d->os, sizeof(d->os));
		if (!ret)
			ret = ijson_string_buf(p, "architecture", what, true, d->arch, sizeof(d->arch));
		if (!ret)
			ret = ijson_string_buf(p, "variant", what, false, d->variant, sizeof(d->variant));
	}
	if (!ret)
		ret = ijson_object(o, "annotations", what, false, &ann);
	if (!ret && ann)
		ret = ijson_string_buf(ann, ANNOTATION_REF_NAME, what, false, d->ref_name,
				       sizeof(d->ref_name));
	if (!ret && ann)
		ret = ijson_string(ann, ANNOTATION_REFERENCE_TYPE, what, false, &rt);
	if (rt)
		d->attestation = true;
	return ret;
}

static int layer_compression_of(const char *type, const char *what, enum layer_compression *c)
{
	size_t tl = strlen(type), sl = strlen(ENCRYPTED_SUFFIX);

	if (tl > sl && !strcmp(type + tl - sl, ENCRYPTED_SUFFIX))
		return err_set(EPROTONOSUPPORT,
			       "%s is encrypted (%s); nitrovm builds enclave images from plain layers only: "
			       "decrypt the image first (skopeo copy --decryption-key)",
			       what, type);
	for (size_t i = 0; i < ARRAY_SIZE(layer_types); i++) {
		if (!strcmp(type, layer_types[i].type)) {
			*c = layer_types[i].compression;
			return 0;
		}
	}
	return err_set(EPROTONOSUPPORT,
		       "%s has the media type '%s', which is not a layer nitrovm knows (tar, "
		       "tar+gzip, tar+zstd)",
		       what, type);
}

static int parse_image(struct json_object *o, struct image_manifest *m)
{
	struct json_object *cfg, *layers;
	char what[64];
	int ret;

	ret = ijson_object(o, "config", "the manifest", true, &cfg);
	if (!ret)
		ret = parse_descriptor(cfg, "the manifest's config", &m->config);
	if (ret)
		return ret;
	if (strcmp(m->config.media_type, MEDIA_OCI_CONFIG) &&
	    strcmp(m->config.media_type, MEDIA_DOCKER_CONFIG))
		return err_set(EPROTONOSUPPORT,
			       "the manifest describes an artifact of type '%s', not a container image",
			       m->config.media_type);
	if (m->config.size > IMAGE_MAX_CONFIG)
		return err_set(EFBIG, "the image config is %llu bytes, more than the %llu nitrovm reads",
			       (unsigned long long)m->config.size, IMAGE_MAX_CONFIG);
	ret = ijson_array(o, "layers", "the manifest", true, &layers);
	if (ret)
		return ret;
	m->nlayers = json_object_array_length(layers);
	if (m->nlayers > IMAGE_MAX_LAYERS)
		return err_set(E2BIG, "the image has %zu layers, more than the %d nitrovm applies",
			       m->nlayers, IMAGE_MAX_LAYERS);
	m->layers = calloc(m->nlayers + 1, sizeof(*m->layers));
	m->compression = calloc(m->nlayers + 1, sizeof(*m->compression));
	if (!m->layers || !m->compression)
		return err_set(ENOMEM, "out of memory");
	for (size_t i = 0; i < m->nlayers; i++) {
		snprintf(what, sizeof(what), "layer %zu of the manifest", i + 1);
		ret = parse_descriptor(json_object_array_get_idx(layers, i), what, &m->layers[i]);
		if (!ret)
			ret = layer_compression_of(m->layers[i].media_type, what, &m->compression[i]);
		if (!ret && m->layers[i].size > IMAGE_MAX_BLOB)
			ret = err_set(EFBIG, "%s is %llu bytes, more than the %llu nitrovm takes", what,
				      (unsigned long long)m->layers[i].size, IMAGE_MAX_BLOB);
		if (ret)
			return ret;
	}
	return 0;
}

static int parse_index(struct json_object *o, struct image_manifest *m)
{
	struct json_object *list;
	char what[64];
	int ret = ijson_array(o, "manifests", "the index", true, &list);

	if (ret)
		return ret;
	m->nmanifests = json_object_array_length(list);
	if (m->nmanifests > IMAGE_MAX_INDEX)
		return err_set(E2BIG, "the index lists %zu manifests, more than the %d nitrovm reads",
			       m->nmanifests, IMAGE_MAX_INDEX);
	m->manifests = calloc(m->nmanifests + 1, sizeof(*m->manifests));
	if (!m->manifests)
		return err_set(ENOMEM, "out of memory");
	for (size_t i = 0; i < m->nmanifests; i++) {
		struct json_object *e = json_object_array_get_idx(list, i);

		snprintf(what, sizeof(what), "entry %zu of the index", i + 1);
		ret = parse_descriptor(e, what, &m->manifests[i]);
		if (!ret)
			ret = parse_platform(e, what, &m->manifests[i]);
		if (ret)
			return ret;
	}
	return 0;
}

/* Which kind the document is: by its own mediaType, else by how it was served, else by its members. */
static int decide_kind(struct json_object *o, const char *served, struct image_manifest *m)
{
	const char *own = NULL;
	struct json_object *x;
	int ret = ijson_string(o, "mediaType", "the manifest", false, &own);

	if (ret)
		return ret;
	if (own && is_schema1(own))
		return refuse_schema1();
	if (own && *served && is_manifest_type(served) && strcmp(own, served))
		return err_set(EINVAL, "the manifest was served as '%s' but says it is '%s'", served, own);
	if (!own && *served && is_manifest_type(served))
		own = served;
	if (own && !is_manifest_type(own))
		return err_set(EPROTONOSUPPORT,
			       "'%s' is not the media type of a container image manifest or index", own);
	if (own) {
		snprintf(m->media_type, sizeof(m->media_type), "%s", own);
		m->kind = is_index_type(own) ? MANIFEST_INDEX : MANIFEST_IMAGE;
		return 0;
	}
	if (json_object_object_get_ex(o, "manifests", &x)) {
		m->kind = MANIFEST_INDEX;
		snprintf(m->media_type, sizeof(m->media_type), MEDIA_OCI_INDEX);
	} else {
		m->kind = MANIFEST_IMAGE;
		snprintf(m->media_type, sizeof(m->media_type), MEDIA_OCI_MANIFEST);
	}
	return 0;
}

int image_manifest_parse(const uint8_t *buf, size_t len, const char *media_type, struct image_manifest *m)
{
	struct json_object *o;
	uint64_t version = 0;
	int ret;

	memset(m, 0, sizeof(*m));
	if (is_schema1(media_type))
		return refuse_schema1();
	if (len > IMAGE_MAX_MANIFEST)
		return err_set(EFBIG, "the manifest is %zu bytes, more than the %llu nitrovm reads", len,
			       IMAGE_MAX_MANIFEST);
	ret = ijson_parse(buf, len, "the manifest", &o);
	if (ret)
		return ret;
	ret = ijson_u64(o, "schemaVersion", "the manifest", true, &version);
	if (!ret && version == 1)
		ret = refuse_schema1();
	else if (!ret && version != 2)
		ret = err_set(EPROTONOSUPPORT, "the manifest has schemaVersion %llu; nitrovm reads version 2",
			      (unsigned long long)version);
	if (!ret)
		ret = decide_kind(o, media_type, m);
	if (!ret)
		ret = m->kind == MANIFEST_INDEX ? parse_index(o, m) : parse_image(o, m);
	json_object_put(o);
	if (ret)
		image_manifest_free(m);
	return ret;
}

void image_manifest_free(struct image_manifest *m)
{
	free(m->layers);
	free(m->compression);
	free(m->manifests);
	m->layers = m->manifests = NULL;
	m->compression = NULL;
	m->nlayers = m->nmanifests = 0;
}

static bool platform_matches(const struct image_descriptor *d, const char *arch)
{
	const char *a = image_arch_normalize(d->arch);

	return d->has_platform && !d->attestation && !strcmp(d->os, "linux") && a && !strcmp(a, arch);
}

/* "linux/amd64, linux/arm/v7" for the error message. */
static void list_platforms(const struct image_manifest *idx, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < idx->nmanifests && n + 1 < len; i++) {
		const struct image_descriptor *d = &idx->manifests[i];

		if (d->attestation || !d->has_platform)
			continue;
		n += (size_t)snprintf(buf + n, len - n, "%s%s/%s%s%s", n ? ", " : "", d->os, d->arch,
				      d->variant[0] ? "/" : "", d->variant);
	}
	if (!buf[0])
		snprintf(buf, len, "none named");
}

int image_index_select(const struct image_manifest *idx, const char *arch,
		       const struct image_descriptor **out)
{
	const struct image_descriptor *first = NULL, *unnamed = NULL;
	size_t nunnamed = 0;
	char have[512];

	for (size_t i = 0; i < idx->nmanifests; i++) {
		const struct image_descriptor *d = &idx->manifests[i];

		if (!d->has_platform && !d->attestation) {
			unnamed = d;
			nunnamed++;
		}
		if (!platform_matches(d, arch))
			continue;
		/* amd64's v2/v3 and arm64's v9 need newer CPUs than the base variant: take the base one
		 * first. */
		if (!d->variant[0] || !strcmp(d->variant, "v8") || !strcmp(d->variant, "v1")) {
			*out = d;
			return 0;
		}
		if (!first)
			first = d;
	}
	if (!first && nunnamed == 1)
		first = unnamed; /* a one-image index that does not say its platform */
	if (first) {
		*out = first;
		return 0;
	}
	list_platforms(idx, have, sizeof(have));
	return err_set(ENODATA, "the image has no linux/%s variant (it has: %s)", arch, have);
}

void image_index_ref_names(const struct image_manifest *idx, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < idx->nmanifests && n + 1 < len; i++)
		if (idx->manifests[i].ref_name[0])
			n += (size_t)snprintf(buf + n, len - n, "%s'%s'", n ? ", " : "",
					      idx->manifests[i].ref_name);
	if (!n)
		snprintf(buf, len, "no names");
}

int image_index_find_ref(const struct image_manifest *idx, const char *ref,
			 const struct image_descriptor **out)
{
	char names[512];

	for (size_t i = 0; i < idx->nmanifests; i++) {
		if (!strcmp(idx->manifests[i].ref_name, ref)) {
			*out = &idx->manifests[i];
			return 0;
		}
	}
	image_index_ref_names(idx, names, sizeof(names));
	return err_set(ENODATA, "no image named '%s' in the layout (it has: %s)", ref, names);
}
