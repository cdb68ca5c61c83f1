// SPDX-License-Identifier: MIT
/*
 * nitrovm cache: the kernels nitrovm decompressed for emulated enclaves (src/kernel/cache.c).
 *
 *   nitrovm cache path                 the directory
 *   nitrovm cache prune [--keep SIZE]  remove them, least recently used first, until at most SIZE is kept
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common/util.h"
#include "kernel/kernel.h"

static const struct option cache_opts[] = {
	{ "keep", required_argument, NULL, 'k' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void cache_usage(void)
{
	printf("Usage: nitrovm cache path|prune [--keep SIZE]\n\n"
	       "Kernels of emulated enclaves are decompressed by nitrovm once and kept, one file per kernel named by\n"
	       "the SHA-256 of the EIF's kernel section, in $" KERNEL_CACHE_ENV "/" KERNEL_CACHE_SUBDIR
	       ", else $XDG_CACHE_HOME/nitrovm/" KERNEL_CACHE_SUBDIR ",\nelse ~/.cache/nitrovm/" KERNEL_CACHE_SUBDIR
	       ".  The cache keeps at most %llu MiB by itself, dropping the least recently used.\n\n"
	       "  path           print the directory\n"
	       "  prune          remove every cached kernel\n"
	       "  --keep SIZE    with prune: keep the most recently used up to SIZE (suffixes K, M, G; default: 0)\n",
	       (unsigned long long)(KERNEL_CACHE_MAX_BYTES / MiB));
}

static int cache_prune(uint64_t keep)
{
	unsigned int removed = 0;
	uint64_t freed = 0;
	char dir[PATH_MAX];

	if (kernel_cache_dir(dir, sizeof(dir)) < 0 || kernel_cache_prune(keep, &removed, &freed) < 0)
		return cli_fail_err(E_FILE_OPERATION);
	printf("Removed %u cached kernel%s (%llu MiB) from %s\n", removed, removed == 1 ? "" : "s",
	       (unsigned long long)((freed + MiB - 1) / MiB), dir);
	return 0;
}

int cmd_cache(int argc, char **argv)
{
	const char *sub = argc > 1 && argv[1][0] != '-' ? argv[1] : NULL;
	char dir[PATH_MAX];
	uint64_t keep = 0;
	int c;

	/* The command first (nitrovm cache prune --keep 1G), its options after it. */
	if (sub) {
		argc--;
		argv++;
	}
	while ((c = cli_getopt(argc, argv, cache_opts)) != -1) {
		switch (c) {
		case 'k':
			if (cli_parse_size(optarg, 1, &keep) < 0)
				return cli_fail(E_INVALID_ARGUMENT, "--keep '%s' is not a size", optarg);
			break;
		case 'h':
			cache_usage();
			return 0;
		default:
			return cli_bad_option(argv[0]);
		}
	}
	if (!sub || optind != argc)
		return cli_fail(E_INVALID_ARGUMENT, "nitrovm cache needs one of path or prune (nitrovm cache --help)");
	if (!strcmp(sub, "prune"))
		return cache_prune(keep);
	if (strcmp(sub, "path"))
		return cli_fail(E_INVALID_ARGUMENT, "unknown cache command '%s': use path or prune", sub);
	if (kernel_cache_dir(dir, sizeof(dir)) < 0)
		return cli_fail_err(E_FILE_OPERATION);
	printf("%s\n", dir);
	return 0;
}
