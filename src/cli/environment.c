// SPDX-License-Identifier: MIT
/*
 * The environment variables a user sets to choose where nitrovm keeps things, read once at the start of every
 * command (and of nitrovm-runc) and handed to the floors that use those places: the cache root (decompressed
 * kernels, registry blobs), the attestation CA's state directory, and the enclave sockets and records
 * directories.  Below src/cli/ nothing reads a NITROVM_* variable; the test-only hooks are the exception, and
 * they exist only in builds with -Dtest_hooks=true (docs/internals.md, "Environment").
 */
#include <errno.h>
#include <stdlib.h>

#include "cli.h"
#include "common/cache_root.h"
#include "common/util.h"
#include "enclave/registry.h"
#include "nsm/nsm.h"

static const char *env_or_empty(const char *name)
{
	const char *v = getenv(name);

	return v ? v : "";
}

int cli_read_environment(void)
{
	const char *cache = env_or_empty(CLI_CACHE_ENV);

	/* Once ignored, and the default used instead: a relative root would move with every working directory. */
	if (cache[0] && cache[0] != '/')
		return err_set(EINVAL, "$%s=%s is not an absolute path: set it to an absolute directory, or unset it",
			       CLI_CACHE_ENV, cache);
	if (cache_root_set(cache) < 0 || nsm_state_dir_set(env_or_empty(CLI_STATE_DIR_ENV)) < 0 ||
	    registry_set_dirs(env_or_empty(REGISTRY_SOCKETS_ENV), env_or_empty(CLI_RUN_DIR_ENV)) < 0)
		return -1;
	return 0;
}
