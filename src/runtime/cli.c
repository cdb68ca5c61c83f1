// SPDX-License-Identifier: MIT
/*
 * nitrovm-runc's command line: runc's global flags, then a command.  Engines pass flags runc knows and we
 * need not (--criu, --rootless), and newer engines flags we have never seen: unknown global flags are accepted
 * and ignored, as the issue that made this runtime asks (runc itself refuses them).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

struct rt_command {
	const char *name;
	int (*run)(const struct rt_globals *g, int argc, char **argv);
};

static const struct rt_command commands[] = {
	{ "create", rt_cmd_create }, { "start", rt_cmd_start },	  { "state", rt_cmd_state },
	{ "kill", rt_cmd_kill },     { "delete", rt_cmd_delete }, { "ps", rt_cmd_ps },
	{ "features", rt_cmd_features },
};

/* runc's commands an enclave cannot do, and why, in one sentence each. */
static const struct {
	const char *name, *why;
} refused[] = {
	{ "exec", "an enclave runs one app and has no way in for another process (no exec, no kubectl exec)" },
	{ "pause", "an enclave cannot be frozen from outside: its memory and CPUs are the enclave's" },
	{ "resume", "an enclave cannot be frozen from outside, so there is nothing to resume" },
	{ "update", "an enclave's CPUs and memory are fixed when it boots: recreate the container to change them" },
	{ "checkpoint", "an enclave's memory cannot be read from outside, so it cannot be checkpointed" },
	{ "restore", "an enclave cannot be checkpointed, so there is nothing to restore" },
	{ "run", "use create and start (podman and containerd do)" },
};

static const char usage[] =
	"Usage: " RT_NAME " [global options] COMMAND [options] ID\n\n"
	"runc's command line over nitrovm: containers become AWS Nitro Enclaves (emulated on KVM, native on EC2).\n"
	"Engines run it as their OCI runtime (podman: --runtime, containerd: BinaryName); docs/kubernetes.md.\n\n"
	"Commands:\n"
	"  create --bundle DIR --pid-file FILE [--console-socket SOCK] ID\n"
	"                       prepare the container: an enclave (its image's EIF, or one packed from its root\n"
	"                       filesystem), or runc/crun's for the pod's sandbox and containers not selected\n"
	"  start ID             boot the enclave; the app's output is the container's, its exit status too\n"
	"  state ID             the runtime-spec state as JSON\n"
	"  kill [--all] ID [SIGNAL]\n"
	"                       SIGKILL ends the enclave at once; other signals go to the app (default TERM)\n"
	"  delete [--force] ID  remove a stopped container (--force: end it first; unknown ids are fine)\n"
	"  ps [--format table|json] ID\n"
	"                       the container's processes (the enclave process)\n"
	"  features             what this runtime supports, as JSON\n"
	"  exec, pause, resume, update, checkpoint, restore, run: refused, with the reason\n\n"
	"Global options:\n"
	"  --root DIR           state directory (default " RT_ROOT_DEFAULT ", other users $XDG_RUNTIME_DIR/"
	RT_ROOT_USER_DIR ")\n"
	"  --log FILE           write errors there too\n"
	"  --log-format FORMAT  text (default) or json\n"
	"  --systemd-cgroup     cgroupsPath is systemd's slice:prefix:name\n"
	"  --debug              more detail in the log\n"
	"  --version, --help    other global options are accepted and ignored\n\n"
	"Annotations: nitrovm.io/enclave, nitrovm.io/containers, nitrovm.io/eif, nitrovm.io/cpus,\n"
	"nitrovm.io/memory-mib, nitrovm.io/ports, nitrovm.io/debug-mode.  Configuration: $" RT_CONFIG_ENV ", else\n"
	RT_CONFIG_DEFAULT " (the kernel for rootfs mode, the delegate, the hypervisor).\n";

static bool is_command(const char *s)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(s, commands[i].name))
			return true;
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (!strcmp(s, refused[i].name))
			return true;
	return false;
}

