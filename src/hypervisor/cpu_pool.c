// SPDX-License-Identifier: MIT
/*
 * The Nitro Enclaves CPU pool (nitro.h): the ne_cpus module parameter and the topology of its CPUs from
 * sysfs, so that a CPU count or id list the driver would refuse is refused here first, before any ioctl, with
 * the counts that would work.  The driver's own rules (ne_misc_dev.c, ne_setup_cpu_pool and NE_ADD_VCPU): the
 * pool is made of whole cores, never CPU 0 or its siblings, all on one NUMA node; an enclave takes whole
 * cores.
 *
 * The driver takes its pool CPUs offline, and offline CPUs have no topology directory: then the thread count
 * per core comes from CPU 0 and the driver checks which ids form a core (NE_ERR_FULL_CORES_NOT_USED).
 */
#include "hypervisor/nitro.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

/* How many counts a message lists one by one before it says "a multiple of N up to M". */
#define CPU_COUNTS_LISTED_MAX 6
#define CPU_LIST_TEXT_MAX     (NE_CPUS_SIZE + 1)
#define SYSFS_VALUE_MAX	      4096
#define CPU_SYSFS	      "/sys/devices/system/cpu"
#define ALLOCATOR_HINT                                                                                  \
	"set cpu_count (or cpu_pool) in /etc/nitro_enclaves/allocator.yaml and run `systemctl restart " \
	"nitro-enclaves-allocator`"

const char *ne_sysfs_root(void)
{
#ifdef NITROVM_TEST_HOOKS
	/* Test builds only: a fake tree with the topology, pool and huge pages a test needs. */
	const char *root = getenv(NE_SYSFS_ROOT_ENV);

	return root ? root : "";
#else
	return "";
#endif
}

int ne_sysfs_read(const char *path, char *buf, size_t len)
{
	char full[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(full, sizeof(full), "%s%s", ne_sysfs_root(), path);
	fd = open(full, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		n--;
	buf[n] = '\0';
	return 0;
}

unsigned int cpu_set_count(const struct cpu_set *s)
{
	unsigned int n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(s->bits); i++)
		n += (unsigned int)__builtin_popcountll(s->bits[i]);
	return n;
}

static int parse_cpu_number(const char **p, unsigned int *out)
{
	char *end;
	unsigned long v;

	if (!isdigit((unsigned char)**p))
		return -EINVAL;
	errno = 0;
	v = strtoul(*p, &end, 10);
	if (errno || v >= NE_MAX_CPUS)
		return -ERANGE;
	*p = end;
	*out = (unsigned int)v;
	return 0;
}

int cpu_list_parse(const char *s, struct cpu_set *out)
{
	const char *p = s;

	memset(out, 0, sizeof(*out));
	while (isspace((unsigned char)*p))
		p++;
	while (*p && !isspace((unsigned char)*p)) {
		unsigned int lo, hi;
		int ret = parse_cpu_number(&p, &lo);

		hi = lo;
		if (!ret && *p == '-') {
			p++;
			ret = parse_cpu_number(&p, &hi);
		}
		if (ret == -ERANGE)
			return err_set(ERANGE, "CPU list '%s': CPU ids go up to %d here", s, NE_MAX_CPUS - 1);
		if (ret < 0 || hi < lo || (*p && *p != ',' && !isspace((unsigned char)*p)))
			return err_set(EINVAL, "'%s' is not a CPU list (like 1-3,5)", s);
		for (unsigned int c = lo; c <= hi; c++)
			cpu_set_add(out, c);
		if (*p == ',')
			p++;
	}
	while (isspace((unsigned char)*p))
		p++;
	if (*p)
		return err_set(EINVAL, "'%s' is not a CPU list (like 1-3,5)", s);
	return 0;
}

void cpu_list_format(const struct cpu_set *s, char *buf, size_t len)
{
	size_t used = 0;

	if (len)
		buf[0] = '\0';
	for (unsigned int c = 0; c < NE_MAX_CPUS && used < len; c++) {
		unsigned int end = c;
		int n;

		if (!cpu_set_has(s, c))
			continue;
		while (end + 1 < NE_MAX_CPUS && cpu_set_has(s, end + 1))
			end++;
		n = end == c ? snprintf(buf + used, len - used, "%s%u", used ? "," : "", c)
			     : snprintf(buf + used, len - used, "%s%u-%u", used ? "," : "", c, end);
		if (n < 0)
			return;
		used += (size_t)n;
		c = end;
	}
}

int cpu_pool_read_param(char *buf, size_t len)
{
	int ret = ne_sysfs_read(NE_CPUS_PARAM, buf, len);

	if (ret == -ENOENT)
		return err_set(ENOENT,
			       "%s does not exist: the nitro_enclaves driver is not loaded (modprobe "
			       "nitro_enclaves, on an instance launched with the enclave option)",
			       NE_CPUS_PARAM);
	if (ret < 0)
		return err_set(-ret, "cannot read %s: %s", NE_CPUS_PARAM, strerror(-ret));
	return 0;
}

static int read_int(const char *fmt, unsigned int cpu, int *out)
{
	char path[PATH_MAX], val[64];

	snprintf(path, sizeof(path), fmt, cpu);
	if (ne_sysfs_read(path, val, sizeof(val)) < 0)
		return -ENOENT;
	*out = atoi(val);
	return 0;
}

/* The nodeN link in a CPU's directory (present for offline CPUs too). */
static int cpu_node(unsigned int cpu)
{
	char path[PATH_MAX];
	struct dirent *de;
	int node = -1;
	DIR *d;

	snprintf(path, sizeof(path), "%s" CPU_SYSFS "/cpu%u", ne_sysfs_root(), cpu);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)) && node < 0)
		if (!strncmp(de->d_name, "node", 4) && isdigit((unsigned char)de->d_name[4]))
			node = atoi(de->d_name + 4);
	closedir(d);
	return node;
}

