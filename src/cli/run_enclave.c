// SPDX-License-Identifier: MIT
/*
 * nitrovm run-enclave: start an enclave from an EIF, as nitro-cli does.  By default a detached enclave process
 * (enclave/proc.h) owns it and the command returns once the enclave answered the heartbeat, printing nitro-cli's
 * run-enclave JSON; --attach-console then shows its console.  --foreground keeps the enclave in this process:
 * the JSON once it runs, its console on stdout, and the exit status of how it ended.  --config takes
 * nitro-cli's JSON file instead of the options.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "common/evloop.h"
#include "common/json_pretty.h"
#include "common/out_pump.h"
#include "common/util.h"
#include "enclave/console_ring.h"
#include "enclave/launch.h"
#include "enclave/proc.h"
#include "enclave/registry.h"
#include "hypervisor/nitro.h"
#include "nsm/nsm.h"
#include "vsock/bridge.h"

#define CID_RESERVED_MAX 3	     /* 0-2 hypervisor/local/host, 3 the parent */
#define CID_INVALID	 0xffffffffULL /* VMADDR_CID_ANY */
#define OPT_BRIDGE	 0x1000	       /* long-only bridge options: OPT_BRIDGE + index in bridge_opts */
#define CONFIG_FILE_MAX	 (64 * 1024)   /* a run configuration is a handful of keys */
#define CONSOLE_TAIL_LINES 20	       /* of a debug enclave's console, shown when it failed to boot */

static const char *const bridge_opts[] = { "vsock-uds", "forward-listen", "forward-connect", "forward-vsock",
					   "forward-remote" };

