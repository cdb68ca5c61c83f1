// SPDX-License-Identifier: MIT
/*
 * nitrovm build-enclave: an EIF from a kernel, a command line and ramdisks (files, or directories packed as
 * newc cpio), optionally signed.  The output appears whole or not at all.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_image.h"
#include "cli.h"
#include "common/util.h"
#include "eif/cpio.h"
#include "eif/eif.h"
#include "eif/signature.h"
#include "rootfs.h"

#define MAX_CMDLINE_FILE (64 * KiB)

static const char usage[] =
	"Usage: nitrovm build-enclave --kernel FILE (--cmdline TEXT | --cmdline-file FILE)\n"
	"                             (--ramdisk FILE | --ramdisk-dir DIR)... --output-file FILE.eif\n"
	"       nitrovm build-enclave --kernel FILE (--cmdline TEXT | --cmdline-file FILE)\n"
	"                             --rootfs DIR (--cmd \"PROG ARGS\" | --cmd-file FILE)\n"
	"                             [--env NAME=VALUE]... [--kernel-modules DIR] [--init FILE]\n"
	"                             --output-file FILE.eif\n"
	"                             [--name NAME] [--version VERSION] [--metadata FILE.json] [--arch ARCH]\n"
	"                             [--signing-certificate CERT.pem --private-key KEY.pem]\n"
	"       nitrovm build-enclave (--docker-uri IMAGE | --docker-dir DIR [--docker-uri TAG])\n"
	"                             [--kernel FILE (--cmdline TEXT | --cmdline-file FILE)]\n"
	"                             [--cmd \"ARGS\" | --cmd-file FILE] [--entrypoint \"PROG ARGS\"] [--env NAME=VALUE]...\n"
	"                             [--nitro-cli-compat] [--kernel-modules DIR] [--init FILE] [--arch ARCH]\n"
	"                             [--quiet] [--plain-http] [--stall-timeout SECONDS] --output-file FILE.eif ...\n\n"
	"Build an enclave image (EIF version 4) and print its measurements as nitro-cli build-enclave does.\n\n"
	"  --kernel FILE             bzImage (x86_64) or arm64 Image; the architecture is read from it\n"
	"  --cmdline TEXT            kernel command line (leading/trailing whitespace is trimmed)\n"
	"  --cmdline-file FILE       read the command line from a file\n"
	"  --ramdisk FILE            a ramdisk (cpio, or cpio.gz) as is; repeatable, kept in order\n"
	"  --ramdisk-dir DIR         pack DIR as a deterministic newc cpio ramdisk; repeatable, kept in order\n"
	"                            with --ramdisk (the first ramdisk is PCR1's, the later ones PCR2's)\n"
	"  --rootfs DIR              build nitro-cli's two ramdisks instead: a bootstrap one (PCR1) with\n"
	"                            nitrovm's enclave init and the kernel modules, and a customer one\n"
	"                            (PCR2) with DIR as the app's root filesystem, its command and\n"
	"                            environment\n"
	"  --cmd \"PROG ARGS\"         the app's command, split at blanks; '...', \"...\" and \\ quote\n"
	"  --cmd-file FILE           the app's command from a file, one argument per line\n"
	"  --env NAME=VALUE          a variable of the app's environment; repeatable (PATH defaults to\n"
	"                            /sbin:/usr/sbin:/bin:/usr/bin)\n"
	"  --kernel-modules DIR      kernel modules (.ko, .ko.xz, .ko.zst, .ko.gz) for the init to load, in\n"
	"                            the order of DIR/order (a file name a line) if there is one, else\n"
	"                            virtio_mmio, vsock, vmw_vsock_virtio_transport_common,\n"
	"                            vmw_vsock_virtio_transport, nsm, then the others by name\n"
	"                            (scripts/kernel-modules gathers them from a Debian kernel package)\n"
	"  --init FILE               a static executable to use as the init instead of nitrovm's own\n"
	"  --docker-uri IMAGE        build from a container image, without Docker: a registry reference\n"
	"                            ([host[:port]/]name[:tag][@digest], Docker Hub when no host; credentials\n"
	"                            from ~/.docker/config.json or $XDG_RUNTIME_DIR/containers/auth.json),\n"
	"                            or oci:DIR[:ref], oci-archive:FILE[:ref], docker-archive:FILE[:ref].\n"
	"                            nitro-cli's layout: nitrovm's init (and --kernel-modules) in the first\n"
	"                            ramdisk, the image as rootfs/ in the second.  The app runs as the\n"
	"                            container would: Entrypoint ++ Cmd, Env, WorkingDir, User.  Without\n"
	"                            --kernel: nitro-cli's blobs ($NITRO_CLI_BLOBS, else\n"
	"                            /usr/share/nitro_enclaves/blobs: bzImage or Image, cmdline, nsm.ko).\n"
	"                            Pulled layers are cached under $XDG_CACHE_HOME/nitrovm (nitrovm cache)\n"
	"  --docker-dir DIR          build DIR's Dockerfile with buildah (or podman) first, tagged --docker-uri\n"
	"  --cmd \"ARGS\", --cmd-file  with an image: replace its Cmd (as `docker run IMAGE ARGS` does)\n"
	"  --entrypoint \"PROG ARGS\"\n"
	"                            replace the image's Entrypoint; its Cmd is then dropped unless --cmd\n"
	"  --env NAME=VALUE          with an image: set a variable over the image's Env\n"
	"  --nitro-cli-compat        nitro-cli's rule instead: Cmd, or else Entrypoint; from / as root\n"
	"  --quiet                   no progress on stderr while pulling and unpacking\n"
	"  --plain-http              talk http to a registry that is not on loopback (loopback ones are\n"
	"                            tried with https, then http)\n"
	"  --stall-timeout SECONDS   give up on a registry transfer that makes no progress this long (30)\n"
	"  --output-file FILE.eif    where to write the image\n"
	"  --name NAME               ImageName in the metadata (default: the output file's name without .eif;\n"
	"                            with an image, the reference without its tag, as nitro-cli)\n"
	"  --version VERSION         ImageVersion in the metadata (default: 1.0; with an image, its ID)\n"
	"  --metadata FILE.json      custom metadata (a JSON file of at most 4096 bytes)\n"
	"  --arch x86_64|aarch64     override the architecture read from the kernel; with an image, choose\n"
	"                            its platform (amd64 or arm64; default: the host's), the EIF's follows\n"
	"  --signing-certificate, --private-key\n"
	"                            sign PCR0 with a PEM EC key (P-256, P-384 or P-521) and its certificate\n\n"
	"BuildTime in the metadata comes from SOURCE_DATE_EPOCH when it is set, so two builds of the same inputs\n"
	"are byte-identical. Ramdisk directories are packed with sorted names, uid/gid 0 and mtimes from it too;\n"
	"images keep their own owners and times.  docs/images.md tells more.\n";

struct ramdisk_src {
	const char *path;
	bool is_dir;
};

struct build_args {
	const char *kernel, *cmdline, *cmdline_file, *output, *name, *version, *metadata, *arch, *cert, *key;
	unsigned int nramdisks;
	struct ramdisk_src ramdisks[EIF_MAX_SECTIONS];
	/* --rootfs and its companions (rootfs.h) */
	const char *rootfs, *cmd_file, *kernel_modules, *init;
	struct strv cmd, env;
	bool has_cmd;
	/* --docker-uri / --docker-dir (build_image.h) */
	bool docker;
	struct build_image_options img;
	struct strv entrypoint;
};

