/* SPDX-License-Identifier: MIT */
/*
 * `nitrovm build-enclave --rootfs`: nitro-cli's two-ramdisk layout (init and its modules in the first, the image under rootfs/ in the second), so PCR1 and PCR2 mean
 * what they mean on AWS.
 *
 *   ramdisk 1, bootstrap (PCR1 with the kernel and cmdline): dev/ (0755), dev/console, init (0755, nitrovm's
 *       static init or --init), and with --kernel-modules: modules/ with the module files and modules/order;
 *   ramdisk 2, customer (PCR2): the root filesystem under rootfs/ with rootfs/{dev,run,sys,var,proc,tmp}
 * (0755) added where missing, and the files cmd and env (0644) at the ramdisk root: one argv element, one
 * NAME=VALUE per line.
 *
 * Functions return 0 or a negative errno with err_set() describing the problem.
 */
#ifndef NITROVM_CLI_ROOTFS_H
#define NITROVM_CLI_ROOTFS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/strv.h"

struct cpio;

/*
 * Split --cmd into arguments the way a shell would for simple cases: blanks separate arguments, '...' keeps
 * everything literally, "..." keeps everything but \" and \\ (which lose their backslash), a backslash
 * outside quotes keeps the next character.  No variables, globs or other expansion.  An unterminated quote,
 * an empty command or an argument holding a newline (which /cmd cannot carry) is -EINVAL.
 */
int rootfs_split_cmd(const char *cmd, struct strv *argv);
/* Read --cmd-file: one argument per line, the format of /cmd itself. */
int rootfs_read_cmd_file(const char *path, struct strv *argv);
/* NAME=VALUE with a non-empty NAME and no newline anywhere. */
int rootfs_check_env(const char *kv);

struct rootfs_spec {
	const char *rootfs;	/* host directory: the app's root filesystem */
	const struct strv *cmd; /* argv of the app */
	const char *const *env; /* NAME=VALUE strings */
	size_t nenv;
	const char *kernel_modules; /* host directory of .ko[.xz|.zst|.gz] files, or NULL */
	const char *init;	    /* the init executable, or NULL for nitrovm's own */
	const char *nsm_module;	    /* nitro-cli's blobs/nsm.ko, packed as /nsm.ko (AWS's layout), or NULL */
	bool arm64;		    /* the image's architecture, which the init must match */
};

/* Fill two fresh (cpio_init'ed) archives and finish them. */
int rootfs_build(const struct rootfs_spec *spec, struct cpio *bootstrap, struct cpio *customer);
/* Only the bootstrap one (spec->rootfs, cmd and env unused): images from containers make their own. */
int rootfs_build_bootstrap(const struct rootfs_spec *spec, struct cpio *bootstrap);

#endif
