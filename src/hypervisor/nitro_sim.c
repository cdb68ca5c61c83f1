// SPDX-License-Identifier: MIT
/*
 * The simulated Nitro Enclaves driver (nitro.h, "the seam"): open, ioctl and close with the real driver's
 * requests, rules, order of checks and NE_ERR_* codes (drivers/virt/nitro_enclaves/ne_misc_dev.c), so that
 * the native launch in nitro.c -- CPU pool and huge-page checks, the ioctl sequence, error sentences,
 * AF_VSOCK-shaped parent side, exit by hang-up -- runs end to end without an EC2 instance.  At
 * NE_START_ENCLAVE it does what the Nitro hypervisor does with the donated memory: it hands it, the EIF at
 * the offset it reported, to nitrovm's own hypervisor (hypervisor/kvm), whose emulated vsock then serves the
 * parent's endpoints.  When that machine ends, the enclave descriptor hangs up, as the real one does.
 *
 * Selected only by name (--hypervisor nitro-sim, NITROVM_HYPERVISOR=nitro-sim), never as a fallback.
 *
 * What it takes from the environment (test hooks: test builds only, -Dtest_hooks=true):
 *   NITROVM_SIM_CPU_POOL     the ne_cpus parameter (default: the file under NITROVM_SYSFS_ROOT, as the
 * driver) NITROVM_SIM_SMALL_PAGES  =1: map ordinary pages and accept them where the driver wants huge pages
 * (for machines where huge pages cannot be reserved; every other rule still applies); =strict: map ordinary
 * pages and refuse them as the driver does (tests that rule) NITROVM_SIM_FAIL         REQUEST:CODE, e.g.
 * NE_START_ENCLAVE:264 -- that ioctl fails with that code, for the errors no simulated machine produces (NUMA
 * nodes, region limits of the device)
 *
 * What it does not simulate: several enclaves sharing the pool (one per process), the mm check (EIO),
 * physical contiguity (each region counts as one range toward the region limit), NUMA placement of pages.
 */
#include "hypervisor/nitro.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/util.h"
#include "vsock/endpoint.h"
#include "vsock/vsock.h"

#define SIM_CPU_POOL_ENV    "NITROVM_SIM_CPU_POOL"
#define SIM_SMALL_PAGES_ENV "NITROVM_SIM_SMALL_PAGES"
#define SIM_FAIL_ENV	    "NITROVM_SIM_FAIL"
/* The device's SLOT_ALLOC answer (mem_regions); the real one comes from the Nitro hypervisor. */
#define SIM_MAX_MEM_REGIONS 256
/* Auto-assigned CIDs start here (what nitro-cli's logs show on EC2). */
#define SIM_CID_AUTO_FIRST 16
/*
 * The end of user space, past which the driver's access_ok() fails: x86-64 with 4-level page tables, arm64 with
 * 48-bit virtual addresses (a 52-bit kernel still gives user space 48 bits unless asked for more).
 */
#if defined(__aarch64__)
#define SIM_TASK_SIZE 0x1000000000000ULL
#else
#define SIM_TASK_SIZE 0x7ffffffff000ULL
#endif
#define SIM_DRAIN_CHUNK	   4096
#define SIM_SMAPS_LINE_MAX 512

enum sim_state { SIM_EMPTY, SIM_INIT, SIM_RUNNING, SIM_STOPPED };

struct sim_region {
	uint64_t addr, size;
};

struct ne_sim;

/* The parent's vsock as the simulated hypervisor serves it: the emulated one, console in debug mode only. */
struct sim_vsock {
	struct vsock_host host;
	struct ne_sim *sim;
};

