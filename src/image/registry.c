// SPDX-License-Identifier: MIT
/*
 * Images from a registry, over the distribution API v2: GET /v2/<name>/manifests/<tag|digest> and
 * /v2/<name>/blobs/<digest>, every answer checked against the digest that named it (a manifest fetched by
 * tag is checked against the digest the registry reports for it, when it reports one).
 *
 * Every manifest request says which types nitrovm reads (Accept): without it a registry may answer 404 for
 * an OCI image or convert a Docker one to schema 1.  A 401 is answered once per request with what its
 * WWW-Authenticate asks: a bearer token from the realm (with credentials when the user has some, else
 * anonymously) or Basic credentials.  https always, except for loopback registries (tried with https first,
 * then http, as docker does) and when plain http is asked for.
 *
 * Layers go into the blob cache (cache.c) and are unpacked from there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "http.h"
#include "internal.h"

/* Error bodies are short JSON ({"errors": [...]}); only their first part is worth reading. */
#define ERROR_BODY_MAX (64 * KiB)

struct registry_source {
	struct image_source base;
	struct blob_cache cache;
	struct auth_credentials creds;
	char scheme[8];			     /* "https" or "http" */
	char authorization[AUTH_HEADER_MAX]; /* the current one, reused for every request */
	char scope[REFERENCE_MAX_NAME + 32];
	bool allow_http;
	bool cache_ready;
};

static bool loopback_host(const char *domain)
{
	size_t n = strcspn(domain, ":");

	if (domain[0] == '[')
		return !strncmp(domain, "[::1]", 5);
	return (n == 9 && !strncmp(domain, "localhost", 9)) || !strncmp(domain, "127.", 4);
}

static unsigned int stall(const struct registry_source *r)
{
	return r->base.opts->stall_seconds ? r->base.opts->stall_seconds : IMAGE_DEFAULT_STALL_SECONDS;
}

/* The registry's error text ({"errors":[{"code","message"}]}) for a message, if it gave one. */
static void registry_error(const struct http_response *rs, char *out, size_t len)
{
	const char *p = rs->body ? strstr(rs->body, "\"message\"") : NULL;

	out[0] = '\0';
	if (p && (p = strchr(p + 9, '"'))) {
		size_t n = strcspn(p + 1, "\"");

		snprintf(out, len, ": %.*s", (int)MIN(n, 200), p + 1);
	}
}

/* Answer a 401 as its challenge asks; false (with err_set) when there is nothing more to try. */
static int authenticate(struct registry_source *r, const struct http_response *rs)
{
	struct auth_transport tr = {stall(r), r->allow_http || loopback_host(r->base.ref->domain)};
	struct auth_challenge c;
	int ret = auth_parse_challenge(rs->www_authenticate, &c);

	if (ret)
		return ret;
	if (!strcasecmp(c.scheme, "basic")) {
		if (!r->creds.found)
			return err_set(EACCES,
				       "the registry %s needs credentials (HTTP 401) and none were found for "
				       "it (docker login / podman login write them)",
				       r->base.ref->domain);
		return auth_basic(&r->creds, r->authorization, sizeof(r->authorization));
	}
	if (strcasecmp(c.scheme, "bearer"))
		return err_set(EPROTO,
			       "the registry asks for '%s' authentication, which nitrovm does not speak",
			       c.scheme);
	return auth_fetch_token(&c, c.scope[0] ? c.scope : r->scope, &r->creds, &tr, r->authorization,
				sizeof(r->authorization));
}

/* 2xx is fine; anything else is one sentence naming the registry, what was asked and what it said. */
static int check_status(struct registry_source *r, const struct http_response *rs, const char *what)
{
	const char *domain = r->base.ref->domain;
	char detail[256];

	if (rs->status / 100 == 2)
		return 0;
	registry_error(rs, detail, sizeof(detail));
	if (rs->status == 404)
		return err_set(ENOENT, "the registry %s has no %s (HTTP 404%s)", domain, what, detail);
	if (rs->status == 401 || rs->status == 403)
		return err_set(
			EACCES, "the registry %s refused %s (HTTP %ld%s)%s", domain, what, rs->status, detail,
			r->creds.found ? ": check the credentials" : "; no credentials were found for it");
	return err_set(EPROTO, "the registry %s answered HTTP %ld for %s%s", domain, rs->status, what,
		       detail);
}

struct get {
	const char *kind; /* "manifests" or "blobs" */
	const char *ref;  /* tag or digest */
	bool manifest;
	size_t max;
	int (*sink)(void *arg, const void *data, size_t len);
	void *sink_arg;
};

