// SPDX-License-Identifier: MIT
/*
 * The QEMU-style front end, as QEMU's pages on Nitro Enclaves run it (docs/system/nitro.rst,
 * docs/system/i386/nitro-enclave.rst):
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
#include "qemu.h"
#include "common/util.h"
#include "eif/cpio.h"
#include "eif/eif.h"
#include "enclave/launch.h"
#include "enclave/proc.h"
#include "nsm/nsm.h"
#include "vsock/bridge.h"

#define QEMU_DEFAULT_MEM_MIB 128 /* QEMU's default -m */
#define QEMU_MAX_FILE	     (2ULL * GiB) /* a kernel or initrd bigger than this is a mistake */

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
static int native_options(const struct qemu_args *a, struct launch_opts *o)
{
	const char *name = cli_hypervisor_name(NULL);
	const char *opt = a->parent_role ? "parent-role"
			  : a->parent_id ? "parent-id"
			  : a->rng	 ? "rng"
			  : !a->acpi	 ? "acpi"
			  : a->boot_path ? "boot-path"
					 : NULL;

	o->backend = name && !strcmp(name, hv_nitro_sim_ops.name) ? &hv_nitro_sim_ops : &hv_nitro_ops;
	o->cid = a->enclave_cid;
	o->debug_mode = a->debug_mode;
	o->attach_console = a->debug_mode;
	o->console_in = -1;
	o->slot.kvm.extra_cmdline = NULL;
	if (o->backend != &hv_nitro_ops)
		return 0;
	/*
	 * AWS's machine: nothing of nitrovm's emulated one applies, and what the user set of it is refused (huge
	 * pages excepted: the driver's memory always is).
	 */
	if (opt)
		return cli_fail(E_INVALID_ARGUMENT, "machine option %s shapes nitrovm's emulated machine, and -accel nitro "
						    "runs the enclave on the Nitro hypervisor, which does not take it: drop it",
				opt);
	o->slot.kvm = (struct hv_kvm_options){ 0 };
	return 0;
}

static const char qemu_usage[] =
	"Usage: nitrovm -M nitro-enclave[,OPTS] -kernel FILE.eif [-append TEXT] [-m SIZE] [-smp N] [-nographic]\n"
	"       nitrovm -M nitro-enclave[,OPTS] -kernel bzImage -initrd FILE[,FILE...] -append TEXT ...\n"
	"       nitrovm -accel nitro[,debug-mode=on|off][,enclave-cid=N] -M nitro -kernel FILE.eif -m SIZE -smp N\n\n"
	"The QEMU-style front end of QEMU's nitro pages. -M nitro-enclave runs the enclave on nitrovm's own\n"
	"hypervisor (KVM); -accel nitro -M nitro on the Nitro hypervisor through /dev/nitro_enclaves (docs/native.md).\n"
	"With an EIF, -append is added to its command line at boot and the measurements stay the file's; with a\n"
	"bzImage an EIF is assembled in memory from -kernel, -initrd and -append first. Every option also takes two\n"
	"dashes (--enable-kvm); docs/coming-from-qemu.md goes through them one by one.\n\n"
	"  -m [size=]SIZE         memory (default 128M; suffixes M, G)\n"
	"  -smp [cpus=]N[,sockets=S][,cores=C][,threads=T][,maxcpus=M]\n"
	"                         vCPUs (default 1); the topology must add up as in QEMU\n"
	"  -machine TYPE[,accel=kvm|nitro][,...], -accel kvm|nitro, -enable-kvm, -cpu host\n"
	"  -object memory-backend-memfd,id=ID,size=SIZE[,share=on][,hugetlb=on] with -machine memory-backend=ID\n"
	"                         (or -numa node,memdev=ID): the enclave's memory (it is a memfd anyway)\n"
	"  -serial none|stdio|mon:stdio|file:PATH|chardev:ID\n"
	"                         where the console goes (default stdio; -chardev file|stdio|null,id=ID,...)\n"
	"  -nographic, -nodefaults, -no-reboot, -no-user-config, -no-hpet, -vga none, -display none,\n"
	"  -monitor none, -parallel none\n"
	"                         accepted: they describe the enclave machine as it is\n"
	"  -name [guest=]NAME     the enclave's name\n"
	"  -daemonize             return once the enclave runs (needs -serial none or file:PATH)\n"
	"  -pidfile FILE          write the enclave process's pid there (removed when it ends)\n"
	"  -qmp unix:PATH[,server=on][,wait=off] | tcp:127.0.0.1:PORT[,server=on][,wait=off]\n"
	"                         QMP: query-status, query-version, query-name, qom-get of the CID\n"
	"                         (/machine/peripheral/nitro-vsock enclave-cid), system_powerdown, quit;\n"
	"                         events POWERDOWN, SHUTDOWN (loopback TCP only: QMP has no authentication)\n"
	"  --no-heartbeat         leave vsock port 9000 to the enclave's own service\n"
	"  -sandbox on|off        system-call allow-lists for the enclave process and its vCPU threads (default on)\n"
	"  -runas USER[:GROUP]    started as root, become this user once the enclave's devices are open, in an\n"
	"                         empty mount namespace and with no capabilities (default: stay root, as QEMU)\n"
	"  -M nitro-enclave options: guest-cid=N (the enclave's CID, 4 or more; default: nitrovm picks),\n"
	"                         vsock=ID with -chardev socket,id=ID,path=PATH: the vsock device's rings are\n"
	"                         served by the vhost-user backend at PATH (nitrovm vhost-user-vsock, or\n"
	"                         vhost-device-vsock), whose guest-cid is then the enclave's CID,\n"
	"                         acpi=on|off (off: virtio_mmio.device= on the command line instead),\n"
	"                         rng=on (virtio-rng test device), hugepages=on, id=ENCLAVE-ID (the NSM module_id),\n"
	"                         parent-role=ARN (PCR3), parent-id=INSTANCE-ID (PCR4),\n"
	"                         boot-path=host|decompressor (who unpacks the kernel: nitrovm, cached, with KASLR\n"
	"                         as the kernel's own would; or the kernel's decompressor in the guest)\n"
	"  Host bridges, as for run-enclave (nitrovm run-enclave --help): --vsock-uds PATH,\n"
	"                         --forward-listen HOST=vsock:PORT, --forward-connect vsock:PORT=HOST,\n"
	"                         --forward-vsock PORT, --forward-remote\n"
	"QEMU options that mean nothing for an enclave (-netdev, -drive, -device, -vnc, ...) are refused with a\n"
	"sentence saying why.\n";

