// SPDX-License-Identifier: MIT
/*
 * The arm64 machine's parts that need no KVM, on any host: the flattened device tree writer (its blob read back
 * here by a small reader, and shown by dtc when it is installed, as scripts/setup does), the machine's tree, the
 * Image header checks and the boot layout.  The tree as a kernel really sees it is checked in the arm64 machine
 * (tests/e2e/test_arm64.py).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "hypervisor/kvm/arm64/arm64.h"
#include "hypervisor/kvm/arm64/fdt.h"

/* ---- a reader, enough to check what the writer wrote ---- */

struct prop {
	const uint8_t *data;
	uint32_t len;
};

/* Find property name of the node at path ("/", "/chosen", "/cpus/cpu@1"); false when absent. */
static bool fdt_find(const uint8_t *b, const char *path, const char *name, struct prop *out)
{
	const uint8_t *s = b + get_be32(b + 8);
	const char *strings = (const char *)b + get_be32(b + 12);
	char cur[256] = "";
	size_t off = 0;

	for (;;) {
		uint32_t tok = get_be32(s + off);

		off += 4;
		if (tok == FDT_BEGIN_NODE) {
			const char *n = (const char *)s + off;
			size_t l = strlen(n);

			if (*n)
				snprintf(cur + strlen(cur), sizeof(cur) - strlen(cur), "/%s", n);
			off += (l + 4) & ~(size_t)3;
		} else if (tok == FDT_END_NODE) {
			char *slash = strrchr(cur, '/');

			if (slash)
				*slash = '\0';
		} else if (tok == FDT_PROP) {
			uint32_t len = get_be32(s + off), nameoff = get_be32(s + off + 4);

			if (!strcmp(cur[0] ? cur : "/", path) && !strcmp(strings + nameoff, name)) {
				out->data = s + off + 8;
				out->len = len;
				return true;
			}
			off += 8 + ((len + 3) & ~(size_t)3);
		} else {
			return false; /* FDT_END */
		}
	}
}

static uint32_t cell(const struct prop *p, unsigned int i)
{
	return get_be32(p->data + 4 * i);
}

static void test_writer_format(void **state)
{
	struct fdt_writer w;
	uint8_t *b = NULL;
	size_t size = 0;
	struct prop p;

	(void)state;
	fdt_init(&w);
	fdt_begin_node(&w, "");
	fdt_prop_u32(&w, "#address-cells", 2);
	fdt_begin_node(&w, "chosen");
	fdt_prop_string(&w, "bootargs", "console=ttyS0");
	fdt_prop_u64(&w, "linux,initrd-start", 0x123456789ULL);
	fdt_end_node(&w);
	fdt_prop_u32(&w, "#size-cells", 2);
	fdt_end_node(&w);
	assert_int_equal(fdt_finish(&w, 4096, &b, &size), 0);
	fdt_free(&w);
	assert_int_equal(get_be32(b), FDT_MAGIC);
	assert_int_equal(get_be32(b + 4), size);
	assert_int_equal(get_be32(b + 20), 17);
	assert_int_equal(get_be32(b + 24), 16);
	/* The reservation map: one empty terminating entry, 8-byte aligned. */
	assert_int_equal(get_be32(b + 16) % 8, 0);
	assert_memory_equal(b + get_be32(b + 16), (uint8_t[16]){ 0 }, 16);
	assert_true(fdt_find(b, "/chosen", "bootargs", &p));
	assert_string_equal((const char *)p.data, "console=ttyS0");
	assert_true(fdt_find(b, "/chosen", "linux,initrd-start", &p));
	assert_int_equal(p.len, 8);
	assert_int_equal(cell(&p, 0), 1);
	assert_int_equal(cell(&p, 1), 0x23456789);
	assert_true(fdt_find(b, "/", "#size-cells", &p));
	/* "#address-cells" is written once in the strings block, whoever uses it. */
	assert_int_equal(get_be32(b + 32), strlen("#address-cells") + 1 + strlen("bootargs") + 1 +
						   strlen("linux,initrd-start") + 1 + strlen("#size-cells") + 1);
	free(b);
}

static void test_writer_refuses_unbalanced_nodes(void **state)
{
	struct fdt_writer w;
	uint8_t *b = NULL;
	size_t size;

	(void)state;
	fdt_init(&w);
	fdt_begin_node(&w, "");
	fdt_begin_node(&w, "open");
	assert_int_equal(fdt_finish(&w, 4096, &b, &size), -EINVAL);
	fdt_free(&w);
	fdt_init(&w);
	fdt_prop_u32(&w, "outside", 1); /* a property outside any node */
	assert_int_equal(fdt_finish(&w, 4096, &b, &size), -EINVAL);
	fdt_free(&w);
	assert_null(b);
}

