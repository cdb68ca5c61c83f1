// SPDX-License-Identifier: MIT
#include "ctl_proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cbor.h"
#include "common/util.h"

/* Requests and replies are flat: a string, or a map of one or two scalars. */
#define CTL_CBOR_DEPTH 4

/* The Rust variant names of nitro-cli's EnclaveProcessCommandType, as ciborium writes a unit variant. */
static const char *const cmd_names[CTL_CMD_COUNT] = {
	[CTL_RUN] = "Run",
	[CTL_TERMINATE] = "Terminate",
	[CTL_TERMINATE_COMPLETE] = "TerminateComplete",
	[CTL_DESCRIBE] = "Describe",
	[CTL_GET_CID] = "GetEnclaveCID",
	[CTL_GET_FLAGS] = "GetEnclaveFlags",
	[CTL_GET_NAME] = "GetEnclaveName",
	[CTL_GET_ID_BY_NAME] = "GetIDbyName",
	[CTL_LISTENER_STOP] = "ConnectionListenerStop",
	[CTL_NOT_PERMITTED] = "NotPermitted",
	[CTL_CONNECT_CONSOLE] = "ConnectConsole",
};

static const char *const reply_names[] = {
	[CTL_REPLY_STDOUT] = "StdOutMessage",
	[CTL_REPLY_STDERR] = "StdErrMessage",
	[CTL_REPLY_STATUS] = "Status",
};

const char *ctl_cmd_name(enum ctl_cmd c)
{
	return c < CTL_CMD_COUNT ? cmd_names[c] : NULL;
}

bool ctl_cmd_has_args(enum ctl_cmd c)
{
	/* Run's arguments are read only by a process that has no enclave yet; ours always has one. */
	return c == CTL_DESCRIBE || c == CTL_GET_ID_BY_NAME;
}

/* Prefix the encoded CBOR with its length; consumes e. */
static uint8_t *frame(struct cbor_enc *e, size_t *len)
{
	uint8_t *out;

	if (e->failed || !e->buf) {
		cbor_enc_release(e);
		return NULL;
	}
	out = malloc(CTL_LEN_SIZE + e->len);
	if (out) {
		put_le64(out, e->len);
		memcpy(out + CTL_LEN_SIZE, e->buf, e->len);
		*len = CTL_LEN_SIZE + e->len;
	}
	cbor_enc_release(e);
	return out;
}

uint8_t *ctl_frame_cmd(enum ctl_cmd c, size_t *len)
{
	struct cbor_enc e;

	if (c >= CTL_CMD_COUNT)
		return NULL;
	cbor_enc_init_heap(&e);
	cbor_enc_text(&e, cmd_names[c]);
	return frame(&e, len);
}

uint8_t *ctl_frame_describe_args(bool metadata, size_t *len)
{
	struct cbor_enc e;

	cbor_enc_init_heap(&e);
	cbor_enc_map(&e, 1);
	cbor_enc_text(&e, "metadata");
	cbor_enc_bool(&e, metadata);
	return frame(&e, len);
}

uint8_t *ctl_frame_string(const char *s, size_t *len)
{
	struct cbor_enc e;

	cbor_enc_init_heap(&e);
	cbor_enc_text(&e, s);
	return frame(&e, len);
}

uint8_t *ctl_frame_reply_text(enum ctl_reply_kind kind, const char *text, size_t *len)
{
	struct cbor_enc e;

	if (kind == CTL_REPLY_STATUS)
		return NULL;
	cbor_enc_init_heap(&e);
	cbor_enc_map(&e, 1);
	cbor_enc_text(&e, reply_names[kind]);
	cbor_enc_text(&e, text);
	return frame(&e, len);
}

uint8_t *ctl_frame_reply_status(int32_t status, size_t *len)
{
	struct cbor_enc e;

	cbor_enc_init_heap(&e);
	cbor_enc_map(&e, 1);
	cbor_enc_text(&e, reply_names[CTL_REPLY_STATUS]);
	if (status >= 0)
		cbor_enc_uint(&e, (uint64_t)status);
	else
		cbor_enc_negint(&e, (uint64_t)(-(int64_t)status - 1));
	return frame(&e, len);
}

