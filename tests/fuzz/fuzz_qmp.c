// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for QMP sessions (src/enclave/qmp.c): what a client of -qmp sends is untrusted.  The input
 * is cut into writes at points the input itself chooses (its first bytes), so messages split over reads and
 * several in one read are both explored, and the session's every reply is checked to be one JSON object on a
 * line of its own.
 */
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enclave/qmp.h"

static unsigned int actions;

static void act(void *opaque)
{
	(void)opaque;
	actions++;
}

static int check_out(void *opaque, const char *text, size_t len)
{
	struct json_object *o;

	(void)opaque;
	if (len < 2 || text[len - 2] != '\r' || text[len - 1] != '\n' || memchr(text, '\n', len - 1)) {
		fprintf(stderr, "fuzz_qmp: a reply is not one line ending in CR LF\n");
		abort();
	}
	o = json_tokener_parse(text);
	if (!o || !json_object_is_type(o, json_type_object)) {
		fprintf(stderr, "fuzz_qmp: a reply is not a JSON object: %.*s\n", (int)len, text);
		abort();
	}
	json_object_put(o);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct qmp_ops ops = { .powerdown = act, .quit = act };
	const struct qmp_facts facts = { .name = "fuzz", .cid = 16, .running = true };
	struct qmp_session *s = qmp_session_new(&ops, &facts, check_out, NULL);
	size_t cut = size ? data[0] % 64 + 1 : 1, off = size ? 1 : 0;

	if (!s)
		abort();
	while (off < size) {
		size_t n = size - off < cut ? size - off : cut;
		/* An exactly-sized copy: AddressSanitizer sees a read past the write. */
		uint8_t *piece = malloc(n);

		memcpy(piece, data + off, n);
		off += n;
		if (qmp_session_input(s, piece, n) < 0) {
			free(piece);
			break;
		}
		free(piece);
		qmp_session_event(s, "SHUTDOWN", NULL);
	}
	qmp_session_free(s);
	return 0;
}