static const struct option run_opts[] = {
	{ "eif-path", required_argument, NULL, 'e' },
	{ "cpu-count", required_argument, NULL, 'c' },
	{ "memory", required_argument, NULL, 'm' },
	{ "enclave-cid", required_argument, NULL, 'C' },
	{ "enclave-name", required_argument, NULL, 'n' },
	{ "debug-mode", no_argument, NULL, 'd' },
	{ "attach-console", no_argument, NULL, 'a' },
	{ "test-rng", no_argument, NULL, 'r' },
	{ "no-acpi", no_argument, NULL, 'A' },
	{ "boot-path", required_argument, NULL, 'K' },
	{ "hugepages", no_argument, NULL, 'H' },
	{ "no-heartbeat", no_argument, NULL, 'B' },
	{ "parent-role", required_argument, NULL, 'R' },
	{ "parent-id", required_argument, NULL, 'P' },
	{ "vsock-uds", required_argument, NULL, OPT_BRIDGE + 0 },
	{ "forward-listen", required_argument, NULL, OPT_BRIDGE + 1 },
	{ "forward-connect", required_argument, NULL, OPT_BRIDGE + 2 },
	{ "forward-vsock", required_argument, NULL, OPT_BRIDGE + 3 },
	{ "forward-remote", no_argument, NULL, OPT_BRIDGE + 4 },
	{ "hypervisor", required_argument, NULL, 'Y' },
	{ "cpu-ids", required_argument, NULL, 'I' },
	{ "config", required_argument, NULL, 'F' },
	{ "foreground", no_argument, NULL, 'f' },
	{ "no-seccomp", no_argument, NULL, 'S' },
	{ "run-as", required_argument, NULL, 'U' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void run_usage(void)
{
	printf("Usage: nitrovm run-enclave --eif-path FILE --cpu-count N --memory MIB [options]\n"
	       "       nitrovm run-enclave --config FILE.json [--attach-console] [options]\n\n"
	       "Start an enclave on the Nitro Enclaves driver or this host's KVM (--hypervisor).  A detached enclave\n"
	       "process owns it; the command returns once the enclave answered the boot heartbeat, printing the\n"
	       "run-enclave JSON.  describe-enclaves, console and terminate-enclave find it afterwards, as do\n"
	       "nitro-cli's.\n\n"
	       "  --eif-path FILE       the enclave image; on kvm its PCR0/1/2 are measured from this file while the\n"
	       "                        enclave boots, and an image changed meanwhile stops the enclave\n"
	       "  --cpu-count N         vCPUs (at least 1)\n"
	       "  --memory SIZE         memory in MiB (suffixes M, G, T); at least 64, a multiple of 2 and 4x the EIF\n"
	       "  --enclave-cid CID     the enclave's vsock CID (4 or more; default: chosen)\n"
	       "  --enclave-name NAME   its name (default: the EIF's file name)\n"
	       "  --debug-mode          debug mode (attestation documents carry zero PCRs)\n"
	       "  --attach-console      show the console once the enclave booted, its history first (implies\n"
	       "                        --debug-mode); with --foreground, read it through vsock (CID 0, port\n"
	       "                        CID + 10000) as nitro-cli does instead of from the serial port\n"
	       "  --config FILE.json    nitro-cli's run configuration: eif_path, memory_mib, cpu_count or cpu_ids,\n"
	       "                        enclave_cid, debug_mode, attach_console, enclave_name (instead of those\n"
	       "                        options)\n"
	       "  --foreground          keep the enclave in this process: the JSON once it runs, the console on\n"
	       "                        stdout, and the exit status of how it ended: the app's own status when\n"
	       "                        nitrovm's init reported it, else 0 for a power-off or reset\n"
	       "  --no-heartbeat        do not answer the boot heartbeat: vsock port 9000 is left to your service\n"
	       "  --test-rng            add the virtio-rng test device at 0xd0002000, IRQ 7\n"
	       "  --no-acpi             no ACPI tables: declare the devices with virtio_mmio.device= instead\n"
	       "  --hugepages           back enclave memory with 2 MiB huge pages when the host has them\n"
	       "  --no-seccomp          no system-call allow-lists (by default the enclave process may not start\n"
	       "                        programs or create processes once it runs, its vCPU threads only run KVM)\n"
	       "  --run-as USER[:GROUP] started as root, the enclave process becomes this user (name or number; the\n"
	       "                        group defaults to the user's own) once its devices and sockets are open, in\n"
	       "                        an empty mount namespace and with no capabilities (default: the user\n"
	       "                        " PRIVDROP_USER_DEDICATED " if it exists, else " PRIVDROP_USER_FALLBACK
	       "); root keeps root, for debugging\n"
	       "                        nitrovm itself.  Started as another user, it keeps that one\n"
	       "  --boot-path PATH      host (default): nitrovm decompresses the kernel (cached) and places it with\n"
	       "                        KASLR as its decompressor would; decompressor: the kernel's own code does it\n"
	       "                        in the enclave.  What host cannot unpack boots the other way, saying why\n"
	       "  --parent-role ARN     the parent's IAM role ARN, measured into PCR3 (default: none, PCR3 zero)\n"
	       "  --parent-id ID        the parent's instance id: PCR4 and the enclave id's prefix (default: this\n"
	       "                        EC2 instance's id, else " NSM_DEFAULT_PARENT_ID ")\n");
	printf("\nNative mode (docs/native.md):\n"
	       "  --hypervisor NAME     nitro: the /dev/nitro_enclaves driver (the enclave runs on the Nitro\n"
	       "                        hypervisor; needs the CPU pool and huge pages of nitro-enclaves-allocator);\n"
	       "                        kvm: nitrovm's own hypervisor on /dev/kvm; nitro-sim: the driver simulated\n"
	       "                        in front of kvm, for tests.  Default: $" CLI_HYPERVISOR_ENV ", else nitro when\n"
	       "                        " NE_DEVICE_PATH " exists, else kvm (said on stderr)\n"
	       "  --cpu-ids ID...       these CPUs of the pool instead of --cpu-count (\"1 3\", \"1,3\" or \"1-3\");\n"
	       "                        whole cores only\n"
	       "  On nitro and nitro-sim the console is the Nitro hypervisor's vsock stream only: --attach-console\n"
	       "  (debug mode).  On nitro, --test-rng, --no-acpi, --boot-path, --parent-role and --parent-id are\n"
	       "  refused: the Nitro hypervisor's machine and measurements are AWS's.\n"
	       "  $" CLI_KVM_DEVICE_ENV " names the KVM device (default /dev/kvm); " CLI_NE_TRACE_ENV "=1 prints each\n"
	       "  request to the Nitro Enclaves driver on stderr.\n");
	printf("\nHost bridges for the enclave's vsock ports (docs/usage.md):\n%s", cli_bridge_usage);
}

struct run_args {
	const char *eif_path;
	const char *name;
	const char *parent_role, *parent_id;
	const char *config;
	uint64_t memory_mib;
	uint64_t cpus;
	uint64_t cid;
	bool have_cpus, have_memory, have_cid;
	bool debug, rng, no_acpi, hugepages;
	bool attach, no_heartbeat, foreground, no_seccomp;
	const char *run_as;
	enum hv_kernel_boot boot_path;
	bool have_boot_path;
	const char *hypervisor;
	uint32_t cpu_ids[HV_MAX_VCPUS];
	unsigned int ncpu_ids;
	bool have_cpu_ids;
	struct bridge_config bridges;
	struct json_object *config_json; /* keeps --config's strings alive */
	const char *nitro_cli_option;	 /* one of nitro-cli's own options, given with --config */
};

static int check_cid(uint64_t cid, const char *s)
{
	if ((cid && cid <= CID_RESERVED_MAX) || cid >= CID_INVALID)
		return cli_fail(E_INVALID_ARGUMENT, "--enclave-cid %s is reserved: use 4 up to 4294967294 (0 lets "
						    "nitrovm choose)", s);
	return 0;
}

static int parse_cid(const char *s, uint64_t *cid)
{
	if (cli_parse_u64(s, cid) < 0)
		return cli_fail(E_INVALID_ARGUMENT, "--enclave-cid '%s' is not a number", s);
	return check_cid(*cid, s);
}

/* One CPU id of --cpu-ids (or cpu_ids). */
static int add_cpu_id(struct run_args *a, unsigned int c)
{
	if (a->ncpu_ids == HV_MAX_VCPUS)
		return cli_fail(E_INVALID_ARGUMENT, "--cpu-ids: at most %d CPUs", HV_MAX_VCPUS);
	a->cpu_ids[a->ncpu_ids++] = c;
	a->have_cpu_ids = true;
	return 0;
}

/* One word of --cpu-ids: a CPU id or a cpu-list. */
static int add_cpu_ids(struct run_args *a, const char *word)
{
	struct cpu_set set;
	int ret;

	if (cpu_list_parse(word, &set) < 0 || !cpu_set_count(&set))
		return cli_fail(E_MALFORMED_CPU_ID, "--cpu-ids '%s' is not a CPU id or a list of them (like 1 3, or "
						    "1,3)", word);
	for (unsigned int c = 0; c < NE_MAX_CPUS; c++) {
		if (!cpu_set_has(&set, c))
			continue;
		ret = add_cpu_id(a, c);
		if (ret)
			return ret;
	}
	return 0;
}

/* ---- --config: nitro-cli's RunEnclavesArgs as JSON ---- */

/* A serde error in nitro-cli's words: E17 (SerdeError). */
static int config_error(const char *path, const char *what)
{
	return cli_fail(E_SERDE, "Invalid JSON format for config file %s: %s", path, what);
}

static int config_u64(struct json_object *v, uint64_t *out)
{
	int64_t n;

	if (!json_object_is_type(v, json_type_int))
		return -EINVAL;
	errno = 0;
	n = json_object_get_int64(v);
	if (n < 0 || errno)
		return -EINVAL;
	*out = (uint64_t)n;
	return 0;
}

/* A field that may be absent or null (serde's Option). */
static struct json_object *config_field(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	json_object_object_get_ex(o, key, &v);
	return v && !json_object_is_type(v, json_type_null) ? v : NULL;
}

static int config_bool(struct json_object *o, const char *key, const char *path, bool *out)
{
	struct json_object *v = config_field(o, key);
	char what[128];

	if (!v)
		return 0; /* serde(default): false */
	if (!json_object_is_type(v, json_type_boolean)) {
		snprintf(what, sizeof(what), "%s must be true or false", key);
		return config_error(path, what);
	}
	*out = *out || json_object_get_boolean(v);
	return 0;
}

static int read_config(struct run_args *a)
{
	const char *path = a->config;
	struct json_object *o, *v;
	uint8_t *buf;
	size_t len;
	char what[160];
	int ret;

	ret = file_read_all(path, &buf, &len, CONFIG_FILE_MAX);
	if (ret < 0)
		return cli_fail(E_FILE_OPERATION, "File: '%s', failing operation: 'Open' (%s)", path, err_msg());
	o = json_tokener_parse((const char *)buf);
	free(buf);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return config_error(path, "it is not a JSON object");
	}
	a->config_json = o;
	v = config_field(o, "eif_path");
	if (!v || !json_object_is_type(v, json_type_string))
		return config_error(path, "eif_path (a string) is missing");
	a->eif_path = json_object_get_string(v);
	v = config_field(o, "memory_mib");
	if (!v || config_u64(v, &a->memory_mib))
		return config_error(path, "memory_mib (a number of MiB) is missing");
	a->have_memory = true;
	if ((v = config_field(o, "enclave_cid"))) {
		if (config_u64(v, &a->cid))
			return config_error(path, "enclave_cid must be a number");
		snprintf(what, sizeof(what), "%llu", (unsigned long long)a->cid);
		ret = check_cid(a->cid, what);
		if (ret)
			return ret;
		a->have_cid = true;
	}
	if ((v = config_field(o, "cpu_count"))) {
		if (config_u64(v, &a->cpus) || a->cpus > UINT32_MAX)
			return config_error(path, "cpu_count must be a number");
		a->have_cpus = true;
	}
	if ((v = config_field(o, "cpu_ids"))) {
		if (!json_object_is_type(v, json_type_array))
			return config_error(path, "cpu_ids must be a list of CPU ids");
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			uint64_t c;

			if (config_u64(json_object_array_get_idx(v, i), &c) || c >= NE_MAX_CPUS)
				return config_error(path, "cpu_ids must be a list of CPU ids");
			ret = add_cpu_id(a, (unsigned int)c);
			if (ret)
				return ret;
		}
		a->have_cpu_ids = true;
	}
	if ((v = config_field(o, "enclave_name"))) {
		if (!json_object_is_type(v, json_type_string))
			return config_error(path, "enclave_name must be a string");
		a->name = json_object_get_string(v);
	}
	ret = config_bool(o, "debug_mode", path, &a->debug);
	if (!ret)
		ret = config_bool(o, "attach_console", path, &a->attach);
	if (ret)
		return ret;
	if (a->attach)
		a->debug = true; /* nitro-cli: attach_console implies debug_mode */
	if (!a->have_cpus && !a->have_cpu_ids)
		return cli_fail(E_MISSING_ARGUMENT, "Missing both `cpu-count` and `cpu-ids` in %s", path);
	if (a->have_cpus && a->have_cpu_ids)
		return cli_fail(E_CONFLICTING_ARGUMENT, "`cpu-count` and `cpu-ids` cannot be used together (%s)", path);
	return 0;
}

