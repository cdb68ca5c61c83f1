// SPDX-License-Identifier: MIT
/*
 * The QEMU-style front end for the emulated machine, as the source documents run it:
 *
 *   nitrovm -M nitro-enclave -kernel X.eif -m 512M -smp 2 -nographic [-append "..."]
 *   nitrovm -M nitro-enclave -kernel bzImage -initrd initrd.cpio -append "..."
 *
 * With an EIF, -append is added to the EIF's command line at boot (as QEMU does); the image and so its
 * measurements are unchanged.  With a bzImage, an EIF is assembled in memory first (kernel, -append as its
 * command line, the -initrd files as ramdisks) and booted like any other.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "common/util.h"
#include "eif/cpio.h"
#include "eif/eif.h"
#include "enclave/launch.h"
#include "enclave/proc.h"
#include "nsm/nsm.h"
#include "vsock/bridge.h"

#define QEMU_MACHINE	     "nitro-enclave"
#define QEMU_NITRO_MACHINE   "nitro"	/* source document 000: -accel nitro -M nitro, the real Nitro hypervisor */
#define QEMU_DEFAULT_MEM_MIB 128 /* QEMU's default -m */
#define QEMU_MAX_INITRDS     8
#define QEMU_MAX_FILE	     (2ULL * GiB) /* a kernel or initrd bigger than this is a mistake */

struct qemu_args {
	const char *kernel;
	const char *initrd[QEMU_MAX_INITRDS];
	unsigned int ninitrd;
	char *initrd_list; /* strdup of -initrd, split in place */
	char *machine_spec; /* strdup of -M, split in place */
	const char *append;
	const char *name;
	const char *parent_role, *parent_id, *enclave_id;
	uint64_t memory_mib;
	uint64_t cpus;
	bool acpi, rng, hugepages;
	enum hv_kernel_boot boot_path;
	bool no_heartbeat; /* --no-heartbeat: vsock port 9000 is the user's */
	bool no_sandbox;   /* -sandbox off: no system-call allow-lists */
	/* -accel nitro[,debug-mode=on|off][,enclave-cid=N] with -M nitro: native mode (hypervisor/nitro.h) */
	bool accel_nitro, machine_nitro, debug_mode;
	uint64_t enclave_cid;
	struct bridge_config bridges; /* --vsock-uds, --forward-* (vsock/bridge.h) */
};

static int qemu_error(const char *fmt, const char *arg)
{
	char msg[512];

	snprintf(msg, sizeof(msg), fmt, arg);
	return cli_fail(E_INVALID_ARGUMENT, "%s", msg);
}

static int parse_bool(const char *key, const char *v, bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes")) {
		*out = true;
		return 0;
	}
	if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "no")) {
		*out = false;
		return 0;
	}
	return cli_fail(E_INVALID_ARGUMENT, "machine option %s=%s: expected on or off", key, v);
}

/*
 * -M nitro-enclave[,acpi=on|off][,rng=on|off][,hugepages=on|off][,id=ID][,parent-role=ARN][,parent-id=ID]
 *                 [,boot-path=host|decompressor]
 */
static int parse_machine(char *spec, struct qemu_args *a)
{
	char *save = NULL;
	int ret = 0;

	for (char *tok = strtok_r(spec, ",", &save); tok && !ret; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq || !strncmp(tok, "type=", 5)) {
			const char *type = eq ? eq + 1 : tok;

			if (!strcmp(type, QEMU_NITRO_MACHINE)) {
				a->machine_nitro = true;
				continue;
			}
			if (strcmp(type, QEMU_MACHINE))
				return qemu_error("unknown machine type '%s': use -M nitro-enclave (emulated, -accel kvm) "
						  "or -M nitro (the Nitro hypervisor, -accel nitro)", type);
			continue;
		}
		*eq = '\0';
		if (!strcmp(tok, "acpi"))
			ret = parse_bool(tok, eq + 1, &a->acpi);
		else if (!strcmp(tok, "rng"))
			ret = parse_bool(tok, eq + 1, &a->rng);
		else if (!strcmp(tok, "hugepages"))
			ret = parse_bool(tok, eq + 1, &a->hugepages);
		else if (!strcmp(tok, "boot-path"))
			ret = cli_parse_boot_path(eq + 1, &a->boot_path);
		else if (!strcmp(tok, "id")) {
			/* QEMU's enclave identifier: the NSM module_id (and here the enclave's name too). */
			if (nsm_check_parent_string("machine option id", eq + 1, NSM_MODULE_ID_MAX - 1) < 0)
				return cli_fail_err(E_INVALID_ARGUMENT);
			a->name = eq + 1;
			a->enclave_id = eq + 1;
		} else if (!strcmp(tok, "parent-role")) {
			if (nsm_check_parent_string("machine option parent-role", eq + 1, NSM_PARENT_ROLE_MAX) < 0)
				return cli_fail_err(E_INVALID_ARGUMENT);
			a->parent_role = eq + 1;
		} else if (!strcmp(tok, "parent-id")) {
			if (nsm_check_parent_string("machine option parent-id", eq + 1, NSM_PARENT_ID_MAX) < 0)
				return cli_fail_err(E_INVALID_ARGUMENT);
			a->parent_id = eq + 1;
		} else
			return qemu_error("unknown nitro-enclave machine option '%s' (known: acpi, rng, hugepages, id, "
					  "parent-role, parent-id, boot-path)", tok);
	}
	return ret;
}

