/* SPDX-License-Identifier: MIT */
/* A 16550A UART (COM1: I/O port 0x3F8, IRQ 4), the enclave's console in both directions. */
#ifndef NITROVM_HW_SERIAL_H
#define NITROVM_HW_SERIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SERIAL_COM1_BASE 0x3f8
#define SERIAL_COM1_IRQ	 4
#define SERIAL_NR_PORTS	 8

struct serial;

/* Where transmitted bytes go (called with the device lock held, from a vCPU thread). */
typedef void (*serial_output_fn)(void *opaque, const uint8_t *buf, size_t len);
/* Drive the interrupt line to level (the ISA line is level-sensitive from the UART's side). */
typedef void (*serial_irq_fn)(void *opaque, bool level);

struct serial *serial_create(serial_output_fn out, void *out_opaque, serial_irq_fn irq, void *irq_opaque);
void serial_destroy(struct serial *s);
/* Bus handler for the 8 ports at base. */
void serial_io(void *opaque, uint64_t offset, void *data, unsigned int len, bool is_write);
/* Host input for the guest; returns how many bytes fitted (the rest is lost and flagged as an overrun). */
size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len);

#endif
