// SPDX-License-Identifier: MIT
/*
 * EIF writer: header, then kernel, cmdline, metadata, ramdisks, signature (nitro-cli's order), version 4.
 * The file is written and CRC'd on one thread while the other hashes PCR0/PCR1 (measure.c), so building an
 * image costs about one SHA-384 pass over its bytes.
 */
#include "eif.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "measure_internal.h"

/* Writes go out in pieces of this size so the CRC reads each piece while it is still in cache. */
#define WRITE_CHUNK (4 * MiB)

static void add(struct eif_layout *l, uint16_t type, const struct eif_blob *b, const struct eif_stream *stream)
{
	l->secs[l->n].type = type;
	l->secs[l->n].data = stream ? NULL : b->data;
	l->secs[l->n].size = stream ? stream->size : b->size;
	l->secs[l->n].stream = stream;
	l->streams |= stream != NULL;
	l->n++;
}

static void eif_lay_out(const struct eif_build *b, struct eif_layout *l)
{
	uint64_t off = EIF_HEADER_SIZE;
	uint8_t *h = l->header;

	l->n = 0;
	l->streams = false;
	add(l, EIF_SECTION_KERNEL, &b->kernel, NULL);
	add(l, EIF_SECTION_CMDLINE, &b->cmdline, NULL);
	if (b->metadata.size)
		add(l, EIF_SECTION_METADATA, &b->metadata, NULL);
	for (unsigned int i = 0; i < b->nramdisks; i++)
		add(l, EIF_SECTION_RAMDISK, &b->ramdisks[i], b->ramdisk_streams[i]);
	if (b->signature.size)
		add(l, EIF_SECTION_SIGNATURE, &b->signature, NULL);

	memset(h, 0, EIF_HEADER_SIZE);
	memcpy(h, EIF_MAGIC, 4);
	put_be16(h + EIF_OFF_VERSION, EIF_VERSION);
	put_be16(h + EIF_OFF_FLAGS, b->flags);
	put_be64(h + EIF_OFF_DEFAULT_MEM, EIF_DEFAULT_MEM);
	put_be64(h + EIF_OFF_DEFAULT_CPUS, EIF_DEFAULT_CPUS);
	put_be16(h + EIF_OFF_NUM_SECTIONS, (uint16_t)l->n);
	for (unsigned int i = 0; i < l->n; i++) {
		put_be64(h + EIF_OFF_SECTION_OFFS + 8 * i, off);
		put_be64(h + EIF_OFF_SECTION_SIZES + 8 * i, l->secs[i].size);
		off += EIF_SECTION_HEADER_SIZE + l->secs[i].size;
	}
}

void eif_section_header(const struct measure_section *s, uint8_t out[EIF_SECTION_HEADER_SIZE])
{
	put_be16(out, s->type);
	put_be16(out + 2, 0);
	put_be64(out + 4, s->size);
}

uint64_t eif_build_size(const struct eif_build *b)
{
	struct eif_layout l;
	uint64_t size = EIF_HEADER_SIZE;

	eif_lay_out(b, &l);
	for (unsigned int i = 0; i < l.n; i++)
		size += EIF_SECTION_HEADER_SIZE + l.secs[i].size;
	return size;
}

/* The side job: emit header (CRC filled in last) and sections to a sink, CRC'ing what is emitted. */
struct emit {
	struct eif_layout *l;
	int fd;		/* file sink, or -1 */
	const char *path;
	uint8_t *mem;	/* memory sink */
	uint64_t pos;
	uint32_t *crc;
};

static int emit_bytes(struct emit *e, const uint8_t *p, uint64_t len, uint32_t *crc)
{
	while (len) {
		size_t n = (size_t)MIN(len, WRITE_CHUNK);

		if (e->mem) {
			memcpy(e->mem + e->pos, p, n);
		} else {
			int ret = write_full(e->fd, p, n);

			if (ret)
				return err_set(-ret, "cannot write %s: %s", e->path, strerror(-ret));
		}
		*crc = eif_crc32_update(*crc, p, n);
		e->pos += n;
		p += n;
		len -= n;
	}
	return 0;
}

static int emit_all(void *arg)
{
	struct emit *e = arg;
	uint32_t crc = eif_crc32_update(0, e->l->header, EIF_CRC_OFFSET);
	uint8_t sh[EIF_SECTION_HEADER_SIZE];
	int ret;

	/* The header goes out with a zero CRC first and is rewritten at the end. */
	if (e->mem) {
		memcpy(e->mem, e->l->header, EIF_HEADER_SIZE);
	} else {
		ret = write_full(e->fd, e->l->header, EIF_HEADER_SIZE);
		if (ret)
			return err_set(-ret, "cannot write %s: %s", e->path, strerror(-ret));
	}
	e->pos = EIF_HEADER_SIZE;
	for (unsigned int i = 0; i < e->l->n; i++) {
		eif_section_header(&e->l->secs[i], sh);
		ret = emit_bytes(e, sh, sizeof(sh), &crc);
		if (!ret)
			ret = emit_bytes(e, e->l->secs[i].data, e->l->secs[i].size, &crc);
		if (ret)
			return ret;
	}
	put_be32(e->l->header + EIF_CRC_OFFSET, crc);
	*e->crc = crc;
	if (e->mem) {
		put_be32(e->mem + EIF_CRC_OFFSET, crc);
		return 0;
	}
	if (pwrite(e->fd, e->l->header + EIF_CRC_OFFSET, 4, EIF_CRC_OFFSET) != 4)
		return err_set(errno ? errno : EIO, "cannot write %s: %s", e->path, strerror(errno ? errno : EIO));
	return 0;
}

int eif_write_fd(const struct eif_build *b, int fd, const char *path, struct eif_measurements *m)
{
	struct eif_layout l;
	struct emit e = { .l = &l, .fd = fd, .path = path, .crc = &m->crc };
	struct measure_job j = { .secs = l.secs, .side = emit_all, .side_arg = &e };

	eif_lay_out(b, &l);
	if (l.streams)
		return eif_stream_write(&l, fd, path, m);
	j.n = l.n;
	return measure_run(&j, m);
}

int eif_write_mem(const struct eif_build *b, uint8_t *out, struct eif_measurements *m)
{
	struct eif_layout l;
	struct emit e = { .l = &l, .fd = -1, .mem = out, .crc = &m->crc };
	struct measure_job j = { .secs = l.secs, .side = emit_all, .side_arg = &e };

	eif_lay_out(b, &l);
	if (l.streams)
		return err_set(EINVAL, "an image with streamed sections is written to a file, not to memory");
	j.n = l.n;
	return measure_run(&j, m);
}

int eif_build_measure(const struct eif_build *b, struct eif_measurements *m)
{
	struct eif_layout l;
	struct measure_job j = { .secs = l.secs };

	eif_lay_out(b, &l);
	m->crc = 0;
	if (l.streams) {
		int ret = eif_stream_write(&l, -1, NULL, m);

		for (unsigned int i = 0; i < l.n; i++)
			if (l.secs[i].stream && l.secs[i].stream->rewind(l.secs[i].stream->arg) && !ret)
				ret = err_set(EIO, "cannot start a streamed section over");
		return ret;
	}
	j.n = l.n;
	return measure_run(&j, m);
}