static int parse_memory(const char *v, struct qemu_args *a)
{
	uint64_t bytes;

	if (!strncmp(v, "size=", 5))
		v += 5;
	if (cli_parse_size(v, MiB, &bytes) < 0 || bytes < MiB)
		return qemu_error("-m '%s' is not a memory size (e.g. 512M or 2G)", v);
	a->memory_mib = bytes / MiB;
	return 0;
}

static int parse_smp(const char *v, struct qemu_args *a)
{
	if (!strncmp(v, "cpus=", 5))
		v += 5;
	if (cli_parse_u64(v, &a->cpus) < 0)
		return qemu_error("-smp '%s' is not a number of vCPUs", v);
	if (a->cpus < 1)
		return qemu_error("-smp %s: an enclave needs at least one vCPU", v);
	if (a->cpus > HV_MAX_VCPUS)
		return cli_fail(E_INVALID_ARGUMENT, "-smp %s: at most %d vCPUs", v, HV_MAX_VCPUS);
	return 0;
}

static int parse_initrd(const char *v, struct qemu_args *a)
{
	char *save = NULL;

	free(a->initrd_list);
	a->initrd_list = strdup(v);
	a->ninitrd = 0;
	if (!a->initrd_list)
		return cli_fail(E_UNSPECIFIED, "out of memory");
	for (char *t = strtok_r(a->initrd_list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (a->ninitrd == QEMU_MAX_INITRDS)
			return cli_fail(E_INVALID_ARGUMENT, "-initrd takes at most %d files", QEMU_MAX_INITRDS);
		a->initrd[a->ninitrd++] = t;
	}
	return 0;
}

/* Options QEMU users pass out of habit that change nothing here. */
static bool ignored_flag(const char *opt)
{
	static const char *const flags[] = { "-nographic", "-enable-kvm", "-no-reboot", "-nodefaults", "-S0" };

	for (size_t i = 0; i < ARRAY_SIZE(flags); i++)
		if (!strcmp(opt, flags[i]))
			return true;
	return false;
}

/* -accel nitro[,debug-mode=on|off][,enclave-cid=N], the options of QEMU's nitro accelerator. */
static int parse_accel(const char *v, struct qemu_args *a)
{
	char spec[256], *save = NULL, *tok;
	int ret = 0;

	snprintf(spec, sizeof(spec), "%s", v);
	tok = strtok_r(spec, ",", &save);
	if (!tok || strcmp(tok, "nitro"))
		return qemu_error("-accel %s: nitrovm knows -accel kvm (with -M nitro-enclave) and -accel nitro (with "
				  "-M nitro)", v);
	a->accel_nitro = true;
	while (!ret && (tok = strtok_r(NULL, ",", &save))) {
		char *eq = strchr(tok, '=');

		if (eq)
			*eq = '\0';
		if (eq && !strcmp(tok, "debug-mode"))
			ret = parse_bool(tok, eq + 1, &a->debug_mode);
		else if (eq && !strcmp(tok, "enclave-cid")) {
			if (cli_parse_u64(eq + 1, &a->enclave_cid) < 0)
				return qemu_error("-accel nitro,enclave-cid=%s is not a number", eq + 1);
		} else
			return qemu_error("unknown -accel nitro option '%s' (known: debug-mode, enclave-cid)", tok);
	}
	return ret;
}

/*
 * QEMU's -sandbox on|off[,obsolete=...,elevateprivileges=...,spawn=...,resourcecontrol=...]: nitrovm's allow-lists
 * are on by default and already deny what those sub-options can deny, so only on and off change anything.
 */
static int parse_sandbox(const char *v, struct qemu_args *a)
{
	size_t n = strcspn(v, ",");

	if (n == 2 && !strncmp(v, "on", 2))
		a->no_sandbox = false;
	else if (n == 3 && !strncmp(v, "off", 3))
		a->no_sandbox = true;
	else
		return qemu_error("-sandbox %s: use -sandbox on (the default: system-call allow-lists) or -sandbox off",
				  v);
	return 0;
}

static int parse_option(const char *opt, const char *v, struct qemu_args *a)
{
	if (!strcmp(opt, "-M") || !strcmp(opt, "-machine")) {
		/* Kept until the launch ends: id=, parent-role= and parent-id= point into it. */
		if (a->machine_spec)
			return qemu_error("%s is given twice: put every machine option in one -M", opt);
		a->machine_spec = strdup(v);
		return a->machine_spec ? parse_machine(a->machine_spec, a) : cli_fail(E_UNSPECIFIED, "out of memory");
	}
	if (!strcmp(opt, "-kernel"))
		a->kernel = v;
	else if (!strcmp(opt, "-initrd"))
		return parse_initrd(v, a);
	else if (!strcmp(opt, "-append"))
		a->append = v;
	else if (!strcmp(opt, "-m"))
		return parse_memory(v, a);
	else if (!strcmp(opt, "-smp"))
		return parse_smp(v, a);
	else if (!strcmp(opt, "-name"))
		a->name = v;
	else if (!strcmp(opt, "-accel") && strcmp(v, "kvm"))
		return parse_accel(v, a);
	else if (!strcmp(opt, "-display") && strcmp(v, "none"))
		return qemu_error("-display %s: the enclave has no display (use -display none or -nographic)", v);
	else if (!strcmp(opt, "-sandbox"))
		return parse_sandbox(v, a);
	else if (!strcmp(opt, "-serial") && strcmp(v, "stdio") && strcmp(v, "mon:stdio"))
		return qemu_error("-serial %s: the console always goes to stdio", v);
	return 0;
}

static bool takes_value(const char *opt)
{
	static const char *const opts[] = { "-M",	"-machine", "-kernel", "-initrd", "-append", "-m",
					    "-smp", "-name",	 "-accel",  "-cpu",    "-display", "-serial",
					    "-sandbox" };

	for (size_t i = 0; i < ARRAY_SIZE(opts); i++)
		if (!strcmp(opt, opts[i]))
			return true;
	return false;
}

/*
 * The host bridges' options, with one dash or two.  Returns the exit status: 0 with *consumed telling whether opt
 * was one of them (and *i moved past its value), or E03 after its error line.  The status and "consumed" are
 * kept apart because cli_fail()'s status is positive: read as a count, a refused option was taken as accepted
 * and the enclave launched anyway.
 */
static int parse_bridge_option(int argc, char **argv, int *i, struct qemu_args *a, bool *consumed)
{
	const char *name = argv[*i] + (argv[*i][1] == '-' ? 2 : 1);
	int ret;

	*consumed = false;
	if (!strcmp(name, "forward-remote"))
		ret = bridge_config_add(&a->bridges, name, NULL);
	else if (strcmp(name, "vsock-uds") && strncmp(name, "forward-", 8))
		return 0;
	else if (*i + 1 >= argc)
		return qemu_error("option %s needs a value", argv[*i]);
	else
		ret = bridge_config_add(&a->bridges, name, argv[++*i]);
	if (ret == -ENOENT)
		return qemu_error("unknown option '%s'", argv[*i - 1]);
	if (ret < 0)
		return cli_fail_err(E_INVALID_ARGUMENT);
	*consumed = true;
	return 0;
}

static int parse_args(int argc, char **argv, struct qemu_args *a)
{
	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i];
		bool consumed;
		int ret;

		if (ignored_flag(opt))
			continue;
		ret = parse_bridge_option(argc, argv, &i, a, &consumed);
		if (ret)
			return ret;
		if (consumed)
			continue;
		if (!strcmp(opt, "--no-heartbeat") || !strcmp(opt, "-no-heartbeat")) {
			a->no_heartbeat = true;
			continue;
		}
		if (!takes_value(opt))
			return qemu_error("unknown option '%s' for the QEMU-style front end (nitrovm -M nitro-enclave "
					  "-kernel FILE [-initrd FILE] [-append TEXT] [-m SIZE] [-smp N] [-nographic])",
					  opt);
		if (i + 1 >= argc)
			return qemu_error("option %s needs a value", opt);
		ret = parse_option(opt, argv[++i], a);
		if (ret)
			return ret;
	}
	if (!a->kernel)
		return cli_fail(E_MISSING_ARGUMENT, "-kernel is required: an EIF, or a bzImage with -initrd");
	if (a->machine_nitro && !a->accel_nitro)
		return cli_fail(E_INVALID_ARGUMENT, "The 'nitro' machine requires -accel nitro (-M nitro-enclave is "
						    "the emulated machine)");
	if (a->accel_nitro && a->machine_spec && !a->machine_nitro)
		return cli_fail(E_INVALID_ARGUMENT, "-accel nitro runs the enclave on the Nitro hypervisor: use -M "
						    "nitro (-M nitro-enclave is the emulated machine, on -accel kvm)");
	if (bridge_config_check(&a->bridges) < 0)
		return cli_fail_err(E_INVALID_ARGUMENT);
	return 0;
}

