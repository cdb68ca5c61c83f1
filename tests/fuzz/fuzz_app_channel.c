// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for what the parent reads from an enclave's init on the app channel (src/enclave/app_parse.c):
 * the input is a byte stream as a hostile init might send it, fed in pieces of the size the first byte sets (at
 * most what app_parser_need() asks for, as the channel reads).  The second byte's low bit puts a valid HELLO in
 * front, so the fuzzer spends its time past the handshake.  Nothing may crash or read out of bounds; an event
 * must describe a frame the init may send (output of 1..max bytes on stream 1 or 2; an exit status in range,
 * once, and last); and once the parser refused, it must refuse everything.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "enclave/app_parse.h"
#include "enclave/app_wire.h"

static void check(const struct app_event *ev, int *exits, int *hellos)
{
	switch (ev->kind) {
	case APP_EVENT_HELLO:
		if (++*hellos > 1 || *exits)
			abort();
		break;
	case APP_EVENT_OUTPUT:
		if (!*hellos || *exits || !ev->len || ev->len > APP_WIRE_MAX_PAYLOAD || (ev->stream != 1 && ev->stream != 2))
			abort();
		break;
	case APP_EVENT_EXIT:
		if (!*hellos || ++*exits > 1)
			abort();
		if (ev->exit_kind == APP_EXIT_CODE ? ev->exit_value > 255
						   : (ev->exit_value < 1 || ev->exit_value > APP_WIRE_MAX_SIGNAL))
			abort();
		break;
	}
}

static int feed(struct app_parser *p, const uint8_t *data, size_t size, size_t piece, int *exits, int *hellos)
{
	size_t off = 0;
	int failed = 0;

	while (off < size) {
		size_t n = MIN(MIN(piece, size - off), app_parser_need(p)), used;
		struct app_event ev;
		int ret = app_parser_feed(p, data + off, n, &used, &ev);

		if (used > n || (failed && ret >= 0))
			abort();
		if (ret < 0) {
			failed = 1;
			off += n; /* the channel closes here; keep feeding to check the parser stays shut */
			continue;
		}
		if (used != n)
			abort();
		off += used;
		if (ret)
			check(&ev, exits, hellos);
	}
	return failed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t hello[APP_WIRE_HEADER + APP_WIRE_HELLO_SIZE];
	struct app_parser *p = malloc(sizeof(*p));
	int exits = 0, hellos = 0;
	size_t piece;

	if (!p || size < 2) {
		free(p);
		return 0;
	}
	piece = (size_t)data[0] * 131 % (APP_WIRE_MAX_PAYLOAD + APP_WIRE_HEADER) + 1;
	app_parser_init(p);
	if ((data[1] & 1) && feed(p, hello, app_wire_hello(hello, APP_WIRE_HELLO), piece, &exits, &hellos))
		abort();
	feed(p, data + 2, size - 2, piece, &exits, &hellos);
	free(p);
	return 0;
}