/* Options without a short form. */
enum {
	OPT_ROOTFS = 0x100,
	OPT_CMD,
	OPT_CMD_FILE,
	OPT_ENV,
	OPT_KERNEL_MODULES,
	OPT_INIT,
	OPT_DOCKER_URI,
	OPT_DOCKER_DIR,
	OPT_ENTRYPOINT,
	OPT_NITRO_CLI_COMPAT,
	OPT_QUIET,
	OPT_PLAIN_HTTP,
	OPT_STALL_TIMEOUT,
};

/* A stall timeout longer than a day is a typo, not a patient registry. */
#define MAX_STALL_TIMEOUT_S 86400

/* Everything that holds memory while building; released in one place. */
struct build_state {
	struct file_map kernel;
	struct file_map files[EIF_MAX_SECTIONS];
	struct cpio cpios[EIF_MAX_SECTIONS];
	uint8_t *cmdline_buf, *custom, *signature;
	char *metadata;
	struct build_image image;
};

static void state_free(struct build_state *s)
{
	if (s->kernel.data)
		file_map_close(&s->kernel);
	for (unsigned int i = 0; i < EIF_MAX_SECTIONS; i++) {
		if (s->files[i].data)
			file_map_close(&s->files[i]);
		cpio_free(&s->cpios[i]);
	}
	free(s->cmdline_buf);
	free(s->custom);
	free(s->signature);
	free(s->metadata);
	build_image_free(&s->image);
}

