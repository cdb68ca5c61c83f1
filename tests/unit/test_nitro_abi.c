// SPDX-License-Identifier: MIT
/*
 * The driver ABI we use against <linux/nitro_enclaves.h> (the kernel's uapi header: numbers verified by computation
 * there), and a sentence for every error the driver can return.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <sys/ioctl.h> /* _IOR and friends, which the header's numbers use */
#include <linux/nitro_enclaves.h>
#include <stdio.h>
#include <string.h>

#include "hypervisor/nitro.h"

static void ioctl_numbers_match_the_header(void **state)
{
	(void)state;
	/* ours == the kernel header's == the values the reference computed */
	assert_int_equal(NE_IOCTL_CREATE_VM, NE_CREATE_VM);
	assert_int_equal(NE_IOCTL_ADD_VCPU, NE_ADD_VCPU);
	assert_int_equal(NE_IOCTL_GET_IMAGE_LOAD_INFO, NE_GET_IMAGE_LOAD_INFO);
	assert_int_equal(NE_IOCTL_SET_USER_MEMORY_REGION, NE_SET_USER_MEMORY_REGION);
	assert_int_equal(NE_IOCTL_START_ENCLAVE, NE_START_ENCLAVE);
	assert_int_equal(NE_IOCTL_CREATE_VM, 0x8008AE20UL);
	assert_int_equal(NE_IOCTL_ADD_VCPU, 0xC004AE21UL);
	assert_int_equal(NE_IOCTL_GET_IMAGE_LOAD_INFO, 0xC010AE22UL);
	assert_int_equal(NE_IOCTL_SET_USER_MEMORY_REGION, 0x4018AE23UL);
	assert_int_equal(NE_IOCTL_START_ENCLAVE, 0xC010AE24UL);
}

static void struct_sizes_match(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct ne_image_load_info), 16);
	assert_int_equal(sizeof(struct ne_user_memory_region), 24);
	assert_int_equal(sizeof(struct ne_enclave_start_info), 16);
	assert_int_equal(offsetof(struct ne_image_load_info, memory_offset), 8);
	assert_int_equal(offsetof(struct ne_user_memory_region, memory_size), 8);
	assert_int_equal(offsetof(struct ne_user_memory_region, userspace_addr), 16);
	assert_int_equal(offsetof(struct ne_enclave_start_info, enclave_cid), 8);
}

static void flags_and_constants(void **state)
{
	(void)state;
	assert_int_equal(NE_EIF_IMAGE, 1);
	assert_int_equal(NE_ENCLAVE_DEBUG_MODE, 1);
	assert_int_equal(NE_DEFAULT_MEMORY_REGION, 0);
	assert_int_equal(NE_ERR_FIRST, 256);
	assert_int_equal(NE_ERR_LAST, 275);
	assert_int_equal(NE_EIF_LOAD_OFFSET, 8 << 20);
	assert_int_equal(NE_MIN_ENCLAVE_MEM_SIZE, 64 << 20);
}

/* What each message must contain: the driver's name for it and a word of what to change. */
static const struct {
	int err;
	const char *name;
	const char *advice;
} expected[] = {
	{256, "NE_ERR_VCPU_ALREADY_USED", "give each CPU id once"},
	{257, "NE_ERR_VCPU_NOT_IN_CPU_POOL", "use CPUs of the pool"},
	{258, "NE_ERR_VCPU_INVALID_CPU_CORE", "use another CPU"},
	{259, "NE_ERR_INVALID_MEM_REGION_SIZE", "multiples of 2 MiB"},
	{260, "NE_ERR_INVALID_MEM_REGION_ADDR", "mapped by the process"},
	{261, "NE_ERR_UNALIGNED_MEM_REGION_ADDR", "huge pages"},
	{262, "NE_ERR_MEM_REGION_ALREADY_USED", "give each range of memory once"},
	{263, "NE_ERR_MEM_NOT_HUGE_PAGE", "nr_hugepages"},
	{264, "NE_ERR_MEM_DIFFERENT_NUMA_NODE", "reserve them on that node"},
	{265, "NE_ERR_MEM_MAX_REGIONS", "1 GiB huge pages"},
	{266, "NE_ERR_NO_MEM_REGIONS_ADDED", "give it memory"},
	{267, "NE_ERR_NO_VCPUS_ADDED", "give it CPUs"},
	{268, "NE_ERR_ENCLAVE_MEM_MIN_SIZE", "at least 64 MiB"},
	{269, "NE_ERR_FULL_CORES_NOT_USED", "multiple of the threads per core"},
	{270, "NE_ERR_NOT_IN_INIT_STATE", "start a new enclave"},
	{271, "NE_ERR_INVALID_VCPU", "use CPU ids from the pool"},
	{272, "NE_ERR_NO_CPUS_AVAIL_IN_POOL", "grow the pool"},
	{273, "NE_ERR_INVALID_PAGE_SIZE", "2 MiB or 1 GiB huge pages"},
	{274, "NE_ERR_INVALID_FLAG_VALUE", "update the kernel"},
	{275, "NE_ERR_INVALID_ENCLAVE_CID", "from 4 to 4294967294"},
};