/* -serial file:PATH: QEMU truncates the file, and so do we. */
static int open_console(const struct qemu_args *a, int *fd)
{
	switch (a->serial) {
	case QEMU_SERIAL_NONE:
		*fd = -1;
		return 0;
	case QEMU_SERIAL_FILE:
		*fd = open(a->serial_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (*fd < 0)
			return cli_fail(E_FILE_OPERATION, "File: '%s', failing operation: 'Open' (%s)", a->serial_path,
					strerror(errno));
		return 0;
	default:
		*fd = STDOUT_FILENO;
		return 0;
	}
}

/*
 * -pidfile: created and locked by the process that owns the enclave, as QEMU's daemon does; another nitrovm (or
 * QEMU) holding the lock means the file is in use.  Returns the descriptor to keep, or the exit status (< 0).
 */
static int write_pidfile(const char *path)
{
	char line[32];
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644), n;

	if (fd < 0)
		return -cli_fail(E_FILE_OPERATION, "cannot create the pid file %s: %s", path, strerror(errno));
	if (lockf(fd, F_TLOCK, 0) < 0) {
		close(fd);
		return -cli_fail(E_FILE_OPERATION, "cannot lock the pid file %s: another process holds it", path);
	}
	n = snprintf(line, sizeof(line), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || write_full(fd, line, (size_t)n) < 0) {
		close(fd);
		return -cli_fail(E_FILE_OPERATION, "cannot write the pid file %s: %s", path, strerror(errno));
	}
	return fd;
}

static void remove_pidfile(const char *path, int fd)
{
	if (fd < 0)
		return;
	unlink(path);
	close(fd);
}

/* ---- -qmp: a QMP server on the enclave process's loop (enclave/qmp.h) ---- */

struct qemu_qmp {
	const struct qemu_args *a;
	struct qmp_server *srv;
	struct launch_run *run;
	const char *asked; /* the SHUTDOWN reason of what a QMP client asked for, or NULL */
};

static void qmp_quit(void *opaque)
{
	struct qemu_qmp *m = opaque;

	if (!m->asked)
		m->asked = "host-qmp-quit";
	launch_terminate(m->run);
}

/*
 * The enclave has no power button (neither has one on Nitro): system_powerdown says POWERDOWN and ends it the
 * way terminate-enclave does.
 */
static void qmp_powerdown(void *opaque)
{
	struct qemu_qmp *m = opaque;

	qmp_server_powerdown_event(m->srv);
	if (!m->asked)
		m->asked = "host-signal";
	launch_terminate(m->run);
}

