// SPDX-License-Identifier: MIT
/*
 * A launch's typed error in the command line's words (src/cli/launch_errors.c): every class of the launch and of a
 * backend's fault has nitro-cli's number, and the sentences that name our options are made from the error's values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/util.h"
#include "enclave/launch.h"
#include "hypervisor/nitro.h"

/* nitro-cli's number for each class, as scripts see it; a class added to launch.h must be added here. */
static const enum cli_error launch_codes[LAUNCH_ERR_CLASSES] = {
	[LAUNCH_ERR_MEMORY_BELOW_IMAGE] = 26, [LAUNCH_ERR_MEMORY_BELOW_MIN] = 26, [LAUNCH_ERR_MEMORY_UNALIGNED] = 3,
	[LAUNCH_ERR_NO_VCPUS] = 3,	      [LAUNCH_ERR_TOO_MANY_VCPUS] = 3,	  [LAUNCH_ERR_PROCESS] = 12,
	[LAUNCH_ERR_CID_TAKEN] = 3,	      [LAUNCH_ERR_SLOT] = 19,		  [LAUNCH_ERR_MEMORY] = 27,
	[LAUNCH_ERR_SETUP] = 29,	      [LAUNCH_ERR_IMAGE_OVERFLOW] = 26,	  [LAUNCH_ERR_NO_VSOCK] = 29,
	[LAUNCH_ERR_HEARTBEAT_PORT] = 29,     [LAUNCH_ERR_PORTS] = 3,		  [LAUNCH_ERR_SANDBOX] = 12,
	[LAUNCH_ERR_START] = 33,	      [LAUNCH_ERR_IMAGE] = 35,		  [LAUNCH_ERR_GUEST_MEMORY] = 26,
	[LAUNCH_ERR_RUN] = 12,		      [LAUNCH_ERR_HEARTBEAT] = 36,
};

/* The same for a backend's fault, which outweighs the step it happened in. */
static const enum cli_error fault_codes[HV_FAULT_CLASSES] = {
	[HV_FAULT_DEVICE] = 19,	   [HV_FAULT_CPU_POOL] = 22, [HV_FAULT_CPU_TWICE] = 20, [HV_FAULT_CPU_NOT_IN_POOL] = 21,
	[HV_FAULT_CPU_SIBLING] = 20, [HV_FAULT_CPU_COUNT] = 22, [HV_FAULT_MEMORY] = 27,	 [HV_FAULT_DRIVER] = 19,
};

static void every_launch_class_has_a_number(void **state)
{
	char buf[512];

	(void)state;
	for (int c = LAUNCH_OK + 1; c < LAUNCH_ERR_CLASSES; c++) {
		struct launch_error e = { .cls = c, .asked = 60, .limit = 64, .hypervisor = "kvm" };

		if (!launch_codes[c])
			fail_msg("launch class %d has no number in this test", c);
		if (cli_launch_error_code(&e) != launch_codes[c])
			fail_msg("launch class %d: E%02d, expected E%02d", c, cli_launch_error_code(&e), launch_codes[c]);
		cli_launch_error_text(&e, "the launch's sentence", buf, sizeof(buf));
		assert_true(buf[0] != '\0');
	}
	assert_int_equal(cli_launch_error_code(&(struct launch_error){ .cls = LAUNCH_OK }), E_UNSPECIFIED);
}

static void every_fault_class_has_a_number_over_the_step(void **state)
{
	char buf[512];

	(void)state;
	for (int f = HV_FAULT_NONE + 1; f < HV_FAULT_CLASSES; f++) {
		/* a driver request nobody knows: the device's number */
		struct launch_error e = { .cls = LAUNCH_ERR_SETUP, .fault = { .cls = f, .request = 1 } };

		if (!fault_codes[f])
			fail_msg("fault class %d has no number in this test", f);
		if (cli_launch_error_code(&e) != fault_codes[f])
			fail_msg("fault class %d: E%02d, expected E%02d", f, cli_launch_error_code(&e), fault_codes[f]);
		cli_launch_error_text(&e, "the backend's sentence", buf, sizeof(buf));
		assert_true(buf[0] != '\0');
	}
}

