// SPDX-License-Identifier: MIT
/*
 * probe_main: the order of the checks, the report format and the way out.
 *
 * Output, one line each on COM1:
 *   probe: <check>: ok <details>
 *   probe: <check>: FAIL <why>
 *   probe: <check>: skip <why>
 *   probe: <check>: info <details>     (facts that are not judged: e820 entries, ...)
 *   probe: result PASS | probe: result FAIL (<n> failures)
 * then the debug-exit port (0 = pass, 1 = fail), i8042 reset, triple fault, halt.
 */
#include "probe.h"

#define ELF_R_X86_64_RELATIVE 8

struct elf64_rela {
	uint64_t offset;
	uint64_t info;
	int64_t addend;
};

extern struct elf64_rela __rela_start[], __rela_end[];

struct probe_config cfg;
static unsigned int failures;

/*
 * The image is linked at 0 as a static PIE: pointers stored in data need the load
 * address added.  Runs before anything reads such a pointer.
 */
static void relocate(uint64_t base)
{
	for (struct elf64_rela *r = __rela_start; r < __rela_end; r++) {
		if ((uint32_t)r->info == ELF_R_X86_64_RELATIVE)
			*(uint64_t *)(base + r->offset) = base + (uint64_t)r->addend;
	}
}

static void report(const char *check, const char *verdict, const char *fmt, va_list ap)
{
	char buf[256];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	printk("probe: %s: %s%s%s\n", check, verdict, buf[0] ? " " : "", buf);
}

void report_ok(const char *check, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(check, "ok", fmt, ap);
	va_end(ap);
}

void report_fail(const char *check, const char *fmt, ...)
{
	va_list ap;

	failures++;
	va_start(ap, fmt);
	report(check, "FAIL", fmt, ap);
	va_end(ap);
}

void report_skip(const char *check, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(check, "skip", fmt, ap);
	va_end(ap);
}

void report_fail_machine(const char *check, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (cfg.qemu) {
		report(check, "skip (qemu)", fmt, ap);
	} else {
		failures++;
		report(check, "FAIL", fmt, ap);
	}
	va_end(ap);
}

void report_info(const char *check, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(check, "info", fmt, ap);
	va_end(ap);
}

/*
 * nitrovm: the debug-exit port ends the VM with our status.  QEMU: isa-debug-exit
 * (if configured) exits with (status << 1) | 1.  Otherwise i8042 reset, which is
 * what `reboot=k` uses; then a triple fault, which ends any x86 VM (QEMU's
 * microvm has no i8042; with -no-reboot it exits).  Halting forever is the last
 * resort: with an in-kernel irqchip hlt never leaves the guest.
 */
void probe_exit(bool pass)
{
	static const struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) null_idt = { 0, 0 };

	outb(DEBUG_EXIT_PORT, pass ? 0 : 1);
	outb(I8042_CMD_PORT, I8042_CMD_RESET);
	irq_disable();
	__asm__ volatile("lidt %0; ud2" : : "m"(null_idt));
	for (;;)
		__asm__ volatile("hlt");
}

/*
 * probe.hold=1: stay in the guest, interrupts off, once the result is out, so the
 * VMM's memory can be read while its guest idles (bench/boot).  With an
 * in-kernel irqchip hlt never leaves KVM_RUN: the VMM ends it (SIGTERM).
 */
static void hold(void)
{
	printk("probe: holding (probe.hold=1)\n");
	irq_disable();
	for (;;)
		__asm__ volatile("hlt");
}

/* entry_tsc: the TSC read by the first instruction of the 64-bit entry (head.S). */
void probe_main(uint8_t *bp, uint64_t load_addr, uint64_t entry_tsc)
{
	relocate(load_addr);
	serial_init();
	printk("probe: nitrovm probe guest, boot protocol 2.15, 64-bit entry reached\n");

	boot.bp = bp;
	boot.load_addr = load_addr;
	cfg.lnro = -1;
	cpu_setup();
	check_zero_page(bp);
	irq_setup();
	time_init();
	report_info("boot-tsc", "entry=%lu", entry_tsc);
	check_e820();
	check_initrd();
	check_acpi();
	check_mptable();
	check_interrupts();
	check_smp();
	check_virtio();
	check_nsm();
	check_vsock();
	report_stray_irqs();

	if (failures)
		printk("probe: result FAIL (%u failures)\n", failures);
	else
		printk("probe: result PASS\n");
	if (cfg.hold)
		hold();
	probe_exit(failures == 0);
}
