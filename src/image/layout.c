// SPDX-License-Identifier: MIT
/*
 * OCI image layouts: oci-layout, index.json and blobs/<algorithm>/<hex>, in a directory (oci:DIR[:ref]) or
 * inside an archive (oci-archive:, through archive.c's member lookup).
 *
 * The reference's ref picks the index.json entry whose org.opencontainers.image.ref.name annotation equals
 * it, as skopeo's oci: transport does.  Without one, a single entry is taken; several are treated as an index
 * to choose a platform from.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define LAYOUT_MARKER "oci-layout"
#define LAYOUT_INDEX  "index.json"
/* oci-layout is one small JSON object: {"imageLayoutVersion": "1.0.0"}. */
#define LAYOUT_MARKER_MAX (64 * KiB)

struct layout_source {
	struct image_source base;
	struct layout_files files;
};

static int read_member(struct layout_source *l, const char *name, size_t max, uint8_t **buf, size_t *len)
{
	struct blob_region r = {.fd = -1};
	char what[PATH_MAX + 32];
	int ret = l->files.open(l->files.arg, name, &r);

	if (ret)
		return ret;
	snprintf(what, sizeof(what), "%s in %s", name, l->files.where);
	ret = blob_region_read(&r, max, what, buf);
	if (!ret)
		*len = (size_t)r.size;
	blob_region_close(&r);
	return ret;
}

static int check_marker(struct layout_source *l)
{
	struct json_object *o;
	const char *version = NULL;
	uint8_t *buf;
	size_t len;
	int ret = read_member(l, LAYOUT_MARKER, LAYOUT_MARKER_MAX, &buf, &len);

	if (ret == -ENODATA)
		return err_set(ENODATA, "%s is not an OCI image layout: it has no %s file", l->files.where,
			       LAYOUT_MARKER);
	if (ret)
		return ret;
	ret = ijson_parse(buf, len, LAYOUT_MARKER, &o);
	free(buf);
	if (!ret)
		ret = ijson_string(o, "imageLayoutVersion", LAYOUT_MARKER, true, &version);
	if (!ret && strncmp(version, "1.", 2))
		ret = err_set(EPROTONOSUPPORT,
			      "%s is an OCI image layout of version %.32s; nitrovm reads 1.x", l->files.where,
			      version);
	json_object_put(o);
	return ret;
}

static int blob_name(const struct image_digest *d, char *out, size_t len)
{
	/* The digest was parsed strictly: "<alg>:<lowercase hex>", nothing that could climb out of blobs/. */
	const char *colon = strchr(d->str, ':');

	if (snprintf(out, len, "blobs/%.*s/%s", (int)(colon - d->str), d->str, colon + 1) >= (int)len)
		return err_set(ENAMETOOLONG, "blob name too long");
	return 0;
}

static int open_blob(struct layout_source *l, const struct image_descriptor *d, struct blob_region *r)
{
	char name[IMAGE_DIGEST_STR_MAX + 16];
	int ret = blob_name(&d->digest, name, sizeof(name));

	if (!ret)
		ret = l->files.open(l->files.arg, name, r);
	if (ret == -ENODATA)
		return err_set(ENODATA, "%s has no blob %s (the image is incomplete)", l->files.where,
			       d->digest.str);
	if (!ret && r->size != d->size) {
		blob_region_close(r);
		return err_set(EBADMSG, "blob %s in %s is %llu bytes, not the %llu its descriptor says",
			       d->digest.str, l->files.where, (unsigned long long)r->size,
			       (unsigned long long)d->size);
	}
	return ret;
}

static int layout_read_blob(struct image_source *s, const struct image_descriptor *d, uint8_t **buf,
			    size_t *len)
{
	struct layout_source *l = (struct layout_source *)s;
	struct blob_region r = {.fd = -1};
	int ret = open_blob(l, d, &r);

	*buf = NULL;
	if (ret)
		return ret;
	ret = blob_region_read(&r, IMAGE_MAX_CONFIG, d->digest.str, buf);
	blob_region_close(&r);
	if (ret)
		return ret;
	ret = image_digest_verify_buf(&d->digest, *buf, (size_t)d->size, d->digest.str);
	if (ret) {
		free(*buf);
		*buf = NULL;
		return ret;
	}
	*len = (size_t)d->size;
	return 0;
}