struct ne_sim {
	struct ne_driver d;
	struct hv_slot_config cfg;
	int dev_fd;	/* a token standing for the open device */
	int enclave_fd; /* what NE_CREATE_VM returns: a pipe's read end */
	int hup_fd;	/* its write end, closed when the enclave stops: the reader then sees a hang-up */
	enum sim_state state;
	struct cpu_pool *pool;	/* the pool as the driver set it up ("" after a bad write) */
	struct cpu_set avail;	/* pool CPUs whose core no enclave took */
	struct cpu_set threads; /* the threads of the cores this enclave took */
	struct cpu_set vcpus;	/* the vCPUs added */
	unsigned int nr_vcpus, nr_threads_per_core, nr_parent_vm_cores;
	struct sim_region regions[SIM_MAX_MEM_REGIONS];
	unsigned int nregions;
	uint64_t mem_size;
	bool accept_small_pages;    /* NITROVM_SIM_SMALL_PAGES=1 */
	unsigned long fail_request; /* NITROVM_SIM_FAIL */
	int fail_code;
	/* the machine the memory is handed to */
	struct hypervisor *kvm;
	struct sim_vsock vsock;
	bool debug;
	bool kvm_exited;
	struct hv_exit kvm_exit;
};

static int sim_machine(struct ne_sim *s);

/* Its settings from the environment: test hooks, read only by test builds (-Dtest_hooks=true). */
static const char *sim_env(const char *name)
{
#ifdef NITROVM_TEST_HOOKS
	return getenv(name);
#else
	(void)name;
	return NULL;
#endif
}

static struct ne_sim *to_sim(struct ne_driver *d)
{
	return (struct ne_sim *)d;
}

static int sim_core(const struct ne_sim *s, unsigned int cpu)
{
	const struct cpu_topo *t = &s->pool->cpu[cpu];

	return t->known ? t->core_id : (int)cpu;
}

/* ne_setup_cpu_pool: a pool that breaks a rule leaves the driver with none. */
static void sim_setup_pool(struct ne_sim *s)
{
	char list[NE_CPUS_SIZE + 1];
	const char *env = sim_env(SIM_CPU_POOL_ENV);
	struct hv_fault fault;

	if (env)
		snprintf(list, sizeof(list), "%s", env);
	else if (cpu_pool_read_param(list, sizeof(list)) < 0)
		list[0] = '\0';
	if (cpu_pool_load(s->pool, list, &fault) < 0) {
		memset(&s->pool->cpus, 0, sizeof(s->pool->cpus));
		s->pool->ncpus = 0;
	}
	err_clear();
	s->avail = s->pool->cpus;
	s->nr_threads_per_core = s->pool->threads_per_core ? s->pool->threads_per_core : 1;
	s->nr_parent_vm_cores = s->pool->nr_cpu_ids / s->nr_threads_per_core;
}

static void sim_parse_fail(struct ne_sim *s)
{
	static const unsigned long requests[] = {NE_IOCTL_CREATE_VM, NE_IOCTL_ADD_VCPU,
						 NE_IOCTL_GET_IMAGE_LOAD_INFO,
						 NE_IOCTL_SET_USER_MEMORY_REGION, NE_IOCTL_START_ENCLAVE};
	const char *env = sim_env(SIM_FAIL_ENV), *colon;

	if (!env || !(colon = strchr(env, ':')))
		return;
	for (size_t i = 0; i < ARRAY_SIZE(requests); i++) {
		const char *name = ne_ioctl_name(requests[i]);

		if (strlen(name) == (size_t)(colon - env) && !strncmp(env, name, strlen(name))) {
			s->fail_request = requests[i];
			s->fail_code = atoi(colon + 1);
		}
	}
}

static struct ne_driver *sim_create(const struct hv_slot_config *cfg)
{
	struct ne_sim *s = calloc(1, sizeof(*s));
	const char *small = sim_env(SIM_SMALL_PAGES_ENV);

	if (!s || !(s->pool = calloc(1, sizeof(*s->pool)))) {
		free(s);
		err_set(ENOMEM, "out of memory");
		return NULL;
	}
	s->d.ops = &ne_sim_driver_ops;
	/* "1": ordinary pages, accepted; "strict": ordinary pages, refused like the driver does (tests the
	 * rule) */
	s->d.small_pages = small && (!strcmp(small, "1") || !strcmp(small, "strict"));
	s->accept_small_pages = small && !strcmp(small, "1");
	s->cfg = *cfg;
	s->dev_fd = s->enclave_fd = s->hup_fd = -1;
	s->vsock.sim = s;
	sim_setup_pool(s);
	sim_parse_fail(s);
	return &s->d;
}

