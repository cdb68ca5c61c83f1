// SPDX-License-Identifier: MIT
/*
 * One layer onto the tree: a tar stream, maybe gzip- or zstd-compressed, read from a blob region in bounded
 * pieces.  Two libarchive readers are stacked so that both digests are checked on the way: the first
 * decompresses (format "raw") while the blob digest is computed over what it reads; the second parses the tar
 * from what the first produces while the diff_id (the digest of the uncompressed tar) is computed over that.
 * File contents go to the spool as they arrive; nothing of the layer is held whole.
 *
 * Entries follow the OCI layer rules (tree.h): ".wh.NAME" hides NAME of the layers below, ".wh..wh..opq"
 * everything below its directory, ".wh..wh.*" is aufs bookkeeping and skipped, hard links share contents.
 * Absolute names and ".." are refused; sockets are skipped (they mean nothing outside the process that bound
 * them); extended attributes are dropped (a newc archive cannot carry them).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eif/cpio.h"
#include "internal.h"
#include "libs.h"
#include "spool.h"
#include "tree.h"

/* Bytes read from the blob at a time: large enough that syscalls and hashing calls are cheap per byte. */
#define LAYER_READ_CHUNK (256 * KiB)

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_META	".wh..wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"

struct layer_ctx {
	const struct layer_input *in;
	struct archive *raw, *tar;
	struct image_verifier blob, diff;
	uint64_t pos;	      /* next offset in the region */
	uint8_t *rbuf, *tbuf; /* read buffers of the two stages */
	bool raw_eof;
	struct tree *t;
	struct spool *s;
	uint16_t layer;
	struct layer_stats *st;
	bool damaged; /* libarchive could not read it: maybe because it is not the blob it should be */
};

/* Stage 1's input: the blob, hashed as it is read. */
static la_ssize_t read_blob(struct archive *a, void *arg, const void **buf)
{
	struct layer_ctx *c = arg;
	const struct blob_region *r = c->in->region;
	size_t n = (size_t)MIN((uint64_t)LAYER_READ_CHUNK, r->size - c->pos);
	ssize_t got;

	if (!n)
		return 0;
	do
		got = pread(r->fd, c->rbuf, n, (off_t)(r->offset + c->pos));
	while (got < 0 && errno == EINTR);
	if (got <= 0) {
		archive_set_error(a, got ? errno : EIO, "cannot read the blob: %s",
				  got ? strerror(errno) : "it ends early");
		return -1;
	}
	image_verifier_update(&c->blob, c->rbuf, (size_t)got);
	c->pos += (uint64_t)got;
	if (c->in->progress && c->in->progress->advance)
		c->in->progress->advance(c->in->progress->ctx, c->pos);
	*buf = c->rbuf;
	return got;
}

/* Stage 2's input: the uncompressed tar, hashed for the diff_id. */
static la_ssize_t read_tar(struct archive *a, void *arg, const void **buf)
{
	struct layer_ctx *c = arg;
	la_ssize_t n;

	(void)a;
	if (c->raw_eof)
		return 0;
	n = archive_read_data(c->raw, c->tbuf, LAYER_READ_CHUNK);
	if (n < 0) {
		archive_set_error(a, archive_errno(c->raw), "%s", archive_error_string(c->raw));
		return -1;
	}
	if (!n)
		c->raw_eof = true;
	image_verifier_update(&c->diff, c->tbuf, (size_t)n);
	*buf = c->tbuf;
	return n;
}

static int archive_fail(struct layer_ctx *c, struct archive *a, const char *doing)
{
	const char *msg = archive_error_string(a);

	c->damaged = true;
	return err_set(EINVAL, "it is damaged: %s: %s", doing, msg ? msg : "unknown error");
}

static int expected_filter(enum layer_compression comp, int code)
{
	switch (comp) {
	case LAYER_TAR:
		return code == ARCHIVE_FILTER_NONE;
	case LAYER_GZIP:
		return code == ARCHIVE_FILTER_GZIP;
	case LAYER_ZSTD:
		return code == ARCHIVE_FILTER_ZSTD;
	default:
		return code == ARCHIVE_FILTER_NONE || code == ARCHIVE_FILTER_GZIP ||
		       code == ARCHIVE_FILTER_ZSTD;
	}
}

