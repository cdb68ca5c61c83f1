// SPDX-License-Identifier: MIT
/* Scatter-list helpers (iov.h). */
#include "common/iov.h"

#include <stdbool.h>
#include <string.h>

#include "common/util.h"

size_t iov_length(const struct iovec *iov, unsigned int n)
{
	size_t total = 0;

	for (unsigned int i = 0; i < n; i++)
		total += iov[i].iov_len;
	return total;
}

unsigned int iov_slice(struct iovec *dst, unsigned int max, const struct iovec *src, unsigned int n, size_t off,
		       size_t len, size_t *got)
{
	unsigned int used = 0;
	size_t taken = 0;

	for (unsigned int i = 0; i < n && used < max && taken < len; i++) {
		size_t part;

		if (off >= src[i].iov_len) {
			off -= src[i].iov_len;
			continue;
		}
		part = MIN(src[i].iov_len - off, len - taken);
		dst[used].iov_base = (char *)src[i].iov_base + off;
		dst[used].iov_len = part;
		used++;
		taken += part;
		off = 0;
	}
	if (got)
		*got = taken;
	return used;
}

/* The one walk under both copies: len bytes between the entries (from byte off on) and buf, either way. */
static size_t iov_copy(const struct iovec *iov, unsigned int n, size_t off, void *buf, size_t len, bool to_iov)
{
	size_t done = 0;

	for (unsigned int i = 0; i < n && done < len; i++) {
		size_t part;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		part = MIN(iov[i].iov_len - off, len - done);
		if (to_iov)
			memcpy((char *)iov[i].iov_base + off, (char *)buf + done, part);
		else
			memcpy((char *)buf + done, (const char *)iov[i].iov_base + off, part);
		done += part;
		off = 0;
	}
	return done;
}

size_t iov_to_buf(const struct iovec *src, unsigned int n, size_t off, void *buf, size_t len)
{
	return iov_copy(src, n, off, buf, len, false);
}

size_t iov_from_buf(const struct iovec *dst, unsigned int n, size_t off, const void *buf, size_t len)
{
	return iov_copy(dst, n, off, (void *)buf, len, true);
}