static int qmp_start(void *opaque, struct launch_run *run, const struct enclave_info *info)
{
	struct qemu_qmp *m = opaque;
	struct qmp_ops ops = { .opaque = m, .powerdown = qmp_powerdown, .quit = qmp_quit };
	struct qmp_facts facts = { .name = info->name };

	m->run = run;
	m->srv = qmp_server_start(launch_loop(run), m->a->qmp, m->a->nqmp, &ops, &facts);
	return m->srv ? 0 : -EINVAL;
}

static void qmp_running(void *opaque, const struct enclave_info *info)
{
	struct qemu_qmp *m = opaque;
	struct qmp_facts facts = { .name = info->name, .cid = info->cid, .running = true };

	qmp_server_update(m->srv, &facts);
}

/* QEMU's ShutdownCause for how the enclave ended, and whether the guest did it. */
static const char *shutdown_cause(const struct qemu_qmp *m, const struct launch_result *r, int ret, bool *guest)
{
	*guest = false;
	if (ret < 0)
		return "host-error";
	if (m->asked)
		return m->asked;
	switch (r->exit.reason) {
	case HV_EXIT_TERMINATED:
		return "host-signal";
	case HV_EXIT_POWEROFF:
	case HV_EXIT_DEBUG_PORT:
	case HV_EXIT_HANGUP:
		*guest = true;
		return "guest-shutdown";
	case HV_EXIT_RESET:
	case HV_EXIT_TRIPLE_FAULT:
		*guest = true;
		return "guest-reset";
	default:
		return "host-error";
	}
}

static void qmp_ended(void *opaque, const struct launch_result *r, int ret)
{
	struct qemu_qmp *m = opaque;
	bool guest;
	const char *reason = shutdown_cause(m, r, ret, &guest);

	qmp_server_ended(m->srv, guest, reason);
	qmp_server_stop(m->srv);
	m->srv = NULL;
}

struct qemu_run {
	const struct qemu_args *a;
	struct enclave_proc_opts *p;
	int console_fd;
	int report; /* -daemonize: the channel to the command, until the enclave runs */
};

/* This process owns the enclave from here to its end (the foreground, or the daemon). */
static int run_enclave(struct qemu_run *q)
{
	int pid_fd = -1, ret;

	if (q->a->pidfile) {
		pid_fd = write_pidfile(q->a->pidfile);
		if (pid_fd < 0)
			return -pid_fd;
	}
	/* QEMU's foreground: the console where -serial says, no JSON, no progress lines. */
	ret = cli_run_foreground(q->p, false, q->console_fd);
	remove_pidfile(q->a->pidfile, pid_fd);
	return ret;
}

/*
 * -daemonize: the command returns once the enclave runs, with 0, or with the error line that ended the launch.
 * One daemon per process: the view's opaque belongs to cli_run_foreground, so the run is found here.
 */
static struct qemu_run *daemon_run;

static void daemon_running(void *opaque, const struct enclave_info *info)
{
	struct qemu_run *q = daemon_run;

	(void)opaque;
	(void)info;
	if (!q || q->report < 0)
		return;
	enclave_report_status(q->report, 0);
	close(q->report);
	q->report = -1;
}

