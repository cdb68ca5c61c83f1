// SPDX-License-Identifier: MIT
/*
 * ACPI tables at 0xe0000: RSDP -> RSDT/XSDT -> FADT (hardware-reduced) -> DSDT, and MADT.  Distribution kernels
 * without VIRTIO_MMIO_CMDLINE_DEVICES find the virtio-mmio devices only here, as LNRO0005 devices in the DSDT.
 * The DSDT's AML is assembled by hand below: a few Device objects with Name()s and resource buffers.
 *
 * Hardware-reduced ACPI has no PM1 blocks; poweroff goes through the FADT's sleep control register (hw/acpi_pm.c)
 * announced with an _S5_ package.
 */
#include "x86.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "hw/acpi_pm.h"
#include "hw/i8042.h"
#include "hw/serial.h"
#include "hypervisor/kvm/kvm.h"

#define ACPI_OEM_ID	  "NITROV"
#define ACPI_OEM_REVISION 1
#define ACPI_CREATOR_ID	  "NVMM"
#define ACPI_CREATOR_REV  1
#define ACPI_TABLE_ALIGN  16
#define ACPI_HDR_SIZE	  36
#define RSDP_SIZE	  36
#define RSDP_V1_SIZE	  20
#define FADT_SIZE	  276
#define FADT_REVISION	  6
#define FADT_MINOR	  5
#define MADT_REVISION	  5
#define DSDT_REVISION	  2 /* 64-bit integers */
#define DSDT_MAX_SIZE	  2048

/* FADT field offsets (ACPI 6.5, 5.2.9). */
#define FADT_DSDT	     40
#define FADT_IAPC_BOOT_ARCH  109
#define FADT_FLAGS	     112
#define FADT_MINOR_VERSION   131
#define FADT_X_DSDT	     140
#define FADT_SLEEP_CONTROL   244
#define FADT_SLEEP_STATUS    256
#define FADT_HYPERVISOR_ID   268

#define FADT_F_PWR_BUTTON     (1U << 4)
#define FADT_F_SLP_BUTTON     (1U << 5)
#define FADT_F_HW_REDUCED     (1U << 20)
#define IAPC_8042	      (1U << 1)
#define IAPC_VGA_NOT_PRESENT  (1U << 2)
#define IAPC_CMOS_RTC_ABSENT  (1U << 5)

#define GAS_SYSTEM_IO	1
#define GAS_ACCESS_BYTE 1

#define MADT_PCAT_COMPAT  1
#define MADT_LAPIC	  0
#define MADT_IOAPIC	  1
#define MADT_LAPIC_NMI	  4
#define MADT_LAPIC_SIZE	  8
#define MADT_IOAPIC_SIZE  12
#define MADT_NMI_SIZE	  6
#define MADT_ENABLED	  1
#define MADT_ALL_CPUS	  0xff

static uint8_t acpi_checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum += *p++;
	return (uint8_t)-sum;
}

static void acpi_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev, const char *table_id)
{
	memcpy(t, sig, 4);
	put_le(t + 4, len, 4);
	t[8] = rev;
	memcpy(t + 10, ACPI_OEM_ID, 6);
	memcpy(t + 16, table_id, 8);
	put_le(t + 24, ACPI_OEM_REVISION, 4);
	memcpy(t + 28, ACPI_CREATOR_ID, 4);
	put_le(t + 32, ACPI_CREATOR_REV, 4);
	t[9] = acpi_checksum(t, len);
}

/* ---- AML ---- */

#define AML_MAX 1024

struct aml {
	uint8_t b[AML_MAX];
	size_t n;
	bool overflow;
};

#define AML_ZERO	 0x00
#define AML_ONE		 0x01
#define AML_NAME	 0x08
#define AML_BYTE_PREFIX	 0x0a
#define AML_WORD_PREFIX	 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_SCOPE	 0x10
#define AML_BUFFER	 0x11
#define AML_PACKAGE	 0x12
#define AML_EXT_PREFIX	 0x5b
#define AML_DEVICE	 0x82

