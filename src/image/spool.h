/* SPDX-License-Identifier: MIT */
/*
 * Where the contents of an image's regular files wait while its layers are applied: one unnamed temporary
 * file (O_TMPFILE, or a file removed as soon as it is made), written in layer order and read back in the
 * ramdisk's sorted order.  Nothing of it outlives the process, whatever way it ends.
 */
#ifndef NITROVM_IMAGE_SPOOL_H
#define NITROVM_IMAGE_SPOOL_H

#include <stddef.h>
#include <stdint.h>

struct spool {
	int fd;
	uint64_t size; /* bytes appended so far (holes included) */
	char dir[256]; /* for messages */
};

/* A spool in directory dir (the output's, so that it lands on a disk with room for the image). */
int spool_open(struct spool *s, const char *dir);
/* Append len bytes; returns 0 or a negative errno (ENOSPC says which directory is full). */
int spool_write(struct spool *s, const void *buf, size_t len);
/* Append len zero bytes without writing them (a hole of a sparse file). */
int spool_skip(struct spool *s, uint64_t len);
/* Read exactly len bytes at off. */
int spool_read(const struct spool *s, uint64_t off, void *buf, size_t len);
/* Closing a spool that was never opened is fine if its fd is -1. */
void spool_close(struct spool *s);

#endif
