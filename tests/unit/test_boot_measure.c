// SPDX-License-Identifier: MIT
/*
 * The boot measurement off the start path: PCR0/1/2 read back from the image file in pieces (eif_measure_fd)
 * agree with the measurement of the image in memory, CRC included, and nsm_boot_measure_file refuses a file
 * that changed after its identity was pinned (appended to, cut short, touched) with the sentence the enclave
 * is stopped with, and stops when asked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "eif/eif.h"
#include "nsm/nsm.h"

struct image {
	uint8_t *buf, *r0, *r1;
	size_t len;
	struct eif e;
	struct eif_measurements m;
	char path[64];
	int fd;
	struct file_pin pin;
};

/* A kernel, a command line, metadata and two ramdisks of r0/r1 bytes, written to a file in /tmp. */
static void make_image(struct image *im, size_t r0len, size_t r1len)
{
	static uint8_t kernel[4096] = "kernel";
	static const char cmdline[] = "console=ttyS0";
	static const char md[] = "{\"ImageName\":\"t\"}";
	struct eif_build b = { .nramdisks = 2 };

	memset(im, 0, sizeof(*im));
	im->r0 = malloc(r0len);
	im->r1 = malloc(r1len);
	assert_non_null(im->r0);
	assert_non_null(im->r1);
	for (size_t i = 0; i < r0len; i++)
		im->r0[i] = (uint8_t)(i * 13);
	for (size_t i = 0; i < r1len; i++)
		im->r1[i] = (uint8_t)(i * 7 + 1);
	b.kernel = (struct eif_blob){ kernel, sizeof(kernel) };
	b.cmdline = (struct eif_blob){ (const uint8_t *)cmdline, strlen(cmdline) };
	b.metadata = (struct eif_blob){ (const uint8_t *)md, strlen(md) };
	b.ramdisks[0] = (struct eif_blob){ im->r0, r0len };
	b.ramdisks[1] = (struct eif_blob){ im->r1, r1len };
	im->len = eif_build_size(&b);
	im->buf = malloc(im->len);
	assert_non_null(im->buf);
	assert_int_equal(eif_write_mem(&b, im->buf, &im->m), 0);
	assert_int_equal(eif_parse(&im->e, im->buf, im->len), 0);
	snprintf(im->path, sizeof(im->path), "/tmp/nitrovm-boot-measure.XXXXXX");
	im->fd = mkstemp(im->path);
	assert_true(im->fd >= 0);
	assert_int_equal(write_full(im->fd, im->buf, im->len), 0);
	assert_int_equal(file_pin_take(im->fd, &im->pin), 0);
}

static void free_image(struct image *im)
{
	close(im->fd);
	unlink(im->path);
	free(im->buf);
	free(im->r0);
	free(im->r1);
}

static void check_file_measures_as_memory(size_t r0len, size_t r1len)
{
	struct eif_measurements m;
	struct nsm_boot b;
	struct image im;

	make_image(&im, r0len, r1len);
	assert_int_equal(eif_measure_fd(im.fd, &im.e, NULL, &m), 0);
	assert_memory_equal(m.pcr0, im.m.pcr0, SHA384_LEN);
	assert_memory_equal(m.pcr1, im.m.pcr1, SHA384_LEN);
	assert_memory_equal(m.pcr2, im.m.pcr2, SHA384_LEN);
	assert_int_equal(m.crc, im.e.crc_stored);
	assert_int_equal(nsm_boot_measure_file(im.fd, &im.pin, &im.e, NULL, &b), 0);
	assert_memory_equal(b.pcr0, im.m.pcr0, SHA384_LEN);
	assert_memory_equal(b.pcr1, im.m.pcr1, SHA384_LEN);
	assert_memory_equal(b.pcr2, im.m.pcr2, SHA384_LEN);
	free_image(&im);
}

static void test_file_measures_as_memory(void **state)
{
	(void)state;
	check_file_measures_as_memory(300, 200);
	/* Pieces of 1 MiB: sections that span several, and end inside one. */
	check_file_measures_as_memory(3 * MiB + 17, 2 * MiB + 5);
}

static void expect_changed(struct image *im)
{
	struct nsm_boot b;

	assert_int_equal(nsm_boot_measure_file(im->fd, &im->pin, &im->e, NULL, &b), -ESTALE);
	assert_non_null(strstr(err_msg(), "the image file changed during the launch"));
}

static void test_appended(void **state)
{
	struct image im;

	(void)state;
	make_image(&im, 1000, 1000);
	assert_int_equal(pwrite(im.fd, "x", 1, (off_t)im.len), 1);
	expect_changed(&im);
	free_image(&im);
}

/* Cut short inside the last ramdisk: the read comes up short, and that too is a changed image. */
static void test_cut_short(void **state)
{
	struct image im;

	(void)state;
	make_image(&im, 1000, 1000);
	assert_int_equal(ftruncate(im.fd, (off_t)im.len - 100), 0);
	expect_changed(&im);
	free_image(&im);
}

/* The same bytes written again: only the change time says so. */
static void test_rewritten_in_place(void **state)
{
	struct image im;

	(void)state;
	make_image(&im, 1000, 1000);
	/* Past a timer tick, for kernels whose change time is that coarse. */
	nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000000L }, NULL);
	assert_int_equal(pwrite(im.fd, im.buf, 16, 0), 16);
	expect_changed(&im);
	free_image(&im);
}

static void test_stop(void **state)
{
	atomic_bool stop = true;
	struct nsm_boot b;
	struct image im;

	(void)state;
	make_image(&im, 1000, 1000);
	assert_int_equal(nsm_boot_measure_file(im.fd, &im.pin, &im.e, &stop, &b), -ECANCELED);
	free_image(&im);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_measures_as_memory),
		cmocka_unit_test(test_appended),
		cmocka_unit_test(test_cut_short),
		cmocka_unit_test(test_rewritten_in_place),
		cmocka_unit_test(test_stop),
	};

	return cmocka_run_group_tests_name("boot measurement", tests, NULL, NULL);
}
