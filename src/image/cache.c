// SPDX-License-Identifier: MIT
#include <errno.h>

#include "internal.h"

int image_cache_prune(const char *dir, uint64_t max_bytes, struct image_cache_stats *st)
{
	(void)dir; (void)max_bytes; (void)st;
	return err_set(ENOSYS, "not yet");
}
