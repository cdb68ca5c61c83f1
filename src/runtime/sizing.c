// SPDX-License-Identifier: MIT
/*
 * How many vCPUs and how much memory a container's enclave gets:
 *
 *   vCPUs: nitrovm.io/cpus, else the CPU limit (quota / period, rounded up), else the cpuset's size, else the
 *          configuration's default, else 2 on Nitro (a whole core) and 1 emulated;
 *   memory: nitrovm.io/memory-mib, else the container's limit: on Nitro the hugetlb limit (enclave memory is
 *          huge pages there), emulated the memory limit less what the monitor itself needs in the same cgroup
 *          (RT_MONITOR_OVERHEAD_MIB, and the EIF it packed in rootfs mode); else the configuration's default,
 *          else the larger of RT_DEFAULT_MEMORY_MIB and 4 x the EIF.
 *
 * Memory is always at least 4 x the EIF (nitro-cli's rule, which the launch enforces too) and a multiple of
 * 2 MiB; a limit that leaves less is refused with the number it would need, rather than booting an enclave the
 * cgroup will kill.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "enclave/launch.h"
#include "hypervisor/hypervisor.h"
#include "runtime.h"

static int annotation_number(const struct rt_bundle *b, const char *key, uint64_t max, uint64_t *out)
{
	const char *v = rt_annotation(b, key);
	char *end;
	unsigned long long n;

	if (!v)
		return 0;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (!*v || *end || errno || !n || n > max || v[0] == '-' || v[0] == '+')
		return err_set(EINVAL, "the annotation %s is '%.32s': use a number from 1 to %llu", key, v,
			       (unsigned long long)max);
	*out = n;
	return 1;
}

/* The CPUs a cpuset list names ("0-3,8"): its size, or 0 when it is not one. */
static unsigned int cpuset_size(const char *s)
{
	unsigned int n = 0;

	while (*s) {
		char *end;
		unsigned long a = strtoul(s, &end, 10), b = a;

		if (end == s)
			return 0;
		if (*end == '-') {
			s = end + 1;
			b = strtoul(s, &end, 10);
			if (end == s || b < a)
				return 0;
		}
		n += (unsigned int)MIN(b - a + 1, (unsigned long)HV_MAX_VCPUS);
		s = end;
		if (*s == ',')
			s++;
		else if (*s)
			return 0;
	}
	return n;
}

static int size_cpus(const struct rt_bundle *b, const struct rt_config *cfg, bool native, struct rt_size *out)
{
	uint64_t n = 0;
	int ret = annotation_number(b, RT_ANN_CPUS, HV_MAX_VCPUS, &n);

	if (ret < 0)
		return ret;
	if (!ret && b->cpu_quota > 0 && b->cpu_period > 0)
		n = ((uint64_t)b->cpu_quota + b->cpu_period - 1) / b->cpu_period;
	if (!ret && !n && b->cpuset[0])
		n = cpuset_size(b->cpuset);
	if (!n)
		n = cfg->cpus ? cfg->cpus : native ? 2 : 1;
	out->cpus = (unsigned int)MIN(n, (uint64_t)HV_MAX_VCPUS);
	return 0;
}

static uint64_t down_to_align(uint64_t mib)
{
	return mib / ENCLAVE_MEMORY_ALIGN_MIB * ENCLAVE_MEMORY_ALIGN_MIB;
}

static uint64_t up_to_align(uint64_t mib)
{
	return (mib + ENCLAVE_MEMORY_ALIGN_MIB - 1) / ENCLAVE_MEMORY_ALIGN_MIB * ENCLAVE_MEMORY_ALIGN_MIB;
}

/* From the container's limit; 0 when it has none. */
static uint64_t from_limit(const struct rt_bundle *b, bool native, uint64_t eif_mib, bool eif_in_memory,
			   const char **from)
{
	uint64_t limit, taken;

	if (native) {
		*from = "the container's hugetlb limit";
		return b->hugetlb_2m ? b->hugetlb_2m / MiB : b->hugetlb_1g / MiB;
	}
	if (!b->memory_limit)
		return 0;
	*from = "the container's memory limit (less what nitrovm's enclave process needs beside it)";
	limit = (uint64_t)b->memory_limit / MiB;
	taken = RT_MONITOR_OVERHEAD_MIB + (eif_in_memory ? eif_mib : 0);
	/* A limit that leaves nothing still is a limit: 1 MiB, which the check below refuses. */
	return limit > taken + ENCLAVE_MEMORY_ALIGN_MIB ? down_to_align(limit - taken) : 1;
}

int rt_size(const struct rt_bundle *b, const struct rt_config *cfg, bool native, uint64_t eif_size,
	    bool eif_in_memory, struct rt_size *out)
{
	uint64_t eif_mib = (eif_size + MiB - 1) / MiB, need = eif_mib * ENCLAVE_MEMORY_EIF_RATIO, mib = 0;
	int ret = size_cpus(b, cfg, native, out);

	if (ret)
		return ret;
	need = MAX(up_to_align(need), (uint64_t)ENCLAVE_MIN_MEMORY_MIB);
	ret = annotation_number(b, RT_ANN_MEMORY, UINT32_MAX, &mib);
	if (ret < 0)
		return ret;
	out->memory_from = "the annotation " RT_ANN_MEMORY;
	if (!ret)
		mib = from_limit(b, native, eif_mib, eif_in_memory, &out->memory_from);
	if (!mib && cfg->memory_mib) {
		mib = cfg->memory_mib;
		out->memory_from = "the configuration's memory-mib";
	}
	if (!mib) {
		out->memory_mib = MAX(need, (uint64_t)RT_DEFAULT_MEMORY_MIB);
		out->memory_from = "the default";
		return 0;
	}
	if (mib < need)
		return err_set(EINVAL, "%s gives the enclave %llu MiB, but its EIF of %llu MiB needs at least %llu "
				       "MiB (4 times the EIF): give it more memory",
			       out->memory_from, (unsigned long long)mib, (unsigned long long)eif_mib,
			       (unsigned long long)need);
	if (mib % ENCLAVE_MEMORY_ALIGN_MIB)
		return err_set(EINVAL, "%s gives the enclave %llu MiB: enclave memory comes in %d MiB pages",
			       out->memory_from, (unsigned long long)mib, ENCLAVE_MEMORY_ALIGN_MIB);
	out->memory_mib = mib;
	return 0;
}
