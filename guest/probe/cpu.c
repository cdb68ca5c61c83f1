// SPDX-License-Identifier: MIT
/*
 * The probe's own page tables and GDT.  The 64-bit boot protocol only promises
 * that the image, the zero page and the command line are mapped; the initrd, the
 * ACPI tables and the MMIO windows (IOAPIC, LAPIC, virtio) may not be.  So map
 * 0 - 4 GiB 1:1 with 2 MiB pages, the top GiB uncached for the MMIO.
 */
#include "probe.h"

#define PTE_PRESENT  0x001
#define PTE_WRITE    0x002
#define PTE_PWT      0x008
#define PTE_PCD      0x010
#define PTE_LARGE    0x080
#define PAGE_2M      0x200000ULL
#define MMIO_GIB     3 /* 0xC0000000 - 0xFFFFFFFF: IOAPIC, LAPIC, virtio-mmio */
#define NR_PD        4
#define PT_ENTRIES   512

/*
 * Same place and layout as startup_32 builds them (head.S, __pgt_off): PML4,
 * PDPT, then one PD per GiB.  Rewriting them while they are live is fine: the
 * entries only gain cache attributes, and CR3 is reloaded afterwards.
 */
uint64_t boot_pgt[2 + NR_PD][PT_ENTRIES] __attribute__((aligned(4096), section(".noinit.pgt")));

/* BSP stack; the symbol boot_stack_top is used by head.S. */
#define BOOT_STACK_SIZE 16384
uint8_t boot_stack[BOOT_STACK_SIZE] __attribute__((aligned(16), section(".noinit.stack")));
__asm__(".globl boot_stack_top\n.set boot_stack_top, boot_stack + 16384\n");
_Static_assert(BOOT_STACK_SIZE == 16384, "boot_stack_top above assumes 16 KiB");

static uint64_t gdt[] = {
	0,
	0,
	0x00af9a000000ffffULL, /* 0x10: 64-bit code */
	0x00cf92000000ffffULL, /* 0x18: data */
};

struct descriptor_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

extern void load_cs(void);

uint64_t cpu_cr3(void)
{
	return (uint64_t)boot_pgt;
}

void cpu_setup(void)
{
	uint64_t *pml4 = boot_pgt[0], *pdpt = boot_pgt[1];
	struct descriptor_ptr gdtr = { sizeof(gdt) - 1, (uint64_t)gdt };

	/* Leaves first, root last, each entry written once with its final value:
	 * these tables may be the live ones (startup_32 built them). */
	for (int g = 0; g < NR_PD; g++) {
		uint64_t *pd = boot_pgt[2 + g];
		uint64_t attr = PTE_PRESENT | PTE_WRITE | PTE_LARGE;

		if (g == MMIO_GIB)
			attr |= PTE_PCD | PTE_PWT;
		for (int i = 0; i < PT_ENTRIES; i++)
			pd[i] = ((uint64_t)g * PT_ENTRIES + i) * PAGE_2M | attr;
	}
	for (int i = 0; i < PT_ENTRIES; i++)
		pdpt[i] = i < NR_PD ? (uint64_t)boot_pgt[2 + i] | PTE_PRESENT | PTE_WRITE : 0;
	for (int i = 0; i < PT_ENTRIES; i++)
		pml4[i] = i == 0 ? (uint64_t)pdpt | PTE_PRESENT | PTE_WRITE : 0;
	__asm__ volatile("mov %0, %%cr3" : : "r"((uint64_t)pml4) : "memory");

	__asm__ volatile("lgdt %0" : : "m"(gdtr));
	__asm__ volatile("mov %0, %%ds; mov %0, %%es; mov %0, %%ss; mov %0, %%fs; mov %0, %%gs"
			 : : "r"((uint32_t)SEL_DATA));
	load_cs();
}
