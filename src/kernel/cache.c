// SPDX-License-Identifier: MIT
/*
 * Decompressed kernels kept on disk, so a kernel is decompressed once, not at every launch: one file per
 * kernel, named by the SHA-256 of the EIF's kernel section (the bzImage's bytes, which decide the output
 * entirely), in <cache root>/vmlinux (common/cache_root.h: the chosen root, else $XDG_CACHE_HOME/nitrovm, else
 * ~/.cache/nitrovm).
 *
 * What is booted comes from here, so the cache is only believed when it is the user's own: the directory is
 * made 0700, and a file that is not ours, is writable by others or has another size than the payload
 * announces is ignored (and decompressed again).  Files are written to a temporary name and renamed, so two
 * launches at once never see half a kernel; the space is reserved first (a full disk under a shared mapping
 * would be a SIGBUS, not an error) and the data synced before the rename.  The total is bounded (KERNEL_CACHE_MAX_BYTES): storing a kernel drops
 * the least recently used ones past it; a use touches the file's mtime.
 */
#include "kernel.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cache_root.h"
#include "common/util.h"

#define CACHE_DIR_MODE	0700
#define CACHE_FILE_MODE 0600
#define CACHE_NAME_LEN	(2 * KERNEL_CACHE_KEY_LEN)
#define CACHE_MAX_FILES 256 /* entries considered when trimming; far more than the size bound allows */

int kernel_cache_dir(char *out, size_t len)
{
	char root[PATH_MAX];
	int n = cache_root(root, sizeof(root));

	if (n < 0)
		return n;
	n = snprintf(out, len, "%s/%s", root, KERNEL_CACHE_SUBDIR);
	if (n < 0 || (size_t)n >= len)
		return err_set(ENAMETOOLONG, "the cache directory path is too long");
	return 0;
}

static int entry_path(const uint8_t key[KERNEL_CACHE_KEY_LEN], char *dir, size_t dir_len, char *path,
		      size_t path_len)
{
	char name[CACHE_NAME_LEN + 1];
	int ret = kernel_cache_dir(dir, dir_len);

	if (ret < 0)
		return ret;
	hex_encode(key, KERNEL_CACHE_KEY_LEN, name);
	if ((size_t)snprintf(path, path_len, "%s/%s", dir, name) >= path_len)
		return err_set(ENAMETOOLONG, "the cache path is too long");
	return 0;
}

static bool trusted(const struct stat *st, uint64_t size)
{
	return S_ISREG(st->st_mode) && st->st_uid == geteuid() && !(st->st_mode & 022) &&
	       (uint64_t)st->st_size == size;
}

/* The cached kernel, or 0 with out->data NULL when there is none to believe. */
static int lookup(const char *path, uint64_t size, struct kernel_image *out)
{
	struct stat st;
	void *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0 || !trusted(&st, size)) {
		close(fd);
		return 0;
	}
	p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		return 0;
	}
	futimens(fd, NULL); /* recently used: trimming keeps it */
	*out = (struct kernel_image){ .data = p, .len = size, .from_cache = true, .cached = true, .fd = fd };
	return 0;
}

static int decompress_into(const struct bzimage *bz, int fd, struct kernel_image *out)
{
	uint8_t *p = mmap(NULL, bz->decompressed_len, PROT_READ | PROT_WRITE, fd >= 0 ? MAP_SHARED : MAP_PRIVATE |
			  MAP_ANONYMOUS, fd, 0);
	int ret;

	if (p == MAP_FAILED)
		return err_set(errno, "cannot map %llu MiB for the decompressed kernel: %s",
			       (unsigned long long)(bz->decompressed_len >> 20), strerror(errno));
	ret = kernel_decompress(bz, p);
	if (ret < 0) {
		munmap(p, bz->decompressed_len);
		return ret;
	}
	mprotect(p, bz->decompressed_len, PROT_READ);
	*out = (struct kernel_image){ .data = p, .len = bz->decompressed_len, .fd = -1 };
	return 0;
}

