// SPDX-License-Identifier: MIT
/*
 * nitrovm cache: what nitrovm keeps to go faster the next time, under one root ($NITROVM_CACHE, else
 * $XDG_CACHE_HOME/nitrovm, else ~/.cache/nitrovm): the kernels it decompressed for emulated enclaves
 * (src/kernel/cache.c, <root>/vmlinux) and the blobs build-enclave --docker-uri pulled from registries
 * (src/image/cache.c, <root>/blobs).
 *
 *   nitrovm cache path                 the root (also: dir)
 *   nitrovm cache prune [--keep SIZE]  least recently used first, until each holds at most SIZE (default: nothing)
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common/util.h"
#include "image/image.h"
#include "kernel/kernel.h"

static const struct option cache_opts[] = {
	{ "keep", required_argument, NULL, 'k' },
	{ "max-size", required_argument, NULL, 'k' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void cache_usage(void)
{
	printf("Usage: nitrovm cache path\n"
	       "       nitrovm cache prune [--keep SIZE]\n\n"
	       "What nitrovm keeps to go faster the next time, under $" KERNEL_CACHE_ENV ", else\n"
	       "$XDG_CACHE_HOME/nitrovm, else ~/.cache/nitrovm:\n"
	       "  " KERNEL_CACHE_SUBDIR "/  kernels decompressed for emulated enclaves, one file per kernel named by\n"
	       "            the SHA-256 of the EIF's kernel section; at most %llu MiB, least recently used dropped\n"
	       "  blobs/    layers, configs and manifests build-enclave --docker-uri pulled, by digest; every pull\n"
	       "            prunes it back to %llu GiB\n\n"
	       "  path           print the root (dir does the same)\n"
	       "  prune          remove cached kernels and blobs\n"
	       "  --keep SIZE    with prune: keep the most recently used of each up to SIZE (suffixes K, M, G, T;\n"
	       "                 default: keep nothing); --max-size is the same\n",
	       (unsigned long long)(KERNEL_CACHE_MAX_BYTES / MiB), (unsigned long long)(IMAGE_CACHE_DEFAULT_MAX / GiB));
}

/* The root: the kernels' directory without its last component. */
static int cache_root(char *out, size_t len)
{
	char *slash;

	if (kernel_cache_dir(out, len) < 0)
		return -1;
	slash = strrchr(out, '/');
	if (slash)
		*slash = '\0';
	return 0;
}

static int cache_prune(uint64_t keep)
{
	struct image_cache_stats st;
	unsigned int removed = 0;
	uint64_t freed = 0;
	char dir[PATH_MAX], root[PATH_MAX], gone[32], left[32];

	if (kernel_cache_dir(dir, sizeof(dir)) < 0 || kernel_cache_prune(keep, &removed, &freed) < 0)
		return cli_fail_err(E_FILE_OPERATION);
	printf("Removed %u cached kernel%s (%llu MiB) from %s\n", removed, removed == 1 ? "" : "s",
	       (unsigned long long)((freed + MiB - 1) / MiB), dir);
	if (cache_root(root, sizeof(root)) < 0 || image_cache_prune(root, keep, &st) < 0)
		return cli_fail_err(E_FILE_OPERATION);
	size_text(st.removed_bytes, gone, sizeof(gone));
	size_text(st.bytes, left, sizeof(left));
	printf("Removed %llu cached blobs (%s); %llu (%s) remain in %s/blobs\n", (unsigned long long)st.removed, gone,
	       (unsigned long long)st.blobs, left, root);
	return 0;
}

int cmd_cache(int argc, char **argv)
{
	const char *sub = argc > 1 && argv[1][0] != '-' ? argv[1] : NULL;
	char root[PATH_MAX];
	uint64_t keep = 0;
	int c;

	/* The command first (nitrovm cache prune --keep 1G), its options after it. */
	if (sub) {
		argc--;
		argv++;
	}
	optind = 1;
	while ((c = cli_getopt(argc, argv, cache_opts)) != -1) {
		switch (c) {
		case 'k':
			if (cli_parse_size(optarg, 1, &keep) < 0)
				return cli_fail(E_INVALID_ARGUMENT, "--keep '%s' is not a size (like 2G)", optarg);
			break;
		case 'h':
			cache_usage();
			return 0;
		default:
			return cli_bad_option("cache");
		}
	}
	if (!sub || optind != argc)
		return cli_fail(E_INVALID_ARGUMENT, "nitrovm cache needs one of path or prune (nitrovm cache --help)");
	if (!strcmp(sub, "prune"))
		return cache_prune(keep);
	if (strcmp(sub, "path") && strcmp(sub, "dir"))
		return cli_fail(E_INVALID_ARGUMENT, "unknown cache command '%s': use path or prune", sub);
	if (cache_root(root, sizeof(root)) < 0)
		return cli_fail_err(E_FILE_OPERATION);
	printf("%s\n", root);
	return 0;
}
