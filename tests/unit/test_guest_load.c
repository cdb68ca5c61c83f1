// SPDX-License-Identifier: MIT
/*
 * Putting an image into enclave memory without a vCPU: hv_memory_read_fd through a region's own file (sendfile)
 * and through its mapping (pread), across region boundaries; the emulated machine's initrd joined inside its
 * memfd (copy_file_range) and through the mapping, with the same bytes either way.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/util.h"
#include "eif/eif.h"
#include "hypervisor/hypervisor.h"
#include "hypervisor/kvm/kvm.h"

#define REGION (256 * 1024)

/* A memfd of size bytes and its shared mapping, as the emulated machine's memory. */
static uint8_t *memfd_map(size_t size, int *fd)
{
	uint8_t *p;

	*fd = memfd_create("test-guest-load", MFD_CLOEXEC);
	assert_true(*fd >= 0);
	assert_int_equal(ftruncate(*fd, (off_t)size), 0);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	assert_true(p != MAP_FAILED);
	return p;
}

/* An image file of len bytes whose byte i is a function of i (no run of zeros to hide a gap). */
static int image_file(size_t len, uint8_t **bytes)
{
	int fd = memfd_create("test-image", MFD_CLOEXEC);
	uint8_t *b = malloc(len);

	assert_non_null(b);
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(i * 7 + i / 251 + 1);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, len), (ssize_t)len);
	*bytes = b;
	return fd;
}

/* Two regions, the first with its file, the second without: the image spans both from an offset. */
static void test_read_fd_across_regions(void **state)
{
	int mfd, img, fd2 = -1;
	uint8_t *bytes, *m = memfd_map(REGION, &mfd), *m2 = malloc(REGION);
	struct hv_region r[2] = { { m, REGION, mfd, 0 }, { m2, REGION, fd2, 0 } };
	const size_t off = 4096 + 3, len = REGION + REGION / 2 - off;

	(void)state;
	img = image_file(len, &bytes);
	assert_non_null(m2);
	memset(m, 0xaa, REGION);
	memset(m2, 0xaa, REGION);
	assert_int_equal(hv_memory_read_fd(r, 2, off, img, len), 0);
	assert_memory_equal(m + off, bytes, REGION - off);
	assert_memory_equal(m2, bytes + (REGION - off), len - (REGION - off));
	assert_int_equal(m[off - 1], 0xaa); /* nothing before the offset */
	assert_int_equal(m2[len - (REGION - off)], 0xaa); /* nor after the image */
	close(img);
	free(bytes);
	free(m2);
	munmap(m, REGION);
	close(mfd);
}

/* A region file that sendfile cannot write to (an eventfd): the bytes come through the mapping. */
static void test_read_fd_falls_back(void **state)
{
	int efd = eventfd(0, EFD_CLOEXEC), img;
	uint8_t *bytes, *m = malloc(REGION);
	struct hv_region r = { m, REGION, efd, 0 };

	(void)state;
	assert_true(efd >= 0);
	assert_non_null(m);
	img = image_file(REGION / 2, &bytes);
	assert_int_equal(hv_memory_read_fd(&r, 1, 100, img, REGION / 2), 0);
	assert_memory_equal(m + 100, bytes, REGION / 2);
	close(img);
	close(efd);
	free(bytes);
	free(m);
}

/* An image that does not fit, and one shorter than its size says: errors, through the file as through pread. */
static void test_read_fd_errors(void **state)
{
	int mfd, img;
	uint8_t *bytes, *m = memfd_map(REGION, &mfd);
	struct hv_region r = { m, REGION, mfd, 0 }, plain = { m, REGION, -1, 0 };

	(void)state;
	img = image_file(REGION, &bytes);
	assert_int_equal(hv_memory_read_fd(&r, 1, 1, img, REGION), -ENOSPC);
	assert_int_equal(hv_memory_read_fd(&r, 1, 0, img, REGION + 10), -ENOSPC);
	assert_int_equal(hv_memory_read_fd(&plain, 1, 0, img, REGION + 10), -ENOSPC);
	assert_int_equal(ftruncate(img, REGION / 2), 0);
	assert_int_equal(hv_memory_read_fd(&r, 1, 0, img, REGION), -EIO);
	assert_int_equal(hv_memory_read_fd(&plain, 1, 0, img, REGION), -EIO);
	close(img);
	free(bytes);
	munmap(m, REGION);
	close(mfd);
}

/* The initrd of two ramdisks (the first of an odd size, so a pad follows it) joined at dst, through memfd. */
static void join(bool through_file, uint8_t *out, size_t out_len)
{
	struct kvm_vm vm;
	struct eif e;
	struct eif_section s[2];
	uint8_t *m;
	int fd;

	memset(&vm, 0, sizeof(vm));
	memset(&e, 0, sizeof(e));
	m = memfd_map(4 * REGION, &fd);
	vm.mem = m;
	vm.mem_fd = through_file ? fd : -1;
	for (size_t i = 0; i < REGION; i++)
		m[i] = (uint8_t)(i * 13 + 5);
	memset(m + 2 * REGION, 0xaa, 2 * REGION);
	s[0] = (struct eif_section){ .type = EIF_SECTION_RAMDISK, .size = 4097, .data = m + 11 };
	s[1] = (struct eif_section){ .type = EIF_SECTION_RAMDISK, .size = REGION - 5000, .data = m + 4500 };
	e.ramdisks[0] = &s[0];
	e.ramdisks[1] = &s[1];
	e.nramdisks = 2;
	assert_int_equal(kvm_initrd_size(&e), 4100 + REGION - 5000);
	kvm_initrd_copy(&vm, &e, m + 2 * REGION);
	assert_true(out_len <= 2 * REGION);
	memcpy(out, m + 2 * REGION, out_len);
	munmap(m, 4 * REGION);
	close(fd);
}

static void test_initrd_join_same_both_ways(void **state)
{
	const size_t n = 4100 + REGION - 5000 + 16;
	uint8_t *a = malloc(n), *b = malloc(n), src[REGION];

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	for (size_t i = 0; i < REGION; i++)
		src[i] = (uint8_t)(i * 13 + 5);
	join(true, a, n);
	join(false, b, n);
	assert_memory_equal(a, b, n);
	assert_memory_equal(a, src + 11, 4097);
	assert_memory_equal(a + 4097, "\0\0\0", 3); /* the pad to the next 4-byte boundary */
	assert_memory_equal(a + 4100, src + 4500, REGION - 5000);
	assert_int_equal(a[n - 16], 0xaa); /* nothing past the initrd */
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_fd_across_regions),
		cmocka_unit_test(test_read_fd_falls_back),
		cmocka_unit_test(test_read_fd_errors),
		cmocka_unit_test(test_initrd_join_same_both_ways),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
