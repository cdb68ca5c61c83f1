// SPDX-License-Identifier: MIT
/*
 * Deterministic "newc" cpio writer (see cpio.h for the rules it follows and why).
 *
 * newc entry: a 110-byte ASCII header (magic "070701" then 13 fields of 8 hex digits: ino, mode, uid, gid,
 * nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize (with the NUL), check), the name
 * and its NUL padded to a multiple of 4 bytes counting from the header's start, then the data padded to 4
 * bytes.  The archive ends with an entry named "TRAILER!!!".
 *
 * Entries are only collected until cpio_finish(): sorting then gives one order whatever order the caller or
 * readdir() produced them in, the exact archive size is known before a single allocation, and host files are
 * read straight into their place in the archive instead of being copied twice.
 */
#include "cpio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/grow.h"
#include "common/util.h"

#define CPIO_PERM_MASK 07777u
/* "." and the entry in its parent: what a fresh mkdir has, though no unpacker checks it. */
#define CPIO_DIR_NLINK 2

struct cpio_entry {
	char *name;
	uint32_t mode; /* type and permissions */
	uint32_t rmajor, rminor;
	uint64_t size;
	uint8_t *data;	 /* owned: hand-added file contents, symlink targets */
	char *host_path; /* a regular file from cpio_add_tree, read by cpio_finish */
	size_t seq;	 /* order of addition, so duplicates resolve the same way every time */
	bool implicit;	 /* an ancestor of a tree prefix that nobody asked for by name */
};

static size_t align4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

/* Record the first error and keep returning it. */
static int fail(struct cpio *c, int ret)
{
	if (!c->error)
		c->error = ret;
	return c->error;
}

void cpio_init(struct cpio *c)
{
	int ret;

	memset(c, 0, sizeof(*c));
	c->next_ino = 1;
	ret = source_date_epoch(&c->mtime);
	if (ret < 0)
		c->error = ret;
}

/* Archive names: relative, no empty, "." or ".." components, so every unpacker puts the entry where we meant.
 */
static int check_name(struct cpio *c, const char *name)
{
	size_t len = strlen(name);
	const char *p = name;

	if (!len)
		return fail(c, err_set(EINVAL, "a cpio entry needs a name"));
	if (len > CPIO_MAX_NAME)
		return fail(c, err_set(ENAMETOOLONG, "cpio entry name '%.64s...' is %zu bytes, more than %d",
				       name, len, CPIO_MAX_NAME));
	if (name[0] == '/')
		return fail(c, err_set(EINVAL,
				       "cpio entry name '%s' starts with '/'; names are relative to the "
				       "archive root",
				       name));
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return fail(c, err_set(EINVAL,
					       "cpio entry name '%s' has an empty, '.' or '..' component",
					       name));
		p += n;
		if (*p == '/' && !*++p)
			return fail(c, err_set(EINVAL, "cpio entry name '%s' ends with '/'", name));
	}
	return 0;
}

static struct cpio_entry *new_entry(struct cpio *c, const char *name, uint32_t mode)
{
	struct cpio_entry *e = grow_array(c->entries, &c->entries_cap, c->nentries + 1, sizeof(*e), 64);

	if (!e) {
		fail(c, err_set(ENOMEM, "out of memory collecting cpio entries"));
		return NULL;
	}
	c->entries = e;
	e = &c->entries[c->nentries];
	memset(e, 0, sizeof(*e));
	e->name = strdup(name);
	if (!e->name) {
		fail(c, err_set(ENOMEM, "out of memory collecting cpio entries"));
		return NULL;
	}
	e->mode = mode;
	e->seq = c->nentries++;
	return e;
}

/* Permission bits, with any type bits the caller passed required to be the expected type. */
static int entry_mode(struct cpio *c, const char *name, unsigned int mode, unsigned int type, uint32_t *out)
{
	if ((mode & S_IFMT) && (mode & S_IFMT) != type)
		return fail(c, err_set(EINVAL, "cpio entry '%s': mode 0%o is not of the type being added",
				       name, mode));
	if (mode & ~(unsigned int)(S_IFMT | CPIO_PERM_MASK))
		return fail(c,
			    err_set(EINVAL, "cpio entry '%s': mode 0%o has bits outside 07777", name, mode));
	*out = type | (mode & CPIO_PERM_MASK);
	return 0;
}

