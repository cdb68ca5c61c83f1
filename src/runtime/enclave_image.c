// SPDX-License-Identifier: MIT
/*
 * The enclave's image for a container.
 *
 * EIF mode: the EIF inside root.path, opened as the container would see the path (its symlinks resolved
 * within the root filesystem, never outside it) and booted unchanged.
 *
 * rootfs mode: an EIF in nitro-cli's layout, in memory (a memfd charged to the container's cgroup, where the
 * monitor already is): the bootstrap ramdisk with nitrovm's init and the configured kernel's modules, and the
 * customer ramdisk packed from root.path by the container-image packer (src/image), with the process's args,
 * cwd and user, and an environment that is the container's own: what the engine adds to every container
 * (HOSTNAME=<id>, TERM, container=, the Kubernetes service variables of the namespace) is left out, as it would
 * change PCR2 from one run, or one namespace, to the next.  HOME is set from the image's /etc/passwd when the
 * environment has none, as runc sets it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cli/rootfs.h"
#include "common/util.h"
#include "eif/cpio.h"
#include "eif/eif.h"
#include "image/image.h"
#include "runtime.h"

/* Variables every engine sets on its own: the container's id as its host name, the terminal, the engine. */
static const char *const engine_vars[] = { "HOSTNAME", "TERM", "container" };
#define RT_SERVICE_HOST "_SERVICE_HOST"

int rt_open_in_root(const char *root, const char *path)
{
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	int dfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC), fd;
	struct stat st;

	if (dfd < 0)
		return -errno;
	fd = (int)syscall(SYS_openat2, dfd, path, &how, sizeof(how));
	close(dfd);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EISDIR;
	}
	return fd;
}

