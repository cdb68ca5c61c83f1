/* SPDX-License-Identifier: MIT */
/* Registry authentication (auth.c): challenges, credential files, bearer tokens. */
#ifndef NITROVM_IMAGE_AUTH_H
#define NITROVM_IMAGE_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "internal.h"

/* A bearer token in a header: JWTs of registries are a few KiB. */
#define AUTH_HEADER_MAX (16 * 1024)

/* What a 401's WWW-Authenticate asks for: "Bearer realm=...,service=...,scope=..." or "Basic realm=...". */
struct auth_challenge {
	char scheme[16];
	char realm[1024], service[1024], scope[1024];
};
int auth_parse_challenge(const char *header, struct auth_challenge *c);

struct auth_credentials {
	bool found;
	char user[256], password[1024];
	char source[PATH_MAX]; /* the file they came from, for messages */
};
/* The credentials for domain/repository, from the files auth.c lists; found false when none. */
int auth_find_credentials(const char *domain, const char *repository, struct auth_credentials *cr);
/* "Authorization: Basic ..." */
int auth_basic(const struct auth_credentials *cr, char *out, size_t len);

struct auth_transport {
	unsigned int stall_seconds;
	bool allow_http;
};
/* A token for scope from the challenge's realm; out receives "Authorization: Bearer ...". */
int auth_fetch_token(const struct auth_challenge *c, const char *scope, const struct auth_credentials *cr,
		     const struct auth_transport *tr, char *out, size_t len);

#endif
