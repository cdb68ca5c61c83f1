// SPDX-License-Identifier: MIT
/* The parent's reader of the app channel: frames from the enclave's init, checked (app_parse.h). */
#include "app_parse.h"

#include <errno.h>
#include <stdbool.h>

#include "common/util.h"

#define BROKEN "the enclave's init broke the app channel's protocol: "

static int refuse(struct app_parser *p, int err, const char *why, unsigned int type)
{
	p->state = APP_PARSE_ENDED; /* whatever comes next is refused too */
	return err_set(err, BROKEN "%s (frame type %#04x)", why, type);
}

void app_parser_init(struct app_parser *p)
{
	app_wire_reader_init(&p->r);
	p->state = APP_PARSE_HELLO;
}

/* A whole frame stays until the next feed (its payload is the event's data): the next one needs a header. */
static bool frame_done(const struct app_parser *p)
{
	return p->r.hdr_got == APP_WIRE_HEADER && p->r.got == p->r.len;
}

size_t app_parser_need(const struct app_parser *p)
{
	return frame_done(p) ? APP_WIRE_HEADER : app_wire_need(&p->r);
}

static uint32_t le32(const uint8_t *b)
{
	return get_le32(b);
}

static int take_exit(struct app_parser *p, struct app_event *ev)
{
	const struct app_wire_reader *r = &p->r;
	uint32_t kind, value;

	if (r->len != APP_WIRE_EXIT_SIZE)
		return refuse(p, EPROTO, "an exit frame of the wrong size", r->type);
	kind = le32(r->payload);
	value = le32(r->payload + 4);
	if (kind == APP_EXIT_CODE && value > 255)
		return refuse(p, EPROTO, "an exit status above 255", r->type);
	if (kind == APP_EXIT_SIGNAL && (value < 1 || value > APP_WIRE_MAX_SIGNAL))
		return refuse(p, EPROTO, "an exit by a signal that does not exist", r->type);
	if (kind != APP_EXIT_CODE && kind != APP_EXIT_SIGNAL)
		return refuse(p, EPROTO, "an exit of an unknown kind", r->type);
	ev->kind = APP_EVENT_EXIT;
	ev->exit_kind = (enum app_exit_kind)kind;
	ev->exit_value = value;
	p->state = APP_PARSE_ENDED;
	return 1;
}

/* A whole frame: is it one the init may send now? */
static int take_frame(struct app_parser *p, struct app_event *ev)
{
	const struct app_wire_reader *r = &p->r;

	if (p->state == APP_PARSE_HELLO) {
		if (r->type != APP_WIRE_HELLO || !app_wire_hello_ok(r->payload, r->len))
			return refuse(p, EPROTO, "the first frame is not a hello of this version", r->type);
		p->state = APP_PARSE_RUNNING;
		ev->kind = APP_EVENT_HELLO;
		return 1;
	}
	switch (r->type) {
	case APP_WIRE_STDOUT:
	case APP_WIRE_STDERR:
		if (!r->len)
			return refuse(p, EPROTO, "an empty output frame", r->type);
		ev->kind = APP_EVENT_OUTPUT;
		ev->stream = r->type == APP_WIRE_STDOUT ? 1 : 2;
		ev->data = r->payload;
		ev->len = r->len;
		return 1;
	case APP_WIRE_EXIT:
		return take_exit(p, ev);
	default:
		return refuse(p, EPROTO, "a frame the init may not send", r->type);
	}
}

int app_parser_feed(struct app_parser *p, const uint8_t *buf, size_t len, size_t *used, struct app_event *ev)
{
	int ret;

	*used = 0;
	if (p->state == APP_PARSE_ENDED && len)
		return refuse(p, EPROTO, "bytes after the exit status (or after a broken frame)", buf[0]);
	if (frame_done(p))
		app_wire_next(&p->r); /* the previous frame was delivered */
	ret = app_wire_feed(&p->r, buf, len, used);
	if (ret == -EMSGSIZE)
		return refuse(p, EMSGSIZE, "a frame longer than the protocol allows", p->r.hdr[0]);
	if (ret < 0)
		return refuse(p, EPROTO, "a frame header with reserved bytes set", p->r.hdr[0]);
	if (ret == 0)
		return 0;
	return take_frame(p, ev);
}