/* The name of an option that only means something with an image, if one was given. */
static const char *image_option_given(const struct build_args *a)
{
	if (a->img.has_entrypoint)
		return "entrypoint";
	if (a->img.nitro_cli_compat)
		return "nitro-cli-compat";
	if (a->img.quiet)
		return "quiet";
	if (a->img.plain_http)
		return "plain-http";
	return a->img.stall_seconds ? "stall-timeout" : NULL;
}

/* The name of an option that only means something with --rootfs or an image, if one was given. */
static const char *rootfs_option_given(const struct build_args *a)
{
	if (a->has_cmd)
		return "cmd";
	if (a->cmd_file)
		return "cmd-file";
	if (a->env.n)
		return "env";
	if (a->kernel_modules)
		return "kernel-modules";
	return a->init ? "init" : NULL;
}

/* Building from a kernel and ramdisks (or --rootfs). */
static int check_kernel_args(const struct build_args *a)
{
	if (image_option_given(a))
		return cli_fail(E_MISSING_ARGUMENT, "--%s goes with --docker-uri IMAGE", image_option_given(a));
	if (!a->kernel)
		return cli_fail(E_MISSING_ARGUMENT, "build-enclave needs --kernel FILE (or --docker-uri IMAGE)");
	if (!a->cmdline && !a->cmdline_file)
		return cli_fail(E_MISSING_ARGUMENT, "build-enclave needs --cmdline TEXT or --cmdline-file FILE");
	if (a->rootfs && a->nramdisks)
		return cli_fail(E_CONFLICTING_ARGUMENT,
				"--rootfs builds both ramdisks: give it without --ramdisk or --ramdisk-dir");
	if (!a->nramdisks && !a->rootfs)
		return cli_fail(E_MISSING_ARGUMENT,
				"build-enclave needs at least one --ramdisk or --ramdisk-dir, or --rootfs");
	if (!a->rootfs && rootfs_option_given(a))
		return cli_fail(E_MISSING_ARGUMENT, "--%s goes with --rootfs DIR or --docker-uri IMAGE",
				rootfs_option_given(a));
	if (a->rootfs && !a->has_cmd && !a->cmd_file)
		return cli_fail(E_MISSING_ARGUMENT,
				"--rootfs needs the app's command: --cmd \"PROG ARGS\" or --cmd-file FILE");
	return 0;
}

/* Building from a container image: the image gives the ramdisks, nitro-cli's blobs the kernel if none. */
static int check_image_args(const struct build_args *a)
{
	if (a->rootfs || a->nramdisks)
		return cli_fail(E_CONFLICTING_ARGUMENT, "--docker-uri builds both ramdisks from the image: give it "
							"without --rootfs, --ramdisk or --ramdisk-dir");
	if (!a->img.uri && !a->img.docker_dir)
		return cli_fail(E_MISSING_ARGUMENT, "build-enclave needs --docker-uri IMAGE");
	if (a->kernel && !a->cmdline && !a->cmdline_file)
		return cli_fail(E_MISSING_ARGUMENT, "--kernel needs --cmdline TEXT or --cmdline-file FILE (without "
						    "--kernel, nitro-cli's blobs give both)");
	if (!a->kernel && (a->cmdline || a->cmdline_file))
		return cli_fail(E_MISSING_ARGUMENT, "--cmdline goes with --kernel FILE");
	return 0;
}

