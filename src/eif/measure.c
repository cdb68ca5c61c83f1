// SPDX-License-Identifier: MIT
/*
 * PCR0/1/2 and the CRC, in one pass over the bytes and on two threads.
 *
 * Measured sections, in file order (metadata and signature never count):
 *   PCR0 = kernel, cmdline and every ramdisk
 *   PCR1 = kernel, cmdline and the first ramdisk
 *   PCR2 = the ramdisks after the first
 * PCR1's input is PCR0's with the later ramdisks left out, so PCR1's hash state is a copy of PCR0's taken where
 * the second ramdisk starts (any kernel or cmdline section after that point, which no builder writes, is fed to
 * both).  The later ramdisks are hashed a second time for PCR2 on the other thread, together with the CRC (or
 * with the writer's output, see writer.c): SHA-384 is the slow part, so the two SHA streams run side by side.
 *
 * An image in memory is measured in place (eif_measure); an image file in pieces read with pread (eif_measure_fd,
 * through writer_stream.c's ring), so a file truncated meanwhile is a short read, never a SIGBUS.
 */
#include "eif.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#ifdef NITROVM_HAVE_ISAL
#include <isa-l/crc.h>
#else
#include <zlib.h>
#endif

#include "common/util.h"
#include "measure_internal.h"

/* Below this many bytes a second thread costs more than it saves. */
#define MEASURE_PARALLEL_MIN (4 * MiB)

/* The same CRC-32 either way (zlib's polynomial, reflected); ISA-L's is several times faster. */
uint32_t eif_crc32_update(uint32_t crc, const void *buf, size_t len)
{
#ifdef NITROVM_HAVE_ISAL
	return crc32_gzip_refl(crc, buf, len);
#else
	/* zlib takes an unsigned int length: feed it in pieces that fit. */
	const uint8_t *p = buf;

	while (len) {
		unsigned int n = (unsigned int)MIN(len, (size_t)UINT32_MAX);

		crc = (uint32_t)crc32(crc, p, n);
		p += n;
		len -= n;
	}
	return crc;
#endif
}

uint32_t eif_crc(const uint8_t *buf, size_t len)
{
	uint32_t crc = eif_crc32_update(0, buf, MIN(len, (size_t)EIF_CRC_OFFSET));

	if (len > EIF_CRC_OFFSET + 4)
		crc = eif_crc32_update(crc, buf + EIF_CRC_OFFSET + 4, len - EIF_CRC_OFFSET - 4);
	return crc;
}

static bool measured(uint16_t type)
{
	return type == EIF_SECTION_KERNEL || type == EIF_SECTION_CMDLINE || type == EIF_SECTION_RAMDISK;
}

/* PCR0 and PCR1: every measured section, with PCR1 forked off where the second ramdisk begins. */
static int hash_pcr0_pcr1(const struct measure_job *j, struct eif_measurements *m)
{
	struct sha384_ctx c0, c1 = { 0 };
	unsigned int ramdisks = 0;
	uint8_t d[SHA384_LEN];

	if (sha384_init(&c0))
		return -ENOMEM;
	for (unsigned int i = 0; i < j->n; i++) {
		const struct measure_section *s = &j->secs[i];

		if (!measured(s->type))
			continue;
		if (s->type == EIF_SECTION_RAMDISK && ++ramdisks == 2 && sha384_copy(&c1, &c0)) {
			sha384_free(&c0);
			return -ENOMEM;
		}
		sha384_update(&c0, s->data, s->size);
		if (c1.md && s->type != EIF_SECTION_RAMDISK)
			sha384_update(&c1, s->data, s->size);
	}
	if (!c1.md && sha384_copy(&c1, &c0)) {
		sha384_free(&c0);
		return -ENOMEM;
	}
	sha384_final(&c0, d);
	pcr_from_digest(d, m->pcr0);
	sha384_final(&c1, d);
	pcr_from_digest(d, m->pcr1);
	return 0;
}