/* ---- decoding ---- */

static int bad(const struct cbor_dec *d, const char *what)
{
	char why[160];

	cbor_dec_describe(d, what, why, sizeof(why));
	return err_set(EBADMSG, "%s: %s at byte %zu", what, why, d->at);
}

static int expect_text(struct cbor_dec *d, struct cbor_head *h, const char *what)
{
	if (cbor_dec_head(d, h) < 0)
		return bad(d, what);
	if (h->major != CBOR_TEXT || h->indefinite)
		return err_set(EBADMSG, "%s: expected a text string, found %s", what, cbor_head_name(h));
	return 0;
}

static int finish(struct cbor_dec *d, const char *what)
{
	return cbor_dec_finish(d) < 0 ? bad(d, what) : 0;
}

/* A command name; an unknown name is CTL_CMD_UNKNOWN, not an error. */
static int ctl_decode_cmd(const uint8_t *msg, size_t len, enum ctl_cmd *c)
{
	struct cbor_dec d;
	struct cbor_head h;
	int ret;

	cbor_dec_init(&d, msg, len, 0, CTL_CBOR_DEPTH);
	ret = expect_text(&d, &h, "the command");
	if (ret)
		return ret;
	ret = finish(&d, "the command");
	if (ret)
		return ret;
	*c = CTL_CMD_UNKNOWN;
	for (unsigned int i = 0; i < CTL_CMD_COUNT; i++)
		if (cbor_head_is_text(&h, cmd_names[i]))
			*c = (enum ctl_cmd)i;
	return 0;
}

static const char *field_type_name(enum cbor_field_type t)
{
	switch (t) {
	case CBOR_FIELD_BOOL:
		return "a boolean";
	case CBOR_FIELD_INT:
	case CBOR_FIELD_UINT:
		return "an integer";
	case CBOR_FIELD_TEXT:
		return "a text string";
	default:
		return "a byte string";
	}
}

/* 0 when cbor_map_read read the map what (of the shape shape: "a map"), else the sentence for its fault. */
static int map_fault(const struct cbor_dec *d, const struct cbor_map_fault *fault, const char *what,
		     const char *shape)
{
	const char *key = fault->field ? fault->field->key : "";

	switch (fault->status) {
	case CBOR_MAP_OK:
		return 0;
	case CBOR_MAP_MALFORMED:
		if (d->err != CBOR_OK)
			return bad(d, what);
		return err_set(EBADMSG, "%s: expected %s at byte %zu", what, shape, fault->at);
	case CBOR_MAP_UNKNOWN:
		return err_set(EBADMSG, "%s: an unknown key at byte %zu", what, fault->at);
	case CBOR_MAP_REPEATED:
		return err_set(EBADMSG, "%s: \"%s\" given twice (byte %zu)", what, key, fault->at);
	case CBOR_MAP_WRONG_TYPE:
		return err_set(EBADMSG, "%s: \"%s\" is not %s (byte %zu)", what, key,
			       field_type_name(fault->field->type), fault->at);
	case CBOR_MAP_TOO_LARGE:
		return err_set(EBADMSG, "%s: \"%s\" is out of range (byte %zu)", what, key, fault->at);
	case CBOR_MAP_MISSING:
		return err_set(EBADMSG, "%s: no \"%s\"", what, key);
	}
	return err_set(EBADMSG, "%s: not readable", what);
}

/* DescribeEnclavesArgs: {"metadata": bool}; a newer client's extra fields are skipped, as serde does. */
static int ctl_decode_describe_args(const uint8_t *msg, size_t len, bool *metadata)
{
	struct cbor_field f[] = { { .key = "metadata", .type = CBOR_FIELD_BOOL, .required = true } };
	struct cbor_map_fault fault;
	struct cbor_dec d;
	int ret;

	cbor_dec_init(&d, msg, len, 0, CTL_CBOR_DEPTH);
	cbor_map_read(&d, 0, UINT64_MAX, CBOR_MAP_SKIP_UNKNOWN, f, ARRAY_SIZE(f), &fault);
	ret = map_fault(&d, &fault, "the describe arguments", "a map");
	if (ret)
		return ret;
	*metadata = f[0].u;
	return finish(&d, "the describe arguments");
}

