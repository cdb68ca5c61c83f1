// SPDX-License-Identifier: MIT
/*
 * Image archives: oci-archive:FILE[:ref] (an OCI layout in a tar) and docker-archive:FILE[:ref] (`docker
 * save`'s manifest.json layout: legacy <id>/layer.tar members, podman's symlinked ones, Docker 25's
 * blobs/sha256/ ones).
 *
 * The archive is read once for its member headers only (libarchive seeks over the data), and every blob is
 * then read in place as a region of the file: nothing is extracted.  A compressed archive (docker save |
 * gzip) is first decompressed into an unnamed temporary file, since members must be read in any order.
 *
 * docker-archive layers have no blob digests: each is checked against the config's diff_id as it is applied.
 * Its ref is a name:tag from RepoTags (docker.io/library/ spelled or not) or @N, the N-th image (from 0).
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/grow.h"
#include "internal.h"
#include "libs.h"
#include "spool.h"
#include "tree.h"

/* An image archive holds a few files per layer: far fewer than this, unless it is something else. */
#define ARCHIVE_MAX_MEMBERS 65536
/* Links between members (podman's <id>/layer.tar -> ../<id>.tar) followed for one lookup. */
#define ARCHIVE_MAX_LINKS 8
/* Bytes copied at a time when a compressed archive is decompressed to a temporary file. */
#define ARCHIVE_COPY_CHUNK (1 * MiB)
#define DOCKER_MANIFEST	   "manifest.json"

struct member {
	char *name;
	char *link; /* a symlink's target, or a hard link's */
	bool symlink, hardlink;
	uint64_t offset, size;
};

struct tar_index {
	int fd;
	char where[PATH_MAX];
	size_t n, cap;
	struct member *m;
};

static void tar_index_free(struct tar_index *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->m[i].name);
		free(t->m[i].link);
	}
	free(t->m);
	if (t->fd >= 0)
		close(t->fd);
	free(t);
}

static int add_member(struct tar_index *t, struct archive *a, struct archive_entry *e)
{
	char name[TREE_MAX_PATH + 1];
	const char *link = NULL;
	struct member *m;
	int type = archive_entry_filetype(e);

	if (tree_normalize_path(archive_entry_pathname(e) ? archive_entry_pathname(e) : "", name))
		return 0; /* nothing an image names lives at such a path */
	if (archive_entry_hardlink(e))
		link = archive_entry_hardlink(e);
	else if (type == AE_IFLNK)
		link = archive_entry_symlink(e);
	else if (type != AE_IFREG || archive_entry_sparse_count(e))
		return 0;
	if (t->n >= ARCHIVE_MAX_MEMBERS)
		return err_set(E2BIG, "%s has more than %d members: it is not an image archive", t->where,
			       ARCHIVE_MAX_MEMBERS);
	{
		struct member *nm = grow_array(t->m, &t->cap, t->n + 1, sizeof(*nm), 16);

		if (!nm)
			return err_set(ENOMEM, "out of memory");
		t->m = nm;
	}
	m = &t->m[t->n];
	memset(m, 0, sizeof(*m));
	m->name = strdup(name);
	m->link = link ? strdup(link) : NULL;
	if (!m->name || (link && !m->link)) {
		free(m->name);
		free(m->link);
		return err_set(ENOMEM, "out of memory");
	}
	m->hardlink = archive_entry_hardlink(e) != NULL;
	m->symlink = !m->hardlink && link;
	/* Where the data starts: what the tar reader has consumed once the header is read. */
	m->offset = (uint64_t)archive_filter_bytes(a, 0);
	m->size = link ? 0 : (uint64_t)archive_entry_size(e);
	t->n++;
	return 0;
}

static int index_members(struct tar_index *t)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	struct stat st;
	int r = ARCHIVE_OK, ret = 0;

	if (!a)
		return err_set(ENOMEM, "out of memory");
	archive_read_support_format_tar(a);
	if (archive_read_open_fd(a, t->fd, 64 * 1024) != ARCHIVE_OK) {
		ret = err_set(EINVAL, "%s is not a tar archive: %s", t->where, archive_error_string(a));
		goto out;
	}
	while (!ret && ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN))
		ret = add_member(t, a, e);
	if (!ret && r != ARCHIVE_EOF)
		ret = err_set(EINVAL, "%s is damaged: %s", t->where, archive_error_string(a));
	if (!ret && fstat(t->fd, &st))
		ret = err_set(errno, "cannot stat %s: %s", t->where, strerror(errno));
	for (size_t i = 0; !ret && i < t->n; i++)
		if (t->m[i].offset > (uint64_t)st.st_size ||
		    t->m[i].size > (uint64_t)st.st_size - t->m[i].offset)
			ret = err_set(EINVAL, "%s is truncated: member %.256s ends past its end", t->where,
				      t->m[i].name);
