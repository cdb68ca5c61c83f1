/* SPDX-License-Identifier: MIT */
/*
 * Container images as enclave root filesystems, without a container engine.
 *
 * An image is named as skopeo names it: a registry reference ([host[:port]/]name[:tag][@digest], Docker Hub
 * when no host), or oci:DIR[:ref], oci-archive:FILE[:ref], docker-archive:FILE[:ref].  Opening it resolves
 * the reference to one manifest for one platform and reads the image's config; fetching brings the layers of
 * a registry image into the blob cache; unpacking applies the layers, in order and with the OCI whiteout
 * rules, into an index of paths whose file contents wait in a temporary file.  Memory stays bounded by the
 * number of paths, never by the size of the image.  Every blob is checked against its digest.
 *
 * The unpacked image then gives the app's run configuration (image_run_resolve: the container's rules, or
 * nitro-cli's) and the customer ramdisk of nitro-cli's layout (image_ramdisk_*): a sorted, deterministic newc
 * cpio with rootfs/ and the cmd and env files, produced as a stream of known size.
 *
 * Functions return 0 or a negative errno with err_msg() set to one sentence.  -EBADMSG always means that
 * bytes did not match their digest.
 */
#ifndef NITROVM_IMAGE_H
#define NITROVM_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/strv.h"

/* A transfer that makes no progress for this long fails: long enough for a slow registry, short enough to
 * end. */
#define IMAGE_DEFAULT_STALL_SECONDS 30
/*
 * The blob cache is pruned back to this size (least recently used first) after every pull: a few images'
 * worth of layers, so a rebuild after a small change fetches only what changed.
 */
#define IMAGE_CACHE_DEFAULT_MAX (8 * 1024ULL * 1024 * 1024)

/* Progress of pulls and unpacks: a step per layer.  Any hook may be NULL. */
struct image_progress {
	void *ctx;
	/* what: "pull" or "unpack"; index is 1-based; size in bytes, 0 when unknown */
	void (*begin)(void *ctx, const char *what, unsigned int index, unsigned int total, const char *name,
		      uint64_t size);
	void (*advance)(void *ctx, uint64_t done);
	/* summary of the step: "cached", "12 files, 3.4 MiB", ... */
	void (*end)(void *ctx, const char *summary);
};

struct image_options {
	const char *arch;	    /* "amd64"/"arm64" (also "x86_64"/"aarch64"); NULL: the host's */
	bool plain_http;	    /* also talk plain http to registries that are not on loopback */
	unsigned int stall_seconds; /* 0: IMAGE_DEFAULT_STALL_SECONDS */
	const char *cache_dir;	    /* NULL: the caches' shared root (common/cache_root.h) */
	const char *work_dir;	    /* where unpacked file contents wait (the output's directory) */
	const struct image_progress *progress;
};

enum image_transport_kind {
	IMAGE_FROM_REGISTRY,
	IMAGE_FROM_FILE, /* oci:, oci-archive:, docker-archive: */
};

struct image;

/* Parse the reference, open its source, resolve manifest, platform and config. */
int image_open(const char *uri, const struct image_options *o, struct image **out);
/* Bring every layer into reach (registry: download into the cache); a no-op for local sources. */
int image_fetch(struct image *img);
/* Apply the layers. */
int image_unpack(struct image *img);
void image_close(struct image *img);

/*
 * An unpacked root filesystem on this host (a container's root.path) as an image, already "unpacked": its
 * entries as they are (symlinks not followed, other file systems mounted into it not entered), file contents
 * copied into a spool in o->work_dir.  It has no config: give its run to image_ramdisk_open() yourself.
 * o->arch names its architecture (default: the host's); the registry options do not apply.
 */
int image_open_rootdir(const char *dir, const struct image_options *o, struct image **out);
/* The home directory of uid in the image's /etc/passwd ("/" when it has none), as runc sets HOME. */
int image_user_home(struct image *img, uint32_t uid, char *home, size_t len);

/* "amd64" or "arm64". */
const char *image_arch(const struct image *img);
/* The reference as written without tag or digest (nitro-cli's default ImageName). */
const char *image_name(const struct image *img);
/* The image ID, the config's digest, without "sha256:" (nitro-cli's default ImageVersion). */
const char *image_id(const struct image *img);
/* DockerInfo for the EIF metadata: docker inspect's object for this image, compact JSON (caller frees). */
int image_docker_info(const struct image *img, char **json);

/* ---- how the app runs (run.c) ---- */

struct image_run_overrides {
	bool has_entrypoint, has_cmd;
	const struct strv *entrypoint, *cmd; /* replace the image's (an empty one clears it) */
	const char *const *env;		     /* NAME=VALUE, replacing the image's NAME or added */
	size_t nenv;
	bool nitro_cli_rule; /* Cmd, else Entrypoint; the image's env only; / as root */
};

/* The limit on supplementary groups: the kernel's NGROUPS_MAX. */
#define IMAGE_MAX_GROUPS 65536

struct image_run {
	struct strv argv, env;
	bool container; /* cwd and user apply (false under nitro-cli's rule: / and root) */
	char cwd[4096];
	uint32_t uid, gid;
	size_t ngroups;
	uint32_t *groups;
};

/*
 * Docker's rules: argv = Entrypoint ++ Cmd; env = the image's Env (+ HOME from the user's passwd entry when
 * Env has none); cwd = WorkingDir (made if missing) or /; User as name or uid, [:group or gid], resolved
 * through the image's /etc/passwd and /etc/group (supplementary groups from /etc/group when no group is
 * named).  Neither Cmd nor Entrypoint: -ENOEXEC; an unknown user or group, a newline in an argument or a
 * variable: -ENOENT or -EINVAL; each with a sentence.  After image_unpack.
 */
int image_run_resolve(struct image *img, const struct image_run_overrides *o, struct image_run *run);
void image_run_free(struct image_run *run);

/* ---- the customer ramdisk (ramdisk.c) ---- */

struct image_ramdisk;

/*
 * nitro-cli's customer ramdisk for the unpacked image: rootfs/ (with linuxkit's rewrites: etc/hosts,
 * etc/resolv.conf, etc/mtab, dev proc sys run tmp var) and the files cmd and env, plus cwd and user for
 * nitrovm's init when run->container.  *size is the exact number of bytes image_ramdisk_read will give.
 */
int image_ramdisk_open(struct image *img, const struct image_run *run, struct image_ramdisk **out,
		       uint64_t *size);
/* The next len bytes of the archive (an eif_stream reader); rewind starts it over. */
int image_ramdisk_read(void *rd, uint8_t *buf, size_t len);
int image_ramdisk_rewind(void *rd);
void image_ramdisk_close(struct image_ramdisk *rd);

/* ---- the blob cache (cache.c) ---- */

struct image_cache_stats {
	uint64_t blobs, bytes;		 /* what is there after pruning */
	uint64_t removed, removed_bytes; /* what went */
};

/* Remove least recently used blobs until at most max_bytes remain (0: all). dir NULL: the default cache. */
int image_cache_prune(const char *dir, uint64_t max_bytes, struct image_cache_stats *st);

/* ---- images from a Dockerfile (dockerfile.c) ---- */

/*
 * Build the Dockerfile in dir with buildah (else podman), both daemonless, tagged tag, and write the result
 * as an OCI archive into work_dir; uri receives "oci-archive:<path>" (the caller removes the file).  The
 * tool's output goes to stderr unless quiet.  No tool: -ENOENT with a sentence.
 */
int image_build_dockerfile(const char *dir, const char *tag, const char *work_dir, bool quiet, char *uri,
			   size_t len);

#endif