static void aml_bytes(struct aml *a, const void *p, size_t len)
{
	if (a->n + len > AML_MAX) {
		a->overflow = true;
		return;
	}
	memcpy(a->b + a->n, p, len);
	a->n += len;
}

static void aml_byte(struct aml *a, uint8_t v)
{
	aml_bytes(a, &v, 1);
}

static void aml_integer(struct aml *a, uint32_t v)
{
	uint8_t le[4];

	if (v <= 1) {
		aml_byte(a, v ? AML_ONE : AML_ZERO);
	} else if (v <= 0xff) {
		aml_byte(a, AML_BYTE_PREFIX);
		aml_byte(a, (uint8_t)v);
	} else if (v <= 0xffff) {
		aml_byte(a, AML_WORD_PREFIX);
		put_le(le, v, 2);
		aml_bytes(a, le, 2);
	} else {
		aml_byte(a, AML_DWORD_PREFIX);
		put_le(le, v, 4);
		aml_bytes(a, le, 4);
	}
}

/* PkgLength counts itself: 1 byte up to 63, else a lead byte with the count of following bytes. */
static void aml_pkg_length(struct aml *a, size_t body)
{
	size_t total;

	if (body + 1 < 0x40) {
		aml_byte(a, (uint8_t)(body + 1));
		return;
	}
	if (body + 2 < 0x1000) {
		total = body + 2;
		aml_byte(a, (uint8_t)(0x40 | (total & 0xf)));
		aml_byte(a, (uint8_t)(total >> 4));
		return;
	}
	total = body + 3;
	aml_byte(a, (uint8_t)(0x80 | (total & 0xf)));
	aml_byte(a, (uint8_t)(total >> 4));
	aml_byte(a, (uint8_t)(total >> 12));
}

/* op PkgLength body: Scope, Device, Buffer and Package all share this shape. */
static void aml_wrap(struct aml *a, const uint8_t *op, size_t oplen, const struct aml *body)
{
	aml_bytes(a, op, oplen);
	aml_pkg_length(a, body->n);
	aml_bytes(a, body->b, body->n);
	a->overflow |= body->overflow;
}

static void aml_name_integer(struct aml *a, const char *name, uint32_t v)
{
	aml_byte(a, AML_NAME);
	aml_bytes(a, name, 4);
	aml_integer(a, v);
}

static void aml_name_string(struct aml *a, const char *name, const char *s)
{
	aml_byte(a, AML_NAME);
	aml_bytes(a, name, 4);
	aml_byte(a, AML_STRING_PREFIX);
	aml_bytes(a, s, strlen(s) + 1);
}

/* A compressed EISA id such as PNP0501, as a DWord. */
static uint32_t eisa_id(const char *id)
{
	static const char hex[] = "0123456789ABCDEF";
	uint32_t v = (uint32_t)((id[0] & 0x1f) << 10 | (id[1] & 0x1f) << 5 | (id[2] & 0x1f));
	uint32_t digits = 0;

	for (int i = 3; i < 7; i++)
		digits = digits << 4 | (uint32_t)(strchr(hex, id[i]) - hex);
	/* Stored big-endian in the dword: vendor bytes first, then the product digits. */
	return (v >> 8 & 0xff) | (v & 0xff) << 8 | (digits >> 8 & 0xff) << 16 | (digits & 0xff) << 24;
}

/* Name(_CRS, Buffer() { resources..., EndTag }) */
static void aml_crs(struct aml *a, const struct aml *res)
{
	struct aml buf = { .n = 0 };
	uint8_t op = AML_BUFFER;

	aml_integer(&buf, (uint32_t)(res->n + 2));
	aml_bytes(&buf, res->b, res->n);
	aml_byte(&buf, 0x79); /* End tag */
	aml_byte(&buf, 0x00); /* checksum 0: "treat as correct" */
	aml_byte(a, AML_NAME);
	aml_bytes(a, "_CRS", 4);
	aml_wrap(a, &op, 1, &buf);
}