static int parse_args(int argc, char **argv, struct build_args *a)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "cmdline-file", required_argument, NULL, 'C' },
		{ "ramdisk", required_argument, NULL, 'r' },
		{ "ramdisk-dir", required_argument, NULL, 'R' },
		{ "output-file", required_argument, NULL, 'o' },
		{ "name", required_argument, NULL, 'n' },
		{ "version", required_argument, NULL, 'v' },
		{ "metadata", required_argument, NULL, 'm' },
		{ "arch", required_argument, NULL, 'a' },
		{ "signing-certificate", required_argument, NULL, 's' },
		{ "private-key", required_argument, NULL, 'p' },
		{ "rootfs", required_argument, NULL, OPT_ROOTFS },
		{ "cmd", required_argument, NULL, OPT_CMD },
		{ "cmd-file", required_argument, NULL, OPT_CMD_FILE },
		{ "env", required_argument, NULL, OPT_ENV },
		{ "kernel-modules", required_argument, NULL, OPT_KERNEL_MODULES },
		{ "init", required_argument, NULL, OPT_INIT },
		{ "docker-uri", required_argument, NULL, OPT_DOCKER_URI },
		{ "docker-dir", required_argument, NULL, OPT_DOCKER_DIR },
		{ "entrypoint", required_argument, NULL, OPT_ENTRYPOINT },
		{ "nitro-cli-compat", no_argument, NULL, OPT_NITRO_CLI_COMPAT },
		{ "quiet", no_argument, NULL, OPT_QUIET },
		{ "plain-http", no_argument, NULL, OPT_PLAIN_HTTP },
		{ "stall-timeout", required_argument, NULL, OPT_STALL_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	memset(a, 0, sizeof(*a));
	while ((c = cli_getopt(argc, argv, opts)) != -1) {
		switch (c) {
		case 'k': a->kernel = optarg; break;
		case 'c': a->cmdline = optarg; break;
		case 'C': a->cmdline_file = optarg; break;
		case 'o': a->output = optarg; break;
		case 'n': a->name = optarg; break;
		case 'v': a->version = optarg; break;
		case 'm': a->metadata = optarg; break;
		case 'a': a->arch = optarg; break;
		case 's': a->cert = optarg; break;
		case 'p': a->key = optarg; break;
		case 'r':
		case 'R':
			if (a->nramdisks >= EIF_MAX_SECTIONS - 3)
				return cli_fail(E_INVALID_ARGUMENT, "too many ramdisks: an EIF holds at most %d",
						EIF_MAX_SECTIONS - 3);
			a->ramdisks[a->nramdisks].path = optarg;
			a->ramdisks[a->nramdisks++].is_dir = c == 'R';
			break;
		case OPT_ROOTFS: a->rootfs = optarg; break;
		case OPT_CMD_FILE: a->cmd_file = optarg; break;
		case OPT_KERNEL_MODULES: a->kernel_modules = optarg; break;
		case OPT_INIT: a->init = optarg; break;
		case OPT_CMD:
			if (a->has_cmd)
				return cli_fail(E_CONFLICTING_ARGUMENT, "give --cmd once");
			a->has_cmd = true;
			if (rootfs_split_cmd(optarg, &a->cmd))
				return cli_fail_err(E_INVALID_ARGUMENT);
			break;
		case OPT_ENV:
			if (rootfs_check_env(optarg) || strv_push(&a->env, optarg, strlen(optarg)))
				return cli_fail_err(E_INVALID_ARGUMENT);
			break;
		case OPT_DOCKER_URI: a->img.uri = optarg; a->docker = true; break;
		case OPT_DOCKER_DIR: a->img.docker_dir = optarg; a->docker = true; break;
		case OPT_NITRO_CLI_COMPAT: a->img.nitro_cli_compat = true; break;
		case OPT_QUIET: a->img.quiet = true; break;
		case OPT_PLAIN_HTTP: a->img.plain_http = true; break;
		case OPT_ENTRYPOINT:
			if (a->img.has_entrypoint)
				return cli_fail(E_CONFLICTING_ARGUMENT, "give --entrypoint once");
			a->img.has_entrypoint = true;
			if (rootfs_split_cmd(optarg, &a->entrypoint))
				return cli_fail(E_INVALID_ARGUMENT, "--entrypoint: %s", err_msg());
			break;
		case OPT_STALL_TIMEOUT: {
			uint64_t v;

			if (cli_parse_u64(optarg, &v) || !v || v > MAX_STALL_TIMEOUT_S)
				return cli_fail(E_INVALID_ARGUMENT,
						"--stall-timeout '%s' is not a number of seconds from 1 to %d", optarg,
						MAX_STALL_TIMEOUT_S);
			a->img.stall_seconds = (unsigned int)v;
			break;
		}
		case 'h': fputs(usage, stdout); return -1;
		default: return cli_bad_option("build-enclave");
		}
	}
	if (optind < argc)
		return cli_fail(E_INVALID_ARGUMENT, "unexpected argument '%s' for build-enclave", argv[optind]);
	if (!a->output)
		return cli_fail(E_MISSING_ARGUMENT, "build-enclave needs --output-file FILE.eif");
	if (a->cmdline && a->cmdline_file)
		return cli_fail(E_CONFLICTING_ARGUMENT, "give either --cmdline or --cmdline-file, not both");
	if (a->has_cmd && a->cmd_file)
		return cli_fail(E_CONFLICTING_ARGUMENT, "give either --cmd or --cmd-file, not both");
	if (!a->cert != !a->key)
		return cli_fail(E_MISSING_ARGUMENT, "signing needs both --signing-certificate and --private-key");
	if (a->arch && strcmp(a->arch, "x86_64") && strcmp(a->arch, "aarch64") && strcmp(a->arch, "arm64") &&
	    strcmp(a->arch, "amd64"))
		return cli_fail(E_INVALID_ARGUMENT, "unknown --arch '%s': use x86_64 (amd64) or aarch64 (arm64)",
				a->arch);
	return a->docker ? check_image_args(a) : check_kernel_args(a);
}

