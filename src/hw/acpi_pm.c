// SPDX-License-Identifier: MIT
#include "acpi_pm.h"

#include <string.h>

#define ACPI_SLEEP_CONTROL    0
#define ACPI_SLEEP_STATUS     1
#define ACPI_X_SLEEP_TYP_SHIFT 2
#define ACPI_X_SLEEP_TYP_MASK 0x1c
#define ACPI_X_SLEEP_ENABLE   0x20
#define ACPI_X_WAKE_STATUS    0x80

void acpi_pm_io(void *opaque, uint64_t offset, void *data, unsigned int len, bool is_write)
{
	struct acpi_pm *pm = opaque;
	uint8_t v;

	if (!is_write) {
		memset(data, 0, len);
		/* "Awake": an OS that polls for wake-up after a sleep request never spins forever. */
		if (offset == ACPI_SLEEP_STATUS)
			*(uint8_t *)data = ACPI_X_WAKE_STATUS;
		return;
	}
	if (offset != ACPI_SLEEP_CONTROL || !len)
		return;
	v = *(uint8_t *)data;
	if ((v & ACPI_X_SLEEP_ENABLE) &&
	    ((v & ACPI_X_SLEEP_TYP_MASK) >> ACPI_X_SLEEP_TYP_SHIFT) == ACPI_PM_S5_SLEEP_TYP)
		pm->poweroff(pm->opaque);
}
