// SPDX-License-Identifier: MIT
#include "debug_exit.h"

#include <string.h>

void debug_exit_io(void *opaque, uint64_t offset, void *data, unsigned int len, bool is_write)
{
	struct debug_exit *d = opaque;

	if (!is_write) {
		/* Reads as absent so nothing that probes I/O ports mistakes it for a device. */
		memset(data, 0xff, len);
		return;
	}
	/* Only the documented one-byte write counts; anything wider is a guest bug, not an exit request. */
	if (offset || len != 1)
		return;
	d->fn(d->opaque, *(uint8_t *)data);
}
