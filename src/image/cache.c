// SPDX-License-Identifier: MIT
/*
 * The blob cache: layers pulled from registries, by digest, under <cache>/blobs/<algorithm>/<hex>
 * (<cache> = the caches' shared root, common/cache_root.h), so that a rebuild after one changed layer
 * fetches that layer only.
 *
 * A download is written to an unnamed file in the cache directory and gets its name only once its digest
 * checked out, so a name always holds what it says; two builds downloading one blob race harmlessly (the
 * second link fails, its copy is dropped).  Use is recorded in the mtime, and pruning removes the least
 * recently used blobs first.  A blob pruned while a build reads it stays readable to that build.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cache_root.h"
#include "internal.h"

#define BLOBS_SUBDIR "blobs"
/* Entries one prune looks at: a cache of a few GiB holds hundreds of layers, not millions. */
#define CACHE_MAX_ENTRIES 100000

/* The cache directory dir (or the default) resolves to, for messages. */
static int image_cache_dir(const char *dir, char *out, size_t len)
{
	int n;

	if (!dir)
		return cache_root(out, len); /* the root every nitrovm cache shares (kernels too) */
	n = snprintf(out, len, "%s", dir);
	if (n < 0 || (size_t)n >= len)
		return err_set(ENAMETOOLONG, "the cache directory's path is too long");
	return 0;
}

int blob_cache_open(struct blob_cache *c, const char *dir)
{
	char base[PATH_MAX];
	int ret = image_cache_dir(dir, base, sizeof(base));

	if (ret)
		return ret;
	if ((size_t)snprintf(c->dir, sizeof(c->dir), "%s/%s", base, BLOBS_SUBDIR) >= sizeof(c->dir))
		return err_set(ENAMETOOLONG, "the cache directory's path is too long");
	return mkdir_p(c->dir, 0700);
}

static int blob_path(const struct blob_cache *c, const struct image_digest *d, char *out, size_t len,
		     bool file)
{
	const char *colon = strchr(d->str, ':');
	int n = file ? snprintf(out, len, "%s/%.*s/%s", c->dir, (int)(colon - d->str), d->str, colon + 1)
		     : snprintf(out, len, "%s/%.*s", c->dir, (int)(colon - d->str), d->str);

	if (n < 0 || (size_t)n >= len)
		return err_set(ENAMETOOLONG, "the cache directory's path is too long");
	return 0;
}

int blob_cache_get(struct blob_cache *c, const struct image_digest *d, struct blob_region *out)
{
	char path[PATH_MAX];
	struct stat st;
	int fd, ret = blob_path(c, d, path, sizeof(path), true);

	if (ret)
		return ret;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return -ENOENT;
	}
	futimens(fd, NULL); /* used now: last to be pruned (fails harmlessly on a read-only cache) */
	*out = (struct blob_region){.fd = fd, .offset = 0, .size = (uint64_t)st.st_size, .owned = true};
	return 0;
}

int blob_cache_begin(struct blob_cache *c, const struct image_digest *d, struct blob_cache_entry *e)
{
	char dir[PATH_MAX];
	int ret = blob_path(c, d, dir, sizeof(dir), false);

	memset(e, 0, sizeof(*e));
	e->fd = -1;
	if (!ret)
		ret = blob_path(c, d, e->path, sizeof(e->path), true);
	if (!ret)
		ret = mkdir_p(dir, 0700);
	if (ret)
		return ret;
	e->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (e->fd >= 0)
		return 0;
	/* No O_TMPFILE here: a hidden name, renamed into place at commit. */
	if ((size_t)snprintf(e->tmp, sizeof(e->tmp), "%s/.partial-XXXXXX", dir) >= sizeof(e->tmp))
		return err_set(ENAMETOOLONG, "the cache directory's path is too long");
	e->fd = mkostemp(e->tmp, O_CLOEXEC);
	if (e->fd < 0)
		return err_set(errno, "cannot create a file in the cache %s: %s", dir, strerror(errno));
	return 0;
}