static int default_root(struct rt_globals *g)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (geteuid() == 0)
		snprintf(g->root, sizeof(g->root), "%s", RT_ROOT_DEFAULT);
	else if (xdg && xdg[0] == '/')
		snprintf(g->root, sizeof(g->root), "%s/%s", xdg, RT_ROOT_USER_DIR);
	else
		snprintf(g->root, sizeof(g->root), "/run/user/%u/%s", (unsigned int)geteuid(), RT_ROOT_USER_DIR);
	return 0;
}

/* A boolean flag's value: none or "=true" is true. */
static bool flag_true(const char *value)
{
	return !value || !strcmp(value, "true") || !strcmp(value, "1");
}

/* One global flag at argv[*i] (with its value, if it takes one); 1 when --help or --version answered. */
static int global_flag(struct rt_globals *g, int argc, char **argv, int *i)
{
	char name[64];
	const char *arg = argv[*i] + (argv[*i][1] == '-' ? 2 : 1), *eq = strchr(arg, '='), *value = NULL;

	snprintf(name, sizeof(name), "%.*s", (int)(eq ? (size_t)(eq - arg) : strlen(arg)), arg);
	if (eq)
		value = eq + 1;
	if (!strcmp(name, "help") || !strcmp(name, "h")) {
		fputs(usage, stdout);
		return 1;
	}
	if (!strcmp(name, "version") || !strcmp(name, "v")) {
		printf(RT_NAME " version %s\nspec: %s\n", NITROVM_VERSION, RT_OCI_VERSION);
		return 1;
	}
	if (!strcmp(name, "debug") || !strcmp(name, "systemd-cgroup")) {
		*(!strcmp(name, "debug") ? &g->debug : &g->systemd_cgroup) = flag_true(value);
		return 0;
	}
	if (!strcmp(name, "root") || !strcmp(name, "log") || !strcmp(name, "log-format") ||
	    !strcmp(name, "criu") || !strcmp(name, "rootless")) {
		if (!value && *i + 1 < argc)
			value = argv[++*i];
		if (!value)
			return -rt_fail("the global option --%s needs a value", name);
		if (!strcmp(name, "root"))
			snprintf(g->root, sizeof(g->root), "%s", value);
		else if (!strcmp(name, "log"))
			g->log_path = value;
		else if (!strcmp(name, "log-format"))
			g->log_format = value;
		return 0;
	}
	/* Unknown: its value is the next word unless that is the command. */
	if (!value && *i + 1 < argc && argv[*i + 1][0] != '-' && !is_command(argv[*i + 1]))
		++*i;
	return 0;
}

static int parse_globals(struct rt_globals *g, int argc, char **argv, int *i)
{
	int ret;

	default_root(g);
	g->log_format = "text";
	for (*i = 1; *i < argc && argv[*i][0] == '-' && argv[*i][1]; ++*i) {
		ret = global_flag(g, argc, argv, i);
		if (ret)
			return ret;
	}
	rt_log_setup(g);
	if (strcmp(g->log_format, "text") && strcmp(g->log_format, "json"))
		return -rt_fail("unknown --log-format '%s': use text or json", g->log_format);
	if (g->root[0] != '/')
		return -rt_fail("--root '%s' is not an absolute path", g->root);
	return 0;
}

int runtime_main(int argc, char **argv)
{
	struct rt_globals g = { 0 };
	int i, ret = parse_globals(&g, argc, argv, &i);

	if (ret)
		return ret > 0 ? 0 : -ret;
	if (i >= argc) {
		fputs(usage, stderr);
		return RT_EXIT_ERROR;
	}
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (!strcmp(argv[i], commands[k].name))
			return commands[k].run(&g, argc - i, argv + i);
	for (size_t k = 0; k < sizeof(refused) / sizeof(refused[0]); k++)
		if (!strcmp(argv[i], refused[k].name))
			return rt_fail("%s is not supported by " RT_NAME ": %s", argv[i], refused[k].why);
	return rt_fail("unknown command '%s' (" RT_NAME " --help lists them)", argv[i]);
}
