// SPDX-License-Identifier: MIT
/*
 * build-enclave --rootfs: the bootstrap and customer ramdisks of nitro-cli's layout (see rootfs.h), from a
 * root filesystem directory, a command, an environment, optional kernel modules and nitrovm's static init.
 */
#include "rootfs.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/install_paths.h"
#include "common/util.h"
#include "eif/cpio.h"

#define MAX_CMD_FILE	(1 * MiB)  /* /cmd becomes execve()'s argv: the kernel takes far less than this */
#define MAX_INIT_FILE	(64 * MiB) /* a static init is ~1 MiB; anything near this is not one */
#define MAX_MODULE_FILE (64 * MiB) /* the largest Debian module (amdgpu) is ~20 MiB uncompressed */
#define MAX_ORDER_FILE	(64 * KiB)
#define MAX_MODULES	1024

/* Where the build tree puts the init, relative to the nitrovm binary (meson: guest/init/meson.build). */
#define BUILD_TREE_INIT "guest/init/init"

/* Directories nitro-cli's customer ramdisk always has under rootfs/ (the directories its linuxkit build creates). */
static const char *const customer_dirs[] = {"dev", "run", "sys", "var", "proc", "tmp"};

/*
 * Without an order file, modules load in this order: the dependency order of what Debian's 6.12 kernels build
 * as modules and an enclave needs (virtio-mmio transport, vsock core, its virtio transport, the NSM driver).
 * Other modules follow, sorted by name; an order file (scripts/kernel-modules writes one) says otherwise.
 */
static const char *const known_module_order[] = {
	"virtio_mmio", "vsock", "vmw_vsock_virtio_transport_common", "vmw_vsock_virtio_transport", "nsm",
};

static const char *const module_suffixes[] = {".ko", ".ko.xz", ".ko.zst", ".ko.gz"};

/* The console device (major 5, minor 1), so the kernel gives init its stdio before /dev is mounted. */
#define CONSOLE_MAJOR 5
#define CONSOLE_MINOR 1

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* One argument starting at *pp (not a blank); appends it to argv and advances *pp past it. */
static int split_one(const char **pp, char *arg, struct strv *argv)
{
	const char *p = *pp;
	size_t n = 0;

	while (*p && !is_blank(*p)) {
		if (*p == '\'') {
			const char *end = strchr(p + 1, '\'');

			if (!end)
				return err_set(EINVAL, "--cmd has an unterminated ' quote");
			memcpy(arg + n, p + 1, (size_t)(end - p - 1));
			n += (size_t)(end - p - 1);
			p = end + 1;
		} else if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
					p++;
				arg[n++] = *p;
			}
			if (!*p)
				return err_set(EINVAL, "--cmd has an unterminated \" quote");
			p++;
		} else if (*p == '\\') {
			if (!p[1])
				return err_set(EINVAL, "--cmd ends with a lone backslash");
			arg[n++] = p[1];
			p += 2;
		} else {
			arg[n++] = *p++;
		}
	}
	if (memchr(arg, '\n', n))
		return err_set(EINVAL,
			       "an argument of --cmd holds a newline, which the image's /cmd file (one "
			       "argument per line) cannot carry");
	*pp = p;
	return strv_push(argv, arg, n);
}

int rootfs_split_cmd(const char *cmd, struct strv *argv)
{
	/* No argument is longer than the whole command. */
	char *arg = malloc(strlen(cmd) + 1);
	const char *p = cmd;
	int ret = 0;

	if (!arg)
		return err_set(ENOMEM, "out of memory");
	for (;;) {
		while (is_blank(*p))
			p++;
		if (!*p)
			break;
		ret = split_one(&p, arg, argv);
		if (ret)
			break;
	}
	free(arg);
	if (!ret && !argv->n)
		ret = err_set(EINVAL, "--cmd is empty: give the program to run and its arguments");
	if (!ret && !argv->v[0][0])
		ret = err_set(EINVAL, "--cmd starts with an empty program name");
	return ret;
}

