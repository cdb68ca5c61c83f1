// SPDX-License-Identifier: MIT
/* The spool of file contents (see spool.h). */
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

static int no_room(const struct spool *s, int err)
{
	if (err == ENOSPC || err == EDQUOT)
		return err_set(err,
			       "no space left in %s for the image's files (building needs room for the "
			       "unpacked image and the EIF)",
			       s->dir);
	return err_set(err, "cannot write the image's files to a temporary file in %s: %s", s->dir,
		       strerror(err));
}

int spool_open(struct spool *s, const char *dir)
{
	char path[PATH_MAX];

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	s->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (s->fd >= 0)
		return 0;
	/* File systems without O_TMPFILE (9p, some FUSE ones): a named file, removed at once. */
	if (snprintf(path, sizeof(path), "%s/.nitrovm-spool.XXXXXX", dir) >= (int)sizeof(path))
		return err_set(ENAMETOOLONG, "the directory %.64s... is too long a path", dir);
	s->fd = mkostemp(path, O_CLOEXEC);
	if (s->fd < 0)
		return err_set(errno, "cannot create a temporary file in %s: %s", dir, strerror(errno));
	unlink(path);
	return 0;
}

int spool_write(struct spool *s, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(s->fd, p, len, (off_t)s->size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return no_room(s, n < 0 ? errno : ENOSPC);
		p += n;
		len -= (size_t)n;
		s->size += (uint64_t)n;
	}
	return 0;
}

int spool_skip(struct spool *s, uint64_t len)
{
	s->size += len;
	/* The file must reach past the hole, or reading it back would come up short. */
	if (ftruncate(s->fd, (off_t)s->size))
		return no_room(s, errno);
	return 0;
}

int spool_read(const struct spool *s, uint64_t off, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(s->fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set(errno, "cannot read back the image's files from %s: %s", s->dir,
				       strerror(errno));
		if (n == 0)
			return err_set(EIO, "the temporary file of the image's files in %s came up short",
				       s->dir);
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

void spool_close(struct spool *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}
