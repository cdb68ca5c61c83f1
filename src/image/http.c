// SPDX-License-Identifier: MIT
/*
 * HTTP GETs for the registry client, over libcurl.
 *
 * Redirects are followed here, not by libcurl, so that the Authorization header never goes to the host a
 * registry redirects a blob to (a CDN, a bucket), and so that https is never given up for http unless the
 * caller allows plain http.  A transfer that makes no progress for stall_seconds (connecting included)
 * fails.  Bodies go to memory up to a bound, or to a sink that sees every byte (hashing, writing a file).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/grow.h"
#include "http.h"
#include "libs.h"

/* Registries redirect once (to storage); a chain longer than this is a loop or worse. */
#define HTTP_MAX_REDIRECTS 5

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_global(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct transfer {
	const struct http_request *rq;
	struct http_response *rs;
	size_t cap;
	int sink_error;
	bool too_big;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct transfer *t = arg;
	size_t len = size * n;
	char *b;

	if (t->rq->sink && t->rs->status / 100 == 2) {
		t->sink_error = t->rq->sink(t->rq->sink_arg, data, len);
		return t->sink_error ? 0 : len;
	}
	if (t->rs->body_len + len > t->rq->max_body) {
		t->too_big = true;
		return 0;
	}
	b = grow_array(t->rs->body, &t->cap, t->rs->body_len + len + 1, 1, 4096);
	if (!b)
		return 0;
	t->rs->body = b;
	memcpy(t->rs->body + t->rs->body_len, data, len);
	t->rs->body_len += len;
	t->rs->body[t->rs->body_len] = '\0';
	return len;
}

/* The status is needed before the first body byte: a sink only takes a 2xx answer's body. */
static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct transfer *t = arg;
	int code;

	if (size * n > 9 && !strncmp(data, "HTTP/", 5) && sscanf(data, "HTTP/%*s %d", &code) == 1)
		t->rs->status = code;
	return size * n;
}

static void copy_header(CURL *c, const char *name, char *out, size_t len)
{
	struct curl_header *h;

	out[0] = '\0';
	if (curl_easy_header(c, name, 0, CURLH_HEADER, -1, &h) == CURLHE_OK)
		snprintf(out, len, "%s", h->value);
}

static int curl_failure(const struct http_request *rq, const char *url, CURLcode rc, const char *detail)
{
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return err_set(ETIMEDOUT, "%s stalled: no progress for %u s", url, rq->stall_seconds);
	case CURLE_COULDNT_RESOLVE_HOST:
		return err_set(EHOSTUNREACH, "cannot find the host of %s: %s", url, detail);
	case CURLE_COULDNT_CONNECT:
		return err_set(ECONNREFUSED, "cannot connect to %s: %s", url, detail);
	default:
		if (rc >= CURLE_SSL_CONNECT_ERROR && rc != CURLE_WRITE_ERROR)
			return err_set(EPROTO, "%s: %s", url, detail[0] ? detail : curl_easy_strerror(rc));
		return err_set(EIO, "%s: %s", url, detail[0] ? detail : curl_easy_strerror(rc));
	}
}

static int perform(const struct http_request *rq, const char *url, bool with_auth, struct http_response *rs)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct transfer t = {.rq = rq, .rs = rs};
	struct curl_slist *hdrs = NULL;
	CURLcode rc;
	CURL *c;
	int ret = 0;

	pthread_once(&curl_once, curl_global);
	c = curl_easy_init();
	if (!c)
		return err_set(ENOMEM, "cannot start an HTTP transfer");
	for (size_t i = 0; rq->headers && rq->headers[i]; i++)
		hdrs = curl_slist_append(hdrs, rq->headers[i]);
	if (with_auth && rq->authorization)
		hdrs = curl_slist_append(hdrs, rq->authorization);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "nitrovm/" NITROVM_VERSION);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)rq->stall_seconds);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)rq->stall_seconds);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
	rc = curl_easy_perform(c);
	if (t.sink_error)
		ret = t.sink_error;
	else if (t.too_big)
		ret = err_set(EFBIG, "%s answered more than the %zu bytes nitrovm reads", url, rq->max_body);
	else if (rc != CURLE_OK)
		ret = curl_failure(rq, url, rc, errbuf);
	if (!ret) {
		long code = 0;

		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		rs->status = code;
		copy_header(c, "Content-Type", rs->content_type, sizeof(rs->content_type));
		copy_header(c, "WWW-Authenticate", rs->www_authenticate, sizeof(rs->www_authenticate));
		copy_header(c, "Docker-Content-Digest", rs->docker_digest, sizeof(rs->docker_digest));
		copy_header(c, "Location", rs->location, sizeof(rs->location));
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return ret;
}

