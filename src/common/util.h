/* SPDX-License-Identifier: MIT */
/*
 * Small helpers every layer uses: one thread-local error message, file mapping, file identity pins,
 * all-or-nothing output files, helper processes (forked, isolated, on a socket pair), hex, and big- and
 * little-endian accessors.
 *
 * Errors: a function that fails calls err_set("...") to record one sentence saying what is wrong (and where), and
 * returns the negative errno-style value err_set returns.  The command that called it prints err_msg() once.
 * Lower layers never print.
 */
#ifndef NITROVM_COMMON_UTIL_H
#define NITROVM_COMMON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <sys/types.h>

#include "common/le.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b)     ((a) < (b) ? (a) : (b))
#define MAX(a, b)     ((a) > (b) ? (a) : (b))
#define KiB           (1024ULL)
#define MiB           (1024ULL * KiB)
#define GiB           (1024ULL * MiB)

/* Record the error message (printf-style) and return -code (code > 0, e.g. EINVAL). */
int err_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix the current message with more context: "context: <old message>". Returns -code. */
int err_wrap(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *err_msg(void);
void err_clear(void);

/* A whole file, read-only, mapped (or read, for files that cannot be mapped such as pipes). */
struct file_map {
	const uint8_t *data;
	size_t size;
	bool mapped;
};
int file_map_open(struct file_map *m, const char *path);
void file_map_close(struct file_map *m);

/*
 * What names a file's contents without reading them: its device, inode, size and change time.  A write, a
 * truncation, a chmod or a replacement in place each change one of them, so two equal pins taken around a read
 * mean it read the bytes that were there at the first.  Limits, not checked here: the change time is as fine as
 * the file system keeps it (coarse, a timer tick, on Linux before 6.13 multigrain timestamps), and a writer that
 * already holds a dirty shared mapping of the file can change it again without touching the change time.
 */
struct file_pin {
	uint64_t dev, ino, size;
	int64_t ctime_sec, ctime_nsec;
};
int file_pin_take(int fd, struct file_pin *p);
bool file_pin_equal(const struct file_pin *a, const struct file_pin *b);

/* Read a small file entirely into a NUL-terminated heap buffer; fails past max bytes. */
int file_read_all(const char *path, uint8_t **buf, size_t *len, size_t max);

/*
 * An output file that appears whole or not at all: written to a temporary file beside the target, then renamed
 * over it by atomic_file_commit().  atomic_file_abort() removes the temporary file.
 */
struct atomic_file {
	int fd;
	char tmp_path[PATH_MAX];
	char path[PATH_MAX];
};
int atomic_file_open(struct atomic_file *f, const char *path, unsigned int mode);
int atomic_file_write(struct atomic_file *f, const void *buf, size_t len);
int atomic_file_commit(struct atomic_file *f);
void atomic_file_abort(struct atomic_file *f);

/*
 * SOURCE_DATE_EPOCH, the reproducible-builds convention: decimal seconds since 1970, empty meaning unset.
 * Returns 1 with *out set when it is set, 0 when unset, -EINVAL (err_msg() set) when it is anything else:
 * signs, blanks or values past 4294967295 (what a cpio header holds) are refused rather than read as
 * something the user did not ask for.
 */
int source_date_epoch(uint32_t *out);

/* A path setting into dst[size] (NULL is ""); -ENAMETOOLONG with err_msg() naming what when it does not fit. */
int path_setting_copy(char *dst, size_t size, const char *src, const char *what);

/* mkdir -p: every missing directory of path is created with mode (existing ones are left as they are). */
int mkdir_p(const char *path, unsigned int mode);

/* Write all of buf to fd, retrying short writes and EINTR. */
int write_full(int fd, const void *buf, size_t len);

/* A stream connected to the Unix socket at path (flags: SOCK_NONBLOCK, SOCK_CLOEXEC), or -errno. */
int unix_connect(const char *path, int flags);

/*
 * In a helper process just forked (the NSM's issuer, the enclave's keeper): named name, not dumpable (its
 * parent's user cannot ptrace it or read its memory), the terminal's signals blocked (it ends on its own terms,
 * not with a Ctrl-C meant for its parent), and nothing open but stdin, stdout, stderr and *fd, moved to fd 3.
 */
void helper_isolate(int *fd, const char *name);
/*
 * Fork such a helper, joined to this process by a SOCK_SEQPACKET socket pair (close-on-exec): the child runs
 * child(its end, arg), which ends with _exit and never returns; this process gets the helper's pid and its
 * own end.  stdio's buffers are flushed first so that what they hold is not written twice, once by each
 * process: stderr always, stdout when flush_stdout.  what names the helper in errors ("the keeper").
 * 0 or -errno.
 */
int helper_spawn(const char *what, bool flush_stdout, void (*child)(int fd, void *arg), void *arg, pid_t *pid,
		 int *fd);

/* A byte count for people: "512 bytes", "18.4 KiB", "3.2 MiB", "1.5 GiB" (the unit that gives 1 to 9999). */
void size_text(uint64_t n, char *buf, size_t len);

/* Lowercase hex; out must hold 2 * len + 1 bytes. */
void hex_encode(const uint8_t *in, size_t len, char *out);
/* Decode exactly 2 * len hex digits (either case) into out; -EINVAL on anything else. */
int hex_decode(const char *in, uint8_t *out, size_t len);

static inline uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static inline void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, v >> 16);
	put_be16(p + 2, v & 0xffff);
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, v >> 32);
	put_be32(p + 4, v & 0xffffffff);
}

#endif
