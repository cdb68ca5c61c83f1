// SPDX-License-Identifier: MIT
/*
 * Time for bounded waits: the TSC, calibrated once against PIT channel 0 (the
 * one clock every PC-compatible VM here has: KVM's in-kernel PIT, QEMU's i8254).
 * Channel 0 is read through the latch command, so no port 0x61 gate is needed
 * (QEMU microvm has no PC speaker port).  Its IRQ stays masked.
 */
#include "probe.h"

#define PIT_CH0        0x40
#define PIT_CMD        0x43
#define PIT_HZ         1193182ULL
#define PIT_MODE2_CH0  0x34 /* channel 0, lobyte/hibyte, mode 2, binary */
#define PIT_MODE0_CH0  0x30 /* channel 0, lobyte/hibyte, mode 0 (one shot) */
#define PIT_LATCH_CH0  0x00
#define CALIBRATE_MS   5
#define CALIBRATE_TICKS (PIT_HZ * CALIBRATE_MS / 1000)
#define PIT_POLL_LIMIT 50000 /* each poll is three port exits */
#define PIT_DEAD_POLLS 200   /* a counter that never moves: no PIT */
#define TSC_KHZ_FALLBACK 2000000ULL
#define TSC_KHZ_MIN    100000ULL    /* 100 MHz */
#define TSC_KHZ_MAX    10000000ULL  /* 10 GHz */
/*
 * A poll takes microseconds (three port exits), a period of the counter 55 ms, so a true wrap between two polls
 * reads as a step of nearly 65536 from a small count to a large one, and a step of more than half a period is a
 * counter that went back a little: seen in the nested tier, where the in-kernel PIT is derived from an emulated
 * clock.  Counting it as a wrap would add 65535 ticks and make the TSC look ten times slower than it is.
 */
#define PIT_MAX_STEP   0x8000

static uint64_t tsc_khz = TSC_KHZ_FALLBACK;
static uint64_t tsc_start;

static uint16_t pit_read(void)
{
	uint8_t lo, hi;

	outb(PIT_CMD, PIT_LATCH_CH0);
	lo = inb(PIT_CH0);
	hi = inb(PIT_CH0);
	return (uint16_t)(hi << 8 | lo);
}

void time_init(void)
{
	uint64_t elapsed = 0, t0, t1, khz;
	uint16_t prev, cur, step;
	int polls, backsteps = 0;

	tsc_start = rdtsc();
	outb(PIT_CMD, PIT_MODE2_CH0);
	outb(PIT_CH0, 0); /* reload 0 = 65536: the longest period before a wrap */
	outb(PIT_CH0, 0);
	prev = pit_read();
	t0 = rdtsc();
	for (polls = 0; polls < PIT_POLL_LIMIT && elapsed < CALIBRATE_TICKS; polls++) {
		cur = pit_read();
		step = (uint16_t)(prev - cur); /* counts down, wraps at 65536 */
		if (step > PIT_MAX_STEP)
			backsteps++;
		else
			elapsed += step;
		prev = cur;
		if (polls == PIT_DEAD_POLLS && elapsed == 0)
			break;
	}
	t1 = rdtsc();
	/* Stop the periodic mode: one last count in mode 0, then channel 0 is quiet. */
	outb(PIT_CMD, PIT_MODE0_CH0);
	outb(PIT_CH0, 0xFF);
	outb(PIT_CH0, 0xFF);
	if (elapsed < CALIBRATE_TICKS) {
		report_fail_machine("tsc", "PIT channel 0 does not count (%lu ticks in %d polls), assuming %lu MHz",
				    elapsed, polls, tsc_khz / 1000);
		return;
	}
	khz = (t1 - t0) * PIT_HZ / elapsed / 1000;
	if (khz < TSC_KHZ_MIN || khz > TSC_KHZ_MAX) {
		report_fail_machine("tsc", "implausible TSC rate %lu kHz (%lu ticks, %lu TSC cycles, %d polls, %d "
				    "backward steps), assuming %lu MHz", khz, elapsed, t1 - t0, polls, backsteps,
				    tsc_khz / 1000);
		return;
	}
	tsc_khz = khz;
	report_ok("tsc", "%lu MHz, calibrated against PIT channel 0 in %d polls (%d backward steps ignored)",
		  khz / 1000, polls, backsteps);
}

uint64_t time_us(void)
{
	return (rdtsc() - tsc_start) * 1000 / tsc_khz;
}

void udelay(uint64_t us)
{
	uint64_t end = time_us() + us;

	while (time_us() < end)
		cpu_relax();
}
