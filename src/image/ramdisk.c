// SPDX-License-Identifier: MIT
/*
 * The customer ramdisk of an unpacked image, nitro-cli's layout: rootfs/ holding the image, and beside it the
 * files the enclave init reads, cmd and env (and for nitrovm's init, cwd and user).  A newc cpio, sorted by
 * name in byte order like every ramdisk nitrovm packs (eif/cpio.h), produced as a stream: headers are made
 * as they are reached and file contents are read from the spool, so the archive is never in memory.  Its
 * exact size is known before the first byte, as the EIF header needs it.
 *
 * Owners, modes and times are the image's.  Hard links stay hard links: the names of one file share an inode
 * number and the contents go with the last of them, the convention of GNU cpio that the kernel's unpacker
 * also follows.  Entries nitrovm adds have uid/gid 0 and mtime SOURCE_DATE_EPOCH (0 when unset).
 *
 * Before that, what linuxkit does to every image nitro-cli packs, where it matters in an enclave: files
 * Docker adds to exported containers go (.dockerenv, /Dockerfile, dev/console, dev/pts, dev/shm,
 * etc/hostname), etc/hosts and etc/resolv.conf get linuxkit's contents, and dev, dev/pts, dev/shm, etc,
 * proc, sys and the etc/mtab -> /proc/mounts link exist; plus nitro-cli's own dev, run, sys, var, proc and
 * tmp, and the working directory when the container's rules apply (Docker makes it at start).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/grow.h"
#include "eif/cpio.h"
#include "internal.h"
#include "spool.h"
#include "tree.h"

/* What nitrovm's init reads besides cmd and env (guest/init/README.md). */
#define RD_CMD	"cmd"
#define RD_ENV	"env"
#define RD_CWD	"cwd"
#define RD_USER "user"
#define RD_ROOT TREE_ROOT_PREFIX

/* newc keeps a directory's nlink, which no unpacker reads: 2, what a fresh mkdir has (as eif/cpio.c). */
#define RD_DIR_NLINK 2

static const char *const linuxkit_excluded[] = {
	".dockerenv", "Dockerfile", "dev/console", "dev/pts", "dev/shm", "etc/hostname",
};

static const char linuxkit_hosts[] = "127.0.0.1       localhost\n"
				     "::1     localhost ip6-localhost ip6-loopback\n"
				     "fe00::0 ip6-localnet\n"
				     "ff00::0 ip6-mcastprefix\n"
				     "ff02::1 ip6-allnodes\n"
				     "ff02::2 ip6-allrouters\n";
static const char linuxkit_resolv[] = "\n# no resolv.conf configured\n";

/* linuxkit's directories, then nitro-cli's (its customer ramdisk template). */
static const char *const required_dirs[] = {
	"dev", "dev/pts", "dev/shm", "etc", "proc", "sys", "run", "var", "tmp",
};

struct rd_entry {
	char *name;
	struct tree_node *node; /* NULL: a file nitrovm adds */
	const char *data;	/* its contents */
	size_t len;
	uint32_t ino;
	bool data_here; /* a regular file's contents go with this name */
};

struct image_ramdisk {
	struct image *img;
	struct rd_entry *e;
	size_t n, cap;
	char *files[4];
	uint32_t mtime;
	uint64_t size;
	/* where the reader is */
	size_t cur;
	uint8_t hdr[CPIO_NEWC_HEADER_SIZE + CPIO_MAX_NAME + 1 + 4];
	size_t hdr_len, hdr_pos;
	uint64_t data_len, data_pos, data_size;
};

/* ---- the tree's last changes ---- */

static int replace_file(struct image *img, const char *path, const char *content, uint16_t layer)
{
	struct tree_node *old = tree_lookup(img->tree, path, false);
	struct tree_attr a = {S_IFREG | 0644, 0, 0, img->tree->default_mtime, layer};
	uint64_t off = img->spool->size;
	int ret;

	if (old && S_ISREG(old->mode)) {
		a.mode = old->mode;
		a.uid = old->uid;
		a.gid = old->gid;
	}
	ret = spool_write(img->spool, content, strlen(content));
	return ret ? ret : tree_put_file(img->tree, path, &a, off, strlen(content));
}

static int ensure_dir(struct image *img, const char *path, uint16_t layer)
{
	struct tree_attr a = {S_IFDIR | 0755, 0, 0, img->tree->default_mtime, layer};

	if (tree_lookup(img->tree, path, false))
		return 0; /* whatever the image has there (a dir, a symlink like var/run) stays */
	return tree_put_dir(img->tree, path, &a);
}

