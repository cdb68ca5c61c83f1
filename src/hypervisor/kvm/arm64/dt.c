// SPDX-License-Identifier: MIT
/*
 * The device tree that describes the arm64 Nitro machine to its kernel (Documentation/devicetree/bindings):
 * what Firecracker's aarch64 machine shows a guest, which is what AWS's enclave kernel is configured for.
 * Pure: built from struct arm64_dt, no KVM, so the unit tier checks it on any host.
 */
#include "arm64.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "fdt.h"

/* The interrupts property's cells (arm,gic-v3 and arm,cortex-a15-gic bindings). */
#define GIC_SPI		       0
#define GIC_PPI		       1
#define IRQ_TYPE_EDGE_RISING   1
#define IRQ_TYPE_LEVEL_HIGH    4
#define IRQ_TYPE_LEVEL_LOW     8
/* GICv2 only: which CPUs a private interrupt reaches, bits 8-15 of the flags cell. */
#define GICV2_PPI_CPU_MASK(n) ((((1U << (n)) - 1) & 0xff) << 8)

/* The architected timer's private interrupts (PPI numbers, INTID - 16), the order the binding lists them. */
#define TIMER_PPI_SECURE_PHYS 13
#define TIMER_PPI_PHYS	      14
#define TIMER_PPI_VIRT	      11
#define TIMER_PPI_HYP_PHYS    10

/* Node names are "name@hexaddress". */
#define NODE_NAME_MAX 64

static void reg64(struct fdt_writer *w, uint64_t base, uint64_t size)
{
	uint32_t c[4] = { (uint32_t)(base >> 32), (uint32_t)base, (uint32_t)(size >> 32), (uint32_t)size };

	fdt_prop_cells(w, "reg", c, 4);
}

static void begin_node_at(struct fdt_writer *w, const char *name, uint64_t addr)
{
	char n[NODE_NAME_MAX];

	snprintf(n, sizeof(n), "%s@%llx", name, (unsigned long long)addr);
	fdt_begin_node(w, n);
}

static void cpus_node(struct fdt_writer *w, const struct arm64_dt *p)
{
	fdt_begin_node(w, "cpus");
	/* One cell: MPIDR_EL1's affinity fields Aff2..Aff0 (KVM leaves Aff3 zero below 2^20 vCPUs). */
	fdt_prop_u32(w, "#address-cells", 1);
	fdt_prop_u32(w, "#size-cells", 0);
	for (unsigned int i = 0; i < p->ncpus; i++) {
		uint32_t reg = (uint32_t)(p->mpidr[i] & 0xffffff);

		begin_node_at(w, "cpu", reg);
		fdt_prop_string(w, "device_type", "cpu");
		fdt_prop_string(w, "compatible", "arm,arm-v8");
		/* Secondaries start powered off; the kernel brings them up with PSCI CPU_ON. */
		fdt_prop_string(w, "enable-method", "psci");
		fdt_prop_u32(w, "reg", reg);
		fdt_end_node(w);
	}
	fdt_end_node(w);
}

static void psci_node(struct fdt_writer *w)
{
	static const char compat[] = "arm,psci-1.0\0arm,psci-0.2";

	fdt_begin_node(w, "psci");
	fdt_prop_strings(w, "compatible", compat, sizeof(compat));
	/* KVM answers PSCI calls made with HVC from EL1 (and turns SYSTEM_OFF/RESET into exits for us). */
	fdt_prop_string(w, "method", "hvc");
	fdt_end_node(w);
}

static void gic_node(struct fdt_writer *w, const struct arm64_dt *p)
{
	if (p->gic_version == 3) {
		begin_node_at(w, "intc", ARM64_GIC_DIST_BASE);
		fdt_prop_string(w, "compatible", "arm,gic-v3");
		{
			uint64_t rd = ARM64_GIC_REDIST_PER_CPU * p->ncpus;
			uint32_t c[8] = { 0, (uint32_t)ARM64_GIC_DIST_BASE, 0, (uint32_t)ARM64_GIC_DIST_SIZE,
					  0, (uint32_t)ARM64_GIC_REDIST_BASE, (uint32_t)(rd >> 32), (uint32_t)rd };

			fdt_prop_cells(w, "reg", c, 8);
		}
	} else {
		uint32_t c[8] = { 0, (uint32_t)ARM64_GIC_DIST_BASE, 0, (uint32_t)ARM64_GIC_DIST_SIZE,
				  0, (uint32_t)ARM64_GIC_CPU_BASE, 0, (uint32_t)ARM64_GIC_CPU_SIZE };

		begin_node_at(w, "intc", ARM64_GIC_DIST_BASE);
		fdt_prop_string(w, "compatible", "arm,cortex-a15-gic");
		fdt_prop_cells(w, "reg", c, 8);
	}
	fdt_prop_u32(w, "#interrupt-cells", 3);
	/* An interrupt provider without child nodes (no ITS): dtc and the bindings want this said. */
	fdt_prop_u32(w, "#address-cells", 0);
	fdt_prop_empty(w, "interrupt-controller");
	fdt_prop_u32(w, "phandle", ARM64_DT_GIC_PHANDLE);
	fdt_end_node(w);
}

