/* SPDX-License-Identifier: MIT */
/*
 * The PS/2 controller, only as far as an enclave needs it: `reboot=k` pulses the reset line with command 0xFE on
 * port 0x64, which ends the enclave; Linux's i8042 driver probes the controller at boot and must find a sane one.
 * No keyboard or mouse sits behind it.
 */
#ifndef NITROVM_HW_I8042_H
#define NITROVM_HW_I8042_H

#include <stdbool.h>
#include <stdint.h>

#define I8042_DATA_PORT	   0x60
#define I8042_COMMAND_PORT 0x64
#define I8042_KBD_IRQ	   1

struct i8042;

/* Called when the guest resets the machine through the controller (from a vCPU thread). */
typedef void (*i8042_reset_fn)(void *opaque);
typedef void (*i8042_irq_fn)(void *opaque, bool level);

struct i8042 *i8042_create(i8042_reset_fn reset, void *reset_opaque, i8042_irq_fn irq, void *irq_opaque);
void i8042_destroy(struct i8042 *k);
/* Bus handlers: data port (0x60) and status/command port (0x64). */
void i8042_data_io(void *opaque, uint64_t offset, void *data, unsigned int len, bool is_write);
void i8042_command_io(void *opaque, uint64_t offset, void *data, unsigned int len, bool is_write);

#endif