int blob_cache_commit(struct blob_cache_entry *e)
{
	char proc[64];
	int ret = 0;

	if (e->tmp[0]) {
		if (rename(e->tmp, e->path))
			ret = err_set(errno, "cannot store %s: %s", e->path, strerror(errno));
	} else {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", e->fd);
		if (linkat(AT_FDCWD, proc, AT_FDCWD, e->path, AT_SYMLINK_FOLLOW) && errno != EEXIST)
			ret = err_set(errno, "cannot store %s: %s", e->path, strerror(errno));
	}
	e->tmp[0] = '\0';
	blob_cache_abort(e);
	return ret;
}

void blob_cache_abort(struct blob_cache_entry *e)
{
	if (e->fd >= 0)
		close(e->fd);
	if (e->tmp[0])
		unlink(e->tmp);
	e->fd = -1;
	e->tmp[0] = '\0';
}

/* ---- pruning ---- */

struct cached {
	char *path;
	uint64_t size;
	struct timespec used;
};

static int used_cmp(const void *a, const void *b)
{
	const struct cached *x = a, *y = b;

	if (x->used.tv_sec != y->used.tv_sec)
		return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
	if (x->used.tv_nsec != y->used.tv_nsec)
		return x->used.tv_nsec < y->used.tv_nsec ? -1 : 1;
	return strcmp(x->path, y->path);
}

static int list_dir(const char *dir, struct cached **list, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int ret = 0;

	if (!d)
		return 0;
	while (!ret && (de = readdir(d))) {
		char path[PATH_MAX];
		struct stat st;
		struct cached *l;

		if (de->d_name[0] == '.' ||
		    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		if (lstat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		if (*n >= CACHE_MAX_ENTRIES) {
			ret = err_set(E2BIG, "the cache %s holds more than %d blobs", dir, CACHE_MAX_ENTRIES);
			break;
		}
		l = realloc(*list, (*n + 1) * sizeof(**list));
		if (!l || !(l[*n].path = strdup(path))) {
			if (l)
				*list = l;
			ret = err_set(ENOMEM, "out of memory");
			break;
		}
		*list = l;
		l[*n].size = (uint64_t)st.st_size;
		l[*n].used = st.st_mtim;
		(*n)++;
	}
	closedir(d);
	return ret;
}

int image_cache_prune(const char *dir, uint64_t max_bytes, struct image_cache_stats *st)
{
	struct blob_cache c;
	struct cached *list = NULL;
	size_t n = 0;
	char base[PATH_MAX];
	int ret;

	memset(st, 0, sizeof(*st));
	ret = image_cache_dir(dir, base, sizeof(base));
	if (ret)
		return ret;
	if ((size_t)snprintf(c.dir, sizeof(c.dir), "%s/%s", base, BLOBS_SUBDIR) >= sizeof(c.dir))
		return err_set(ENAMETOOLONG, "the cache directory's path is too long");
	{
		static const char *const algorithms[] = {"sha256", "sha512"};

		for (size_t i = 0; !ret && i < ARRAY_SIZE(algorithms); i++) {
			char sub[PATH_MAX + 16];

			snprintf(sub, sizeof(sub), "%s/%s", c.dir, algorithms[i]);
			ret = list_dir(sub, &list, &n);
		}
	}
	if (!ret) {
		qsort(list, n, sizeof(*list), used_cmp);
		for (size_t i = 0; i < n; i++)
			st->bytes += list[i].size;
		st->blobs = n;
		for (size_t i = 0; i < n && st->bytes > max_bytes; i++) {
			if (unlink(list[i].path))
				continue;
			st->bytes -= list[i].size;
			st->blobs--;
			st->removed++;
			st->removed_bytes += list[i].size;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(list[i].path);
	free(list);
	return ret;
}
