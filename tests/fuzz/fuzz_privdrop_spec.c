// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for --run-as / -runas's USER[:GROUP] (src/enclave/privdrop.c, privdrop_resolve): any bytes,
 * as a string.  Nothing may crash or read past it; an accepted spec that switches names a user and a group that
 * are not root, and one that does not switch is root's (kept) or refused.  Run as root (the fuzz script does),
 * or every spec is refused at once and the target says so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "enclave/privdrop.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (geteuid() != 0) {
		fprintf(stderr, "fuzz_privdrop_spec: run it as root: a spec is only parsed for a start as root\n");
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *spec = malloc(size + 1); /* exactly sized, so ASan sees a read past it */
	struct privdrop d;

	if (!spec)
		return 0;
	memcpy(spec, data, size);
	spec[size] = '\0';
	if (privdrop_resolve(spec, &d) == 0 && d.switch_user && (d.uid == 0 || d.gid == 0))
		abort();
	if (d.switch_user && !d.name[0])
		abort();
	free(spec);
	return 0;
}