/* nitro-cli trims the command line (its blob file ends in a newline). */
static void trim(const uint8_t **p, size_t *len)
{
	while (*len && strchr(" \t\r\n", (*p)[*len - 1]))
		(*len)--;
	while (*len && strchr(" \t\r\n", **p)) {
		(*p)++;
		(*len)--;
	}
}

static int load_inputs(const struct build_args *a, struct build_state *s, struct eif_build *b)
{
	const uint8_t *cl;
	size_t cl_len;

	if (file_map_open(&s->kernel, a->kernel))
		return cli_fail_err(E_FILE_OPERATION);
	if (!s->kernel.size)
		return cli_fail(E_EIF_BUILDING, "the kernel %s is empty", a->kernel);
	b->kernel = (struct eif_blob){ s->kernel.data, s->kernel.size };
	if (a->cmdline_file) {
		if (file_read_all(a->cmdline_file, &s->cmdline_buf, &cl_len, MAX_CMDLINE_FILE))
			return cli_fail_err(E_FILE_OPERATION);
		cl = s->cmdline_buf;
	} else {
		cl = (const uint8_t *)a->cmdline;
		cl_len = strlen(a->cmdline);
	}
	trim(&cl, &cl_len);
	if (memchr(cl, '\0', cl_len))
		return cli_fail(E_EIF_BUILDING, "the kernel command line contains a NUL byte");
	b->cmdline = (struct eif_blob){ cl, cl_len };
	for (unsigned int i = 0; i < a->nramdisks; i++) {
		const struct ramdisk_src *r = &a->ramdisks[i];

		if (r->is_dir) {
			cpio_init(&s->cpios[i]);
			if (cpio_add_tree(&s->cpios[i], r->path, "") || cpio_finish(&s->cpios[i]))
				return cli_fail(E_EIF_BUILDING, "cannot pack ramdisk directory %s: %s", r->path,
						err_msg());
			b->ramdisks[i] = (struct eif_blob){ s->cpios[i].buf, s->cpios[i].len };
		} else {
			if (file_map_open(&s->files[i], r->path))
				return cli_fail_err(E_FILE_OPERATION);
			b->ramdisks[i] = (struct eif_blob){ s->files[i].data, s->files[i].size };
		}
	}
	b->nramdisks = a->nramdisks;
	return 0;
}

/* nitro-cli's layout: ramdisk 0 = bootstrap (init, modules), ramdisk 1 = customer (rootfs, cmd, env). */
static int load_rootfs(struct build_args *a, struct build_state *s, struct eif_build *b)
{
	struct rootfs_spec spec = {
		.rootfs = a->rootfs,
		.cmd = &a->cmd,
		.env = (const char *const *)a->env.v,
		.nenv = a->env.n,
		.kernel_modules = a->kernel_modules,
		.init = a->init,
		.arm64 = b->flags & EIF_FLAG_ARM64,
	};

	if (a->cmd_file && rootfs_read_cmd_file(a->cmd_file, &a->cmd))
		return cli_fail_err(E_FILE_OPERATION);
	cpio_init(&s->cpios[0]);
	cpio_init(&s->cpios[1]);
	if (rootfs_build(&spec, &s->cpios[0], &s->cpios[1]))
		return cli_fail(E_EIF_BUILDING, "cannot build the ramdisks of --rootfs: %s", err_msg());
	for (unsigned int i = 0; i < 2; i++)
		b->ramdisks[i] = (struct eif_blob){ s->cpios[i].buf, s->cpios[i].len };
	b->nramdisks = 2;
	return 0;
}

