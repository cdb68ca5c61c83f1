// SPDX-License-Identifier: MIT
/*
 * The simulated driver's rules, ioctl by ioctl, against the driver's codes (ne_misc_dev.c): driven directly
 * through its ne_driver_ops, the way nitro.c drives it.  Nothing here starts a machine, so no /dev/kvm is
 * needed.
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "hypervisor/nitro.h"

/* snprintf into an array: a text that does not fit fails the test instead of going on cut short. */
#define FORMAT(buf, ...) assert_true((size_t)snprintf((buf), sizeof(buf), __VA_ARGS__) < sizeof(buf))

#define REGION (2 * MiB)

static char root[PATH_MAX];

struct sim {
	struct ne_driver *d;
	int dev, enc;
	uint64_t uid;
};

static void put(const char *rel, const char *val)
{
	char path[PATH_MAX], cmd[2 * PATH_MAX];
	FILE *f;

	FORMAT(path, "%s%s", root, rel);
	FORMAT(cmd, "mkdir -p \"$(dirname '%s')\"", path);
	assert_int_equal(system(cmd), 0);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(val, f);
	fclose(f);
}

/* 8 CPUs in 4 cores of 2 (siblings c, c + 4), node 0; core ids may be overridden for CPU 3 and 7. */
static void make_tree(int core3)
{
	char rel[PATH_MAX], val[32];

	put("/sys/devices/system/cpu/possible", "0-7\n");
	for (int c = 0; c < 8; c++) {
		int core = c % 4 == 3 ? core3 : c % 4;

		FORMAT(rel, "/sys/devices/system/cpu/cpu%d/topology/thread_siblings_list", c);
		FORMAT(val, "%d,%d\n", c % 4, c % 4 + 4);
		put(rel, val);
		FORMAT(rel, "/sys/devices/system/cpu/cpu%d/topology/core_id", c);
		FORMAT(val, "%d\n", core);
		put(rel, val);
	}
}