static void every_driver_error_has_a_sentence(void **state)
{
	char buf[768], want[64];

	(void)state;
	assert_int_equal(sizeof(expected) / sizeof(expected[0]), NE_ERR_LAST - NE_ERR_FIRST + 1);
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		int err = expected[i].err;

		assert_string_equal(ne_error_name(err), expected[i].name);
		ne_error_sentence(NE_IOCTL_START_ENCLAVE, err, buf, sizeof(buf));
		snprintf(want, sizeof(want), "(%s, %d)", expected[i].name, err);
		assert_non_null(strstr(buf, "NE_START_ENCLAVE failed: "));
		assert_non_null(strstr(buf, want));
		if (!strstr(buf, expected[i].advice))
			fail_msg("%d: '%s' lacks '%s'", err, buf, expected[i].advice);
		/* never strerror's "Unknown error 263" */
		assert_null(strstr(buf, "Unknown error"));
		/* the driver's floor names no command's options: src/cli says those over it */
		assert_null(strstr(buf, "--"));
	}
	assert_null(ne_error_name(255));
	assert_null(ne_error_name(276));
}

static void errno_values_per_ioctl(void **state)
{
	char buf[768];

	(void)state;
	ne_error_sentence(NE_IOCTL_ADD_VCPU, EIO, buf, sizeof(buf));
	assert_non_null(strstr(buf, "NE_ADD_VCPU failed: the enclave belongs to another process"));
	ne_error_sentence(NE_IOCTL_SET_USER_MEMORY_REGION, EFAULT, buf, sizeof(buf));
	assert_non_null(strstr(buf, "not mapped in this process"));
	ne_error_sentence(NE_IOCTL_CREATE_VM, EINVAL, buf, sizeof(buf));
	assert_non_null(strstr(buf, "dmesg"));
	ne_error_sentence(NE_IOCTL_CREATE_VM, ENOSPC, buf, sizeof(buf));
	assert_non_null(strstr(buf, "terminate another enclave"));
	ne_error_sentence(NE_IOCTL_GET_IMAGE_LOAD_INFO, ENOTTY, buf, sizeof(buf));
	assert_non_null(strstr(buf, "not the Nitro Enclaves driver"));
	ne_error_sentence(NE_IOCTL_START_ENCLAVE, EACCES, buf, sizeof(buf));
	assert_non_null(strstr(buf, "group"));
	ne_error_sentence(NE_IOCTL_START_ENCLAVE, ENOMEM, buf, sizeof(buf));
	assert_non_null(strstr(buf, "free some memory"));
	/* anything else: strerror's text */
	ne_error_sentence(NE_IOCTL_START_ENCLAVE, EXDEV, buf, sizeof(buf));
	assert_string_equal(buf, "NE_START_ENCLAVE failed: Invalid cross-device link");
}

static void ioctl_names(void **state)
{
	(void)state;
	assert_string_equal(ne_ioctl_name(NE_IOCTL_SET_USER_MEMORY_REGION), "NE_SET_USER_MEMORY_REGION");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ioctl_numbers_match_the_header),
		cmocka_unit_test(struct_sizes_match),
		cmocka_unit_test(flags_and_constants),
		cmocka_unit_test(every_driver_error_has_a_sentence),
		cmocka_unit_test(errno_values_per_ioctl),
		cmocka_unit_test(ioctl_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