static int parse_run_args(int argc, char **argv, struct run_args *a)
{
	int c, ret;

	optind = 1;
	while ((c = cli_getopt(argc, argv, run_opts)) != -1) {
		uint64_t bytes;

		switch (c) {
		case 'e':
			a->eif_path = optarg;
			a->nitro_cli_option = "--eif-path";
			break;
		case 'c':
			if (cli_parse_u64(optarg, &a->cpus) < 0)
				return cli_fail(E_INVALID_ARGUMENT, "--cpu-count '%s' is not a number", optarg);
			a->have_cpus = true;
			a->nitro_cli_option = "--cpu-count";
			break;
		case 'm':
			if (cli_parse_size(optarg, MiB, &bytes) < 0)
				return cli_fail(E_INVALID_ARGUMENT, "--memory '%s' is not a size in MiB", optarg);
			a->memory_mib = bytes / MiB;
			a->have_memory = true;
			a->nitro_cli_option = "--memory";
			break;
		case 'C':
			ret = parse_cid(optarg, &a->cid);
			if (ret)
				return ret;
			a->have_cid = true;
			a->nitro_cli_option = "--enclave-cid";
			break;
		case 'n':
			a->name = optarg;
			a->nitro_cli_option = "--enclave-name";
			break;
		case 'a':
			a->attach = true;
			a->debug = true;
			break;
		case 'd':
			a->debug = true;
			a->nitro_cli_option = "--debug-mode";
			break;
		case 'F':
			a->config = optarg;
			break;
		case 'f':
			a->foreground = true;
			break;
		case 'S':
			a->no_seccomp = true;
			break;
		case 'U':
			a->run_as = optarg;
			break;
		case 'B':
			a->no_heartbeat = true;
			break;
		case 'r':
			a->rng = true;
			break;
		case 'A':
			a->no_acpi = true;
			break;
		case 'H':
			a->hugepages = true;
			break;
		case 'K':
			ret = cli_parse_boot_path(optarg, &a->boot_path);
			if (ret)
				return ret;
			a->have_boot_path = true;
			break;
		case 'R':
			if (nsm_check_parent_string("--parent-role", optarg, NSM_PARENT_ROLE_MAX) < 0)
				return cli_fail_err(E_INVALID_ARGUMENT);
			a->parent_role = optarg;
			break;
		case 'Y':
			a->hypervisor = optarg;
			break;
		case 'I':
			/* nitro-cli takes them as separate words: --cpu-ids 1 3; a cpu-list works too. */
			ret = add_cpu_ids(a, optarg);
			while (!ret && optind < argc && argv[optind][0] != '-')
				ret = add_cpu_ids(a, argv[optind++]);
			if (ret)
				return ret;
			a->nitro_cli_option = "--cpu-ids";
			break;
		case 'P':
			if (nsm_check_parent_string("--parent-id", optarg, NSM_PARENT_ID_MAX) < 0)
				return cli_fail_err(E_INVALID_ARGUMENT);
			a->parent_id = optarg;
			break;
		default:
			if (c >= OPT_BRIDGE && c < OPT_BRIDGE + (int)ARRAY_SIZE(bridge_opts)) {
				if (cli_bridge_option(&a->bridges, bridge_opts[c - OPT_BRIDGE], optarg) < 0)
					return cli_fail_err(E_INVALID_ARGUMENT);
				break;
			}
			return cli_bad_option("run-enclave");
		}
	}
	if (cli_bridge_check(&a->bridges) < 0)
		return cli_fail_err(E_INVALID_ARGUMENT);
	if (optind < argc)
		return cli_fail(E_INVALID_ARGUMENT, "unexpected argument '%s' for run-enclave", argv[optind]);
	if (a->config) {
		/* nitro-cli: --config conflicts with every option of its own but --attach-console. */
		if (a->nitro_cli_option)
			return cli_fail(E_CONFLICTING_ARGUMENT, "--config gives the whole run configuration: drop %s "
								"(or put it in the file)", a->nitro_cli_option);
		return read_config(a);
	}
	if (!a->eif_path)
		return cli_fail(E_MISSING_ARGUMENT, "run-enclave needs --eif-path");
	if (a->have_cpus && a->have_cpu_ids)
		return cli_fail(E_CONFLICTING_ARGUMENT, "give --cpu-count or --cpu-ids, not both");
	if (a->have_cpu_ids) {
		a->cpus = a->ncpu_ids;
		a->have_cpus = true;
	}
	if (!a->have_cpus)
		return cli_fail(E_MISSING_ARGUMENT, "run-enclave needs --cpu-count (or --cpu-ids)");
	if (!a->have_memory)
		return cli_fail(E_MISSING_ARGUMENT, "run-enclave needs --memory");
	if (a->cpus > UINT32_MAX)
		return cli_fail(E_INVALID_ARGUMENT, "--cpu-count %llu is out of range", (unsigned long long)a->cpus);
	return 0;
}

