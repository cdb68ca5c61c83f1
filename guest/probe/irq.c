// SPDX-License-Identifier: MIT
/*
 * Interrupts: IDT, legacy PIC masked, local APIC (xAPIC MMIO or x2APIC MSRs,
 * whichever the VMM left enabled), IOAPIC routing; and the check that a timer
 * interrupt (LAPIC timer) and a device interrupt (COM1's THR-empty on IRQ 4
 * through the IOAPIC) arrive.
 */
#include "probe.h"

#define IDT_ENTRIES      256
#define IDT_GATE_INTR    0x8E /* present, DPL 0, 64-bit interrupt gate */
#define STUB_SIZE        16
#define GP_ERR_IDT       0x2  /* #GP error code refers to an IDT entry */

#define PIC1_CMD  0x20
#define PIC1_DATA 0x21
#define PIC2_CMD  0xA0
#define PIC2_DATA 0xA1
#define PIC_ICW1  0x11 /* edge, cascade, ICW4 follows */
#define PIC_ICW4  0x01 /* 8086 mode */

#define MSR_APIC_BASE     0x1B
#define APIC_BASE_ENABLE  (1ULL << 11)
#define APIC_BASE_X2APIC  (1ULL << 10)
#define APIC_BASE_MASK    0xFFFFFF000ULL
#define MSR_X2APIC_BASE   0x800
#define APIC_ID           0x020
#define APIC_VERSION      0x030
#define APIC_TPR          0x080
#define APIC_EOI          0x0B0
#define APIC_SVR          0x0F0
#define APIC_ICR_LOW      0x300
#define APIC_ICR_HIGH     0x310
#define APIC_LVT_TIMER    0x320
#define APIC_TIMER_INIT   0x380
#define APIC_TIMER_CUR    0x390
#define APIC_TIMER_DIV    0x3E0
#define APIC_SVR_ENABLE   0x100
#define APIC_ICR_BUSY     (1U << 12)
#define APIC_TIMER_DIV_1  0xB
#define APIC_TIMER_COUNT  100000 /* 100 us at the 1 GHz bus KVM and QEMU model */

#define IOAPIC_REGSEL      0x00
#define IOAPIC_WIN         0x10
#define IOAPIC_REG_ID      0x00
#define IOAPIC_REG_VER     0x01
#define IOAPIC_REDTBL(n)   (0x10 + 2 * (n))
#define IOAPIC_MASKED      (1U << 16)
#define IOAPIC_LEVEL       (1U << 15)
#define IOAPIC_MAX_PINS    240

#define UART_IER           (COM1_BASE + 1)
#define UART_IIR           (COM1_BASE + 2)
#define UART_IER_THRI      0x02
#define UART_IIR_NO_INT    0x01

#define IRQ_WAIT_US        500000 /* generous: the guest runs slowly on PVM */

struct idt_gate {
	uint16_t offset_lo;
	uint16_t selector;
	uint8_t ist;
	uint8_t type;
	uint16_t offset_mid;
	uint32_t offset_hi;
	uint32_t reserved;
} __attribute__((packed));

static struct idt_gate idt[IDT_ENTRIES] __attribute__((aligned(16)));
extern const uint8_t isr_stubs[];

volatile uint32_t irq_count[256];
void (*virtio_isr)(void);
static uint64_t lapic_base = LAPIC_DEFAULT;
static bool x2apic;
static uint8_t serial_iir;

/* ---- local APIC ---- */

uint32_t lapic_read(uint32_t reg)
{
	if (x2apic)
		return (uint32_t)rdmsr(MSR_X2APIC_BASE + (reg >> 4));
	return mmio_read32(lapic_base + reg);
}

void lapic_write(uint32_t reg, uint32_t v)
{
	if (x2apic)
		wrmsr(MSR_X2APIC_BASE + (reg >> 4), v);
	else
		mmio_write32(lapic_base + reg, v);
}

uint32_t lapic_id(void)
{
	uint32_t id = lapic_read(APIC_ID);

	return x2apic ? id : id >> 24;
}

/*
 * For APs: their APIC mode is their own (an AP leaves INIT in xAPIC mode even
 * when the BSP runs x2APIC), and an x2APIC MSR read in xAPIC mode faults.
 */
uint32_t lapic_id_this_cpu(void)
{
	uint64_t base = rdmsr(MSR_APIC_BASE);

	if (base & APIC_BASE_X2APIC)
		return (uint32_t)rdmsr(MSR_X2APIC_BASE + (APIC_ID >> 4));
	return mmio_read32((base & APIC_BASE_MASK) + APIC_ID) >> 24;
}

