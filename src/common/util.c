// SPDX-License-Identifier: MIT
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static _Thread_local char err_buf[1024];

int err_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err_buf, sizeof(err_buf), fmt, ap);
	va_end(ap);
	return -code;
}

int err_wrap(int code, const char *fmt, ...)
{
	char prefix[512], old[sizeof(err_buf)];
	va_list ap;

	memcpy(old, err_buf, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	snprintf(err_buf, sizeof(err_buf), "%s: %s", prefix, old);
	return -code;
}

const char *err_msg(void)
{
	return err_buf[0] ? err_buf : "unknown error";
}

void err_clear(void)
{
	err_buf[0] = '\0';
}

static int read_fd_all(int fd, const char *path, uint8_t **buf, size_t *len, size_t max)
{
	size_t cap = MIN((size_t)4096, max), n = 0;
	uint8_t *p = malloc(cap + 1);

	if (!p)
		return err_set(ENOMEM, "out of memory reading %s", path);
	for (;;) {
		ssize_t r;

		if (n == cap && cap < max) {
			uint8_t *q;

			cap = cap > max / 2 ? max : cap * 2;
			q = realloc(p, cap + 1);
			if (!q) {
				free(p);
				return err_set(ENOMEM, "out of memory reading %s", path);
			}
			p = q;
		}
		/* At the limit, one more byte (into the spare slot) tells whether the file is too large. */
		r = read(fd, p + n, n == cap ? 1 : cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			free(p);
			return err_set(e, "cannot read %s: %s", path, strerror(e));
		}
		if (r == 0)
			break;
		if (n == cap) {
			free(p);
			return err_set(EFBIG, "%s is larger than the %zu bytes allowed", path, max);
		}
		n += (size_t)r;
	}
	p[n] = '\0';
	*buf = p;
	*len = n;
	return 0;
}

int file_read_all(const char *path, uint8_t **buf, size_t *len, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return err_set(errno, "cannot open %s: %s", path, strerror(errno));
	ret = read_fd_all(fd, path, buf, len, max);
	close(fd);
	return ret;
}

int file_pin_take(int fd, struct file_pin *p)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return err_set(errno, "cannot stat the file: %s", strerror(errno));
	*p = (struct file_pin){
		.dev = (uint64_t)st.st_dev,
		.ino = (uint64_t)st.st_ino,
		.size = (uint64_t)st.st_size,
		.ctime_sec = (int64_t)st.st_ctim.tv_sec,
		.ctime_nsec = (int64_t)st.st_ctim.tv_nsec,
	};
	return 0;
}

bool file_pin_equal(const struct file_pin *a, const struct file_pin *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->ctime_sec == b->ctime_sec &&
	       a->ctime_nsec == b->ctime_nsec;
}

int file_map_open(struct file_map *m, const char *path)
{
	struct stat st;
	int fd, ret = 0;

	memset(m, 0, sizeof(*m));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(errno, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		ret = err_set(errno, "cannot stat %s: %s", path, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		ret = err_set(EISDIR, "%s is a directory, not a file", path);
		goto out;
	}
	if (S_ISREG(st.st_mode) && st.st_size > 0) {
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);

		if (p == MAP_FAILED) {
			ret = err_set(errno, "cannot map %s: %s", path, strerror(errno));
			goto out;
		}
		madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
		m->data = p;
		m->size = (size_t)st.st_size;
		m->mapped = true;
		goto out;
	}
	/* Pipes, character devices and empty files: read them (bounded at 64 GiB, far above any enclave). */
	{
		uint8_t *buf;
		size_t len;

		ret = read_fd_all(fd, path, &buf, &len, (size_t)64 << 30);
		if (!ret) {
			m->data = buf;
			m->size = len;
		}
	}
out:
	close(fd);
	return ret;
}

void file_map_close(struct file_map *m)
{
	if (m->mapped)
		munmap((void *)m->data, m->size);
	else
		free((void *)m->data);
	memset(m, 0, sizeof(*m));
}

int source_date_epoch(uint32_t *out)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");

	if (!sde || !*sde)
		return 0;
	if (strspn(sde, "0123456789") == strlen(sde) && strlen(sde) <= 10) {
		unsigned long long v = strtoull(sde, NULL, 10);

		if (v <= UINT32_MAX) {
			*out = (uint32_t)v;
			return 1;
		}
	}
	return err_set(EINVAL,
		       "SOURCE_DATE_EPOCH='%.64s' is not a whole number of seconds since 1970 (0 to 4294967295)",
		       sde);
}