static int sim_open(struct ne_driver *d, const char *device)
{
	struct ne_sim *s = to_sim(d);
	int fd = eventfd(0, EFD_CLOEXEC);

	(void)device; /* the simulated device has no node */
	if (fd < 0)
		return -errno;
	if (s->dev_fd < 0)
		s->dev_fd = fd;
	return fd;
}

/* ---- the parent's vsock ---- */

static struct vsock_host *kvm_host(struct ne_sim *s)
{
	return s->kvm ? s->kvm->ops->vsock_host(s->kvm) : NULL;
}

static int sv_listen(struct vsock_host *h, uint32_t port)
{
	struct ne_sim *s = ((struct sim_vsock *)h)->sim;

	return vsock_listen(kvm_host(s), port);
}

static int sv_accept(struct vsock_host *h, int lfd, uint64_t *peer_cid, uint32_t *peer_port)
{
	return vsock_accept(kvm_host(((struct sim_vsock *)h)->sim), lfd, peer_cid, peer_port);
}

static void sv_unlisten(struct vsock_host *h, int lfd)
{
	vsock_unlisten(kvm_host(((struct sim_vsock *)h)->sim), lfd);
}

static int sv_connect(struct vsock_host *h, uint64_t cid, uint32_t port)
{
	struct ne_sim *s = ((struct sim_vsock *)h)->sim;

	/* The Nitro hypervisor serves the console only to enclaves started in debug mode (nitro-cli's rule too). */
	if (cid == VSOCK_CID_HYPERVISOR && !s->debug)
		return err_set(ECONNREFUSED,
			       "the enclave runs in production mode: its console (vsock CID 0) is "
			       "served only in debug mode");
	return vsock_connect(kvm_host(s), cid, port);
}

static void sv_destroy(struct vsock_host *h)
{
	(void)h; /* the emulated host belongs to the machine, freed with it */
}

static const struct vsock_host_ops sim_vsock_ops = {
	.name = "emulated (nitro-sim)",
	.listen = sv_listen,
	.accept = sv_accept,
	.unlisten = sv_unlisten,
	.connect = sv_connect,
	.destroy = sv_destroy,
};

static struct vsock_host *sim_vsock_host(struct ne_driver *d)
{
	struct ne_sim *s = to_sim(d);

	if (s->state == SIM_EMPTY) {
		err_set(ENOTCONN, "the simulated enclave has no slot yet");
		return NULL;
	}
	if (sim_machine(s) < 0) {
		err_set(ENODEV, "%s", s->d.why);
		return NULL;
	}
	s->vsock.host.ops = &sim_vsock_ops;
	return &s->vsock.host;
}

/* ---- NE_CREATE_VM ---- */

static bool sim_pool_has_free_core(const struct ne_sim *s)
{
	return cpu_set_count(&s->avail) > 0;
}

/*
 * The machine behind the slot, created when first needed: by the parent's vsock (the heartbeat listener is
 * bound before the start) or by the start.  Until then the simulated driver needs no /dev/kvm (unit tests).
 */
static int sim_machine(struct ne_sim *s)
{
	struct hv_slot_config kcfg = s->cfg;
	struct hv_fault unclassified = { 0 };
	uint64_t unused;
	int ret;

	if (s->kvm)
		return 0;
	kcfg.kvm.hugepages = false; /* the memory comes from the donated regions, not from the kvm backend */
	ret = hv_kvm_ops.create_slot(&kcfg, &s->kvm, &unused, &unclassified);
	if (ret < 0) {
		s->kvm = NULL;
		snprintf(s->d.why, sizeof(s->d.why), "the simulated Nitro hypervisor cannot run: %s",
			 err_msg());
	}
	return ret;
}

