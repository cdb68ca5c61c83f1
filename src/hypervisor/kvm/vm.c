// SPDX-License-Identifier: MIT
/*
 * The KVM backend of the hypervisor interface: nitrovm playing the Nitro hypervisor.  Like the real one it takes
 * the memory it is given, finds the EIF the launch pipeline wrote at the load offset (8 MiB), parses it from
 * there and boots its kernel, command line and ramdisks; then runs one thread per vCPU until the enclave ends.
 */
#include "kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/util.h"
#include "eif/eif.h"
#include "nsm/nsm.h"
#include "vhost/vhost.h"

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif
#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB (21U << 26)
#endif

#define KVM_MEMFD_NAME "nitrovm-enclave"

void kvm_vm_request_exit(struct kvm_vm *vm, enum hv_exit_reason reason, int status, const char *fmt, ...)
{
	uint64_t one = 1;
	va_list ap;

	pthread_mutex_lock(&vm->exit_lock);
	if (vm->exit.reason != HV_EXIT_RUNNING) {
		pthread_mutex_unlock(&vm->exit_lock);
		return;
	}
	vm->exit.reason = reason;
	vm->exit.status = status;
	va_start(ap, fmt);
	vsnprintf(vm->exit.detail, sizeof(vm->exit.detail), fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_MONOTONIC, &vm->t_end);
	atomic_store(&vm->stopping, true);
	/* Under the lock kvm_start holds while it creates threads: each vCPU is either not yet running (and
	 * will see stopping) or has its thread_started set, so it gets the signal. */
	for (unsigned int i = 0; i < vm->nvcpus; i++)
		kvm_vcpu_kick(&vm->vcpus[i]);
	pthread_mutex_unlock(&vm->exit_lock);
	if (write(vm->exit_efd, &one, sizeof(one)) < 0) {
		/* Cannot fail for a fresh eventfd; the stop flag is set regardless. */
	}
}

uint64_t kvm_low_ram_size(const struct kvm_vm *vm)
{
	return MIN(vm->mem_added, vm->ram_low_max);
}

void *kvm_gpa(struct kvm_vm *vm, uint64_t gpa, uint64_t len)
{
	return guest_mem_ptr(&vm->gmem, gpa, len);
}

static const char *kvm_device_path(const struct hv_slot_config *cfg)
{
	return cfg->kvm.device ? cfg->kvm.device : KVM_DEFAULT_DEVICE;
}

static int kvm_open(struct kvm_vm *vm)
{
	const char *path = kvm_device_path(&vm->cfg);
	int version;

	vm->kvm_fd = open(path, O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		if (errno == ENOENT)
			return err_set(ENOENT, "%s does not exist: this host has no KVM (load kvm_intel or kvm_amd, or "
					       "run inside a VM with nested virtualization)", path);
		if (errno == EACCES || errno == EPERM)
			return err_set(errno, "no permission to open %s: add your user to the group that owns it "
					       "(usually 'kvm')", path);
		return err_set(errno, "cannot open %s: %s", path, strerror(errno));
	}
	version = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION_12)
		return err_set(ENODEV, "%s is not a KVM device with API version 12 (%s)", path,
			       version < 0 ? strerror(errno) : "wrong version");
	vm->vcpu_mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->vcpu_mmap_size <= 0)
		return err_set(ENODEV, "KVM_GET_VCPU_MMAP_SIZE failed on %s", path);
	return 0;
}

static int kvm_create_vm(struct kvm_vm *vm)
{
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, kvm_arch_vm_type(vm->kvm_fd));
	if (vm->vm_fd < 0)
		return err_set(errno, "KVM_CREATE_VM failed: %s", strerror(errno));
	return kvm_arch_vm_init(vm);
}

static void kvm_destroy(struct hypervisor *hv);

static int kvm_create_slot(const struct hv_slot_config *cfg, struct hypervisor **out, uint64_t *slot_uid,
			   struct hv_fault *fault)
{
	struct kvm_vm *vm = calloc(1, sizeof(*vm));
	int ret;