int write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t r = write(fd, p, len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

int path_setting_copy(char *dst, size_t size, const char *src, const char *what)
{
	size_t len = src ? strlen(src) : 0;

	if (len >= size)
		return err_set(ENAMETOOLONG, "the path of %s is too long", what);
	memcpy(dst, src ? src : "", len + 1);
	return 0;
}

int mkdir_p(const char *path, unsigned int mode)
{
	char p[PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(p))
		return err_set(ENAMETOOLONG, "path %s is too long", path);
	memcpy(p, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		p[i] = '\0';
		if (mkdir(p, (mode_t)mode) < 0 && errno != EEXIST)
			return err_set(errno, "cannot create the directory %s: %s", p, strerror(errno));
		p[i] = i < n ? '/' : '\0';
	}
	return 0;
}

int atomic_file_open(struct atomic_file *f, const char *path, unsigned int mode)
{
	const char *slash = strrchr(path, '/');
	int dirlen = slash ? (int)(slash - path) + 1 : 0;

	f->fd = -1;
	if (snprintf(f->path, sizeof(f->path), "%s", path) >= (int)sizeof(f->path) ||
	    snprintf(f->tmp_path, sizeof(f->tmp_path), "%.*s.%s.XXXXXX", dirlen, path,
		     slash ? slash + 1 : path) >= (int)sizeof(f->tmp_path))
		return err_set(ENAMETOOLONG, "output path %s is too long", path);
	f->fd = mkostemp(f->tmp_path, O_CLOEXEC);
	if (f->fd < 0)
		return err_set(errno, "cannot create %s: %s (is the directory writable?)", path, strerror(errno));
	{
		mode_t mask = umask(0);

		umask(mask);
		fchmod(f->fd, mode & ~mask);
	}
	return 0;
}

int atomic_file_write(struct atomic_file *f, const void *buf, size_t len)
{
	int ret = write_full(f->fd, buf, len);

	return ret ? err_set(-ret, "cannot write %s: %s", f->path, strerror(-ret)) : 0;
}

int atomic_file_commit(struct atomic_file *f)
{
	int ret = 0;

	if (close(f->fd) < 0)
		ret = err_set(errno, "cannot write %s: %s", f->path, strerror(errno));
	f->fd = -1;
	if (!ret && rename(f->tmp_path, f->path) < 0)
		ret = err_set(errno, "cannot create %s: %s", f->path, strerror(errno));
	if (ret)
		unlink(f->tmp_path);
	return ret;
}

void atomic_file_abort(struct atomic_file *f)
{
	if (f->fd >= 0) {
		close(f->fd);
		unlink(f->tmp_path);
	}
	f->fd = -1;
}

void size_text(uint64_t n, char *buf, size_t len)
{
	if (n >= 10 * GiB)
		snprintf(buf, len, "%.1f GiB", (double)n / GiB);
	else if (n >= 10 * MiB)
		snprintf(buf, len, "%.1f MiB", (double)n / MiB);
	else if (n >= 10 * KiB)
		snprintf(buf, len, "%.1f KiB", (double)n / KiB);
	else
		snprintf(buf, len, "%llu bytes", (unsigned long long)n);
}

void hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hex_decode(const char *in, uint8_t *out, size_t len)
{
	if (strlen(in) != 2 * len)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		int hi = hex_digit(in[2 * i]), lo = hex_digit(in[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int unix_connect(const char *path, int flags)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	memcpy(a.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | flags, 0);
	if (fd < 0)
		return -errno;
	/* AF_UNIX completes (or fails, EAGAIN meaning a full backlog) at once, non-blocking or not. */
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

/* The helper's socket, after stdin, stdout and stderr. */
#define HELPER_FD 3

void helper_isolate(int *fd, const char *name)
{
	/* What a terminal or a job-control shell sends the whole process group. */
	static const int terminal_signals[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGTSTP, SIGTTIN, SIGTTOU };
	sigset_t set;

	prctl(PR_SET_DUMPABLE, 0);
	prctl(PR_SET_NAME, name);
	sigemptyset(&set);
	for (size_t i = 0; i < ARRAY_SIZE(terminal_signals); i++)
		sigaddset(&set, terminal_signals[i]);
	sigprocmask(SIG_SETMASK, &set, NULL);
	if (*fd != HELPER_FD) {
		if (dup2(*fd, HELPER_FD) < 0)
			_exit(1);
		*fd = HELPER_FD;
	}
	close_range(HELPER_FD + 1, ~0U, 0);
}

int helper_spawn(const char *what, bool flush_stdout, void (*child)(int fd, void *arg), void *arg, pid_t *pid,
		 int *fd)
{
	int sv[2], ret;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return err_set(errno, "cannot create %s's socket pair: %s", what, strerror(errno));
	if (flush_stdout)
		fflush(stdout);
	fflush(stderr);
	*pid = fork();
	if (*pid < 0) {
		ret = err_set(errno, "cannot fork %s: %s", what, strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return ret;
	}
	if (*pid == 0) {
		close(sv[0]);
		child(sv[1], arg);
		_exit(1); /* not reached: child ends with _exit */
	}
	close(sv[1]);
	*fd = sv[0];
	return 0;
}
