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
#define CALIBRATE_GOOD 3	   /* windows whose median is the rate */
#define CALIBRATE_TRIES 9	   /* windows at most */
#define CALIBRATE_MIN_POLLS 4	   /* fewer: the vCPU was away for most of the window */
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

/*
 * One window: the TSC cycles over CALIBRATE_TICKS of the PIT, as kHz; 0 when the PIT does not count.  *polls and
 * *backsteps say how the window went.
 */
static uint64_t calibrate_window(int *polls, int *backsteps, uint64_t *ticks, uint64_t *cycles)
{
	uint64_t elapsed = 0, t0, t1;
	uint16_t prev, cur, step;

	*backsteps = 0;
	prev = pit_read();
	t0 = rdtsc();
	for (*polls = 0; *polls < PIT_POLL_LIMIT && elapsed < CALIBRATE_TICKS; (*polls)++) {
		cur = pit_read();
		step = (uint16_t)(prev - cur); /* counts down, wraps at 65536 */
		if (step > PIT_MAX_STEP)
			(*backsteps)++;
		else
			elapsed += step;
		prev = cur;
		if (*polls == PIT_DEAD_POLLS && elapsed == 0)
			break;
	}
	t1 = rdtsc();
	*ticks = elapsed;
	*cycles = t1 - t0;
	return elapsed < CALIBRATE_TICKS ? 0 : (t1 - t0) * PIT_HZ / elapsed / 1000;
}

void time_init(void)
{
	uint64_t good[CALIBRATE_GOOD], khz = 0, ticks = 0, cycles = 0;
	int polls = 0, backsteps = 0, ngood = 0, tries;

	tsc_start = rdtsc();
	outb(PIT_CMD, PIT_MODE2_CH0);
	outb(PIT_CH0, 0); /* reload 0 = 65536: the longest period before a wrap */
	outb(PIT_CH0, 0);
	for (tries = 0; tries < CALIBRATE_TRIES && ngood < CALIBRATE_GOOD; tries++) {
		khz = calibrate_window(&polls, &backsteps, &ticks, &cycles);
		if (!khz)
			break;
		/*
		 * A window the vCPU spent mostly descheduled (a few polls) or one with an implausible result
		 * measured the host's scheduling, not the TSC: seen in the nested tier under load, where the PIT
		 * and the TSC of an emulated machine stop at different moments.  Such a window is taken again.
		 */
		if (polls >= CALIBRATE_MIN_POLLS && khz >= TSC_KHZ_MIN && khz <= TSC_KHZ_MAX)
			good[ngood++] = khz;
	}
	/* Stop the periodic mode: one last count in mode 0, then channel 0 is quiet. */
	outb(PIT_CMD, PIT_MODE0_CH0);
	outb(PIT_CH0, 0xFF);
	outb(PIT_CH0, 0xFF);
	if (!khz) {
		report_fail_machine("tsc", "PIT channel 0 does not count (%lu ticks in %d polls), assuming %lu MHz",
				    ticks, polls, tsc_khz / 1000);
		return;
	}
	if (!ngood) {
		report_fail_machine("tsc", "implausible TSC rate in %d windows, the last %lu kHz (%lu ticks, %lu TSC "
				    "cycles, %d polls, %d backward steps), assuming %lu MHz", tries, khz, ticks,
				    cycles, polls, backsteps, tsc_khz / 1000);
		return;
	}
	/* The median of the good windows (insertion sort: at most CALIBRATE_GOOD of them). */
	for (int i = 1; i < ngood; i++)
		for (int j = i; j > 0 && good[j - 1] > good[j]; j--) {
			uint64_t t = good[j];

			good[j] = good[j - 1];
			good[j - 1] = t;
		}
	tsc_khz = good[ngood / 2];
	report_ok("tsc", "%lu MHz, calibrated against PIT channel 0: median of %d windows of %d ms (%d taken again)",
		  tsc_khz / 1000, ngood, CALIBRATE_MS, tries - ngood);
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