/* scheme://host:port of a URL, to tell whether a redirect stays with the registry. */
static bool origin(const char *url, char *out, size_t len)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL;
	bool ok = u && !curl_url_set(u, CURLUPART_URL, url, 0) &&
		  !curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) &&
		  !curl_url_get(u, CURLUPART_HOST, &host, 0) &&
		  !curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);

	if (ok)
		snprintf(out, len, "%s://%s:%s", scheme, host, port);
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return ok;
}

static bool same_origin(const char *a, const char *b)
{
	char oa[512], ob[512];

	return origin(a, oa, sizeof(oa)) && origin(b, ob, sizeof(ob)) && !strcmp(oa, ob);
}

/* Resolve a Location against the URL it answered; refuse to go from https to http unless allowed. */
static int follow(const struct http_request *rq, const char *from, const char *location, char *out,
		  size_t len)
{
	CURLU *u = curl_url();
	char *next = NULL;
	int ret = 0;

	if (!u)
		return err_set(ENOMEM, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, from, 0) || curl_url_set(u, CURLUPART_URL, location, 0) ||
	    curl_url_get(u, CURLUPART_URL, &next, 0))
		ret = err_set(EPROTO, "%s redirects to '%.256s', which is not a URL", from, location);
	else if (strncmp(next, "https://", 8) && strncmp(next, "http://", 7))
		ret = err_set(EPROTO, "%s redirects to '%.256s', which is neither https nor http", from,
			      next);
	else if (!strncmp(from, "https://", 8) && !strncmp(next, "http://", 7) && !rq->allow_http)
		ret = err_set(EPROTO, "%s redirects to plain http (%.256s), which nitrovm refuses", from,
			      next);
	else if (strlen(next) >= len)
		ret = err_set(ENAMETOOLONG, "%s redirects to a URL too long", from);
	else
		strcpy(out, next);
	curl_free(next);
	curl_url_cleanup(u);
	return ret;
}

int http_get(const struct http_request *rq, struct http_response *rs)
{
	char url[HTTP_MAX_URL];
	int ret;

	memset(rs, 0, sizeof(*rs));
	ret = image_libs_curl();
	if (ret)
		return ret;
	if (strlen(rq->url) >= sizeof(url))
		return err_set(ENAMETOOLONG, "URL too long");
	strcpy(url, rq->url);
	for (int hops = 0;; hops++) {
		/* Credentials are for the registry: never for where it sends us. */
		bool auth = hops == 0 || same_origin(url, rq->url);

		free(rs->body);
		memset(rs, 0, sizeof(*rs));
		ret = perform(rq, url, auth, rs);
		if (ret)
			return ret;
		if (rs->status != 301 && rs->status != 302 && rs->status != 303 && rs->status != 307 &&
		    rs->status != 308)
			return 0;
		if (hops >= HTTP_MAX_REDIRECTS)
			return err_set(ELOOP, "%s redirects more than %d times", rq->url, HTTP_MAX_REDIRECTS);
		if (!rs->location[0])
			return err_set(EPROTO, "%s answered %ld without a Location", url, rs->status);
		ret = follow(rq, url, rs->location, url, sizeof(url));
		if (ret)
			return ret;
	}
}

void http_response_free(struct http_response *rs)
{
	free(rs->body);
	rs->body = NULL;
	rs->body_len = 0;
}

char *http_escape(const char *s)
{
	char *e, *copy;

	if (image_libs_curl())
		return NULL;
	e = curl_easy_escape(NULL, s, 0);
	if (!e)
		return NULL;
	copy = strdup(e);
	curl_free(e);
	return copy;
}
