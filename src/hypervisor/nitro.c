// SPDX-License-Identifier: MIT
/*
 * Native mode: the launch over the Nitro Enclaves driver, written once for the real driver and the simulated
 * one (nitro.h, "the seam").  In order, as nitro-cli does it (its enclave_proc/resource_manager.rs), except that everything that can
 * be checked is checked before the first ioctl:
 *
 *   create_slot:   open /dev/nitro_enclaves (HV_FAULT_DEVICE when it cannot be), then the checks: the CPU pool
 *                  has the vCPUs asked for (whole cores), huge pages cover the memory (nitro-cli's search) on
 *                  the pool's NUMA node; then NE_CREATE_VM -> enclave descriptor and slot uid
 *   alloc_memory:  map the huge pages found (one region per page size, one address window)
 *   image_load_info: NE_GET_IMAGE_LOAD_INFO(NE_EIF_IMAGE) -> the offset the pipeline copies the EIF to
 *   add_memory_region: NE_SET_USER_MEMORY_REGION per region
 *   add_vcpu:      NE_ADD_VCPU, id 0 (the driver picks) or the ids the caller asked for
 *   start:         NE_START_ENCLAVE(debug flag, CID; 0 = assigned) -> CID
 *   exit_fd:       readable when the enclave descriptor hangs up (the enclave stopped) or on terminate
 *   wait_exit:     close the enclave descriptor: the driver stops the enclave and frees the slot
 *
 * The parent's vsock (heartbeat listener, console client) is the driver's: AF_VSOCK for the real one.
 */
#include "hypervisor/nitro.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "vsock/endpoint.h"

#define NE_ERROR_TEXT_MAX 768

struct ne_hv {
	struct hypervisor hv;
	struct hv_slot_config cfg;
	const struct ne_driver_ops *dops;
	struct ne_driver *drv;
	int dev_fd;
	int enclave_fd;
	int term_efd;  /* written by terminate */
	int exit_epfd; /* epoll of the enclave descriptor and term_efd: what the pipeline watches */
	struct cpu_pool *pool;
	struct hugepage_plan plan;
	struct hugepage_mapping mem;
	bool started, terminated;
	bool trace; /* cfg.nitro.trace */
	struct timespec t_start;
};

static struct ne_hv *to_ne(struct hypervisor *hv)
{
	return (struct ne_hv *)hv;
}

static const char *device_path(const struct hv_slot_config *cfg)
{
#ifdef NITROVM_TEST_HOOKS
	/* Test builds only: a missing device without unloading the driver (the sentences for it). */
	const char *env = getenv(NE_DEVICE_ENV);

	if (!cfg->nitro.device && env && env[0])
		return env;
#endif
	return cfg->nitro.device ? cfg->nitro.device : NE_DEVICE_PATH;
}

static int open_device(const struct ne_driver_ops *dops, struct ne_driver *drv, const char *path,
		       struct hv_fault *fault)
{
	int fd = dops->open(drv, path);

	if (fd >= 0)
		return fd;
	*fault = (struct hv_fault){ .cls = HV_FAULT_DEVICE, .code = -fd, .device = path };
	if (fd == -ENOENT)
		return err_set(ENOENT,
			       "File: '%s', failing operation: 'Open': the Nitro Enclaves driver is not here. Launch the "
			       "instance with enclave support or load the driver (modprobe nitro_enclaves)",
			       path);
	if (fd == -EACCES || fd == -EPERM)
		return err_set(
			-fd,
			"File: '%s', failing operation: 'Open': no permission; run as root or add your "
			"user to the group that owns it (usually 'ne')",
			path);
	return err_set(-fd, "File: '%s', failing operation: 'Open' (%s)", path, strerror(-fd));
}

/* The CPU and memory checks, before any ioctl: pool, vCPUs, huge-page plan. */
static int prepare(const struct ne_driver_ops *dops, struct ne_driver *drv, const struct hv_slot_config *cfg,
		   struct cpu_pool *pool, struct hugepage_plan *plan, struct hv_fault *fault)
{
	char list[NE_CPUS_SIZE + 1];
	int ret;

