// SPDX-License-Identifier: MIT
/*
 * From what a reference names to what to unpack, for every source that has manifests (registry, OCI layout,
 * OCI archive): the top document, down through indexes to one platform's manifest, then its config, every
 * blob checked against the digest that led to it.  docker-archive has no manifests and resolves itself.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "internal.h"

/* An index may point at an index (an OCI layout's tag on a multi-platform image): a few levels, no loops. */
#define MAX_INDEX_DEPTH 4

static const char *host_arch(void)
{
	struct utsname u;
	const char *a;

	if (uname(&u))
		return "amd64";
	a = image_arch_normalize(u.machine);
	return a ? a : "amd64";
}

/* Down from an index to one image manifest for arch. */
static int descend(struct image_source *s, const char *arch, struct image_manifest *m,
		   struct image_plan *plan)
{
	for (int depth = 0; m->kind == MANIFEST_INDEX; depth++) {
		const struct image_descriptor *d;
		struct image_descriptor chosen;
		uint8_t *buf;
		size_t len;
		int ret;

		if (depth >= MAX_INDEX_DEPTH)
			return err_set(ELOOP, "the image's indexes nest more than %d deep", MAX_INDEX_DEPTH);
		ret = image_index_select(m, arch, &d);
		if (ret)
			return ret;
		chosen = *d;
		if (chosen.size > IMAGE_MAX_MANIFEST)
			return err_set(EFBIG,
				       "the manifest for linux/%s is %llu bytes, more than nitrovm reads",
				       arch, (unsigned long long)chosen.size);
		ret = s->ops->read_blob(s, &chosen, &buf, &len);
		if (ret)
			return ret;
		image_manifest_free(m);
		ret = image_manifest_parse(buf, len, chosen.media_type, m);
		free(buf);
		if (ret)
			return ret;
		plan->has_manifest_digest = true;
		plan->manifest_digest = chosen.digest;
	}
	return 0;
}

static int read_config(struct image_source *s, const struct image_manifest *m, struct image_plan *plan)
{
	uint8_t *buf;
	size_t len;
	int ret = s->ops->read_blob(s, &m->config, &buf, &len);

	if (ret)
		return ret;
	ret = image_config_parse(buf, len, &plan->config);
	free(buf);
	if (ret)
		return ret;
	if (plan->config.ndiff_ids != m->nlayers)
		return err_set(EINVAL, "the image config lists %zu layers but the manifest %zu",
			       plan->config.ndiff_ids, m->nlayers);
	return 0;
}

/* The image's architecture must be one an enclave has, and the one asked for when one was. */
static int check_arch(const struct image_config *c, const char *wanted)
{
	const char *a = image_arch_normalize(c->arch);

	if (!a)
		return err_set(EPROTONOSUPPORT,
			       "the image is for the architecture '%.32s'; enclaves are amd64 or "
			       "arm64",
			       c->arch);
	if (wanted && strcmp(a, wanted))
		return err_set(EINVAL, "the image is for %s, not %s", a, wanted);
	return 0;
}

static int fill_layers(const struct image_manifest *m, struct image_plan *plan)
{
	plan->layers = calloc(m->nlayers + 1, sizeof(*plan->layers));
	if (!plan->layers)
		return err_set(ENOMEM, "out of memory");
	plan->nlayers = m->nlayers;
	for (size_t i = 0; i < m->nlayers; i++) {
		plan->layers[i].desc = m->layers[i];
		plan->layers[i].has_blob_digest = true;
		plan->layers[i].compression = m->compression[i];
	}
	return 0;
}

int source_resolve(struct image_source *s, const char *arch, struct image_plan *plan)
{
	const char *wanted = arch ? image_arch_normalize(arch) : NULL;
	struct image_manifest m;
	char media_type[IMAGE_MEDIA_TYPE_MAX] = "";
	uint8_t *buf;
	size_t len;
	bool was_index;
	int ret;

	memset(plan, 0, sizeof(*plan));
	if (arch && !wanted)
		return err_set(EINVAL,
			       "'%s' is not an enclave architecture: use amd64 (x86_64) or arm64 (aarch64)",
			       arch);
	if (s->ops->resolve)
		return s->ops->resolve(s, wanted, plan);
	ret = s->ops->root(s, &buf, &len, media_type, sizeof(media_type));
	if (ret)
		return ret;
	ret = image_manifest_parse(buf, len, media_type, &m);
	free(buf);
	if (ret)
		return ret;
	was_index = m.kind == MANIFEST_INDEX;
	ret = descend(s, wanted ? wanted : host_arch(), &m, plan);
	if (!ret)
		ret = read_config(s, &m, plan);
	/* A single-platform image decides the architecture when none was asked for; an index's choice did. */
	if (!ret)
		ret = check_arch(&plan->config, wanted ? wanted : was_index ? host_arch() : NULL);
	if (!ret)
		ret = fill_layers(&m, plan);
	image_manifest_free(&m);
	return ret;
}

void image_plan_free(struct image_plan *p)
{
	image_config_free(&p->config);
	free(p->layers);
	memset(p, 0, sizeof(*p));
}

int blob_region_read(const struct blob_region *r, size_t max, const char *what, uint8_t **buf)
{
	uint8_t *b;
	size_t done = 0;

	if (r->size > max)
		return err_set(EFBIG, "%s is %llu bytes, more than the %zu nitrovm reads", what,
			       (unsigned long long)r->size, max);
	b = malloc(r->size + 1);
	if (!b)
		return err_set(ENOMEM, "out of memory");
	while (done < r->size) {
		ssize_t n = pread(r->fd, b + done, r->size - done, (off_t)(r->offset + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(b);
			return err_set(n ? errno : EIO, "cannot read %s: %s", what,
				       n ? strerror(errno) : "it ends early");
		}
		done += (size_t)n;
	}
	b[r->size] = '\0';
	*buf = b;
	return 0;
}

void blob_region_close(struct blob_region *r)
{
	if (r->owned && r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	r->owned = false;
}
