// SPDX-License-Identifier: MIT
/* build-enclave --docker-uri / --docker-dir (see build_image.h). */
#include "build_image.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "common/util.h"
#include "image/image.h"
#include "progress.h"
#include "rootfs.h"

/* nitro-cli's blobs: NITRO_CLI_BLOBS, else where its package installs them. */
#define BLOBS_ENV     "NITRO_CLI_BLOBS"
#define BLOBS_DEFAULT "/usr/share/nitro_enclaves/blobs"
/* The tag of an image built from --docker-dir without --docker-uri. */
#define DEFAULT_BUILD_TAG "nitrovm-build:latest"

static bool is_file(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISREG(st.st_mode);
}

/* Disk trouble is a file error wherever it happens; a digest mismatch is the image's, not the build's. */
static int fail_image(int ret, enum cli_error e)
{
	if (ret == -ENOSPC || ret == -EDQUOT || ret == -EIO || ret == -EROFS)
		return cli_fail_err(E_FILE_OPERATION);
	if (ret == -EBADMSG)
		return cli_fail_err(E_DOCKER_IMAGE_PULL);
	return cli_fail_err(e);
}

static void set_work_dir(const struct build_image_options *o, struct build_image *bi)
{
	const char *slash = strrchr(o->output, '/');

	if (!slash)
		snprintf(bi->work_dir, sizeof(bi->work_dir), ".");
	else if (slash == o->output)
		snprintf(bi->work_dir, sizeof(bi->work_dir), "/");
	else
		snprintf(bi->work_dir, sizeof(bi->work_dir), "%.*s", (int)(slash - o->output), o->output);
}

static int find_blobs(struct build_image *bi, bool need_kernel, bool need_cmdline)
{
	const char *dir = getenv(BLOBS_ENV) && *getenv(BLOBS_ENV) ? getenv(BLOBS_ENV) : BLOBS_DEFAULT;
	bool arm64 = !strcmp(image_arch(bi->img), "arm64");

	if (!need_kernel)
		return 0;
	snprintf(bi->kernel, sizeof(bi->kernel), "%s/%s", dir, arm64 ? "Image" : "bzImage");
	if (!is_file(bi->kernel))
		return cli_fail(
			E_BLOBS_PATH_NOT_SET,
			"no kernel for the enclave: there is no %s; pass --kernel FILE (a%s) and --cmdline, "
			"or install nitro-cli's blobs there or where %s points",
			bi->kernel, arm64 ? "n arm64 Image" : " bzImage", BLOBS_ENV);
	if (need_cmdline)
		snprintf(bi->cmdline, sizeof(bi->cmdline), "%s/cmdline", dir);
	snprintf(bi->nsm, sizeof(bi->nsm), "%s/nsm.ko", dir);
	if (!is_file(bi->nsm))
		bi->nsm[0] = '\0';
	return 0;
}

static int build_dockerfile(const struct build_image_options *o, struct build_image *bi, char *uri,
			    size_t len)
{
	const char *tag = o->uri ? o->uri : DEFAULT_BUILD_TAG;
	int ret = image_build_dockerfile(o->docker_dir, tag, bi->work_dir, o->quiet, uri, len);

	if (ret)
		return fail_image(ret, E_DOCKER_IMAGE_BUILD);
	snprintf(bi->archive, sizeof(bi->archive), "%s", strchr(uri, ':') + 1);
	/* nitro-cli names an image built from a Dockerfile after its tag, as it names a pulled one. */
	snprintf(bi->tag_name, sizeof(bi->tag_name), "%s", tag);
	{
		char *colon = strrchr(bi->tag_name, ':'), *slash = strrchr(bi->tag_name, '/');

		if (colon && (!slash || colon > slash))
			*colon = '\0';
	}
	return 0;
}

int build_image_open(const struct build_image_options *o, bool need_kernel, bool need_cmdline,
		     struct build_image *bi)
{
	struct image_options io = {
		.arch = o->arch,
		.plain_http = o->plain_http,
		.stall_seconds = o->stall_seconds,
	};
	char uri[PATH_MAX + 32];
	int ret;

	memset(bi, 0, sizeof(*bi));
	cpio_init(&bi->bootstrap);
	set_work_dir(o, bi);
	bi->progress = progress_new(o->quiet);
	io.work_dir = bi->work_dir;
	io.progress = progress_hooks(bi->progress);
	snprintf(uri, sizeof(uri), "%s", o->uri ? o->uri : "");
	if (o->docker_dir) {
		ret = build_dockerfile(o, bi, uri, sizeof(uri));
		if (ret)
			return ret;
	}
	ret = image_open(uri, &io, &bi->img);
	if (ret) {
		bool local = strncmp(uri, "oci", 3) == 0 || strncmp(uri, "docker-archive:", 15) == 0;

		return fail_image(ret, local && (ret == -ENOENT || ret == -EACCES) ? E_FILE_OPERATION
										   : E_DOCKER_IMAGE_PULL);
	}
	return find_blobs(bi, need_kernel, need_cmdline);
}