static int add_dir(struct cpio *c, const char *name, unsigned int mode, bool implicit)
{
	struct cpio_entry *e;
	uint32_t m;

	if (c->error)
		return c->error;
	if (check_name(c, name) || entry_mode(c, name, mode, S_IFDIR, &m))
		return c->error;
	e = new_entry(c, name, m);
	if (!e)
		return c->error;
	e->implicit = implicit;
	return 0;
}

int cpio_add_dir(struct cpio *c, const char *name, unsigned int mode)
{
	return add_dir(c, name, mode, false);
}

static int add_data(struct cpio *c, const char *name, uint32_t mode, const void *data, size_t len)
{
	struct cpio_entry *e;

	if ((uint64_t)len > CPIO_MAX_FILE_SIZE)
		return fail(c, err_set(EFBIG,
				       "cpio entry '%s' is %zu bytes; newc archives hold at most %llu bytes "
				       "per file",
				       name, len, CPIO_MAX_FILE_SIZE));
	e = new_entry(c, name, mode);
	if (!e)
		return c->error;
	e->size = len;
	if (len) {
		e->data = malloc(len);
		if (!e->data)
			return fail(c, err_set(ENOMEM, "out of memory for cpio entry '%s' (%zu bytes)", name,
					       len));
		memcpy(e->data, data, len);
	}
	return 0;
}

int cpio_add_file(struct cpio *c, const char *name, unsigned int mode, const void *data, size_t len)
{
	uint32_t m;

	if (c->error)
		return c->error;
	if (check_name(c, name) || entry_mode(c, name, mode, S_IFREG, &m))
		return c->error;
	return add_data(c, name, m, data, len);
}

int cpio_add_symlink(struct cpio *c, const char *name, const char *target)
{
	size_t len = strlen(target);

	if (c->error)
		return c->error;
	if (check_name(c, name))
		return c->error;
	if (!len || len > CPIO_MAX_NAME)
		return fail(c, err_set(EINVAL, "symlink '%s' needs a target of 1 to %d bytes", name,
				       CPIO_MAX_NAME));
	/* Symlinks are 0777 everywhere Linux creates them; the kernel ignores their mode. */
	return add_data(c, name, S_IFLNK | 0777, target, len);
}

int cpio_add_node(struct cpio *c, const char *name, unsigned int mode, unsigned int rmajor,
		  unsigned int rminor)
{
	unsigned int type = mode & S_IFMT;
	struct cpio_entry *e;

	if (c->error)
		return c->error;
	if (check_name(c, name))
		return c->error;
	if (type != S_IFCHR && type != S_IFBLK && type != S_IFIFO)
		return fail(c, err_set(EINVAL,
				       "cpio node '%s': mode 0%o is not a character device, block device "
				       "or fifo",
				       name, mode));
	if (mode & ~(unsigned int)(S_IFMT | CPIO_PERM_MASK))
		return fail(c,
			    err_set(EINVAL, "cpio entry '%s': mode 0%o has bits outside 07777", name, mode));
	if (type == S_IFIFO && (rmajor || rminor))
		return fail(c, err_set(EINVAL, "cpio fifo '%s' cannot have a device number", name));
	e = new_entry(c, name, mode);
	if (!e)
		return c->error;
	e->rmajor = rmajor;
	e->rminor = rminor;
	return 0;
}

/* ---- host trees ---- */

struct tree_walk {
	struct cpio *c;
	char host[PATH_MAX];
	char name[PATH_MAX];
};

static int walk_dir(struct tree_walk *w, size_t host_len, size_t name_len);