out:
	archive_read_free(a);
	return ret;
}

/* A compressed archive, whole, into an unnamed temporary file; returns its fd. */
static int decompress(struct tar_index *t, const char *work_dir, int *out)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	struct spool tmp;
	char *buf = malloc(ARCHIVE_COPY_CHUNK);
	la_ssize_t n = 0;
	int ret;

	if (!a || !buf) {
		free(buf);
		archive_read_free(a);
		return err_set(ENOMEM, "out of memory");
	}
	archive_read_support_format_raw(a);
	archive_read_support_filter_all(a);
	ret = spool_open(&tmp, work_dir);
	if (!ret && (archive_read_open_fd(a, t->fd, 64 * 1024) != ARCHIVE_OK ||
		     archive_read_next_header(a, &e) != ARCHIVE_OK))
		ret = err_set(EINVAL, "cannot read %s: %s", t->where, archive_error_string(a));
	while (!ret && (n = archive_read_data(a, buf, ARCHIVE_COPY_CHUNK)) > 0)
		ret = spool_write(&tmp, buf, (size_t)n);
	if (!ret && n < 0)
		ret = err_set(EINVAL, "%s is damaged: %s", t->where, archive_error_string(a));
	archive_read_free(a);
	free(buf);
	if (ret) {
		spool_close(&tmp);
		return ret;
	}
	*out = tmp.fd;
	return 0;
}

/* Whether the file is compressed (tar.gz, tar.zst, ...), by libarchive's look at its first bytes. */
static int is_compressed(struct tar_index *t, bool *yes)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	int ret = 0;

	if (!a)
		return err_set(ENOMEM, "out of memory");
	archive_read_support_format_raw(a);
	archive_read_support_filter_all(a);
	if (archive_read_open_fd(a, t->fd, 64 * 1024) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK)
		ret = err_set(EINVAL, "cannot read %s: %s", t->where, archive_error_string(a));
	else
		*yes = archive_filter_code(a, 0) != ARCHIVE_FILTER_NONE;
	archive_read_free(a);
	if (!ret && lseek(t->fd, 0, SEEK_SET))
		ret = err_set(errno, "cannot seek %s: %s", t->where, strerror(errno));
	return ret;
}

