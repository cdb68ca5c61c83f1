/* SPDX-License-Identifier: MIT */
/*
 * The root every nitrovm cache shares (decompressed kernels, registry blobs): the directory the command line
 * chose, else $XDG_CACHE_HOME/nitrovm, else ~/.cache/nitrovm.  Which setting the user writes that choice in is the
 * command line's business; this floor only follows the XDG convention when nothing was chosen.
 */
#ifndef NITROVM_COMMON_CACHE_ROOT_H
#define NITROVM_COMMON_CACHE_ROOT_H

#include <stddef.h>

/* Use dir as the root from now on (copied); NULL or "" goes back to the XDG default.  -ENAMETOOLONG if too long. */
int cache_root_set(const char *dir);
/* The root (no trailing slash), not created.  0, or -errno with err_msg() set. */
int cache_root(char *out, size_t len);

#endif
