/* SPDX-License-Identifier: MIT */
/*
 * NITROVM_TRACE_START=1: timestamps of the start path, for bench/boot (docs/internals.md, "Measuring the start");
 * a measuring hook, read only in builds with test hooks (-Dtest_hooks=true), before main.
 * Each point is a CLOCK_MONOTONIC time and the host TSC read together, so a guest's TSC (with the offset KVM
 * gives it) can be placed on the host's clock.  Off, a mark costs one load and a branch.
 */
#ifndef NITROVM_COMMON_BOOT_TRACE_H
#define NITROVM_COMMON_BOOT_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#define BOOT_TRACE_ENV "NITROVM_TRACE_START"

enum boot_trace_point {
	BOOT_TRACE_MAIN,    /* the process's first code after the dynamic loader (a constructor) */
	BOOT_TRACE_KVM_RUN, /* vCPU 0 about to enter KVM_RUN for the first time */
	BOOT_TRACE_END,	    /* vCPU 0 out of its loop, with the guest's TSC offset read */
	BOOT_TRACE_POINTS
};

extern bool boot_trace_enabled;

uint64_t boot_trace_host_tsc(void);
/* Record a point (the first mark of each point wins). */
void boot_trace_mark(enum boot_trace_point p);
/* One line on stderr with every point and guest TSC - host TSC, for the benchmark to parse. */
void boot_trace_report(int64_t guest_tsc_offset);

#endif