int rootfs_read_cmd_file(const char *path, struct strv *argv)
{
	uint8_t *buf;
	size_t len;
	int ret = file_read_all(path, &buf, &len, MAX_CMD_FILE);

	if (ret)
		return ret;
	if (memchr(buf, '\0', len)) {
		ret = err_set(EINVAL,
			      "--cmd-file %s holds a NUL byte; it must be text, one argument per line", path);
		goto out;
	}
	for (size_t start = 0; start < len && !ret;) {
		const uint8_t *nl = memchr(buf + start, '\n', len - start);
		size_t end = nl ? (size_t)(nl - buf) : len;

		ret = strv_push(argv, (const char *)buf + start, end - start);
		start = end + 1;
	}
	if (!ret && (!argv->n || !argv->v[0][0]))
		ret = err_set(EINVAL, "--cmd-file %s does not start with a program name", path);
out:
	free(buf);
	return ret;
}

int rootfs_check_env(const char *kv)
{
	const char *eq = strchr(kv, '=');

	if (!eq || eq == kv)
		return err_set(EINVAL, "--env '%.64s' is not NAME=VALUE", kv);
	if (strchr(kv, '\n'))
		return err_set(EINVAL,
			       "--env '%.*s=...' holds a newline, which the image's /env file (one "
			       "variable per line) cannot carry",
			       (int)MIN(eq - kv, 64), kv);
	return 0;
}

/* Where nitrovm's own init is: next to the binary in the build tree, else where `meson install` put it. */
static int rootfs_find_init(char *path, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n > 0) {
		exe[n] = '\0';
		if ((size_t)snprintf(path, len, "%s/%s", dirname(exe), BUILD_TREE_INIT) < len &&
		    !access(path, R_OK))
			return 0;
	}
	if ((size_t)snprintf(path, len, "%s", NITROVM_INIT_INSTALLED) < len && !access(path, R_OK))
		return 0;
	return err_set(ENOENT,
		       "cannot find nitrovm's enclave init (neither next to nitrovm as %s nor installed as "
		       "%s): build it (ninja -C build) or pass --init FILE",
		       BUILD_TREE_INIT, NITROVM_INIT_INSTALLED);
}

/*
 * The bootstrap ramdisk has no C library and no interpreter: the init must be a static executable for the
 * image's architecture, or the kernel fails to run it with nothing more than a panic.
 */
static int check_init(const char *path, const uint8_t *data, size_t len, bool arm64)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)data;
	uint16_t machine = arm64 ? EM_AARCH64 : EM_X86_64;

	if (len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG))
		return err_set(ENOEXEC, "the init %s is not an ELF executable", path);
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != machine)
		return err_set(ENOEXEC,
			       "the init %s is not a 64-bit %s executable, which this image's kernel needs",
			       path, arm64 ? "aarch64" : "x86_64");
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phoff > len ||
	    (len - eh->e_phoff) / sizeof(Elf64_Phdr) < eh->e_phnum)
		return err_set(ENOEXEC, "the init %s has a damaged program header table", path);
	for (unsigned int i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, data + eh->e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_INTERP)
			return err_set(ENOEXEC,
				       "the init %s is dynamically linked; the bootstrap ramdisk has no "
				       "libraries: link it statically",
				       path);
	}
	return 0;
}

static int add_init(const struct rootfs_spec *spec, struct cpio *c)
{
	char found[PATH_MAX];
	const char *path = spec->init;
	uint8_t *data;
	size_t len;
	int ret;

	if (!path) {
		ret = rootfs_find_init(found, sizeof(found));
		if (ret)
			return ret;
		path = found;
	}
	ret = file_read_all(path, &data, &len, MAX_INIT_FILE);
	if (ret)
		return ret;
	ret = check_init(path, data, len, spec->arm64);
	if (!ret)
		ret = cpio_add_file(c, "init", 0755, data, len);
	free(data);
	return ret;
}

/* ---- kernel modules ---- */

struct module_file {
	char *name; /* file name in the modules directory */
	unsigned int rank;
};

struct module_list {
	struct module_file *v;
	size_t n;
};

static void module_list_free(struct module_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
}

/* The module name of a file name (without its suffix), or 0 when it is not a module file. */
static size_t module_name_len(const char *file)
{
	size_t len = strlen(file);

	for (size_t i = 0; i < ARRAY_SIZE(module_suffixes); i++) {
		size_t sl = strlen(module_suffixes[i]);

		if (len > sl && !strcmp(file + len - sl, module_suffixes[i]))
			return len - sl;
	}
	return 0;
}

