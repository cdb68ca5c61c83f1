// SPDX-License-Identifier: MIT
/*
 * ACPI as a distro kernel reads it: RSDP (zero page, else the BIOS areas), XSDT,
 * a hardware-reduced FADT, the MADT for the CPUs and IOAPIC, and a DSDT that
 * declares the virtio-mmio devices as LNRO0005 (Debian's kernels find virtio-mmio
 * devices no other way, see notes/platform.md).
 */
#include "probe.h"

#define RSDP_SIG          "RSD PTR "
#define RSDP_V1_LEN       20
#define RSDP_V2_LEN       36
#define RSDP_REV_OFF      15
#define RSDP_RSDT_OFF     16
#define RSDP_LENGTH_OFF   20
#define RSDP_XSDT_OFF     24
#define SDT_HDR_LEN       36
#define SDT_MAX_LEN       (1U << 20) /* sanity bound for a table in this VM */
#define FADT_DSDT_OFF     40
#define FADT_FLAGS_OFF    112
#define FADT_X_DSDT_OFF   140
#define FADT_HW_REDUCED   (1U << 20)
#define MADT_LAPIC_OFF    36
#define MADT_ENTRIES_OFF  44
#define MADT_LAPIC        0
#define MADT_IOAPIC       1
#define MADT_ISO          2
#define MADT_X2APIC       9
#define MADT_ENABLED      0x1
#define LNRO_HID          "LNRO0005"
#define LNRO_MAX          8
#define AML_MEM32_FIXED   0x86 /* Memory32Fixed resource descriptor */
#define AML_EXT_IRQ       0x89 /* Extended Interrupt descriptor */
#define AML_SCAN_WINDOW   160  /* bytes after the _HID in which its _CRS is */
#define BIOS_AREA_START   0xE0000
#define BIOS_AREA_END     0x100000
#define BDA_EBDA_SEG      0x40E
#define FOUR_GIB          0x100000000ULL