static int get_once(struct registry_source *r, const struct get *g, struct http_response *rs)
{
	static const char *const accept[] = {"Accept: " MEDIA_ACCEPT, NULL};
	char url[HTTP_MAX_URL];
	struct http_request rq = {
		.url = url,
		.headers = g->manifest ? accept : NULL,
		.authorization = r->authorization[0] ? r->authorization : NULL,
		.max_body = g->max,
		.sink = g->sink,
		.sink_arg = g->sink_arg,
		.stall_seconds = stall(r),
		.allow_http = r->allow_http,
	};

	if ((size_t)snprintf(url, sizeof(url), "%s://%s/v2/%s/%s/%s", r->scheme, r->base.ref->registry,
			     r->base.ref->repository, g->kind, g->ref) >= sizeof(url))
		return err_set(ENAMETOOLONG, "the registry URL is too long");
	return http_get(&rq, rs);
}

/* One GET with what it takes: http for a loopback registry without TLS, one round of authentication. */
static int get(struct registry_source *r, const struct get *g, struct http_response *rs)
{
	bool authenticated = false;
	int ret;

	for (;;) {
		ret = get_once(r, g, rs);
		if (ret == -EPROTO && !strcmp(r->scheme, "https") && loopback_host(r->base.ref->domain)) {
			strcpy(r->scheme, "http"); /* a loopback registry without TLS, as docker allows */
			r->allow_http = true;
			continue;
		}
		if (ret || rs->status != 401 || authenticated)
			return ret;
		ret = authenticate(r, rs);
		http_response_free(rs);
		if (ret)
			return ret;
		authenticated = true;
	}
}

static void media_type_of(const struct http_response *rs, char *out, size_t len)
{
	size_t n = strcspn(rs->content_type, "; ");

	snprintf(out, len, "%.*s", (int)n, rs->content_type);
}

static int registry_root(struct image_source *s, uint8_t **buf, size_t *len, char *media_type, size_t mtlen)
{
	struct registry_source *r = (struct registry_source *)s;
	const struct image_ref *ref = s->ref;
	struct get g = {.kind = "manifests",
			.ref = ref->has_digest ? ref->digest.str : ref->tag,
			.manifest = true,
			.max = IMAGE_MAX_MANIFEST};
	struct http_response rs;
	struct image_digest served;
	char what[REFERENCE_MAX_NAME + REFERENCE_MAX_TAG + IMAGE_DIGEST_STR_MAX + 32];
	int ret;

	snprintf(what, sizeof(what), "image %s%s%s", ref->repository, ref->has_digest ? "@" : ":", g.ref);
	ret = get(r, &g, &rs);
	if (!ret)
		ret = check_status(r, &rs, what);
	if (!ret && !rs.body)
		ret = err_set(EPROTO, "the registry %s answered an empty manifest for %s", ref->domain, what);
	if (!ret && ref->has_digest)
		ret = image_digest_verify_buf(&ref->digest, rs.body, rs.body_len,
					      "the manifest the registry sent");
	else if (!ret && rs.docker_digest[0] &&
		 !image_digest_parse(rs.docker_digest, "Docker-Content-Digest", &served))
		ret = image_digest_verify_buf(&served, rs.body, rs.body_len,
					      "the manifest the registry sent (its Docker-Content-Digest)");
	if (ret) {
		http_response_free(&rs);
		return ret;
	}
	media_type_of(&rs, media_type, mtlen);
	*buf = (uint8_t *)rs.body;
	*len = rs.body_len;
	return 0;
}

static bool is_manifest(const char *type)
{
	return !strcmp(type, MEDIA_OCI_MANIFEST) || !strcmp(type, MEDIA_OCI_INDEX) ||
	       !strcmp(type, MEDIA_DOCKER_MANIFEST) || !strcmp(type, MEDIA_DOCKER_LIST);
}

static int registry_read_blob(struct image_source *s, const struct image_descriptor *d, uint8_t **buf,
			      size_t *len)
{
	struct registry_source *r = (struct registry_source *)s;
	bool manifest = is_manifest(d->media_type);
	struct get g = {.kind = manifest ? "manifests" : "blobs",
			.ref = d->digest.str,
			.manifest = manifest,
			.max = (size_t)d->size};
	struct http_response rs;
	char what[IMAGE_DIGEST_STR_MAX + 16];
	int ret;

	snprintf(what, sizeof(what), "%s %s", manifest ? "manifest" : "blob", d->digest.str);
	ret = get(r, &g, &rs);
	if (!ret)
		ret = check_status(r, &rs, what);
	if (!ret && rs.body_len != d->size)
		ret = err_set(EBADMSG, "%s is %zu bytes, not the %llu its descriptor says", what, rs.body_len,
			      (unsigned long long)d->size);
	if (!ret)
		ret = image_digest_verify_buf(&d->digest, rs.body, rs.body_len, what);
	if (ret) {
		http_response_free(&rs);
		return ret;
	}
	*buf = (uint8_t *)(rs.body ? rs.body : calloc(1, 1));
	*len = rs.body_len;
	return *buf ? 0 : err_set(ENOMEM, "out of memory");
}

