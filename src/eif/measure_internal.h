/* SPDX-License-Identifier: MIT */
/* Shared by measure.c and writer.c: the PCR pass over a list of sections, with a side job on the second thread. */
#ifndef NITROVM_EIF_MEASURE_INTERNAL_H
#define NITROVM_EIF_MEASURE_INTERNAL_H

#include "eif.h"

struct measure_section {
	uint16_t type;
	const uint8_t *data;
	uint64_t size;
};

struct measure_job {
	const struct measure_section *secs;
	unsigned int n;
	/* Runs on the second thread before PCR2 is hashed there (the CRC, or writing the file). */
	int (*side)(void *arg);
	void *side_arg;
};

int measure_run(const struct measure_job *j, struct eif_measurements *m);

#endif
