// SPDX-License-Identifier: MIT
#include <errno.h>

#include "internal.h"

int source_open_registry(const struct image_ref *r, const struct image_options *o, struct image_source **out)
{
	(void)r;
	(void)o;
	(void)out;
	return err_set(ENOSYS, "registry not yet");
}