void lapic_send_ipi(uint32_t apic_id, uint32_t icr_low)
{
	if (x2apic) {
		wrmsr(MSR_X2APIC_BASE + (APIC_ICR_LOW >> 4), (uint64_t)apic_id << 32 | icr_low);
		return;
	}
	mmio_write32(lapic_base + APIC_ICR_HIGH, apic_id << 24);
	mmio_write32(lapic_base + APIC_ICR_LOW, icr_low);
	for (int i = 0; i < 1000 && (mmio_read32(lapic_base + APIC_ICR_LOW) & APIC_ICR_BUSY); i++)
		cpu_relax();
}

static void lapic_eoi(void)
{
	lapic_write(APIC_EOI, 0);
}

/* ---- IOAPIC ---- */

static uint64_t ioapic_base(void)
{
	return plat.ioapic_found ? plat.ioapic_addr : IOAPIC_DEFAULT;
}

static uint32_t ioapic_read(uint32_t reg)
{
	mmio_write32(ioapic_base() + IOAPIC_REGSEL, reg);
	return mmio_read32(ioapic_base() + IOAPIC_WIN);
}

static void ioapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(ioapic_base() + IOAPIC_REGSEL, reg);
	mmio_write32(ioapic_base() + IOAPIC_WIN, v);
}

/* Fixed delivery, physical destination = this CPU, active high. */
void ioapic_route(uint32_t pin, uint8_t vector, bool level)
{
	ioapic_write(IOAPIC_REDTBL(pin) + 1, lapic_id() << 24);
	ioapic_write(IOAPIC_REDTBL(pin), vector | (level ? IOAPIC_LEVEL : 0));
}

void ioapic_mask(uint32_t pin)
{
	ioapic_write(IOAPIC_REDTBL(pin), IOAPIC_MASKED);
}

/* ---- entry from head.S ---- */

