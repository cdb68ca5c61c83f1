// SPDX-License-Identifier: MIT
/*
 * nitrovm selftest: boot the probe guest (guest/probe, built into nitrovm) on this host's KVM with two vCPUs
 * and the virtio test device, and say plainly what the host can do: run enclaves at all, and run stock Linux
 * kernels (not on a PVM host: its software hypervisor emulates guest kernel code instruction by instruction and
 * lacks instructions Linux needs, so stock kernels go to the nested tier there).
 *
 * The probe runs in a child nitrovm (the QEMU-style front end) so its console can be read and judged here.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "cli.h"
#include "common/util.h"
#if defined(__x86_64__)
#include "hypervisor/kvm/x86/x86.h"
#endif

#define SELFTEST_PROBE_ENV   "NITROVM_PROBE"
#define SELFTEST_KVM_ENV     "NITROVM_KVM_DEVICE"
#define SELFTEST_TIMEOUT_MS  60000 /* the probe needs well under a second; PVM hosts are slow, not that slow */
#define SELFTEST_OUTPUT_MAX  (64 * 1024)
#define SELFTEST_VCPUS	     "2"
#define SELFTEST_MEMORY	     "64M"
#define PVM_MODULE	     "/sys/module/kvm_pvm"

/* The probe bzImage built into this binary (guest/probe/embed.py). */
extern const uint8_t nitrovm_probe_image[];
extern const uint64_t nitrovm_probe_image_size;

/*
 * The probe to boot: $NITROVM_PROBE when set, else the image built into nitrovm, handed to the child as a memfd
 * it inherits (-kernel /proc/self/fd/N), so selftest works wherever nitrovm is installed and writes no file.
 */
static int find_probe(char *out, size_t len)
{
	const char *env = getenv(SELFTEST_PROBE_ENV);
	int fd;

	if (env && env[0]) {
		snprintf(out, len, "%s", env);
		return access(out, R_OK) ? -errno : 0;
	}
	fd = memfd_create("nitrovm-probe", 0);
	if (fd < 0)
		return -errno;
	if (write_full(fd, nitrovm_probe_image, (size_t)nitrovm_probe_image_size) < 0) {
		close(fd);
		return -EIO;
	}
	snprintf(out, len, "/proc/self/fd/%d", fd);
	return 0;
}

enum kvm_flavour { KVM_NONE, KVM_PVM, KVM_INTEL, KVM_AMD, KVM_UNKNOWN };

/* Which KVM answers on the device: asked only once the device opened (a loaded kvm_pvm without a device is none). */
static enum kvm_flavour kvm_flavour(bool device_ok)
{
	if (!device_ok)
		return KVM_NONE;
	if (!access(PVM_MODULE, F_OK))
		return KVM_PVM;
	if (!access("/sys/module/kvm_intel", F_OK))
		return KVM_INTEL;
	if (!access("/sys/module/kvm_amd", F_OK))
		return KVM_AMD;
	return KVM_UNKNOWN;
}

/* Whether this host itself runs under QEMU's TCG (the nested test tier): slow, but a complete SVM. */
static bool host_is_tcg(void)
{
#if defined(__x86_64__)
	return x86_host_is_tcg();
#else
	return false;
#endif
}

static void print_flavour(enum kvm_flavour f)
{
	switch (f) {
	case KVM_NONE:
		if (!access(PVM_MODULE, F_OK))
			printf("  KVM flavour:           none: kvm_pvm is loaded but registers no KVM device here\n");
		else
			printf("  KVM flavour:           none\n");
		break;
	case KVM_PVM:
		printf("  KVM flavour:           PVM (kvm_pvm), a software hypervisor without hardware virtualization\n");
		break;
	case KVM_INTEL:
	case KVM_AMD:
		printf("  KVM flavour:           %s%s\n", f == KVM_INTEL ? "intel (kvm_intel)" : "amd (kvm_amd)",
		       host_is_tcg() ? ", on a CPU that QEMU's TCG emulates (slow, but complete)" : "");
		break;
	case KVM_UNKNOWN:
		printf("  KVM flavour:           unknown\n");
		break;
	}
}

struct probe_run {
	char out[SELFTEST_OUTPUT_MAX];
	size_t len;
	int status;
	double seconds;
	bool timed_out;
};

static void collect(int fd, pid_t pid, struct probe_run *p)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	for (;;) {
		ssize_t n;

		if (poll(&pfd, 1, SELFTEST_TIMEOUT_MS) == 0) {
			p->timed_out = true;
			kill(pid, SIGTERM);
		}
		n = read(fd, p->out + p->len, sizeof(p->out) - 1 - p->len);
		if (n <= 0)
			break;
		p->len += (size_t)n;
		if (p->len == sizeof(p->out) - 1)
			break;
	}
	p->out[p->len] = '\0';
}

static int run_probe(const char *probe, struct probe_run *p)
{
	char *const args[] = { "nitrovm", "-M", "nitro-enclave,rng=on", "-kernel", (char *)probe, "-m", SELFTEST_MEMORY,
			       "-smp", SELFTEST_VCPUS, "-append",
			       "console=ttyS0 probe.virtio=0xd0002000:7 probe.cpus=" SELFTEST_VCPUS, NULL };
	struct timespec t0, t1;
	int pipefd[2], wstatus;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		execv("/proc/self/exe", args);
		_exit(127);
	}
	close(pipefd[1]);
	collect(pipefd[0], pid, p);
	close(pipefd[0]);
	waitpid(pid, &wstatus, 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	p->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	p->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
	return 0;
}