/* nitro-cli's EnclaveRunInfo, pretty. */
static char *run_info_json(const struct enclave_info *info)
{
	struct json_object *o = json_object_new_object(), *ids = json_object_new_array();
	char *text;

	json_object_object_add(o, "EnclaveName", json_object_new_string(info->name));
	json_object_object_add(o, "EnclaveID", json_object_new_string(info->id));
	json_object_object_add(o, "ProcessID", json_object_new_int64(info->pid));
	json_object_object_add(o, "EnclaveCID", json_object_new_int64((int64_t)info->cid));
	json_object_object_add(o, "NumberOfCPUs", json_object_new_int64(info->ncpus));
	for (unsigned int i = 0; i < info->ncpus; i++)
		json_object_array_add(ids, json_object_new_int64(info->cpu_ids[i]));
	json_object_object_add(o, "CPUIDs", ids);
	json_object_object_add(o, "MemoryMiB", json_object_new_int64((int64_t)info->memory_mib));
	text = json_pretty(o);
	json_object_put(o);
	return text;
}

/* A launch that failed: its error line in our words, and nitro-cli's number as the status. */
static int launch_failed(const struct launch_error *e, char *text, size_t len)
{
	char said[1024];

	cli_launch_error_text(e, err_msg(), said, sizeof(said));
	return cli_fail_text(text, len, cli_launch_error_code(e), "%s", said);
}