static const char *const exception_names[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS", "#NP", "#SS", "#GP",
	"#PF", "-",   "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

void isr_dispatch(struct irq_frame *f)
{
	uint64_t vec = f->vector;

	if (vec < 32) {
		uint64_t cr2;

		__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
		printk("probe: exception: FAIL %s (vector %lu) error 0x%lx at rip 0x%lx rsp 0x%lx cr2 0x%lx\n",
		       exception_names[vec] ? exception_names[vec] : "?", vec, f->error, f->rip, f->rsp, cr2);
		if (vec == 13 && (f->error & GP_ERR_IDT))
			printk("probe: exception: FAIL unexpected interrupt vector 0x%lx (no IDT entry)\n",
			       f->error >> 3);
		printk("probe: result FAIL (exception)\n");
		probe_exit(false);
	}
	irq_count[vec]++;
	switch (vec) {
	case VEC_SERIAL:
		/* Reading IIR acknowledges THR-empty; then stop it re-arming. */
		serial_iir = inb(UART_IIR);
		outb(UART_IER, 0);
		break;
	case VEC_VIRTIO:
		if (virtio_isr)
			virtio_isr();
		break;
	case VEC_SPURIOUS:
		return; /* no EOI for spurious interrupts */
	default:
		break;
	}
	if (vec >= VEC_IRQ_BASE && vec < VEC_IRQ_BASE + 16)
		return; /* from the (masked) PIC: ignore, it wants no APIC EOI */
	lapic_eoi();
}

/* ---- setup ---- */

static void idt_set(uint32_t vec, const void *handler)
{
	uint64_t a = (uint64_t)handler;

	idt[vec] = (struct idt_gate){
		.offset_lo = (uint16_t)a,
		.selector = SEL_CODE64,
		.type = IDT_GATE_INTR,
		.offset_mid = (uint16_t)(a >> 16),
		.offset_hi = (uint32_t)(a >> 32),
	};
}

static void pic_disable(void)
{
	/* Remap away from the exception vectors first, then mask every line: all
	 * interrupts go through the IOAPIC. */
	outb(PIC1_CMD, PIC_ICW1);
	outb(PIC2_CMD, PIC_ICW1);
	outb(PIC1_DATA, VEC_IRQ_BASE);
	outb(PIC2_DATA, VEC_IRQ_BASE + 8);
	outb(PIC1_DATA, 4); /* slave on IR2 */
	outb(PIC2_DATA, 2);
	outb(PIC1_DATA, PIC_ICW4);
	outb(PIC2_DATA, PIC_ICW4);
	outb(PIC1_DATA, 0xFF);
	outb(PIC2_DATA, 0xFF);
}

/* Also used by APs: an exception there is then reported, not a triple fault. */
void idt_load(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr = { sizeof(idt) - 1, (uint64_t)idt };

	__asm__ volatile("lidt %0" : : "m"(idtr));
}

void irq_setup(void)
{
	uint64_t apic_base;

	for (uint32_t v = 0; v < IDT_ENTRIES; v++)
		idt_set(v, isr_stubs + v * STUB_SIZE);
	idt_load();

	pic_disable();

	apic_base = rdmsr(MSR_APIC_BASE);
	x2apic = (apic_base & APIC_BASE_X2APIC) != 0;
	if (!(apic_base & APIC_BASE_ENABLE))
		wrmsr(MSR_APIC_BASE, apic_base | APIC_BASE_ENABLE);
	lapic_base = apic_base & APIC_BASE_MASK;
	lapic_write(APIC_TPR, 0);
	lapic_write(APIC_SVR, APIC_SVR_ENABLE | VEC_SPURIOUS);
	report_ok("lapic", "%s at 0x%lx, id %u, version 0x%x", x2apic ? "x2APIC" : "xAPIC", lapic_base,
		  lapic_id(), lapic_read(APIC_VERSION) & 0xff);
}

/* Wait with interrupts on until the vector has fired, or the time is up. */
static bool wait_irq(uint32_t vec, uint32_t before, uint64_t *elapsed_us)
{
	uint64_t t0 = time_us(), now = t0;

	irq_enable();
	while (irq_count[vec] == before && now - t0 < IRQ_WAIT_US) {
		cpu_relax();
		now = time_us();
	}
	irq_disable();
	*elapsed_us = now - t0;
	return irq_count[vec] != before;
}

static void check_timer_irq(void)
{
	uint32_t before = irq_count[VEC_TIMER];
	uint64_t us;

	lapic_write(APIC_TIMER_DIV, APIC_TIMER_DIV_1);
	lapic_write(APIC_LVT_TIMER, VEC_TIMER); /* one-shot, unmasked */
	lapic_write(APIC_TIMER_INIT, APIC_TIMER_COUNT);
	if (wait_irq(VEC_TIMER, before, &us))
		report_ok("timer", "LAPIC timer interrupt on vector 0x%x after %lu us", VEC_TIMER, us);
	else
		report_fail("timer", "no LAPIC timer interrupt within %lu us (current count %u)", us,
			    lapic_read(APIC_TIMER_CUR));
	lapic_write(APIC_LVT_TIMER, IOAPIC_MASKED); /* same mask bit in the LVT */
}

static void check_serial_irq(void)
{
	uint32_t before = irq_count[VEC_SERIAL], gsi = plat.serial_gsi ? plat.serial_gsi : COM1_IRQ;
	uint32_t ver = ioapic_read(IOAPIC_REG_VER), pins = ((ver >> 16) & 0xff) + 1;
	uint64_t us;

	if (ver == 0xFFFFFFFF || gsi >= pins) {
		report_fail("ioapic", "no IOAPIC at 0x%lx (version register 0x%x)", ioapic_base(), ver);
		return;
	}
	report_ok("ioapic", "id %u at 0x%lx, version 0x%x, %u pins", ioapic_read(IOAPIC_REG_ID) >> 24,
		  ioapic_base(), ver & 0xff, pins);

	/* Edge triggered, as ISA IRQs are: enabling THRI with an empty THR raises it. */
	ioapic_route(gsi, VEC_SERIAL, false);
	outb(UART_IER, UART_IER_THRI);
	if (wait_irq(VEC_SERIAL, before, &us))
		report_ok("serial-irq", "COM1 THR-empty interrupt on IRQ %u (GSI %u, vector 0x%x) after %lu us, "
			  "IIR 0x%x", COM1_IRQ, gsi, VEC_SERIAL, us, serial_iir);
	else
		report_fail("serial-irq", "no COM1 interrupt on GSI %u within %lu us (IIR 0x%x)", gsi, us,
			    inb(UART_IIR));
	outb(UART_IER, 0);
	ioapic_mask(gsi);
}

void report_stray_irqs(void)
{
	for (uint32_t v = 32; v < IDT_ENTRIES; v++) {
		if (irq_count[v] && v != VEC_TIMER && v != VEC_SERIAL && v != VEC_VIRTIO)
			report_info("irq", "%u stray interrupt(s) on vector 0x%x", irq_count[v], v);
	}
}

void check_interrupts(void)
{
	uint32_t pins = ((ioapic_read(IOAPIC_REG_VER) >> 16) & 0xff) + 1;

	/* Firmware (qboot) may have left pins routed to vectors we have no use for. */
	for (uint32_t pin = 0; pin < pins && pin < IOAPIC_MAX_PINS; pin++)
		ioapic_mask(pin);
	check_timer_irq();
	check_serial_irq();
}
