// SPDX-License-Identifier: MIT
/*
 * nitrovm run-enclave: start an enclave from an EIF in the foreground, print nitro-cli's run-enclave JSON once it
 * runs, stream its console to stdout, and exit when it ends.
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
#include "common/util.h"
#include "enclave/launch.h"
#include "hypervisor/nitro.h"
#include "nsm/nsm.h"
#include "vsock/bridge.h"

#define CID_RESERVED_MAX 3	     /* 0-2 hypervisor/local/host, 3 the parent */
#define CID_INVALID	 0xffffffffULL /* VMADDR_CID_ANY */
#define OPT_BRIDGE	 0x1000	       /* long-only bridge options: OPT_BRIDGE + index in bridge_opts */

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
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void run_usage(void)
{
	printf("Usage: nitrovm run-enclave --eif-path FILE --cpu-count N --memory MIB [options]\n\n"
	       "Start an enclave in the foreground, on the Nitro Enclaves driver or this host's KVM (--hypervisor):\n"
	       "prints the run-enclave JSON once it runs, "
	       "streams its console to stdout and exits when it ends.\n\n"
	       "  --eif-path FILE       the enclave image\n"
	       "  --cpu-count N         vCPUs (at least 1)\n"
	       "  --memory SIZE         memory in MiB (suffixes M, G, T); at least 64, a multiple of 2 and 4x the EIF\n"
	       "  --enclave-cid CID     the enclave's vsock CID (4 or more; default: chosen)\n"
	       "  --enclave-name NAME   its name (default: the EIF's file name)\n"
	       "  --debug-mode          debug mode (attestation documents carry zero PCRs)\n"
	       "  --attach-console      attach the console through vsock (CID 0, port CID + 10000) like nitro-cli\n"
	       "                        (implies --debug-mode); without it the serial console goes to stdout\n"
	       "  --no-heartbeat        do not answer the boot heartbeat: vsock port 9000 is left to your service\n"
	       "  --test-rng            add the virtio-rng test device at 0xd0002000, IRQ 7\n"
	       "  --no-acpi             no ACPI tables: declare the devices with virtio_mmio.device= instead\n"
	       "  --hugepages           back enclave memory with 2 MiB huge pages when the host has them\n"
	       "  --parent-role ARN     the parent's IAM role ARN, measured into PCR3 (default: none, PCR3 zero)\n"
	       "  --parent-id ID        the parent's instance id: PCR4 and the enclave id's prefix (default: this\n"
	       "                        EC2 instance's id, else " NSM_DEFAULT_PARENT_ID ")\n");
	printf("\nNative mode (docs/native.md):\n"
	       "  --hypervisor NAME     nitro: the /dev/nitro_enclaves driver (the enclave runs on the Nitro\n"
	       "                        hypervisor; needs the CPU pool and huge pages of nitro-enclaves-allocator);\n"
	       "                        kvm: nitrovm's own hypervisor on /dev/kvm; nitro-sim: the driver simulated\n"
	       "                        in front of kvm, for tests.  Default: $" HV_SELECT_ENV ", else nitro when\n"
	       "                        " NE_DEVICE_PATH " exists, else kvm (said on stderr)\n"
	       "  --cpu-ids ID...       these CPUs of the pool instead of --cpu-count (\"1 3\", \"1,3\" or \"1-3\");\n"
	       "                        whole cores only\n"
	       "  On nitro and nitro-sim the console is the Nitro hypervisor's vsock stream only: --attach-console\n"
	       "  (debug mode).\n");
	printf("\nHost bridges for the enclave's vsock ports (docs/usage.md):\n%s", bridge_usage);
}

struct run_args {
	const char *eif_path;
	const char *name;
	const char *parent_role, *parent_id;
	uint64_t memory_mib;
	uint64_t cpus;
	uint64_t cid;
	bool have_cpus, have_memory;
	bool debug, rng, no_acpi, hugepages;
	bool attach, no_heartbeat;
	const char *hypervisor;
	uint32_t cpu_ids[HV_MAX_VCPUS];
	unsigned int ncpu_ids;
	bool have_cpu_ids;
	struct bridge_config bridges;
};

static int parse_cid(const char *s, uint64_t *cid)
{
	if (cli_parse_u64(s, cid) < 0)
		return cli_fail(E_INVALID_ARGUMENT, "--enclave-cid '%s' is not a number", s);
	if ((*cid && *cid <= CID_RESERVED_MAX) || *cid >= CID_INVALID)
		return cli_fail(E_INVALID_ARGUMENT, "--enclave-cid %s is reserved: use 4 up to 4294967294 (0 lets "
						    "nitrovm choose)", s);
	return 0;
}

