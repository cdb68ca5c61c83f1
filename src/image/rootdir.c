// SPDX-License-Identifier: MIT
/*
 * An unpacked root filesystem on this host as an image (image.h, image_open_rootdir): what a container engine
 * mounted as a container's root.path.  Its entries are read the way a layer's are applied, into the same path
 * index, so that the customer ramdisk comes out of the same packer with the same rules (ramdisk.c): owners,
 * modes and times as they are, hard links kept, symlinks never followed, sockets skipped, and file contents
 * copied into the spool, so that a file changed or removed after this point cannot change the ramdisk halfway.
 *
 * The directory is not trusted more than a layer is: paths and sizes go through the tree's checks, and a
 * directory on another file system (something mounted into the root) is not entered.
 */
#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/grow.h"
#include "internal.h"
#include "spool.h"
#include "tree.h"

/* File contents go to the spool in pieces of this size (as layers do). */
#define ROOTDIR_COPY_CHUNK (256 * 1024)
/* The one "layer" a directory is: whiteouts never apply, so any number above 0 will do. */
#define ROOTDIR_LAYER 1
/* /etc/passwd is read whole to find a home directory: a few KiB on any real system. */
#define ROOTDIR_PASSWD_MAX (1024 * 1024)

/* Hard links: the first name of each (device, inode) that has more than one. */
struct link_seen {
	dev_t dev;
	ino_t ino;
	char *path;
};

struct walk {
	struct image *img;
	const char *root;
	size_t root_len;
	dev_t root_dev;
	struct link_seen *links;
	size_t nlinks, cap;
	uint8_t *buf;
};

static uint32_t clamp_time(time_t t)
{
	return t < 0 ? 0 : t > (time_t)UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

static struct tree_attr attr_of(const struct stat *st)
{
	return (struct tree_attr){ .mode = st->st_mode & (S_IFMT | 07777), .uid = st->st_uid, .gid = st->st_gid,
				   .mtime = clamp_time(st->st_mtime), .layer = ROOTDIR_LAYER };
}

static const char *link_first(struct walk *w, const struct stat *st)
{
	for (size_t i = 0; i < w->nlinks; i++)
		if (w->links[i].dev == st->st_dev && w->links[i].ino == st->st_ino)
			return w->links[i].path;
	return NULL;
}

static int link_note(struct walk *w, const struct stat *st, const char *path)
{
	struct link_seen *l = grow_array(w->links, &w->cap, w->nlinks + 1, sizeof(*l), 64);

	if (!l)
		return err_set(ENOMEM, "out of memory");
	w->links = l;
	w->links[w->nlinks].path = strdup(path);
	if (!w->links[w->nlinks].path)
		return err_set(ENOMEM, "out of memory");
	w->links[w->nlinks].dev = st->st_dev;
	w->links[w->nlinks++].ino = st->st_ino;
	return 0;
}

/* Copy the file at full into the spool; its size is what was read, whatever stat said a moment before. */
static int copy_file(struct walk *w, const char *full, const char *path, const struct stat *st)
{
	struct spool *sp = w->img->spool;
	uint64_t off = sp->size, size = 0;
	struct tree_attr a = attr_of(st);
	int fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	int ret = 0;

	if (fd < 0)
		return err_set(errno, "cannot read /%s of the root filesystem: %s", path, strerror(errno));
	for (;;) {
		ssize_t n = read(fd, w->buf, ROOTDIR_COPY_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = err_set(errno, "cannot read /%s of the root filesystem: %s", path, strerror(errno));
			break;
		}
		if (!n)
			break;
		ret = spool_write(sp, w->buf, (size_t)n);
		if (ret)
			break;
		size += (uint64_t)n;
	}
	close(fd);
	if (!ret)
		ret = tree_put_file(w->img->tree, path, &a, off, size);
	if (!ret)
		w->img->file_bytes += size;
	return ret;
}

static int put_symlink(struct walk *w, const char *full, const char *path, const struct stat *st)
{
	char target[TREE_MAX_PATH + 1];
	struct tree_attr a = attr_of(st);
	ssize_t n = readlink(full, target, sizeof(target));

	if (n < 0)
		return err_set(errno, "cannot read the symlink /%s: %s", path, strerror(errno));
	if ((size_t)n >= sizeof(target))
		return err_set(ENAMETOOLONG, "the symlink /%.256s points to a path that is too long", path);
	target[n] = '\0';
	return tree_put_symlink(w->img->tree, path, &a, target);
}

static int put_entry(struct walk *w, FTSENT *e, const char *path)
{
	const struct stat *st = e->fts_statp;
	struct tree_attr a = attr_of(st);
	const char *first;

	if (S_ISDIR(st->st_mode))
		return tree_put_dir(w->img->tree, path, &a);
	if (S_ISLNK(st->st_mode))
		return put_symlink(w, e->fts_accpath, path, st);
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) || S_ISFIFO(st->st_mode))
		return tree_put_node(w->img->tree, path, &a, major(st->st_rdev), minor(st->st_rdev));
	if (!S_ISREG(st->st_mode))
		return 0; /* sockets: a ramdisk cannot carry them, as a layer's */
	if (st->st_nlink > 1 && (first = link_first(w, st)))
		return tree_put_link(w->img->tree, path, first, ROOTDIR_LAYER);
	if (st->st_nlink > 1 && link_note(w, st, path))
		return -ENOMEM;
	return copy_file(w, e->fts_accpath, path, st);
}