	ret = dops->cpu_pool(drv, list, sizeof(list));
	if (ret < 0) {
		*fault = (struct hv_fault){ .cls = HV_FAULT_DEVICE, .code = -ret };
		return ret;
	}
	ret = cpu_pool_load(pool, list, fault);
#ifdef NITROVM_TEST_HOOKS
	/* Test builds only: tests of the (simulated) driver's own CPU rules let the request through to it. */
	if (getenv(NE_SKIP_CPU_CHECKS_ENV)) {
		err_clear();
		ret = 0;
	} else
#endif
	if (!ret && cfg->cpu_ids)
		ret = cpu_pool_check_ids(pool, cfg->cpu_ids, cfg->cpu_count, fault);
	else if (!ret && cfg->cpu_count)
		ret = cpu_pool_check_count(pool, cfg->cpu_count, fault);
	if (ret < 0)
		return ret;
	if (!cfg->memory_size)
		return 0;
	ret = hugepages_read(pool->node, plan);
	if (!ret)
		ret = hugepages_plan(plan, cfg->memory_size);
	if (ret < 0)
		fault->cls = HV_FAULT_MEMORY;
	return ret;
}

/* cfg.nitro.trace: each ioctl on stderr with its time, for bench/native and docs. */
static void trace_ioctl(unsigned long request, const void *arg, int ret)
{
	struct timespec now;
	char what[96] = "";

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (request == NE_IOCTL_SET_USER_MEMORY_REGION) {
		const struct ne_user_memory_region *m = arg;

		snprintf(what, sizeof(what), "%llu MiB at %#llx", (unsigned long long)(m->memory_size >> 20),
			 (unsigned long long)m->userspace_addr);
	} else if (request == NE_IOCTL_ADD_VCPU) {
		snprintf(what, sizeof(what), "cpu %u", *(const uint32_t *)arg);
	} else if (request == NE_IOCTL_START_ENCLAVE) {
		const struct ne_enclave_start_info *i = arg;

		snprintf(what, sizeof(what), "flags %llu, cid %llu", (unsigned long long)i->flags,
			 (unsigned long long)i->enclave_cid);
	} else if (request == NE_IOCTL_GET_IMAGE_LOAD_INFO) {
		snprintf(what, sizeof(what), "offset %llu MiB",
			 (unsigned long long)(((const struct ne_image_load_info *)arg)->memory_offset >> 20));
	}
	fprintf(stderr, "ne-trace: %.6f %s(%s) = %d\n", (double)now.tv_sec + (double)now.tv_nsec / 1e9,
		ne_ioctl_name(request), what, ret);
}

static int ne_ioctl(struct ne_hv *h, int fd, unsigned long request, void *arg, struct hv_fault *fault)
{
	char msg[NE_ERROR_TEXT_MAX];
	int ret;

	h->drv->why[0] = '\0';
	ret = h->dops->ioctl(h->drv, fd, request, arg);
	if (h->trace)
		trace_ioctl(request, arg, ret);
	if (ret >= 0)
		return ret;
	*fault = (struct hv_fault){ .cls = HV_FAULT_DRIVER, .code = -ret, .request = request,
				    .driver_why = h->drv->why[0] != '\0' };
	if (h->drv->why[0])
		return err_set(-ret, "%s failed: %s", ne_ioctl_name(request), h->drv->why);
	return err_set(-ret, "%s", ne_error_sentence(request, -ret, msg, sizeof(msg)));
}

static void ne_destroy(struct hypervisor *hv)
{
	struct ne_hv *h = to_ne(hv);

	if (!h)
		return;
	/* Closing the enclave descriptor stops the enclave and unpins its memory: only then unmap it. */
	if (h->enclave_fd >= 0)
		h->dops->close(h->drv, h->enclave_fd);
	if (h->dev_fd >= 0)
		h->dops->close(h->drv, h->dev_fd);
	if (h->drv)
		h->dops->destroy(h->drv);
	hugepages_unmap(&h->mem);
	if (h->term_efd >= 0)
		close(h->term_efd);
	if (h->exit_epfd >= 0)
		close(h->exit_epfd);
	free(h->pool);
	free(h);
}