/* One word of --cpu-ids: a CPU id or a cpu-list. */
static int add_cpu_ids(struct run_args *a, const char *word)
{
	struct cpu_set set;

	if (cpu_list_parse(word, &set) < 0 || !cpu_set_count(&set))
		return cli_fail(E_MALFORMED_CPU_ID, "--cpu-ids '%s' is not a CPU id or a list of them (like 1 3, or "
						    "1,3)", word);
	for (unsigned int c = 0; c < NE_MAX_CPUS; c++) {
		if (!cpu_set_has(&set, c))
			continue;
		if (a->ncpu_ids == HV_MAX_VCPUS)
			return cli_fail(E_INVALID_ARGUMENT, "--cpu-ids: at most %d CPUs", HV_MAX_VCPUS);
		a->cpu_ids[a->ncpu_ids++] = c;
	}
	a->have_cpu_ids = true;
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
			break;
		case 'c':
			if (cli_parse_u64(optarg, &a->cpus) < 0)
				return cli_fail(E_INVALID_ARGUMENT, "--cpu-count '%s' is not a number", optarg);
			a->have_cpus = true;
			break;
		case 'm':
			if (cli_parse_size(optarg, MiB, &bytes) < 0)
				return cli_fail(E_INVALID_ARGUMENT, "--memory '%s' is not a size in MiB", optarg);
			a->memory_mib = bytes / MiB;
			a->have_memory = true;
			break;
		case 'C':
			ret = parse_cid(optarg, &a->cid);
			if (ret)
				return ret;
			break;
		case 'n':
			a->name = optarg;
			break;
		case 'a':
			a->attach = true;
			a->debug = true;
			break;
		case 'd':
			a->debug = true;
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
			break;
		case 'P':
			if (nsm_check_parent_string("--parent-id", optarg, NSM_PARENT_ID_MAX) < 0)
				return cli_fail_err(E_INVALID_ARGUMENT);
			a->parent_id = optarg;
			break;
		default:
			if (c >= OPT_BRIDGE && c < OPT_BRIDGE + (int)ARRAY_SIZE(bridge_opts)) {
				if (bridge_config_add(&a->bridges, bridge_opts[c - OPT_BRIDGE], optarg) < 0)
					return cli_fail_err(E_INVALID_ARGUMENT);
				break;
			}
			return cli_bad_option("run-enclave");
		}
	}
	if (bridge_config_check(&a->bridges) < 0)
		return cli_fail_err(E_INVALID_ARGUMENT);
	if (optind < argc)
		return cli_fail(E_INVALID_ARGUMENT, "unexpected argument '%s' for run-enclave", argv[optind]);
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

static void print_run_info(void *opaque, const struct enclave_info *info)
{
	struct json_object *o = json_object_new_object(), *ids = json_object_new_array();

	(void)opaque;
	json_object_object_add(o, "EnclaveName", json_object_new_string(info->name));
	json_object_object_add(o, "EnclaveID", json_object_new_string(info->id));
	json_object_object_add(o, "ProcessID", json_object_new_int64(info->pid));
	json_object_object_add(o, "EnclaveCID", json_object_new_int64((int64_t)info->cid));
	json_object_object_add(o, "NumberOfCPUs", json_object_new_int64(info->ncpus));
	for (unsigned int i = 0; i < info->ncpus; i++)
		json_object_array_add(ids, json_object_new_int64(info->cpu_ids[i]));
	json_object_object_add(o, "CPUIDs", ids);
	json_object_object_add(o, "MemoryMiB", json_object_new_int64((int64_t)info->memory_mib));
	cli_print_json(o);
	fflush(stdout);
	json_object_put(o);
}

