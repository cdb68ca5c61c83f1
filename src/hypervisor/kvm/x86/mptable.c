// SPDX-License-Identifier: MIT
/*
 * Intel MultiProcessor Specification 1.4 tables at 0xf0000, where Linux (and the probe guest) scan for the
 * floating pointer: one processor entry per vCPU, an ISA bus, the IOAPIC with ISA IRQ n on pin n (KVM's default
 * GSI routing), and the 8259 on LINT0 / NMI on LINT1.  Kernels without ACPI find their CPUs and interrupts here.
 */
#include "x86.h"

#include <errno.h>
#include <string.h>

#include "common/util.h"
#include "hypervisor/kvm/kvm.h"

#define MPF_SIGNATURE "_MP_"
#define MPC_SIGNATURE "PCMP"
#define MPF_SIZE      16
#define MPC_HDR_SIZE  44
#define MP_SPEC_REV   4 /* 1.4 */

#define MP_PROCESSOR 0
#define MP_BUS	     1
#define MP_IOAPIC    2
#define MP_INTSRC    3
#define MP_LINTSRC   4

#define MP_PROC_SIZE	20
#define MP_BUS_SIZE	8
#define MP_IOAPIC_SIZE	8
#define MP_INTSRC_SIZE	8

#define CPU_ENABLED   0x1
#define CPU_BOOTPROC  0x2
#define APIC_VERSION  0x14
#define IOAPIC_VERSION 0x11
#define MP_IRQ_INT    0
#define MP_IRQ_NMI    1
#define MP_IRQ_EXTINT 3
#define MP_APIC_ALL   0xff
#define MP_ISA_BUS_ID 0

/* Header + processors + bus + IOAPIC + ISA interrupts + 2 local interrupts. */
#define MPTABLE_MAX_SIZE                                                                    \
	(MPF_SIZE + MPC_HDR_SIZE + HV_MAX_VCPUS * MP_PROC_SIZE + MP_BUS_SIZE + MP_IOAPIC_SIZE + \
	 (X86_ISA_IRQS + 2) * MP_INTSRC_SIZE)

static uint8_t mp_checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum += *p++;
	return (uint8_t)-sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v & 0xffff);
	put16(p + 2, v >> 16);
}

static uint8_t *mp_intsrc(uint8_t *p, uint8_t type, uint8_t irqtype, uint8_t srcirq, uint8_t dstid, uint8_t dstpin)
{
	p[0] = type;
	p[1] = irqtype;
	put16(p + 2, 0); /* polarity and trigger conform to the bus */
	p[4] = MP_ISA_BUS_ID;
	p[5] = srcirq;
	p[6] = dstid;
	p[7] = dstpin;
	return p + MP_INTSRC_SIZE;
}

int x86_write_mptable(struct kvm_vm *vm)
{
	uint8_t *base = kvm_gpa(vm, X86_MPTABLE_START, MPTABLE_MAX_SIZE);
	uint8_t *mpf = base, *mpc = base + MPF_SIZE, *p;
	uint8_t ioapic_id = (uint8_t)vm->nvcpus; /* after the CPUs' APIC ids */
	uint32_t sig, features;
	uint16_t entries = 0;

	if (!base)
		return err_set(ENOMEM, "no room for the MP table");
	memset(base, 0, MPTABLE_MAX_SIZE);
	x86_cpuid_signature(vm, &sig, &features);

	p = mpc + MPC_HDR_SIZE;
	for (unsigned int i = 0; i < vm->nvcpus; i++, entries++) {
		p[0] = MP_PROCESSOR;
		p[1] = (uint8_t)i;
		p[2] = APIC_VERSION;
		p[3] = CPU_ENABLED | (i == 0 ? CPU_BOOTPROC : 0);
		put32(p + 4, sig);
		put32(p + 8, features);
		p += MP_PROC_SIZE;
	}
	p[0] = MP_BUS;
	p[1] = MP_ISA_BUS_ID;
	memcpy(p + 2, "ISA   ", 6);
	p += MP_BUS_SIZE;
	entries++;
	p[0] = MP_IOAPIC;
	p[1] = ioapic_id;
	p[2] = IOAPIC_VERSION;
	p[3] = CPU_ENABLED;
	put32(p + 4, (uint32_t)X86_IOAPIC_ADDR);
	p += MP_IOAPIC_SIZE;
	entries++;
	for (uint8_t irq = 0; irq < X86_ISA_IRQS; irq++, entries++)
		p = mp_intsrc(p, MP_INTSRC, MP_IRQ_INT, irq, ioapic_id, irq);
	p = mp_intsrc(p, MP_LINTSRC, MP_IRQ_EXTINT, 0, MP_APIC_ALL, 0);
	p = mp_intsrc(p, MP_LINTSRC, MP_IRQ_NMI, 0, MP_APIC_ALL, 1);
	entries += 2;

	memcpy(mpc, MPC_SIGNATURE, 4);
	put16(mpc + 4, (uint16_t)(p - mpc));
	mpc[6] = MP_SPEC_REV;
	memcpy(mpc + 8, "NITROVM ", 8);	  /* OEM id */
	memcpy(mpc + 16, "NITROENCLAVE", 12); /* product id */
	put16(mpc + 34, entries);
	put32(mpc + 36, (uint32_t)X86_LAPIC_ADDR);
	mpc[7] = mp_checksum(mpc, (size_t)(p - mpc));

	memcpy(mpf, MPF_SIGNATURE, 4);
	put32(mpf + 4, (uint32_t)(X86_MPTABLE_START + MPF_SIZE));
	mpf[8] = 1; /* length in 16-byte units */
	mpf[9] = MP_SPEC_REV;
	mpf[10] = mp_checksum(mpf, MPF_SIZE);
	return 0;
}
