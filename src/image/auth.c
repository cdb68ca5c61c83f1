// SPDX-License-Identifier: MIT
/*
 * Registry authentication: the WWW-Authenticate challenge of a 401, credentials from the files docker and
 * podman keep, and the bearer token dance of the distribution spec (GET realm?service=...&scope=..., with the
 * credentials as Basic when there are any, anonymous otherwise).
 *
 * Credential files, first match wins: $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
 * $DOCKER_CONFIG/config.json (else ~/.docker/config.json).  Each holds {"auths": {KEY: {"auth":
 * base64(user:password)}}}; KEY is a registry host, optionally with a scheme, a path like docker's "/v1/" or,
 * in podman's files, a repository namespace (the most specific key wins).  Credential helpers (credsStore)
 * are not run.
 */
#include <errno.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "http.h"

/* An auth file is a few KiB; the token endpoint's answer a few KiB more (JWTs). */
#define AUTH_FILE_MAX	 (1 * MiB)
#define TOKEN_ANSWER_MAX (1 * MiB)
#define DOCKER_HUB_KEY	 "https://index.docker.io/v1/"

/* ---- challenges ---- */

static const char *skip_blanks(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == ',')
		p++;
	return p;
}

/* key=value or key="quoted \"value\""; returns the position after it, or NULL when malformed. */
static const char *parse_param(const char *p, char *key, size_t klen, char *val, size_t vlen)
{
	size_t k = 0, v = 0;

	while (*p && *p != '=' && *p != ' ' && *p != ',' && k + 1 < klen)
		key[k++] = *p++;
	key[k] = '\0';
	if (*p != '=' || !k)
		return NULL;
	p++;
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1])
				p++;
			if (v + 1 >= vlen)
				return NULL;
			val[v++] = *p;
		}
		if (*p != '"')
			return NULL;
		p++;
	} else {
		while (*p && *p != ',' && *p != ' ' && v + 1 < vlen)
			val[v++] = *p++;
	}
	val[v] = '\0';
	return p;
}

int auth_parse_challenge(const char *header, struct auth_challenge *c)
{
	const char *p = skip_blanks(header);
	size_t n = strcspn(p, " ");

	memset(c, 0, sizeof(*c));
	if (!n || n >= sizeof(c->scheme))
		return err_set(EPROTO, "the registry's WWW-Authenticate '%.128s' names no scheme", header);
	memcpy(c->scheme, p, n);
	p += n;
	while (*(p = skip_blanks(p))) {
		char key[32], val[1024];

		p = parse_param(p, key, sizeof(key), val, sizeof(val));
		if (!p)
			return err_set(EPROTO, "the registry's WWW-Authenticate '%.128s' is malformed",
				       header);
		if (!strcasecmp(key, "realm"))
			snprintf(c->realm, sizeof(c->realm), "%s", val);
		else if (!strcasecmp(key, "service"))
			snprintf(c->service, sizeof(c->service), "%s", val);
		else if (!strcasecmp(key, "scope"))
			snprintf(c->scope, sizeof(c->scope), "%s", val);
	}
	if (!strcasecmp(c->scheme, "bearer") && !c->realm[0])
		return err_set(EPROTO,
			       "the registry asks for a bearer token but names no realm to get it from");
	return 0;
}

/* ---- credentials ---- */

/* A credential file's key, without scheme and docker's /v1/ or /v2/ suffix. */
static void normalize_key(const char *key, char *out, size_t len)
{
	size_t n;

	if (!strcmp(key, DOCKER_HUB_KEY) || !strcmp(key, "index.docker.io") ||
	    !strcmp(key, "registry-1.docker.io")) {
		snprintf(out, len, DOCKER_HUB_DOMAIN);
		return;
	}
	if (!strncmp(key, "https://", 8))
		key += 8;
	else if (!strncmp(key, "http://", 7))
		key += 7;
	snprintf(out, len, "%s", key);
	n = strlen(out);
	while (n && out[n - 1] == '/')
		out[--n] = '\0';
	if (n > 3 && (!strcmp(out + n - 3, "/v1") || !strcmp(out + n - 3, "/v2")))
		out[n - 3] = '\0';
}

