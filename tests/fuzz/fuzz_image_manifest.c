// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: everything src/image parses from a registry or an archive before any layer: manifests and
 * indexes (with each media type a registry could serve them as), platform and ref choice, image configs and
 * their DockerInfo, User resolution against /etc/passwd and /etc/group, WWW-Authenticate challenges and image
 * references.  The first byte picks the parser; the rest is its input.
 *
 * Beyond memory errors, it checks what callers rely on: an accepted manifest's layers have a known
 * compression and sizes within the limits, a chosen index entry belongs to the index, DockerInfo is JSON.
 */
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/auth.h"
#include "image/internal.h"

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "fuzz_image_manifest: broken promise: %s\n", #cond); \
			abort();                                                             \
		}                                                                            \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const served[] = {
	"",
	MEDIA_OCI_MANIFEST,
	MEDIA_OCI_INDEX,
	MEDIA_DOCKER_MANIFEST,
	MEDIA_DOCKER_LIST,
	MEDIA_DOCKER_SCHEMA1,
	"application/json",
};

static void manifest(const uint8_t *data, size_t size)
{
	struct image_manifest m;
	const struct image_descriptor *d;

	if (!size)
		return;
	if (image_manifest_parse(data + 1, size - 1, served[data[0] % ARRAY_SIZE(served)], &m))
		return;
	if (m.kind == MANIFEST_IMAGE) {
		CHECK(m.nlayers <= IMAGE_MAX_LAYERS);
		CHECK(m.config.size <= IMAGE_MAX_CONFIG);
		for (size_t i = 0; i < m.nlayers; i++) {
			CHECK(m.compression[i] <= LAYER_ZSTD);
			CHECK(m.layers[i].size <= IMAGE_MAX_BLOB);
		}
	} else {
		CHECK(m.nmanifests <= IMAGE_MAX_INDEX);
		if (!image_index_select(&m, data[0] & 1 ? "arm64" : "amd64", &d))
			CHECK(d >= m.manifests && d < m.manifests + m.nmanifests);
		if (!image_index_find_ref(&m, "v1", &d))
			CHECK(!strcmp(d->ref_name, "v1"));
	}
	image_manifest_free(&m);
}

static void config(const uint8_t *data, size_t size)
{
	struct image_config c;
	struct json_object *o;
	char *info;

	if (image_config_parse(data, size, &c))
		return;
	if (!image_config_docker_info(&c, 1, &info)) {
		CHECK(!ijson_parse((const uint8_t *)info, strlen(info), "DockerInfo", &o));
		json_object_put(o);
		free(info);
	}
	image_config_free(&c);
}

/* spec \0 passwd \0 group */
static void user(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *passwd, *group;
	struct user_db db = {0};
	struct image_user u;

	memcpy(buf, data, size);
	buf[size] = '\0';
	passwd = memchr(buf, '\0', size) ? buf + strlen(buf) + 1 : NULL;
	group = passwd && passwd < buf + size ? memchr(passwd, '\0', (size_t)(buf + size - passwd)) : NULL;
	if (group)
		group++;
	if (passwd && passwd <= buf + size) {
		db.passwd = passwd;
		db.passwd_len = group ? (size_t)(group - 1 - passwd) : (size_t)(buf + size - passwd);
	}
	if (group && group <= buf + size) {
		db.group = group;
		db.group_len = (size_t)(buf + size - group);
	}
	if (!image_user_resolve(buf, &db, &u)) {
		CHECK(u.ngroups <= IMAGE_MAX_GROUPS);
		CHECK(u.home[0]);
		image_user_free(&u);
	}
	free(buf);
}

static void strings(const uint8_t *data, size_t size, int which)
{
	char *s = malloc(size + 1);
	struct auth_challenge c;
	struct image_ref r;

	memcpy(s, data, size);
	s[size] = '\0';
	if (which) {
		if (!auth_parse_challenge(s, &c))
			CHECK(strlen(c.realm) < sizeof(c.realm));
	} else if (!image_ref_parse(s, &r)) {
		CHECK(r.transport != TRANSPORT_REGISTRY || (r.repository[0] && r.registry[0]));
		CHECK(r.transport != TRANSPORT_REGISTRY || r.tag[0] || r.has_digest);
	}
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	switch (data[0] % 5) {
	case 0:
		manifest(data + 1, size - 1);
		break;
	case 1:
		config(data + 1, size - 1);
		break;
	case 2:
		user(data + 1, size - 1);
		break;
	default:
		strings(data + 1, size - 1, data[0] % 5 == 3);
		break;
	}
	return 0;
}