static int watch_exit(struct ne_hv *h)
{
	struct epoll_event ev = {.events = EPOLLIN};

	h->term_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	h->exit_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (h->term_efd < 0 || h->exit_epfd < 0)
		return err_set(errno, "cannot create the exit descriptors: %s", strerror(errno));
	/* Hang-up is always reported; EPOLLIN only so the registration is not empty. */
	ev.data.fd = h->enclave_fd;
	if (epoll_ctl(h->exit_epfd, EPOLL_CTL_ADD, h->enclave_fd, &ev) < 0)
		return err_set(errno, "cannot watch the enclave descriptor: %s", strerror(errno));
	ev.data.fd = h->term_efd;
	if (epoll_ctl(h->exit_epfd, EPOLL_CTL_ADD, h->term_efd, &ev) < 0)
		return err_set(errno, "cannot watch the terminate event: %s", strerror(errno));
	return 0;
}

int ne_hv_create_slot(const struct ne_driver_ops *dops, const struct hypervisor_ops *hops,
		      const struct hv_slot_config *cfg, struct hypervisor **out, uint64_t *slot_uid,
		      struct hv_fault *fault)
{
	struct ne_hv *h = calloc(1, sizeof(*h));
	uint64_t uid = 0;
	int ret;

	if (!h)
		return err_set(ENOMEM, "out of memory");
	h->hv.ops = hops;
	h->cfg = *cfg;
	h->dops = dops;
	h->dev_fd = h->enclave_fd = h->term_efd = h->exit_epfd = -1;
	h->trace = cfg->nitro.trace;
	h->pool = calloc(1, sizeof(*h->pool));
	h->drv = dops->create(cfg);
	if (!h->pool || !h->drv) {
		ret = h->pool ? -ENODEV : err_set(ENOMEM, "out of memory");
		goto fail;
	}
	/* The device first (not an ioctl): without the driver nothing else matters. */
	ret = open_device(dops, h->drv, device_path(cfg), fault);
	if (ret < 0)
		goto fail;
	h->dev_fd = ret;
	ret = prepare(dops, h->drv, cfg, h->pool, &h->plan, fault);
	if (ret < 0)
		goto fail;
	ret = ne_ioctl(h, h->dev_fd, NE_IOCTL_CREATE_VM, &uid, fault);
	if (ret < 0)
		goto fail;
	h->enclave_fd = ret;
	ret = watch_exit(h);
	if (ret < 0)
		goto fail;
	*slot_uid = uid;
	*out = &h->hv;
	return 0;
fail:
	ne_destroy(&h->hv);
	return ret;
}

static int ne_alloc_memory(struct hypervisor *hv, uint64_t size, struct hv_region *regions,
			   unsigned int *nregions, struct hv_fault *fault)
{
	struct ne_hv *h = to_ne(hv);
	int ret = 0;

	if (h->mem.window)
		return err_set(EBUSY, "enclave memory is already allocated");
	/* Planned in create_slot for cfg.memory_size; a caller that did not say it beforehand is planned now.
	 */
	if (h->plan.total < size) {
		ret = hugepages_read(h->pool->node, &h->plan);
		if (!ret)
			ret = hugepages_plan(&h->plan, size);
	}
	if (!ret)
		ret = hugepages_map(&h->plan, h->drv->small_pages, &h->mem);
	if (ret < 0) {
		fault->cls = HV_FAULT_MEMORY;
		return ret;
	}
	if (h->mem.nregions > HV_MAX_REGIONS)
		return err_set(ENOSPC, "enclave memory needs %u regions (at most %d)", h->mem.nregions,
			       HV_MAX_REGIONS);
	memcpy(regions, h->mem.regions, h->mem.nregions * sizeof(*regions));
	*nregions = h->mem.nregions;
	return 0;
}

static int ne_image_load_info(struct hypervisor *hv, uint64_t *offset, struct hv_fault *fault)
{
	struct ne_hv *h = to_ne(hv);
	struct ne_image_load_info info = {.flags = NE_EIF_IMAGE};
	int ret = ne_ioctl(h, h->enclave_fd, NE_IOCTL_GET_IMAGE_LOAD_INFO, &info, fault);

	if (ret < 0)
		return ret;
	/* The driver's answer, not QEMU's hard-coded 8 MiB: the pipeline checks the EIF fits after it. */
	*offset = info.memory_offset;
	return 0;
}