static void driver_requests_have_their_numbers(void **state)
{
	static const struct {
		unsigned long request;
		enum cli_error code;
	} want[] = {
		{ NE_IOCTL_CREATE_VM, 29 },	   { NE_IOCTL_GET_IMAGE_LOAD_INFO, 30 }, { NE_IOCTL_SET_USER_MEMORY_REGION, 31 },
		{ NE_IOCTL_ADD_VCPU, 32 },	   { NE_IOCTL_START_ENCLAVE, 33 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		struct launch_error e = { .cls = LAUNCH_ERR_START,
					  .fault = { .cls = HV_FAULT_DRIVER, .code = 272, .request = want[i].request } };

		assert_int_equal(cli_launch_error_code(&e), want[i].code);
	}
}

static void text(const struct launch_error *e, const char *said, const char *want)
{
	char buf[1024];

	cli_launch_error_text(e, said, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void sizes_in_nitro_clis_words(void **state)
{
	struct launch_error e;

	(void)state;
	assert_int_equal(enclave_check_resources(64, 1, 20 * MiB, &e), -EINVAL);
	assert_int_equal(e.cls, LAUNCH_ERR_MEMORY_BELOW_IMAGE);
	assert_null(strstr(err_msg(), "`memory`")); /* the launch's own words */
	text(&e, err_msg(), "User provided `memory` is 64 MB, but based on the EIF file size, the minimum memory should "
			    "be 80 MB");
	assert_int_equal(enclave_check_resources(32, 1, 1 * MiB, &e), -EINVAL);
	text(&e, err_msg(), "User provided `memory` is 32 MB, but an enclave needs at least 64 MB");
	assert_int_equal(enclave_check_resources(65, 1, 1 * MiB, &e), -EINVAL);
	text(&e, err_msg(), "User provided `memory` is 65 MB, but enclave memory comes in 2 MB pages: use a multiple "
			    "of 2");
	assert_int_equal(enclave_check_resources(64, 0, 1 * MiB, &e), -EINVAL);
	assert_int_equal(e.cls, LAUNCH_ERR_NO_VCPUS);
	text(&e, err_msg(), "an enclave needs at least one vCPU (the CPU count is 0)");
	assert_int_equal(enclave_check_resources(64, HV_MAX_VCPUS + 1, 1 * MiB, &e), -EINVAL);
	assert_int_equal(e.cls, LAUNCH_ERR_TOO_MANY_VCPUS);
	assert_int_equal(enclave_check_resources(64, 1, 1 * MiB, &e), 0);
	assert_int_equal(e.cls, LAUNCH_OK);
}

static void options_are_named_here_only(void **state)
{
	struct launch_error e = { .cls = LAUNCH_ERR_SLOT };

	(void)state;
	e.fault = (struct hv_fault){ .cls = HV_FAULT_CPU_TWICE, .cpu = 1 };
	text(&e, "CPU id 1 is given twice", "CPU id 1 is given twice in --cpu-ids");
	e.fault = (struct hv_fault){ .cls = HV_FAULT_CPU_SIBLING, .cpu = 1, .sibling = 5 };
	text(&e, "-", "CPU 1 is given without its sibling CPU 5: enclaves take whole cores, add CPU 5 to --cpu-ids");
	e.fault = (struct hv_fault){ .cls = HV_FAULT_CPU_NOT_IN_POOL, .cpu = 3 };
	text(&e, "the backend's own", "the backend's own");
	e.fault = (struct hv_fault){ .cls = HV_FAULT_DEVICE, .code = ENOENT, .device = "/x/ne" };
	text(&e, "-", "File: '/x/ne', failing operation: 'Open': the Nitro Enclaves driver is not here. Launch the "
		      "instance with the enclave option (--enclave-options 'Enabled=true'), load the driver (modprobe "
		      "nitro_enclaves), or run the enclave on nitrovm's own hypervisor (--hypervisor kvm, or -accel kvm "
		      "-M nitro-enclave)");
	e.fault = (struct hv_fault){ .cls = HV_FAULT_DEVICE, .code = EACCES, .device = "/x/ne" };
	text(&e, "no permission", "no permission");
	e.fault = (struct hv_fault){ .cls = HV_FAULT_DRIVER, .code = NE_ERR_VCPU_ALREADY_USED,
				     .request = NE_IOCTL_ADD_VCPU };
	text(&e, "-", "NE_ADD_VCPU failed: that CPU was already added to this enclave: give each CPU id once in "
		      "--cpu-ids (NE_ERR_VCPU_ALREADY_USED, 256)");
	e.fault.code = NE_ERR_FULL_CORES_NOT_USED;
	text(&e, "-", "NE_ADD_VCPU failed: the vCPUs do not make up whole cores: ask for a multiple of the threads per "
		      "core (2 on most instances: --cpu-count 2, or -smp 2), or list every sibling in --cpu-ids "
		      "(NE_ERR_FULL_CORES_NOT_USED, 269)");
	/* the driver's own account (the simulator's machine) is said as it is */
	e.fault.driver_why = true;
	text(&e, "NE_ADD_VCPU failed: why", "NE_ADD_VCPU failed: why");
	e = (struct launch_error){ .cls = LAUNCH_ERR_NO_VSOCK, .hypervisor = "nitro" };
	text(&e, "-", "the nitro hypervisor has no vsock: run with --no-heartbeat");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_launch_class_has_a_number),
		cmocka_unit_test(every_fault_class_has_a_number_over_the_step),
		cmocka_unit_test(driver_requests_have_their_numbers),
		cmocka_unit_test(sizes_in_nitro_clis_words),
		cmocka_unit_test(options_are_named_here_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
