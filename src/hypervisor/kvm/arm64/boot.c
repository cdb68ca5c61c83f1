// SPDX-License-Identifier: MIT
/*
 * Booting the EIF's arm64 Image (booting.rst): the initrd (the ramdisks joined) and the device tree to the top
 * of RAM, the Image to the start of RAM (2 MiB-aligned base + text_offset), and the boot CPU entered at the
 * Image's first byte with x0 = the device tree.  Everything is read from the EIF where the launch pipeline put
 * it (8 MiB into enclave memory), as Nitro does; the kernel is copied last, with memmove, because its target
 * runs into the EIF's own first bytes.
 */
#include "arm64.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/util.h"
#include "eif/eif.h"
#include "hypervisor/kvm/kvm.h"

/* arm64's COMMAND_LINE_SIZE: the kernel truncates what is longer, so refuse it instead. */
#define ARM64_CMDLINE_MAX 2048
/* Tests: write the machine's device tree to this file too (dtc then shows it). */
#define ARM64_DUMP_DTB_ENV "NITROVM_DUMP_DTB"

/* The EIF's command line (no NUL in the section; stop at one anyway), then QEMU-style -append. */
static int build_cmdline(struct kvm_vm *vm, const struct eif *e, char *out, size_t max)
{
	size_t n = 0;
	int w;

	for (uint64_t i = 0; e->cmdline && i < e->cmdline->size && e->cmdline->data[i] && n + 1 < max; i++)
		out[n++] = (char)e->cmdline->data[i];
	out[n] = '\0';
	if (e->cmdline && n < e->cmdline->size && e->cmdline->data[n] && n + 1 >= max)
		return err_set(E2BIG, "the kernel command line is longer than %zu bytes", max - 1);
	if (!vm->cfg.kvm.extra_cmdline || !vm->cfg.kvm.extra_cmdline[0])
		return 0;
	w = snprintf(out + n, max - n, "%s%s", n ? " " : "", vm->cfg.kvm.extra_cmdline);
	if (w < 0 || (size_t)w >= max - n)
		return err_set(E2BIG, "the kernel command line is longer than %zu bytes", max - 1);
	return 0;
}

static void dump_dtb(const uint8_t *dtb, size_t size)
{
#ifdef NITROVM_TEST_HOOKS
	/* Test builds only: the device tree as the guest got it, for dtc. */
	const char *path = getenv(ARM64_DUMP_DTB_ENV);
#else
	const char *path = NULL;
#endif
	int fd;

	if (!path || !path[0])
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write_full(fd, dtb, size) < 0)
		fprintf(stderr, "nitrovm: cannot write the device tree to %s: %s\n", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

static int describe(struct kvm_vm *vm, const char *cmdline, const struct arm64_layout *l, struct arm64_dt *dt)
{
	memset(dt, 0, sizeof(*dt));
	dt->ram_base = vm->ram_base;
	dt->ram_size = vm->mem_added;
	dt->ncpus = vm->nvcpus;
	dt->gic_version = vm->arch.gic_version;
	dt->bootargs = cmdline;
	if (l->initrd_size) {
		dt->initrd_start = l->initrd;
		dt->initrd_end = l->initrd + l->initrd_size;
	}
	/* Randomized like the x86 path (its decompressor's KASLR): the kernel's own "nokaslr" still wins. */
	if (getrandom(&dt->kaslr_seed, sizeof(dt->kaslr_seed), 0) != sizeof(dt->kaslr_seed))
		dt->kaslr_seed = 0;
	for (unsigned int i = 0; i < vm->nvcpus && i < ARM64_DT_MAX_CPUS; i++) {
		int ret = arm64_vcpu_mpidr(&vm->vcpus[i], &dt->mpidr[i]);

		if (ret < 0)
			return ret;
	}
	for (unsigned int s = 0; s < KVM_VIRTIO_SLOTS; s++) {
		if (!vm->virtio[s].present)
			continue;
		dt->virtio[dt->nvirtio].base = kvm_virtio_base(s);
		dt->virtio[dt->nvirtio].spi = kvm_virtio_gsi(s);
		dt->nvirtio++;
	}
	return 0;
}

int arm64_boot_linux(struct kvm_vm *vm, const struct eif *e, uint64_t eif_extent, uint64_t *entry, uint64_t *fdt)
{
	char cmdline[ARM64_CMDLINE_MAX];
	struct arm64_image img;
	struct arm64_layout l;
	struct arm64_dt dt;
	uint8_t *dtb = NULL;
	size_t dtb_size = 0;
	int ret;

	ret = arm64_image_parse(e->kernel->data, e->kernel->size, &img);
	if (!ret)
		ret = build_cmdline(vm, e, cmdline, sizeof(cmdline));
	if (!ret)
		ret = arm64_layout_boot(vm->ram_base, vm->mem_added, &img, kvm_initrd_size(e),
					vm->ram_base + vm->eif_offset, eif_extent, &l);
	if (!ret)
		ret = describe(vm, cmdline, &l, &dt);
	if (!ret)
		ret = arm64_dt_build(&dt, &dtb, &dtb_size);
	if (ret < 0)
		return ret;
	dump_dtb(dtb, dtb_size);
	/* Top down: the pieces at the top first, the kernel last (it may overwrite the EIF's start). */
	memcpy(kvm_gpa(vm, l.fdt, dtb_size), dtb, dtb_size);
	free(dtb);
	if (l.initrd_size)
		kvm_initrd_copy(vm, e, kvm_gpa(vm, l.initrd, l.initrd_size));
	memmove(kvm_gpa(vm, l.kernel, e->kernel->size), e->kernel->data, e->kernel->size);
	*entry = l.kernel;
	*fdt = l.fdt;
	return 0;
}
