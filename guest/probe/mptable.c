// SPDX-License-Identifier: MIT
/*
 * The Intel MultiProcessor Specification 1.4 table, for kernels built with
 * X86_MPPARSE and no ACPI: floating pointer in the EBDA's first KiB, the last KiB
 * of base memory or 0xF0000-0xFFFFF; the configuration table it points to.
 */
#include "probe.h"

#define MPF_SIG          "_MP_"
#define MPF_LEN          16
#define MPF_PHYSPTR_OFF  4
#define MPF_LENGTH_OFF   8
#define MPF_REV_OFF      9
#define MPF_FEATURE1_OFF 11
#define MPC_SIG          "PCMP"
#define MPC_HDR_LEN      44
#define MPC_LENGTH_OFF   4
#define MPC_REV_OFF      6
#define MPC_COUNT_OFF    34
#define MPC_LAPIC_OFF    36
#define MP_PROCESSOR     0
#define MP_BUS           1
#define MP_IOAPIC        2
#define MP_IOINTR        3
#define MP_LINTR         4
#define MP_PROCESSOR_LEN 20
#define MP_OTHER_LEN     8
#define MP_CPU_ENABLED   0x01
#define MP_CPU_BSP       0x02
#define BDA_EBDA_SEG     0x40E
#define BASE_MEM_TOP     0xA0000
#define BIOS_ROM_START   0xF0000
#define BIOS_ROM_END     0x100000
#define FOUR_GIB         0x100000000ULL

static const uint8_t *mpf_scan(uint64_t start, uint64_t end)
{
	for (uint64_t a = start; a + MPF_LEN <= end; a += 16) {
		const uint8_t *p = phys(a);

		if (!memcmp(p, MPF_SIG, 4))
			return p;
	}
	return NULL;
}

static const uint8_t *mpf_find(void)
{
	uint64_t ebda = (uint64_t)*(volatile uint16_t *)phys(BDA_EBDA_SEG) << 4;
	const uint8_t *p = NULL;

	if (ebda && ebda < BASE_MEM_TOP)
		p = mpf_scan(ebda, ebda + 1024);
	if (!p)
		p = mpf_scan(BASE_MEM_TOP - 1024, BASE_MEM_TOP);
	if (!p)
		p = mpf_scan(BIOS_ROM_START, BIOS_ROM_END);
	return p;
}

void check_mptable(void)
{
	const uint8_t *mpf = mpf_find(), *mpc, *p, *end;
	uint32_t phys, cpus = 0, buses = 0, ioapics = 0, irqs = 0, len, count, entries, bsp = ~0U;
	uint16_t base_len;

	if (!mpf) {
		report_fail_machine("mptable", "no _MP_ floating pointer in the EBDA, 0x9FC00 or 0xF0000-0xFFFFF");
		return;
	}
	len = mpf[MPF_LENGTH_OFF] * 16U;
	if (len != MPF_LEN || checksum8(mpf, len)) {
		report_fail_machine("mptable", "floating pointer at %p: length %u, bad checksum", mpf, len);
		return;
	}
	memcpy(&phys, mpf + MPF_PHYSPTR_OFF, sizeof(phys));
	if (mpf[MPF_FEATURE1_OFF] || !phys) {
		report_fail_machine("mptable", "floating pointer at %p names default configuration %u, no table",
				    mpf, mpf[MPF_FEATURE1_OFF]);
		return;
	}
	mpc = (const uint8_t *)(uint64_t)phys;
	memcpy(&base_len, mpc + MPC_LENGTH_OFF, sizeof(base_len));
	if (memcmp(mpc, MPC_SIG, 4) || base_len < MPC_HDR_LEN || checksum8(mpc, base_len)) {
		report_fail_machine("mptable", "configuration table at 0x%x: bad signature, length %u or checksum",
				    phys, base_len);
		return;
	}
	count = (uint32_t)mpc[MPC_COUNT_OFF] | (uint32_t)mpc[MPC_COUNT_OFF + 1] << 8;
	entries = count;
	end = mpc + base_len;
	/* Walk by length, as Linux does: qboot leaves entry_count 0. */
	for (p = mpc + MPC_HDR_LEN, count = 0; p < end; count++) {
		uint32_t elen = p[0] == MP_PROCESSOR ? MP_PROCESSOR_LEN : MP_OTHER_LEN;

		if (p[0] > MP_LINTR || p + elen > end) {
			report_fail_machine("mptable", "entry type %u at %p runs past the table", p[0], p);
			return;
		}
		switch (p[0]) {
		case MP_PROCESSOR:
			if (p[3] & MP_CPU_ENABLED)
				cpus++;
			if (p[3] & MP_CPU_BSP)
				bsp = p[1];
			break;
		case MP_BUS:
			buses++;
			break;
		case MP_IOAPIC:
			ioapics++;
			break;
		case MP_IOINTR:
			irqs++;
			break;
		}
		p += elen;
	}
	plat.mp_cpus = cpus;
	if (!cpus || bsp == ~0U) {
		report_fail_machine("mptable", "table at 0x%x (%u bytes, %u entries): %u enabled processors, %s", phys,
				    base_len, entries, cpus, bsp == ~0U ? "no BSP flagged" : "");
		return;
	}
	if (entries != count)
		report_info("mptable", "entry_count says %u, the table holds %u entries", entries, count);
	report_ok("mptable", "floating pointer at %p, spec 1.%u, table at 0x%x: %u cpus (BSP apic id %u), "
		  "%u buses, %u IOAPICs, %u interrupt entries",
		  mpf, mpf[MPF_REV_OFF], phys, cpus, bsp, buses, ioapics, irqs);
}