static int ne_add_memory_region(struct hypervisor *hv, const struct hv_region *r, struct hv_fault *fault)
{
	struct ne_hv *h = to_ne(hv);
	struct ne_user_memory_region m = {
		.flags = NE_DEFAULT_MEMORY_REGION,
		.memory_size = r->size,
		.userspace_addr = (uint64_t)(uintptr_t)r->hva,
	};
	int ret = ne_ioctl(h, h->enclave_fd, NE_IOCTL_SET_USER_MEMORY_REGION, &m, fault);

	return ret < 0 ? ret : 0;
}

static int ne_add_vcpu(struct hypervisor *hv, uint32_t *cpu_id, struct hv_fault *fault)
{
	struct ne_hv *h = to_ne(hv);
	uint32_t id = *cpu_id;
	int ret = ne_ioctl(h, h->enclave_fd, NE_IOCTL_ADD_VCPU, &id, fault);

	if (ret < 0)
		return ret;
	*cpu_id = id;
	return 0;
}

static int ne_start(struct hypervisor *hv, uint64_t cid, bool debug_mode, uint64_t *cid_out,
		    struct hv_fault *fault)
{
	struct ne_hv *h = to_ne(hv);
	struct ne_enclave_start_info info = {
		.flags = debug_mode ? NE_ENCLAVE_DEBUG_MODE : NE_ENCLAVE_PRODUCTION_MODE,
		.enclave_cid = cid,
	};
	int ret = ne_ioctl(h, h->enclave_fd, NE_IOCTL_START_ENCLAVE, &info, fault);

	if (ret < 0)
		return ret;
	clock_gettime(CLOCK_MONOTONIC, &h->t_start);
	h->started = true;
	*cid_out = info.enclave_cid;
	return 0;
}

static int ne_console_fd(struct hypervisor *hv)
{
	(void)hv;
	return -1; /* the console is a vsock stream (CID 0, port CID + 10000), debug mode only */
}

static int ne_exit_fd(struct hypervisor *hv)
{
	return to_ne(hv)->exit_epfd;
}

static void ne_terminate(struct hypervisor *hv)
{
	struct ne_hv *h = to_ne(hv);
	uint64_t one = 1;

	h->terminated = true;
	if (write(h->term_efd, &one, sizeof(one)) < 0) {
		/* A fresh eventfd cannot overflow from one write. */
	}
}

static bool hung_up(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL));
}

static void ne_wait_exit(struct hypervisor *hv, struct hv_exit *e)
{
	struct ne_hv *h = to_ne(hv);
	struct timespec now;
	bool hup = h->enclave_fd >= 0 && hung_up(h->enclave_fd);

	memset(e, 0, sizeof(*e));
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (h->started)
		e->seconds = (double)(now.tv_sec - h->t_start.tv_sec) +
			     (double)(now.tv_nsec - h->t_start.tv_nsec) / 1e9;
	/* Closing the descriptor is how an enclave is stopped (ENCLAVE_STOP, then SLOT_FREE, in the driver).
	 */
	if (h->enclave_fd >= 0) {
		h->dops->close(h->drv, h->enclave_fd);
		h->enclave_fd = -1;
	}
	if (hup && !h->terminated) {
		e->reason = HV_EXIT_HANGUP;
		snprintf(e->detail, sizeof(e->detail), "the enclave stopped (its descriptor hung up)");
	} else {
		e->reason = HV_EXIT_TERMINATED;
		snprintf(e->detail, sizeof(e->detail), "the enclave was terminated");
	}
	if (h->dops->exit_detail)
		h->dops->exit_detail(h->drv, e);
}

static struct vsock_host *ne_vsock_host(struct hypervisor *hv)
{
	struct ne_hv *h = to_ne(hv);

	return h->dops->vsock_host(h->drv);
}

/* ---- the real driver: ioctl(2) on /dev/nitro_enclaves ---- */

struct ne_real {
	struct ne_driver d;
	struct vsock_host *vsock;
};

static struct ne_driver *real_create(const struct hv_slot_config *cfg)
{
	struct ne_real *r = calloc(1, sizeof(*r));