static struct arm64_dt machine(unsigned int ncpus, unsigned int gic)
{
	struct arm64_dt d = {
		.ram_base = ARM64_RAM_BASE,
		.ram_size = 256ULL << 20,
		.ncpus = ncpus,
		.gic_version = gic,
		.bootargs = "console=ttyS0 reboot=k",
		.initrd_start = 0x8f000000,
		.initrd_end = 0x8f100000,
		.kaslr_seed = 0x1122334455667788ULL,
		.nvirtio = 2,
	};

	for (unsigned int i = 0; i < ncpus; i++)
		d.mpidr[i] = 0x80000000ULL | i; /* bit 31 is RES1 in MPIDR_EL1: it must not reach reg */
	d.virtio[0].base = KVM_ARCH_VIRTIO_BASE;
	d.virtio[0].spi = KVM_ARCH_VIRTIO_GSI_BASE;
	d.virtio[1].base = KVM_ARCH_VIRTIO_BASE + 0x1000;
	d.virtio[1].spi = KVM_ARCH_VIRTIO_GSI_BASE + 1;
	return d;
}

static void test_machine_tree(void **state)
{
	struct arm64_dt d = machine(2, 3);
	uint8_t *b = NULL;
	size_t size;
	struct prop p;

	(void)state;
	assert_int_equal(arm64_dt_build(&d, &b, &size), 0);
	assert_true(fdt_find(b, "/memory@80000000", "reg", &p));
	assert_int_equal(cell(&p, 1), 0x80000000);
	assert_int_equal(cell(&p, 3), 256 << 20);
	assert_true(fdt_find(b, "/cpus/cpu@1", "reg", &p));
	assert_int_equal(cell(&p, 0), 1);
	assert_true(fdt_find(b, "/cpus/cpu@1", "enable-method", &p));
	assert_string_equal((const char *)p.data, "psci");
	assert_true(fdt_find(b, "/psci", "method", &p));
	assert_string_equal((const char *)p.data, "hvc");
	assert_true(fdt_find(b, "/intc@3fff0000", "reg", &p));
	assert_int_equal(cell(&p, 5), ARM64_GIC_REDIST_BASE);
	assert_int_equal(cell(&p, 7), 2 * ARM64_GIC_REDIST_PER_CPU); /* one redistributor per vCPU */
	assert_true(fdt_find(b, "/timer", "interrupts", &p));
	assert_int_equal(p.len, 4 * 12);
	assert_int_equal(cell(&p, 2), 4); /* GICv3: level-high, no CPU mask */
	assert_true(fdt_find(b, "/uart@40000000", "compatible", &p));
	assert_string_equal((const char *)p.data, "ns16550a");
	assert_true(fdt_find(b, "/uart@40000000", "interrupts", &p));
	assert_int_equal(cell(&p, 1), ARM64_SERIAL_SPI);
	assert_true(fdt_find(b, "/virtio_mmio@40002000", "interrupts", &p));
	assert_int_equal(cell(&p, 1), KVM_ARCH_VIRTIO_GSI_BASE + 1);
	assert_true(fdt_find(b, "/virtio_mmio@40002000", "dma-coherent", &p));
	assert_true(fdt_find(b, "/chosen", "linux,initrd-end", &p));
	assert_int_equal(cell(&p, 1), 0x8f100000);
	assert_true(fdt_find(b, "/chosen", "stdout-path", &p));
	assert_string_equal((const char *)p.data, "/uart@40000000");
	assert_false(fdt_find(b, "/cpus/cpu@2", "reg", &p));
	free(b);
}

static void test_machine_tree_gicv2(void **state)
{
	struct arm64_dt d = machine(2, 2);
	uint8_t *b = NULL;
	size_t size;
	struct prop p;

	(void)state;
	assert_int_equal(arm64_dt_build(&d, &b, &size), 0);
	assert_true(fdt_find(b, "/intc@3fff0000", "compatible", &p));
	assert_string_equal((const char *)p.data, "arm,cortex-a15-gic");
	assert_true(fdt_find(b, "/intc@3fff0000", "reg", &p));
	assert_int_equal(cell(&p, 5), ARM64_GIC_CPU_BASE);
	assert_true(fdt_find(b, "/timer", "interrupts", &p));
	assert_int_equal(cell(&p, 2), 4 | 0x300); /* GICv2: the private interrupt reaches CPUs 0 and 1 */
	free(b);
	d = machine(9, 2);
	assert_int_equal(arm64_dt_build(&d, &b, &size), -EINVAL); /* a GICv2 has 8 CPU interfaces */
}

/* dtc, where installed, must read the tree without a warning: that is how the kernel's own checks see it. */
static void test_machine_tree_dtc(void **state)
{
	struct arm64_dt d = machine(4, 3);
	char path[] = "/tmp/nitrovm-dtb-XXXXXX", cmd[256], out[8192];
	uint8_t *b = NULL;
	size_t size, n;
	FILE *f;
	int fd;

	(void)state;
	if (system("command -v dtc >/dev/null 2>&1")) {
		print_message("dtc is not installed (device-tree-compiler, scripts/setup): the blob is checked above\n");
		return;
	}
	assert_int_equal(arm64_dt_build(&d, &b, &size), 0);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, size), (ssize_t)size);
	close(fd);
	free(b);
	snprintf(cmd, sizeof(cmd), "dtc -I dtb -O dts %s 2>&1", path);
	f = popen(cmd, "r");
	assert_non_null(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	assert_int_equal(pclose(f), 0);
	unlink(path);
	assert_null(strstr(out, "Warning"));
	assert_non_null(strstr(out, "cpu@3 {"));
	assert_non_null(strstr(out, "compatible = \"arm,psci-1.0\\0arm,psci-0.2\";"));
}