/* One directory entry: w->host and w->name hold its paths. */
static int walk_entry(struct tree_walk *w, size_t host_len, size_t name_len)
{
	struct cpio *c = w->c;
	struct cpio_entry *e;
	struct stat st;

	if (lstat(w->host, &st))
		return fail(c, err_set(errno, "cannot stat %s: %s", w->host, strerror(errno)));
	if (check_name(c, w->name))
		return c->error;
	switch (st.st_mode & S_IFMT) {
	case S_IFDIR:
		if (!new_entry(c, w->name, S_IFDIR | (st.st_mode & CPIO_PERM_MASK)))
			return c->error;
		return walk_dir(w, host_len, name_len);
	case S_IFREG:
		if ((uint64_t)st.st_size > CPIO_MAX_FILE_SIZE)
			return fail(
				c, err_set(EFBIG,
					   "%s is %lld bytes; newc archives hold at most %llu bytes per file",
					   w->host, (long long)st.st_size, CPIO_MAX_FILE_SIZE));
		e = new_entry(c, w->name, S_IFREG | (st.st_mode & CPIO_PERM_MASK));
		if (!e)
			return c->error;
		e->size = (uint64_t)st.st_size;
		e->host_path = strdup(w->host);
		if (!e->host_path)
			return fail(c, err_set(ENOMEM, "out of memory collecting cpio entries"));
		return 0;
	case S_IFLNK: {
		char target[PATH_MAX];
		ssize_t n = readlink(w->host, target, sizeof(target));

		if (n < 0)
			return fail(c,
				    err_set(errno, "cannot read symlink %s: %s", w->host, strerror(errno)));
		if (n == 0 || n > CPIO_MAX_NAME)
			return fail(c, err_set(EINVAL, "symlink %s has a target of %zd bytes", w->host, n));
		return add_data(c, w->name, S_IFLNK | 0777, target, (size_t)n);
	}
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
		e = new_entry(c, w->name, st.st_mode & (S_IFMT | CPIO_PERM_MASK));
		if (!e)
			return c->error;
		if (!S_ISFIFO(st.st_mode)) {
			e->rmajor = major(st.st_rdev);
			e->rminor = minor(st.st_rdev);
		}
		return 0;
	case S_IFSOCK:
		return 0;
	default:
		return fail(c, err_set(EINVAL, "%s has file type 0%o, which a cpio archive cannot hold",
				       w->host, st.st_mode & S_IFMT));
	}
}

/* Append "/" + component to a path buffer; returns the new length or 0 when it does not fit. */
static size_t path_push(char *buf, size_t len, const char *comp)
{
	size_t n = strlen(comp), sep = len ? 1 : 0;

	if (len + sep + n >= PATH_MAX)
		return 0;
	if (sep)
		buf[len] = '/';
	memcpy(buf + len + sep, comp, n + 1);
	return len + sep + n;
}

static int walk_dir(struct tree_walk *w, size_t host_len, size_t name_len)
{
	struct cpio *c = w->c;
	struct dirent *d;
	DIR *dir;
	int ret = 0;

	dir = opendir(w->host);
	if (!dir)
		return fail(c, err_set(errno, "cannot open directory %s: %s", w->host, strerror(errno)));
	for (;;) {
		size_t hl, nl;

		errno = 0;
		d = readdir(dir);
		if (!d) {
			if (errno)
				ret = fail(c, err_set(errno, "cannot read directory %s: %s", w->host,
						      strerror(errno)));
			break;
		}
		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		hl = path_push(w->host, host_len, d->d_name);
		nl = path_push(w->name, name_len, d->d_name);
		if (!hl || !nl) {
			w->host[host_len] = '\0';
			ret = fail(c, err_set(ENAMETOOLONG, "a path below %s is longer than %d bytes",
					      w->host, PATH_MAX - 1));
			break;
		}
		ret = walk_entry(w, hl, nl);
		w->host[host_len] = '\0';
		w->name[name_len] = '\0';
		if (ret)
			break;
	}
	closedir(dir);
	return ret;
}

int cpio_add_tree(struct cpio *c, const char *host_dir, const char *prefix)
{
	struct tree_walk *w;
	size_t prefix_len = strlen(prefix);
	struct stat st;
	int ret;

	if (c->error)
		return c->error;
	if (stat(host_dir, &st))
		return fail(c,
			    err_set(errno, "cannot use %s as a ramdisk tree: %s", host_dir, strerror(errno)));
	if (!S_ISDIR(st.st_mode))
		return fail(c, err_set(ENOTDIR, "cannot use %s as a ramdisk tree: it is not a directory",
				       host_dir));
	if (prefix_len) {
		char anc[CPIO_MAX_NAME + 1];

		if (check_name(c, prefix))
			return c->error;
		/* The kernel's unpacker does not create missing parents, so the prefix's ancestors come
		 * along. */
		memcpy(anc, prefix, prefix_len + 1);
		for (char *s = strchr(anc, '/'); s; s = strchr(s + 1, '/')) {
			*s = '\0';
			ret = add_dir(c, anc, 0755, true);
			*s = '/';
			if (ret)
				return ret;
		}
		ret = add_dir(c, prefix, st.st_mode & CPIO_PERM_MASK, false);
		if (ret)
			return ret;
	}
	w = malloc(sizeof(*w));
	if (!w)
		return fail(c, err_set(ENOMEM, "out of memory walking %s", host_dir));
	w->c = c;
	memcpy(w->name, prefix, prefix_len + 1);
	if (strlen(host_dir) >= sizeof(w->host)) {
		free(w);
		return fail(c, err_set(ENAMETOOLONG, "path %.64s... is too long", host_dir));
	}
	strcpy(w->host, host_dir);
	ret = walk_dir(w, strlen(w->host), prefix_len);
	free(w);
	return ret;
}

