// SPDX-License-Identifier: MIT
/* The app channel's frames (app_wire.h): building them, and reading them one at a time from a stream. */
#include "app_wire.h"

#include <errno.h>
#include <string.h>

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = v >> 24;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void app_wire_header(uint8_t *out, enum app_wire_type type, uint32_t len)
{
	out[0] = (uint8_t)type;
	out[1] = out[2] = out[3] = 0;
	put32(out + 4, len);
}

size_t app_wire_hello(uint8_t *out, enum app_wire_type type)
{
	app_wire_header(out, type, APP_WIRE_HELLO_SIZE);
	memcpy(out + APP_WIRE_HEADER, APP_WIRE_MAGIC, 4);
	put32(out + APP_WIRE_HEADER + 4, APP_WIRE_VERSION);
	return APP_WIRE_HEADER + APP_WIRE_HELLO_SIZE;
}

size_t app_wire_exit(uint8_t *out, enum app_exit_kind kind, uint32_t value)
{
	app_wire_header(out, APP_WIRE_EXIT, APP_WIRE_EXIT_SIZE);
	put32(out + APP_WIRE_HEADER, (uint32_t)kind);
	put32(out + APP_WIRE_HEADER + 4, value);
	return APP_WIRE_HEADER + APP_WIRE_EXIT_SIZE;
}

size_t app_wire_signal(uint8_t *out, uint32_t signo)
{
	app_wire_header(out, APP_WIRE_SIGNAL, APP_WIRE_SIGNAL_SIZE);
	put32(out + APP_WIRE_HEADER, signo);
	return APP_WIRE_HEADER + APP_WIRE_SIGNAL_SIZE;
}

bool app_wire_hello_ok(const uint8_t *payload, uint32_t len)
{
	return len == APP_WIRE_HELLO_SIZE && !memcmp(payload, APP_WIRE_MAGIC, 4) &&
	       get32(payload + 4) == APP_WIRE_VERSION;
}

void app_wire_reader_init(struct app_wire_reader *r)
{
	r->hdr_got = 0;
	r->type = 0;
	r->len = 0;
	r->got = 0;
}

void app_wire_next(struct app_wire_reader *r)
{
	app_wire_reader_init(r);
}

size_t app_wire_need(const struct app_wire_reader *r)
{
	if (r->hdr_got < APP_WIRE_HEADER)
		return APP_WIRE_HEADER - r->hdr_got;
	return r->len - r->got;
}

/* The header is whole: check it before a byte of payload is taken. */
static int take_header(struct app_wire_reader *r)
{
	if (r->hdr[1] || r->hdr[2] || r->hdr[3])
		return -EPROTO;
	r->type = r->hdr[0];
	r->len = get32(r->hdr + 4);
	if (r->len > APP_WIRE_MAX_PAYLOAD)
		return -EMSGSIZE;
	return 0;
}

int app_wire_feed(struct app_wire_reader *r, const uint8_t *buf, size_t len, size_t *used)
{
	size_t n;
	int ret;

	*used = 0;
	if (r->hdr_got < APP_WIRE_HEADER) {
		n = APP_WIRE_HEADER - r->hdr_got;
		n = n < len ? n : len;
		memcpy(r->hdr + r->hdr_got, buf, n);
		r->hdr_got += n;
		*used = n;
		buf += n;
		len -= n;
		if (r->hdr_got < APP_WIRE_HEADER)
			return 0;
		ret = take_header(r);
		if (ret)
			return ret;
	}
	n = r->len - r->got;
	n = n < len ? n : len;
	memcpy(r->payload + r->got, buf, n);
	r->got += n;
	*used += n;
	return r->got == r->len;
}