static int open_stages(struct layer_ctx *c)
{
	struct archive_entry *e;
	int code;

	c->raw = archive_read_new();
	c->tar = archive_read_new();
	if (!c->raw || !c->tar)
		return err_set(ENOMEM, "out of memory");
	archive_read_support_format_raw(c->raw);
	if (c->in->compression == LAYER_GZIP || c->in->compression == LAYER_DETECT)
		archive_read_support_filter_gzip(c->raw);
	if (c->in->compression == LAYER_ZSTD || c->in->compression == LAYER_DETECT)
		archive_read_support_filter_zstd(c->raw);
	if (archive_read_open(c->raw, c, NULL, read_blob, NULL) != ARCHIVE_OK ||
	    archive_read_next_header(c->raw, &e) != ARCHIVE_OK)
		return archive_fail(c, c->raw, "cannot read it");
	code = archive_filter_code(c->raw, 0);
	if (!expected_filter(c->in->compression, code))
		return err_set(EINVAL, "it is not %s as its media type says (it is %s)",
			       layer_compression_name(c->in->compression),
			       code == ARCHIVE_FILTER_NONE ? "not compressed"
							   : archive_filter_name(c->raw, 0));
	archive_read_support_format_tar(c->tar);
	if (archive_read_open(c->tar, c, NULL, read_tar, NULL) != ARCHIVE_OK)
		return archive_fail(c, c->tar, "not a tar archive");
	return 0;
}

static int check_ids(struct layer_ctx *c, struct archive_entry *e, const char *path, struct tree_attr *a)
{
	la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
	time_t mtime = archive_entry_mtime(e);

	/* newc headers hold 32-bit owners and times. */
	if (uid < 0 || gid < 0 || uid > UINT32_MAX || gid > UINT32_MAX)
		return err_set(EINVAL, "'%.256s' has owner %lld:%lld, outside what a ramdisk can hold", path,
			       (long long)uid, (long long)gid);
	a->uid = (uint32_t)uid;
	a->gid = (uint32_t)gid;
	a->mtime = mtime < 0 ? 0 : mtime > (time_t)UINT32_MAX ? UINT32_MAX : (uint32_t)mtime;
	a->mode = archive_entry_perm(e) & 07777;
	a->layer = c->layer;
	return 0;
}

/* Copy the entry's data to the spool; sparse files get their holes as holes. */
static int spool_entry(struct layer_ctx *c, const char *path, uint64_t size, uint64_t *off)
{
	uint64_t written = 0;
	const void *buf;
	size_t len;
	la_int64_t at;
	int r, ret;

	*off = c->s->size;
	while ((r = archive_read_data_block(c->tar, &buf, &len, &at)) == ARCHIVE_OK) {
		if (at < 0 || (uint64_t)at < written || (uint64_t)at > size || len > size - (uint64_t)at)
			return err_set(EINVAL, "'%.256s' has data outside its size", path);
		if ((uint64_t)at > written) {
			ret = spool_skip(c->s, (uint64_t)at - written);
			if (ret)
				return ret;
			written = (uint64_t)at;
		}
		ret = spool_write(c->s, buf, len);
		if (ret)
			return ret;
		written += len;
	}
	if (r != ARCHIVE_EOF)
		return archive_fail(c, c->tar, path);
	if (written < size)
		return spool_skip(c->s, size - written);
	return 0;
}

static int add_file(struct layer_ctx *c, struct archive_entry *e, const char *path, struct tree_attr *a)
{
	la_int64_t size = archive_entry_size(e);
	uint64_t off;
	int ret;

	if (size < 0 || (uint64_t)size > CPIO_MAX_FILE_SIZE)
		return err_set(EFBIG, "'%.256s' is %lld bytes; a ramdisk holds files of at most %llu bytes",
			       path, (long long)size, CPIO_MAX_FILE_SIZE);
	if (c->s->size + (uint64_t)size > IMAGE_MAX_UNPACKED)
		return err_set(EFBIG,
			       "the unpacked image grows past %llu bytes, more than an enclave can hold",
			       IMAGE_MAX_UNPACKED);
	ret = spool_entry(c, path, (uint64_t)size, &off);
	if (ret)
		return ret;
	a->mode |= S_IFREG;
	c->st->files++;
	c->st->file_bytes += (uint64_t)size;
	return tree_put_file(c->t, path, a, off, (uint64_t)size);
}

static int whiteout(struct layer_ctx *c, const char *path, const char *base)
{
	char victim[TREE_MAX_PATH + 1];
	size_t dirlen = (size_t)(base - path);
	const char *name = base + strlen(WHITEOUT_PREFIX);

	if (!strcmp(base, WHITEOUT_OPAQUE)) {
		memcpy(victim, path, dirlen);
		victim[dirlen ? dirlen - 1 : 0] = '\0';
		return tree_opaque(c->t, victim, c->layer);
	}
	if (!strncmp(base, WHITEOUT_META, strlen(WHITEOUT_META)))
		return 0;
	if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
		return err_set(EINVAL, "the whiteout '%.256s' names no file", path);
	memcpy(victim, path, dirlen);
	strcpy(victim + dirlen, name);
	return tree_whiteout(c->t, victim, c->layer);
}

