/* SPDX-License-Identifier: MIT */
/*
 * build-enclave --docker-uri / --docker-dir: the EIF's ramdisks from a container image (src/image), in
 * nitro-cli's layout: the bootstrap ramdisk (nitrovm's init, kernel modules, nitro-cli's nsm.ko when the
 * kernel is nitro-cli's) and the customer ramdisk, streamed from the unpacked image.  The kernel is --kernel,
 * else the one in nitro-cli's blobs directory for the image's architecture.
 *
 * Each step returns 0 or the exit status after printing the error line: nitro-cli's numbers, E50 for getting
 * the image (registry, archive, digests), E49 for a Dockerfile build, E48 for making the EIF from it, E52
 * when there is no kernel, E19 for files and full disks.
 */
#ifndef NITROVM_CLI_BUILD_IMAGE_H
#define NITROVM_CLI_BUILD_IMAGE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/strv.h"
#include "eif/cpio.h"
#include "eif/eif.h"

struct image;
struct image_ramdisk;
struct progress;

struct build_image_options {
	const char *uri, *docker_dir;
	const char *arch;   /* --arch, or NULL */
	const char *output; /* the EIF: unpacked files wait beside it */
	bool quiet, plain_http, nitro_cli_compat;
	unsigned int stall_seconds;
	bool has_cmd, has_entrypoint;
	const struct strv *cmd, *entrypoint;
	const char *const *env;
	size_t nenv;
	const char *kernel_modules, *init;
};

struct build_image {
	struct image *img;
	struct image_ramdisk *rd;
	struct eif_stream stream;
	struct cpio bootstrap;
	struct progress *progress;
	char *docker_info;
	char work_dir[PATH_MAX];
	char archive[PATH_MAX]; /* --docker-dir's temporary OCI archive */
	char tag_name[PATH_MAX]; /* --docker-dir: the tag without its version, the image's name */
	/* from nitro-cli's blobs directory when --kernel / --cmdline are not given */
	char kernel[PATH_MAX], cmdline[PATH_MAX], nsm[PATH_MAX];
};

/*
 * Build (--docker-dir) and open the image, and when the command line has none, find nitro-cli's kernel and
 * command line for its architecture (bi->kernel, bi->cmdline: "" when not needed).
 */
int build_image_open(const struct build_image_options *o, bool need_kernel, bool need_cmdline,
		     struct build_image *bi);
/* Fetch and unpack it, check it against the kernel's architecture, and set b's two ramdisks. */
int build_image_ramdisks(const struct build_image_options *o, struct build_image *bi, struct eif_build *b);
const char *build_image_name(const struct build_image *bi);
const char *build_image_version(const struct build_image *bi);
void build_image_free(struct build_image *bi);

#endif