/* Print the probe's FAIL lines and nitrovm's own error lines, indented. */
static void print_problems(const char *out)
{
	for (const char *l = out; *l;) {
		const char *nl = strchr(l, '\n');
		size_t n = nl ? (size_t)(nl - l) : strlen(l);

		if (memmem(l, n, ": FAIL", 6) || (n > 2 && l[0] == '[' && l[1] == ' '))
			printf("    %.*s\n", (int)n, l);
		l += n + (nl ? 1 : 0);
	}
}

static int check_kvm(const char *dev)
{
	int fd = open(dev, O_RDWR | O_CLOEXEC), version;

	if (fd < 0) {
		printf("  KVM device:            %s: %s\n", dev, strerror(errno));
		return -1;
	}
	version = ioctl(fd, KVM_GET_API_VERSION, 0);
	close(fd);
	printf("  KVM device:            %s (API %d)\n", dev, version);
	return version == KVM_API_VERSION ? 0 : -1;
}

int cmd_selftest(int argc, char **argv)
{
	const char *dev = getenv(SELFTEST_KVM_ENV) && getenv(SELFTEST_KVM_ENV)[0] ? getenv(SELFTEST_KVM_ENV)
										    : "/dev/kvm";
	enum kvm_flavour flavour;
	struct probe_run *p;
	char probe[PATH_MAX];
	bool kvm_ok, pass;
	int e;

	if (cli_help_requested(argc, argv)) {
		printf("Usage: nitrovm selftest\n\nBoot the probe guest on this host's KVM and report whether the host "
		       "can run enclaves,\nand whether its KVM can run stock Linux kernels.  Exit status 0 when the "
		       "probe passes.\n"
		       "The probe is built into nitrovm; NITROVM_PROBE=FILE boots another bzImage instead.\n"
		       "NITROVM_KVM_DEVICE=PATH names the KVM device.\n");
		return 0;
	}
	if (argc > 1)
		return cli_fail(E_INVALID_ARGUMENT, "selftest takes no arguments ('%s')", argv[1]);
	printf("nitrovm %s selftest\n", NITROVM_VERSION);
	kvm_ok = check_kvm(dev) == 0;
	flavour = kvm_flavour(kvm_ok);
	print_flavour(flavour);
	/* The probe is an x86_64 bzImage (guest/probe): other builds carry none. */
	if (!nitrovm_probe_image_size && !(getenv(SELFTEST_PROBE_ENV) && getenv(SELFTEST_PROBE_ENV)[0]))
		return cli_fail(E_UNSPECIFIED, "this nitrovm has no probe guest built in (the probe is x86_64 code); "
					       "check this host by booting an enclave with run-enclave");
	e = find_probe(probe, sizeof(probe));
	if (e < 0)
		return cli_fail(E_FILE_OPERATION, "the probe guest cannot be read: %s (from $%s, else built in)",
				strerror(-e), SELFTEST_PROBE_ENV);
	p = calloc(1, sizeof(*p));
	if (!p)
		return cli_fail(E_UNSPECIFIED, "out of memory");
	if (kvm_ok && run_probe(probe, p) < 0) {
		free(p);
		return cli_fail(E_UNSPECIFIED, "cannot start the probe: %s", strerror(errno));
	}
	pass = kvm_ok && !p->timed_out && p->status == 0 && strstr(p->out, "probe: result PASS");
	if (kvm_ok)
		printf("  probe guest:           %s (%s vCPUs, %.3f s)%s\n", pass ? "PASS" : "FAIL", SELFTEST_VCPUS,
		       p->seconds, p->timed_out ? " - timed out" : "");
	if (!pass && kvm_ok)
		print_problems(p->out);
	if (pass)
		printf("  can run enclaves:      yes\n");
	else if (kvm_ok)
		printf("  can run enclaves:      no (the probe guest failed, see above)\n");
	else
		printf("  can run enclaves:      no (no usable KVM device): run nitrovm inside a machine that has one; "
		       "from a nitrovm checkout, 'scripts/nested -- build/nitrovm selftest' boots a QEMU guest with "
		       "an emulated AMD SVM and runs it there, as scripts/demo does for its enclave\n");
	if (!pass)
		printf("  can run stock kernels: no\n");
	else if (flavour == KVM_PVM)
		printf("  can run stock kernels: no - this host's KVM is PVM: stock Linux kernels do not boot on it "
		       "(their kernel code needs instructions PVM cannot emulate); run them in the nested tier "
		       "('scripts/nested -- build/nitrovm run-enclave ...' from a nitrovm checkout)\n");
	else
		printf("  can run stock kernels: yes (%s virtualization)\n",
		       flavour == KVM_INTEL ? "Intel VMX" : flavour == KVM_AMD ? "AMD SVM" : "hardware");
	free(p);
	return pass ? 0 : 1;
}
