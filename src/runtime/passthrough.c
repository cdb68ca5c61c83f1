// SPDX-License-Identifier: MIT
/*
 * Containers that must not be enclaves (the pod's sandbox, containers not selected) are runc's or crun's:
 * nitrovm-runc replaces itself with the delegate, which keeps their state in a root of its own below ours
 * (<root>/@delegate), so every later command for such an id finds it there and goes the same way.  The
 * delegate is the configuration's `delegate`, else runc, else crun, from PATH, never nitrovm-runc itself.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/strv.h"
#include "common/util.h"
#include "runtime.h"

static const char *const delegates[] = { "runc", "crun" };

bool rt_delegated(const struct rt_globals *g, const char *id)
{
	char path[PATH_MAX];
	struct stat st;

	if (rt_check_id(id))
		return false;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s/%s", g->root, RT_DELEGATE_DIR, id) >= sizeof(path))
		return false;
	return !lstat(path, &st) && S_ISDIR(st.st_mode);
}

/* Is path this very program (a PATH entry that is a link to nitrovm)? */
static bool is_self(const char *path)
{
	char a[PATH_MAX], b[PATH_MAX];

	return realpath(path, a) && realpath("/proc/self/exe", b) && !strcmp(a, b);
}

static int find_delegate(const struct rt_config *cfg, char *out, size_t len)
{
	const char *path = getenv("PATH");
	char dirs[4096];

	if (cfg->delegate[0]) {
		if (access(cfg->delegate, X_OK) || is_self(cfg->delegate))
			return err_set(ENOENT, "the delegate %s named in %s cannot run containers that are not "
					       "enclaves (not an executable, or " RT_NAME " itself)", cfg->delegate,
				       cfg->path);
		snprintf(out, len, "%s", cfg->delegate);
		return 0;
	}
	snprintf(dirs, sizeof(dirs), "%s", path && *path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	for (size_t i = 0; i < ARRAY_SIZE(delegates); i++) {
		char *save = NULL;
		char copy[sizeof(dirs)];

		snprintf(copy, sizeof(copy), "%s", dirs);
		for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
			if ((size_t)snprintf(out, len, "%s/%s", d, delegates[i]) < len && !access(out, X_OK) &&
			    !is_self(out))
				return 0;
		}
	}
	return err_set(ENOENT, "neither runc nor crun is installed, and this container (the pod's sandbox, or one "
			       "not selected to be an enclave) needs one: install runc, or name it with delegate = "
			       "in %s", cfg->path[0] ? cfg->path : RT_CONFIG_DEFAULT);
}

int rt_delegate_exec(const struct rt_globals *g, const struct rt_config *cfg, char **argv)
{
	char exe[PATH_MAX], root[PATH_MAX];
	struct strv v = { 0 };
	int ret = find_delegate(cfg, exe, sizeof(exe));

	if (ret)
		return ret;
	if ((size_t)snprintf(root, sizeof(root), "%s/%s", g->root, RT_DELEGATE_DIR) >= sizeof(root))
		return err_set(ENAMETOOLONG, "--root is too long");
	ret = mkdir_p(root, 0700);
	if (ret)
		return ret;
	ret = strv_push(&v, exe, strlen(exe));
	ret = ret ? ret : strv_push(&v, "--root", 6);
	ret = ret ? ret : strv_push(&v, root, strlen(root));
	if (!ret && g->log_path) {
		ret = strv_push(&v, "--log", 5);
		ret = ret ? ret : strv_push(&v, g->log_path, strlen(g->log_path));
		ret = ret ? ret : strv_push(&v, "--log-format", 12);
		ret = ret ? ret : strv_push(&v, g->log_format, strlen(g->log_format));
	}
	if (!ret && g->systemd_cgroup)
		ret = strv_push(&v, "--systemd-cgroup", 16);
	if (!ret && g->debug)
		ret = strv_push(&v, "--debug", 7);
	for (char **a = argv; !ret && *a; a++)
		ret = strv_push(&v, *a, strlen(*a));
	if (ret) {
		strv_free(&v);
		return ret;
	}
	rt_debug("passing the container to %s", exe);
	execv(exe, v.v);
	ret = err_set(errno, "cannot run %s: %s", exe, strerror(errno));
	strv_free(&v);
	return ret;
}

int rt_pass_on(const struct rt_globals *g, char **argv)
{
	struct rt_config cfg;
	int ret = rt_config_load(&cfg);

	if (!ret)
		rt_delegate_exec(g, &cfg, argv);
	return rt_fail_err();
}
