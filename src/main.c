// SPDX-License-Identifier: MIT
/* nitrovm: launch AWS Nitro Enclaves from EIF files, natively or on KVM.  This file only dispatches. */
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "runtime/runtime.h"

/* guest/probe: the probe guest built into an x86_64 nitrovm (size 0 elsewhere). */
extern const uint64_t nitrovm_probe_image_size;

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "build-enclave", cmd_build_enclave, "build an EIF from a kernel, a command line and ramdisks" },
	{ "describe-eif", cmd_describe_eif, "print an EIF's measurements, signature and metadata as JSON" },
	{ "validate-eif", cmd_validate_eif, "check an EIF completely (structure, CRC, signature) before launching it" },
	{ "pcr", cmd_pcr, "print the PCR of a file or of a signing certificate" },
	{ "run-enclave", cmd_run_enclave, "start an enclave from an EIF (Nitro driver or KVM); returns once it booted" },
	{ "describe-enclaves", cmd_describe_enclaves, "list the running enclaves as JSON (nitrovm's and nitro-cli's)" },
	{ "console", cmd_console, "show an enclave's console, what it printed before you attached first" },
	{ "terminate-enclave", cmd_terminate_enclave, "end an enclave (--enclave-id, --enclave-name or --all)" },
	{ "selftest", cmd_selftest, "boot the probe guest: can this host run enclaves, and stock kernels?" },
	{ "sign-eif", cmd_sign_eif, "sign an EIF (or replace its signature) with an EC key and certificate" },
	{ "ca", cmd_ca, "export the root of the local CA that signs attestation documents (also: path, info)" },
	{ "cache", cmd_cache, "decompressed kernels and pulled image blobs: path, prune" },
	{ "verify-attestation", cmd_verify_attestation, "verify an NSM attestation document and print its payload" },
	{ "vhost-user-vsock", cmd_vhost_user_vsock, "serve a vhost-user frontend's vsock device, with vhost-device-vsock's command line" },
	{ "explain", cmd_explain, "explain an error number (--error-code Exx): what it means and what to do" },
};

static void usage(FILE *f)
{
	fprintf(f, "nitrovm %s - launch AWS Nitro Enclaves from EIF files\n\n"
		   "Usage: nitrovm <command> [options]      (nitrovm <command> --help for its options)\n\n"
		   "Commands:\n",
		NITROVM_VERSION);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-20s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nQEMU-style front end (nitrovm -M nitro-enclave -help for its options):\n"
		   "  nitrovm -M nitro-enclave -kernel X.eif -m 512M -smp 2 -nographic [-append \"...\"]\n"
		   "  nitrovm -accel nitro,debug-mode=on -M nitro -nographic -smp 2 -m 512M -kernel X.eif\n");
	fprintf(f, "\nOCI runtime for podman, containerd and Kubernetes (nitrovm-runc --help; docs/kubernetes.md):\n"
		   "  the same binary run as nitrovm-runc (a link installed beside it) speaks runc's command line\n");
	fprintf(f, "\nOptions:\n  -h, --help       this text\n  -V, --version    print the version\n");
}

/*
 * The version, then what this build has: scripts/build-aarch64 links statically, and a feature without a static
 * library is left out of such a build (ISA-L: zlib computes the same CRC-32; container images: libcurl needs
 * Kerberos, which has no static library).
 */
static void print_version(void)
{
#if defined(__aarch64__)
	const char *machine = "aarch64";
#else
	const char *machine = "x86_64";
#endif

	printf("nitrovm %s\n", NITROVM_VERSION);
	printf("built for %s, %s; EIF CRC-32: %s; probe guest for selftest: %s; container images: %s\n", machine,
	       NITROVM_STATIC ? "statically linked" : "dynamically linked",
#ifdef NITROVM_HAVE_ISAL
	       "ISA-L",
#else
	       "zlib (no ISA-L in this build)",
#endif
	       nitrovm_probe_image_size ? "built in" : "none (x86_64 only)",
#ifdef NITROVM_HAVE_IMAGES
	       "yes"
#else
	       "none in this build (no libarchive, libcurl)"
#endif
	);
}

int main(int argc, char **argv)
{
	/* Engines run an OCI runtime by its path and cannot add arguments: the name chooses. */
	if (argc > 0 && !strcmp(basename(argv[0]), RT_NAME))
		return runtime_main(argc, argv);
	if (argc < 2) {
		usage(stderr);
		return E_MISSING_ARGUMENT;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		print_version();
		return 0;
	}
	/* QEMU-style front end: `nitrovm -M nitro-enclave -kernel ...`, options with one dash or two (--machine). */
	if (argv[1][0] == '-' && argv[1][1])
		return qemu_main(argc, argv);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	return cli_fail(E_INVALID_COMMAND, "unknown command '%s'; run 'nitrovm --help' for the list of commands",
			argv[1]);
}
