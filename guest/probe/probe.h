/* SPDX-License-Identifier: MIT */
/*
 * probe: a freestanding x86-64 test guest that boots as a bzImage and reports what
 * the machine gave it on the serial port.  Everything here is compiled with
 * -mgeneral-regs-only: the PVM hypervisor on the development hosts emulates guest
 * kernel code and cannot run SSE/AVX, cmpxchg16b, xsave or int3.
 */
#ifndef PROBE_H
#define PROBE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every symbol stays inside the image: no GOT, no PLT, RIP-relative code. */
#pragma GCC visibility push(hidden)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PAGE_SIZE     4096UL

/* ---- fixed machine facts the probe relies on ---- */
#define COM1_BASE       0x3F8
#define COM1_IRQ        4
#define DEBUG_EXIT_PORT 0x501
#define I8042_CMD_PORT  0x64
#define I8042_CMD_RESET 0xFE
#define LAPIC_DEFAULT   0xFEE00000UL
#define IOAPIC_DEFAULT  0xFEC00000UL

/* Interrupt vectors the probe uses (above the 32 exception vectors). */
#define VEC_IRQ_BASE 0x20 /* legacy PIC remapped here, all masked */
#define VEC_TIMER    0x30 /* LAPIC timer */
#define VEC_SERIAL   0x31 /* IOAPIC pin of COM1 */
#define VEC_VIRTIO   0x32 /* IOAPIC pin of the virtio test device */
#define VEC_SPURIOUS 0xFF

/* Segment selectors of the probe's own GDT (the boot protocol's __BOOT_CS/__BOOT_DS). */
#define SEL_CODE64 0x10
#define SEL_DATA   0x18

/* ---- port and MMIO access ---- */
static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint32_t mmio_read32(uint64_t addr)
{
	return *(volatile uint32_t *)addr;
}

static inline void mmio_write32(uint64_t addr, uint32_t v)
{
	*(volatile uint32_t *)addr = v;
}

/*
 * A pointer to a fixed physical address (identity mapped).  The empty asm hides
 * the constant from GCC, which otherwise warns about dereferencing "page 0".
 */
static inline void *phys(uint64_t addr)
{
	__asm__("" : "+r"(addr));
	return (void *)addr;
}

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static inline void cpuid(uint32_t leaf, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}

static inline void cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}

static inline void barrier(void)
{
	__asm__ volatile("" ::: "memory");
}

static inline void irq_enable(void)
{
	__asm__ volatile("sti" ::: "memory");
}

static inline void irq_disable(void)
{
	__asm__ volatile("cli" ::: "memory");
}

/* ---- lib.c: strings, console, formatting ---- */
void *memset(void *s, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);

void serial_init(void);
void serial_write(const char *s, size_t n);
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

uint32_t crc32(uint32_t crc, const void *buf, size_t len);
uint8_t checksum8(const void *p, size_t len);

/* ---- check reporting (main.c) ---- */
/*
 * Outcomes of one check.  SKIP is for checks that do not apply (device not
 * configured) and for machine-specific checks when running under QEMU
 * (probe.qemu=1), whose tables and devices differ from nitrovm's.
 */
void report_ok(const char *check, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void report_fail(const char *check, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void report_skip(const char *check, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* FAIL on nitrovm, SKIP under probe.qemu=1. */
void report_fail_machine(const char *check, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void report_info(const char *check, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void probe_exit(bool pass) __attribute__((noreturn));

/* ---- time.c: TSC calibrated against the PIT, for bounded waits ---- */
void time_init(void);
uint64_t time_us(void);
void udelay(uint64_t us);

/* ---- cmdline.c ---- */
struct probe_config {
	const char *cmdline;
	uint32_t cmdline_len;
	bool qemu;             /* probe.qemu=1 */
	bool have_initrd_crc;  /* probe.initrd_crc=<hex> */
	uint32_t initrd_crc;
	bool have_initrd_size; /* probe.initrd_size=<dec|0xhex> */
	uint64_t initrd_size;
	bool have_virtio;      /* probe.virtio=<addr>:<irq> */
	uint64_t virtio_base;
	uint32_t virtio_irq;
	bool badvq;            /* probe.badvq=1 */
	bool no_acpi;          /* probe.acpi=0: the machine has ACPI switched off */
	uint32_t cpus;         /* probe.cpus=<n>, 0 = take it from the tables */
	uint64_t mem_mib;      /* probe.mem=<MiB>, 0 = do not check */
	int lnro;              /* probe.lnro=<n>: LNRO0005 devices in the DSDT, -1 = at least one */
	bool nsm;              /* probe.nsm=1: ask the NSM at 0xd0001000 (nsm.c) */
	uint32_t nsm_bench;    /* probe.nsm_bench=<n>: then time n round trips of each kind */
	bool hold;             /* probe.hold=1: idle after the result instead of exiting */
};

extern struct probe_config cfg;
void cmdline_parse(const char *cmdline, uint32_t len);

/* ---- bootparams.c ---- */
struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

#define E820_RAM 1

struct boot_info {
	uint8_t *bp;         /* the zero page */
	uint64_t load_addr;  /* where the protected-mode image runs */
	uint64_t image_end;  /* load_addr + init_size */
	uint64_t cmdline_addr;
	uint64_t initrd_addr, initrd_size;
	uint64_t rsdp_addr;  /* from the zero page, 0 if not given */
	struct e820_entry *e820;
	uint32_t e820_count;
};

extern struct boot_info boot;
void check_zero_page(uint8_t *bp);
void check_e820(void);
void check_initrd(void);
bool e820_is_ram(uint64_t addr, uint64_t len);

/* ---- paging / cpu setup (cpu.c) ---- */
void cpu_setup(void);
uint64_t cpu_cr3(void);

/* ---- acpi.c, mptable.c ---- */
struct platform_info {
	uint32_t acpi_cpus;
	uint32_t mp_cpus;
	uint32_t apic_ids[16];
	uint32_t n_apic_ids;
	uint64_t ioapic_addr;
	uint32_t serial_gsi; /* after interrupt source overrides */
	bool ioapic_found;
};

extern struct platform_info plat;
void check_acpi(void);
void check_mptable(void);

/* ---- irq.c ---- */
struct irq_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};

void irq_setup(void);
void check_interrupts(void);
void report_stray_irqs(void);
uint32_t lapic_read(uint32_t reg);
void lapic_write(uint32_t reg, uint32_t v);
uint32_t lapic_id(void);
uint32_t lapic_id_this_cpu(void);
void idt_load(void);
void lapic_send_ipi(uint32_t apic_id, uint32_t icr_low);
void ioapic_route(uint32_t pin, uint8_t vector, bool level);
void ioapic_mask(uint32_t pin);
extern volatile uint32_t irq_count[256];
extern void (*virtio_isr)(void); /* called from the interrupt handler */

/* ---- smp.c ---- */
void check_smp(void);

/* ---- virtio.c ---- */
void check_virtio(void);

/* ---- nsm.c ---- */
void check_nsm(void);

/* ---- vsock.c ---- */
void check_vsock(void);

#endif /* PROBE_H */