/* ---- output ---- */

static int entry_cmp(const void *a, const void *b)
{
	const struct cpio_entry *x = a, *y = b;
	int r = strcmp(x->name, y->name); /* compares as unsigned char: byte order */

	if (r)
		return r;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void entry_free(struct cpio_entry *e)
{
	free(e->name);
	free(e->data);
	free(e->host_path);
	memset(e, 0, sizeof(*e));
}

static void free_entries(struct cpio *c)
{
	for (size_t i = 0; i < c->nentries; i++)
		entry_free(&c->entries[i]);
	free(c->entries);
	c->entries = NULL;
	c->nentries = c->entries_cap = 0;
}

/*
 * After sorting, equal names are adjacent.  Directories may repeat (a tree's prefix also added by hand, or
 * made up as an ancestor): the one asked for by name wins, and two asked for must agree on the mode. Anything
 * else added twice is a mistake the caller should hear about: an unpacker would keep whichever came last.
 */
static int merge_duplicates(struct cpio *c)
{
	size_t out = 0;

	for (size_t i = 0; i < c->nentries; i++) {
		struct cpio_entry *e = &c->entries[i], *prev = out ? &c->entries[out - 1] : NULL;

		if (!prev || strcmp(prev->name, e->name)) {
			/* Zero the old slot so that, on an error below, every pointer has exactly one owner.
			 */
			if (out != i) {
				c->entries[out] = *e;
				memset(e, 0, sizeof(*e));
			}
			out++;
			continue;
		}
		if (!S_ISDIR(prev->mode) || !S_ISDIR(e->mode))
			return fail(c, err_set(EEXIST, "cpio entry '%s' was added twice", e->name));
		if (prev->implicit && !e->implicit) {
			entry_free(prev);
			*prev = *e;
		} else if (!e->implicit && prev->mode != e->mode) {
			return fail(c,
				    err_set(EEXIST, "directory '%s' was added twice, with modes 0%o and 0%o",
					    e->name, prev->mode & CPIO_PERM_MASK, e->mode & CPIO_PERM_MASK));
		} else {
			entry_free(e);
		}
		memset(e, 0, sizeof(*e));
	}
	c->nentries = out;
	return 0;
}

static uint8_t *put_hex8(uint8_t *p, uint32_t v)
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 7; i >= 0; i--, v >>= 4)
		p[i] = (uint8_t)digits[v & 0xf];
	return p + 8;
}

size_t cpio_newc_header_size(size_t namelen)
{
	return align4(CPIO_NEWC_HEADER_SIZE + namelen + 1);
}

size_t cpio_newc_header(uint8_t *p, const struct cpio_newc_fields *f, const char *name)
{
	size_t namesize = strlen(name) + 1, hdr = cpio_newc_header_size(namesize - 1);

	memcpy(p, CPIO_NEWC_MAGIC, 6);
	p += 6;
	p = put_hex8(p, f->ino);
	p = put_hex8(p, f->mode);
	p = put_hex8(p, f->uid);
	p = put_hex8(p, f->gid);
	p = put_hex8(p, f->nlink);
	p = put_hex8(p, f->mtime);
	p = put_hex8(p, f->size);
	p = put_hex8(p, 0); /* devmajor: of the file system the file came from, meaningless in a ramdisk */
	p = put_hex8(p, 0); /* devminor */
	p = put_hex8(p, f->rmajor);
	p = put_hex8(p, f->rminor);
	p = put_hex8(p, (uint32_t)namesize);
	p = put_hex8(p, 0); /* check: newc (070701) has none */
	memcpy(p, name, namesize);
	memset(p + namesize, 0, hdr - CPIO_NEWC_HEADER_SIZE - namesize);
	return hdr;
}

