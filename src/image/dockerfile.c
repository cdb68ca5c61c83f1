// SPDX-License-Identifier: MIT
#include <errno.h>

#include "internal.h"

int image_build_dockerfile(const char *dir, const char *tag, const char *work_dir, bool quiet, char *uri, size_t len)
{
	(void)dir; (void)tag; (void)work_dir; (void)quiet; (void)uri; (void)len;
	return err_set(ENOSYS, "not yet");
}