static enum cli_error launch_error(enum launch_failure f)
{
	switch (f) {
	case LAUNCH_BAD_ARGUMENT:
		return E_INVALID_ARGUMENT;
	case LAUNCH_MEMORY_REQUESTED:
		return E_INSUFFICIENT_MEMORY_REQUESTED;
	case LAUNCH_DEVICE:
		return E_FILE_OPERATION;
	case LAUNCH_MEMORY_AVAILABLE:
		return E_INSUFFICIENT_MEMORY_AVAILABLE;
	case LAUNCH_SETUP:
		return E_IOCTL;
	case LAUNCH_IMAGE:
		return E_EIF_PARSING;
	case LAUNCH_START:
		return E_IOCTL_ENCLAVE_START;
	case LAUNCH_RUN:
		return E_EPOLL;
	case LAUNCH_HEARTBEAT:
		return E_ENCLAVE_BOOT;
	case LAUNCH_CPU_CONFIG:
		return E_INVALID_CPU_CONFIGURATION;
	case LAUNCH_CPU_NOT_IN_POOL:
		return E_NO_SUCH_CPU_AVAILABLE_IN_POOL;
	case LAUNCH_CPUS:
		return E_INSUFFICIENT_CPUS;
	case LAUNCH_IOCTL_LOAD_INFO:
		return E_IOCTL_IMAGE_LOAD_INFO;
	case LAUNCH_IOCTL_MEMORY_REGION:
		return E_IOCTL_SET_MEMORY_REGION;
	case LAUNCH_IOCTL_ADD_VCPU:
		return E_IOCTL_ADD_VCPU;
	case LAUNCH_OK:
		break;
	}
	return E_UNSPECIFIED;
}

int cli_launch_status(int ret, const struct launch_result *r)
{
	const struct hv_exit *e = &r->exit;

	if (ret < 0 || r->failure != LAUNCH_OK)
		return cli_fail_err(launch_error(r->failure));
	switch (e->reason) {
	case HV_EXIT_POWEROFF:
	case HV_EXIT_RESET:
		fprintf(stderr, "enclave ran for %.3f s (%s)\n", e->seconds, e->detail);
		return 0;
	case HV_EXIT_DEBUG_PORT:
	case HV_EXIT_HANGUP: /* native: the driver says only that it stopped (nitro-sim passes a status on) */
		fprintf(stderr, "enclave ran for %.3f s (%s)\n", e->seconds, e->detail);
		return e->status;
	case HV_EXIT_TERMINATED:
		fprintf(stderr, "enclave ran for %.3f s (terminated on %s)\n", e->seconds,
			r->signal ? strsignal(r->signal) : "request");
		return 0;
	default:
		if (e->regs[0])
			fputs(e->regs, stderr);
		return cli_fail(E_ENCLAVE_BOOT, "The enclave stopped abnormally after %.3f s: %s", e->seconds,
				e->detail);
	}
}

int cmd_run_enclave(int argc, char **argv)
{
	struct run_args a = { 0 };
	struct launch_result r;
	struct launch_opts o;
	const struct hypervisor_ops *backend;
	const char *why;
	struct stat st;
	int ret, fd;

	if (cli_help_requested(argc, argv)) {
		run_usage();
		return 0;
	}
	ret = parse_run_args(argc, argv, &a);
	if (ret)
		return ret;
	backend = hv_select(a.hypervisor, &why);
	if (!backend)
		return cli_fail_err(E_INVALID_ARGUMENT);
	if (a.have_cpu_ids && backend == &hv_kvm_ops)
		return cli_fail(E_INVALID_ARGUMENT, "--cpu-ids picks CPUs of the Nitro Enclaves pool: it needs "
						    "--hypervisor nitro (or nitro-sim); use --cpu-count on kvm");
	fd = open(a.eif_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ret = cli_fail(E_FILE_OPERATION, "File: '%s', failing operation: 'Open' (%s)", a.eif_path,
			       fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return ret;
	}
	o = (struct launch_opts){
		.eif_path = a.eif_path,
		.eif_fd = fd,
		.eif_size = (uint64_t)st.st_size,
		.memory_mib = a.memory_mib,
		.cpu_count = (unsigned int)a.cpus,
		.cid = a.cid,
		.debug_mode = a.debug,
		.name = a.name,
		.backend = backend,
		.slot = { .acpi = !a.no_acpi, .test_rng = a.rng, .hugepages = a.hugepages,
			  .parent_role = a.parent_role, .parent_id = a.parent_id,
			  .cpu_ids = a.have_cpu_ids ? a.cpu_ids : NULL },
		/* --attach-console reads the console through vsock instead, as nitro-cli does. */
		.console_out = a.attach ? -1 : STDOUT_FILENO,
		.attach_console = a.attach,
		.no_heartbeat = a.no_heartbeat,
		.bridges = &a.bridges,
		.console_in = STDIN_FILENO,
		.on_running = print_run_info,
	};
	if (why)
		fprintf(stderr, "Using the %s hypervisor (%s; --hypervisor nitro|kvm|nitro-sim chooses)\n",
			backend->name, why);
	ret = enclave_launch(&o, &r);
	close(fd);
	return cli_launch_status(ret, &r);
}