static int walk_entry(struct walk *w, FTS *fts, FTSENT *e)
{
	char path[TREE_MAX_PATH + 1];
	const char *rel = e->fts_path + w->root_len;

	switch (e->fts_info) {
	case FTS_DP:
		return 0;
	case FTS_DNR:
	case FTS_ERR:
	case FTS_NS:
		return err_set(e->fts_errno, "cannot read %s: %s", e->fts_path, strerror(e->fts_errno));
	default:
		break;
	}
	while (*rel == '/')
		rel++;
	if (tree_normalize_path(rel, path))
		return err_wrap(EINVAL, "the root filesystem has an entry nitrovm cannot pack");
	if (e->fts_level > 0 && S_ISDIR(e->fts_statp->st_mode) && e->fts_statp->st_dev != w->root_dev) {
		fts_set(fts, e, FTS_SKIP); /* something mounted into the root: not the container's files */
		return 0;
	}
	return put_entry(w, e, path);
}

static int walk_root(struct walk *w)
{
	char *const roots[] = { (char *)w->root, NULL };
	FTS *fts = fts_open(roots, FTS_PHYSICAL | FTS_NOCHDIR, NULL);
	int ret = 0;

	if (!fts)
		return err_set(errno, "cannot read the root filesystem %s: %s", w->root, strerror(errno));
	while (!ret) {
		FTSENT *e;

		errno = 0;
		e = fts_read(fts);
		if (!e) {
			if (errno)
				ret = err_set(errno, "cannot read the root filesystem %s: %s", w->root, strerror(errno));
			break;
		}
		ret = walk_entry(w, fts, e);
	}
	fts_close(fts);
	return ret;
}

static int read_rootdir(struct image *img, const char *dir)
{
	struct walk w = { .img = img, .root = dir, .root_len = strlen(dir) };
	struct stat st;
	int ret;

	if (stat(dir, &st))
		return err_set(errno, "the root filesystem %s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return err_set(ENOTDIR, "the root filesystem %s is not a directory", dir);
	w.root_dev = st.st_dev;
	w.buf = malloc(ROOTDIR_COPY_CHUNK);
	if (!w.buf)
		return err_set(ENOMEM, "out of memory");
	ret = spool_open(img->spool, img->opts.work_dir ? img->opts.work_dir : ".");
	if (!ret)
		ret = walk_root(&w);
	for (size_t i = 0; i < w.nlinks; i++)
		free(w.links[i].path);
	free(w.links);
	free(w.buf);
	return ret;
}

int image_open_rootdir(const char *dir, const struct image_options *o, struct image **out)
{
	struct image *img;
	int ret = image_alloc(o, &img);

	if (ret)
		return ret;
	snprintf(img->arch, sizeof(img->arch), "%s", o->arch ? o->arch : image_host_arch());
	ret = read_rootdir(img, dir);
	if (ret) {
		image_close(img);
		return ret;
	}
	img->unpacked = true;
	*out = img;
	return 0;
}

int image_user_home(struct image *img, uint32_t uid, char *home, size_t len)
{
	char spec[16], *passwd = NULL;
	struct user_db db = { 0 };
	struct image_user u = { 0 };
	int ret = image_read_file(img, "etc/passwd", ROOTDIR_PASSWD_MAX, &passwd, &db.passwd_len);

	if (ret && ret != -ENOENT)
		return ret;
	db.passwd = passwd;
	snprintf(spec, sizeof(spec), "%u", uid);
	ret = image_user_resolve(spec, &db, &u);
	if (!ret)
		snprintf(home, len, "%s", u.home[0] ? u.home : "/");
	image_user_free(&u);
	free(passwd);
	return ret;
}