static int tar_index_open(const char *path, const char *work_dir, struct tar_index **out)
{
	struct tar_index *t = calloc(1, sizeof(*t));
	bool compressed = false;
	struct stat st;
	int ret, fd = -1;

	if (!t)
		return err_set(ENOMEM, "out of memory");
	snprintf(t->where, sizeof(t->where), "%s", path);
	t->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (t->fd < 0) {
		ret = err_set(errno, "cannot open %s: %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(t->fd, &st) || !S_ISREG(st.st_mode)) {
		ret = err_set(EINVAL, "%s is not a regular file", path);
		goto fail;
	}
	ret = is_compressed(t, &compressed);
	if (!ret && compressed) {
		ret = decompress(t, work_dir, &fd);
		if (!ret) {
			close(t->fd);
			t->fd = fd;
		}
	}
	if (!ret)
		ret = index_members(t);
	if (!ret) {
		*out = t;
		return 0;
	}
fail:
	tar_index_free(t);
	return ret;
}

static struct member *find_member(struct tar_index *t, const char *name)
{
	/* Later members of the same name win, as when a tar is extracted. */
	for (size_t i = t->n; i-- > 0;)
		if (!strcmp(t->m[i].name, name))
			return &t->m[i];
	return NULL;
}

/* dir + "/" + rel, with "." and ".." applied; climbing above the archive's root is -EINVAL. */
static int join_relative(const char *dir, const char *rel, char *out, size_t len)
{
	char buf[2 * (TREE_MAX_PATH + 1)];
	char *save = NULL, *c;
	size_t n = 0;

	if (snprintf(buf, sizeof(buf), "%s/%s", rel[0] == '/' ? "" : dir, rel) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	out[0] = '\0';
	for (c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			char *slash;

			if (!n)
				return -EINVAL;
			slash = strrchr(out, '/');
			n = slash ? (size_t)(slash - out) : 0;
			out[n] = '\0';
			continue;
		}
		if (n + 1 + strlen(c) + 1 > len)
			return -ENAMETOOLONG;
		n += (size_t)sprintf(out + n, "%s%s", n ? "/" : "", c);
	}
	return 0;
}

/* A regular member by name, through symlinks (relative to their directory) and hard links. */
static int tar_open(void *arg, const char *name, struct blob_region *out)
{
	struct tar_index *t = arg;
	char cur[TREE_MAX_PATH + 1], next[TREE_MAX_PATH + 1];
	struct member *m;

	if (tree_normalize_path(name, cur))
		return err_set(EINVAL, "'%.256s' is not a member name", name);
	for (int hops = 0; hops <= ARCHIVE_MAX_LINKS; hops++) {
		char *slash;

		m = find_member(t, cur);
		if (!m)
			return err_set(ENODATA, "%s has no member %s", t->where, cur);
		if (!m->link) {
			*out = (struct blob_region){.fd = t->fd, .offset = m->offset, .size = m->size};
			return 0;
		}
		slash = strrchr(cur, '/');
		if (slash)
			*slash = '\0';
		else
			cur[0] = '\0';
		if (join_relative(m->hardlink ? "" : cur, m->link, next, sizeof(next)))
			return err_set(EINVAL, "%s: member %s links outside the archive", t->where, m->name);
		memcpy(cur, next, sizeof(cur));
	}
	return err_set(ELOOP, "%s: member %s is behind more than %d links", t->where, name,
		       ARCHIVE_MAX_LINKS);
}

static void tar_close(void *arg)
{
	tar_index_free(arg);
}

/* ---- docker-archive ---- */

struct docker_source {
	struct image_source base;
	struct tar_index *tar;
};

static int read_json_member(struct tar_index *t, const char *name, size_t max, int type,
			    struct json_object **o, uint8_t **raw, size_t *rawlen)
{
	struct blob_region r;
	char what[PATH_MAX + 32];
	uint8_t *buf;
	int ret = tar_open(t, name, &r);

	if (ret)
		return ret;
	snprintf(what, sizeof(what), "%s in %s", name, t->where);
	ret = blob_region_read(&r, max, what, &buf);
	if (ret)
		return ret;
	ret = ijson_parse_as(buf, (size_t)r.size, what, type, o);
	if (!ret && raw) {
		*raw = buf;
		*rawlen = (size_t)r.size;
	} else {
		free(buf);
	}
	return ret;
}

/* Two registry references naming the same repository and tag (docker.io/library/ spelled out or not). */
static bool same_tag(const char *a, const char *b)
{
	struct image_ref *x = malloc(sizeof(*x)), *y = malloc(sizeof(*y));
	bool same = false;

	if (x && y && !image_ref_parse(a, x) && !image_ref_parse(b, y) &&
	    x->transport == TRANSPORT_REGISTRY && y->transport == TRANSPORT_REGISTRY)
		same = !strcmp(x->registry, y->registry) && !strcmp(x->repository, y->repository) &&
		       !strcmp(x->tag, y->tag);
	free(x);
	free(y);
	return same;
}

static bool has_tag(struct json_object *entry, const char *ref)
{
	struct strv tags = {0};
	bool found = false;

	if (ijson_strv(entry, "RepoTags", DOCKER_MANIFEST, &tags, NULL))
		return false;
	for (size_t i = 0; i < tags.n && !found; i++)
		found = same_tag(tags.v[i], ref);
	strv_free(&tags);
	return found;
}

static int pick_entry(struct docker_source *d, struct json_object *list, struct json_object **out)
{
	const char *ref = d->base.ref->ref;
	size_t n = json_object_array_length(list);

	if (!n)
		return err_set(ENODATA, "%s holds no image", d->tar->where);
	if (n > IMAGE_MAX_INDEX)
		return err_set(E2BIG, "%s lists %zu images, more than nitrovm reads", d->tar->where, n);
	if (ref[0] == '@') {
		char *end;
		unsigned long i = strtoul(ref + 1, &end, 10);

		if (!ref[1] || *end || i >= n)
			return err_set(EINVAL, "%s holds %zu images: '@%s' is not one of @0 to @%zu",
				       d->tar->where, n, ref + 1, n - 1);
		*out = json_object_array_get_idx(list, i);
		return 0;
	}
	if (!ref[0]) {
		if (n > 1)
			return err_set(EINVAL,
				       "%s holds %zu images: name one after the path, as in "
				       "docker-archive:%s:NAME:TAG or :@N",
				       d->tar->where, n, d->tar->where);
		*out = json_object_array_get_idx(list, 0);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (has_tag(json_object_array_get_idx(list, i), ref)) {
			*out = json_object_array_get_idx(list, i);
			return 0;
		}
	}
	return err_set(ENODATA, "%s has no image tagged '%s'", d->tar->where, ref);
}

static int read_docker_config(struct docker_source *d, struct json_object *entry, struct image_plan *plan)
{
	const char *name;
	struct blob_region r;
	uint8_t *buf;
	int ret = ijson_string(entry, "Config", DOCKER_MANIFEST, true, &name);

	if (!ret)
		ret = tar_open(d->tar, name, &r);
	if (!ret)
		ret = blob_region_read(&r, IMAGE_MAX_CONFIG, name, &buf);
	if (ret)
		return ret;
	ret = image_config_parse(buf, (size_t)r.size, &plan->config);
	free(buf);
	return ret;
}

static int docker_layers(struct docker_source *d, struct json_object *entry, struct image_plan *plan)
{
	struct strv layers = {0};
	int ret = ijson_strv(entry, "Layers", DOCKER_MANIFEST, &layers, NULL);

	if (!ret && layers.n != plan->config.ndiff_ids)
		ret = err_set(EINVAL, "%s lists %zu layers but the image config %zu", DOCKER_MANIFEST,
			      layers.n, plan->config.ndiff_ids);
	if (!ret && !(plan->layers = calloc(layers.n + 1, sizeof(*plan->layers))))
		ret = err_set(ENOMEM, "out of memory");
	for (size_t i = 0; !ret && i < layers.n; i++) {
		struct image_layer *l = &plan->layers[i];
		struct blob_region r;

		ret = tar_open(d->tar, layers.v[i], &r);
		if (ret)
			break;
		if (strlen(layers.v[i]) >= sizeof(l->member)) {
			ret = err_set(ENAMETOOLONG, "a layer's name in %s is too long", DOCKER_MANIFEST);
			break;
		}
		strcpy(l->member, layers.v[i]);
		l->desc.digest = plan->config.diff_ids[i];
		l->desc.size = r.size;
		l->compression = LAYER_DETECT;
		plan->nlayers++;
	}
	strv_free(&layers);
	return ret;
}

static int docker_resolve(struct image_source *s, const char *arch, struct image_plan *plan)
{
	struct docker_source *d = (struct docker_source *)s;
	struct json_object *list, *entry = NULL;
	int ret = read_json_member(d->tar, DOCKER_MANIFEST, IMAGE_MAX_MANIFEST, json_type_array, &list, NULL,
				   NULL);

	if (ret == -ENODATA)
		return err_set(ENODATA, "%s is not a docker-archive: it has no %s", d->tar->where,
			       DOCKER_MANIFEST);
	if (ret)
		return ret;
	ret = pick_entry(d, list, &entry);
	if (!ret && !json_object_is_type(entry, json_type_object))
		ret = err_set(EINVAL, "%s: an entry is not an object", DOCKER_MANIFEST);
	if (!ret)
		ret = read_docker_config(d, entry, plan);
	if (!ret) {
		const char *a = image_arch_normalize(plan->config.arch);

		if (!a)
			ret = err_set(EPROTONOSUPPORT,
				      "the image is for the architecture '%.32s'; enclaves are "
				      "amd64 or arm64",
				      plan->config.arch);
		else if (arch && strcmp(a, arch))
			ret = err_set(EINVAL, "the image is for %s, not %s", a, arch);
	}
	if (!ret)
		ret = docker_layers(d, entry, plan);
	json_object_put(list);
	return ret;
}

static int docker_layer_region(struct image_source *s, const struct image_layer *l, struct blob_region *out)
{
	return tar_open(((struct docker_source *)s)->tar, l->member, out);
}

static void docker_close(struct image_source *s)
{
	struct docker_source *d = (struct docker_source *)s;

	if (d->tar)
		tar_index_free(d->tar);
	free(d);
}

static const struct image_source_ops docker_ops = {
	.resolve = docker_resolve,
	.layer_region = docker_layer_region,
	.close = docker_close,
};

int source_open_archive(const struct image_ref *r, const struct image_options *o, struct image_source **out)
{
	const char *work = o->work_dir ? o->work_dir : ".";
	struct tar_index *t = NULL;
	int ret = image_libs_archive();

	if (!ret)
		ret = tar_index_open(r->path, work, &t);
	if (ret)
		return ret;
	if (r->transport == TRANSPORT_OCI_ARCHIVE) {
		struct layout_files files = {
			.open = tar_open, .close = tar_close, .arg = t, .where = t->where};

		return source_open_layout(r, o, &files, out);
	}
	{
		struct docker_source *d = calloc(1, sizeof(*d));

		if (!d) {
			tar_index_free(t);
			return err_set(ENOMEM, "out of memory");
		}
		d->base.ops = &docker_ops;
		d->base.ref = r;
		d->base.opts = o;
		d->tar = t;
		*out = &d->base;
	}
	return 0;
}
