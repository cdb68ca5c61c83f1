// SPDX-License-Identifier: MIT
#include "fake_mem.h"

#include <string.h>
#include <sys/mman.h>

int fake_mem_init(struct fake_mem *m, bool with_big)
{
	size_t r0_off = FAKE_PAGE, canary_off = r0_off + FAKE_R0_SIZE, r1_off = canary_off + FAKE_CANARY_SIZE;

	memset(m, 0, sizeof(*m));
	m->map_size = r1_off + FAKE_R1_SIZE + FAKE_PAGE;
	m->map = mmap(NULL, m->map_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m->map == MAP_FAILED)
		return -1;
	if (mprotect(m->map + r0_off, r1_off + FAKE_R1_SIZE - r0_off, PROT_READ | PROT_WRITE))
		return -1;
	m->canary = m->map + canary_off;
	memset(m->canary, FAKE_CANARY, FAKE_CANARY_SIZE);
	m->gm.regions[0] = (struct guest_mem_region){ FAKE_R0_GPA, FAKE_R0_SIZE, m->map + r0_off };
	m->gm.regions[1] = (struct guest_mem_region){ FAKE_R1_GPA, FAKE_R1_SIZE, m->map + r1_off };
	m->gm.nregions = 2;
	if (!with_big)
		return 0;
	/* Address space only: pages appear if something writes them, which the tests check does not happen. */
	m->big = mmap(NULL, FAKE_BIG_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m->big == MAP_FAILED)
		return -1;
	m->gm.regions[2] = (struct guest_mem_region){ FAKE_BIG_GPA, FAKE_BIG_SIZE, m->big };
	m->gm.nregions = 3;
	return 0;
}

void fake_mem_free(struct fake_mem *m)
{
	if (m->map && m->map != MAP_FAILED)
		munmap(m->map, m->map_size);
	if (m->big && m->big != MAP_FAILED)
		munmap(m->big, FAKE_BIG_SIZE);
	memset(m, 0, sizeof(*m));
}

void fake_mem_clear(struct fake_mem *m)
{
	memset(fake_r0(m), 0, FAKE_R0_SIZE);
	memset(fake_r1(m), 0, FAKE_R1_SIZE);
	memset(m->canary, FAKE_CANARY, FAKE_CANARY_SIZE);
}

uint8_t *fake_r0(struct fake_mem *m)
{
	return m->gm.regions[0].hva;
}

uint8_t *fake_r1(struct fake_mem *m)
{
	return m->gm.regions[1].hva;
}

bool fake_canary_intact(const struct fake_mem *m)
{
	for (size_t i = 0; i < FAKE_CANARY_SIZE; i++)
		if (m->canary[i] != FAKE_CANARY)
			return false;
	return true;
}
