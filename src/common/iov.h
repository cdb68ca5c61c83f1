/* SPDX-License-Identifier: MIT */
/*
 * Scatter lists (struct iovec): the one shape in which bytes move between guest buffers, nitrovm's own bounded
 * buffers and host sockets (readv/writev), so a byte is copied once, by the kernel, on its way through.
 */
#ifndef NITROVM_COMMON_IOV_H
#define NITROVM_COMMON_IOV_H

#include <stddef.h>
#include <sys/uio.h>

/* Total bytes of n entries. */
size_t iov_length(const struct iovec *iov, unsigned int n);
/*
 * The bytes [off, off + len) of src (n entries) as at most max entries in dst, clipped at src's end.  Returns
 * the entries used; *got (when not NULL) says how many bytes they hold, less than len when src or max ran out.
 */
unsigned int iov_slice(struct iovec *dst, unsigned int max, const struct iovec *src, unsigned int n, size_t off,
		       size_t len, size_t *got);
/* Copy up to len bytes of src, from byte off on, to buf; returns the bytes copied. */
size_t iov_to_buf(const struct iovec *src, unsigned int n, size_t off, void *buf, size_t len);
/* Copy up to len bytes of buf into dst, from dst's byte off on; returns the bytes copied. */
size_t iov_from_buf(const struct iovec *dst, unsigned int n, size_t off, const void *buf, size_t len);

#endif
