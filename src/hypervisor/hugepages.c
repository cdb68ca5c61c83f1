// SPDX-License-Identifier: MIT
/*
 * Enclave memory from huge pages (nitro.h).  The driver takes only hugetlb memory (NE_ERR_MEM_NOT_HUGE_PAGE)
 * from the NUMA node of its CPU pool (NE_ERR_MEM_DIFFERENT_NUMA_NODE), so the free pages are counted in sysfs
 * before anything is created, and a shortfall is reported with the command that reserves the missing pages --
 * rather than as the driver's "Unknown error 263" halfway through the launch.
 *
 * The pages are chosen like nitro-cli does (its enclave_proc/resource_manager.rs): the largest size first while the rest is
 * at least one page of it, then the smallest first (which may overshoot by part of a page), then the smallest
 * pages not needed are dropped.  Unlike nitro-cli, which maps one region per page, every size gets one
 * mapping and the mappings sit next to each other in one address window: one NE_SET_USER_MEMORY_REGION per
 * page size, and enclave memory contiguous in our address space too (the simulated driver hands it to KVM as
 * one piece).
 */
#include "hypervisor/nitro.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/util.h"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#define MPOL_BIND_MODE	   2 /* <numaif.h> MPOL_BIND, without libnuma */
#define NUMA_NODES_MAX	   1024
#define HUGEPAGES_GLOBAL   "/sys/kernel/mm/hugepages"
#define HUGEPAGES_NODE	   "/sys/devices/system/node/node%d/hugepages"
#define HUGEPAGE_DIR_FMT   "%s/hugepages-%llukB/%s"
#define HUGEPAGE_VALUE_MAX 32
#define HUGEPAGE_HINT_ALLOCATOR                                                               \
	"or set memory_mib in /etc/nitro_enclaves/allocator.yaml and run `systemctl restart " \
	"nitro-enclaves-allocator`"

static const uint64_t nitro_cli_sizes[] = HUGEPAGE_NITRO_CLI_SIZES;

static int read_count(const char *dir, uint64_t size, const char *file, uint64_t *out)
{
	char path[PATH_MAX], val[HUGEPAGE_VALUE_MAX];

	snprintf(path, sizeof(path), HUGEPAGE_DIR_FMT, dir, (unsigned long long)(size / KiB), file);
	if (ne_sysfs_read(path, val, sizeof(val)) < 0)
		return -ENOENT;
	*out = strtoull(val, NULL, 10);
	return 0;
}

static unsigned int read_sizes(const char *dir, struct hugepage_plan *plan)
{
	plan->nsizes = 0;
	for (size_t i = 0; i < ARRAY_SIZE(nitro_cli_sizes); i++) {
		struct hugepage_size *s = &plan->sizes[plan->nsizes];

		s->size = nitro_cli_sizes[i];
		if (read_count(dir, s->size, "free_hugepages", &s->free) < 0)
			continue;
		if (read_count(dir, s->size, "nr_hugepages", &s->nr) < 0)
			s->nr = s->free;
		plan->nsizes++;
	}
	return plan->nsizes;
}

int hugepages_read(int node, struct hugepage_plan *plan)
{
	char dir[PATH_MAX];

	memset(plan, 0, sizeof(*plan));
	plan->node = -1;
	if (node >= 0) {
		snprintf(dir, sizeof(dir), HUGEPAGES_NODE, node);
		if (read_sizes(dir, plan)) {
			plan->node = node;
			return 0;
		}
	}
	if (read_sizes(HUGEPAGES_GLOBAL, plan))
		return 0;
	return err_set(ENOENT,
		       "This kernel offers no huge pages (%s is missing): enclave memory must be huge "
		       "pages; use a kernel with CONFIG_HUGETLBFS",
		       HUGEPAGES_GLOBAL);
}

/* The command that reserves `more` bytes of the smallest page size, where the counts were read. */
static void reserve_hint(const struct hugepage_plan *plan, uint64_t more, char *buf, size_t len)
{
	const struct hugepage_size *s = &plan->sizes[plan->nsizes - 1];
	uint64_t pages = (more + s->size - 1) / s->size;
	char dir[PATH_MAX];

	if (plan->node >= 0)
		snprintf(dir, sizeof(dir), HUGEPAGES_NODE, plan->node);
	else
		snprintf(dir, sizeof(dir), HUGEPAGES_GLOBAL);
	snprintf(buf, len, "echo %llu > " HUGEPAGE_DIR_FMT, (unsigned long long)(s->nr + pages), dir,
		 (unsigned long long)(s->size / KiB), "nr_hugepages");
}

static void describe_free(const struct hugepage_plan *plan, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned int i = 0; i < plan->nsizes && used < len; i++) {
		const struct hugepage_size *s = &plan->sizes[i];
		int n = snprintf(buf + used, len - used, "%s%llu x %llu %s", i ? ", " : "",
				 (unsigned long long)s->free,
				 (unsigned long long)(s->size >= GiB ? s->size / GiB : s->size / MiB),
				 s->size >= GiB ? "GiB" : "MiB");

		if (n < 0)
			return;
		used += (size_t)n;
	}
}

