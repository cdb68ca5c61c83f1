// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for what nitrovm-runc reads from an engine and a pod's author: a bundle's config.json
 * (src/runtime/bundle.c) with everything create derives from it before anything is made -- the choice of mode
 * and its annotations (select.c), the enclave's size (sizing.c), the port bridges (ports.c) and the cgroup's
 * directories in both forms (cgroup.c) -- and, from the same bytes as text, the node's configuration file
 * (config.c).  Nothing may crash, read past the input, or accept a value the checks promise to refuse.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime.h"
#include "vsock/bridge.h"

static void derived(struct rt_bundle *b)
{
	struct rt_config cfg = { .cpus = 2, .memory_mib = 512 };
	struct bridge_config ports;
	struct rt_choice c;
	struct rt_size sz;
	struct rt_cgroup cg;

	if (rt_bundle_check(b))
		return;
	if (b->cwd[0] != '/' || !b->args.n)
		abort(); /* rt_bundle_check promises both */
	if (!rt_select(b, &c) && c.mode == RT_MODE_EIF && c.eif[0] != '/')
		abort();
	for (int native = 0; native < 2; native++)
		if (!rt_size(b, &cfg, native, 8u << 20, !native, &sz) && (!sz.cpus || sz.memory_mib < 32))
			abort();
	rt_ports(b, &ports);
	for (int systemd = 0; systemd < 2; systemd++) {
		if (rt_cgroup_resolve(b->cgroups_path, systemd, "fuzz", &cg))
			continue;
		for (unsigned int i = 0; i < cg.n; i++)
			if (strstr(cg.dirs[i], "/../") || strncmp(cg.dirs[i], RT_CGROUP_ROOT "/", strlen(RT_CGROUP_ROOT) + 1))
				abort(); /* a cgroup outside the hierarchy */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rt_bundle b;
	struct rt_config cfg = { 0 };
	char *text;

	if (!rt_bundle_parse(&b, "/nonexistent-bundle", data, size)) {
		derived(&b);
		rt_bundle_free(&b);
	}
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	rt_config_parse(&cfg, text);
	free(text);
	return 0;
}