/* ", the app exited with status N" when the enclave's init reported it (else ""). */
static void app_words(const struct launch_result *r, char *out, size_t len)
{
	if (!r->app.known)
		snprintf(out, len, "%s", "");
	else if (r->app.kind == APP_EXIT_SIGNAL)
		snprintf(out, len, "; the app was killed by signal %u (%s)", r->app.value, strsignal((int)r->app.value));
	else
		snprintf(out, len, "; the app exited with status %u", r->app.value);
}

/*
 * The exit status for a launch that ended or failed, and what to print on stderr for it into text (a register
 * dump, then the error line or "enclave ran for X s"), without printing.
 */
static int cli_launch_outcome(int ret, const struct launch_result *r, char *text, size_t len)
{
	const struct hv_exit *e = &r->exit;
	char app[96];

	if (ret < 0 || r->error.cls != LAUNCH_OK)
		return launch_failed(&r->error, text, len);
	app_words(r, app, sizeof(app));
	switch (e->reason) {
	case HV_EXIT_POWEROFF:
	case HV_EXIT_RESET:
	case HV_EXIT_DEBUG_PORT:
	case HV_EXIT_HANGUP: /* native: the driver says only that it stopped (nitro-sim passes a status on) */
		snprintf(text, len, "enclave ran for %.3f s (%s%s)\n", e->seconds, e->detail, app);
		/* The app's status when its init reported one (AWS's init throws it away), else how the enclave
		 * ended. */
		if (r->app.known)
			return launch_app_status(&r->app);
		return e->reason == HV_EXIT_POWEROFF || e->reason == HV_EXIT_RESET ? 0 : e->status;
	case HV_EXIT_TERMINATED:
		snprintf(text, len, "enclave ran for %.3f s (terminated on %s%s)\n", e->seconds,
			 r->signal ? strsignal(r->signal) : "request", app);
		return r->app.known ? launch_app_status(&r->app) : 0;
	default: {
		size_t n = (size_t)snprintf(text, len, "%s", e->regs);

		return cli_fail_text(text + MIN(n, len), len - MIN(n, len), E_ENCLAVE_BOOT,
				     "The enclave stopped abnormally after %.3f s: %s", e->seconds, e->detail);
	}
	}
}