int hugepages_plan(struct hugepage_plan *plan, uint64_t request)
{
	uint64_t left = request, avail = 0;
	char hint[PATH_MAX + 64], free_text[256], where[32];

	memset(plan->pages, 0, sizeof(plan->pages));
	plan->total = 0;
	for (unsigned int i = 0; i < plan->nsizes; i++)
		avail += plan->sizes[i].free * plan->sizes[i].size;
	if (avail < request) {
		reserve_hint(plan, request - avail, hint, sizeof(hint));
		describe_free(plan, free_text, sizeof(free_text));
		if (plan->node >= 0)
			snprintf(where, sizeof(where), "NUMA node %d", plan->node);
		else
			snprintf(where, sizeof(where), "this instance");
		return err_set(ENOMEM,
			       "Insufficient huge pages: the enclave needs %llu MiB but %s has %llu MiB free "
			       "(%s); reserve more with `%s` as root, %s",
			       (unsigned long long)(request / MiB), where, (unsigned long long)(avail / MiB),
			       free_text, hint, HUGEPAGE_HINT_ALLOCATOR);
	}
	/* Pass 1: largest first, whole pages that fit in what is left. */
	for (unsigned int i = 0; i < plan->nsizes && left; i++) {
		uint64_t n = MIN(plan->sizes[i].free, left / plan->sizes[i].size);

		plan->pages[i] = n;
		left -= n * plan->sizes[i].size;
	}
	/* Pass 2: smallest first, any page still free, until nothing is left (the last may overshoot). */
	for (unsigned int i = plan->nsizes; i-- > 0 && left;) {
		uint64_t size = plan->sizes[i].size;
		uint64_t n = MIN(plan->sizes[i].free - plan->pages[i], (left + size - 1) / size);

		plan->pages[i] += n;
		left -= MIN(left, n * size);
	}
	for (unsigned int i = 0; i < plan->nsizes; i++)
		plan->total += plan->pages[i] * plan->sizes[i].size;
	/* Trim: sorted largest first, drop trailing (smallest) pages while the rest still covers the request.
	 */
	for (unsigned int i = plan->nsizes; i-- > 0;)
		while (plan->pages[i] && plan->total - plan->sizes[i].size >= request) {
			plan->pages[i]--;
			plan->total -= plan->sizes[i].size;
		}
	return 0;
}

static void bind_to_node(void *addr, uint64_t len, int node)
{
	unsigned long mask[NUMA_NODES_MAX / (8 * sizeof(unsigned long))] = {0};

	/* Only on the real tree: a fake one's node numbers mean nothing to this kernel.  A failure is left to
	 * the driver, which says NE_ERR_MEM_DIFFERENT_NUMA_NODE if it matters. */
	if (node < 0 || node >= NUMA_NODES_MAX || ne_sysfs_root()[0])
		return;
	mask[node / (8 * sizeof(unsigned long))] = 1UL << (node % (8 * sizeof(unsigned long)));
	if (syscall(SYS_mbind, addr, len, MPOL_BIND_MODE, mask, NUMA_NODES_MAX, 0) < 0) {
		/* Single-node kernels without NUMA support: nothing to bind to. */
	}
}

static unsigned int page_shift(uint64_t size)
{
	return (unsigned int)__builtin_ctzll(size);
}

int hugepages_map(const struct hugepage_plan *plan, bool small_pages, struct hugepage_mapping *m)
{
	uint64_t align = 0, off = 0;
	uint8_t *raw, *base;

	memset(m, 0, sizeof(*m));
	for (unsigned int i = 0; i < plan->nsizes; i++)
		if (plan->pages[i] && !align)
			align = plan->sizes[i].size;
	if (!align)
		return err_set(EINVAL, "no memory was planned");
	/* A window aligned to the largest page: each size then starts aligned to its own page size. */
	raw = mmap(NULL, plan->total + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return err_set(errno, "cannot reserve %llu MiB of address space: %s",
			       (unsigned long long)(plan->total / MiB), strerror(errno));
	base = (uint8_t *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
	if (base > raw)
		munmap(raw, (size_t)(base - raw));
	if (base + plan->total < raw + plan->total + align)
		munmap(base + plan->total, (size_t)(raw + plan->total + align - (base + plan->total)));
	m->window = base;
	m->window_size = plan->total;
	for (unsigned int i = 0; i < plan->nsizes; i++) {
		const struct hugepage_size *s = &plan->sizes[i];
		uint64_t len = plan->pages[i] * s->size;
		int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
		void *p;

		if (!len)
			continue;
		if (!small_pages)
			flags |= MAP_HUGETLB | (int)(page_shift(s->size) << MAP_HUGE_SHIFT);
		/* Private hugetlb mappings reserve their pages here: a shortfall fails now, not as SIGBUS
		 * later. */
		p = mmap(base + off, len, PROT_READ | PROT_WRITE, flags, -1, 0);
		if (p == MAP_FAILED) {
			char hint[PATH_MAX + 64];
			int e = errno;

			reserve_hint(plan, len, hint, sizeof(hint));
			hugepages_unmap(m);
			return err_set(
				e == ENOMEM ? ENOMEM : e,
				"Insufficient huge pages: the kernel refused %llu pages of %llu MiB although "
				"sysfs "
				"listed them free (%s; another process may have taken them): reserve more "
				"with `%s` as root, %s",
				(unsigned long long)plan->pages[i], (unsigned long long)(s->size / MiB),
				strerror(e), hint, HUGEPAGE_HINT_ALLOCATOR);
		}
		bind_to_node(p, len, plan->node);
		m->regions[m->nregions++] = (struct hv_region){p, len, -1, 0};
		off += len;
	}
	return 0;
}

void hugepages_unmap(struct hugepage_mapping *m)
{
	if (m->window)
		munmap(m->window, m->window_size);
	memset(m, 0, sizeof(*m));
}