	(void)fault; /* nitrovm's own machine: its sentence says it all */

	if (!vm)
		return err_set(ENOMEM, "out of memory");
	vm->hv.ops = &hv_kvm_ops;
	vm->cfg = *cfg;
	vm->kvm_fd = vm->vm_fd = vm->mem_fd = vm->exit_efd = -1;
	vm->eif_offset = HV_EIF_LOAD_OFFSET;
	vm->console[0] = vm->console[1] = -1;
	for (unsigned int i = 0; i < HV_MAX_VCPUS; i++)
		vm->vcpus[i].fd = -1;
	pthread_mutex_init(&vm->exit_lock, NULL);
	ret = kvm_open(vm);
	if (!ret)
		ret = kvm_create_vm(vm);
	if (!ret)
		ret = kvm_vcpu_install_kick_handler();
	if (!ret) {
		vm->exit_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vm->exit_efd < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, vm->console) < 0)
			ret = err_set(errno, "cannot create the console and exit descriptors: %s", strerror(errno));
	}
	if (!ret)
		ret = kvm_vsock_create(vm);
	if (ret < 0) {
		kvm_destroy(&vm->hv);
		return ret;
	}
	/* Nitro hands out a slot uid; ours only needs to be unique enough to name the enclave. */
	if (getrandom(slot_uid, sizeof(*slot_uid), 0) != sizeof(*slot_uid))
		*slot_uid = (uint64_t)getpid() << 16;
	vm->slot_uid = *slot_uid;
	*out = &vm->hv;
	return 0;
}

static bool hugetlb_allowed(uint64_t size)
{
	(void)size;
	return access("/sys/kernel/mm/hugepages/hugepages-2048kB", F_OK) == 0;
}

static int kvm_alloc_memory(struct hypervisor *hv, uint64_t size, struct hv_region *regions, unsigned int *nregions,
			    struct hv_fault *fault)
{
	struct kvm_vm *vm = to_kvm_vm(hv);
	void *p = MAP_FAILED;

	(void)fault; /* nitrovm's own machine: its sentence says it all */

	if (vm->mem)
		return err_set(EBUSY, "enclave memory is already allocated");
	/* Huge pages when asked and available; otherwise ordinary pages, never an error for lack of them. */
	if (vm->cfg.kvm.hugepages && hugetlb_allowed(size)) {
		vm->mem_fd = memfd_create(KVM_MEMFD_NAME, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_HUGE_2MB);
		if (vm->mem_fd >= 0 && ftruncate(vm->mem_fd, (off_t)size) == 0)
			p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->mem_fd, 0);
		if (p == MAP_FAILED && vm->mem_fd >= 0) {
			close(vm->mem_fd);
			vm->mem_fd = -1;
		}
	}
	if (p == MAP_FAILED) {
		vm->mem_fd = memfd_create(KVM_MEMFD_NAME, MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (vm->mem_fd < 0)
			return err_set(errno, "memfd_create failed: %s", strerror(errno));
		if (ftruncate(vm->mem_fd, (off_t)size) < 0)
			return err_set(errno, "cannot size enclave memory to %llu MiB: %s",
				       (unsigned long long)(size >> 20), strerror(errno));
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, vm->mem_fd, 0);
		if (p == MAP_FAILED)
			return err_set(errno, "cannot map %llu MiB of enclave memory: %s",
				       (unsigned long long)(size >> 20), strerror(errno));
	}
	/* The enclave's memory is its secrets: a core dump of nitrovm leaves it out (a failure costs only that). */
	(void)madvise(p, size, MADV_DONTDUMP);
	/*
	 * Its size is final: sealed, so a vhost-user backend that maps it (vsock=) knows it cannot shrink under it
	 * (QEMU's memfd backends seal the same way).
	 */
	if (fcntl(vm->mem_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0) {
		/* A file system without seals (older hugetlbfs): the backend is told, nothing else changes. */
	}
	vm->mem = p;
	vm->mem_size = size;
	regions[0] = (struct hv_region){ p, size, vm->mem_fd, 0 };
	*nregions = 1;
	return 0;
}