static void res_io(struct aml *r, uint16_t port, uint8_t len)
{
	uint8_t d[8] = { 0x47, 0x01, 0, 0, 0, 0, 1, len }; /* IO(Decode16, port, port, 1, len) */

	put_le(d + 2, port, 2);
	put_le(d + 4, port, 2);
	aml_bytes(r, d, sizeof(d));
}

static void res_irq(struct aml *r, unsigned int irq)
{
	uint8_t d[3] = { 0x22, 0, 0 }; /* IRQNoFlags() { irq }: edge, active high, ISA style */

	put_le(d + 1, 1U << irq, 2);
	aml_bytes(r, d, sizeof(d));
}

static void res_mem32_fixed(struct aml *r, uint32_t base, uint32_t len)
{
	uint8_t d[12] = { 0x86, 9, 0, 1 }; /* Memory32Fixed(ReadWrite, base, len) */

	put_le(d + 4, base, 4);
	put_le(d + 8, len, 4);
	aml_bytes(r, d, sizeof(d));
}

static void res_ext_irq(struct aml *r, uint32_t gsi)
{
	/* Interrupt(ResourceConsumer, Edge, ActiveHigh, Exclusive) { gsi } */
	uint8_t d[9] = { 0x89, 6, 0, 0x03, 1 };

	put_le(d + 5, gsi, 4);
	aml_bytes(r, d, sizeof(d));
}

static void aml_device(struct aml *scope, const char *name, const struct aml *body)
{
	uint8_t op[2] = { AML_EXT_PREFIX, AML_DEVICE };
	struct aml dev = { .n = 0 };

	aml_bytes(&dev, name, 4);
	aml_bytes(&dev, body->b, body->n);
	dev.overflow = body->overflow;
	aml_wrap(scope, op, 2, &dev);
}

static void dsdt_com1(struct aml *sb)
{
	struct aml d = { .n = 0 }, r = { .n = 0 };

	aml_byte(&d, AML_NAME);
	aml_bytes(&d, "_HID", 4);
	aml_integer(&d, eisa_id("PNP0501"));
	aml_name_integer(&d, "_UID", 0);
	res_io(&r, SERIAL_COM1_BASE, SERIAL_NR_PORTS);
	res_irq(&r, SERIAL_COM1_IRQ);
	aml_crs(&d, &r);
	aml_device(sb, "COM1", &d);
}

static void dsdt_ps2(struct aml *sb)
{
	struct aml d = { .n = 0 }, r = { .n = 0 };

	aml_byte(&d, AML_NAME);
	aml_bytes(&d, "_HID", 4);
	aml_integer(&d, eisa_id("PNP0303"));
	res_io(&r, I8042_DATA_PORT, 1);
	res_io(&r, I8042_COMMAND_PORT, 1);
	res_irq(&r, I8042_KBD_IRQ);
	aml_crs(&d, &r);
	aml_device(sb, "PS2_", &d);
}

static void dsdt_virtio(struct aml *sb, unsigned int slot)
{
	struct aml d = { .n = 0 }, r = { .n = 0 };
	char name[5];

	snprintf(name, sizeof(name), "V%03u", slot);
	aml_name_string(&d, "_HID", "LNRO0005");
	aml_name_integer(&d, "_UID", slot);
	aml_name_integer(&d, "_CCA", 1); /* cache-coherent DMA */
	res_mem32_fixed(&r, (uint32_t)kvm_virtio_base(slot), (uint32_t)KVM_VIRTIO_SIZE);
	res_ext_irq(&r, kvm_virtio_gsi(slot));
	aml_crs(&d, &r);
	aml_device(sb, name, &d);
}