/* Several images without platforms: the user must name one. */
static int several_images(struct layout_source *l, const struct image_manifest *idx)
{
	char names[512];

	for (size_t i = 0; i < idx->nmanifests; i++)
		if (idx->manifests[i].has_platform)
			return 0;
	image_index_ref_names(idx, names, sizeof(names));
	return err_set(EINVAL, "%s holds %zu images (%s): name one after the path, as in oci:%s:NAME",
		       l->files.where, idx->nmanifests, names, l->files.where);
}

static int layout_root(struct image_source *s, uint8_t **buf, size_t *len, char *media_type, size_t mtlen)
{
	struct layout_source *l = (struct layout_source *)s;
	const struct image_descriptor *d = NULL;
	struct image_descriptor chosen;
	struct image_manifest idx;
	int ret;

	ret = check_marker(l);
	if (!ret)
		ret = read_member(l, LAYOUT_INDEX, IMAGE_MAX_MANIFEST, buf, len);
	if (ret)
		return ret;
	ret = image_manifest_parse(*buf, *len, MEDIA_OCI_INDEX, &idx);
	if (ret) {
		free(*buf);
		return err_wrap(-ret, "%s/%s", l->files.where, LAYOUT_INDEX);
	}
	if (s->ref->ref[0])
		ret = image_index_find_ref(&idx, s->ref->ref, &d);
	else if (idx.nmanifests == 1)
		d = &idx.manifests[0];
	if (!ret && !d)
		ret = several_images(l, &idx);
	if (!ret && !d) {
		/* Several images and no name: the entries are the platforms to choose from. */
		image_manifest_free(&idx);
		snprintf(media_type, mtlen, "%s", MEDIA_OCI_INDEX);
		return 0;
	}
	if (!ret)
		chosen = *d;
	image_manifest_free(&idx);
	free(*buf);
	*buf = NULL;
	if (ret)
		return ret;
	snprintf(media_type, mtlen, "%s", chosen.media_type);
	if (chosen.size > IMAGE_MAX_MANIFEST)
		return err_set(EFBIG, "the manifest %s is %llu bytes, more than nitrovm reads",
			       chosen.digest.str, (unsigned long long)chosen.size);
	return layout_read_blob(s, &chosen, buf, len);
}

static int layout_layer_region(struct image_source *s, const struct image_layer *layer,
			       struct blob_region *out)
{
	return open_blob((struct layout_source *)s, &layer->desc, out);
}

static void layout_close(struct image_source *s)
{
	struct layout_source *l = (struct layout_source *)s;

	if (l->files.close)
		l->files.close(l->files.arg);
	free(l);
}

static const struct image_source_ops layout_ops = {
	.root = layout_root,
	.read_blob = layout_read_blob,
	.layer_region = layout_layer_region,
	.close = layout_close,
};

int source_open_layout(const struct image_ref *r, const struct image_options *o,
		       const struct layout_files *files, struct image_source **out)
{
	struct layout_source *l = calloc(1, sizeof(*l));

	if (!l) {
		if (files->close)
			files->close(files->arg);
		return err_set(ENOMEM, "out of memory");
	}
	l->base.ops = &layout_ops;
	l->base.ref = r;
	l->base.opts = o;
	l->files = *files;
	*out = &l->base;
	return 0;
}

/* ---- a layout in a directory ---- */

struct dir_files {
	char dir[PATH_MAX];
};

static int dir_open(void *arg, const char *name, struct blob_region *out)
{
	struct dir_files *d = arg;
	char path[2 * PATH_MAX];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", d->dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return err_set(ENODATA, "%s has no %s", d->dir, name);
	if (fd < 0)
		return err_set(errno, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(EINVAL, "%s is not a regular file", path);
	}
	*out = (struct blob_region){.fd = fd, .offset = 0, .size = (uint64_t)st.st_size, .owned = true};
	return 0;
}

static void dir_close(void *arg)
{
	free(arg);
}

int source_open_dir(const struct image_ref *r, const struct image_options *o, struct image_source **out)
{
	struct dir_files *d;
	struct layout_files files;
	struct stat st;

	if (stat(r->path, &st))
		return err_set(errno, "cannot open the OCI layout %s: %s", r->path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return err_set(ENOTDIR,
			       "%s is not a directory (an OCI layout for oci:); for an archive use "
			       "oci-archive:",
			       r->path);
	d = malloc(sizeof(*d));
	if (!d)
		return err_set(ENOMEM, "out of memory");
	snprintf(d->dir, sizeof(d->dir), "%s", r->path);
	files = (struct layout_files){.open = dir_open, .close = dir_close, .arg = d, .where = d->dir};
	return source_open_layout(r, o, &files, out);
}