/*
 * The bytes past 8 MiB that put the image's last ramdisk on a 4-byte boundary in memory, read from its section
 * headers in the file: then the machine can leave the bulk of a large image where it was loaded as the initrd,
 * instead of copying it again (x86/boot.c).  0 when the file says nothing usable; the machine checks what it
 * finds in memory anyway, and copies when the ramdisk is not aligned after all.
 */
static uint64_t last_ramdisk_shift(const struct hv_image *img)
{
	uint8_t h[EIF_HEADER_SIZE], sh[EIF_SECTION_HEADER_SIZE];
	uint64_t shift = 0;
	uint16_t n;

	if (!img || pread(img->fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) || memcmp(h, EIF_MAGIC, 4) != 0)
		return 0;
	n = get_be16(h + EIF_OFF_NUM_SECTIONS);
	for (unsigned int i = 0; i < n && i < EIF_MAX_SECTIONS; i++) {
		uint64_t off = get_be64(h + EIF_OFF_SECTION_OFFS + 8 * i);

		if (off > INT64_MAX - EIF_SECTION_HEADER_SIZE ||
		    pread(img->fd, sh, sizeof(sh), (off_t)off) != (ssize_t)sizeof(sh))
			return 0;
		if (get_be16(sh) == EIF_SECTION_RAMDISK)
			shift = (4 - (HV_EIF_LOAD_OFFSET + off + EIF_SECTION_HEADER_SIZE) % 4) % 4;
	}
	return shift;
}

static int kvm_image_load_info(struct hypervisor *hv, uint64_t *offset, struct hv_fault *fault)
{
	struct kvm_vm *vm = to_kvm_vm(hv);

	(void)fault; /* nitrovm's own machine: its sentence says it all */
	vm->eif_offset = HV_EIF_LOAD_OFFSET + last_ramdisk_shift(vm->cfg.image);
	*offset = vm->eif_offset;
	return 0;
}

static int kvm_map_slot(struct kvm_vm *vm, uint64_t gpa, uint8_t *hva, uint64_t size)
{
	struct kvm_userspace_memory_region r = {
		.slot = vm->nslots,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)hva,
	};

	if (vm->nslots == GUEST_MEM_MAX_REGIONS)
		return err_set(ENOSPC, "too many memory regions (at most %d)", GUEST_MEM_MAX_REGIONS);
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return err_set(errno, "KVM_SET_USER_MEMORY_REGION failed: %s", strerror(errno));
	vm->gmem.regions[vm->nslots] = (struct guest_mem_region){ gpa, size, hva };
	vm->gmem.nregions = ++vm->nslots;
	return 0;
}

/*
 * Enclave memory offset o is guest-physical ram_base + o up to ram_low_max bytes, and moves up by the hole
 * above (x86: the 32-bit MMIO hole, 3 to 4 GiB; arm64: none, RAM is one range from 2 GiB).
 */
static int kvm_add_memory_region(struct hypervisor *hv, const struct hv_region *r, struct hv_fault *fault)
{
	struct kvm_vm *vm = to_kvm_vm(hv);
	uint64_t off = vm->mem_added, size = r->size, low = 0;
	int ret = 0;

	(void)fault; /* nitrovm's own machine: its sentence says it all */

	if (vm->started)
		return err_set(EBUSY, "memory cannot be added to a running enclave");
	if (off < vm->ram_low_max) {
		low = MIN(size, vm->ram_low_max - off);
		ret = kvm_map_slot(vm, vm->ram_base + off, r->hva, low);
	}
	if (!ret && size > low)
		ret = kvm_map_slot(vm, MAX(off, vm->ram_low_max) + (vm->ram_high_base - vm->ram_low_max),
				   r->hva + low, size - low);
	if (!ret)
		vm->mem_added += size;
	return ret;
}

