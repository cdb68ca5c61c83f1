/* SPDX-License-Identifier: MIT */
/*
 * The hardware-reduced ACPI sleep registers (FADT SLEEP_CONTROL_REG / SLEEP_STATUS_REG): writing SLP_EN with
 * sleep type 5 (S5, soft-off) is how an ACPI guest powers off, so `poweroff` inside the enclave ends it.
 */
#ifndef NITROVM_HW_ACPI_PM_H
#define NITROVM_HW_ACPI_PM_H

#include <stdbool.h>
#include <stdint.h>

#define ACPI_PM_PORT	     0x600 /* sleep control; sleep status at +1 */
#define ACPI_PM_NR_PORTS     2
#define ACPI_PM_S5_SLEEP_TYP 5 /* the value the DSDT's _S5_ package announces */

typedef void (*acpi_pm_poweroff_fn)(void *opaque);

struct acpi_pm {
	acpi_pm_poweroff_fn poweroff;
	void *opaque;
};

void acpi_pm_io(void *opaque, uint64_t offset, void *data, unsigned int len, bool is_write);

#endif