static void read_topology(struct cpu_pool *p, unsigned int cpu)
{
	struct cpu_topo *t = &p->cpu[cpu];
	char path[PATH_MAX], val[SYSFS_VALUE_MAX];

	t->node = cpu_node(cpu);
	snprintf(path, sizeof(path), CPU_SYSFS "/cpu%u/topology/thread_siblings_list", cpu);
	if (ne_sysfs_read(path, val, sizeof(val)) < 0 || cpu_list_parse(val, &t->siblings) < 0 ||
	    !cpu_set_has(&t->siblings, cpu)) {
		err_clear();
		return;
	}
	if (read_int(CPU_SYSFS "/cpu%u/topology/core_id", cpu, &t->core_id) < 0)
		t->core_id = (int)cpu;
	if (read_int(CPU_SYSFS "/cpu%u/topology/physical_package_id", cpu, &t->package) < 0)
		t->package = 0;
	t->known = true;
}

/* /sys/devices/system/cpu/possible: the ids the kernel could ever use (nr_cpu_ids = the last + 1). */
static unsigned int possible_cpus(const struct cpu_set *pool)
{
	char val[SYSFS_VALUE_MAX];
	struct cpu_set s;
	unsigned int n = 0;

	if (ne_sysfs_read(CPU_SYSFS "/possible", val, sizeof(val)) < 0 || cpu_list_parse(val, &s) < 0) {
		err_clear();
		s = *pool;
		cpu_set_add(&s, 0);
	}
	for (unsigned int c = 0; c < NE_MAX_CPUS; c++)
		if (cpu_set_has(&s, c))
			n = c + 1;
	return n;
}