static int kvm_add_vcpu(struct hypervisor *hv, uint32_t *cpu_id, struct hv_fault *fault)
{
	struct kvm_vm *vm = to_kvm_vm(hv);
	int ret;

	(void)fault; /* nitrovm's own machine: its sentence says it all */

	if (vm->started)
		return err_set(EBUSY, "vCPUs cannot be added to a running enclave");
	if (vm->nvcpus == HV_MAX_VCPUS)
		return err_set(ENOSPC, "an enclave has at most %d vCPUs here", HV_MAX_VCPUS);
	ret = kvm_arch_before_vcpus(vm);
	if (ret < 0)
		return ret;
	ret = kvm_vcpu_create(vm, vm->nvcpus);
	if (ret < 0)
		return ret;
	*cpu_id = vm->nvcpus++;
	return 0;
}

/*
 * Where the image that starts at the load offset ends, from its header alone: the end of its furthest section.
 * The memory past it is just RAM, so this is what the parser must be given.
 */
static int kvm_eif_extent(const uint8_t *h, uint64_t avail, uint64_t *extent)
{
	uint16_t n;

	if (avail < EIF_HEADER_SIZE || memcmp(h, EIF_MAGIC, 4) != 0)
		return err_set(ENOEXEC, "there is no EIF at the image load offset (no \".eif\" magic)");
	n = get_be16(h + EIF_OFF_NUM_SECTIONS);
	*extent = EIF_HEADER_SIZE;
	for (unsigned int i = 0; i < n && i < EIF_MAX_SECTIONS; i++) {
		uint64_t off = get_be64(h + EIF_OFF_SECTION_OFFS + 8 * i);
		uint64_t size = get_be64(h + EIF_OFF_SECTION_SIZES + 8 * i);

		if (off > avail || size > avail - off || EIF_SECTION_HEADER_SIZE > avail - off - size)
			return err_set(ENOEXEC, "section %u of the EIF at the load offset lies outside enclave memory",
				       i);
		*extent = MAX(*extent, off + EIF_SECTION_HEADER_SIZE + size);
	}
	return 0;
}

/* The EIF as the pipeline left it at the load offset, parsed in place like the Nitro hypervisor does. */
int kvm_find_eif(struct kvm_vm *vm, struct eif *e, uint64_t *extent)
{
	uint64_t low = kvm_low_ram_size(vm), avail;
	const uint8_t *p;
	int ret;

	if (low <= vm->eif_offset)
		return err_set(ENOEXEC, "enclave memory ends before the image load offset");
	avail = low - vm->eif_offset;
	p = kvm_gpa(vm, vm->ram_base + vm->eif_offset, avail);
	ret = kvm_eif_extent(p, avail, extent);
	if (ret < 0)
		return ret;
	ret = eif_parse(e, p, *extent);
	if (ret < 0)
		return err_wrap(ENOEXEC, "the EIF at the load offset is not valid");
	if (!e->kernel)
		return err_set(ENOEXEC, "the EIF has no kernel section");
	return 0;
}

static int kvm_start(struct hypervisor *hv, uint64_t cid, bool debug_mode, uint64_t *cid_out,
		     struct hv_fault *fault)
{
	struct kvm_vm *vm = to_kvm_vm(hv);
	int ret;

	(void)fault; /* nitrovm's own machine: its sentence says it all */