static int open_eif(const struct rt_bundle *b, const struct rt_choice *c, uint64_t *size)
{
	struct stat st;
	struct eif e;
	void *map;
	int ret, fd = rt_open_in_root(b->root, c->eif);

	if (fd < 0)
		return err_set(-fd, "the EIF %s is not a file in the container's root filesystem (%s)", c->eif,
			       strerror(-fd));
	if (fstat(fd, &st) || st.st_size <= 0) {
		close(fd);
		return err_set(EINVAL, "the EIF %s in the container's root filesystem is empty", c->eif);
	}
	/* Checked now, so that a wrong file fails create with a sentence instead of the boot with an exit. */
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		close(fd);
		return err_set(errno, "cannot read the EIF %s: %s", c->eif, strerror(errno));
	}
	ret = eif_parse(&e, map, (size_t)st.st_size);
	munmap(map, (size_t)st.st_size);
	if (ret) {
		close(fd);
		return err_wrap(-ret, "the image's EIF %s", c->eif);
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

/* NAME of NAME=VALUE is prefix + something + suffix? */
static bool name_is(const char *kv, const char *name, size_t len)
{
	return !strncmp(kv, name, len) && kv[len] == '=';
}

/* A Kubernetes service variable: X_SERVICE_HOST, X_SERVICE_PORT*, X_PORT, X_PORT_* for a service X present. */
static bool service_var(const struct strv *env, const char *kv)
{
	for (size_t i = 0; i < env->n; i++) {
		const char *h = strstr(env->v[i], RT_SERVICE_HOST "=");
		size_t x;

		if (!h)
			continue;
		x = (size_t)(h - env->v[i]);
		if (strncmp(kv, env->v[i], x) || kv[x] != '_')
			continue;
		if (!strncmp(kv + x, "_SERVICE_", 9) || !strncmp(kv + x, "_PORT=", 6) || !strncmp(kv + x, "_PORT_", 6))
			return true;
	}
	return false;
}

static bool engine_var(const struct strv *env, const char *kv)
{
	for (size_t i = 0; i < ARRAY_SIZE(engine_vars); i++)
		if (name_is(kv, engine_vars[i], strlen(engine_vars[i])))
			return true;
	return service_var(env, kv);
}

static int check_line(const char *s, const char *what)
{
	if (strchr(s, '\n'))
		return err_set(EINVAL, "%s '%.64s' holds a newline, which the enclave's /cmd and /env files (a line "
				       "each) cannot carry", what, s);
	return 0;
}

/* The app's run: the process, its environment without the engine's additions, HOME as runc sets it. */
static int make_run(const struct rt_bundle *b, struct image *img, struct image_run *run)
{
	char home[PATH_MAX + 8];
	bool has_home = false;
	int ret = 0;

	memset(run, 0, sizeof(*run));
	run->container = true;
	snprintf(run->cwd, sizeof(run->cwd), "%s", b->cwd);
	run->uid = b->uid;
	run->gid = b->gid;
	for (size_t i = 0; !ret && i < b->args.n; i++) {
		ret = check_line(b->args.v[i], "the argument");
		ret = ret ? ret : strv_push(&run->argv, b->args.v[i], strlen(b->args.v[i]));
	}
	for (size_t i = 0; !ret && i < b->env.n; i++) {
		if (engine_var(&b->env, b->env.v[i]))
			continue;
		has_home |= name_is(b->env.v[i], "HOME", 4);
		ret = check_line(b->env.v[i], "the variable");
		ret = ret ? ret : strv_push(&run->env, b->env.v[i], strlen(b->env.v[i]));
	}
	if (!ret && !has_home) {
		memcpy(home, "HOME=", 5);
		ret = image_user_home(img, b->uid, home + 5, sizeof(home) - 5);
		ret = ret ? ret : strv_push(&run->env, home, strlen(home));
	}
	if (!ret && b->ngroups) {
		run->groups = calloc(b->ngroups, sizeof(*run->groups));
		if (!run->groups)
			ret = err_set(ENOMEM, "out of memory");
		else
			memcpy(run->groups, b->groups, b->ngroups * sizeof(*run->groups));
		run->ngroups = b->ngroups;
	}
	if (ret)
		image_run_free(run);
	return ret;
}

struct packing {
	struct image *img;
	struct image_ramdisk *rd;
	struct eif_stream stream;
	struct cpio boot;
	struct file_map kernel;
	char *metadata;
};

static void packing_free(struct packing *p)
{
	image_ramdisk_close(p->rd);
	image_close(p->img);
	cpio_free(&p->boot);
	if (p->kernel.data)
		file_map_close(&p->kernel);
	free(p->metadata);
}

static int pack_ramdisks(const struct rt_bundle *b, const struct rt_config *cfg, const char *work_dir,
			 struct packing *p, struct eif_build *eb)
{
	struct image_options io = { .work_dir = work_dir };
	struct rootfs_spec spec = { .kernel_modules = cfg->kernel_modules[0] ? cfg->kernel_modules : NULL,
				    .init = cfg->init[0] ? cfg->init : NULL,
				    .nsm_module = cfg->nsm_module[0] ? cfg->nsm_module : NULL,
				    .arm64 = eb->flags & EIF_FLAG_ARM64 };
	struct image_run run;
	uint64_t size;
	int ret = image_open_rootdir(b->root, &io, &p->img);

	if (ret)
		return ret;
	ret = make_run(b, p->img, &run);
	if (ret)
		return ret;
	ret = image_ramdisk_open(p->img, &run, &p->rd, &size);
	image_run_free(&run);
	if (ret)
		return ret;
	cpio_init(&p->boot);
	ret = rootfs_build_bootstrap(&spec, &p->boot);
	if (ret)
		return err_wrap(-ret, "the enclave's bootstrap ramdisk");
	p->stream = (struct eif_stream){ size, image_ramdisk_read, image_ramdisk_rewind, p->rd };
	eb->ramdisks[0] = (struct eif_blob){ p->boot.buf, p->boot.len };
	eb->ramdisk_streams[1] = &p->stream;
	eb->nramdisks = 2;
	return 0;
}

static int load_kernel(const struct rt_config *cfg, struct packing *p, struct eif_build *eb)
{
	enum eif_arch arch;
	int ret = file_map_open(&p->kernel, cfg->kernel);

	if (ret)
		return err_wrap(-ret, "the enclave kernel");
	arch = eif_detect_arch(p->kernel.data, p->kernel.size);
	if (arch == EIF_ARCH_UNKNOWN)
		return err_set(ENOEXEC, "the enclave kernel %s is neither an x86_64 bzImage nor an arm64 Image",
			       cfg->kernel);
	eb->flags = arch == EIF_ARCH_ARM64 ? EIF_FLAG_ARM64 : 0;
	eb->kernel = (struct eif_blob){ p->kernel.data, p->kernel.size };
	eb->cmdline = (struct eif_blob){ (const uint8_t *)cfg->cmdline, strlen(cfg->cmdline) };
	return 0;
}

static int make_metadata(const struct rt_bundle *b, struct packing *p, struct eif_build *eb)
{
	const char *name = rt_annotation(b, "io.kubernetes.cri.image-name");
	struct eif_metadata_in in = { .image_name = name ? name : RT_NAME, .image_version = "rootfs",
				      .build_tool = RT_NAME, .build_tool_version = NITROVM_VERSION };
	char os[64], ver[128];
	size_t len;
	int ret;

	eif_kernel_version(eb->kernel.data, eb->kernel.size, os, sizeof(os), ver, sizeof(ver));
	in.operating_system = os;
	in.kernel_version = ver;
	ret = eif_metadata_build(&in, &p->metadata, &len);
	if (!ret)
		eb->metadata = (struct eif_blob){ (const uint8_t *)p->metadata, len };
	return ret;
}

static int pack_eif(const struct rt_bundle *b, const struct rt_config *cfg, const char *work_dir, uint64_t *size)
{
	struct packing p = { 0 };
	struct eif_build eb = { 0 };
	struct eif_measurements m;
	int fd = memfd_create("nitrovm-enclave.eif", MFD_CLOEXEC), ret;

	if (fd < 0)
		return err_set(errno, "cannot make the enclave's image in memory: %s", strerror(errno));
	ret = load_kernel(cfg, &p, &eb);
	if (!ret)
		ret = pack_ramdisks(b, cfg, work_dir, &p, &eb);
	if (!ret)
		ret = make_metadata(b, &p, &eb);
	if (!ret)
		ret = eif_write_fd(&eb, fd, "the enclave's image", &m);
	if (!ret)
		*size = eif_build_size(&eb);
	packing_free(&p);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

int rt_enclave_image(const struct rt_bundle *b, const struct rt_choice *c, const struct rt_config *cfg,
		     const char *work_dir, uint64_t *size)
{
	if (c->mode == RT_MODE_EIF)
		return open_eif(b, c, size);
	return pack_eif(b, cfg, work_dir, size);
}