static int pool_error(struct hv_fault *fault, const char *list, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int pool_error(struct hv_fault *fault, const char *list, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	fault->cls = HV_FAULT_CPU_POOL;
	return err_set(EINVAL, "The Nitro Enclaves CPU pool (%s) breaks the driver's rules: %s; %s", list,
		       why, ALLOCATOR_HINT);
}

/* The rules ne_setup_cpu_pool applies when the pool is written: a pool we read should already obey them. */
static int check_pool_rules(struct cpu_pool *p, const char *list, struct hv_fault *fault)
{
	const struct cpu_topo *t0 = &p->cpu[0];

	if (cpu_set_has(&p->cpus, 0))
		return pool_error(fault, list, "CPU 0 must stay with the parent instance");
	for (unsigned int c = 1; t0->known && c < NE_MAX_CPUS; c++)
		if (cpu_set_has(&t0->siblings, c) && cpu_set_has(&p->cpus, c))
			return pool_error(fault, list,
					  "CPU %u is a sibling of CPU 0, which stays with the parent", c);
	for (unsigned int c = 0; c < p->nr_cpu_ids; c++) {
		const struct cpu_topo *t = &p->cpu[c];

		if (!cpu_set_has(&p->cpus, c) || !t->known)
			continue;
		for (unsigned int s = 0; s < NE_MAX_CPUS; s++)
			if (cpu_set_has(&t->siblings, s) && !cpu_set_has(&p->cpus, s))
				return pool_error(fault, list,
						  "CPU %u is in it but its sibling CPU %u is not", c, s);
		if (t->node >= 0 && p->node >= 0 && t->node != p->node)
			return pool_error(fault, list, "CPU %u is on NUMA node %u while the others are not",
					  c, (unsigned int)t->node);
		if (p->node < 0)
			p->node = t->node;
	}
	return 0;
}

int cpu_pool_load(struct cpu_pool *p, const char *pool_list, struct hv_fault *fault)
{
	char list[CPU_LIST_TEXT_MAX];
	int ret;

	memset(p, 0, sizeof(*p));
	p->node = -1;
	ret = cpu_list_parse(pool_list, &p->cpus);
	if (ret < 0) {
		fault->cls = HV_FAULT_CPU_POOL;
		return err_wrap(-ret, "The Nitro Enclaves CPU pool is unusable (%s)", NE_CPUS_PARAM);
	}
	p->ncpus = cpu_set_count(&p->cpus);
	cpu_list_format(&p->cpus, list, sizeof(list));
	if (!p->ncpus) {
		fault->cls = HV_FAULT_CPU_POOL;
		return err_set(ENOSPC,
			       "The Nitro Enclaves CPU pool is empty (%s): %s, or write full cores to it "
			       "yourself, e.g. `echo 1,3 > %s` (not CPU 0 or its siblings)",
			       NE_CPUS_PARAM, ALLOCATOR_HINT, NE_CPUS_PARAM);
	}
	p->nr_cpu_ids = possible_cpus(&p->cpus);
	p->topology_known = true;
	for (unsigned int c = 0; c < p->nr_cpu_ids && c < NE_MAX_CPUS; c++) {
		read_topology(p, c);
		if (cpu_set_has(&p->cpus, c)) {
			p->topology_known &= p->cpu[c].known;
			if (!p->threads_per_core && p->cpu[c].known)
				p->threads_per_core = cpu_set_count(&p->cpu[c].siblings);
		}
	}
	if (!p->threads_per_core)
		p->threads_per_core = p->cpu[0].known ? cpu_set_count(&p->cpu[0].siblings) : 1;
	return check_pool_rules(p, list, fault);
}

void cpu_pool_valid_counts(const struct cpu_pool *p, char *buf, size_t len)
{
	unsigned int tpc = p->threads_per_core ? p->threads_per_core : 1;
	unsigned int cores = p->ncpus / tpc;
	size_t used = 0;

	if (!cores) {
		snprintf(buf, len, "none");
		return;
	}
	if (cores > CPU_COUNTS_LISTED_MAX) {
		if (tpc == 1)
			snprintf(buf, len, "any count from 1 to %u", cores);
		else
			snprintf(buf, len, "a multiple of %u from %u to %u", tpc, tpc, cores * tpc);
		return;
	}
	buf[0] = '\0';
	for (unsigned int k = 1; k <= cores && used < len; k++) {
		int n = snprintf(buf + used, len - used, "%s%u",
				 k == 1	      ? ""
				 : k == cores ? " or "
					      : ", ",
				 k * tpc);

		if (n < 0)
			return;
		used += (size_t)n;
	}
}

int cpu_pool_check_count(const struct cpu_pool *p, unsigned int count, struct hv_fault *fault)
{
	char list[CPU_LIST_TEXT_MAX], counts[128];
	unsigned int tpc = p->threads_per_core ? p->threads_per_core : 1;

	cpu_list_format(&p->cpus, list, sizeof(list));
	cpu_pool_valid_counts(p, counts, sizeof(counts));
	fault->cls = HV_FAULT_CPU_COUNT;
	if (count > p->ncpus)
		return err_set(ENOSPC,
			       "Asked for %u vCPUs but the Nitro Enclaves CPU pool has %u CPUs (%s): ask for "
			       "%s, or grow the pool (%s)",
			       count, p->ncpus, list, counts, ALLOCATOR_HINT);
	if (count % tpc)
		return err_set(EINVAL,
			       "Asked for %u vCPUs but enclaves take whole cores, %u threads each on this "
			       "instance (pool %s): ask for %s",
			       count, tpc, list, counts);
	fault->cls = HV_FAULT_NONE;
	return 0;
}

int cpu_pool_check_ids(const struct cpu_pool *p, const uint32_t *ids, unsigned int n, struct hv_fault *fault)
{
	char list[CPU_LIST_TEXT_MAX];
	struct cpu_set given = {0};

	cpu_list_format(&p->cpus, list, sizeof(list));
	for (unsigned int i = 0; i < n; i++) {
		if (cpu_set_has(&given, ids[i])) {
			*fault = (struct hv_fault){ .cls = HV_FAULT_CPU_TWICE, .cpu = ids[i] };
			return err_set(EINVAL, "CPU id %u is given twice", ids[i]);
		}
		if (!cpu_set_has(&p->cpus, ids[i])) {
			*fault = (struct hv_fault){ .cls = HV_FAULT_CPU_NOT_IN_POOL, .cpu = ids[i] };
			return err_set(
				ENOENT,
				"CPU %u is not in the Nitro Enclaves CPU pool (%s): use CPUs of the pool, "
				"or add it to the pool (%s)",
				ids[i], list, ALLOCATOR_HINT);
		}
		cpu_set_add(&given, ids[i]);
	}
	for (unsigned int i = 0; i < n; i++) {
		const struct cpu_topo *t = &p->cpu[ids[i]];

		for (unsigned int s = 0; t->known && s < NE_MAX_CPUS; s++)
			if (cpu_set_has(&t->siblings, s) && !cpu_set_has(&given, s)) {
				*fault = (struct hv_fault){ .cls = HV_FAULT_CPU_SIBLING, .cpu = ids[i], .sibling = s };
				return err_set(EINVAL,
					       "CPU %u is given without its sibling CPU %u: enclaves take whole cores, "
					       "ask for CPU %u too",
					       ids[i], s, s);
			}
	}
	fault->cls = HV_FAULT_NONE;
	return 0;
}

unsigned int cpu_pool_pick(const struct cpu_pool *p, unsigned int count, uint32_t *ids)
{
	struct cpu_set left = p->cpus;
	unsigned int n = 0;

	/* By core id, lowest first, whole cores: the order ne_get_unused_core_from_cpu_pool takes them in. */
	while (n < count && cpu_set_count(&left)) {
		int best = -1;

		for (unsigned int c = 0; c < NE_MAX_CPUS; c++)
			if (cpu_set_has(&left, c) &&
			    (best < 0 || (p->cpu[c].known ? p->cpu[c].core_id : (int)c) <
						 (p->cpu[best].known ? p->cpu[best].core_id : best)))
				best = (int)c;
		for (unsigned int c = 0; c < NE_MAX_CPUS && n < count; c++) {
			bool same = p->cpu[best].known ? cpu_set_has(&p->cpu[best].siblings, c)
						       : c == (unsigned int)best;

			if (same && cpu_set_has(&left, c)) {
				ids[n++] = c;
				cpu_set_del(&left, c);
			}
		}
		cpu_set_del(&left, (unsigned int)best);
	}
	return n;
}
