// SPDX-License-Identifier: MIT
/* The caches' shared root (cache_root.h). */
#include "cache_root.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define CACHE_ROOT_SUBDIR "nitrovm"

static char chosen[PATH_MAX];

int cache_root_set(const char *dir)
{
	return path_setting_copy(chosen, sizeof(chosen), dir, "the cache directory");
}

int cache_root(char *out, size_t len)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	int n;

	if (chosen[0] && chosen[0] != '/')
		return err_set(EINVAL, "the cache directory %s is not an absolute path", chosen);
	if (chosen[0])
		n = snprintf(out, len, "%s", chosen);
	else if (xdg && xdg[0] == '/')
		n = snprintf(out, len, "%s/%s", xdg, CACHE_ROOT_SUBDIR);
	else if (home && home[0] == '/')
		n = snprintf(out, len, "%s/.cache/%s", home, CACHE_ROOT_SUBDIR);
	else
		return err_set(ENOENT, "no cache directory: neither XDG_CACHE_HOME nor HOME is set");
	if (n < 0 || (size_t)n >= len)
		return err_set(ENAMETOOLONG, "the cache directory's path is too long");
	return 0;
}