static bool arch_is_arm64(const char *arch)
{
	return !strcmp(arch, "aarch64") || !strcmp(arch, "arm64");
}

/*
 * The EIF's architecture: the kernel's, or --arch for a kernel nitrovm cannot tell.  With an image, --arch
 * chose the image's platform instead, and the image must then match the kernel (build_image.c checks).
 */
static int pick_arch(const struct build_args *a, struct eif_build *b)
{
	enum eif_arch arch = eif_detect_arch(b->kernel.data, b->kernel.size);

	if (a->arch && (!a->docker || arch == EIF_ARCH_UNKNOWN))
		arch = arch_is_arm64(a->arch) ? EIF_ARCH_ARM64 : EIF_ARCH_X86_64;
	if (arch == EIF_ARCH_UNKNOWN)
		return cli_fail(E_EIF_BUILDING, "%s is neither an x86_64 bzImage nor an arm64 Image; pass --arch if it "
						"is a kernel all the same",
				a->kernel);
	b->flags = arch == EIF_ARCH_ARM64 ? EIF_FLAG_ARM64 : 0;
	return 0;
}

/* nitro-cli's way: "# Linux/x86_64 4.14.256-209.484.amzn2.x86_64 Kernel Configuration" on line 3 of K.config. */
static bool kernel_config_version(const char *kernel, char *os, size_t oslen, char *ver, size_t verlen)
{
	char path[PATH_MAX], line[512];
	FILE *f;
	bool ok = false;

	if (snprintf(path, sizeof(path), "%s.config", kernel) >= (int)sizeof(path))
		return false;
	f = fopen(path, "r");
	if (!f)
		return false;
	for (int i = 0; i < 3; i++)
		if (!fgets(line, sizeof(line), f))
			goto out;
	{
		char *words[5], *save = NULL, *w = strtok_r(line, " /-\n", &save);
		int n = 0;

		while (w && n < 5) {
			words[n++] = w;
			w = strtok_r(NULL, " /-\n", &save);
		}
		if (n >= 4) {
			snprintf(os, oslen, "%s", words[1]);
			snprintf(ver, verlen, "%s", words[3]);
			ok = true;
		}
	}
out:
	fclose(f);
	return ok;
}

static int make_metadata(const struct build_args *a, struct build_state *s, struct eif_build *b)
{
	struct eif_metadata_in in = { 0 };
	char name[256], os[64], ver[128];
	size_t len;

	if (a->name) {
		in.image_name = a->name;
	} else if (a->docker) {
		in.image_name = build_image_name(&s->image);
	} else {
		const char *base = strrchr(a->output, '/') ? strrchr(a->output, '/') + 1 : a->output;
		size_t n = strlen(base);

		if (n > 4 && !strcmp(base + n - 4, ".eif"))
			n -= 4;
		snprintf(name, sizeof(name), "%.*s", (int)n, base);
		in.image_name = name;
	}
	/* nitro-cli: the image ID (without "sha256:") when built from an image, as its version. */
	in.image_version = a->version ? a->version : a->docker ? build_image_version(&s->image) : "1.0";
	in.docker_info_json = s->image.docker_info;
	in.build_tool = "nitrovm";
	in.build_tool_version = NITROVM_VERSION;
	if (!kernel_config_version(a->kernel, os, sizeof(os), ver, sizeof(ver)))
		eif_kernel_version(b->kernel.data, b->kernel.size, os, sizeof(os), ver, sizeof(ver));
	in.operating_system = os;
	in.kernel_version = ver;
	if (a->metadata) {
		if (file_read_all(a->metadata, &s->custom, &len, EIF_METADATA_MAX_CUSTOM))
			return cli_fail(E_EIF_BUILDING, "custom metadata: %s", err_msg());
		in.custom_metadata_json = (const char *)s->custom;
		in.custom_metadata_len = len;
	}
	if (eif_metadata_build(&in, &s->metadata, &len))
		return cli_fail_err(E_EIF_BUILDING);
	b->metadata = (struct eif_blob){ (const uint8_t *)s->metadata, len };
	return 0;
}