static int hash_pcr2(const struct measure_job *j, struct eif_measurements *m)
{
	struct sha384_ctx c;
	unsigned int ramdisks = 0;
	uint8_t d[SHA384_LEN];

	if (sha384_init(&c))
		return -ENOMEM;
	for (unsigned int i = 0; i < j->n; i++)
		if (j->secs[i].type == EIF_SECTION_RAMDISK && ++ramdisks >= 2)
			sha384_update(&c, j->secs[i].data, j->secs[i].size);
	sha384_final(&c, d);
	pcr_from_digest(d, m->pcr2);
	return 0;
}

struct side {
	const struct measure_job *job;
	struct eif_measurements *m;
	int ret;
};

static void *side_thread(void *arg)
{
	struct side *s = arg;

	s->ret = s->job->side ? s->job->side(s->job->side_arg) : 0;
	if (!s->ret)
		s->ret = hash_pcr2(s->job, s->m);
	return NULL;
}

int measure_run(const struct measure_job *j, struct eif_measurements *m)
{
	struct side side = { .job = j, .m = m };
	uint64_t total = 0;
	pthread_t t;
	int ret;

	for (unsigned int i = 0; i < j->n; i++)
		total += j->secs[i].size;
	if (total < MEASURE_PARALLEL_MIN || pthread_create(&t, NULL, side_thread, &side)) {
		side_thread(&side);
		ret = hash_pcr0_pcr1(j, m);
		return ret ? ret : side.ret;
	}
	ret = hash_pcr0_pcr1(j, m);
	pthread_join(t, NULL);
	if (ret == -ENOMEM || side.ret == -ENOMEM)
		return err_set(ENOMEM, "out of memory while hashing the image");
	return ret ? ret : side.ret;
}

struct crc_job {
	const struct eif *e;
	uint32_t *crc;
};

static int crc_side(void *arg)
{
	struct crc_job *c = arg;

	*c->crc = eif_crc(c->e->base, c->e->size);
	return 0;
}

int eif_measure(const struct eif *e, struct eif_measurements *m)
{
	struct measure_section secs[EIF_MAX_SECTIONS];
	struct crc_job crc = { .e = e, .crc = &m->crc };
	struct measure_job j = { .secs = secs, .n = e->nsections, .side = crc_side, .side_arg = &crc };

	for (unsigned int i = 0; i < e->nsections; i++) {
		secs[i].type = e->sections[i].type;
		secs[i].data = e->sections[i].data;
		secs[i].size = e->sections[i].size;
	}
	return measure_run(&j, m);
}

/* One section of the image file, read piece by piece for eif_stream_write. */
struct file_section {
	int fd;
	uint64_t off; /* of its next byte in the file */
	const atomic_bool *stop;
};

static int pread_exact(int fd, uint8_t *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pread(fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set(errno, "cannot read the image file: %s", strerror(errno));
		if (n == 0)
			return err_set(ESTALE, "the image file ends at byte %llu, before the end of its last section: "
					       "it was cut short",
				       (unsigned long long)off);
		buf += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int file_section_read(void *arg, uint8_t *buf, size_t len)
{
	struct file_section *f = arg;
	int ret;

	if (f->stop && atomic_load(f->stop))
		return err_set(ECANCELED, "the measurement was stopped");
	ret = pread_exact(f->fd, buf, len, f->off);
	f->off += len;
	return ret;
}

int eif_measure_fd(int fd, const struct eif *layout, const atomic_bool *stop, struct eif_measurements *m)
{
	struct file_section fs[EIF_MAX_SECTIONS];
	struct eif_stream st[EIF_MAX_SECTIONS];
	struct eif_layout l = { .n = layout->nsections, .streams = true };
	int ret = pread_exact(fd, l.header, EIF_HEADER_SIZE, 0);

	if (ret)
		return ret;
	for (unsigned int i = 0; i < l.n; i++) {
		const struct eif_section *s = &layout->sections[i];

		fs[i] = (struct file_section){ .fd = fd, .off = s->offset + EIF_SECTION_HEADER_SIZE, .stop = stop };
		st[i] = (struct eif_stream){ .size = s->size, .read = file_section_read, .arg = &fs[i] };
		l.secs[i] = (struct measure_section){ .type = s->type, .size = s->size, .stream = &st[i] };
	}
	return eif_stream_write(&l, -1, NULL, m);
}
