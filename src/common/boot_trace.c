// SPDX-License-Identifier: MIT
#include "boot_trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

struct boot_trace_stamp {
	uint64_t ns, tsc;
	bool set;
};

bool boot_trace_enabled;
static struct boot_trace_stamp stamps[BOOT_TRACE_POINTS];

uint64_t boot_trace_host_tsc(void)
{
#if defined(__x86_64__)
	return __rdtsc();
#else
	return 0;
#endif
}

void boot_trace_mark(enum boot_trace_point p)
{
	struct timespec ts;

	if (!boot_trace_enabled || stamps[p].set)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	stamps[p].tsc = boot_trace_host_tsc();
	stamps[p].ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	stamps[p].set = true;
}

/* Before main: the earliest point our own code can see, so the trace covers argument parsing too. */
__attribute__((constructor)) static void boot_trace_init(void)
{
#ifdef NITROVM_TEST_HOOKS
	const char *env = getenv(BOOT_TRACE_ENV);

	boot_trace_enabled = env && env[0] && env[0] != '0';
#endif
	boot_trace_mark(BOOT_TRACE_MAIN);
}

void boot_trace_report(int64_t guest_tsc_offset)
{
	if (!boot_trace_enabled)
		return;
	fprintf(stderr, "nitrovm: trace-start: main_ns=%llu main_tsc=%llu kvm_run_ns=%llu kvm_run_tsc=%llu "
			"end_ns=%llu end_tsc=%llu guest_tsc_offset=%lld\n",
		(unsigned long long)stamps[BOOT_TRACE_MAIN].ns, (unsigned long long)stamps[BOOT_TRACE_MAIN].tsc,
		(unsigned long long)stamps[BOOT_TRACE_KVM_RUN].ns, (unsigned long long)stamps[BOOT_TRACE_KVM_RUN].tsc,
		(unsigned long long)stamps[BOOT_TRACE_END].ns, (unsigned long long)stamps[BOOT_TRACE_END].tsc,
		(long long)guest_tsc_offset);
}