	/* The emulated console is always on; the NSM attests zero PCRs in debug mode. */
	vm->debug_mode = debug_mode;
	if (vm->started)
		return err_set(EBUSY, "the enclave is already running");
	if (!vm->mem_added)
		return err_set(EINVAL, "the enclave has no memory");
	if (!vm->nvcpus)
		return err_set(EINVAL, "the enclave has no vCPUs");
	if (cid && (cid < KVM_ENCLAVE_CID_MIN || cid >= UINT32_MAX))
		return err_set(EINVAL, "enclave CID %llu is reserved; use 4 or more", (unsigned long long)cid);
	ret = kvm_arch_build_machine(vm);
	if (ret < 0)
		return ret;
	vm->cid = cid ? cid : KVM_ENCLAVE_CID_DEFAULT;
	/* With a vhost-user backend, the guest reads its CID from the backend's configuration: that is the CID. */
	if (vm->vhost_vsock)
		vm->cid = vhost_vsock_frontend_cid(vm->vhost_vsock);
	kvm_vsock_set_cid(vm, vm->cid);
	if (vm->cfg.before_run && (ret = vm->cfg.before_run(vm->cfg.before_run_opaque)) < 0)
		return ret;
	vm->started = true;
	clock_gettime(CLOCK_MONOTONIC, &vm->t_start);
	pthread_mutex_lock(&vm->exit_lock);
	for (unsigned int i = 0; !ret && i < vm->nvcpus; i++)
		ret = kvm_vcpu_start_thread(&vm->vcpus[i]);
	pthread_mutex_unlock(&vm->exit_lock);
	if (ret < 0) {
		kvm_vm_request_exit(vm, HV_EXIT_HOST_ERROR, 1, "%s", err_msg());
		return ret;
	}
	/* Only now: creating a thread costs 0.1-0.2 ms here, which the first instruction need not wait for. */
	kvm_nsm_start(vm);
	*cid_out = vm->cid;
	return 0;
}

static int kvm_console_fd(struct hypervisor *hv)
{
	return to_kvm_vm(hv)->console[1];
}

static int kvm_exit_fd(struct hypervisor *hv)
{
	return to_kvm_vm(hv)->exit_efd;
}

static void kvm_terminate(struct hypervisor *hv)
{
	kvm_vm_request_exit(to_kvm_vm(hv), HV_EXIT_TERMINATED, 0, "the enclave was terminated");
}

static void kvm_wait_exit(struct hypervisor *hv, struct hv_exit *e)
{
	struct kvm_vm *vm = to_kvm_vm(hv);

	for (unsigned int i = 0; i < vm->nvcpus; i++) {
		if (!vm->vcpus[i].thread_started)
			continue;
		pthread_join(vm->vcpus[i].thread, NULL);
		vm->vcpus[i].thread_started = false;
	}
	pthread_mutex_lock(&vm->exit_lock);
	*e = vm->exit;
	e->seconds = vm->started ? (double)(vm->t_end.tv_sec - vm->t_start.tv_sec) +
					   (double)(vm->t_end.tv_nsec - vm->t_start.tv_nsec) / 1e9
				 : 0;
	snprintf(e->regs, sizeof(e->regs), "%s", vm->regs_dump);
	pthread_mutex_unlock(&vm->exit_lock);
}

static void kvm_destroy(struct hypervisor *hv)
{
	struct kvm_vm *vm = to_kvm_vm(hv);

	if (!vm)
		return;
	if (vm->started) {
		struct hv_exit e;

		kvm_terminate(hv);
		kvm_wait_exit(hv, &e);
	}
	kvm_nsm_destroy(vm); /* its thread completes requests through the device */
	kvm_devices_destroy(vm);
	kvm_vsock_destroy(vm);
	for (unsigned int i = 0; i < vm->nvcpus; i++)
		kvm_vcpu_destroy(&vm->vcpus[i]);
	kvm_arch_vm_free(vm);
	if (vm->mem)
		munmap(vm->mem, vm->mem_size);
	for (int i = 0; i < 2; i++)
		if (vm->console[i] >= 0)
			close(vm->console[i]);
	if (vm->mem_fd >= 0)
		close(vm->mem_fd);
	if (vm->exit_efd >= 0)
		close(vm->exit_efd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	pthread_mutex_destroy(&vm->exit_lock);
	free(vm);
}

const struct hypervisor_ops hv_kvm_ops = {
	.name = "kvm",
	.create_slot = kvm_create_slot,
	.alloc_memory = kvm_alloc_memory,
	.image_load_info = kvm_image_load_info,
	.add_memory_region = kvm_add_memory_region,
	.add_vcpu = kvm_add_vcpu,
	.start = kvm_start,
	.console_fd = kvm_console_fd,
	.exit_fd = kvm_exit_fd,
	.terminate = kvm_terminate,
	.wait_exit = kvm_wait_exit,
	.destroy = kvm_destroy,
	.vsock_host = kvm_vsock_host,
};
