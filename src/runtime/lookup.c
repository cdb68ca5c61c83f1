// SPDX-License-Identifier: MIT
/*
 * Finding a container: ours (a state directory under --root), the delegate's (passed through at create), or
 * none -- said with runc's words, "does not exist", which containerd and podman match on.
 */
#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "common/util.h"
#include "runtime.h"

int rt_lookup(const struct rt_globals *g, const char *id, char *dir, size_t len, struct rt_state *s)
{
	int ret = rt_state_dir(g, id, dir, len);

	if (ret)
		return ret;
	ret = rt_state_read(dir, s);
	if (ret != -ENOENT)
		return ret;
	if (rt_delegated(g, id))
		return RT_DELEGATED;
	return err_set(ENOENT, "container \"%s\" does not exist", id);
}

int rt_one_id(int argc, char **argv, const char *usage, const char **id)
{
	if (optind != argc - 1)
		return err_set(EINVAL, "%s needs exactly one container id (" RT_NAME " %s)", argv[0], usage);
	*id = argv[optind];
	return 0;
}