/* Decompress into a new cache file; a cache that cannot be written is not an error, only a note. */
static int store(const struct bzimage *bz, const char *dir, const char *path, struct kernel_image *out,
		 char *note, size_t note_len)
{
	struct atomic_file f;
	int ret;

	ret = mkdir_p(dir, CACHE_DIR_MODE);
	if (!ret)
		ret = atomic_file_open(&f, path, CACHE_FILE_MODE);
	if (!ret) {
		ret = posix_fallocate(f.fd, 0, (off_t)bz->decompressed_len);
		if (ret) {
			atomic_file_abort(&f);
			ret = err_set(ret, "no room for %llu MiB in %s: %s",
				      (unsigned long long)(bz->decompressed_len >> 20), dir, strerror(ret));
		}
	}
	if (ret < 0) {
		snprintf(note, note_len, "the kernel cache cannot be written (%s)", err_msg());
		return decompress_into(bz, -1, out);
	}
	ret = decompress_into(bz, f.fd, out);
	if (ret < 0) {
		atomic_file_abort(&f);
		return ret;
	}
	/* On disk before it has its name: after a crash a cached kernel is whole or absent, never zeros. */
	if (fdatasync(f.fd) < 0) {
		ret = err_set(errno, "cannot write %s: %s", path, strerror(errno));
		atomic_file_abort(&f);
	} else {
		ret = atomic_file_commit(&f);
	}
	if (ret < 0) {
		snprintf(note, note_len, "the kernel cache cannot be written (%s)", err_msg());
		return 0;
	}
	out->cached = true;
	return 0;
}

int kernel_image_get(const struct bzimage *bz, const uint8_t key[KERNEL_CACHE_KEY_LEN], struct kernel_image *out,
		     char *note, size_t note_len)
{
	char dir[PATH_MAX], path[PATH_MAX + CACHE_NAME_LEN + 2];
	int ret;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	note[0] = '\0';
	ret = entry_path(key, dir, sizeof(dir), path, sizeof(path));
	if (ret < 0) {
		snprintf(note, note_len, "%s", err_msg());
		return decompress_into(bz, -1, out);
	}
	lookup(path, bz->decompressed_len, out);
	if (out->data)
		return 0;
	ret = store(bz, dir, path, out, note, note_len);
	if (!ret && out->cached)
		kernel_cache_prune(KERNEL_CACHE_MAX_BYTES, NULL, NULL);
	return ret;
}

void kernel_image_put(struct kernel_image *img)
{
	if (img->data)
		munmap((void *)img->data, img->len);
	if (img->fd >= 0)
		close(img->fd);
	memset(img, 0, sizeof(*img));
	img->fd = -1;
}

struct cache_entry {
	char name[CACHE_NAME_LEN + 1];
	uint64_t size;
	struct timespec used;
};

static bool is_entry_name(const char *n)
{
	if (strlen(n) != CACHE_NAME_LEN)
		return false;
	for (const char *p = n; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static int by_use(const void *a, const void *b)
{
	const struct cache_entry *x = a, *y = b;

	if (x->used.tv_sec != y->used.tv_sec)
		return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
	return (x->used.tv_nsec > y->used.tv_nsec) - (x->used.tv_nsec < y->used.tv_nsec);
}

/* The cache's entries, oldest use first. */
static void list_entries(DIR *d, struct cache_entry *e, unsigned int *n, uint64_t *total)
{
	struct dirent *de;
	struct stat st;

	*n = 0;
	*total = 0;
	while ((de = readdir(d)) != NULL && *n < CACHE_MAX_FILES) {
		if (!is_entry_name(de->d_name) || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		snprintf(e[*n].name, sizeof(e[*n].name), "%s", de->d_name);
		e[*n].size = (uint64_t)st.st_size;
		e[*n].used = st.st_mtim;
		*total += e[(*n)++].size;
	}
	qsort(e, *n, sizeof(*e), by_use);
}

int kernel_cache_prune(uint64_t max_bytes, unsigned int *removed, uint64_t *freed)
{
	struct cache_entry *e;
	char dir[PATH_MAX];
	unsigned int n = 0, gone = 0;
	uint64_t total = 0, out = 0;
	DIR *d;
	int ret = kernel_cache_dir(dir, sizeof(dir));

	if (ret < 0)
		return ret;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : err_set(errno, "cannot read the cache %s: %s", dir, strerror(errno));
	e = calloc(CACHE_MAX_FILES, sizeof(*e));
	if (!e) {
		closedir(d);
		return err_set(ENOMEM, "out of memory");
	}
	list_entries(d, e, &n, &total);
	for (unsigned int i = 0; i < n && total > max_bytes; i++) {
		if (unlinkat(dirfd(d), e[i].name, 0) < 0) {
			ret = err_set(errno, "cannot remove %s/%s: %s", dir, e[i].name, strerror(errno));
			break;
		}
		total -= e[i].size;
		out += e[i].size;
		gone++;
	}
	free(e);
	closedir(d);
	if (removed)
		*removed = gone;
	if (freed)
		*freed = out;
	return ret;
}
