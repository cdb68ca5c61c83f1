/* SPDX-License-Identifier: MIT */
/* grow_array(): see grow.h. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "grow.h"

void *grow_array(void *array, size_t *cap, size_t need, size_t size, size_t first)
{
	size_t n = *cap ? *cap : (first ? first : 1);
	void *p;

	if (need <= *cap && array)
		return array;
	while (n < need) {
		if (n > SIZE_MAX / 2) {
			n = need; /* doubling would wrap: the exact need is the last size left to try */
			break;
		}
		n *= 2;
	}
	if (!size || n > SIZE_MAX / size) {
		errno = EOVERFLOW;
		return NULL;
	}
	p = realloc(array, n * size);
	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	*cap = n;
	return p;
}
