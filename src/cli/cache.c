// SPDX-License-Identifier: MIT
/* nitrovm cache: placeholder */
#include "cli.h"

int cmd_cache(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return 1;
}
