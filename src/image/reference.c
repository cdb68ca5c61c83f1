// SPDX-License-Identifier: MIT
/*
 * Image references, as skopeo and docker spell them.
 *
 *   [docker://][domain[:port]/]path[:tag][@digest]    a registry; no domain means Docker Hub, where a
 *                                                      one-component path means library/<path>
 *   oci:DIR[:ref]  oci-archive:FILE[:ref]  docker-archive:FILE[:ref]
 *                                                      local; the path ends at the first ':' (skopeo's rule)
 *
 * The first component of a registry path is a domain when it has a '.' or a ':' or is "localhost" (the
 * distribution reference grammar); path components are lowercase [a-z0-9] words joined by '.', '_', '__' or
 * dashes; a tag is a word of up to 128 [A-Za-z0-9_.-] characters not starting with '.' or '-'.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static const struct {
	const char *prefix;
	enum image_transport transport;
} local_transports[] = {
	{"oci:", TRANSPORT_OCI},
	{"oci-archive:", TRANSPORT_OCI_ARCHIVE},
	{"docker-archive:", TRANSPORT_DOCKER_ARCHIVE},
};

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)* */
static bool valid_component(const char *s, size_t len)
{
	size_t i = 0;

	if (!len || !is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
		return false;
	while (i < len) {
		if (is_lower_alnum(s[i])) {
			i++;
			continue;
		}
		if (s[i] == '.' || (s[i] == '_' && !(i + 1 < len && s[i + 1] == '_'))) {
			i++;
		} else if (s[i] == '_') {
			i += 2;
		} else if (s[i] == '-') {
			while (i < len && s[i] == '-')
				i++;
		} else {
			return false;
		}
		if (i >= len || !is_lower_alnum(s[i]))
			return false;
	}
	return true;
}

static bool valid_path(const char *p)
{
	if (!*p)
		return false;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (!valid_component(p, n))
			return false;
		p += n;
		if (*p == '/' && !*++p)
			return false;
	}
	return true;
}