static int sign(const struct build_args *a, struct build_state *s, struct eif_build *b, uint8_t pcr8[SHA384_LEN])
{
	struct eif_measurements m;
	struct eif_signature_check chk;
	size_t len;

	if (eif_build_measure(b, &m))
		return cli_fail_err(E_HASHER);
	if (eif_signature_create(m.pcr0, a->cert, a->key, &s->signature, &len))
		return cli_fail_err(E_EIF_SIGNING);
	if (eif_signature_check(s->signature, len, m.pcr0, &chk))
		return cli_fail_err(E_EIF_SIGNING);
	memcpy(pcr8, chk.pcr8, SHA384_LEN);
	eif_signature_check_free(&chk);
	b->signature = (struct eif_blob){ s->signature, len };
	return 0;
}

/* --docker-uri: the image first (its architecture picks nitro-cli's kernel when --kernel is not given). */
static int open_image(struct build_args *a, struct build_state *s)
{
	int ret;

	if (a->cmd_file && rootfs_read_cmd_file(a->cmd_file, &a->cmd))
		return cli_fail_err(E_FILE_OPERATION);
	a->img.output = a->output;
	a->img.arch = a->arch;
	a->img.has_cmd = a->has_cmd || a->cmd_file;
	a->img.cmd = &a->cmd;
	a->img.entrypoint = &a->entrypoint;
	a->img.env = (const char *const *)a->env.v;
	a->img.nenv = a->env.n;
	a->img.kernel_modules = a->kernel_modules;
	a->img.init = a->init;
	ret = build_image_open(&a->img, !a->kernel, !a->cmdline && !a->cmdline_file, &s->image);
	if (ret)
		return ret;
	if (!a->kernel)
		a->kernel = s->image.kernel;
	if (!a->cmdline && !a->cmdline_file)
		a->cmdline_file = s->image.cmdline;
	return 0;
}

int cmd_build_enclave(int argc, char **argv)
{
	struct build_args a;
	struct build_state s = { 0 };
	struct eif_build b = { 0 };
	struct eif_measurements m;
	struct atomic_file out = { .fd = -1 };
	uint8_t pcr8[SHA384_LEN];
	struct json_object *o;
	int ret;

	ret = parse_args(argc, argv, &a);
	if (!ret && a.docker)
		ret = open_image(&a, &s);
	if (ret)
		goto out;
	ret = load_inputs(&a, &s, &b);
	if (!ret)
		ret = pick_arch(&a, &b);
	if (!ret && a.rootfs)
		ret = load_rootfs(&a, &s, &b);
	if (!ret && a.docker)
		ret = build_image_ramdisks(&a.img, &s.image, &b);
	if (!ret)
		ret = make_metadata(&a, &s, &b);
	if (!ret && a.cert)
		ret = sign(&a, &s, &b, pcr8);
	if (ret)
		goto out;
	if (atomic_file_open(&out, a.output, 0644)) {
		ret = cli_fail_err(E_FILE_OPERATION);
		goto out;
	}
	/* Only now, so that bad input gets exactly one line on stderr. */
	if (!a.img.quiet)
		fprintf(stderr, "Start building the Enclave Image...\n");
	if (eif_write_fd(&b, out.fd, a.output, &m) || atomic_file_commit(&out)) {
		ret = cli_fail_err(E_FILE_OPERATION);
		goto out;
	}
	if (!a.img.quiet)
		fprintf(stderr, "Enclave Image successfully created.\n");
	o = json_object_new_object();
	json_object_object_add(o, "Measurements", cli_measurements_json(&m, a.cert ? pcr8 : NULL));
	cli_print_json(o);
	json_object_put(o);
out:
	atomic_file_abort(&out);
	state_free(&s);
	strv_free(&a.cmd);
	strv_free(&a.env);
	strv_free(&a.entrypoint);
	return ret < 0 ? 0 : ret; /* parse_args' -1: --help was printed */
}