static int finish_tree(struct image *img, const struct image_run *run)
{
	uint16_t layer = (uint16_t)(img->plan.nlayers + 1);
	struct tree_attr link = {S_IFLNK | 0777, 0, 0, img->tree->default_mtime, layer};
	int ret = 0;

	for (size_t i = 0; !ret && i < ARRAY_SIZE(linuxkit_excluded); i++)
		ret = tree_remove(img->tree, linuxkit_excluded[i]);
	for (size_t i = 0; !ret && i < ARRAY_SIZE(required_dirs); i++)
		ret = ensure_dir(img, required_dirs[i], layer);
	if (!ret)
		ret = replace_file(img, "etc/hosts", linuxkit_hosts, layer);
	if (!ret)
		ret = replace_file(img, "etc/resolv.conf", linuxkit_resolv, layer);
	if (!ret && !tree_lookup(img->tree, "etc/mtab", false))
		ret = tree_put_symlink(img->tree, "etc/mtab", &link, "/proc/mounts");
	if (!ret && run->container && strcmp(run->cwd, "/"))
		ret = tree_mkdir_p(img->tree, run->cwd + 1, layer);
	if (ret)
		return err_wrap(-ret, "preparing the image's root filesystem");
	img->finished = true;
	return 0;
}

/* ---- the entry list ---- */

static int add_entry(struct image_ramdisk *rd, const char *name, struct tree_node *node, const char *data,
		     size_t len)
{
	struct rd_entry *e;

	e = grow_array(rd->e, &rd->cap, rd->n + 1, sizeof(*e), 1024);
	if (!e)
		return err_set(ENOMEM, "out of memory listing the ramdisk's entries");
	rd->e = e;
	e = &rd->e[rd->n];
	memset(e, 0, sizeof(*e));
	e->name = strdup(name);
	if (!e->name)
		return err_set(ENOMEM, "out of memory listing the ramdisk's entries");
	e->node = node;
	e->data = data;
	e->len = len;
	rd->n++;
	return 0;
}

static int add_node(struct tree_node *n, void *arg)
{
	struct image_ramdisk *rd = arg;
	char name[sizeof(RD_ROOT) + TREE_MAX_PATH + 1];
	size_t pl = sizeof(RD_ROOT) - 1;

	memcpy(name, RD_ROOT, pl);
	if (n->parent != n) {
		name[pl] = '/';
		tree_path(n, name + pl + 1);
	} else {
		name[pl] = '\0';
	}
	return add_entry(rd, name, n, NULL, 0);
}

static char *user_line(const struct image_run *run, size_t *len)
{
	size_t cap = 24 * (run->ngroups + 2) + 2, n;
	char *s = malloc(cap);

	if (!s)
		return NULL;
	n = (size_t)snprintf(s, cap, "%u %u", run->uid, run->gid);
	for (size_t i = 0; i < run->ngroups; i++)
		n += (size_t)snprintf(s + n, cap - n, " %u", run->groups[i]);
	n += (size_t)snprintf(s + n, cap - n, "\n");
	*len = n;
	return s;
}

static int add_files(struct image_ramdisk *rd, const struct image_run *run)
{
	const char *names[4] = {RD_CMD, RD_ENV, RD_CWD, RD_USER};
	size_t len[4] = {0}, count = run->container ? 4 : 2;
	int ret = 0;

	rd->files[0] = strv_join_lines((const char *const *)run->argv.v, run->argv.n, &len[0]);
	rd->files[1] = strv_join_lines((const char *const *)run->env.v, run->env.n, &len[1]);
	if (run->container) {
		len[2] = strlen(run->cwd) + 1;
		rd->files[2] = malloc(len[2] + 1);
		if (rd->files[2])
			snprintf(rd->files[2], len[2] + 1, "%s\n", run->cwd);
		rd->files[3] = user_line(run, &len[3]);
	}
	for (size_t i = 0; i < count; i++)
		if (!rd->files[i])
			return err_set(ENOMEM, "out of memory");
	for (size_t i = 0; !ret && i < count; i++)
		ret = add_entry(rd, names[i], NULL, rd->files[i], len[i]);
	return ret;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rd_entry *)a)->name, ((const struct rd_entry *)b)->name);
}

static uint64_t data_size(const struct rd_entry *e)
{
	if (!e->node)
		return e->len;
	if (S_ISLNK(e->node->mode))
		return strlen(e->node->target);
	if (S_ISREG(e->node->mode) && e->data_here)
		return e->node->inode->size;
	return 0;
}

/* Inode numbers in output order (shared by hard links), which name carries the contents, the total size. */
static int number_entries(struct image_ramdisk *rd)
{
	uint32_t next = 1;
	uint64_t total = 0;

	if (rd->n >= UINT32_MAX - 1)
		return err_set(EOVERFLOW, "too many entries for a newc archive");
	for (size_t i = 0; i < rd->n; i++) {
		struct rd_entry *e = &rd->e[i];
		struct tree_inode *ino = e->node && S_ISREG(e->node->mode) ? e->node->inode : NULL;

		if (ino && ino->names > 1) {
			if (!ino->ino)
				ino->ino = next++;
			e->ino = ino->ino;
			e->data_here = ++ino->emitted == ino->names;
		} else {
			e->ino = next++;
			e->data_here = true;
		}
		total += cpio_newc_header_size(strlen(e->name)) + ((data_size(e) + 3) & ~3ULL);
	}
	rd->size = total + cpio_newc_header_size(strlen(CPIO_TRAILER_NAME));
	return 0;
}