/* Position in known_module_order ('-' and '_' are the same in module names), or past its end. */
static unsigned int module_rank(const char *file)
{
	size_t len = module_name_len(file);

	for (unsigned int i = 0; i < ARRAY_SIZE(known_module_order); i++) {
		const char *k = known_module_order[i];
		size_t j;

		if (strlen(k) != len)
			continue;
		for (j = 0; j < len; j++)
			if (!(file[j] == k[j] || (file[j] == '-' && k[j] == '_')))
				break;
		if (j == len)
			return i;
	}
	return ARRAY_SIZE(known_module_order);
}

static int module_cmp(const void *a, const void *b)
{
	const struct module_file *x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return strcmp(x->name, y->name);
}

static bool is_regular(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	return (size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) < sizeof(path) && !stat(path, &st) &&
	       S_ISREG(st.st_mode);
}

static int module_list_add(struct module_list *l, const char *name, unsigned int rank)
{
	struct module_file *v;

	if (l->n >= MAX_MODULES)
		return err_set(E2BIG, "more than %d kernel modules", MAX_MODULES);
	v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v)
		return err_set(ENOMEM, "out of memory");
	l->v = v;
	l->v[l->n].name = strdup(name);
	if (!l->v[l->n].name)
		return err_set(ENOMEM, "out of memory");
	l->v[l->n++].rank = rank;
	return 0;
}

/* Every module file of dir (regular files, symlinks followed), in the default load order. */
static int list_module_dir(const char *dir, struct module_list *l)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int ret = 0;

	if (!d)
		return err_set(errno, "--kernel-modules %s: %s", dir, strerror(errno));
	while (!ret && (de = readdir(d)))
		if (module_name_len(de->d_name) && is_regular(dir, de->d_name))
			ret = module_list_add(l, de->d_name, module_rank(de->d_name));
	closedir(d);
	if (!ret)
		qsort(l->v, l->n, sizeof(*l->v), module_cmp);
	return ret;
}

static bool module_listed(const struct module_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].name, name))
			return true;
	return false;
}

/*
 * DIR/order: one file name per line (blanks around it, empty lines and '#' comments ignored), each a regular
 * file of DIR, listed once; and every module file of DIR must be listed, so none is packed but never loaded.
 */
static int read_module_order(const char *dir, const char *order_path, const struct module_list *all,
			     struct module_list *l)
{
	uint8_t *buf;
	size_t len;
	char *save = NULL, *s;
	int ret = file_read_all(order_path, &buf, &len, MAX_ORDER_FILE);

	if (ret)
		return ret;
	if (memchr(buf, '\0', len)) {
		ret = err_set(EINVAL, "%s holds a NUL byte", order_path);
		goto out;
	}
	/* strtok_r skips empty lines, which are ignored anyway. */
	for (s = strtok_r((char *)buf, "\n", &save); s && !ret; s = strtok_r(NULL, "\n", &save)) {
		char *e = s + strlen(s);

		while (is_blank(*s))
			s++;
		while (e > s && is_blank(e[-1]))
			*--e = '\0';
		if (!*s || *s == '#')
			continue;
		if (strchr(s, '/') || !strcmp(s, ".") || !strcmp(s, ".."))
			ret = err_set(EINVAL, "%s: '%.64s' is not a file name in %s", order_path, s, dir);
		else if (!is_regular(dir, s))
			ret = err_set(ENOENT, "%s names %.64s, which is not a file in %s", order_path, s,
				      dir);
		else if (module_listed(l, s))
			ret = err_set(EINVAL, "%s names %.64s twice", order_path, s);
		else
			ret = module_list_add(l, s, 0);
	}
	for (size_t i = 0; !ret && i < all->n; i++)
		if (!module_listed(l, all->v[i].name))
			ret = err_set(EINVAL, "%s/%s is not listed in %s: list it, or remove it", dir,
				      all->v[i].name, order_path);
	if (!ret && !l->n)
		ret = err_set(EINVAL, "%s lists no modules", order_path);
out:
	free(buf);
	return ret;
}