static int check_arch(struct build_image *bi, const struct eif_build *b)
{
	const char *image = image_arch(bi->img), *kernel = b->flags & EIF_FLAG_ARM64 ? "arm64" : "amd64";

	if (strcmp(image, kernel))
		return cli_fail(
			E_EIF_BUILDING,
			"the image is for %s but the kernel is an %s one: give a kernel of the image's "
			"architecture, or choose the image's %s variant with --arch",
			image, kernel, kernel);
	return 0;
}

static int resolve_run(const struct build_image_options *o, struct build_image *bi, struct image_run *run)
{
	struct image_run_overrides ov = {
		.has_entrypoint = o->has_entrypoint,
		.has_cmd = o->has_cmd,
		.entrypoint = o->entrypoint,
		.cmd = o->cmd,
		.env = o->env,
		.nenv = o->nenv,
		.nitro_cli_rule = o->nitro_cli_compat,
	};
	int ret = image_run_resolve(bi->img, &ov, run);

	if (ret == -ENOEXEC)
		return cli_fail(E_EIF_BUILDING, "%s: give the app's command with --cmd or --entrypoint",
				err_msg());
	return ret ? fail_image(ret, E_EIF_BUILDING) : 0;
}

static int make_bootstrap(const struct build_image_options *o, struct build_image *bi,
			  const struct eif_build *b)
{
	struct rootfs_spec spec = {
		.kernel_modules = o->kernel_modules,
		.init = o->init,
		.nsm_module = bi->nsm[0] ? bi->nsm : NULL,
		.arm64 = b->flags & EIF_FLAG_ARM64,
	};

	if (rootfs_build_bootstrap(&spec, &bi->bootstrap))
		return cli_fail(E_EIF_BUILDING, "cannot build the bootstrap ramdisk: %s", err_msg());
	return 0;
}

int build_image_ramdisks(const struct build_image_options *o, struct build_image *bi, struct eif_build *b)
{
	struct image_run run = {0};
	uint64_t size;
	int ret = check_arch(bi, b);

	if (ret)
		return ret;
	ret = image_fetch(bi->img);
	if (ret)
		return fail_image(ret, E_DOCKER_IMAGE_PULL);
	ret = image_unpack(bi->img);
	/* Unpacking writes only the temporary file beside the output: a refusal there is the directory's. */
	if (ret == -EACCES || ret == -EPERM)
		return cli_fail_err(E_FILE_OPERATION);
	if (ret)
		return fail_image(ret, E_EIF_BUILDING);
	ret = resolve_run(o, bi, &run);
	if (!ret)
		ret = make_bootstrap(o, bi, b);
	if (!ret) {
		ret = image_ramdisk_open(bi->img, &run, &bi->rd, &size);
		ret = ret ? fail_image(ret, E_EIF_BUILDING) : 0;
	}
	image_run_free(&run);
	if (!ret && image_docker_info(bi->img, &bi->docker_info))
		ret = cli_fail_err(E_EIF_BUILDING);
	if (ret)
		return ret;
	bi->stream = (struct eif_stream){size, image_ramdisk_read, image_ramdisk_rewind, bi->rd};
	b->ramdisks[0] = (struct eif_blob){.data = bi->bootstrap.buf, .size = bi->bootstrap.len};
	b->ramdisk_streams[1] = &bi->stream;
	b->nramdisks = 2;
	return 0;
}

const char *build_image_name(const struct build_image *bi)
{
	return bi->tag_name[0] ? bi->tag_name : image_name(bi->img);
}

const char *build_image_version(const struct build_image *bi)
{
	return image_id(bi->img);
}

void build_image_free(struct build_image *bi)
{
	image_ramdisk_close(bi->rd);
	image_close(bi->img);
	cpio_free(&bi->bootstrap);
	progress_free(bi->progress);
	free(bi->docker_info);
	if (bi->archive[0]) {
		char *slash = strrchr(bi->archive, '/');

		unlink(bi->archive);
		if (slash) {
			*slash = '\0';
			rmdir(bi->archive); /* the temporary directory it was made in */
		}
	}
	memset(bi, 0, sizeof(*bi));
}