	(void)cfg;
	if (!r) {
		err_set(ENOMEM, "out of memory");
		return NULL;
	}
	r->d.ops = &ne_real_driver_ops;
	return &r->d;
}

static int real_open(struct ne_driver *d, const char *device)
{
	int fd = open(device, O_RDWR | O_CLOEXEC);

	(void)d;
	return fd < 0 ? -errno : fd;
}

static int real_ioctl(struct ne_driver *d, int fd, unsigned long request, void *arg)
{
	int ret;

	(void)d;
	do
		ret = ioctl(fd, request, arg);
	while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : ret;
}

static void real_close(struct ne_driver *d, int fd)
{
	(void)d;
	close(fd);
}

static int real_cpu_pool(struct ne_driver *d, char *buf, size_t len)
{
	(void)d;
	return cpu_pool_read_param(buf, len);
}

static struct vsock_host *real_vsock_host(struct ne_driver *d)
{
	struct ne_real *r = (struct ne_real *)d;

	/* Created on first use, after NE_CREATE_VM: a host without vsock fails the heartbeat, not the slot.
	 */
	if (!r->vsock)
		r->vsock = vsock_afvsock_create();
	return r->vsock;
}

static void real_destroy(struct ne_driver *d)
{
	struct ne_real *r = (struct ne_real *)d;

	vsock_host_destroy(r->vsock);
	free(r);
}

const struct ne_driver_ops ne_real_driver_ops = {
	.name = "nitro",
	.create = real_create,
	.open = real_open,
	.ioctl = real_ioctl,
	.close = real_close,
	.cpu_pool = real_cpu_pool,
	.vsock_host = real_vsock_host,
	.destroy = real_destroy,
};

/* ---- the two hypervisors: the same launch over either driver ---- */

/* The Nitro hypervisor's machine is AWS's: a shape asked of nitrovm's emulated one is refused, not dropped. */
static const char *emulated_option(const struct hv_kvm_options *k)
{
	return k->device	     ? "a KVM device"
	       : k->hugepages	     ? "huge pages for the emulated machine"
	       : k->acpi	     ? "ACPI tables"
	       : k->test_rng	     ? "the test RNG device"
	       : k->seccomp	     ? "vCPU threads' system-call allow-lists"
	       : k->extra_cmdline    ? "an extra kernel command line"
	       : k->kernel_boot	     ? "a kernel boot path"
	       : k->parent_role	     ? "a parent role for PCR3"
	       : k->vsock_vhost_user ? "a vhost-user vsock"
	       : k->nsm_issuer	     ? "nitrovm's NSM certificate issuer"
				     : NULL;
}

static int nitro_create_slot(const struct hv_slot_config *cfg, struct hypervisor **out, uint64_t *slot_uid,
			     struct hv_fault *fault)
{
	const char *what = emulated_option(&cfg->kvm);

	if (what)
		return err_set(EINVAL, "the Nitro hypervisor runs AWS's machine, which takes no %s from nitrovm", what);
	return ne_hv_create_slot(&ne_real_driver_ops, &hv_nitro_ops, cfg, out, slot_uid, fault);
}

static int nitro_sim_create_slot(const struct hv_slot_config *cfg, struct hypervisor **out,
				 uint64_t *slot_uid, struct hv_fault *fault)
{
	return ne_hv_create_slot(&ne_sim_driver_ops, &hv_nitro_sim_ops, cfg, out, slot_uid, fault);
}

#define NE_HV_OPS                                                                              \
	.alloc_memory = ne_alloc_memory, .image_load_info = ne_image_load_info,                \
	.add_memory_region = ne_add_memory_region, .add_vcpu = ne_add_vcpu, .start = ne_start, \
	.console_fd = ne_console_fd, .exit_fd = ne_exit_fd, .terminate = ne_terminate,         \
	.wait_exit = ne_wait_exit, .destroy = ne_destroy, .vsock_host = ne_vsock_host

const struct hypervisor_ops hv_nitro_ops = {
	.name = "nitro",
	.create_slot = nitro_create_slot,
	NE_HV_OPS,
};

const struct hypervisor_ops hv_nitro_sim_ops = {
	.name = "nitro-sim",
	.create_slot = nitro_sim_create_slot,
	NE_HV_OPS,
};
