// SPDX-License-Identifier: MIT
/*
 * The node's configuration for nitrovm-runc: a small file of `key = value` lines (# starts a comment), read
 * at every command from $NITROVM_RUNC_CONFIG, else /etc/nitrovm/runc.conf; no file means the defaults.  It is
 * the node's, not the pod's: what a bundle may not choose (the kernel every rootfs-mode enclave boots, the
 * delegate, the hypervisor) is set here, by whoever installed nitrovm on the node.
 *
 *   kernel = /usr/share/nitrovm/kernel/bzImage    the kernel for rootfs mode (an arm64 Image on arm64)
 *   cmdline = console=ttyS0 reboot=k ...          its command line (default: <kernel dir>/cmdline)
 *   kernel-modules = DIR                          modules nitrovm's init loads (virtio_mmio, vsock, nsm, ...)
 *   init = FILE                                   another static init than nitrovm's
 *   nsm-module = FILE                             nitro-cli's nsm.ko, packed as /nsm.ko
 *   delegate = /usr/sbin/runc                     what runs the containers that are not enclaves
 *   hypervisor = kvm | nitro | nitro-sim          default: nitro where /dev/nitro_enclaves exists, else kvm
 *   debug-mode = false                            enclaves in debug mode (zero PCRs, console kept)
 *   cpus = 2, memory-mib = 512                    defaults when neither annotations nor limits say
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime.h"

/* A configuration is a dozen lines. */
#define RT_CONFIG_FILE_MAX (64 * 1024)
/* Like the command line of nitro-cli's blobs, without what Debian's 6.12 kernels do not know (nomodules). */
#define RT_DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=30 pci=off random.trust_cpu=on"
#define RT_CMDLINE_FILE_MAX 4096
/* More vCPUs than any EC2 instance has, or more memory than any has, is a typo. */
#define RT_CONFIG_MAX_CPUS 256
#define RT_CONFIG_MAX_MEMORY_MIB (64ULL * 1024 * 1024)

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int set_path(char *dst, size_t len, const char *v, const char *where, const char *key)
{
	if (v[0] != '/')
		return err_set(EINVAL, "%s: %s must be an absolute path, not '%.64s'", where, key, v);
	if ((size_t)snprintf(dst, len, "%s", v) >= len)
		return err_set(ENAMETOOLONG, "%s: %s is too long", where, key);
	return 0;
}

static int set_number(uint64_t *dst, const char *v, uint64_t max, const char *where, const char *key)
{
	char *end;
	unsigned long long n;

	errno = 0;
	n = strtoull(v, &end, 10);
	if (!*v || *end || errno || n == 0 || n > max)
		return err_set(EINVAL, "%s: %s must be a number from 1 to %llu, not '%.32s'", where, key,
			       (unsigned long long)max, v);
	*dst = n;
	return 0;
}

static int set_key(struct rt_config *c, const char *key, const char *v, const char *where)
{
	uint64_t n;
	int ret;

	if (!strcmp(key, "kernel"))
		return set_path(c->kernel, sizeof(c->kernel), v, where, key);
	if (!strcmp(key, "kernel-modules"))
		return set_path(c->kernel_modules, sizeof(c->kernel_modules), v, where, key);
	if (!strcmp(key, "init"))
		return set_path(c->init, sizeof(c->init), v, where, key);
	if (!strcmp(key, "nsm-module"))
		return set_path(c->nsm_module, sizeof(c->nsm_module), v, where, key);
	if (!strcmp(key, "delegate"))
		return set_path(c->delegate, sizeof(c->delegate), v, where, key);
	if (!strcmp(key, "cmdline")) {
		if ((size_t)snprintf(c->cmdline, sizeof(c->cmdline), "%s", v) >= sizeof(c->cmdline))
			return err_set(E2BIG, "%s: cmdline is too long", where);
		return 0;
	}
	if (!strcmp(key, "hypervisor")) {
		if (strcmp(v, "kvm") && strcmp(v, "nitro") && strcmp(v, "nitro-sim"))
			return err_set(EINVAL, "%s: hypervisor must be kvm, nitro or nitro-sim, not '%.32s'", where, v);
		snprintf(c->hypervisor, sizeof(c->hypervisor), "%s", v);
		return 0;
	}
	if (!strcmp(key, "debug-mode")) {
		if (strcmp(v, "true") && strcmp(v, "false"))
			return err_set(EINVAL, "%s: debug-mode must be true or false, not '%.32s'", where, v);
		c->debug_mode = !strcmp(v, "true");
		return 0;
	}
	if (!strcmp(key, "cpus")) {
		ret = set_number(&n, v, RT_CONFIG_MAX_CPUS, where, key);
		c->cpus = (unsigned int)n;
		return ret;
	}
	if (!strcmp(key, "memory-mib"))
		return set_number(&c->memory_mib, v, RT_CONFIG_MAX_MEMORY_MIB, where, key);
	return err_set(EINVAL, "%s: unknown key '%.64s'", where, key);
}