static int sim_create_vm(struct ne_sim *s, uint64_t *slot_uid)
{
	uint64_t uid = 0;
	int pipefd[2];

	if (!sim_pool_has_free_core(s))
		return -NE_ERR_NO_CPUS_AVAIL_IN_POOL;
	if (s->state != SIM_EMPTY) {
		snprintf(s->d.why, sizeof(s->d.why), "the simulated driver runs one enclave per process");
		return -EBUSY;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	while (!uid)
		if (getrandom(&uid, sizeof(uid), 0) != sizeof(uid))
			uid = (uint64_t)getpid();
	s->enclave_fd = pipefd[0];
	s->hup_fd = pipefd[1];
	s->state = SIM_INIT;
	*slot_uid = uid;
	return s->enclave_fd;
}

/* ---- NE_ADD_VCPU ---- */

/* Take every pool thread of core for this enclave (ne_set_enclave_threads_per_core). */
static void sim_take_core(struct ne_sim *s, int core)
{
	for (unsigned int c = 0; c < NE_MAX_CPUS; c++)
		if (cpu_set_has(&s->avail, c) && sim_core(s, c) == core) {
			cpu_set_add(&s->threads, c);
			cpu_set_del(&s->avail, c);
		}
}

static int sim_lowest_free_core(const struct ne_sim *s)
{
	int best = -1;

	for (unsigned int c = 0; c < NE_MAX_CPUS; c++)
		if (cpu_set_has(&s->avail, c) && (best < 0 || sim_core(s, c) < best))
			best = sim_core(s, c);
	return best;
}

static int sim_add_vcpu(struct ne_sim *s, uint32_t *vcpu_id)
{
	uint32_t id = *vcpu_id;

	if (s->state != SIM_INIT)
		return -NE_ERR_NOT_IN_INIT_STATE;
	if (id >= s->nr_parent_vm_cores * s->nr_threads_per_core)
		return -NE_ERR_INVALID_VCPU;
	if (!id) {
		/* First the free threads of cores already taken, then the lowest free core. */
		for (unsigned int c = 0; c < NE_MAX_CPUS && !id; c++)
			if (cpu_set_has(&s->threads, c) && !cpu_set_has(&s->vcpus, c))
				id = c;
		if (!id) {
			int core = sim_lowest_free_core(s);

			if (core < 0)
				return -NE_ERR_NO_CPUS_AVAIL_IN_POOL;
			if (core >= (int)s->nr_parent_vm_cores)
				return -NE_ERR_VCPU_INVALID_CPU_CORE;
			sim_take_core(s, core);
			for (unsigned int c = 0; c < NE_MAX_CPUS && !id; c++)
				if (cpu_set_has(&s->threads, c) && !cpu_set_has(&s->vcpus, c))
					id = c;
		}
	} else {
		if (cpu_set_has(&s->vcpus, id))
			return -NE_ERR_VCPU_ALREADY_USED;
		if (!cpu_set_has(&s->threads, id)) {
			if (!cpu_set_has(&s->avail, id))
				return -NE_ERR_VCPU_NOT_IN_CPU_POOL;
			if (sim_core(s, id) >= (int)s->nr_parent_vm_cores)
				return -NE_ERR_VCPU_INVALID_CPU_CORE;
			sim_take_core(s, sim_core(s, id));
		}
	}
	if (s->nr_vcpus == HV_MAX_VCPUS) {
		snprintf(s->d.why, sizeof(s->d.why), "the simulated hypervisor runs at most %d vCPUs",
			 HV_MAX_VCPUS);
		return -ENOSPC;
	}
	cpu_set_add(&s->vcpus, id);
	s->nr_vcpus++;
	*vcpu_id = id;
	return 0;
}

/* ---- NE_GET_IMAGE_LOAD_INFO ---- */

static int sim_image_load_info(struct ne_sim *s, struct ne_image_load_info *info)
{
	if (s->state != SIM_INIT)
		return -NE_ERR_NOT_IN_INIT_STATE;
	if (!info->flags || info->flags >= NE_IMAGE_LOAD_MAX_FLAG_VAL)
		return -NE_ERR_INVALID_FLAG_VALUE;
	info->memory_offset = NE_EIF_LOAD_OFFSET;
	return 0;
}

/* ---- NE_SET_USER_MEMORY_REGION ---- */

/*
 * The page checks the driver makes on every page it pins, from /proc/self/smaps: the range must be mapped
 * (else get_user_pages fails: EFAULT) by hugetlb mappings (KernelPageSize >= 2 MiB: PageHuge) whose page size
 * is a multiple of 2 MiB.
 */
static int sim_check_pages(struct ne_sim *s, uint64_t addr, uint64_t size)
{
	char line[SIM_SMAPS_LINE_MAX];
	uint64_t cursor = addr, end = addr + size, vstart = 0, vend = 0;
	int ret = 0;
	FILE *f = fopen("/proc/self/smaps", "re");

	if (!f)
		return -errno;
	while (!ret && cursor < end && fgets(line, sizeof(line), f)) {
		unsigned long long a, b, kps;

		if (sscanf(line, "%llx-%llx ", &a, &b) == 2 && strchr(line, ' ') > strchr(line, '-')) {
			vstart = a;
			vend = b;
			if (vstart > cursor && vstart < end)
				ret = -EFAULT; /* a hole in the range */
			continue;
		}
		if (sscanf(line, "KernelPageSize: %llu kB", &kps) != 1 || vend <= cursor || vstart >= end)
			continue;
		if (kps * KiB < NE_MIN_MEM_REGION_SIZE && !s->accept_small_pages)
			ret = -NE_ERR_MEM_NOT_HUGE_PAGE;
		else if ((kps * KiB) % NE_MIN_MEM_REGION_SIZE && !s->accept_small_pages)
			ret = -NE_ERR_INVALID_PAGE_SIZE;
		cursor = vend;
	}
	fclose(f);
	if (!ret && cursor < end)
		ret = -EFAULT;
	if (ret == -EFAULT)
		snprintf(s->d.why, sizeof(s->d.why), "pages of 0x%llx-0x%llx are not mapped",
			 (unsigned long long)addr, (unsigned long long)end);
	return ret;
}

static int sim_set_memory_region(struct ne_sim *s, const struct ne_user_memory_region *r)
{
	uint64_t addr = r->userspace_addr, size = r->memory_size;
	int ret;

	if (r->flags >= NE_MEMORY_REGION_MAX_FLAG_VAL)
		return -NE_ERR_INVALID_FLAG_VALUE;
	if (s->state != SIM_INIT)
		return -NE_ERR_NOT_IN_INIT_STATE;
	if (!size || size & (NE_MIN_MEM_REGION_SIZE - 1))
		return -NE_ERR_INVALID_MEM_REGION_SIZE;
	if (addr & (NE_MIN_MEM_REGION_SIZE - 1))
		return -NE_ERR_UNALIGNED_MEM_REGION_ADDR;
	if (addr + size < addr || addr + size > SIM_TASK_SIZE)
		return -NE_ERR_INVALID_MEM_REGION_ADDR;
	for (unsigned int i = 0; i < s->nregions; i++) {
		const struct sim_region *o = &s->regions[i];

		if ((o->addr <= addr && addr < o->addr + o->size) ||
		    (addr <= o->addr && addr + size > o->addr))
			return -NE_ERR_MEM_REGION_ALREADY_USED;
	}
	ret = sim_check_pages(s, addr, size);
	if (ret < 0)
		return ret;
	if (s->nregions + 1 > SIM_MAX_MEM_REGIONS)
		return -NE_ERR_MEM_MAX_REGIONS;
	s->regions[s->nregions++] = (struct sim_region){addr, size};
	s->mem_size += size;
	return 0;
}

/* ---- NE_START_ENCLAVE: the checks, then the machine ---- */

static void sim_on_console(void *opaque, int fd, uint32_t events)
{
	struct ne_sim *s = opaque;
	uint8_t buf[SIM_DRAIN_CHUNK];

	/* The serial line goes nowhere natively: the console is the vsock stream, as on Nitro. */
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
	}
	if (events & (EPOLLHUP | EPOLLERR))
		evloop_del(s->cfg.loop, fd);
}