/* The same, printed. */
static int cli_launch_status(int ret, const struct launch_result *r)
{
	char text[HV_EXIT_REGS_MAX + 1024];
	int status = cli_launch_outcome(ret, r, text, sizeof(text));

	fputs(text, stderr);
	return status;
}

void cli_started_line(const struct enclave_info *info, char *buf, size_t len)
{
	char ids[HV_MAX_VCPUS * 12] = "";
	size_t n = 0;

	for (unsigned int i = 0; i < info->ncpus && n < sizeof(ids); i++)
		n += (size_t)snprintf(ids + n, sizeof(ids) - n, "%s%u", i ? ", " : "", info->cpu_ids[i]);
	snprintf(buf, len, "Started enclave with enclave-cid: %llu, memory: %llu MiB, cpu-ids: [%s]",
		 (unsigned long long)info->cid, (unsigned long long)info->memory_mib, ids);
}

/* ---- foreground: this process is the enclave process ---- */

static void fg_progress(void *opaque, const char *line)
{
	(void)opaque;
	fprintf(stderr, "%s\n", line);
}

static void fg_allocating(void *opaque)
{
	fg_progress(opaque, CLI_ALLOCATING_LINE);
}

static void fg_running(void *opaque, const struct enclave_info *info)
{
	char *json = run_info_json(info), line[CLI_STARTED_LINE_MAX];

	cli_started_line(info, line, sizeof(line));
	fg_progress(opaque, line);
	printf("%s\n", json);
	fflush(stdout);
	free(json);
}

/* The console and the app's stdout (pumps[0]) and stderr (pumps[1]) go out through threads of their own: an
 * output nobody reads never stalls the event loop. */
static void fg_console(void *opaque, const uint8_t *buf, size_t len)
{
	struct out_pump **pumps = opaque;

	if (pumps[0])
		out_pump_put(pumps[0], buf, len);
}

static size_t fg_app_output(void *opaque, int stream, const uint8_t *buf, size_t len)
{
	struct out_pump **pumps = opaque;
	struct out_pump *p = stream == 2 && pumps[1] ? pumps[1] : pumps[0];

	if (p)
		out_pump_put(p, buf, len);
	return len;
}

int cli_run_foreground(struct enclave_proc_opts *o, bool print_json, int console_out)
{
	struct launch_result r;
	struct out_pump *pumps[2] = { NULL, NULL };
	int ret;

	/* Before the pumps' threads exist: signals must reach only the launch's signalfd. */
	ret = evloop_block_signals();
	if (!ret && console_out >= 0 &&
	    (!(pumps[0] = out_pump_start(console_out)) || !(pumps[1] = out_pump_start(STDERR_FILENO))))
		ret = -ENOMEM;
	if (ret < 0) {
		out_pump_finish(pumps[0]);
		return cli_fail_err(E_UNSPECIFIED);
	}
	o->report_fd = -1;
	o->view.opaque = pumps;
	o->view.progress = print_json ? fg_progress : NULL;
	o->view.allocating = print_json ? fg_allocating : NULL;
	o->view.notice = fg_progress;
	if (print_json)
		o->view.running = fg_running; /* else the caller's, if any */
	o->view.console = fg_console;
	o->view.app_output = fg_app_output;
	ret = enclave_proc_run(o, &r);
	out_pump_finish(pumps[0]); /* the console's and the app's last bytes, before how it ended */
	out_pump_finish(pumps[1]);
	return cli_launch_status(ret, &r);
}

/* ---- detached: a new enclave process; this one returns once it booted ---- */

struct detached {
	struct enclave_proc_opts *o;
	int report;
	bool booted;
	char *history; /* the console history as the enclave left it, NUL-terminated (or NULL) */
	size_t history_len;
};

static void det_line(void *opaque, const char *line)
{
	struct detached *d = opaque;
	char *text;

	if (asprintf(&text, "%s\n", line) < 0)
		return;
	enclave_report_text(d->report, false, text);
	fputs(text, stderr); /* the log */
	free(text);
}

static void det_allocating(void *opaque)
{
	det_line(opaque, CLI_ALLOCATING_LINE);
}

static void det_running(void *opaque, const struct enclave_info *info)
{
	char line[CLI_STARTED_LINE_MAX];

	cli_started_line(info, line, sizeof(line));
	det_line(opaque, line);
}