/* Name(_S5_, Package() { 5, 5, 0, 0 }): SLP_TYPa/b for soft-off, as hw/acpi_pm.c expects. */
static void dsdt_s5(struct aml *root)
{
	struct aml pkg = { .n = 0 };
	uint8_t op = AML_PACKAGE;

	aml_byte(&pkg, 4);
	aml_integer(&pkg, ACPI_PM_S5_SLEEP_TYP);
	aml_integer(&pkg, ACPI_PM_S5_SLEEP_TYP);
	aml_integer(&pkg, 0);
	aml_integer(&pkg, 0);
	aml_byte(root, AML_NAME);
	aml_bytes(root, "_S5_", 4);
	aml_wrap(root, &op, 1, &pkg);
}

static int build_dsdt(struct kvm_vm *vm, uint8_t *t, uint32_t *len)
{
	struct aml sb = { .n = 0 }, body = { .n = 0 };
	uint8_t scope = AML_SCOPE;

	dsdt_com1(&sb);
	dsdt_ps2(&sb);
	for (unsigned int i = 0; i < KVM_VIRTIO_SLOTS; i++)
		if (vm->virtio[i].present)
			dsdt_virtio(&sb, i);
	/* Scope(\_SB_) { ... } */
	{
		struct aml s = { .n = 0 };

		aml_bytes(&s, "\\_SB_", 5);
		aml_bytes(&s, sb.b, sb.n);
		s.overflow = sb.overflow;
		aml_wrap(&body, &scope, 1, &s);
	}
	dsdt_s5(&body);
	if (body.overflow || ACPI_HDR_SIZE + body.n > DSDT_MAX_SIZE)
		return err_set(E2BIG, "the DSDT does not fit in %d bytes", DSDT_MAX_SIZE);
	memcpy(t + ACPI_HDR_SIZE, body.b, body.n);
	*len = (uint32_t)(ACPI_HDR_SIZE + body.n);
	acpi_header(t, "DSDT", *len, DSDT_REVISION, "NVMDSDT ");
	return 0;
}

static void gas_io8(uint8_t *g, uint16_t port)
{
	g[0] = GAS_SYSTEM_IO;
	g[1] = 8;
	g[2] = 0;
	g[3] = GAS_ACCESS_BYTE;
	put_le(g + 4, port, 8);
}

static void build_fadt(uint8_t *t, uint64_t dsdt)
{
	memset(t, 0, FADT_SIZE);
	put_le(t + FADT_DSDT, dsdt, 4);
	put_le(t + FADT_X_DSDT, dsdt, 8);
	put_le(t + FADT_IAPC_BOOT_ARCH, IAPC_8042 | IAPC_VGA_NOT_PRESENT | IAPC_CMOS_RTC_ABSENT, 2);
	put_le(t + FADT_FLAGS, FADT_F_HW_REDUCED | FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON, 4);
	t[FADT_MINOR_VERSION] = FADT_MINOR;
	gas_io8(t + FADT_SLEEP_CONTROL, ACPI_PM_PORT);
	gas_io8(t + FADT_SLEEP_STATUS, ACPI_PM_PORT + 1);
	memcpy(t + FADT_HYPERVISOR_ID, "NITROVM ", 8);
	acpi_header(t, "FACP", FADT_SIZE, FADT_REVISION, "NVMFACP ");
}