size_t cpio_newc_trailer(uint8_t *p)
{
	/* GNU cpio and the kernel's gen_init_cpio both give the trailer nlink 1 and everything else 0. */
	const struct cpio_newc_fields f = { .nlink = 1 };

	return cpio_newc_header(p, &f, CPIO_TRAILER_NAME);
}

/* Header, name, NUL and padding of a tree entry (owned by root); returns where the data goes. */
static uint8_t *put_header(uint8_t *p, uint32_t ino, uint32_t mode, uint32_t nlink, uint32_t mtime,
			   uint32_t size, uint32_t rmajor, uint32_t rminor, const char *name)
{
	const struct cpio_newc_fields f = { ino, mode, 0, 0, nlink, mtime, size, rmajor, rminor };

	return p + cpio_newc_header(p, &f, name);
}

/* Read exactly e->size bytes of a host file into out; a file that grew or shrank since the walk is an error.
 */
static int read_host_file(struct cpio *c, const struct cpio_entry *e, uint8_t *out)
{
	uint64_t done = 0;
	int fd = open(e->host_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	uint8_t extra;
	ssize_t n = 0;

	if (fd < 0)
		return fail(c, err_set(errno, "cannot open %s: %s", e->host_path, strerror(errno)));
	while (done < e->size) {
		n = read(fd, out + done, MIN(e->size - done, (uint64_t)(1u << 30)));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (uint64_t)n;
	}
	if (done == e->size) {
		do
			n = read(fd, &extra, 1);
		while (n < 0 && errno == EINTR);
	}
	if (n < 0) {
		int err = errno;

		close(fd);
		return fail(c, err_set(err, "cannot read %s: %s", e->host_path, strerror(err)));
	}
	close(fd);
	if (done != e->size || n > 0)
		return fail(c, err_set(EAGAIN, "%s changed size while the ramdisk was being packed",
				       e->host_path));
	return 0;
}

int cpio_finish(struct cpio *c)
{
	uint64_t total = align4(CPIO_NEWC_HEADER_SIZE + sizeof(CPIO_TRAILER_NAME));
	uint8_t *p;

	if (c->error)
		return c->error;
	qsort(c->entries, c->nentries, sizeof(*c->entries), entry_cmp);
	if (merge_duplicates(c))
		return c->error;
	if (c->nentries >= UINT32_MAX - c->next_ino)
		return fail(c, err_set(EOVERFLOW, "too many cpio entries (%zu)", c->nentries));
	for (size_t i = 0; i < c->nentries; i++) {
		const struct cpio_entry *e = &c->entries[i];

		/* Each term is below 2^33, so the sum cannot wrap before it exceeds any real memory. */
		total += align4(CPIO_NEWC_HEADER_SIZE + strlen(e->name) + 1) + align4(e->size);
	}
	if (total > SIZE_MAX)
		return fail(c,
			    err_set(EFBIG, "the cpio archive would be %llu bytes, more than fits in memory",
				    (unsigned long long)total));
	free(c->buf);
	c->len = 0;
	c->cap = (size_t)total;
	c->buf = malloc(c->cap);
	if (!c->buf) {
		c->cap = 0;
		return fail(c, err_set(ENOMEM, "out of memory for a %llu-byte cpio archive",
				       (unsigned long long)total));
	}
	p = c->buf;
	for (size_t i = 0; i < c->nentries; i++) {
		const struct cpio_entry *e = &c->entries[i];
		uint32_t nlink = S_ISDIR(e->mode) ? CPIO_DIR_NLINK : 1;

		p = put_header(p, c->next_ino++, e->mode, nlink, c->mtime, (uint32_t)e->size, e->rmajor,
			       e->rminor, e->name);
		if (e->host_path) {
			if (read_host_file(c, e, p))
				return c->error;
		} else if (e->size) {
			memcpy(p, e->data, e->size);
		}
		memset(p + e->size, 0, align4(e->size) - e->size);
		p += align4(e->size);
	}
	p += cpio_newc_trailer(p);
	c->len = (size_t)(p - c->buf);
	free_entries(c);
	return 0;
}

void cpio_free(struct cpio *c)
{
	free_entries(c);
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
}