static void sim_on_machine_exit(void *opaque, int fd, uint32_t events)
{
	struct ne_sim *s = opaque;

	(void)events;
	evloop_del(s->cfg.loop, fd);
	/* What the driver's poll reports once the hypervisor says the enclave stopped. */
	if (s->hup_fd >= 0) {
		close(s->hup_fd);
		s->hup_fd = -1;
	}
}

/* The donated regions in the order given, neighbours joined: enclave memory as the hypervisor sees it. */
static int sim_hand_over_memory(struct ne_sim *s, struct hv_fault *unclassified)
{
	for (unsigned int i = 0; i < s->nregions;) {
		struct hv_region r = {(uint8_t *)(uintptr_t)s->regions[i].addr, s->regions[i].size, -1, 0};
		int ret;

		for (i++; i < s->nregions && s->regions[i].addr == (uint64_t)(uintptr_t)(r.hva + r.size); i++)
			r.size += s->regions[i].size;
		ret = s->kvm->ops->add_memory_region(s->kvm, &r, unclassified);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int sim_boot(struct ne_sim *s, uint64_t cid, uint64_t *cid_out)
{
	/* The machine's failures reach the launch as this driver's errno, with its sentence (d.why). */
	struct hv_fault unclassified = { 0 };
	int ret = sim_machine(s);

	if (ret < 0)
		return ret;
	ret = sim_hand_over_memory(s, &unclassified);

	for (unsigned int i = 0; !ret && i < s->nr_vcpus; i++) {
		uint32_t id = 0;

		ret = s->kvm->ops->add_vcpu(s->kvm, &id, &unclassified);
	}
	if (!ret)
		ret = s->kvm->ops->start(s->kvm, cid, s->debug, cid_out, &unclassified);
	if (!ret && s->cfg.loop) {
		int con = s->kvm->ops->console_fd(s->kvm);

		ret = evloop_add(s->cfg.loop, s->kvm->ops->exit_fd(s->kvm), EPOLLIN, sim_on_machine_exit, s);
		if (!ret && con >= 0)
			ret = evloop_add(s->cfg.loop, con, EPOLLIN, sim_on_console, s);
	}
	if (ret < 0)
		snprintf(s->d.why, sizeof(s->d.why),
			 "the simulated Nitro hypervisor could not boot the enclave: %s", err_msg());
	return ret;
}

static int sim_start(struct ne_sim *s, struct ne_enclave_start_info *info)
{
	uint64_t cid = info->enclave_cid, cid_out = 0;
	int ret;

	if (info->flags >= NE_ENCLAVE_START_MAX_FLAG_VAL)
		return -NE_ERR_INVALID_FLAG_VALUE;
	if ((cid > 0 && cid <= VSOCK_CID_HOST) || cid == UINT32_MAX || cid == NE_PARENT_VM_CID ||
	    cid > UINT32_MAX)
		return -NE_ERR_INVALID_ENCLAVE_CID;
	if (s->state != SIM_INIT)
		return -NE_ERR_NOT_IN_INIT_STATE;
	if (!s->nregions)
		return -NE_ERR_NO_MEM_REGIONS_ADDED;
	if (s->mem_size < NE_MIN_ENCLAVE_MEM_SIZE)
		return -NE_ERR_ENCLAVE_MEM_MIN_SIZE;
	if (!s->nr_vcpus)
		return -NE_ERR_NO_VCPUS_ADDED;
	for (unsigned int c = 0; c < NE_MAX_CPUS; c++)
		if (cpu_set_has(&s->threads, c) && !cpu_set_has(&s->vcpus, c))
			return -NE_ERR_FULL_CORES_NOT_USED;
	s->debug = info->flags & NE_ENCLAVE_DEBUG_MODE;
	ret = sim_boot(s, cid ? cid : SIM_CID_AUTO_FIRST, &cid_out);
	if (ret < 0)
		return ret;
	s->state = SIM_RUNNING;
	info->enclave_cid = cid_out;
	return 0;
}

static int sim_ioctl(struct ne_driver *d, int fd, unsigned long request, void *arg)
{
	struct ne_sim *s = to_sim(d);

	if (fd < 0 || (fd != s->dev_fd && fd != s->enclave_fd))
		return -EBADF;
	if (s->fail_request == request && s->fail_code > 0)
		return -s->fail_code;
	if (fd == s->dev_fd)
		return request == NE_IOCTL_CREATE_VM ? sim_create_vm(s, arg) : -ENOTTY;
	switch (request) {
	case NE_IOCTL_ADD_VCPU:
		return sim_add_vcpu(s, arg);
	case NE_IOCTL_GET_IMAGE_LOAD_INFO:
		return sim_image_load_info(s, arg);
	case NE_IOCTL_SET_USER_MEMORY_REGION:
		return sim_set_memory_region(s, arg);
	case NE_IOCTL_START_ENCLAVE:
		return sim_start(s, arg);
	}
	return -ENOTTY;
}

/* ne_enclave_release: stop the enclave, free the slot, give the cores back to the pool. */
static void sim_release(struct ne_sim *s)
{
	if (s->kvm && s->state == SIM_RUNNING && s->cfg.loop) {
		int con = s->kvm->ops->console_fd(s->kvm);

		evloop_del(s->cfg.loop, s->kvm->ops->exit_fd(s->kvm));
		if (con >= 0)
			evloop_del(s->cfg.loop, con);
	}
	if (s->kvm && s->state == SIM_RUNNING) {
		s->kvm->ops->terminate(s->kvm);
		s->kvm->ops->wait_exit(s->kvm, &s->kvm_exit);
		s->kvm_exited = true;
	}
	s->state = SIM_STOPPED;
	for (unsigned int c = 0; c < NE_MAX_CPUS; c++)
		if (cpu_set_has(&s->threads, c))
			cpu_set_add(&s->avail, c);
	memset(&s->threads, 0, sizeof(s->threads));
	memset(&s->vcpus, 0, sizeof(s->vcpus));
	s->nr_vcpus = 0;
	if (s->hup_fd >= 0) {
		close(s->hup_fd);
		s->hup_fd = -1;
	}
	close(s->enclave_fd);
	s->enclave_fd = -1;
}

static void sim_close(struct ne_driver *d, int fd)
{
	struct ne_sim *s = to_sim(d);

	if (fd >= 0 && fd == s->enclave_fd) {
		sim_release(s);
		return;
	}
	if (fd == s->dev_fd)
		s->dev_fd = -1;
	close(fd);
}

static int sim_cpu_pool(struct ne_driver *d, char *buf, size_t len)
{
	const char *env = sim_env(SIM_CPU_POOL_ENV);

	(void)d;
	if (env) {
		snprintf(buf, len, "%s", env);
		return 0;
	}
	if (cpu_pool_read_param(buf, len) == -ENOENT)
		return err_set(ENOENT,
			       "The simulated driver has no CPU pool: set " SIM_CPU_POOL_ENV
			       " (e.g. %s=1), or " NE_SYSFS_ROOT_ENV " to a tree with %s",
			       SIM_CPU_POOL_ENV, NE_CPUS_PARAM);
	return 0;
}

static void sim_exit_detail(struct ne_driver *d, struct hv_exit *e)
{
	struct ne_sim *s = to_sim(d);
	size_t n = strlen(e->detail);

	if (!s->kvm_exited || s->kvm_exit.reason == HV_EXIT_RUNNING)
		return;
	/* Natively nothing more is known; the simulation tells tests what the machine saw, and its status. */
	snprintf(e->detail + n, sizeof(e->detail) - n, "; the simulated hypervisor saw: %s (%s)",
		 hv_exit_reason_name(s->kvm_exit.reason), s->kvm_exit.detail);
	if (e->reason == HV_EXIT_HANGUP)
		e->status = s->kvm_exit.status;
	snprintf(e->regs, sizeof(e->regs), "%s", s->kvm_exit.regs);
}

static void sim_destroy(struct ne_driver *d)
{
	struct ne_sim *s = to_sim(d);

	if (s->enclave_fd >= 0)
		sim_release(s);
	if (s->dev_fd >= 0)
		close(s->dev_fd);
	if (s->kvm)
		s->kvm->ops->destroy(s->kvm);
	free(s->pool);
	free(s);
}

const struct ne_driver_ops ne_sim_driver_ops = {
	.name = "nitro-sim",
	.create = sim_create,
	.open = sim_open,
	.ioctl = sim_ioctl,
	.close = sim_close,
	.cpu_pool = sim_cpu_pool,
	.vsock_host = sim_vsock_host,
	.exit_detail = sim_exit_detail,
	.destroy = sim_destroy,
};
