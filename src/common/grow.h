/* SPDX-License-Identifier: MIT */
/*
 * One way to grow a heap array: double its capacity until it holds what is needed, checking every multiplication,
 * so each list, byte buffer and table in the program grows the same way and none wraps a size_t on the way.
 */
#ifndef NITROVM_COMMON_GROW_H
#define NITROVM_COMMON_GROW_H

#include <stddef.h>

/*
 * Make array (capacity *cap elements of size bytes each) hold at least need elements: when it already
 * does, returns array as it is; else the capacity doubles, starting from first when it is 0, and the array is
 * reallocated.  Returns the (possibly moved) array with *cap updated, or NULL with errno ENOMEM or EOVERFLOW when
 * the memory is not there or the byte count would not fit a size_t; then array and *cap are left as they were,
 * still valid and still the caller's to free.
 */
void *grow_array(void *array, size_t *cap, size_t need, size_t size, size_t first);

#endif
