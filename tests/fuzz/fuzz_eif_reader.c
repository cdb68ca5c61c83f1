// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the EIF reader, the measurement pass and the signature decoder on untrusted bytes.  An input
 * that is not an EIF is read as a bare signature section instead, so that the section's CBOR and its
 * COSE_Sign1 (crypto/cose.c, in the EIF's words) are fuzzed directly rather than only behind a valid image.
 *
 * Besides memory errors (ASan) and undefined behaviour (UBSan), it checks what the rest of nitrovm relies on
 * when eif_parse() accepts an image: every section lies inside the input, the sections tile the file from the
 * header to the last byte, the required sections are there, the two-thread measurement's CRC is the plain
 * one, and the same bytes read back from a file in pieces (eif_measure_fd, the launch's background measurement)
 * measure the same.  A broken promise aborts, which libFuzzer reports as a crash with the input saved.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/util.h"
#include "eif/eif.h"
#include "eif/signature.h"

#define CHECK(cond)                                                                      \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "fuzz_eif_reader: broken promise: %s\n", #cond); \
			abort();                                                         \
		}                                                                        \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_accepted(const struct eif *e, const uint8_t *data, size_t size)
{
	uint64_t next = EIF_HEADER_SIZE;

	CHECK(e->base == data && e->size == size);
	CHECK(e->nsections >= 1 && e->nsections <= EIF_MAX_SECTIONS);
	for (unsigned int i = 0; i < e->nsections; i++) {
		const struct eif_section *s = &e->sections[i];

		CHECK(s->offset == next);
		CHECK(s->data == data + s->offset + EIF_SECTION_HEADER_SIZE);
		CHECK(s->size <= size - s->offset - EIF_SECTION_HEADER_SIZE);
		CHECK(s->type >= EIF_SECTION_KERNEL && s->type <= EIF_SECTION_METADATA && !s->flags);
		next = s->offset + EIF_SECTION_HEADER_SIZE + s->size;
	}
	CHECK(next == size);
	CHECK(e->kernel && e->cmdline && e->nramdisks >= 1);
	CHECK(e->version >= EIF_VERSION_MIN && e->version <= EIF_VERSION);
	CHECK(e->version < 4 || e->metadata);
	CHECK(!e->signature || e->signature->size <= EIF_SIGNATURE_MAX_SIZE);
}

/*
 * A section that decodes has its verdicts consistent: a check that failed says why, and a signature cannot
 * verify against bytes the fuzzer made up (its certificate would have to hold the key that signed them).
 */
static void check_section(const uint8_t *data, size_t size, const uint8_t pcr0[SHA384_LEN])
{
	struct eif_signature_check sig;

	if (eif_signature_check(data, size, pcr0, &sig)) {
		CHECK(err_msg()[0]);
		return;
	}
	CHECK(sig.cert.signature_hex);
	CHECK((sig.signature_valid && sig.cert_valid_now && sig.payload_matches) == !sig.problem[0]);
	eif_signature_check_free(&sig);
}

/* The image as a file, measured with only the parsed section table, as the launch does in the background. */
static void check_from_file(const struct eif *e, const uint8_t *data, size_t size, const struct eif_measurements *m)
{
	struct eif_measurements f;
	int fd = memfd_create("fuzz-eif", MFD_CLOEXEC);

	CHECK(fd >= 0 && write_full(fd, data, size) == 0);
	CHECK(eif_measure_fd(fd, e, NULL, &f) == 0);
	CHECK(!memcmp(f.pcr0, m->pcr0, SHA384_LEN) && !memcmp(f.pcr1, m->pcr1, SHA384_LEN) &&
	      !memcmp(f.pcr2, m->pcr2, SHA384_LEN) && f.crc == m->crc);
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t zero_pcr0[SHA384_LEN];
	struct eif_measurements m;
	struct eif e;

	if (eif_parse(&e, data, size)) {
		check_section(data, size, zero_pcr0);
		return 0;
	}
	check_accepted(&e, data, size);
	CHECK(eif_measure(&e, &m) == 0);
	CHECK(m.crc == eif_crc(data, size));
	check_from_file(&e, data, size, &m);
	if (e.signature)
		check_section(e.signature->data, e.signature->size, m.pcr0);
	return 0;
}
