/* SPDX-License-Identifier: MIT */
/*
 * Native mode: the Nitro Enclaves driver (/dev/nitro_enclaves) behind the hypervisor interface, and what it
 * needs around it: the CPU pool (cpu_pool.c), huge-page memory (hugepages.c) and a sentence for every error
 * the driver returns (nitro_errors.c).
 *
 * The seam between the real driver and the simulated one is struct ne_driver_ops below: open, ioctl and
 * close, with exactly the ioctl requests and argument structs of <linux/nitro_enclaves.h>.  nitro.c holds the
 * whole launch logic once (checks before any ioctl, huge-page mapping, the ioctl sequence, exit by hang-up)
 * and runs it over either driver:
 *
 *   hv_nitro_ops      nitro.c      ioctl(2) on /dev/nitro_enclaves; the parent's vsock is AF_VSOCK
 *   hv_nitro_sim_ops  nitro_sim.c  the driver's rules and NE_ERR_* codes in user space, then the donated
 * memory handed to nitrovm's KVM hypervisor; the parent's vsock is its emulated one
 *
 * Test builds point both at a fake sysfs tree with NITROVM_SYSFS_ROOT.
 */
#ifndef NITROVM_HYPERVISOR_NITRO_H
#define NITROVM_HYPERVISOR_NITRO_H

#include <linux/nitro_enclaves.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hypervisor/hypervisor.h"

/* ---- the driver ABI, as we use it (tests/unit/test_nitro_abi.c compares it with the header) ---- */

#define NE_IOCTL_CREATE_VM		0x8008AE20UL /* _IOR(0xAE, 0x20, __u64) */
#define NE_IOCTL_ADD_VCPU		0xC004AE21UL /* _IOWR(0xAE, 0x21, __u32) */
#define NE_IOCTL_GET_IMAGE_LOAD_INFO	0xC010AE22UL /* _IOWR(0xAE, 0x22, struct ne_image_load_info) */
#define NE_IOCTL_SET_USER_MEMORY_REGION 0x4018AE23UL /* _IOW(0xAE, 0x23, struct ne_user_memory_region) */
#define NE_IOCTL_START_ENCLAVE		0xC010AE24UL /* _IOWR(0xAE, 0x24, struct ne_enclave_start_info) */

#define NE_ERR_FIRST NE_ERR_VCPU_ALREADY_USED	/* 256 */
#define NE_ERR_LAST  NE_ERR_INVALID_ENCLAVE_CID /* 275 */

#define NE_DEVICE_PATH "/dev/nitro_enclaves"
/* Test hook (test builds only): another device path for the driver (a missing one, to test what is said). */
#define NE_DEVICE_ENV "NITROVM_NE_DEVICE"
/* The driver's constants (drivers/virt/nitro_enclaves/ne_misc_dev.c). */
#define NE_MIN_ENCLAVE_MEM_SIZE (64ULL << 20)
#define NE_MIN_MEM_REGION_SIZE	(2ULL << 20)
#define NE_EIF_LOAD_OFFSET	(8ULL << 20)
#define NE_PARENT_VM_CID	3
#define NE_CPUS_SIZE		512 /* the ne_cpus parameter holds at most this many characters */

/* ---- sysfs, relocatable for tests ---- */

/* Test hook (test builds only): a directory that stands for "/" when reading /sys (a fake tree); else "/". */
#define NE_SYSFS_ROOT_ENV "NITROVM_SYSFS_ROOT"
#define NE_CPUS_PARAM	  "/sys/module/nitro_enclaves/parameters/ne_cpus"

/* The prefix for sysfs paths ("" for the real tree). */
const char *ne_sysfs_root(void);
/* Read a small sysfs file (path as on a real system, under the root) without its trailing newline. */
int ne_sysfs_read(const char *path, char *buf, size_t len);

/* ---- CPU lists and the CPU pool (cpu_pool.c) ---- */

/* Test hook (test builds only): skip the CPU checks before the ioctls, to see the driver's own answers. */
#define NE_SKIP_CPU_CHECKS_ENV "NITROVM_SKIP_CPU_CHECKS"

/* The CPU ids we handle: more than the largest EC2 instance has (896 vCPUs). */
#define NE_MAX_CPUS 1024

struct cpu_set {
	uint64_t bits[NE_MAX_CPUS / 64];
};

