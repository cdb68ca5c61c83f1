// SPDX-License-Identifier: MIT
#include "console_ring.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

#define RING_MAGIC "NVCONS01"

/* The file: this header, then CONSOLE_RING_SIZE bytes of ring. */
struct ring_hdr {
	char magic[8];
	uint64_t size;	  /* of the ring, for a reader of another build */
	uint64_t written; /* bytes ever appended; the next one goes to written % size */
};

#define RING_FILE_SIZE (sizeof(struct ring_hdr) + CONSOLE_RING_SIZE)

static struct ring_hdr *hdr(const struct console_ring *r)
{
	return (struct ring_hdr *)r->map;
}

static uint8_t *data(const struct console_ring *r)
{
	return r->map + sizeof(struct ring_hdr);
}

int console_ring_create(struct console_ring *r, const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);

	r->map = NULL;
	if (fd < 0)
		return err_set(errno, "cannot create the console history %s: %s", path, strerror(errno));
	if (ftruncate(fd, RING_FILE_SIZE) < 0) {
		int e = errno;

		close(fd);
		unlink(path);
		return err_set(e, "cannot size the console history %s: %s", path, strerror(e));
	}
	r->map = mmap(NULL, RING_FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		unlink(path);
		return err_set(ENOMEM, "cannot map the console history %s", path);
	}
	r->map_size = RING_FILE_SIZE;
	memcpy(hdr(r)->magic, RING_MAGIC, sizeof(hdr(r)->magic));
	hdr(r)->size = CONSOLE_RING_SIZE;
	hdr(r)->written = 0;
	return 0;
}

int console_ring_open(struct console_ring *r, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;

	r->map = NULL;
	if (fd < 0)
		return err_set(errno, "cannot open the console history %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != RING_FILE_SIZE) {
		close(fd);
		return err_set(EBADMSG, "%s is not a console history of this nitrovm", path);
	}
	r->map = mmap(NULL, RING_FILE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		return err_set(ENOMEM, "cannot map the console history %s", path);
	}
	r->map_size = RING_FILE_SIZE;
	if (memcmp(hdr(r)->magic, RING_MAGIC, sizeof(hdr(r)->magic)) || hdr(r)->size != CONSOLE_RING_SIZE) {
		console_ring_close(r);
		return err_set(EBADMSG, "%s is not a console history of this nitrovm", path);
	}
	return 0;
}

void console_ring_close(struct console_ring *r)
{
	if (r->map)
		munmap(r->map, r->map_size);
	r->map = NULL;
}

void console_ring_append(struct console_ring *r, const uint8_t *buf, size_t len)
{
	uint64_t w;

	if (!r->map)
		return;
	if (len > CONSOLE_RING_SIZE) { /* only the tail can survive */
		buf += len - CONSOLE_RING_SIZE;
		hdr(r)->written += len - CONSOLE_RING_SIZE;
		len = CONSOLE_RING_SIZE;
	}
	w = hdr(r)->written % CONSOLE_RING_SIZE;
	if (w + len <= CONSOLE_RING_SIZE) {
		memcpy(data(r) + w, buf, len);
	} else {
		size_t first = CONSOLE_RING_SIZE - w;

		memcpy(data(r) + w, buf, first);
		memcpy(data(r), buf + first, len - first);
	}
	hdr(r)->written += len;
}

size_t console_ring_pieces(const struct console_ring *r, const uint8_t **a, size_t *alen, const uint8_t **b,
			   size_t *blen)
{
	uint64_t w = r->map ? hdr(r)->written : 0;

	*a = *b = NULL;
	*alen = *blen = 0;
	if (!w)
		return 0;
	if (w <= CONSOLE_RING_SIZE) {
		*a = data(r);
		*alen = w;
		return *alen;
	}
	/* Full: the oldest byte is where the next one goes. */
	*a = data(r) + w % CONSOLE_RING_SIZE;
	*alen = CONSOLE_RING_SIZE - w % CONSOLE_RING_SIZE;
	*b = data(r);
	*blen = w % CONSOLE_RING_SIZE;
	return CONSOLE_RING_SIZE;
}
