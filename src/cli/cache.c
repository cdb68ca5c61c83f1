// SPDX-License-Identifier: MIT
/*
 * nitrovm cache: the blob cache that registry pulls fill ($XDG_CACHE_HOME/nitrovm, else ~/.cache/nitrovm).
 *
 *   nitrovm cache prune [--max-size SIZE]   remove least recently used blobs until at most SIZE remain
 *                                           (default: remove them all)
 *   nitrovm cache dir                       print the cache's directory
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common/util.h"
#include "image/image.h"

static const char usage[] =
	"Usage: nitrovm cache prune [--max-size SIZE]\n"
	"       nitrovm cache dir\n\n"
	"The blobs that build-enclave --docker-uri pulls from registries, by digest, under "
	"$XDG_CACHE_HOME/nitrovm\n"
	"(else ~/.cache/nitrovm).  Every pull prunes it back to 8 GiB, least recently used first.\n\n"
	"  prune                 remove cached blobs: all of them, or with --max-size SIZE (K, M, G, T "
	"suffixes;\n"
	"                        bytes without) the least recently used until at most SIZE remain\n"
	"  dir                   print the cache's directory\n";

static int prune(int argc, char **argv)
{
	static const struct option opts[] = {
		{"max-size", required_argument, NULL, 'm'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct image_cache_stats st;
	char dir[PATH_MAX], removed[32], kept[32];
	uint64_t max = 0;
	int c;

	while ((c = cli_getopt(argc, argv, opts)) != -1) {
		switch (c) {
		case 'm':
			if (cli_parse_size(optarg, 1, &max))
				return cli_fail(E_INVALID_ARGUMENT, "--max-size '%s' is not a size (e.g. 2G)",
						optarg);
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			return cli_bad_option("cache prune");
		}
	}
	if (optind < argc)
		return cli_fail(E_INVALID_ARGUMENT, "unexpected argument '%s' for cache prune", argv[optind]);
	if (image_cache_dir(NULL, dir, sizeof(dir)) || image_cache_prune(NULL, max, &st))
		return cli_fail_err(E_FILE_OPERATION);
	size_text(st.removed_bytes, removed, sizeof(removed));
	size_text(st.bytes, kept, sizeof(kept));
	printf("removed %llu blobs (%s); %llu blobs (%s) remain in %s\n", (unsigned long long)st.removed,
	       removed, (unsigned long long)st.blobs, kept, dir);
	return 0;
}

int cmd_cache(int argc, char **argv)
{
	char dir[PATH_MAX];

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? E_MISSING_ARGUMENT : 0;
	}
	if (!strcmp(argv[1], "prune"))
		return prune(argc - 1, argv + 1);
	if (!strcmp(argv[1], "dir")) {
		if (argc > 2)
			return cli_fail(E_INVALID_ARGUMENT, "unexpected argument '%s' for cache dir",
					argv[2]);
		if (image_cache_dir(NULL, dir, sizeof(dir)))
			return cli_fail_err(E_FILE_OPERATION);
		printf("%s\n", dir);
		return 0;
	}
	return cli_fail(E_INVALID_ARGUMENT, "unknown cache command '%s': use prune or dir", argv[1]);
}
