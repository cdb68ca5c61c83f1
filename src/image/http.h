/* SPDX-License-Identifier: MIT */
/* HTTP GETs for the registry client (http.c): libcurl, redirects followed by hand, stalls timed out. */
#ifndef NITROVM_IMAGE_HTTP_H
#define NITROVM_IMAGE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

#define HTTP_MAX_URL 4096

struct http_request {
	const char *url;
	const char *const *headers; /* "Name: value", NULL-terminated; sent on every hop */
	const char *authorization;  /* "Authorization: ...": sent only to the URL's own origin */
	size_t max_body;	    /* bodies kept in memory are refused past this */
	/* A 2xx answer's body goes here instead of memory when set; non-zero stops the transfer. */
	int (*sink)(void *arg, const void *data, size_t len);
	void *sink_arg;
	unsigned int stall_seconds;
	bool allow_http; /* a redirect from https to http is refused otherwise */
};

struct http_response {
	long status;
	char *body; /* NUL-terminated, when not sunk */
	size_t body_len;
	char content_type[IMAGE_MEDIA_TYPE_MAX];
	char www_authenticate[2048];
	char docker_digest[IMAGE_DIGEST_STR_MAX];
	char location[HTTP_MAX_URL];
};

/* 0 once an answer came (any status); a negative errno when none did (ETIMEDOUT for a stall). */
int http_get(const struct http_request *rq, struct http_response *rs);
void http_response_free(struct http_response *rs);
/* URL-escape a query value (heap; NULL on failure). */
char *http_escape(const char *s);

#endif