/* What the daemon wrote to its log from offset on (its error line), for the command still waiting. */
static void report_log_since(int report, const char *log, off_t offset)
{
	char text[4096];
	int fd = open(log, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? pread(fd, text, sizeof(text) - 1, offset) : -1;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return;
	text[n] = '\0';
	enclave_report_text(report, false, text);
}

static int daemon_child(void *opaque, int report)
{
	struct qemu_run *q = opaque;
	char log[PATH_MAX] = "";
	off_t start = 0;
	int ret;

	q->report = report;
	daemon_run = q;
	if (enclave_proc_log_to_file(log, sizeof(log)) == 0)
		start = lseek(STDERR_FILENO, 0, SEEK_END);
	q->p->view.running = daemon_running;
	ret = run_enclave(q);
	if (q->report >= 0) {
		/* It never ran: the command is still waiting to hear why. */
		if (log[0] && start >= 0)
			report_log_since(q->report, log, start);
		enclave_report_status(q->report, ret ? ret : 1);
	}
	return ret;
}

/*
 * -runas: as QEMU, only when asked.  What the enclave process would have to remove by path once it is another
 * user (the pid file, a QMP Unix socket) is not taken along with it.
 */
static int check_runas(const struct qemu_args *a, struct privdrop *d)
{
	for (unsigned int i = 0; i < a->nqmp; i++)
		if (a->qmp[i].path)
			return cli_fail(E_CONFLICTING_ARGUMENT,
					"-runas cannot be combined with -qmp unix:%s yet: the enclave process could not "
					"remove the socket; use -qmp tcp:127.0.0.1:PORT",
					a->qmp[i].path);
	if (a->pidfile)
		return cli_fail(E_CONFLICTING_ARGUMENT, "-runas cannot be combined with -pidfile yet: the enclave "
							"process could not remove the file; leave one of them out");
	if (privdrop_resolve(a->runas, d) < 0)
		return cli_fail(E_INVALID_ARGUMENT, "-runas: %s", err_msg());
	return 0;
}

int qemu_main(int argc, char **argv)
{
	struct qemu_args a = { .acpi = true, .cpus = 1 };
	struct enclave_proc_opts p = { .report_fd = -1 };
	struct launch_opts *o = &p.launch;
	struct qemu_run q = { .a = &a, .p = &p, .console_fd = -1, .report = -1 };
	struct qemu_qmp qmp = { .a = &a };
	uint64_t size = 0;
	bool is_eif = false;
	int ret, fd = -1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-help") || !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(qemu_usage, stdout);
			return 0;
		}
	}
	ret = qemu_parse_args(argc, argv, &a);
	if (!ret && a.accel_nitro && a.append && !a.ninitrd && image_is_eif(a.kernel))
		ret = cli_fail(E_INVALID_ARGUMENT, "-append cannot change the command line of an EIF on the Nitro "
						   "hypervisor, which boots the image as measured; build a new EIF");
	if (!ret && a.ninitrd)
		ret = check_initrd_target(&a);
	if (!ret && a.runas)
		ret = check_runas(&a, &p.privdrop);
	if (!ret)
		ret = open_image(&a, &fd, &size, &is_eif);
	if (!ret)
		ret = open_console(&a, &q.console_fd);
	if (ret)
		goto out;
	*o = (struct launch_opts){
		.eif_path = is_eif ? a.kernel : "nitro-enclave",
		.eif_fd = fd,
		.eif_size = size,
		.memory_mib = a.memory_mib ? a.memory_mib : default_memory_mib(size),
		.cpu_count = (unsigned int)a.cpus,
		.cid = a.guest_cid,
		.name = a.name,
		.backend = &hv_kvm_ops,
		.slot = { .parent_id = a.parent_id, .enclave_id = a.enclave_id,
			  .kvm = { .acpi = a.acpi, .test_rng = a.rng, .hugepages = a.hugepages, .kernel_boot = a.boot_path,
				   .extra_cmdline = is_eif ? a.append : NULL, .parent_role = a.parent_role,
				   .seccomp = !a.no_sandbox } },
		/* The console's input is the terminal only when its output is. */
		.console_in = q.console_fd == STDOUT_FILENO ? STDIN_FILENO : -1,
		.seccomp = !a.no_sandbox,
		/* QEMU waits for no heartbeat: answer it (the AWS init needs that) but never time out. */
		.no_heartbeat = a.no_heartbeat,
		.heartbeat_no_timeout = true,
		.bridges = &a.bridges,
	};
	if (a.accel_nitro && (ret = native_options(&a, o)) != 0)
		goto out;
	cli_backend_env(&o->slot, o->backend);
	if (a.vsock_path) {
		/* QEMU's page tells its users to answer the heartbeat themselves; say where it goes here. */
		o->slot.kvm.vsock_vhost_user = a.vsock_path;
		o->no_heartbeat = true;
		fprintf(stderr, "nitrovm: vsock=%s: the enclave's vsock is the vhost-user backend's at %s (start it first: "
				"nitrovm vhost-user-vsock --vm guest-cid=N,socket=%s), and so is its heartbeat (port "
				"9000): nitrovm vhost-user-vsock answers it; with vhost-device-vsock run a port-9000 "
				"responder, as QEMU's page says\n", a.vsock_chardev, a.vsock_path, a.vsock_path);
	}
	if (a.nqmp)
		p.service = (struct enclave_service){
			.opaque = &qmp, .start = qmp_start, .running = qmp_running, .ended = qmp_ended
		};
	if (a.daemonize) {
		ret = enclave_proc_detach(daemon_child, &q, NULL);
		if (ret < 0)
			ret = cli_fail(E_ENCLAVE_PROCESS_CONNECTION, "%s", err_msg());
	} else {
		ret = run_enclave(&q);
	}
out:
	if (fd >= 0)
		close(fd);
	if (q.console_fd > STDERR_FILENO)
		close(q.console_fd);
	qemu_args_free(&a);
	return ret;
}