/* How specific key is for domain/repository: the length matched, 0 when it does not apply. */
static size_t key_match(const char *key, const char *domain, const char *repository)
{
	char want[REFERENCE_MAX_NAME + 300];
	size_t kl = strlen(key);

	snprintf(want, sizeof(want), "%s/%s", domain, repository);
	if (strncmp(want, key, kl) || (want[kl] != '/' && want[kl] != '\0'))
		return 0;
	return kl;
}

static int decode_auth(const char *b64, struct auth_credentials *cr)
{
	size_t len = strlen(b64), pad = 0;
	unsigned char *out;
	char *colon;
	int n;

	if (!len || len % 4 || len > 4096)
		return err_set(EINVAL, "a registry credential is not base64 of user:password");
	out = malloc(len);
	if (!out)
		return err_set(ENOMEM, "out of memory");
	n = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)len);
	while (pad < 2 && b64[len - 1 - pad] == '=')
		pad++;
	if (n < 0 || (size_t)n < pad) {
		free(out);
		return err_set(EINVAL, "a registry credential is not base64 of user:password");
	}
	n -= (int)pad;
	out[n] = '\0';
	colon = memchr(out, ':', (size_t)n);
	if (!colon || memchr(out, '\0', (size_t)n) || (size_t)(colon - (char *)out) >= sizeof(cr->user) ||
	    strlen(colon + 1) >= sizeof(cr->password)) {
		free(out);
		return err_set(EINVAL, "a registry credential is not user:password");
	}
	*colon = '\0';
	snprintf(cr->user, sizeof(cr->user), "%s", (char *)out);
	snprintf(cr->password, sizeof(cr->password), "%s", colon + 1);
	OPENSSL_cleanse(out, (size_t)n);
	free(out);
	return 0;
}

/* The best entry of one file; 0 with cr->found false when the file has none (or is not there). */
static int search_file(const char *path, const char *domain, const char *repository,
		       struct auth_credentials *cr)
{
	struct json_object *o = NULL, *auths, *best = NULL;
	size_t best_len = 0, len;
	uint8_t *buf;
	const char *b64 = NULL;
	int ret;

	if (file_read_all(path, &buf, &len, AUTH_FILE_MAX))
		return 0; /* missing or unreadable: as if empty */
	ret = ijson_parse(buf, len, path, &o);
	free(buf);
	if (!ret)
		ret = ijson_object(o, "auths", path, false, &auths);
	if (!ret && auths) {
		json_object_object_foreach(auths, key, val)
		{
			char norm[512];
			size_t m;

			normalize_key(key, norm, sizeof(norm));
			m = key_match(norm, domain, repository);
			if (m > best_len && json_object_is_type(val, json_type_object)) {
				best = val;
				best_len = m;
			}
		}
	}
	if (!ret && best)
		ret = ijson_string(best, "auth", path, false, &b64);
	if (!ret && b64) {
		ret = decode_auth(b64, cr);
		if (!ret) {
			cr->found = true;
			/* The bound in the format too: aarch64 gcc 12 loses PATH_MAX through the inlining and warns. */
			snprintf(cr->source, sizeof(cr->source), "%.*s", (int)sizeof(cr->source) - 1, path);
		}
	}
	json_object_put(o);
	return ret;
}

int auth_find_credentials(const char *domain, const char *repository, struct auth_credentials *cr)
{
	const char *env;
	char paths[3][PATH_MAX];
	size_t n = 0;

	memset(cr, 0, sizeof(*cr));
	if ((env = getenv("REGISTRY_AUTH_FILE")) && *env)
		snprintf(paths[n++], PATH_MAX, "%s", env);
	if ((env = getenv("XDG_RUNTIME_DIR")) && *env)
		snprintf(paths[n++], PATH_MAX, "%s/containers/auth.json", env);
	if ((env = getenv("DOCKER_CONFIG")) && *env)
		snprintf(paths[n++], PATH_MAX, "%s/config.json", env);
	else if ((env = getenv("HOME")) && *env)
		snprintf(paths[n++], PATH_MAX, "%s/.docker/config.json", env);
	for (size_t i = 0; i < n; i++) {
		int ret = search_file(paths[i], domain, repository, cr);

		if (ret || cr->found)
			return ret;
	}
	return 0;
}