static inline bool cpu_set_has(const struct cpu_set *s, unsigned int cpu)
{
	return cpu < NE_MAX_CPUS && (s->bits[cpu / 64] >> (cpu % 64)) & 1;
}

static inline void cpu_set_add(struct cpu_set *s, unsigned int cpu)
{
	if (cpu < NE_MAX_CPUS)
		s->bits[cpu / 64] |= 1ULL << (cpu % 64);
}

static inline void cpu_set_del(struct cpu_set *s, unsigned int cpu)
{
	if (cpu < NE_MAX_CPUS)
		s->bits[cpu / 64] &= ~(1ULL << (cpu % 64));
}

unsigned int cpu_set_count(const struct cpu_set *s);
/* The kernel's cpu-list format ("1-3,5,8-9"; blanks and a trailing newline allowed; "" is the empty set). */
int cpu_list_parse(const char *s, struct cpu_set *out);
/* The shortest cpu-list for s ("" when empty). */
void cpu_list_format(const struct cpu_set *s, char *buf, size_t len);

struct cpu_topo {
	bool known;		 /* its topology directory was there (offline CPUs have none) */
	int core_id;		 /* topology/core_id */
	int package;		 /* topology/physical_package_id */
	int node;		 /* the nodeN link in its sysfs directory; -1 unknown */
	struct cpu_set siblings; /* topology/thread_siblings_list (itself included) */
};

struct cpu_pool {
	struct cpu_set cpus; /* the ne_cpus parameter */
	unsigned int ncpus;
	unsigned int threads_per_core; /* from the pool's first CPU, else from CPU 0 */
	unsigned int nr_cpu_ids;       /* /sys/devices/system/cpu/possible, last id + 1 */
	int node;		       /* the pool's NUMA node; -1 unknown */
	bool topology_known; /* every pool CPU's siblings are known (else the driver checks the rest) */
	struct cpu_topo cpu[NE_MAX_CPUS];
};

/*
 * Read the topology of every CPU and take pool_list as the pool; check the driver's pool rules (full cores,
 * not CPU 0 or its siblings, one NUMA node).  On failure *fault is HV_FAULT_CPU_POOL.
 */
int cpu_pool_load(struct cpu_pool *p, const char *pool_list, struct hv_fault *fault);
/* The ne_cpus parameter (under the sysfs root).  -ENOENT with a sentence naming the driver when it is
 * missing. */
int cpu_pool_read_param(char *buf, size_t len);
/* A count the driver accepts: full cores, at most the pool.  Else the counts that would work (HV_FAULT_CPU_COUNT). */
int cpu_pool_check_count(const struct cpu_pool *p, unsigned int count, struct hv_fault *fault);
/* Explicit ids: none twice, all in the pool, whole cores (HV_FAULT_CPU_TWICE, _NOT_IN_POOL, _SIBLING). */
int cpu_pool_check_ids(const struct cpu_pool *p, const uint32_t *ids, unsigned int n, struct hv_fault *fault);
/* "2, 4 or 6" / "a multiple of 2 from 2 to 48": the counts this pool accepts, for messages. */
void cpu_pool_valid_counts(const struct cpu_pool *p, char *buf, size_t len);
/* The CPUs NE_ADD_VCPU with id 0 would pick, in order (the driver fills cores by core id). */
unsigned int cpu_pool_pick(const struct cpu_pool *p, unsigned int count, uint32_t *ids);

/* ---- huge pages (hugepages.c) ---- */

/* Page sizes a kernel offers: x86 has 2 MiB and 1 GiB, arm64 up to 16 GiB. */
#define HUGEPAGE_SIZES_MAX 16
/* nitro-cli's page sizes (enclave_proc/resource_manager.rs), the largest first; others are ignored. */
#define HUGEPAGE_NITRO_CLI_SIZES                                                                           \
	{                                                                                                  \
		16ULL << 30, 2ULL << 30, 1ULL << 30, 512ULL << 20, 256ULL << 20, 32ULL << 20, 16ULL << 20, \
			8ULL << 20, 2ULL << 20                                                             \
	}

struct hugepage_size {
	uint64_t size;
	uint64_t free; /* free_hugepages */
	uint64_t nr;   /* nr_hugepages: what the reservation command raises */
};