static int add_entry(struct layer_ctx *c, struct archive_entry *e)
{
	const char *name = archive_entry_pathname(e), *hard = archive_entry_hardlink(e), *base;
	char path[TREE_MAX_PATH + 1], target[TREE_MAX_PATH + 1];
	struct tree_attr a;
	int ret;

	if (!name)
		return err_set(EINVAL, "an entry has no name");
	ret = tree_normalize_path(name, path);
	if (!ret)
		ret = check_ids(c, e, path, &a);
	if (ret)
		return ret;
	c->st->entries++;
	base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	if (!strncmp(base, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)))
		return whiteout(c, path, base);
	if (hard) {
		ret = tree_normalize_path(hard, target);
		return ret ? ret : tree_put_link(c->t, path, target, c->layer);
	}
	switch (archive_entry_filetype(e)) {
	case AE_IFREG:
		return add_file(c, e, path, &a);
	case AE_IFDIR:
		a.mode |= S_IFDIR;
		return tree_put_dir(c->t, path, &a);
	case AE_IFLNK:
		a.mode = S_IFLNK | 0777;
		if (!archive_entry_symlink(e))
			return err_set(EINVAL, "symlink '%.256s' has no target", path);
		return tree_put_symlink(c->t, path, &a, archive_entry_symlink(e));
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
		a.mode |= archive_entry_filetype(e);
		return tree_put_node(c->t, path, &a, (uint32_t)archive_entry_rdevmajor(e),
				     (uint32_t)archive_entry_rdevminor(e));
	case AE_IFSOCK:
		return 0;
	default:
		return err_set(EINVAL, "'%.256s' has an unknown file type (0%o)", path,
			       archive_entry_filetype(e));
	}
}

static int apply_entries(struct layer_ctx *c)
{
	struct archive_entry *e;
	int r;

	while ((r = archive_read_next_header(c->tar, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		int ret = add_entry(c, e);

		if (ret)
			return ret;
	}
	if (r != ARCHIVE_EOF)
		return archive_fail(c, c->tar, "reading its entries");
	return 0;
}

/* After the tar's end: the rest of the uncompressed stream and of the blob still count for the digests. */
static int drain(struct layer_ctx *c)
{
	const struct blob_region *r = c->in->region;
	const void *buf;

	while (!c->raw_eof) {
		la_ssize_t n = read_tar(c->tar, c, &buf);

		if (n < 0)
			return archive_fail(c, c->raw, "after its end");
	}
	while (c->pos < r->size) {
		if (read_blob(c->raw, c, &buf) < 0)
			return archive_fail(c, c->raw, "reading the blob");
	}
	return 0;
}

/*
 * libarchive gave up on the layer: when its digest is known, hash the rest of the blob, so that a layer that
 * is not the one the manifest names is reported as that rather than as damaged.
 */
static int blame_digest(struct layer_ctx *c, int ret)
{
	const void *buf;

	if (!c->damaged || !c->in->blob_digest)
		return ret;
	while (c->pos < c->in->region->size)
		if (read_blob(c->raw, c, &buf) < 0)
			return ret;
	if (image_verifier_finish(&c->blob, c->in->what))
		return -EBADMSG;
	return ret;
}

int layer_apply(struct tree *t, struct spool *s, uint16_t layer, const struct layer_input *in,
		struct layer_stats *st)
{
	struct layer_ctx c = {.in = in, .t = t, .s = s, .layer = layer, .st = st};
	char what[128];
	int ret;

	memset(st, 0, sizeof(*st));
	ret = image_libs_archive();
	if (ret)
		return ret;
	c.rbuf = malloc(LAYER_READ_CHUNK);
	c.tbuf = malloc(LAYER_READ_CHUNK);
	ret = c.rbuf && c.tbuf ? 0 : err_set(ENOMEM, "out of memory");
	if (!ret)
		ret = image_verifier_init(&c.blob, in->blob_digest);
	if (!ret)
		ret = image_verifier_init(&c.diff, in->diff_id);
	if (!ret)
		ret = open_stages(&c);
	if (!ret)
		ret = apply_entries(&c);
	if (!ret)
		ret = drain(&c);
	if (ret && ret != -ENOSPC && ret != -EDQUOT && ret != -EBADMSG) {
		ret = err_wrap(-ret, "%s", in->what);
		ret = blame_digest(&c, ret);
	}
	if (!ret) {
		snprintf(what, sizeof(what), "%s (compressed)", in->what);
		ret = image_verifier_finish(&c.blob, what);
	}
	if (!ret) {
		snprintf(what, sizeof(what), "%s uncompressed (its diff_id)", in->what);
		ret = image_verifier_finish(&c.diff, what);
	}
	image_verifier_free(&c.blob);
	image_verifier_free(&c.diff);
	if (c.tar)
		archive_read_free(c.tar);
	if (c.raw)
		archive_read_free(c.raw);
	free(c.rbuf);
	free(c.tbuf);
	return ret;
}