static uint32_t build_madt(struct kvm_vm *vm, uint8_t *t)
{
	uint8_t *p = t + ACPI_HDR_SIZE;
	uint32_t len;

	put_le(p, X86_LAPIC_ADDR, 4);
	put_le(p + 4, MADT_PCAT_COMPAT, 4);
	p += 8;
	for (unsigned int i = 0; i < vm->nvcpus; i++) {
		p[0] = MADT_LAPIC;
		p[1] = MADT_LAPIC_SIZE;
		p[2] = (uint8_t)i; /* ACPI processor uid */
		p[3] = (uint8_t)i; /* APIC id */
		put_le(p + 4, MADT_ENABLED, 4);
		p += MADT_LAPIC_SIZE;
	}
	p[0] = MADT_IOAPIC;
	p[1] = MADT_IOAPIC_SIZE;
	p[2] = (uint8_t)vm->nvcpus; /* IOAPIC id, after the CPUs' as in the MP table */
	p[3] = 0;
	put_le(p + 4, X86_IOAPIC_ADDR, 4);
	put_le(p + 8, 0, 4); /* GSI base */
	p += MADT_IOAPIC_SIZE;
	p[0] = MADT_LAPIC_NMI;
	p[1] = MADT_NMI_SIZE;
	p[2] = MADT_ALL_CPUS;
	put_le(p + 3, 0, 2);
	p[5] = 1; /* LINT1 */
	p += MADT_NMI_SIZE;
	len = (uint32_t)(p - t);
	acpi_header(t, "APIC", len, MADT_REVISION, "NVMMADT ");
	return len;
}

static uint64_t align_up(uint64_t v)
{
	return (v + ACPI_TABLE_ALIGN - 1) / ACPI_TABLE_ALIGN * ACPI_TABLE_ALIGN;
}

int x86_write_acpi(struct kvm_vm *vm, uint64_t *rsdp_out)
{
	uint64_t size = X86_ACPI_END - X86_ACPI_START;
	uint8_t *base = kvm_gpa(vm, X86_ACPI_START, size);
	uint64_t rsdp = X86_ACPI_START, rsdt, xsdt, fadt, madt, dsdt, end;
	uint32_t dsdt_len, madt_len;
	uint8_t *t;
	int ret;

	if (!base)
		return err_set(ENOMEM, "no room for the ACPI tables");
	memset(base, 0, size);
#define AT(gpa) (base + ((gpa) - X86_ACPI_START))
	dsdt = align_up(rsdp + RSDP_SIZE);
	ret = build_dsdt(vm, AT(dsdt), &dsdt_len);
	if (ret < 0)
		return ret;
	fadt = align_up(dsdt + dsdt_len);
	build_fadt(AT(fadt), dsdt);
	madt = align_up(fadt + FADT_SIZE);
	madt_len = build_madt(vm, AT(madt));
	rsdt = align_up(madt + madt_len);
	t = AT(rsdt);
	put_le(t + ACPI_HDR_SIZE, fadt, 4);
	put_le(t + ACPI_HDR_SIZE + 4, madt, 4);
	acpi_header(t, "RSDT", ACPI_HDR_SIZE + 8, 1, "NVMRSDT ");
	xsdt = align_up(rsdt + ACPI_HDR_SIZE + 8);
	t = AT(xsdt);
	put_le(t + ACPI_HDR_SIZE, fadt, 8);
	put_le(t + ACPI_HDR_SIZE + 8, madt, 8);
	acpi_header(t, "XSDT", ACPI_HDR_SIZE + 16, 1, "NVMXSDT ");
	end = xsdt + ACPI_HDR_SIZE + 16;
	if (end > X86_ACPI_END)
		return err_set(E2BIG, "the ACPI tables do not fit below %#llx", (unsigned long long)X86_ACPI_END);

	t = AT(rsdp);
	memcpy(t, "RSD PTR ", 8);
	memcpy(t + 9, ACPI_OEM_ID, 6);
	t[15] = 2; /* revision: ACPI 2.0+, XSDT present */
	put_le(t + 16, rsdt, 4);
	put_le(t + 20, RSDP_SIZE, 4);
	put_le(t + 24, xsdt, 8);
	t[8] = acpi_checksum(t, RSDP_V1_SIZE);
	t[32] = acpi_checksum(t, RSDP_SIZE);
#undef AT
	*rsdp_out = rsdp;
	return 0;
}
