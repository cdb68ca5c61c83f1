// SPDX-License-Identifier: MIT
/*
 * A build without container images (meson -Dimages=disabled, as scripts/build-aarch64 builds): Debian ships
 * libcurl's static library but not those of all it links (Kerberos has none), so a static nitrovm cannot have
 * the registry client, and libarchive's static closure (libxml2, ICU) is not worth carrying without it.
 * image_open() refuses first (image.c); these stand in for the three files that need the two libraries, so
 * the rest of src/image (the cache that `nitrovm cache prune` empties, the parsers) builds unchanged.
 */
#include <errno.h>

#include "common/util.h"
#include "http.h"
#include "internal.h"

#define NO_IMAGES "this nitrovm was built without container images (libarchive, libcurl)"

int source_open_archive(const struct image_ref *r, const struct image_options *o, struct image_source **out)
{
	(void)r;
	(void)o;
	*out = NULL;
	return err_set(ENOTSUP, NO_IMAGES);
}

int layer_apply(struct tree *t, struct spool *s, uint16_t layer, const struct layer_input *in,
		struct layer_stats *st)
{
	(void)t;
	(void)s;
	(void)layer;
	(void)in;
	(void)st;
	return err_set(ENOTSUP, NO_IMAGES);
}

int http_get(const struct http_request *rq, struct http_response *rs)
{
	(void)rq;
	(void)rs;
	return err_set(ENOTSUP, NO_IMAGES);
}

void http_response_free(struct http_response *rs)
{
	(void)rs;
}

char *http_escape(const char *s)
{
	(void)s;
	return NULL;
}