int rt_config_parse(struct rt_config *c, char *text)
{
	char where[PATH_MAX + 32];
	unsigned int n = 0;
	int ret = 0;

	for (char *line = text, *next; line && !ret; line = next) {
		char *eq, *key, *val;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		n++;
		line = trim(line);
		if (!*line || *line == '#')
			continue;
		snprintf(where, sizeof(where), "%s, line %u", c->path[0] ? c->path : "the configuration", n);
		eq = strchr(line, '=');
		if (!eq)
			return err_set(EINVAL, "%s: not key = value", where);
		*eq = '\0';
		key = trim(line);
		val = trim(eq + 1);
		ret = set_key(c, key, val, where);
	}
	return ret;
}

int rt_config_load(struct rt_config *c)
{
	const char *path = getenv(RT_CONFIG_ENV);
	uint8_t *buf;
	size_t len;
	int ret;

	memset(c, 0, sizeof(*c));
	if (!path || !*path) {
		path = RT_CONFIG_DEFAULT;
		if (access(path, F_OK))
			return 0;
	}
	snprintf(c->path, sizeof(c->path), "%s", path);
	ret = file_read_all(path, &buf, &len, RT_CONFIG_FILE_MAX);
	if (ret)
		return err_wrap(-ret, "the configuration %s", path);
	if (memchr(buf, '\0', len))
		ret = err_set(EINVAL, "the configuration %s holds a NUL byte", path);
	else
		ret = rt_config_parse(c, (char *)buf);
	free(buf);
	return ret;
}

static bool is_file(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISREG(st.st_mode);
}

static bool is_dir(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISDIR(st.st_mode);
}

static const char *kernel_name(void)
{
	struct utsname u;

	return !uname(&u) && !strcmp(u.machine, "aarch64") ? "Image" : "bzImage";
}

/* The command line in <dir>/cmdline, trimmed; the default when there is no such file. */
static int read_cmdline(struct rt_config *c, const char *dir)
{
	char path[PATH_MAX];
	uint8_t *buf;
	size_t len;
	int ret;

	snprintf(path, sizeof(path), "%s/cmdline", dir);
	if (!is_file(path)) {
		snprintf(c->cmdline, sizeof(c->cmdline), "%s", RT_DEFAULT_CMDLINE);
		return 0;
	}
	ret = file_read_all(path, &buf, &len, RT_CMDLINE_FILE_MAX);
	if (ret)
		return ret;
	snprintf(c->cmdline, sizeof(c->cmdline), "%s", trim((char *)buf));
	for (char *p = c->cmdline; *p; p++)
		if (*p == '\n')
			*p = ' ';
	free(buf);
	return 0;
}

/* nitrovm's kernel directory: the kernel, cmdline and modules/ beside it. */
static int from_kernel_dir(struct rt_config *c, const char *dir)
{
	char mods[PATH_MAX];

	snprintf(c->kernel, sizeof(c->kernel), "%s/%s", dir, kernel_name());
	snprintf(mods, sizeof(mods), "%s/modules", dir);
	if (!c->kernel_modules[0] && is_dir(mods))
		snprintf(c->kernel_modules, sizeof(c->kernel_modules), "%s", mods);
	return c->cmdline[0] ? 0 : read_cmdline(c, dir);
}

/* nitro-cli's blobs: the kernel, its cmdline and nsm.ko, which goes in as /nsm.ko. */
static int from_blobs(struct rt_config *c, const char *dir)
{
	char nsm[PATH_MAX];

	snprintf(c->kernel, sizeof(c->kernel), "%s/%s", dir, kernel_name());
	snprintf(nsm, sizeof(nsm), "%s/nsm.ko", dir);
	if (!c->nsm_module[0] && is_file(nsm))
		snprintf(c->nsm_module, sizeof(c->nsm_module), "%s", nsm);
	return c->cmdline[0] ? 0 : read_cmdline(c, dir);
}

int rt_config_kernel(struct rt_config *c)
{
	const char *blobs = getenv(RT_BLOBS_ENV) && *getenv(RT_BLOBS_ENV) ? getenv(RT_BLOBS_ENV) : RT_BLOBS_DEFAULT;
	char path[PATH_MAX];

	if (c->kernel[0]) {
		if (!is_file(c->kernel))
			return err_set(ENOENT, "the kernel %s named in %s is not there", c->kernel, c->path);
		if (!c->cmdline[0])
			snprintf(c->cmdline, sizeof(c->cmdline), "%s", RT_DEFAULT_CMDLINE);
		return 0;
	}
	snprintf(path, sizeof(path), "%s/%s", RT_KERNEL_DIR_DEFAULT, kernel_name());
	if (is_file(path))
		return from_kernel_dir(c, RT_KERNEL_DIR_DEFAULT);
	snprintf(path, sizeof(path), "%s/%s", blobs, kernel_name());
	if (is_file(path))
		return from_blobs(c, blobs);
	return err_set(ENOENT, "no kernel for an enclave made from a container's root filesystem: put one at "
			       "%s/%s (with cmdline and modules/ beside it), install nitro-cli's blobs (%s), or "
			       "name one with kernel = in %s (docs/kubernetes.md)",
		       RT_KERNEL_DIR_DEFAULT, kernel_name(), blobs, c->path[0] ? c->path : RT_CONFIG_DEFAULT);
}
