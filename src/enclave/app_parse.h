/* SPDX-License-Identifier: MIT */
/*
 * The parent's reader of the app channel (app_wire.h): the frames the enclave's init sends, checked against
 * the protocol before anyone acts on them.  The init runs inside the enclave and so is untrusted: a frame of
 * a type the init may not send, a length out of bounds, a frame before HELLO or after EXIT ends the channel
 * with one sentence saying what was wrong.  No system calls: the app channel (app_channel.c) feeds it what it
 * reads, the unit tests and the fuzz target feed it whatever they like.
 */
#ifndef NITROVM_ENCLAVE_APP_PARSE_H
#define NITROVM_ENCLAVE_APP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "app_wire.h"

enum app_event_kind {
	APP_EVENT_HELLO,  /* the init is there: answer WELCOME */
	APP_EVENT_OUTPUT, /* stream 1 (stdout) or 2 (stderr): data, len */
	APP_EVENT_EXIT,	  /* exit_kind, exit_value: the last event */
};

struct app_event {
	enum app_event_kind kind;
	int stream;
	const uint8_t *data;
	size_t len;
	enum app_exit_kind exit_kind;
	uint32_t exit_value;
};

enum app_parse_state {
	APP_PARSE_HELLO,   /* nothing yet: HELLO must come first */
	APP_PARSE_RUNNING, /* output, then EXIT */
	APP_PARSE_ENDED,   /* EXIT came: nothing may follow */
};

struct app_parser {
	struct app_wire_reader r;
	enum app_parse_state state;
};

void app_parser_init(struct app_parser *p);
/* How many bytes the frame in progress still needs: read at most that many from the stream. */
size_t app_parser_need(const struct app_parser *p);
/*
 * Take up to len bytes (*used says how many).  Returns 1 with *ev set when a frame is whole (ev->data points
 * into the parser, valid until the next call), 0 when more bytes are needed, or -EPROTO / -EMSGSIZE with
 * err_msg() set when the init broke the protocol (the parser then refuses everything).
 */
int app_parser_feed(struct app_parser *p, const uint8_t *buf, size_t len, size_t *used, struct app_event *ev);

#endif
