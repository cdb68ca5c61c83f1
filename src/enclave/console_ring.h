/* SPDX-License-Identifier: MIT */
/*
 * The console history of one enclave: the last CONSOLE_RING_SIZE bytes it printed, kept in a shared file
 * mapping (<run dir>/<slot>.console, registry.h), so that `console` can replay what came before it attached, and
 * what an enclave printed before it ended stays readable after its process is gone, even when that process was
 * killed (nitro-cli shows neither: its #343, #664).
 *
 * One writer (the enclave process); readers map the file read-only once the writer is gone, or ask the writer
 * (which serves the replay from its own mapping).  The header counts every byte ever written, so a reader knows
 * how much of the ring is valid and where it starts.
 */
#ifndef NITROVM_ENCLAVE_CONSOLE_RING_H
#define NITROVM_ENCLAVE_CONSOLE_RING_H

#include <stddef.h>
#include <stdint.h>

/* Enough for a kernel's boot log and an app's last words; a few pages of page cache per enclave. */
#define CONSOLE_RING_SIZE (256 * 1024)

struct console_ring {
	uint8_t *map; /* header, then the ring */
	size_t map_size;
};

/* Create (or replace) the file and map it writable. */
int console_ring_create(struct console_ring *r, const char *path);
/* Map an existing file read-only. */
int console_ring_open(struct console_ring *r, const char *path);
void console_ring_close(struct console_ring *r);

void console_ring_append(struct console_ring *r, const uint8_t *buf, size_t len);
/* The valid history in order, as up to two pieces (the ring may wrap); returns the total length. */
size_t console_ring_pieces(const struct console_ring *r, const uint8_t **a, size_t *alen, const uint8_t **b,
			   size_t *blen);

#endif