static void det_booted(void *opaque, const struct enclave_info *info, double seconds)
{
	struct detached *d = opaque;
	char *json = run_info_json(info), *line;

	(void)seconds;
	d->booted = true;
	if (json && asprintf(&line, "%s\n", json) >= 0) {
		enclave_report_text(d->report, true, line);
		free(line);
	}
	free(json);
	enclave_report_status(d->report, 0);
	fprintf(stderr, "nitrovm: enclave %s booted; the command that started it has returned\n", info->id);
}

/* Kept for a launch that fails before the heartbeat (the file may be out of the enclave process's reach). */
static void det_history(void *opaque, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	struct detached *d = opaque;

	free(d->history);
	d->history_len = 0;
	d->history = malloc(alen + blen + 1);
	if (!d->history)
		return;
	memcpy(d->history, a, alen);
	memcpy(d->history + alen, b, blen);
	d->history_len = alen + blen;
	d->history[d->history_len] = '\0';
}

/* The last lines of a debug enclave's console, for a launch that failed before the heartbeat. */
static void report_console_tail(struct detached *d)
{
	char *tail = d->history;
	size_t total = d->history_len, start, lines = 0;

	if (!d->o->launch.debug_mode) {
		enclave_report_text(d->report, false, "(run it with --debug-mode to see its console here)\n");
		return;
	}
	if (!tail || !total)
		return;
	for (start = total; start > 0 && lines <= CONSOLE_TAIL_LINES; start--)
		if (tail[start - 1] == '\n' && start != total)
			lines++;
	enclave_report_text(d->report, false, "The enclave's console ended with:\n");
	enclave_report_text(d->report, false, tail + start + (start ? 1 : 0));
	if (tail[total - 1] != '\n')
		enclave_report_text(d->report, false, "\n");
}

static int detached_child(void *opaque, int report)
{
	struct detached *d = opaque;
	struct launch_result r;
	char text[HV_EXIT_REGS_MAX + 1024], log[PATH_MAX];
	int ret, status;

	d->report = report;
	if (enclave_proc_log_to_file(log, sizeof(log)) < 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (null >= 0) {
			dup2(null, STDERR_FILENO);
			close(null);
		}
	}
	d->o->report_fd = report;
	d->o->view = (struct enclave_view){
		.opaque = d,
		.progress = det_line,
		.allocating = det_allocating,
		.running = det_running,
		.notice = det_line,
		.booted = det_booted,
		.history = det_history,
	};
	ret = enclave_proc_run(d->o, &r);
	status = cli_launch_outcome(ret, &r, text, sizeof(text));
	fputs(text, stderr);
	if (d->booted)
		return status;
	/* It never booted: the command is still waiting to hear why. */
	if (!status && ret == 0) {
		status = cli_fail_text(text, sizeof(text), E_ENCLAVE_BOOT, "The enclave ended before it answered the "
				       "heartbeat: it ran for %.3f s (%s)", r.exit.seconds, r.exit.detail);
	}
	if (r.info.id[0] && (r.error.cls == LAUNCH_ERR_HEARTBEAT || r.error.cls == LAUNCH_OK))
		report_console_tail(d);
	enclave_report_text(report, false, text);
	enclave_report_status(report, status);
	return status;
}

/* The JSON's EnclaveID and EnclaveCID, for --attach-console after a detached start. */
static int run_info_ids(const char *json, char *id, size_t len, uint64_t *cid)
{
	struct json_object *o = json_tokener_parse(json), *v;
	int ret = -EINVAL;

	if (o && json_object_object_get_ex(o, "EnclaveID", &v) && json_object_is_type(v, json_type_string)) {
		snprintf(id, len, "%s", json_object_get_string(v));
		if (json_object_object_get_ex(o, "EnclaveCID", &v))
			*cid = (uint64_t)json_object_get_int64(v);
		ret = 0;
	}
	json_object_put(o);
	return ret;
}

/*
 * On the Nitro hypervisor the machine is AWS's: its devices, its boot and the parent's PCR3/PCR4 are not ours to
 * choose, so an option that shapes nitrovm's emulated machine is refused rather than dropped without a word.
 */
static int refuse_emulation_options(const struct run_args *a)
{
	const char *opt = a->rng	    ? "--test-rng"
			  : a->no_acpi	    ? "--no-acpi"
			  : a->have_boot_path ? "--boot-path"
			  : a->parent_role    ? "--parent-role (the Nitro hypervisor measures the parent's own role)"
			  : a->parent_id	    ? "--parent-id (the Nitro hypervisor measures the parent's own instance id)"
					    : NULL;

	return opt ? cli_fail(E_INVALID_ARGUMENT,
			      "%s shapes nitrovm's emulated machine, and the enclave would run on the Nitro hypervisor, "
			      "which does not take it: drop it, or use --hypervisor kvm",
			      opt)
		   : 0;
}