static bool valid_tag(const char *t)
{
	size_t n = strlen(t);

	if (!n || n > REFERENCE_MAX_TAG || t[0] == '.' || t[0] == '-')
		return false;
	return strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

/* host, host:port, [v6]:port; the distribution grammar's characters. */
static bool valid_domain(const char *d)
{
	if (d[0] == '[') {
		const char *end = strchr(d, ']');

		if (!end || end == d + 1 || strspn(d + 1, "0123456789abcdefABCDEF:") != (size_t)(end - d - 1))
			return false;
		d = end + 1;
		return !*d || (d[0] == ':' && d[1] && strspn(d + 1, "0123456789") == strlen(d + 1));
	}
	{
		size_t host = strcspn(d, ":");

		if (!host ||
		    strspn(d, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-") != host)
			return false;
		d += host;
	}
	return !*d || (d[1] && strspn(d + 1, "0123456789") == strlen(d + 1));
}

static bool looks_like_domain(const char *first, size_t len)
{
	return memchr(first, '.', len) || memchr(first, ':', len) ||
	       (len == 9 && !strncmp(first, "localhost", 9)) || first[0] == '[';
}

static int parse_registry(const char *uri, struct image_ref *r)
{
	char buf[1024], *at, *colon, *slash, *path;
	size_t first;
	int ret;

	if (snprintf(buf, sizeof(buf), "%s", uri) >= (int)sizeof(buf))
		return err_set(EINVAL, "the image reference '%.64s...' is too long", uri);
	at = strrchr(buf, '@');
	if (at) {
		*at = '\0';
		ret = image_digest_parse(at + 1, "the image reference", &r->digest);
		if (ret)
			return ret;
		r->has_digest = true;
	}
	slash = strrchr(buf, '/');
	colon = strrchr(buf, ':');
	if (colon && (!slash || colon > slash)) {
		*colon = '\0';
		if (!valid_tag(colon + 1))
			return err_set(EINVAL, "'%s' is not a valid tag in the image reference '%s'",
				       colon + 1, uri);
		snprintf(r->tag, sizeof(r->tag), "%s", colon + 1);
	}
	snprintf(r->name, sizeof(r->name), "%s", buf);
	first = strcspn(buf, "/");
	if (buf[first] == '/' && looks_like_domain(buf, first)) {
		if (first >= sizeof(r->domain))
			return err_set(EINVAL, "the registry host in '%.64s...' is too long", uri);
		memcpy(r->domain, buf, first);
		path = buf + first + 1;
	} else {
		snprintf(r->domain, sizeof(r->domain), DOCKER_HUB_DOMAIN);
		path = buf;
	}
	if (!valid_domain(r->domain))
		return err_set(EINVAL, "'%s' is not a valid registry host in the image reference '%s'",
			       r->domain, uri);
	if (!valid_path(path))
		return err_set(
			EINVAL,
			"'%s' is not a valid image name (lowercase letters, digits and . _ - between them, "
			"'/' between components)",
			path);
	if (!strcmp(r->domain, DOCKER_HUB_DOMAIN) || !strcmp(r->domain, "index.docker.io")) {
		snprintf(r->registry, sizeof(r->registry), DOCKER_HUB_REGISTRY);
		ret = snprintf(r->repository, sizeof(r->repository), "%s%s",
			       strchr(path, '/') ? "" : "library/", path);
	} else {
		snprintf(r->registry, sizeof(r->registry), "%s", r->domain);
		ret = snprintf(r->repository, sizeof(r->repository), "%s", path);
	}
	if (ret >= (int)sizeof(r->repository))
		return err_set(EINVAL, "the image name '%.64s...' is longer than %d characters", path,
			       REFERENCE_MAX_NAME);
	if (!r->tag[0] && !r->has_digest)
		snprintf(r->tag, sizeof(r->tag), "latest");
	return 0;
}

/* ImageName for a local image: the ref's name ("app" of "app:v1"), else the file's name without ".tar". */
static void local_name(struct image_ref *r)
{
	const char *base = strrchr(r->path, '/'), *colon = strrchr(r->ref, ':'),
		   *slash = strrchr(r->ref, '/');
	size_t n;

	if (colon && (!slash || colon > slash)) {
		snprintf(r->name, sizeof(r->name), "%.*s", (int)(colon - r->ref), r->ref);
		return;
	}
	base = base && base[1] ? base + 1 : r->path;
	n = strlen(base);
	if (n > 4 && !strcmp(base + n - 4, ".tar"))
		n -= 4;
	snprintf(r->name, sizeof(r->name), "%.*s", (int)n, base);
}

int image_ref_parse(const char *uri, struct image_ref *r)
{
	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < ARRAY_SIZE(local_transports); i++) {
		size_t pl = strlen(local_transports[i].prefix);
		const char *rest = uri + pl, *colon;
		size_t n;

		if (strncmp(uri, local_transports[i].prefix, pl))
			continue;
		r->transport = local_transports[i].transport;
		colon = strchr(rest, ':');
		n = colon ? (size_t)(colon - rest) : strlen(rest);
		if (!n)
			return err_set(EINVAL, "'%s' names no path after '%s'", uri,
				       local_transports[i].prefix);
		if (n >= sizeof(r->path) || (colon && strlen(colon + 1) >= sizeof(r->ref)))
			return err_set(ENAMETOOLONG, "the image reference '%.64s...' is too long", uri);
		memcpy(r->path, rest, n);
		if (colon)
			snprintf(r->ref, sizeof(r->ref), "%s", colon + 1);
		local_name(r);
		return 0;
	}
	r->transport = TRANSPORT_REGISTRY;
	if (!strncmp(uri, "docker://", 9))
		uri += 9;
	if (!*uri)
		return err_set(EINVAL, "the image reference is empty");
	return parse_registry(uri, r);
}