struct hugepage_plan {
	int node;	     /* the counts are node's (-1: the whole system's) */
	unsigned int nsizes; /* sizes[] from the largest down */
	struct hugepage_size sizes[HUGEPAGE_SIZES_MAX];
	uint64_t pages[HUGEPAGE_SIZES_MAX]; /* how many of sizes[i] to take */
	uint64_t total;			    /* bytes planned (can exceed the request: whole pages) */
};

/* The free pages of every size nitro-cli uses, on node (or the whole system when node < 0 or has no counts).
 */
int hugepages_read(int node, struct hugepage_plan *plan);
/*
 * nitro-cli's search: largest page size first while the rest is at least a page, then the smallest first
 * (which may overshoot), then drop the smallest pages not needed.  -ENOMEM with the exact command that would
 * reserve the missing pages when they are short.
 */
int hugepages_plan(struct hugepage_plan *plan, uint64_t request);

/* Enclave memory as mapped: one window, one region per page size in the plan, the largest first. */
struct hugepage_mapping {
	uint8_t *window;
	uint64_t window_size;
	unsigned int nregions;
	struct hv_region regions[HUGEPAGE_SIZES_MAX];
};

/*
 * Map the plan: huge pages of each size, adjacent in one address window so enclave memory is contiguous in
 * this process too.  small_pages (the simulated driver's test mode only) maps ordinary 2 MiB-aligned memory.
 */
int hugepages_map(const struct hugepage_plan *plan, bool small_pages, struct hugepage_mapping *m);
void hugepages_unmap(struct hugepage_mapping *m);

/* ---- the driver's errors (nitro_errors.c) ---- */

/* NE_ERR_* name ("NE_ERR_MEM_NOT_HUGE_PAGE"), or NULL outside 256-275. */
const char *ne_error_name(int err);
/*
 * One sentence for a failed ioctl (request one of NE_IOCTL_*, err a positive errno or NE_ERR_* code) saying
 * what to change; the driver's own name for the error in brackets.
 */
const char *ne_error_sentence(unsigned long request, int err, char *buf, size_t len);
/* "NE_SET_USER_MEMORY_REGION" for a request number. */
const char *ne_ioctl_name(unsigned long request);

/* ---- the seam: the driver ---- */

struct ne_driver;

struct ne_driver_ops {
	const char *name; /* the hypervisor's name: "nitro", "nitro-sim" */
	/* A driver for one launch (NULL with err_msg()). */
	struct ne_driver *(*create)(const struct hv_slot_config *cfg);
	/* open(device, O_RDWR | O_CLOEXEC): a descriptor or -errno. */
	int (*open)(struct ne_driver *d, const char *device);
	/* ioctl(fd, request, arg): >= 0 (NE_CREATE_VM: the enclave descriptor) or -errno / -NE_ERR_*. */
	int (*ioctl)(struct ne_driver *d, int fd, unsigned long request, void *arg);
	/* close(fd): for the enclave descriptor, the driver stops the enclave and frees its slot. */
	void (*close)(struct ne_driver *d, int fd);
	/* The ne_cpus module parameter as this driver has it. */
	int (*cpu_pool)(struct ne_driver *d, char *buf, size_t len);
	/* The parent's side of vsock (valid after NE_CREATE_VM), NULL with err_msg() when there is none. */
	struct vsock_host *(*vsock_host)(struct ne_driver *d);
	/* What more the driver knows about how the enclave ended (the simulator: the emulated machine's
	 * exit). */
	void (*exit_detail)(struct ne_driver *d, struct hv_exit *e);
	void (*destroy)(struct ne_driver *d);
};

/* What a driver may add to an errno failure of its last ioctl (the simulator: why its machine failed). */
#define NE_DRIVER_WHY_MAX 384

struct ne_driver {
	const struct ne_driver_ops *ops;
	bool small_pages; /* the simulator's test mode: ordinary pages stand in for huge pages */
	char why[NE_DRIVER_WHY_MAX];
};

extern const struct ne_driver_ops ne_real_driver_ops;
extern const struct ne_driver_ops ne_sim_driver_ops;

/* nitro.c: the hypervisor interface over a driver (nitro.c and nitro_sim.c each define their ops with it). */
int ne_hv_create_slot(const struct ne_driver_ops *dops, const struct hypervisor_ops *hops,
		      const struct hv_slot_config *cfg, struct hypervisor **out, uint64_t *slot_uid,
		      struct hv_fault *fault);

#endif