int auth_basic(const struct auth_credentials *cr, char *out, size_t len)
{
	char plain[sizeof(cr->user) + sizeof(cr->password) + 1];
	unsigned char b64[4 * sizeof(plain) / 3 + 8];
	int n = snprintf(plain, sizeof(plain), "%s:%s", cr->user, cr->password);

	EVP_EncodeBlock(b64, (const unsigned char *)plain, n);
	OPENSSL_cleanse(plain, sizeof(plain));
	if ((size_t)snprintf(out, len, "Authorization: Basic %s", b64) >= len)
		return err_set(ENAMETOOLONG, "registry credentials too long");
	return 0;
}

/* ---- tokens ---- */

static int token_url(const struct auth_challenge *c, const char *scope, char *url, size_t len)
{
	char *service = http_escape(c->service), *sc = http_escape(scope);
	int ret = 0;

	if (!service || !sc)
		ret = err_set(ENOMEM, "out of memory");
	else if ((size_t)snprintf(url, len, "%s%sservice=%s&scope=%s", c->realm,
				  strchr(c->realm, '?') ? "&" : "?", service, sc) >= len)
		ret = err_set(ENAMETOOLONG, "the registry's token URL is too long");
	free(service);
	free(sc);
	return ret;
}

/* A token goes into a header line: printable ASCII only, nothing that could end the line. */
static bool header_safe(const char *s)
{
	for (; *s; s++)
		if (*s < 0x21 || *s > 0x7e)
			return false;
	return true;
}

int auth_fetch_token(const struct auth_challenge *c, const char *scope, const struct auth_credentials *cr,
		     const struct auth_transport *tr, char *out, size_t len)
{
	char url[HTTP_MAX_URL], basic[1024];
	struct http_request rq = {
		.url = url,
		.max_body = TOKEN_ANSWER_MAX,
		.stall_seconds = tr->stall_seconds,
		.allow_http = tr->allow_http,
	};
	struct http_response rs;
	struct json_object *o = NULL;
	const char *token = NULL;
	int ret = token_url(c, scope, url, sizeof(url));

	if (ret)
		return ret;
	if (!strncmp(url, "http://", 7) && !tr->allow_http)
		return err_set(EPROTO, "the registry's token service %s is plain http, which nitrovm refuses",
			       c->realm);
	if (cr->found) {
		ret = auth_basic(cr, basic, sizeof(basic));
		rq.authorization = basic;
	}
	if (!ret)
		ret = http_get(&rq, &rs);
	OPENSSL_cleanse(basic, sizeof(basic));
	if (ret)
		return err_wrap(-ret, "getting a token from the registry's token service");
	if (rs.status == 401 || rs.status == 403)
		ret = err_set(EACCES, "the registry's token service refused %s (HTTP %ld)%s", scope,
			      rs.status,
			      cr->found ? ": check the credentials" : "; no credentials were found for it");
	else if (rs.status != 200)
		ret = err_set(EPROTO, "the registry's token service answered HTTP %ld", rs.status);
	if (!ret)
		ret = ijson_parse((const uint8_t *)rs.body, rs.body_len, "the token service's answer", &o);
	if (!ret && ijson_string(o, "token", "the token", false, &token) == 0 && !token)
		ret = ijson_string(o, "access_token", "the token service's answer", true, &token);
	if (!ret && (!token || !header_safe(token)))
		ret = err_set(EPROTO, "the registry's token service answered an unusable token");
	if (!ret && (size_t)snprintf(out, len, "Authorization: Bearer %s", token) >= len)
		ret = err_set(E2BIG, "the registry's token is too long");
	json_object_put(o);
	http_response_free(&rs);
	return ret;
}