static int run_detached(struct enclave_proc_opts *o, bool attach)
{
	struct detached d = { .o = o };
	char *out = NULL, id[ENCLAVE_ID_MAX];
	uint64_t cid = 0;
	int status = enclave_proc_detach(detached_child, &d, attach ? &out : NULL);

	if (status < 0) {
		free(out);
		return cli_fail(E_ENCLAVE_PROCESS_CONNECTION, "%s", err_msg());
	}
	if (!status && attach) {
		if (out && run_info_ids(out, id, sizeof(id), &cid) == 0)
			status = cli_console(id, cid, 0);
		else
			status = cli_fail(E_ENCLAVE_CONSOLE_CONNECTION, "the enclave process did not say which enclave "
									"it started");
	}
	free(out);
	return status;
}

int cmd_run_enclave(int argc, char **argv)
{
	struct run_args a = { 0 };
	struct enclave_proc_opts o = { .report_fd = -1 };
	const struct hypervisor_ops *backend;
	struct launch_error failure;
	const char *why;
	struct stat st;
	int ret, fd;

	if (cli_help_requested(argc, argv)) {
		run_usage();
		return 0;
	}
	ret = parse_run_args(argc, argv, &a);
	if (ret)
		goto out;
	backend = hv_select(cli_hypervisor_name(a.hypervisor), &why);
	ret = !backend ? cli_fail_err(E_INVALID_ARGUMENT) : 0;
	if (!ret && a.have_cpu_ids && backend == &hv_kvm_ops)
		ret = cli_fail(E_INVALID_ARGUMENT, "--cpu-ids picks CPUs of the Nitro Enclaves pool: it needs "
						   "--hypervisor nitro (or nitro-sim); use --cpu-count on kvm");
	if (!ret && backend == &hv_nitro_ops)
		ret = refuse_emulation_options(&a);
	if (!ret && privdrop_resolve(a.run_as, &o.privdrop) < 0)
		ret = cli_fail(E_INVALID_ARGUMENT, "--run-as: %s", err_msg());
	if (ret)
		goto out;
	/* Detached, the enclave process's only growing file is its log; in the foreground stdout may be a file. */
	o.privdrop.limit_fsize = !a.foreground;
	fd = open(a.eif_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ret = cli_fail(E_FILE_OPERATION, "File: '%s', failing operation: 'Open' (%s)", a.eif_path,
			       fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		goto out;
	}
	if (why)
		fprintf(stderr, "Using the %s hypervisor (%s; --hypervisor nitro|kvm|nitro-sim chooses)\n",
			backend->name, why);
	/* Before anything is forked: a size the launch would refuse is refused here, at once. */
	if (enclave_check_resources(a.memory_mib, (unsigned int)a.cpus, (uint64_t)st.st_size, &failure) < 0) {
		char text[1024];

		ret = launch_failed(&failure, text, sizeof(text));
		fputs(text, stderr);
		close(fd);
		goto out;
	}
	o.launch = (struct launch_opts){
		.eif_path = a.eif_path,
		.eif_fd = fd,
		.eif_size = (uint64_t)st.st_size,
		.memory_mib = a.memory_mib,
		.cpu_count = (unsigned int)a.cpus,
		.cid = a.cid,
		.debug_mode = a.debug,
		.name = a.name,
		.backend = backend,
		.slot = { .parent_id = a.parent_id, .cpu_ids = a.have_cpu_ids ? a.cpu_ids : NULL },
		/* In the foreground, --attach-console reads the console through vsock, as nitro-cli does. */
		.attach_console = a.attach && a.foreground,
		.no_heartbeat = a.no_heartbeat,
		.seccomp = !a.no_seccomp,
		.bridges = &a.bridges,
		.console_in = a.foreground ? STDIN_FILENO : -1,
	};
	/* The emulated machine's shape, for the backends that run it (refused above for the Nitro hypervisor's). */
	if (backend != &hv_nitro_ops)
		o.launch.slot.kvm = (struct hv_kvm_options){ .acpi = !a.no_acpi, .test_rng = a.rng, .hugepages = a.hugepages,
							     .kernel_boot = a.boot_path, .parent_role = a.parent_role,
							     .seccomp = !a.no_seccomp };
	cli_backend_env(&o.launch.slot, backend);
	if (backend == &hv_kvm_ops)
		cli_note_state_dir();
	if (a.foreground)
		ret = cli_run_foreground(&o, true, STDOUT_FILENO);
	else
		ret = run_detached(&o, a.attach);
	close(fd);
out:
	json_object_put(a.config_json);
	return ret;
}
