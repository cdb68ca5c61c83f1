// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for what an enclave process reads from anyone who connects to its socket, and what
 * nitrovm's commands read back from enclave processes (src/enclave/ctl_proto.c): the input is split into the
 * pieces a peer might send (the first byte sets the piece size), fed to the request reader as the server feeds
 * it, and what follows the request is decoded as replies, message by message.  Nothing may crash, read past
 * the buffer, or call a request complete that lacks its parts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "enclave/ctl_proto.h"
#include "enclave/ctl_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_request r = { 0 };
	uint8_t *buf = malloc(CTL_REQUEST_MAX);
	size_t piece, off = 1, len = 0, used;
	int ret = 0;

	if (!buf || !size) {
		free(buf);
		return 0;
	}
	piece = (size_t)data[0] % 16 + 1;
	while (off < size && !ret) {
		size_t n = MIN(piece, size - off);

		if (len + n > CTL_REQUEST_MAX)
			break; /* the server closes such a peer */
		memcpy(buf + len, data + off, n);
		len += n;
		off += n;
		ret = ctl_request_feed(&r, buf, len, &used, CTL_REQUEST_MAX - CTL_LEN_SIZE);
		if (used > len)
			abort();
		len -= used;
		memmove(buf, buf + used, len);
	}
	if (ret == 1 && r.messages != 2u + (ctl_cmd_has_args(r.cmd) ? 1u : 0u))
		abort();
	free(buf);
	/* The rest, as replies. */
	while (off + CTL_LEN_SIZE <= size) {
		uint64_t mlen = get_le64(data + off);
		struct ctl_reply rep;
		uint8_t *msg;

		off += CTL_LEN_SIZE;
		if (mlen > size - off)
			break;
		msg = malloc(mlen ? mlen : 1);
		if (!msg)
			break;
		memcpy(msg, data + off, mlen); /* exactly sized, so ASan sees a read past it */
		if (ctl_decode_reply(msg, (size_t)mlen, &rep) == 0 && rep.kind != CTL_REPLY_STATUS &&
		    (rep.text < (const char *)msg || rep.text + rep.len > (const char *)msg + mlen))
			abort();
		free(msg);
		off += (size_t)mlen;
	}
	return 0;
}