int image_ramdisk_open(struct image *img, const struct image_run *run, struct image_ramdisk **out,
		       uint64_t *size)
{
	struct image_ramdisk *rd;
	int ret;

	if (!img->unpacked || img->finished)
		return err_set(EINVAL, "the ramdisk needs an image unpacked once");
	rd = calloc(1, sizeof(*rd));
	if (!rd)
		return err_set(ENOMEM, "out of memory");
	rd->img = img;
	rd->mtime = img->tree->default_mtime;
	ret = finish_tree(img, run);
	if (!ret)
		ret = tree_walk(img->tree, add_node, rd);
	if (!ret)
		ret = add_files(rd, run);
	if (!ret) {
		qsort(rd->e, rd->n, sizeof(*rd->e), entry_cmp);
		ret = number_entries(rd);
	}
	if (ret) {
		image_ramdisk_close(rd);
		return ret;
	}
	image_ramdisk_rewind(rd);
	*size = rd->size;
	*out = rd;
	return 0;
}

/* ---- reading ---- */

static void start_entry(struct image_ramdisk *rd)
{
	struct cpio_newc_fields f = {.nlink = 1, .mtime = rd->mtime, .mode = S_IFREG | 0644};
	const struct rd_entry *e;

	if (rd->cur == rd->n) {
		rd->hdr_len = cpio_newc_trailer(rd->hdr);
		rd->data_size = rd->data_len = 0;
		goto out;
	}
	e = &rd->e[rd->cur];
	f.ino = e->ino;
	if (e->node) {
		const struct tree_node *n = e->node;

		f.mode = n->mode;
		f.uid = n->uid;
		f.gid = n->gid;
		f.mtime = n->mtime;
		f.nlink = S_ISDIR(n->mode) ? RD_DIR_NLINK : S_ISREG(n->mode) ? n->inode->names : 1;
		if (S_ISCHR(n->mode) || S_ISBLK(n->mode)) {
			f.rmajor = n->rdev.major;
			f.rminor = n->rdev.minor;
		}
	}
	rd->data_size = data_size(e);
	rd->data_len = (rd->data_size + 3) & ~3ULL;
	f.size = (uint32_t)rd->data_size;
	rd->hdr_len = cpio_newc_header(rd->hdr, &f, e->name);
out:
	rd->hdr_pos = 0;
	rd->data_pos = 0;
}

/* Up to len bytes of the current entry's data (contents, then the padding). */
static int read_data(struct image_ramdisk *rd, uint8_t *buf, size_t len, size_t *got)
{
	const struct rd_entry *e = &rd->e[rd->cur];
	uint64_t pos = rd->data_pos;
	size_t n;

	if (pos >= rd->data_size) {
		n = (size_t)MIN(len, rd->data_len - pos);
		memset(buf, 0, n);
		*got = n;
		return 0;
	}
	n = (size_t)MIN(len, rd->data_size - pos);
	*got = n;
	if (!e->node) {
		memcpy(buf, e->data + pos, n);
		return 0;
	}
	if (S_ISLNK(e->node->mode)) {
		memcpy(buf, e->node->target + pos, n);
		return 0;
	}
	return spool_read(rd->img->spool, e->node->inode->data_off + pos, buf, n);
}

int image_ramdisk_read(void *arg, uint8_t *buf, size_t len)
{
	struct image_ramdisk *rd = arg;

	while (len) {
		size_t n;
		int ret;

		if (rd->hdr_pos < rd->hdr_len) {
			n = MIN(len, rd->hdr_len - rd->hdr_pos);
			memcpy(buf, rd->hdr + rd->hdr_pos, n);
			rd->hdr_pos += n;
		} else if (rd->data_pos < rd->data_len) {
			ret = read_data(rd, buf, len, &n);
			if (ret)
				return ret;
			rd->data_pos += n;
		} else {
			if (rd->cur >= rd->n)
				return err_set(EIO, "read past the end of the ramdisk");
			rd->cur++;
			start_entry(rd);
			continue;
		}
		buf += n;
		len -= n;
	}
	return 0;
}

int image_ramdisk_rewind(void *arg)
{
	struct image_ramdisk *rd = arg;

	rd->cur = 0;
	if (rd->n)
		start_entry(rd);
	return 0;
}

void image_ramdisk_close(struct image_ramdisk *rd)
{
	if (!rd)
		return;
	for (size_t i = 0; i < rd->n; i++)
		free(rd->e[i].name);
	free(rd->e);
	for (size_t i = 0; i < ARRAY_SIZE(rd->files); i++)
		free(rd->files[i]);
	free(rd);
}
