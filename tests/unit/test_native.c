// SPDX-License-Identifier: MIT
/*
 * Native mode's checks before any ioctl, against a fake sysfs tree (NITROVM_SYSFS_ROOT): cpu-list parsing,
 * the CPU pool and topology rules, and nitro-cli's huge-page search.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "hypervisor/nitro.h"

/* snprintf into an array: a text that does not fit fails the test instead of going on cut short. */
#define FORMAT(buf, ...) assert_true((size_t)snprintf((buf), sizeof(buf), __VA_ARGS__) < sizeof(buf))

static char root[PATH_MAX];

static void mkdirs(const char *path)
{
	char tmp[PATH_MAX];

	FORMAT(tmp, "%s", path);
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(tmp, 0755);
			*p = '/';
		}
	mkdir(tmp, 0755);
}

static void put(const char *rel, const char *fmt, ...)
{
	char path[PATH_MAX], dir[PATH_MAX];
	va_list ap;
	FILE *f;

	FORMAT(path, "%s%s", root, rel);
	FORMAT(dir, "%s", path);
	*strrchr(dir, '/') = '\0';
	mkdirs(dir);
	f = fopen(path, "w");
	assert_non_null(f);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
}

static void rmtree(void)
{
	char cmd[PATH_MAX + 16];

	FORMAT(cmd, "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root);
}

/* n CPUs, 2 threads per core with EC2's x86 numbering: CPU c's sibling is c + n/2; all on node 0. */
static void make_cpus(unsigned int n)
{
	char rel[PATH_MAX];

	put("/sys/devices/system/cpu/possible", "0-%u\n", n - 1);
	for (unsigned int c = 0; c < n; c++) {
		unsigned int core = c % (n / 2);

		FORMAT(rel, "/sys/devices/system/cpu/cpu%u/topology/thread_siblings_list", c);
		put(rel, "%u,%u\n", core, core + n / 2);
		FORMAT(rel, "/sys/devices/system/cpu/cpu%u/topology/core_id", c);
		put(rel, "%u\n", core);
		FORMAT(rel, "/sys/devices/system/cpu/cpu%u/topology/physical_package_id", c);
		put(rel, "0\n");
		FORMAT(rel, "%s/sys/devices/system/cpu/cpu%u/node0", root, c);
		mkdirs(rel);
	}
}

static void set_node(unsigned int cpu, unsigned int node)
{
	char rel[PATH_MAX], cmd[2 * PATH_MAX];

	FORMAT(rel, "%s/sys/devices/system/cpu/cpu%u", root, cpu);
	FORMAT(cmd, "rm -rf '%s'/node* && mkdir '%s/node%u'", rel, rel, node);
	assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
	(void)state;
	FORMAT(root, "/tmp/nitrovm-sysfs-XXXXXX");
	assert_non_null(mkdtemp(root));
	setenv(NE_SYSFS_ROOT_ENV, root, 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rmtree();
	unsetenv(NE_SYSFS_ROOT_ENV);
	return 0;
}

/* ---- cpu lists ---- */

static void cpu_list_parses_the_kernel_format(void **state)
{
	struct cpu_set s;
	char buf[64];

	(void)state;
	assert_int_equal(cpu_list_parse("1-3,5\n", &s), 0);
	assert_int_equal(cpu_set_count(&s), 4);
	assert_true(cpu_set_has(&s, 1) && cpu_set_has(&s, 3) && cpu_set_has(&s, 5) && !cpu_set_has(&s, 4));
	cpu_list_format(&s, buf, sizeof(buf));
	assert_string_equal(buf, "1-3,5");
	assert_int_equal(cpu_list_parse("  ", &s), 0);
	assert_int_equal(cpu_set_count(&s), 0);
	cpu_list_format(&s, buf, sizeof(buf));
	assert_string_equal(buf, "");
	assert_int_equal(cpu_list_parse("0,2,4-5,8-9", &s), 0);
	cpu_list_format(&s, buf, sizeof(buf));
	assert_string_equal(buf, "0,2,4-5,8-9");
	assert_int_equal(cpu_list_parse("7", &s), 0);
	assert_true(cpu_set_has(&s, 7));
}

static void cpu_list_refuses_garbage(void **state)
{
	struct cpu_set s;

	(void)state;
	assert_int_equal(cpu_list_parse("3-1", &s), -EINVAL);
	assert_int_equal(cpu_list_parse("a", &s), -EINVAL);
	assert_int_equal(cpu_list_parse("1,,2", &s), -EINVAL);
	assert_int_equal(cpu_list_parse("1-", &s), -EINVAL);
	assert_int_equal(cpu_list_parse("1 2", &s), -EINVAL);
	assert_int_equal(cpu_list_parse("-1", &s), -EINVAL);
	assert_int_equal(cpu_list_parse("99999", &s), -ERANGE);
	assert_non_null(strstr(err_msg(), "CPU ids go up to"));
}

/* ---- the pool ---- */

static struct cpu_pool pool;

static void pool_of_two_cores(void **state)
{
	struct hv_fault fault = { 0 };
	uint32_t ids[8];
	char buf[64];

	(void)state;
	make_cpus(8);
	assert_int_equal(cpu_pool_load(&pool, "1-2,5-6", &fault), 0);
	assert_int_equal(pool.ncpus, 4);
	assert_int_equal(pool.threads_per_core, 2);
	assert_int_equal(pool.nr_cpu_ids, 8);
	assert_int_equal(pool.node, 0);
	assert_true(pool.topology_known);
	cpu_pool_valid_counts(&pool, buf, sizeof(buf));
	assert_string_equal(buf, "2 or 4");
	assert_int_equal(cpu_pool_check_count(&pool, 2, &fault), 0);
	assert_int_equal(cpu_pool_check_count(&pool, 4, &fault), 0);
	assert_int_equal(cpu_pool_pick(&pool, 4, ids), 4);
	assert_int_equal(ids[0], 1);
	assert_int_equal(ids[1], 5);
	assert_int_equal(ids[2], 2);
	assert_int_equal(ids[3], 6);
}

static void wrong_counts_say_which_would_work(void **state)
{
	struct hv_fault fault = { 0 };

	(void)state;
	make_cpus(8);
	assert_int_equal(cpu_pool_load(&pool, "1-2,5-6", &fault), 0);
	assert_int_equal(cpu_pool_check_count(&pool, 3, &fault), -EINVAL);
	assert_int_equal(fault.cls, HV_FAULT_CPU_COUNT);
	assert_non_null(strstr(err_msg(), "whole cores, 2 threads each"));
	assert_non_null(strstr(err_msg(), "ask for 2 or 4"));
	assert_int_equal(cpu_pool_check_count(&pool, 6, &fault), -ENOSPC);
	assert_non_null(
		strstr(err_msg(), "Asked for 6 vCPUs but the Nitro Enclaves CPU pool has 4 CPUs (1-2,5-6)"));
	assert_non_null(strstr(err_msg(), "ask for 2 or 4"));
}

static void explicit_ids(void **state)
{
	struct hv_fault fault = { 0 };
	const uint32_t good[] = {1, 5}, half[] = {1}, twice[] = {1, 1}, outside[] = {3, 7};

	(void)state;
	make_cpus(8);
	assert_int_equal(cpu_pool_load(&pool, "1-2,5-6", &fault), 0);
	assert_int_equal(cpu_pool_check_ids(&pool, good, 2, &fault), 0);
	assert_int_equal(cpu_pool_check_ids(&pool, half, 1, &fault), -EINVAL);
	assert_int_equal(fault.cls, HV_FAULT_CPU_SIBLING);
	assert_int_equal(fault.cpu, 1);
	assert_int_equal(fault.sibling, 5);
	assert_non_null(strstr(err_msg(), "without its sibling CPU 5"));
	assert_int_equal(cpu_pool_check_ids(&pool, twice, 2, &fault), -EINVAL);
	assert_int_equal(fault.cls, HV_FAULT_CPU_TWICE);
	assert_int_equal(fault.cpu, 1);
	assert_non_null(strstr(err_msg(), "given twice"));
	assert_int_equal(cpu_pool_check_ids(&pool, outside, 2, &fault), -ENOENT);
	assert_int_equal(fault.cls, HV_FAULT_CPU_NOT_IN_POOL);
	assert_int_equal(fault.cpu, 3);
	assert_non_null(strstr(err_msg(), "CPU 3 is not in the Nitro Enclaves CPU pool (1-2,5-6)"));
}

static void pools_that_break_the_driver_rules(void **state)
{
	struct hv_fault fault = { 0 };

	(void)state;
	make_cpus(8);
	assert_int_equal(cpu_pool_load(&pool, "0,4", &fault), -EINVAL);
	assert_non_null(strstr(err_msg(), "CPU 0 must stay with the parent"));
	assert_int_equal(cpu_pool_load(&pool, "4", &fault), -EINVAL);
	assert_non_null(strstr(err_msg(), "CPU 4 is a sibling of CPU 0"));
	assert_int_equal(cpu_pool_load(&pool, "1", &fault), -EINVAL);
	assert_non_null(strstr(err_msg(), "its sibling CPU 5 is not"));
	set_node(3, 1);
	set_node(7, 1);
	assert_int_equal(cpu_pool_load(&pool, "1,3,5,7", &fault), -EINVAL);
	assert_non_null(strstr(err_msg(), "NUMA node 1"));
	assert_int_equal(fault.cls, HV_FAULT_CPU_POOL);
	assert_int_equal(cpu_pool_load(&pool, "", &fault), -ENOSPC);
	assert_non_null(strstr(err_msg(), "CPU pool is empty"));
	assert_non_null(strstr(err_msg(), "allocator.yaml"));
	assert_int_equal(cpu_pool_load(&pool, "x", &fault), -EINVAL);
	assert_non_null(strstr(err_msg(), "not a CPU list"));
}

static void offline_pool_cpus_have_no_topology(void **state)
{
	struct hv_fault fault = { 0 };
	const uint32_t half[] = {1};
	char cmd[2 * PATH_MAX];

	(void)state;
	make_cpus(8);
	/* The driver offlines its pool: their topology directories are gone. */
	FORMAT(cmd, "rm -rf '%s'/sys/devices/system/cpu/cpu[1256]/topology", root);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(cpu_pool_load(&pool, "1-2,5-6", &fault), 0);
	assert_false(pool.topology_known);
	assert_int_equal(pool.threads_per_core, 2); /* from CPU 0 */
	assert_int_equal(cpu_pool_check_count(&pool, 3, &fault), -EINVAL);
	/* which ids form a core is left to the driver */
	assert_int_equal(cpu_pool_check_ids(&pool, half, 1, &fault), 0);
}

static void many_counts_are_summarised(void **state)
{
	struct hv_fault fault = { 0 };
	char buf[64];

	(void)state;
	make_cpus(64);
	assert_int_equal(cpu_pool_load(&pool, "1-31,33-63", &fault), 0);
	cpu_pool_valid_counts(&pool, buf, sizeof(buf));
	assert_string_equal(buf, "a multiple of 2 from 2 to 62");
}

static void missing_parameter_names_the_driver(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(cpu_pool_read_param(buf, sizeof(buf)), -ENOENT);
	assert_non_null(strstr(err_msg(), "the nitro_enclaves driver is not loaded"));
	put(NE_CPUS_PARAM, "1,5\n");
	assert_int_equal(cpu_pool_read_param(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1,5");
}

/* ---- huge pages ---- */

static void hugepages_on(const char *dir, unsigned long long kib, unsigned long long free,
			 unsigned long long nr)
{
	char rel[PATH_MAX];

	FORMAT(rel, "%s/hugepages-%llukB/free_hugepages", dir, kib);
	put(rel, "%llu\n", free);
	FORMAT(rel, "%s/hugepages-%llukB/nr_hugepages", dir, kib);
	put(rel, "%llu\n", nr);
}

#define NODE0  "/sys/devices/system/node/node0/hugepages"
#define GLOBAL "/sys/kernel/mm/hugepages"

static struct hugepage_plan plan;

static uint64_t pages_of(uint64_t size)
{
	for (unsigned int i = 0; i < plan.nsizes; i++)
		if (plan.sizes[i].size == size)
			return plan.pages[i];
	return UINT64_MAX;
}

static void largest_first_then_smallest_then_trim(void **state)
{
	(void)state;
	hugepages_on(NODE0, 2048, 300, 300);
	hugepages_on(NODE0, 1048576, 1, 1);
	assert_int_equal(hugepages_read(0, &plan), 0);
	assert_int_equal(plan.node, 0);
	assert_int_equal(plan.nsizes, 2);
	assert_int_equal(plan.sizes[0].size, GiB); /* largest first */
	/* 512 MiB: no 1 GiB page fits, 256 pages of 2 MiB */
	assert_int_equal(hugepages_plan(&plan, 512 * MiB), 0);
	assert_int_equal(pages_of(GiB), 0);
	assert_int_equal(pages_of(2 * MiB), 256);
	assert_int_equal(plan.total, 512 * MiB);
	/* 1 GiB + 2 MiB: one of each */
	assert_int_equal(hugepages_plan(&plan, GiB + 2 * MiB), 0);
	assert_int_equal(pages_of(GiB), 1);
	assert_int_equal(pages_of(2 * MiB), 1);
	/* 1 GiB + 600 MiB: the 2 MiB pages run out (300 = 600 MiB exactly) */
	assert_int_equal(hugepages_plan(&plan, GiB + 600 * MiB), 0);
	assert_int_equal(plan.total, GiB + 600 * MiB);
}

static void overshoot_and_trim(void **state)
{
	(void)state;
	/* 6 MiB with two 2 MiB pages and a 1 GiB one: pass 1 takes 4 MiB, pass 2 the 1 GiB page, the trim
	 * drops the 2 MiB pages that are no longer needed. */
	hugepages_on(NODE0, 2048, 2, 2);
	hugepages_on(NODE0, 1048576, 1, 1);
	assert_int_equal(hugepages_read(0, &plan), 0);
	assert_int_equal(hugepages_plan(&plan, 6 * MiB), 0);
	assert_int_equal(pages_of(GiB), 1);
	assert_int_equal(pages_of(2 * MiB), 0);
	assert_int_equal(plan.total, GiB);
}

static void shortage_prints_the_command(void **state)
{
	(void)state;
	hugepages_on(NODE0, 2048, 10, 12);
	hugepages_on(NODE0, 1048576, 0, 0);
	assert_int_equal(hugepages_read(0, &plan), 0);
	assert_int_equal(hugepages_plan(&plan, 64 * MiB), -ENOMEM);
	/* 44 MiB short = 22 more pages on top of the 12 reserved */
	assert_non_null(strstr(err_msg(),
			       "`echo 34 > /sys/devices/system/node/node0/hugepages/hugepages-2048kB/"
			       "nr_hugepages`"));
	assert_non_null(strstr(err_msg(), "needs 64 MiB but NUMA node 0 has 20 MiB free"));
}

static void node_without_counts_uses_the_global_ones(void **state)
{
	(void)state;
	hugepages_on(GLOBAL, 2048, 1, 1);
	assert_int_equal(hugepages_read(3, &plan), 0);
	assert_int_equal(plan.node, -1);
	assert_int_equal(hugepages_plan(&plan, 8 * MiB), -ENOMEM);
	assert_non_null(
		strstr(err_msg(), "`echo 4 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages`"));
	assert_non_null(strstr(err_msg(), "this instance has 2 MiB free"));
}

static void no_hugetlb_at_all(void **state)
{
	(void)state;
	assert_int_equal(hugepages_read(0, &plan), -ENOENT);
	assert_non_null(strstr(err_msg(), "no huge pages"));
}

static void small_pages_map_into_one_window(void **state)
{
	struct hugepage_mapping m;

	(void)state;
	hugepages_on(GLOBAL, 2048, 8, 8);
	assert_int_equal(hugepages_read(-1, &plan), 0);
	assert_int_equal(hugepages_plan(&plan, 16 * MiB), 0);
	/* ordinary pages (the simulator's test mode): the layout without needing reserved huge pages */
	assert_int_equal(hugepages_map(&plan, true, &m), 0);
	assert_int_equal(m.nregions, 1);
	assert_int_equal(m.regions[0].size, 16 * MiB);
	assert_int_equal((uintptr_t)m.regions[0].hva % (2 * MiB), 0);
	memset(m.regions[0].hva, 0xb7, 16 * MiB);
	hugepages_unmap(&m);
}

/* The Nitro hypervisor's machine is AWS's: a shape asked of nitrovm's emulated one is refused, before the driver. */
static void nitro_refuses_the_emulated_machines_options(void **state)
{
	static const struct hv_kvm_options asked[] = {
		{ .acpi = true }, { .test_rng = true }, { .parent_role = "arn:aws:iam::1:role/r" },
		{ .kernel_boot = HV_KERNEL_BOOT_DECOMPRESSOR }, { .device = "/dev/kvm" }, { .seccomp = true },
	};
	struct hypervisor *hv = NULL;
	uint64_t uid;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(asked); i++) {
		struct hv_slot_config cfg = { .kvm = asked[i], .nitro = { .device = "/nonexistent/nitro_enclaves" } };
		struct hv_fault fault = { 0 };

		assert_int_equal(hv_nitro_ops.create_slot(&cfg, &hv, &uid, &fault), -EINVAL);
		assert_non_null(strstr(err_msg(), "the Nitro hypervisor runs AWS's machine, which takes no "));
		assert_int_equal(fault.cls, HV_FAULT_NONE);
		assert_null(hv);
	}
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cpu_list_parses_the_kernel_format),
		cmocka_unit_test(cpu_list_refuses_garbage),
		T(pool_of_two_cores),
		T(wrong_counts_say_which_would_work),
		T(explicit_ids),
		T(pools_that_break_the_driver_rules),
		T(offline_pool_cpus_have_no_topology),
		T(many_counts_are_summarised),
		T(missing_parameter_names_the_driver),
		T(largest_first_then_smallest_then_trim),
		T(overshoot_and_trim),
		T(shortage_prints_the_command),
		T(node_without_counts_uses_the_global_ones),
		T(no_hugetlb_at_all),
		T(small_pages_map_into_one_window),
		cmocka_unit_test(nitro_refuses_the_emulated_machines_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