/* A download's bytes: hashed, written to the cache, counted against the descriptor's size. */
struct download {
	struct image_verifier v;
	struct blob_cache_entry e;
	uint64_t want;
	const struct image_progress *progress;
	const char *what;
};

static int download_sink(void *arg, const void *data, size_t len)
{
	struct download *d = arg;
	int ret;

	if (d->v.bytes + len > d->want)
		return err_set(EBADMSG, "%s is longer than the %llu bytes its descriptor says", d->what,
			       (unsigned long long)d->want);
	image_verifier_update(&d->v, data, len);
	ret = write_full(d->e.fd, data, len);
	if (ret)
		return err_set(-ret, "cannot write to the blob cache (%s): %s", d->e.path, strerror(-ret));
	if (d->progress && d->progress->advance)
		d->progress->advance(d->progress->ctx, d->v.bytes);
	return 0;
}

static int download(struct registry_source *r, const struct image_layer *l, struct download *d)
{
	struct get g = {"blobs", l->desc.digest.str, false, ERROR_BODY_MAX, download_sink, d};
	struct http_response rs;
	int ret = blob_cache_begin(&r->cache, &l->desc.digest, &d->e);

	if (!ret)
		ret = image_verifier_init(&d->v, &l->desc.digest);
	if (!ret)
		ret = get(r, &g, &rs);
	if (!ret) {
		ret = check_status(r, &rs, d->what);
		http_response_free(&rs);
	}
	if (!ret && d->v.bytes != d->want)
		ret = err_set(EBADMSG, "%s is %llu bytes, not the %llu its descriptor says", d->what,
			      (unsigned long long)d->v.bytes, (unsigned long long)d->want);
	if (!ret)
		ret = image_verifier_finish(&d->v, d->what);
	image_verifier_free(&d->v);
	if (!ret)
		return blob_cache_commit(&d->e);
	blob_cache_abort(&d->e);
	return ret;
}

static int registry_fetch_layer(struct image_source *s, const struct image_layer *l, unsigned int index,
				unsigned int total)
{
	struct registry_source *r = (struct registry_source *)s;
	const struct image_progress *p = s->opts->progress;
	char what[IMAGE_DIGEST_STR_MAX + 64], shortid[13];
	struct download d = {.want = l->desc.size, .progress = p, .what = what};
	struct blob_region region;
	int ret;

	image_digest_short(&l->desc.digest, shortid);
	snprintf(what, sizeof(what), "layer %u of %u (%s)", index, total, l->desc.digest.str);
	if (p && p->begin)
		p->begin(p->ctx, "pull", index, total, shortid, l->desc.size);
	if (!blob_cache_get(&r->cache, &l->desc.digest, &region)) {
		blob_region_close(&region);
		if (p && p->end)
			p->end(p->ctx, "cached");
		return 0;
	}
	ret = download(r, l, &d);
	if (!ret && p && p->end)
		p->end(p->ctx, "pulled");
	return ret;
}

static int registry_layer_region(struct image_source *s, const struct image_layer *l, struct blob_region *out)
{
	struct registry_source *r = (struct registry_source *)s;

	if (blob_cache_get(&r->cache, &l->desc.digest, out))
		return err_set(ENOENT, "layer %s is not in the blob cache %s (removed while building?)",
			       l->desc.digest.str, r->cache.dir);
	return 0;
}

static void registry_close(struct image_source *s)
{
	struct registry_source *r = (struct registry_source *)s;
	struct image_cache_stats st;

	/* Keep the cache bounded; what this build used is the most recent, so it goes last. */
	if (r->cache_ready)
		image_cache_prune(s->opts->cache_dir, IMAGE_CACHE_DEFAULT_MAX, &st);
	memset(&r->creds, 0, sizeof(r->creds));
	memset(r->authorization, 0, sizeof(r->authorization));
	free(r);
}

static const struct image_source_ops registry_ops = {
	.root = registry_root,
	.read_blob = registry_read_blob,
	.fetch_layer = registry_fetch_layer,
	.layer_region = registry_layer_region,
	.close = registry_close,
};

int source_open_registry(const struct image_ref *ref, const struct image_options *o,
			 struct image_source **out)
{
	struct registry_source *r = calloc(1, sizeof(*r));
	int ret;

	if (!r)
		return err_set(ENOMEM, "out of memory");
	r->base.ops = &registry_ops;
	r->base.ref = ref;
	r->base.opts = o;
	r->allow_http = o->plain_http;
	snprintf(r->scheme, sizeof(r->scheme), "%s", o->plain_http ? "http" : "https");
	snprintf(r->scope, sizeof(r->scope), "repository:%s:pull", ref->repository);
	ret = auth_find_credentials(ref->domain, ref->repository, &r->creds);
	if (!ret)
		ret = blob_cache_open(&r->cache, o->cache_dir);
	if (ret) {
		free(r);
		return ret;
	}
	r->cache_ready = true;
	*out = &r->base;
	return 0;
}
