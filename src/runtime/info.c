// SPDX-License-Identifier: MIT
/*
 * What nitrovm-runc tells about containers and itself: state (the runtime spec's state, with runc's extras),
 * ps (the container's processes: the monitor, the one process on the host an enclave has) and features (the
 * runtime spec's features document, for engines that ask).
 */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_pretty.h"
#include "common/util.h"
#include "runtime.h"

int rt_cmd_state(const struct rt_globals *g, int argc, char **argv)
{
	struct rt_state s;
	char dir[PATH_MAX], *json;
	const char *id;
	int ret;

	optind = 1;
	opterr = 0;
	if (getopt_long_only(argc, argv, "+", (const struct option[]){ { NULL, 0, NULL, 0 } }, NULL) != -1)
		return rt_fail("state: unknown option '%s'", argv[optind - 1]);
	ret = rt_one_id(argc, argv, "state ID", &id);
	if (!ret)
		ret = rt_lookup(g, id, dir, sizeof(dir), &s);
	if (ret == RT_DELEGATED)
		return rt_pass_on(g, argv);
	if (ret)
		return rt_fail_err();
	json = rt_state_json(&s);
	printf("%s\n", json);
	free(json);
	rt_state_free(&s);
	return 0;
}

static void print_pids(const pid_t *pids, size_t n, bool json)
{
	if (!json) {
		printf("PID\n");
		for (size_t i = 0; i < n; i++)
			printf("%d\n", (int)pids[i]);
		return;
	}
	printf("[");
	for (size_t i = 0; i < n; i++)
		printf("%s%d", i ? "," : "", (int)pids[i]);
	printf("]\n");
}

int rt_cmd_ps(const struct rt_globals *g, int argc, char **argv)
{
	static const struct option opts[] = { { "format", required_argument, NULL, 'f' }, { NULL, 0, NULL, 0 } };
	const char *format = "table";
	struct rt_state s;
	char dir[PATH_MAX];
	pid_t *pids = NULL;
	size_t n = 0;
	int c, ret;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long_only(argc, argv, "+f:", opts, NULL)) != -1) {
		if (c != 'f')
			return rt_fail("ps: unknown option or missing value '%s'", argv[optind - 1]);
		format = optarg;
	}
	if (strcmp(format, "table") && strcmp(format, "json"))
		return rt_fail("ps: unknown --format '%s': use table or json", format);
	/* runc passes what follows the id to ps(1); there is no ps(1) of an enclave's processes to pass it to. */
	if (optind >= argc)
		return rt_fail("ps needs a container id (" RT_NAME " ps [--format json] ID)");
	ret = rt_lookup(g, argv[optind], dir, sizeof(dir), &s);
	if (ret == RT_DELEGATED)
		return rt_pass_on(g, argv);
	if (ret)
		return rt_fail_err();
	if (rt_state_status(&s) != RT_STOPPED) {
		ret = rt_cgroup_pids(&s.cg, &pids, &n);
		if (!ret && !n && (pids = malloc(sizeof(*pids)))) {
			pids[0] = s.pid;
			n = 1;
		}
	}
	if (!ret)
		print_pids(pids, n, !strcmp(format, "json"));
	free(pids);
	rt_state_free(&s);
	return ret ? rt_fail_err() : 0;
}

static struct json_object *strings(const char *const *v, size_t n)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

int rt_cmd_features(const struct rt_globals *g, int argc, char **argv)
{
	static const char *const namespaces[] = { "network" };
	static const char *const annotations[][2] = {
		{ RT_ANN_ENCLAVE, "true or false: this container is (not) an enclave" },
		{ RT_ANN_CONTAINERS, "the containers of the pod that are enclaves (comma-separated names)" },
		{ RT_ANN_EIF, "the EIF in the image to boot (default " RT_ENCLAVER_EIF " when there is one)" },
		{ RT_ANN_CPUS, "the enclave's vCPUs" },
		{ RT_ANN_MEMORY, "the enclave's memory in MiB" },
		{ RT_ANN_PORTS, "TCP:VSOCK port pairs joined into the enclave" },
		{ RT_ANN_DEBUG, "true: debug mode (console kept, PCRs zero)" },
	};
	struct json_object *o = json_object_new_object(), *linux_ = json_object_new_object();
	struct json_object *cg = json_object_new_object(), *ann = json_object_new_object();
	char *text;

	(void)g;
	(void)argc;
	(void)argv;
	json_object_object_add(o, "ociVersionMin", json_object_new_string("1.0.0"));
	json_object_object_add(o, "ociVersionMax", json_object_new_string(RT_OCI_VERSION));
	json_object_object_add(o, "hooks", json_object_new_array());
	json_object_object_add(o, "mountOptions", json_object_new_array());
	json_object_object_add(linux_, "namespaces", strings(namespaces, ARRAY_SIZE(namespaces)));
	json_object_object_add(linux_, "capabilities", json_object_new_array());
	json_object_object_add(cg, "v1", json_object_new_boolean(1));
	json_object_object_add(cg, "v2", json_object_new_boolean(1));
	json_object_object_add(cg, "systemd", json_object_new_boolean(1));
	json_object_object_add(cg, "systemdUser", json_object_new_boolean(0));
	json_object_object_add(linux_, "cgroup", cg);
	json_object_object_add(o, "linux", linux_);
	for (size_t i = 0; i < ARRAY_SIZE(annotations); i++)
		json_object_object_add(ann, annotations[i][0], json_object_new_string(annotations[i][1]));
	json_object_object_add(o, "annotations", ann);
	text = json_pretty(o);
	printf("%s\n", text);
	free(text);
	json_object_put(o);
	return 0;
}