static bool file_is_eif(int fd)
{
	char magic[4];

	return pread(fd, magic, sizeof(magic), 0) == sizeof(magic) && !memcmp(magic, EIF_MAGIC, 4);
}

/* Direct kernel boot: the EIF QEMU's build_eif would make, written to a memfd. */
static int build_eif(const struct qemu_args *a, int *out_fd, uint64_t *size)
{
	struct eif_build b = { 0 };
	struct eif_metadata_in meta = { .build_tool = "nitrovm", .build_tool_version = NITROVM_VERSION };
	struct eif_measurements m;
	uint8_t *kernel = NULL, *initrd[QEMU_MAX_INITRDS] = { NULL };
	size_t klen = 0, ilen;
	char os[64] = "", ver[128] = "", *md = NULL;
	struct cpio empty;
	int ret, fd = -1;

	cpio_init(&empty);
	ret = file_read_all(a->kernel, &kernel, &klen, QEMU_MAX_FILE);
	if (ret < 0) {
		ret = cli_fail_err(E_FILE_OPERATION);
		goto out;
	}
	/* Either architecture's kernel (qemu-system-aarch64's form on Graviton): the EIF's arch flag follows it. */
	switch (eif_detect_arch(kernel, klen)) {
	case EIF_ARCH_X86_64:
		break;
	case EIF_ARCH_ARM64:
		b.flags = EIF_FLAG_ARM64;
		break;
	default:
		ret = cli_fail(E_EIF_PARSING, "-kernel %s is neither an EIF, an x86_64 bzImage nor an arm64 Image",
			       a->kernel);
		goto out;
	}
	b.kernel = (struct eif_blob){ kernel, klen };
	b.cmdline = (struct eif_blob){ (const uint8_t *)(a->append ? a->append : ""), a->append ? strlen(a->append) : 0 };
	for (unsigned int i = 0; i < a->ninitrd; i++) {
		if (file_read_all(a->initrd[i], &initrd[i], &ilen, QEMU_MAX_FILE) < 0) {
			ret = cli_fail_err(E_FILE_OPERATION);
			goto out;
		}
		b.ramdisks[b.nramdisks++] = (struct eif_blob){ initrd[i], ilen };
	}
	/* An EIF needs a ramdisk: without -initrd, an empty cpio archive (just its trailer). */
	if (!b.nramdisks) {
		if (cpio_finish(&empty) < 0) {
			ret = cli_fail_err(E_EIF_BUILDING);
			goto out;
		}
		b.ramdisks[b.nramdisks++] = (struct eif_blob){ empty.buf, empty.len };
	}
	eif_kernel_version(kernel, klen, os, sizeof(os), ver, sizeof(ver));
	meta.image_name = a->name ? a->name : "nitrovm-direct-boot";
	meta.image_version = "1.0";
	meta.operating_system = os;
	meta.kernel_version = ver;
	if (eif_metadata_build(&meta, &md, &ilen) < 0) {
		ret = cli_fail_err(E_EIF_BUILDING);
		goto out;
	}
	b.metadata = (struct eif_blob){ (const uint8_t *)md, ilen };
	fd = memfd_create("nitrovm-eif", MFD_CLOEXEC);
	if (fd < 0 || eif_write_fd(&b, fd, "the in-memory EIF", &m) < 0) {
		ret = fd < 0 ? cli_fail(E_EIF_BUILDING, "memfd_create failed: %s", strerror(errno))
			     : cli_fail_err(E_EIF_BUILDING);
		goto out;
	}
	*size = eif_build_size(&b);
	*out_fd = fd;
	fd = -1;
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	free(md);
	free(kernel);
	for (unsigned int i = 0; i < a->ninitrd; i++)
		free(initrd[i]);
	cpio_free(&empty);
	return ret;
}

