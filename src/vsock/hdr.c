// SPDX-License-Identifier: MIT
/* The vsock packet header on the wire (all little-endian), op names and the vsock log hook. */
#include "vsock/vsock.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/le.h"

/* Offsets in struct virtio_vsock_hdr (packed). */
enum {
	OFF_SRC_CID = 0,
	OFF_DST_CID = 8,
	OFF_SRC_PORT = 16,
	OFF_DST_PORT = 20,
	OFF_LEN = 24,
	OFF_TYPE = 28,
	OFF_OP = 30,
	OFF_FLAGS = 32,
	OFF_BUF_ALLOC = 36,
	OFF_FWD_CNT = 40,
};

void vsock_hdr_decode(const uint8_t raw[VSOCK_HDR_SIZE], struct vsock_hdr *h)
{
	h->src_cid = get_le64(raw + OFF_SRC_CID);
	h->dst_cid = get_le64(raw + OFF_DST_CID);
	h->src_port = get_le32(raw + OFF_SRC_PORT);
	h->dst_port = get_le32(raw + OFF_DST_PORT);
	h->len = get_le32(raw + OFF_LEN);
	h->type = get_le16(raw + OFF_TYPE);
	h->op = get_le16(raw + OFF_OP);
	h->flags = get_le32(raw + OFF_FLAGS);
	h->buf_alloc = get_le32(raw + OFF_BUF_ALLOC);
	h->fwd_cnt = get_le32(raw + OFF_FWD_CNT);
}

void vsock_hdr_encode(const struct vsock_hdr *h, uint8_t raw[VSOCK_HDR_SIZE])
{
	put_le64(raw + OFF_SRC_CID, h->src_cid);
	put_le64(raw + OFF_DST_CID, h->dst_cid);
	put_le32(raw + OFF_SRC_PORT, h->src_port);
	put_le32(raw + OFF_DST_PORT, h->dst_port);
	put_le32(raw + OFF_LEN, h->len);
	put_le16(raw + OFF_TYPE, h->type);
	put_le16(raw + OFF_OP, h->op);
	put_le32(raw + OFF_FLAGS, h->flags);
	put_le32(raw + OFF_BUF_ALLOC, h->buf_alloc);
	put_le32(raw + OFF_FWD_CNT, h->fwd_cnt);
}

const char *vsock_op_name(uint16_t op, char *buf, size_t len)
{
	static const char *const names[] = {
		[VSOCK_OP_INVALID] = "INVALID",	    [VSOCK_OP_REQUEST] = "REQUEST",
		[VSOCK_OP_RESPONSE] = "RESPONSE",   [VSOCK_OP_RST] = "RST",
		[VSOCK_OP_SHUTDOWN] = "SHUTDOWN",   [VSOCK_OP_RW] = "RW",
		[VSOCK_OP_CREDIT_UPDATE] = "CREDIT_UPDATE", [VSOCK_OP_CREDIT_REQUEST] = "CREDIT_REQUEST",
	};

	if (op <= VSOCK_OP_MAX)
		return names[op];
	snprintf(buf, len, "op %u", op);
	return buf;
}

static vsock_log_fn *log_fn;

void vsock_set_log(vsock_log_fn *fn)
{
	log_fn = fn;
}

void vsock_log(const char *fmt, ...)
{
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_fn)
		log_fn(line);
	else
		fprintf(stderr, "nitrovm: vsock: %s\n", line);
}