struct sdt_header {
	char sig[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	uint32_t creator_id;
	uint32_t creator_revision;
} __attribute__((packed));

struct platform_info plat;

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static const uint8_t *rsdp_scan(uint64_t start, uint64_t end)
{
	for (uint64_t a = start; a + RSDP_V1_LEN <= end; a += 16) {
		const uint8_t *p = phys(a);

		if (!memcmp(p, RSDP_SIG, 8) && !checksum8(p, RSDP_V1_LEN))
			return p;
	}
	return NULL;
}

static const uint8_t *rsdp_find(void)
{
	uint64_t ebda = (uint64_t)*(volatile uint16_t *)phys(BDA_EBDA_SEG) << 4;
	const uint8_t *p;

	if (boot.rsdp_addr)
		return (const uint8_t *)boot.rsdp_addr;
	if (ebda && ebda < BIOS_AREA_START) {
		p = rsdp_scan(ebda, ebda + 1024);
		if (p)
			return p;
	}
	return rsdp_scan(BIOS_AREA_START, BIOS_AREA_END);
}

/* A table we can read: mapped (below 4 GiB), sane length, checksum 0. */
static const struct sdt_header *sdt_get(uint64_t addr, const char *sig)
{
	const struct sdt_header *h = (const struct sdt_header *)addr;

	if (!addr || addr + SDT_HDR_LEN > FOUR_GIB) {
		report_fail_machine("acpi", "%s at 0x%lx is outside the first 4 GiB", sig, addr);
		return NULL;
	}
	if (memcmp(h->sig, sig, 4)) {
		report_fail_machine("acpi", "expected %s at 0x%lx, found \"%.4s\"", sig, addr, h->sig);
		return NULL;
	}
	if (h->length < SDT_HDR_LEN || h->length > SDT_MAX_LEN || addr + h->length > FOUR_GIB) {
		report_fail_machine("acpi", "%s at 0x%lx has length %u", sig, addr, h->length);
		return NULL;
	}
	if (checksum8(h, h->length)) {
		report_fail_machine("acpi", "%s at 0x%lx: bad checksum", sig, addr);
		return NULL;
	}
	return h;
}

static void check_madt(const struct sdt_header *madt)
{
	const uint8_t *p = (const uint8_t *)madt, *end = p + madt->length;
	uint32_t cpus = 0, ioapics = 0;

	plat.n_apic_ids = 0;
	for (p += MADT_ENTRIES_OFF; p + 2 <= end && p[1] >= 2 && p + p[1] <= end; p += p[1]) {
		uint32_t id, flags;

		switch (p[0]) {
		case MADT_LAPIC:
		case MADT_X2APIC:
			id = p[0] == MADT_LAPIC ? p[3] : rd32(p + 4);
			flags = p[0] == MADT_LAPIC ? rd32(p + 4) : rd32(p + 8);
			if (!(flags & MADT_ENABLED))
				break;
			cpus++;
			if (plat.n_apic_ids < ARRAY_SIZE(plat.apic_ids))
				plat.apic_ids[plat.n_apic_ids++] = id;
			break;
		case MADT_IOAPIC:
			if (!ioapics++) {
				plat.ioapic_addr = rd32(p + 4);
				plat.ioapic_found = true;
			}
			break;
		case MADT_ISO:
			/* bus 0 (ISA), source IRQ, GSI: where COM1's IRQ 4 really lands */
			if (p[3] == COM1_IRQ)
				plat.serial_gsi = rd32(p + 4);
			break;
		}
	}
	plat.acpi_cpus = cpus;
	if (!cpus || !ioapics)
		report_fail_machine("madt", "%u enabled local APICs, %u IOAPICs", cpus, ioapics);
	else
		report_ok("madt", "%u local APICs, %u IOAPIC at 0x%lx, LAPIC at 0x%x", cpus, ioapics,
			  plat.ioapic_addr, rd32((const uint8_t *)madt + MADT_LAPIC_OFF));
}

/* Find the device's Memory32Fixed base and interrupt in the AML after its _HID. */
static void lnro_resources(const uint8_t *p, const uint8_t *end, uint32_t *base, uint32_t *irq)
{
	*base = 0;
	*irq = 0;
	for (const uint8_t *q = p; q + 12 <= end && q < p + AML_SCAN_WINDOW; q++) {
		if (!*base && q[0] == AML_MEM32_FIXED && q[1] == 9 && q[2] == 0)
			*base = rd32(q + 4);
		if (!*irq && q[0] == AML_EXT_IRQ && q[1] == 6 && q[2] == 0 && q[4] == 1)
			*irq = rd32(q + 5);
	}
}

static void check_dsdt(const struct sdt_header *dsdt)
{
	const uint8_t *p = (const uint8_t *)dsdt, *end = p + dsdt->length;
	char list[LNRO_MAX * 28 + 1];
	size_t len = 0;
	uint32_t n = 0;

	list[0] = '\0';
	for (p += SDT_HDR_LEN; p + 8 <= end; p++) {
		uint32_t base, irq;

		if (memcmp(p, LNRO_HID, 8))
			continue;
		n++;
		lnro_resources(p + 8, end, &base, &irq);
		if (n <= LNRO_MAX && len < sizeof(list))
			len += (size_t)snprintf(list + len, sizeof(list) - len, "%s0x%x irq %u", n > 1 ? ", " : "",
						base, irq);
	}
	if (cfg.lnro < 0 && !n)
		report_fail_machine("dsdt", "%u bytes of AML, no " LNRO_HID " (virtio-mmio) device", dsdt->length);
	else if (cfg.lnro >= 0 && n != (uint32_t)cfg.lnro)
		report_fail_machine("dsdt", "%u bytes of AML, %u x " LNRO_HID ", probe.lnro wants %d: %s",
				    dsdt->length, n, cfg.lnro, list);
	else
		report_ok("dsdt", "%u bytes of AML, %u x " LNRO_HID ": %s", dsdt->length, n, list);
}

void check_acpi(void)
{
	const uint8_t *rsdp = rsdp_find();
	const struct sdt_header *xsdt, *fadt = NULL, *madt = NULL, *dsdt;
	uint64_t xsdt_addr, dsdt_addr = 0;
	uint32_t n, flags;

	plat.serial_gsi = COM1_IRQ; /* unless an interrupt source override says otherwise */
	if (cfg.no_acpi) {
		if (rsdp)
			report_info("acpi", "probe.acpi=0 but an RSDP is at %p", rsdp);
		report_skip("acpi", "probe.acpi=0");
		return;
	}
	if (!rsdp) {
		report_fail_machine("acpi", "no RSDP (zero page acpi_rsdp_addr 0, none in 0xE0000-0xFFFFF)");
		return;
	}
	if (checksum8(rsdp, RSDP_V1_LEN)) {
		report_fail_machine("acpi", "RSDP at %p: bad checksum", rsdp);
		return;
	}
	if (rsdp[RSDP_REV_OFF] < 2 || rd32(rsdp + RSDP_LENGTH_OFF) < RSDP_V2_LEN ||
	    checksum8(rsdp, rd32(rsdp + RSDP_LENGTH_OFF))) {
		report_fail_machine("acpi", "RSDP at %p: revision %u, no valid ACPI 2.0 part (XSDT)", rsdp,
				    rsdp[RSDP_REV_OFF]);
		return;
	}
	xsdt_addr = rd64(rsdp + RSDP_XSDT_OFF);
	xsdt = sdt_get(xsdt_addr, "XSDT");
	if (!xsdt)
		return;
	report_ok("acpi", "RSDP at %p (%s, OEM \"%.6s\"), XSDT at 0x%lx with %u tables", rsdp,
		  boot.rsdp_addr ? "from the zero page" : "found by scanning", rsdp + 9, xsdt_addr,
		  (xsdt->length - SDT_HDR_LEN) / 8);

	n = (xsdt->length - SDT_HDR_LEN) / 8;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t a = rd64((const uint8_t *)xsdt + SDT_HDR_LEN + i * 8);
		const struct sdt_header *h = (const struct sdt_header *)a;

		if (!a || a + SDT_HDR_LEN > FOUR_GIB)
			continue;
		if (!memcmp(h->sig, "FACP", 4))
			fadt = sdt_get(a, "FACP");
		else if (!memcmp(h->sig, "APIC", 4))
			madt = sdt_get(a, "APIC");
		else
			report_info("acpi", "table %.4s at 0x%lx, %u bytes%s", h->sig, a, h->length,
				    sdt_get(a, h->sig) ? "" : " (invalid)");
	}

	if (!fadt) {
		report_fail_machine("fadt", "no valid FADT in the XSDT");
	} else {
		flags = fadt->length >= FADT_FLAGS_OFF + 4 ? rd32((const uint8_t *)fadt + FADT_FLAGS_OFF) : 0;
		if (fadt->length >= FADT_X_DSDT_OFF + 8)
			dsdt_addr = rd64((const uint8_t *)fadt + FADT_X_DSDT_OFF);
		if (!dsdt_addr)
			dsdt_addr = rd32((const uint8_t *)fadt + FADT_DSDT_OFF);
		if (!(flags & FADT_HW_REDUCED))
			report_fail_machine("fadt", "revision %u, flags 0x%x: not HW_REDUCED_ACPI", fadt->revision,
					    flags);
		else
			report_ok("fadt", "revision %u, HW_REDUCED_ACPI, DSDT at 0x%lx", fadt->revision, dsdt_addr);
		dsdt = sdt_get(dsdt_addr, "DSDT");
		if (dsdt)
			check_dsdt(dsdt);
	}

	if (madt)
		check_madt(madt);
	else
		report_fail_machine("madt", "no valid MADT in the XSDT");
}
