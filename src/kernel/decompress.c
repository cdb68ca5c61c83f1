// SPDX-License-Identifier: MIT
/*
 * The kernel's compressed payload, decompressed with Debian's libraries (libzstd, zlib, liblzma, liblz4) into a
 * buffer of exactly the size the build appended.  The payload is untrusted: a stream that ends early, runs
 * past that size or is corrupt is an error, never a longer write.  bzip2 and lzo payloads have no host
 * decoder here; such kernels boot through their own decompressor.
 */
#include "kernel.h"

#include <errno.h>
#include <lz4.h>
#include <lzma.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "common/le.h"
#include "common/util.h"

/* The kernel's lz4 payloads are in lz4's legacy frame format ("lz4 -l"): this magic, then sized blocks. */
#define LZ4_LEGACY_MAGIC     0x184c2102U
#define LZ4_LEGACY_BLOCK_MAX (8U << 20) /* a legacy block decompresses to at most 8 MiB */
#define LZ4_SIZE_FIELD	     4

/*
 * The most memory the xz/lzma decoder may take.  The kernel's build compresses with a dictionary of at most
 * 32 MiB (xz) or lzma -9's 64 MiB; the decoder needs about the dictionary.  A header announcing a larger one is
 * not a kernel's, and must not make the host allocate gigabytes on its say-so.
 */
#define LZMA_MEMLIMIT (128ULL << 20)

bool kernel_format_supported(enum kernel_format f)
{
	return f == KERNEL_FORMAT_ZSTD || f == KERNEL_FORMAT_GZIP || f == KERNEL_FORMAT_XZ ||
	       f == KERNEL_FORMAT_LZMA || f == KERNEL_FORMAT_LZ4;
}

static int corrupt(const struct bzimage *bz, const char *why)
{
	return err_set(ENOEXEC, "the kernel's %s payload cannot be decompressed: %s", kernel_format_name(bz->format),
		       why);
}

static int size_mismatch(const struct bzimage *bz, uint64_t got)
{
	return err_set(ENOEXEC, "the kernel's %s payload decompressed to %llu bytes, not the %llu it announces",
		       kernel_format_name(bz->format), (unsigned long long)got,
		       (unsigned long long)bz->decompressed_len);
}

static int decompress_zstd(const struct bzimage *bz, uint8_t *out)
{
	/* The frame alone: the decompressor, too, ignores what follows it. */
	size_t in = ZSTD_findFrameCompressedSize(bz->payload, bz->payload_len);
	ZSTD_DCtx *d;
	size_t n;

	if (ZSTD_isError(in))
		return corrupt(bz, ZSTD_getErrorName(in));
	d = ZSTD_createDCtx();
	if (!d)
		return err_set(ENOMEM, "out of memory for the zstd decoder");
	n = ZSTD_decompressDCtx(d, out, bz->decompressed_len, bz->payload, in);
	ZSTD_freeDCtx(d);
	if (ZSTD_isError(n))
		return corrupt(bz, ZSTD_getErrorName(n));
	return n == bz->decompressed_len ? 0 : size_mismatch(bz, n);
}

static int decompress_gzip(const struct bzimage *bz, uint8_t *out)
{
	z_stream s;
	int ret;

	memset(&s, 0, sizeof(s));
	if (inflateInit2(&s, 16 + MAX_WBITS) != Z_OK) /* 16: a gzip wrapper, not zlib's */
		return err_set(ENOMEM, "out of memory for the gzip decoder");
	s.next_in = (Bytef *)bz->payload;
	s.avail_in = (uInt)bz->payload_len;
	s.next_out = out;
	s.avail_out = (uInt)bz->decompressed_len;
	ret = inflate(&s, Z_FINISH);
	inflateEnd(&s);
	if (ret != Z_STREAM_END)
		return ret == Z_BUF_ERROR && !s.avail_out ? size_mismatch(bz, bz->decompressed_len + 1)
							  : corrupt(bz, s.msg ? s.msg : "corrupt stream");
	return s.total_out == bz->decompressed_len ? 0 : size_mismatch(bz, s.total_out);
}

static int decompress_lzma(const struct bzimage *bz, uint8_t *out)
{
	lzma_stream s = LZMA_STREAM_INIT;
	lzma_ret r;

	r = bz->format == KERNEL_FORMAT_XZ ? lzma_stream_decoder(&s, LZMA_MEMLIMIT, 0)
					   : lzma_alone_decoder(&s, LZMA_MEMLIMIT);
	if (r != LZMA_OK)
		return err_set(ENOMEM, "out of memory for the %s decoder", kernel_format_name(bz->format));
	s.next_in = bz->payload;
	s.avail_in = bz->payload_len;
	s.next_out = out;
	s.avail_out = bz->decompressed_len;
	do
		r = lzma_code(&s, LZMA_FINISH);
	while (r == LZMA_OK && s.avail_out);
	lzma_end(&s);
	/* An .lzma stream of unknown size may end exactly when its output does, without an end marker. */
	if (r == LZMA_OK && !s.avail_out && bz->format == KERNEL_FORMAT_LZMA)
		return 0;
	if (r == LZMA_MEMLIMIT_ERROR)
		return corrupt(bz, "its dictionary is larger than any kernel build uses (more than 128 MiB)");
	if (r != LZMA_STREAM_END)
		return r == LZMA_BUF_ERROR || r == LZMA_OK ? size_mismatch(bz, s.total_out)
							   : corrupt(bz, "corrupt stream");
	return s.total_out == bz->decompressed_len ? 0 : size_mismatch(bz, s.total_out);
}


static int decompress_lz4(const struct bzimage *bz, uint8_t *out)
{
	const uint8_t *p = bz->payload, *end = bz->payload + bz->payload_len;
	uint64_t done = 0;

	while (end - p >= LZ4_SIZE_FIELD && done < bz->decompressed_len) {
		uint32_t n = get_le32(p);
		int got;

		p += LZ4_SIZE_FIELD;
		if (n == LZ4_LEGACY_MAGIC) /* a new frame: concatenated archives are one stream */
			continue;
		if (!n || n > (uint64_t)(end - p) || n > (uint32_t)LZ4_compressBound(LZ4_LEGACY_BLOCK_MAX))
			return corrupt(bz, "a block runs past the payload");
		got = LZ4_decompress_safe((const char *)p, (char *)out + done, (int)n,
					  (int)MIN((uint64_t)LZ4_LEGACY_BLOCK_MAX, bz->decompressed_len - done));
		if (got < 0)
			return corrupt(bz, "corrupt block");
		done += (uint64_t)got;
		p += n;
	}
	return done == bz->decompressed_len ? 0 : size_mismatch(bz, done);
}

int kernel_decompress(const struct bzimage *bz, uint8_t *out)
{
	switch (bz->format) {
	case KERNEL_FORMAT_ZSTD:
		return decompress_zstd(bz, out);
	case KERNEL_FORMAT_GZIP:
		return decompress_gzip(bz, out);
	case KERNEL_FORMAT_XZ:
	case KERNEL_FORMAT_LZMA:
		return decompress_lzma(bz, out);
	case KERNEL_FORMAT_LZ4:
		if (bz->payload_len < LZ4_SIZE_FIELD || get_le32(bz->payload) != LZ4_LEGACY_MAGIC)
			return corrupt(bz, "not lz4's legacy frame format, which the kernel's build writes");
		return decompress_lz4(bz, out);
	default:
		return err_set(ENOTSUP, "nitrovm has no host decoder for %s kernels", kernel_format_name(bz->format));
	}
}