/* A text string into out (NUL-terminated); -EBADMSG when it does not fit in cap - 1 bytes. */
static int ctl_decode_string(const uint8_t *msg, size_t len, char *out, size_t cap)
{
	struct cbor_dec d;
	struct cbor_head h;
	int ret;

	cbor_dec_init(&d, msg, len, 0, CTL_CBOR_DEPTH);
	ret = expect_text(&d, &h, "the string argument");
	if (ret)
		return ret;
	ret = finish(&d, "the string argument");
	if (ret)
		return ret;
	if (h.arg >= cap || memchr(h.data, '\0', h.arg))
		return err_set(EBADMSG, "the string argument is longer than %zu bytes or holds a NUL byte", cap - 1);
	memcpy(out, h.data, h.arg);
	out[h.arg] = '\0';
	return 0;
}

int ctl_request_feed(struct ctl_request *r, const uint8_t *buf, size_t len, size_t *used, size_t max_msg)
{
	*used = 0;
	while (len - *used >= CTL_LEN_SIZE) {
		const uint8_t *p = buf + *used;
		uint64_t mlen = get_le64(p);
		enum ctl_cmd cmd;

		if (mlen > max_msg)
			return -1;
		if (len - *used - CTL_LEN_SIZE < mlen)
			return 0;
		p += CTL_LEN_SIZE;
		if (r->messages < 2) {
			/* The command twice (nitro-cli's listener thread reads one copy, its main loop the other). */
			if (ctl_decode_cmd(p, (size_t)mlen, &cmd) || (r->messages == 1 && cmd != r->cmd))
				return -1;
			r->cmd = cmd;
		} else if (r->cmd == CTL_DESCRIBE) {
			if (ctl_decode_describe_args(p, (size_t)mlen, &r->metadata))
				return -1;
		} else if (ctl_decode_string(p, (size_t)mlen, r->name, sizeof(r->name))) {
			return -1;
		}
		r->messages++;
		*used += CTL_LEN_SIZE + (size_t)mlen;
		if (r->messages == 2 + (ctl_cmd_has_args(r->cmd) ? 1u : 0u))
			return 1;
	}
	return 0;
}

int ctl_decode_reply(const uint8_t *msg, size_t len, struct ctl_reply *r)
{
	/* By enum ctl_reply_kind; exactly one of them, the variant of nitro-cli's EnclaveProcessReply. */
	struct cbor_field f[] = {
		[CTL_REPLY_STDOUT] = { .key = reply_names[CTL_REPLY_STDOUT], .type = CBOR_FIELD_TEXT },
		[CTL_REPLY_STDERR] = { .key = reply_names[CTL_REPLY_STDERR], .type = CBOR_FIELD_TEXT },
		[CTL_REPLY_STATUS] = { .key = reply_names[CTL_REPLY_STATUS], .type = CBOR_FIELD_INT,
				       .max = INT32_MAX },
	};
	struct cbor_map_fault fault;
	struct cbor_dec d;
	unsigned int kind;
	int ret;

	cbor_dec_init(&d, msg, len, 0, CTL_CBOR_DEPTH);
	cbor_map_read(&d, 0, 1, 0, f, ARRAY_SIZE(f), &fault);
	ret = map_fault(&d, &fault, "the reply", "a map of one entry");
	if (ret)
		return ret;
	for (kind = 0; kind < ARRAY_SIZE(f); kind++)
		if (f[kind].seen)
			break;
	if (kind == ARRAY_SIZE(f))
		return err_set(EBADMSG, "the reply: expected a map of one entry, found an empty map");
	r->kind = (enum ctl_reply_kind)kind;
	r->status = (int32_t)f[kind].i;
	r->text = (const char *)f[kind].data;
	r->len = f[kind].len;
	return finish(&d, "the reply");
}
