// SPDX-License-Identifier: MIT
/*
 * The container's cgroup, where the monitor lives from before it allocates the enclave's memory: so that
 * `podman stats`, the kubelet and the pod's limits see the enclave, whose memory is the monitor's (a memfd on
 * KVM; huge pages, the hugetlb controller's, on Nitro).
 *
 * cgroupsPath comes in runc's two forms: cgroupfs "/a/b" (relative paths are taken from the root too), and
 * with --systemd-cgroup systemd's "slice:prefix:name", which is the directory
 * <slice expanded>/<prefix>-<name>.scope ("a-b.slice" expands to "a.slice/a-b.slice").  nitrovm-runc makes that
 * directory itself instead of asking systemd for a transient scope over D-Bus (docs/kubernetes.md says so).
 * cgroup v2 (one directory) is what the tests run; v1 gets a directory in every hierarchy.  Limits from
 * linux.resources are written as runc writes them (memory, CPU quota, pids, hugetlb).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/grow.h"
#include "common/util.h"
#include "runtime.h"

/* /proc/self/mountinfo lines are a few hundred bytes. */
#define RT_MOUNTINFO_LINE 4096
/* The controllers nitrovm's limits use, enabled for the container's subtree on cgroup v2. */
static const char *const v2_controllers[] = { "+cpu", "+memory", "+pids", "+hugetlb" };

static bool is_v2(void)
{
	return access(RT_CGROUP_ROOT "/cgroup.controllers", F_OK) == 0;
}

/* "a-b-c.slice" -> "a.slice/a-b.slice/a-b-c.slice" (systemd's nesting of slices by their dashes). */
static int expand_slice(const char *slice, char *out, size_t len)
{
	size_t n = strlen(slice), used = 0;

	if (!n || !strcmp(slice, "-.slice")) {
		out[0] = '\0';
		return 0;
	}
	if (n < 7 || strcmp(slice + n - 6, ".slice") || strchr(slice, '/'))
		return err_set(EINVAL, "cgroupsPath: '%.64s' is not a systemd slice name", slice);
	out[0] = '\0';
	for (const char *d = slice; (d = strchr(d, '-')) && d < slice + n - 6; d++) {
		if (d == slice || d[1] == '-' || d[1] == '.')
			return err_set(EINVAL, "cgroupsPath: '%.64s' is not a systemd slice name", slice);
		used += (size_t)snprintf(out + used, len - MIN(used, len), "/%.*s.slice", (int)(d - slice), slice);
	}
	used += (size_t)snprintf(out + used, len - MIN(used, len), "/%s", slice);
	return used < len ? 0 : err_set(ENAMETOOLONG, "cgroupsPath is too long");
}

/* "slice:prefix:name" -> "/<slice path>/<prefix>-<name>.scope" */
static int systemd_path(const char *spec, char *out, size_t len)
{
	char slice[PATH_MAX], parts[3][PATH_MAX];
	const char *p = spec;
	int ret;

	for (int i = 0; i < 3; i++) {
		const char *end = i < 2 ? strchr(p, ':') : p + strlen(p);

		if (!end || (size_t)(end - p) >= sizeof(parts[i]))
			return err_set(EINVAL, "cgroupsPath '%.64s' is not systemd's slice:prefix:name", spec);
		snprintf(parts[i], sizeof(parts[i]), "%.*s", (int)(end - p), p);
		p = end + 1;
	}
	if (!parts[2][0] || strchr(parts[1], '/') || strchr(parts[2], '/'))
		return err_set(EINVAL, "cgroupsPath '%.64s' is not systemd's slice:prefix:name", spec);
	ret = expand_slice(parts[0][0] ? parts[0] : "system.slice", slice, sizeof(slice));
	if (ret)
		return ret;
	if ((size_t)snprintf(out, len, "%s/%s%s%s.scope", slice, parts[1], parts[1][0] ? "-" : "", parts[2]) >= len)
		return err_set(ENAMETOOLONG, "cgroupsPath is too long");
	return 0;
}

/* A cgroupfs path: "/" + components, none of them "." or "..". */
static int cgroupfs_path(const char *spec, char *out, size_t len)
{
	if ((size_t)snprintf(out, len, "%s%s", spec[0] == '/' ? "" : "/", spec) >= len)
		return err_set(ENAMETOOLONG, "cgroupsPath is too long");
	if (strstr(out, "/../") || strstr(out, "/./") || (strlen(out) >= 3 && !strcmp(out + strlen(out) - 3, "/..")) ||
	    !strcmp(out, "/"))
		return err_set(EINVAL, "cgroupsPath '%.64s' must name a cgroup below the root, without . or ..", spec);
	return 0;
}

