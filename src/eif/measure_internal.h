/* SPDX-License-Identifier: MIT */
/* Shared by measure.c and writer.c: the PCR pass over a list of sections, with a side job on the second thread. */
#ifndef NITROVM_EIF_MEASURE_INTERNAL_H
#define NITROVM_EIF_MEASURE_INTERNAL_H

#include "eif.h"

struct measure_section {
	uint16_t type;
	const uint8_t *data;
	uint64_t size;
	const struct eif_stream *stream; /* instead of data (writer_stream.c) */
};

struct measure_job {
	const struct measure_section *secs;
	unsigned int n;
	/* Runs on the second thread before PCR2 is hashed there (the CRC, or writing the file). */
	int (*side)(void *arg);
	void *side_arg;
};

int measure_run(const struct measure_job *j, struct eif_measurements *m);

/* The sections of an image in file order and its header (CRC still zero), as writer.c lays them out. */
struct eif_layout {
	struct measure_section secs[EIF_MAX_SECTIONS];
	unsigned int n;
	bool streams; /* some section is a stream */
	uint8_t header[EIF_HEADER_SIZE];
};
void eif_section_header(const struct measure_section *s, uint8_t out[EIF_SECTION_HEADER_SIZE]);
/*
 * Images with streamed sections: measure (and, with fd >= 0, write) in bounded pieces, PCR0/PCR1 on this
 * thread while another hashes PCR2, computes the CRC and writes.  Streams are left at their end.
 */
int eif_stream_write(const struct eif_layout *l, int fd, const char *path, struct eif_measurements *m);

#endif