static void image_header(uint8_t *k, uint64_t text_offset, uint64_t image_size, uint64_t flags)
{
	memset(k, 0, ARM64_IMAGE_HEADER_SIZE);
	for (int i = 0; i < 8; i++) {
		k[0x08 + i] = (uint8_t)(text_offset >> (8 * i));
		k[0x10 + i] = (uint8_t)(image_size >> (8 * i));
		k[0x18 + i] = (uint8_t)(flags >> (8 * i));
	}
	memcpy(k + ARM64_IMAGE_MAGIC_OFFSET, "ARM\x64", 4);
}

static void test_image_header(void **state)
{
	uint8_t k[4096];
	struct arm64_image img;

	(void)state;
	image_header(k, 0, 40 << 20, ARM64_IMAGE_FLAG_ANYWHERE | 0x2);
	assert_int_equal(arm64_image_parse(k, sizeof(k), &img), 0);
	assert_int_equal(img.image_size, 40 << 20);
	/* Before 3.17: no size, and text_offset is 0x80000 whatever the field says. */
	image_header(k, 0, 0, 0);
	assert_int_equal(arm64_image_parse(k, sizeof(k), &img), 0);
	assert_int_equal(img.text_offset, ARM64_IMAGE_OLD_TEXT_OFFSET);
	assert_int_equal(img.image_size, sizeof(k));
	image_header(k, 0, 40 << 20, ARM64_IMAGE_FLAG_BE);
	assert_int_equal(arm64_image_parse(k, sizeof(k), &img), -ENOEXEC);
	image_header(k, 2 << 20, 40 << 20, 0);
	assert_int_equal(arm64_image_parse(k, sizeof(k), &img), -ENOEXEC);
	image_header(k, 0, 100, 0); /* smaller than its own section */
	assert_int_equal(arm64_image_parse(k, sizeof(k), &img), -ENOEXEC);
	memset(k, 0, sizeof(k)); /* a bzImage, or anything else */
	assert_int_equal(arm64_image_parse(k, sizeof(k), &img), -ENOEXEC);
	assert_int_equal(arm64_image_parse(k, 10, &img), -ENOEXEC);
}

static void test_boot_layout(void **state)
{
	struct arm64_image img = { .text_offset = 0, .image_size = 40 << 20 };
	uint64_t ram = ARM64_RAM_BASE, eif = ram + (8 << 20);
	struct arm64_layout l;

	(void)state;
	assert_int_equal(arm64_layout_boot(ram, 256ULL << 20, &img, 5 << 20, eif, 46 << 20, &l), 0);
	assert_int_equal(l.kernel, ram);
	assert_int_equal(l.fdt, ram + (254ULL << 20));
	assert_int_equal(l.fdt % ARM64_FDT_ALIGN, 0);
	assert_true(l.initrd + l.initrd_size <= l.fdt);
	assert_int_equal(l.initrd % ARM64_INITRD_ALIGN, 0);
	assert_true(l.initrd >= eif + (46 << 20)); /* clear of the image it is copied from */
	img.text_offset = ARM64_IMAGE_OLD_TEXT_OFFSET;
	assert_int_equal(arm64_layout_boot(ram, 256ULL << 20, &img, 5 << 20, eif, 46 << 20, &l), 0);
	assert_int_equal(l.kernel, ram + 0x80000);
	/* 64 MiB holds it: the kernel may cover the image (it is copied last), the initrd may not. */
	assert_int_equal(arm64_layout_boot(ram, 64ULL << 20, &img, 5 << 20, eif, 46 << 20, &l), 0);
	assert_int_equal(arm64_layout_boot(ram, 48ULL << 20, &img, 5 << 20, eif, 46 << 20, &l), -ENOMEM);
	/* A kernel that would run into the initrd. */
	img.image_size = 60 << 20;
	assert_int_equal(arm64_layout_boot(ram, 64ULL << 20, &img, 5 << 20, eif, 46 << 20, &l), -ENOMEM);
	assert_int_equal(arm64_layout_boot(ram, (64ULL << 20) + 4096, &img, 0, eif, 1 << 20, &l), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writer_format),
		cmocka_unit_test(test_writer_refuses_unbalanced_nodes),
		cmocka_unit_test(test_machine_tree),
		cmocka_unit_test(test_machine_tree_gicv2),
		cmocka_unit_test(test_machine_tree_dtc),
		cmocka_unit_test(test_image_header),
		cmocka_unit_test(test_boot_layout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