static int setup(void **state)
{
	(void)state;
	FORMAT(root, "/tmp/nitrovm-sim-XXXXXX");
	assert_non_null(mkdtemp(root));
	setenv(NE_SYSFS_ROOT_ENV, root, 1);
	setenv("NITROVM_SIM_SMALL_PAGES", "1", 1);
	make_tree(3);
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	FORMAT(cmd, "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
	unsetenv(NE_SYSFS_ROOT_ENV);
	unsetenv("NITROVM_SIM_CPU_POOL");
	unsetenv("NITROVM_SIM_SMALL_PAGES");
	unsetenv("NITROVM_SIM_FAIL");
	return 0;
}

static int sim_open(struct sim *s, const char *pool)
{
	struct hv_slot_config cfg = {0};

	setenv("NITROVM_SIM_CPU_POOL", pool, 1);
	s->d = ne_sim_driver_ops.create(&cfg);
	assert_non_null(s->d);
	s->dev = ne_sim_driver_ops.open(s->d, NE_DEVICE_PATH);
	assert_true(s->dev >= 0);
	s->enc = ne_sim_driver_ops.ioctl(s->d, s->dev, NE_IOCTL_CREATE_VM, &s->uid);
	return s->enc;
}

static void sim_close(struct sim *s)
{
	if (s->enc >= 0)
		ne_sim_driver_ops.close(s->d, s->enc);
	ne_sim_driver_ops.close(s->d, s->dev);
	ne_sim_driver_ops.destroy(s->d);
}

static int add_vcpu(struct sim *s, uint32_t *id)
{
	return ne_sim_driver_ops.ioctl(s->d, s->enc, NE_IOCTL_ADD_VCPU, id);
}

static int add_region(struct sim *s, void *addr, uint64_t size, uint64_t flags)
{
	struct ne_user_memory_region r = {flags, size, (uint64_t)(uintptr_t)addr};

	return ne_sim_driver_ops.ioctl(s->d, s->enc, NE_IOCTL_SET_USER_MEMORY_REGION, &r);
}

static int start(struct sim *s, uint64_t flags, uint64_t cid)
{
	struct ne_enclave_start_info i = {flags, cid};

	return ne_sim_driver_ops.ioctl(s->d, s->enc, NE_IOCTL_START_ENCLAVE, &i);
}

/* size bytes at a 2 MiB boundary, ordinary pages */
static uint8_t *map_aligned(uint64_t size)
{
	uint8_t *p = mmap(NULL, size + REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	return (uint8_t *)(((uintptr_t)p + REGION - 1) & ~(uintptr_t)(REGION - 1));
}

static void create_vm_needs_a_pool(void **state)
{
	struct sim s;

	(void)state;
	assert_int_equal(sim_open(&s, ""), -NE_ERR_NO_CPUS_AVAIL_IN_POOL);
	sim_close(&s);
	/* a pool the driver would refuse (CPU 0's core) leaves it with none */
	assert_int_equal(sim_open(&s, "0,4"), -NE_ERR_NO_CPUS_AVAIL_IN_POOL);
	sim_close(&s);
	assert_true(sim_open(&s, "1,5") >= 0);
	assert_true(s.uid != 0);
	/* requests on the wrong descriptor */
	assert_int_equal(ne_sim_driver_ops.ioctl(s.d, s.dev, NE_IOCTL_START_ENCLAVE, &s.uid), -ENOTTY);
	assert_int_equal(ne_sim_driver_ops.ioctl(s.d, s.enc, NE_IOCTL_CREATE_VM, &s.uid), -ENOTTY);
	assert_int_equal(ne_sim_driver_ops.ioctl(s.d, 999, NE_IOCTL_CREATE_VM, &s.uid), -EBADF);
	sim_close(&s);
}

static void image_load_info_flags(void **state)
{
	struct ne_image_load_info info = {0};
	struct sim s;

	(void)state;
	assert_true(sim_open(&s, "1,5") >= 0);
	assert_int_equal(ne_sim_driver_ops.ioctl(s.d, s.enc, NE_IOCTL_GET_IMAGE_LOAD_INFO, &info),
			 -NE_ERR_INVALID_FLAG_VALUE);
	info.flags = 2;
	assert_int_equal(ne_sim_driver_ops.ioctl(s.d, s.enc, NE_IOCTL_GET_IMAGE_LOAD_INFO, &info),
			 -NE_ERR_INVALID_FLAG_VALUE);
	info.flags = NE_EIF_IMAGE;
	assert_int_equal(ne_sim_driver_ops.ioctl(s.d, s.enc, NE_IOCTL_GET_IMAGE_LOAD_INFO, &info), 0);
	assert_int_equal(info.memory_offset, 8 * MiB);
	sim_close(&s);
}

static void memory_region_rules(void **state)
{
	uint8_t *mem = map_aligned(8 * REGION);
	struct sim s;

	(void)state;
	assert_true(sim_open(&s, "1,5") >= 0);
	assert_int_equal(add_region(&s, mem, REGION, 1), -NE_ERR_INVALID_FLAG_VALUE);
	assert_int_equal(add_region(&s, mem, MiB, 0), -NE_ERR_INVALID_MEM_REGION_SIZE);
	assert_int_equal(add_region(&s, mem, 0, 0), -NE_ERR_INVALID_MEM_REGION_SIZE);
	assert_int_equal(add_region(&s, mem + 4096, REGION, 0), -NE_ERR_UNALIGNED_MEM_REGION_ADDR);
	assert_int_equal(add_region(&s, (void *)(uintptr_t)0x7ffffffe00000ULL, 4 * REGION, 0),
			 -NE_ERR_INVALID_MEM_REGION_ADDR);
	/* an aligned range nobody mapped: get_user_pages fails */
	munmap(mem + 6 * REGION, 2 * REGION);
	assert_int_equal(add_region(&s, mem + 6 * REGION, REGION, 0), -EFAULT);
	assert_int_equal(add_region(&s, mem, 2 * REGION, 0), 0);
	assert_int_equal(add_region(&s, mem + REGION, 2 * REGION, 0), -NE_ERR_MEM_REGION_ALREADY_USED);
	assert_int_equal(add_region(&s, mem + 2 * REGION, REGION, 0), 0);
	sim_close(&s);
	munmap(mem, 6 * REGION);
}

static void ordinary_pages_are_not_huge(void **state)
{
	uint8_t *mem = map_aligned(REGION);
	struct sim s;

	(void)state;
	setenv("NITROVM_SIM_SMALL_PAGES", "strict", 1);
	assert_true(sim_open(&s, "1,5") >= 0);
	assert_int_equal(add_region(&s, mem, REGION, 0), -NE_ERR_MEM_NOT_HUGE_PAGE);
	sim_close(&s);
	munmap(mem, REGION);
}

static void huge_pages_are_accepted_when_reserved(void **state)
{
	void *mem =
		mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	struct sim s;

	(void)state;
	if (mem == MAP_FAILED)
		skip(); /* no 2 MiB page reserved on this machine: the kvm tier reserves some */
	setenv("NITROVM_SIM_SMALL_PAGES", "strict", 1);
	assert_true(sim_open(&s, "1,5") >= 0);
	assert_int_equal(add_region(&s, mem, REGION, 0), 0);
	sim_close(&s);
	munmap(mem, REGION);
}

static void region_limit(void **state)
{
	uint8_t *mem = map_aligned(257 * REGION);
	struct sim s;

	(void)state;
	assert_true(sim_open(&s, "1,5") >= 0);
	for (int i = 0; i < 256; i++)
		assert_int_equal(add_region(&s, mem + i * REGION, REGION, 0), 0);
	assert_int_equal(add_region(&s, mem + 256 * REGION, REGION, 0), -NE_ERR_MEM_MAX_REGIONS);
	sim_close(&s);
	munmap(mem, 257 * REGION);
}

static void vcpu_rules(void **state)
{
	uint32_t id;
	struct sim s;

	(void)state;
	assert_true(sim_open(&s, "1-2,5-6") >= 0);
	id = 900;
	assert_int_equal(add_vcpu(&s, &id), -NE_ERR_INVALID_VCPU);
	id = 3;
	assert_int_equal(add_vcpu(&s, &id), -NE_ERR_VCPU_NOT_IN_CPU_POOL);
	/* id 0: the driver picks -- the lowest free core, then its other thread */
	id = 0;
	assert_int_equal(add_vcpu(&s, &id), 0);
	assert_int_equal(id, 1);
	id = 0;
	assert_int_equal(add_vcpu(&s, &id), 0);
	assert_int_equal(id, 5);
	id = 5;
	assert_int_equal(add_vcpu(&s, &id), -NE_ERR_VCPU_ALREADY_USED);
	id = 2;
	assert_int_equal(add_vcpu(&s, &id), 0);
	id = 0;
	assert_int_equal(add_vcpu(&s, &id), 0);
	assert_int_equal(id, 6);
	id = 0;
	assert_int_equal(add_vcpu(&s, &id), -NE_ERR_NO_CPUS_AVAIL_IN_POOL);
	sim_close(&s);
}

static void core_ids_beyond_the_cores_counted(void **state)
{
	uint32_t id = 3;
	struct sim s;

	(void)state;
	make_tree(9); /* nr_parent_vm_cores = 8 / 2 = 4: core 9 is out of range */
	assert_true(sim_open(&s, "3,7") >= 0);
	assert_int_equal(add_vcpu(&s, &id), -NE_ERR_VCPU_INVALID_CPU_CORE);
	sim_close(&s);
}

static void start_rules_in_the_drivers_order(void **state)
{
	uint8_t *mem = map_aligned(32 * REGION);
	uint32_t id = 1;
	struct sim s;

	(void)state;
	assert_true(sim_open(&s, "1,5") >= 0);
	assert_int_equal(start(&s, 2, 0), -NE_ERR_INVALID_FLAG_VALUE);
	assert_int_equal(start(&s, 0, 1), -NE_ERR_INVALID_ENCLAVE_CID);
	assert_int_equal(start(&s, 0, 2), -NE_ERR_INVALID_ENCLAVE_CID);
	assert_int_equal(start(&s, 0, 3), -NE_ERR_INVALID_ENCLAVE_CID);
	assert_int_equal(start(&s, 0, 0xffffffffULL), -NE_ERR_INVALID_ENCLAVE_CID);
	assert_int_equal(start(&s, 0, 1ULL << 32), -NE_ERR_INVALID_ENCLAVE_CID);
	assert_int_equal(start(&s, 0, 0), -NE_ERR_NO_MEM_REGIONS_ADDED);
	assert_int_equal(add_region(&s, mem, 16 * REGION, 0), 0);
	assert_int_equal(start(&s, 0, 0), -NE_ERR_ENCLAVE_MEM_MIN_SIZE);
	assert_int_equal(add_region(&s, mem + 16 * REGION, 16 * REGION, 0), 0);
	assert_int_equal(start(&s, 0, 0), -NE_ERR_NO_VCPUS_ADDED);
	assert_int_equal(add_vcpu(&s, &id), 0);
	/* CPU 1 without its sibling 5 */
	assert_int_equal(start(&s, NE_ENCLAVE_DEBUG_MODE, 16), -NE_ERR_FULL_CORES_NOT_USED);
	sim_close(&s);
	munmap(mem, 32 * REGION);
}

static void injected_failures(void **state)
{
	struct ne_image_load_info info = {.flags = NE_EIF_IMAGE};
	struct sim s;

	(void)state;
	setenv("NITROVM_SIM_FAIL", "NE_GET_IMAGE_LOAD_INFO:264", 1);
	assert_true(sim_open(&s, "1,5") >= 0);
	assert_int_equal(ne_sim_driver_ops.ioctl(s.d, s.enc, NE_IOCTL_GET_IMAGE_LOAD_INFO, &info), -264);
	sim_close(&s);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(create_vm_needs_a_pool),
		T(image_load_info_flags),
		T(memory_region_rules),
		T(ordinary_pages_are_not_huge),
		T(huge_pages_are_accepted_when_reserved),
		T(region_limit),
		T(vcpu_rules),
		T(core_ids_beyond_the_cores_counted),
		T(start_rules_in_the_drivers_order),
		T(injected_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