static int add_dir(struct rt_cgroup *cg, const char *mount, const char *rel)
{
	if (cg->n == RT_CGROUP_MAX_DIRS)
		return 0;
	if ((size_t)snprintf(cg->dirs[cg->n], sizeof(cg->dirs[0]), "%s%s", mount, rel) >= sizeof(cg->dirs[0]))
		return err_set(ENAMETOOLONG, "cgroupsPath is too long");
	cg->n++;
	return 0;
}

/* cgroup v1: one directory in each hierarchy mounted below RT_CGROUP_ROOT. */
static int add_v1_dirs(struct rt_cgroup *cg, const char *rel)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[RT_MOUNTINFO_LINE];
	int ret = 0;

	if (!f)
		return err_set(errno, "cannot read /proc/self/mountinfo: %s", strerror(errno));
	while (!ret && fgets(line, sizeof(line), f)) {
		char point[PATH_MAX], *sep = strstr(line, " - ");
		char fstype[32];

		if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1 || sscanf(sep + 3, "%31s", fstype) != 1)
			continue;
		if (strncmp(point, RT_CGROUP_ROOT "/", strlen(RT_CGROUP_ROOT) + 1))
			continue;
		if (!strcmp(fstype, "cgroup") || !strcmp(fstype, "cgroup2"))
			ret = add_dir(cg, point, rel);
	}
	fclose(f);
	if (!ret && !cg->n)
		ret = err_set(ENOENT, "no cgroup hierarchy is mounted below " RT_CGROUP_ROOT);
	return ret;
}

int rt_cgroup_resolve(const char *cgroups_path, bool systemd, const char *id, struct rt_cgroup *cg)
{
	char rel[PATH_MAX], def[PATH_MAX];
	int ret;

	memset(cg, 0, sizeof(*cg));
	if (!cgroups_path[0]) {
		snprintf(def, sizeof(def), systemd ? "system.slice:" RT_NAME ":%s" : "/" RT_NAME "/%s", id);
		cgroups_path = def;
	}
	ret = systemd ? systemd_path(cgroups_path, rel, sizeof(rel)) : cgroupfs_path(cgroups_path, rel, sizeof(rel));
	if (ret)
		return ret;
	return is_v2() ? add_dir(cg, RT_CGROUP_ROOT, rel) : add_v1_dirs(cg, rel);
}

static int write_file(const char *dir, const char *name, const char *value)
{
	char path[PATH_MAX];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, value, strlen(value)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* A limit for a controller this hierarchy may not have: where the file is missing, there is nothing to set. */
static int write_limit(const char *dir, const char *name, const char *value)
{
	int ret = write_file(dir, name, value);

	if (ret == -ENOENT)
		return 0;
	if (ret)
		return err_set(-ret, "cannot set %s/%s to %s: %s", dir, name, value, strerror(-ret));
	return 0;
}

static int v2_limits(const char *dir, const struct rt_bundle *b)
{
	char v[64];
	int ret = 0;

	if (b->memory_limit) {
		snprintf(v, sizeof(v), "%lld", (long long)b->memory_limit);
		ret = write_limit(dir, "memory.max", v);
	}
	if (!ret && b->cpu_quota && b->cpu_period) {
		snprintf(v, sizeof(v), "%lld %llu", (long long)b->cpu_quota, (unsigned long long)b->cpu_period);
		ret = write_limit(dir, "cpu.max", v);
	}
	if (!ret && b->pids_limit) {
		snprintf(v, sizeof(v), "%lld", (long long)b->pids_limit);
		ret = write_limit(dir, "pids.max", v);
	}
	if (!ret && b->hugetlb_2m) {
		snprintf(v, sizeof(v), "%lld", (long long)b->hugetlb_2m);
		ret = write_limit(dir, "hugetlb.2MB.max", v);
	}
	if (!ret && b->hugetlb_1g) {
		snprintf(v, sizeof(v), "%lld", (long long)b->hugetlb_1g);
		ret = write_limit(dir, "hugetlb.1GB.max", v);
	}
	return ret;
}

static int v1_limits(const char *dir, const struct rt_bundle *b)
{
	char v[64];
	int ret = 0;

	if (b->memory_limit) {
		snprintf(v, sizeof(v), "%lld", (long long)b->memory_limit);
		ret = write_limit(dir, "memory.limit_in_bytes", v);
	}
	if (!ret && b->cpu_quota && b->cpu_period) {
		snprintf(v, sizeof(v), "%llu", (unsigned long long)b->cpu_period);
		ret = write_limit(dir, "cpu.cfs_period_us", v);
		snprintf(v, sizeof(v), "%lld", (long long)b->cpu_quota);
		ret = ret ? ret : write_limit(dir, "cpu.cfs_quota_us", v);
	}
	if (!ret && b->pids_limit) {
		snprintf(v, sizeof(v), "%lld", (long long)b->pids_limit);
		ret = write_limit(dir, "pids.max", v);
	}
	return ret;
}

/* A new v1 cpuset is empty, and an empty one takes no process: start from the parent's. */
static void v1_cpuset_init(const char *dir)
{
	static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
	char parent[PATH_MAX], value[4096];

	snprintf(parent, sizeof(parent), "%s", dir);
	*strrchr(parent, '/') = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		char path[PATH_MAX];
		FILE *f;

		if ((size_t)snprintf(path, sizeof(path), "%s/%s", parent, files[i]) >= sizeof(path))
			continue;
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(value, sizeof(value), f))
			write_file(dir, files[i], value);
		fclose(f);
	}
}