static int add_modules(const char *dir, struct cpio *c)
{
	struct module_list all = {0}, order = {0};
	const struct module_list *use = &all;
	char path[PATH_MAX], *text = NULL;
	size_t text_len = 0;
	int ret = list_module_dir(dir, &all);

	if (ret)
		goto out;
	if (snprintf(path, sizeof(path), "%s/order", dir) >= (int)sizeof(path)) {
		ret = err_set(ENAMETOOLONG, "--kernel-modules %.64s...: path too long", dir);
		goto out;
	}
	if (!access(path, F_OK)) {
		ret = read_module_order(dir, path, &all, &order);
		use = &order;
	} else if (!all.n) {
		ret = err_set(ENOENT,
			      "--kernel-modules %s holds no kernel modules (.ko, .ko.xz, .ko.zst, .ko.gz)",
			      dir);
	}
	if (ret)
		goto out;
	ret = cpio_add_dir(c, "modules", 0755);
	for (size_t i = 0; i < use->n && !ret; i++) {
		const char *name = use->v[i].name;
		char entry[CPIO_MAX_NAME + 1];
		uint8_t *data;
		size_t len;
		char *t;

		snprintf(path, sizeof(path), "%s/%s", dir, name);
		snprintf(entry, sizeof(entry), "modules/%s", name);
		ret = file_read_all(path, &data, &len, MAX_MODULE_FILE);
		if (ret)
			break;
		ret = cpio_add_file(c, entry, 0644, data, len);
		free(data);
		t = realloc(text, text_len + strlen(name) + 2);
		if (!t) {
			ret = err_set(ENOMEM, "out of memory");
			break;
		}
		text = t;
		text_len += (size_t)sprintf(text + text_len, "%s\n", name);
	}
	if (!ret)
		ret = cpio_add_file(c, "modules/order", 0644, text, text_len);
out:
	free(text);
	module_list_free(&all);
	module_list_free(&order);
	return ret;
}

/* ---- the two ramdisks ---- */

/* AWS's bootstrap ramdisk has the NSM driver as /nsm.ko, 0755, which both inits load first. */
static int add_nsm_module(const char *path, struct cpio *c)
{
	uint8_t *data;
	size_t len;
	int ret = file_read_all(path, &data, &len, MAX_MODULE_FILE);

	if (ret)
		return ret;
	ret = cpio_add_file(c, "nsm.ko", 0755, data, len);
	free(data);
	return ret;
}

int rootfs_build_bootstrap(const struct rootfs_spec *spec, struct cpio *c)
{
	int ret = cpio_add_dir(c, "dev", 0755);

	if (!ret)
		ret = cpio_add_node(c, "dev/console", S_IFCHR | 0600, CONSOLE_MAJOR, CONSOLE_MINOR);
	if (!ret)
		ret = add_init(spec, c);
	if (!ret && spec->nsm_module)
		ret = add_nsm_module(spec->nsm_module, c);
	if (!ret && spec->kernel_modules)
		ret = add_modules(spec->kernel_modules, c);
	if (!ret)
		ret = cpio_finish(c);
	return ret;
}

static int build_customer(const struct rootfs_spec *spec, struct cpio *c)
{
	char path[PATH_MAX], name[32], *cmd = NULL, *env = NULL;
	size_t cmd_len = 0, env_len = 0;
	struct stat st;
	int ret;

	if (stat(spec->rootfs, &st))
		return err_set(errno, "--rootfs %s: %s", spec->rootfs, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return err_set(ENOTDIR, "--rootfs %s is not a directory", spec->rootfs);
	ret = cpio_add_tree(c, spec->rootfs, "rootfs");
	for (size_t i = 0; i < ARRAY_SIZE(customer_dirs) && !ret; i++) {
		/* Whatever the tree has there (even a symlink, as /var/run often is) stays as it is. */
		snprintf(path, sizeof(path), "%s/%s", spec->rootfs, customer_dirs[i]);
		if (!lstat(path, &st))
			continue;
		snprintf(name, sizeof(name), "rootfs/%s", customer_dirs[i]);
		ret = cpio_add_dir(c, name, 0755);
	}
	if (ret)
		return ret;
	cmd = strv_join_lines((const char *const *)spec->cmd->v, spec->cmd->n, &cmd_len);
	env = strv_join_lines(spec->env, spec->nenv, &env_len);
	if (!cmd || !env)
		ret = err_set(ENOMEM, "out of memory");
	if (!ret)
		ret = cpio_add_file(c, "cmd", 0644, cmd, cmd_len);
	if (!ret)
		ret = cpio_add_file(c, "env", 0644, env, env_len);
	if (!ret)
		ret = cpio_finish(c);
	free(cmd);
	free(env);
	return ret;
}

int rootfs_build(const struct rootfs_spec *spec, struct cpio *bootstrap, struct cpio *customer)
{
	int ret = rootfs_build_bootstrap(spec, bootstrap);

	return ret ? ret : build_customer(spec, customer);
}