static void timer_node(struct fdt_writer *w, const struct arm64_dt *p)
{
	static const uint32_t ppis[] = { TIMER_PPI_SECURE_PHYS, TIMER_PPI_PHYS, TIMER_PPI_VIRT, TIMER_PPI_HYP_PHYS };
	uint32_t flags = IRQ_TYPE_LEVEL_HIGH, c[3 * ARRAY_SIZE(ppis)];

	if (p->gic_version == 2)
		flags |= GICV2_PPI_CPU_MASK(MIN(p->ncpus, 8U));
	for (size_t i = 0; i < ARRAY_SIZE(ppis); i++) {
		c[3 * i] = GIC_PPI;
		c[3 * i + 1] = ppis[i];
		c[3 * i + 2] = flags;
	}
	fdt_begin_node(w, "timer");
	fdt_prop_string(w, "compatible", "arm,armv8-timer");
	fdt_prop_cells(w, "interrupts", c, ARRAY_SIZE(c));
	/* The counter keeps running while a vCPU idles: KVM's timers are not lost in WFI. */
	fdt_prop_empty(w, "always-on");
	fdt_end_node(w);
}

static void serial_node(struct fdt_writer *w)
{
	/* Level-high: the UART's line stays up while it has something to say (KVM_IRQ_LINE follows it). */
	uint32_t irq[3] = { GIC_SPI, ARM64_SERIAL_SPI, IRQ_TYPE_LEVEL_HIGH };

	begin_node_at(w, "uart", ARM64_SERIAL_BASE);
	/* An 8250-compatible UART, no PL011: AWS's enclave kernels say console=ttyS0. */
	fdt_prop_string(w, "compatible", "ns16550a");
	reg64(w, ARM64_SERIAL_BASE, ARM64_SERIAL_SIZE);
	fdt_prop_u32(w, "clock-frequency", ARM64_SERIAL_CLOCK_HZ);
	fdt_prop_cells(w, "interrupts", irq, 3);
	fdt_end_node(w);
}

static void virtio_nodes(struct fdt_writer *w, const struct arm64_dt *p)
{
	for (unsigned int i = 0; i < p->nvirtio && i < ARM64_DT_MAX_VIRTIO; i++) {
		/* Edge: an irqfd injects a pulse per notification. */
		uint32_t irq[3] = { GIC_SPI, p->virtio[i].spi, IRQ_TYPE_EDGE_RISING };

		begin_node_at(w, "virtio_mmio", p->virtio[i].base);
		fdt_prop_string(w, "compatible", "virtio,mmio");
		reg64(w, p->virtio[i].base, 0x1000);
		fdt_prop_cells(w, "interrupts", irq, 3);
		/* nitrovm reads and writes the rings through cacheable mappings: the guest must use them too. */
		fdt_prop_empty(w, "dma-coherent");
		fdt_end_node(w);
	}
}

static void chosen_node(struct fdt_writer *w, const struct arm64_dt *p)
{
	char path[NODE_NAME_MAX];

	fdt_begin_node(w, "chosen");
	fdt_prop_string(w, "bootargs", p->bootargs ? p->bootargs : "");
	if (p->initrd_end > p->initrd_start) {
		fdt_prop_u64(w, "linux,initrd-start", p->initrd_start);
		fdt_prop_u64(w, "linux,initrd-end", p->initrd_end);
	}
	/* The console for earlycon without arguments, and the default one. */
	snprintf(path, sizeof(path), "/uart@%llx", (unsigned long long)ARM64_SERIAL_BASE);
	fdt_prop_string(w, "stdout-path", path);
	/* KASLR on arm64 takes its seed from here (there is no EFI to ask). */
	if (p->kaslr_seed)
		fdt_prop_u64(w, "kaslr-seed", p->kaslr_seed);
	fdt_end_node(w);
}

int arm64_dt_build(const struct arm64_dt *p, uint8_t **out, size_t *size)
{
	struct fdt_writer w;
	int ret;

	if (!p->ncpus || p->ncpus > ARM64_DT_MAX_CPUS || (p->gic_version != 2 && p->gic_version != 3))
		return err_set(EINVAL, "the device tree cannot describe %u vCPUs on a GICv%u", p->ncpus,
			       p->gic_version);
	if (p->gic_version == 2 && p->ncpus > 8)
		return err_set(EINVAL, "a GICv2 serves at most 8 vCPUs (asked for %u)", p->ncpus);
	fdt_init(&w);
	fdt_begin_node(&w, "");
	fdt_prop_string(&w, "compatible", "linux,dummy-virt");
	fdt_prop_string(&w, "model", "nitrovm arm64 Nitro enclave");
	fdt_prop_u32(&w, "#address-cells", 2);
	fdt_prop_u32(&w, "#size-cells", 2);
	fdt_prop_u32(&w, "interrupt-parent", ARM64_DT_GIC_PHANDLE);
	begin_node_at(&w, "memory", p->ram_base);
	fdt_prop_string(&w, "device_type", "memory");
	reg64(&w, p->ram_base, p->ram_size);
	fdt_end_node(&w);
	cpus_node(&w, p);
	psci_node(&w);
	gic_node(&w, p);
	timer_node(&w, p);
	serial_node(&w);
	virtio_nodes(&w, p);
	chosen_node(&w, p);
	fdt_end_node(&w);
	ret = fdt_finish(&w, ARM64_FDT_MAX, out, size);
	fdt_free(&w);
	return ret;
}