static int open_image(const struct qemu_args *a, int *fd, uint64_t *size, bool *is_eif)
{
	struct stat st;
	int f = open(a->kernel, O_RDONLY | O_CLOEXEC);

	if (f < 0 || fstat(f, &st) < 0 || !S_ISREG(st.st_mode)) {
		int ret = cli_fail(E_FILE_OPERATION, "File: '%s', failing operation: 'Open' (%s)", a->kernel,
				   f < 0 ? strerror(errno) : "not a regular file");

		if (f >= 0)
			close(f);
		return ret;
	}
	*is_eif = file_is_eif(f);
	if (*is_eif) {
		*fd = f;
		*size = (uint64_t)st.st_size;
		return 0;
	}
	close(f);
	return build_eif(a, fd, size);
}

static bool image_is_eif(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool eif = fd >= 0 && file_is_eif(fd);

	if (fd >= 0)
		close(fd);
	return eif;
}

/* QEMU appends -initrd to an EIF's ramdisks and measures it; we keep images immutable instead. */
static int check_initrd_target(const struct qemu_args *a)
{
	int fd = open(a->kernel, O_RDONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return 0; /* open_image reports it */
	if (file_is_eif(fd))
		ret = cli_fail(E_INVALID_ARGUMENT, "-initrd cannot be added to an EIF (-kernel %s); build a new EIF "
						   "with the extra ramdisk instead", a->kernel);
	close(fd);
	return ret;
}

/* Enough memory for the image when -m is not given: QEMU's 128 MiB, or 4x the EIF in 2 MiB pages. */
static uint64_t default_memory_mib(uint64_t eif_size)
{
	uint64_t min = (eif_size + MiB - 1) / MiB * ENCLAVE_MEMORY_EIF_RATIO;

	min = (min + ENCLAVE_MEMORY_ALIGN_MIB - 1) / ENCLAVE_MEMORY_ALIGN_MIB * ENCLAVE_MEMORY_ALIGN_MIB;
	return MAX(min, (uint64_t)QEMU_DEFAULT_MEM_MIB);
}

/*
 * -accel nitro: the driver (or, with NITROVM_HYPERVISOR=nitro-sim, the simulated one: never chosen silently).
 * As in QEMU's nitro machine, the console is the Nitro hypervisor's vsock stream, shown in debug mode only.
 */
static void native_options(const struct qemu_args *a, struct launch_opts *o)
{
	const char *env = getenv(HV_SELECT_ENV);

	o->backend = env && !strcmp(env, hv_nitro_sim_ops.name) ? &hv_nitro_sim_ops : &hv_nitro_ops;
	o->cid = a->enclave_cid;
	o->debug_mode = a->debug_mode;
	o->attach_console = a->debug_mode;
	o->console_in = -1;
	o->slot.extra_cmdline = NULL;
}

static const char qemu_usage[] =
	"Usage: nitrovm -M nitro-enclave[,OPTS] -kernel FILE.eif [-append TEXT] [-m SIZE] [-smp N] [-nographic]\n"
	"       nitrovm -M nitro-enclave[,OPTS] -kernel bzImage -initrd FILE[,FILE...] -append TEXT ...\n"
	"       nitrovm -accel nitro[,debug-mode=on|off][,enclave-cid=N] -M nitro -kernel FILE.eif -m SIZE -smp N\n\n"
	"The QEMU-style front end of the source documents. -M nitro-enclave runs the enclave on nitrovm's own\n"
	"hypervisor (KVM); -accel nitro -M nitro on the Nitro hypervisor through /dev/nitro_enclaves (docs/native.md).\n"
	"With an EIF, -append is added to its command line at boot and the measurements stay the file's; with a\n"
	"bzImage an EIF is assembled in memory from -kernel, -initrd and -append first.\n\n"
	"  -m SIZE                memory (default 128M; suffixes M, G)\n"
	"  -smp N                 vCPUs (default 1)\n"
	"  -nographic, -nodefaults, -no-reboot, -serial stdio\n"
	"                         accepted for compatibility: the console is always on stdout\n"
	"  -name NAME             the enclave's name\n"
	"  --no-heartbeat         leave vsock port 9000 to the enclave's own service\n"
	"  -sandbox on|off        system-call allow-lists for the enclave process and its vCPU threads (default on)\n"
	"  -M nitro-enclave options: acpi=on|off (off: virtio_mmio.device= on the command line instead),\n"
	"                         rng=on (virtio-rng test device), hugepages=on, id=ENCLAVE-ID (the NSM module_id),\n"
	"                         parent-role=ARN (PCR3), parent-id=INSTANCE-ID (PCR4),\n"
	"                         boot-path=host|decompressor (who unpacks the kernel: nitrovm, cached, with KASLR\n"
	"                         as the kernel's own would; or the kernel's decompressor in the guest)\n"
	"  Host bridges, as for run-enclave (nitrovm run-enclave --help): --vsock-uds PATH,\n"
	"                         --forward-listen HOST=vsock:PORT, --forward-connect vsock:PORT=HOST,\n"
	"                         --forward-vsock PORT, --forward-remote\n";

int qemu_main(int argc, char **argv)
{
	struct qemu_args a = { .acpi = true, .cpus = 1 };
	struct enclave_proc_opts p = { .report_fd = -1 };
	struct launch_opts *o = &p.launch;
	uint64_t size = 0;
	bool is_eif = false;
	int ret, fd = -1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-help") || !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(qemu_usage, stdout);
			return 0;
		}
	}
	ret = parse_args(argc, argv, &a);
	if (!ret && a.accel_nitro && a.append && !a.ninitrd && image_is_eif(a.kernel))
		ret = cli_fail(E_INVALID_ARGUMENT, "-append cannot change the command line of an EIF on the Nitro "
						   "hypervisor, which boots the image as measured; build a new EIF");
	if (!ret && a.ninitrd)
		ret = check_initrd_target(&a);
	if (!ret)
		ret = open_image(&a, &fd, &size, &is_eif);
	if (ret) {
		free(a.initrd_list);
		free(a.machine_spec);
		return ret;
	}
	*o = (struct launch_opts){
		.eif_path = is_eif ? a.kernel : "nitro-enclave",
		.eif_fd = fd,
		.eif_size = size,
		.memory_mib = a.memory_mib ? a.memory_mib : default_memory_mib(size),
		.cpu_count = (unsigned int)a.cpus,
		.name = a.name,
		.backend = &hv_kvm_ops,
		.slot = { .acpi = a.acpi, .test_rng = a.rng, .hugepages = a.hugepages, .kernel_boot = a.boot_path,
			  .extra_cmdline = is_eif ? a.append : NULL, .parent_role = a.parent_role,
			  .parent_id = a.parent_id, .enclave_id = a.enclave_id, .seccomp = !a.no_sandbox },
		.console_in = STDIN_FILENO,
		.seccomp = !a.no_sandbox,
		/* QEMU waits for no heartbeat: answer it (the AWS init needs that) but never time out. */
		.no_heartbeat = a.no_heartbeat,
		.heartbeat_no_timeout = true,
		.bridges = &a.bridges,
	};
	if (a.accel_nitro)
		native_options(&a, o);
	/* QEMU's foreground: the console on stdout, no JSON, no progress lines. */
	ret = cli_run_foreground(&p, false, STDOUT_FILENO);
	close(fd);
	free(a.initrd_list);
	free(a.machine_spec);
	return ret;
}
