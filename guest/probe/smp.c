// SPDX-License-Identifier: MIT
/*
 * Bring up the other vCPUs the way Linux does: INIT, SIPI, SIPI to a real-mode
 * trampoline below 1 MiB, which climbs to long mode on the BSP's page tables and
 * checks in by incrementing a counter.
 */
#include "probe.h"

#define ICR_INIT          0x00000500
#define ICR_STARTUP       0x00000600
#define ICR_LEVEL_ASSERT  0x00004000
#define LOW_MEM_END       0xA0000 /* a SIPI vector addresses pages below 1 MiB */
#define MAX_APS           15
#define AP_STACK_SIZE     2048
#define INIT_DELAY_US     10000 /* MP spec: 10 ms after INIT */
#define SIPI_DELAY_US     200
#define AP_WAIT_US        1000000

extern const uint8_t trampoline_start[], trampoline_end[];
extern uint8_t tr_gdt_desc[], tr_pm32_ptr[], tr_lm_ptr[], tr_cr3[], tr_stack[], tr_entry[];
extern void ap_entry64(void);

static uint8_t ap_stacks[MAX_APS][AP_STACK_SIZE] __attribute__((aligned(16), section(".noinit.apstack")));
static volatile uint32_t ap_online;
static volatile uint32_t ap_apic_id[MAX_APS];

/* Called on the AP, from head.S. */
void ap_main(void)
{
	uint32_t n;

	idt_load();
	n = __atomic_fetch_add(&ap_online, 1, __ATOMIC_SEQ_CST);
	if (n < MAX_APS)
		ap_apic_id[n] = lapic_id_this_cpu();
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* A free RAM page below 640 KiB, clear of everything the loader gave us. */
static uint64_t trampoline_page(void)
{
	for (uint64_t page = PAGE_SIZE; page < LOW_MEM_END; page += PAGE_SIZE) {
		if (!e820_is_ram(page, PAGE_SIZE))
			continue;
		if (overlaps(page, PAGE_SIZE, (uint64_t)boot.bp, PAGE_SIZE) ||
		    overlaps(page, PAGE_SIZE, boot.cmdline_addr, cfg.cmdline_len + 1) ||
		    overlaps(page, PAGE_SIZE, boot.load_addr, boot.image_end - boot.load_addr) ||
		    overlaps(page, PAGE_SIZE, boot.initrd_addr, boot.initrd_size))
			continue;
		return page;
	}
	return 0;
}

static void patch32(uint64_t page, const uint8_t *field, uint32_t add)
{
	uint32_t *p = (uint32_t *)(page + (uint64_t)(field - trampoline_start));

	*p += add;
}

static void patch64(uint64_t page, const uint8_t *field, uint64_t v)
{
	*(uint64_t *)(page + (uint64_t)(field - trampoline_start)) = v;
}

static bool start_ap(uint64_t page, uint32_t apic_id, uint32_t index)
{
	uint32_t before = ap_online;
	uint64_t t0;

	patch64(page, tr_stack, (uint64_t)ap_stacks[index] + AP_STACK_SIZE);
	lapic_send_ipi(apic_id, ICR_INIT | ICR_LEVEL_ASSERT);
	udelay(INIT_DELAY_US);
	for (int sipi = 0; sipi < 2 && ap_online == before; sipi++) {
		lapic_send_ipi(apic_id, ICR_STARTUP | (uint32_t)(page >> 12));
		udelay(SIPI_DELAY_US);
	}
	t0 = time_us();
	while (ap_online == before && time_us() - t0 < AP_WAIT_US)
		cpu_relax();
	return ap_online != before;
}

void check_smp(void)
{
	uint32_t self = lapic_id(), want, started = 0;
	uint32_t tables = plat.acpi_cpus > plat.mp_cpus ? plat.acpi_cpus : plat.mp_cpus;
	uint64_t page;
	size_t len = (size_t)(trampoline_end - trampoline_start);

	want = cfg.cpus ? cfg.cpus : tables;
	if (cfg.cpus && tables && cfg.cpus != tables)
		report_fail_machine("smp", "probe.cpus=%u but the tables list %u cpus", cfg.cpus, tables);
	if (want <= 1) {
		report_ok("smp", "1 cpu online (%s)", want ? "the tables list one" : "no tables, assuming one");
		return;
	}
	if (want - 1 > MAX_APS)
		want = MAX_APS + 1;
	page = trampoline_page();
	if (!page) {
		report_fail("smp", "no free RAM page below 640 KiB for the AP trampoline");
		return;
	}
	memcpy((void *)page, trampoline_start, len);
	patch32(page, tr_gdt_desc + 2, (uint32_t)page);
	patch32(page, tr_pm32_ptr, (uint32_t)page);
	patch32(page, tr_lm_ptr, (uint32_t)page);
	patch64(page, tr_cr3, cpu_cr3());
	patch64(page, tr_entry, (uint64_t)ap_entry64);

	for (uint32_t i = 0; started + 1 < want; i++) {
		/* APIC ids from the MADT when there is one, else 0, 1, 2, ... */
		uint32_t id;

		if (plat.n_apic_ids)
			id = i < plat.n_apic_ids ? plat.apic_ids[i] : ~0U;
		else
			id = i < want ? i : ~0U;
		if (id == ~0U)
			break;
		if (id == self)
			continue;
		if (!start_ap(page, id, started)) {
			report_fail("smp", "AP with apic id %u did not come up (trampoline at 0x%lx)", id, page);
			return;
		}
		started++;
	}
	if (started + 1 < want) {
		report_fail("smp", "%u of %u cpus online", started + 1, want);
		return;
	}
	report_ok("smp", "%u cpus online (trampoline at 0x%lx, last AP apic id %u)", started + 1, page,
		  ap_apic_id[started - 1]);
}
