/* SPDX-License-Identifier: MIT */
/*
 * The unit tests' own reader of newc cpio archives (tests of eif/cpio.c and of the container image ramdisk):
 * it checks the framing rules (magic, 4-byte padding of zeros, NUL-terminated names, the trailer last) while
 * it reads.  Include after cmocka.h.
 */
#ifndef NITROVM_TESTS_NEWC_PARSE_H
#define NITROVM_TESTS_NEWC_PARSE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One entry read back from an archive by the test's own parser. */
struct parsed {
	char name[256];
	/* ino, mode, uid, gid, nlink, mtime, filesize, devmaj, devmin, rdevmaj, rdevmin, namesize, check */
	uint32_t f[13];
	const uint8_t *data;
};

enum {
	F_INO,
	F_MODE,
	F_UID,
	F_GID,
	F_NLINK,
	F_MTIME,
	F_SIZE,
	F_DEVMAJ,
	F_DEVMIN,
	F_RMAJ,
	F_RMIN,
	F_NAMESIZE
};

static uint32_t hex8(const uint8_t *p)
{
	char s[9];

	memcpy(s, p, 8);
	s[8] = '\0';
	return (uint32_t)strtoul(s, NULL, 16);
}

/* Parse every entry up to and including the trailer; checks the framing rules on the way. */
static size_t parse_archive(const uint8_t *buf, size_t len, struct parsed *out, size_t max)
{
	size_t off = 0, n = 0;

	for (;;) {
		struct parsed *e;

		assert_true(n < max);
		e = &out[n++];
		assert_true(off % 4 == 0);
		assert_true(off + 110 <= len);
		assert_memory_equal(buf + off, "070701", 6);
		for (int i = 0; i < 13; i++)
			e->f[i] = hex8(buf + off + 6 + 8 * i);
		assert_true(e->f[F_NAMESIZE] >= 2 && e->f[F_NAMESIZE] <= sizeof(e->name));
		memcpy(e->name, buf + off + 110, e->f[F_NAMESIZE]);
		assert_int_equal(e->name[e->f[F_NAMESIZE] - 1], '\0');
		off += 110 + e->f[F_NAMESIZE];
		while (off % 4) /* padding is zeros */
			assert_int_equal(buf[off++], 0);
		e->data = buf + off;
		off += e->f[F_SIZE];
		assert_true(off <= len);
		while (off % 4)
			assert_int_equal(buf[off++], 0);
		if (!strcmp(e->name, "TRAILER!!!"))
			break;
	}
	assert_int_equal(off, len);
	return n;
}

#endif
