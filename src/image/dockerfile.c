// SPDX-License-Identifier: MIT
/*
 * Images from a Dockerfile, built by buildah or podman (both daemonless; buildah first, as it is the smaller
 * of the two), then saved as an OCI archive that the build continues from like any other archive.
 *
 *   buildah bud -t TAG DIR && buildah push TAG oci-archive:OUT
 *   podman build -t TAG DIR && podman save --format oci-archive -o OUT TAG
 *
 * Their output goes to stderr (stdout is the build's JSON), or nowhere when quiet.  The environment passes
 * through, so the user's storage and isolation settings (STORAGE_DRIVER, BUILDAH_ISOLATION, ...) apply.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

#define ARCHIVE_NAME "image.tar"

static bool on_path(const char *tool)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		size_t n = strcspn(p, ":");

		if (n && (size_t)snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, tool) < sizeof(buf) &&
		    !access(buf, X_OK))
			return true;
		p += n;
		if (*p == ':')
			p++;
	}
	return false;
}

static int run(char *const argv[], bool quiet)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return err_set(errno, "cannot start %s: %s", argv[0], strerror(errno));
	if (!pid) {
		int out = quiet ? open("/dev/null", O_WRONLY) : dup(STDERR_FILENO);

		if (out >= 0) {
			dup2(out, STDOUT_FILENO);
			dup2(out, STDERR_FILENO);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return err_set(errno, "waiting for %s: %s", argv[0], strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		return err_set(EIO, "%s %s failed (exit status %d%s)", argv[0], argv[1], WEXITSTATUS(status),
			       quiet ? "; build again without quiet to see why" : "");
	return err_set(EIO, "%s %s was killed by signal %d", argv[0], argv[1], WTERMSIG(status));
}

int image_build_dockerfile(const char *dir, const char *tag, const char *work_dir, bool quiet, char *uri,
			   size_t len)
{
	char tmp[PATH_MAX], out[PATH_MAX + 16], dest[PATH_MAX + 32], dockerfile[PATH_MAX + 16];
	bool buildah = on_path("buildah");
	struct stat st;
	int ret;

	if (stat(dir, &st) || !S_ISDIR(st.st_mode))
		return err_set(ENOTDIR, "%s is not a directory with a Dockerfile", dir);
	snprintf(dockerfile, sizeof(dockerfile), "%s/Dockerfile", dir);
	if (access(dockerfile, R_OK))
		return err_set(ENOENT, "%s has no Dockerfile", dir);
	if (!buildah && !on_path("podman"))
		return err_set(ENOENT,
			       "building from a Dockerfile needs buildah or podman, and neither is installed "
			       "(apt-get install buildah)");
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.nitrovm-build-XXXXXX", work_dir) >= sizeof(tmp) ||
	    !mkdtemp(tmp))
		return err_set(errno ? errno : ENAMETOOLONG, "cannot make a temporary directory in %s",
			       work_dir);
	snprintf(out, sizeof(out), "%s/%s", tmp, ARCHIVE_NAME);
	snprintf(dest, sizeof(dest), "oci-archive:%s", out);
	if (buildah) {
		char *const build[] = {"buildah", "bud", "-t", (char *)tag, (char *)dir, NULL};
		char *const push[] = {"buildah", "push", (char *)tag, dest, NULL};

		ret = run(build, quiet);
		if (!ret)
			ret = run(push, quiet);
	} else {
		char *const build[] = {"podman", "build", "-t", (char *)tag, (char *)dir, NULL};
		char *const save[] = {"podman", "save", "--format",  "oci-archive",
				      "-o",	out,	(char *)tag, NULL};

		ret = run(build, quiet);
		if (!ret)
			ret = run(save, quiet);
	}
	if (!ret && (size_t)snprintf(uri, len, "%s", dest) >= len)
		ret = err_set(ENAMETOOLONG, "the temporary archive's path is too long");
	if (ret) {
		unlink(out);
		rmdir(tmp);
	}
	return ret;
}