static void enable_controllers(const char *dir)
{
	for (size_t i = 0; i < ARRAY_SIZE(v2_controllers); i++)
		write_file(dir, "cgroup.subtree_control", v2_controllers[i]);
}

/*
 * mkdir -p from the top, counting the directories made (always the last ones).  On v2 each level above the
 * container's, the root's too, gets the controllers the limits and `podman stats` need, as runc does.
 */
static int make_dir(const char *dir, unsigned int *made, bool v2)
{
	char path[PATH_MAX], *p = path + strlen(RT_CGROUP_ROOT);

	*made = 0;
	snprintf(path, sizeof(path), "%s", dir);
	if (v2)
		enable_controllers(RT_CGROUP_ROOT);
	for (;;) {
		p = strchr(p + 1, '/');
		if (p)
			*p = '\0';
		if (mkdir(path, 0755) == 0) {
			++*made;
			if (!v2)
				v1_cpuset_init(path);
		} else if (errno != EEXIST) {
			return err_set(errno, "cannot make the cgroup %s: %s", path, strerror(errno));
		}
		if (!p)
			return 0;
		if (v2)
			enable_controllers(path);
		*p = '/';
	}
}

int rt_cgroup_create(struct rt_cgroup *cg, const struct rt_bundle *b)
{
	bool v2 = is_v2();
	int ret = 0;

	for (unsigned int i = 0; !ret && i < cg->n; i++) {
		ret = make_dir(cg->dirs[i], &cg->made[i], v2);
		if (!ret)
			ret = v2 ? v2_limits(cg->dirs[i], b) : v1_limits(cg->dirs[i], b);
	}
	if (ret)
		rt_cgroup_remove(cg);
	return ret;
}

int rt_cgroup_join(const struct rt_cgroup *cg)
{
	for (unsigned int i = 0; i < cg->n; i++) {
		int ret = write_file(cg->dirs[i], "cgroup.procs", "0");

		if (ret)
			return err_set(-ret, "cannot join the container's cgroup %s: %s", cg->dirs[i], strerror(-ret));
	}
	return 0;
}

int rt_cgroup_pids(const struct rt_cgroup *cg, pid_t **pids, size_t *n)
{
	char path[PATH_MAX];
	size_t cap = 0;
	FILE *f;
	long v;

	*pids = NULL;
	*n = 0;
	if (!cg->n)
		return 0;
	if ((size_t)snprintf(path, sizeof(path), "%s/cgroup.procs", cg->dirs[0]) >= sizeof(path))
		return err_set(ENAMETOOLONG, "the cgroup's path is too long");
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fscanf(f, "%ld", &v) == 1) {
		pid_t *p = grow_array(*pids, &cap, *n + 1, sizeof(*p), 16);

		if (!p) {
			fclose(f);
			return err_set(ENOMEM, "out of memory");
		}
		*pids = p;
		(*pids)[(*n)++] = (pid_t)v;
	}
	fclose(f);
	return 0;
}

void rt_cgroup_remove(const struct rt_cgroup *cg)
{
	for (unsigned int i = 0; i < cg->n; i++) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s", cg->dirs[i]);
		for (unsigned int k = 0; k < cg->made[i]; k++) {
			char *slash = strrchr(path, '/');

			if (rmdir(path) && errno != ENOENT)
				break;
			if (!slash)
				break;
			*slash = '\0';
		}
	}
}
