// SPDX-License-Identifier: MIT
/*
 * The messages between an enclave process and its issuer (issuer.h): flat CBOR maps of text keys, one per
 * datagram.  Both ends are nitrovm, but the issuer reads what a possibly compromised enclave process sends, so
 * the decoder takes exactly the documented shapes: known keys once each, each of its type, lengths within their
 * bounds, nothing after the map.
 */
#include "issuer.h"

#include <errno.h>
#include <string.h>

#include "common/cbor.h"
#include "common/util.h"

/* A flat map: its values are never containers. */
#define WIRE_MAX_DEPTH 2
#define WIRE_MAX_KEYS  8

/* Every key of the map must be one of f[], once, with its type and within its length. */
static int read_map(const uint8_t *buf, size_t len, struct cbor_field *f, unsigned int nf)
{
	struct cbor_map_fault fault;
	struct cbor_dec d;

	cbor_dec_init(&d, buf, len, CBOR_DEC_KNOWN_SIMPLE, WIRE_MAX_DEPTH);
	switch (cbor_map_read(&d, 0, WIRE_MAX_KEYS, 0, f, nf, &fault)) {
	case CBOR_MAP_OK:
		break;
	case CBOR_MAP_MALFORMED:
		return err_set(EINVAL, "an issuer message is not a map of at most %d entries (byte %zu)", WIRE_MAX_KEYS,
			       fault.at);
	case CBOR_MAP_MISSING:
		return err_set(EINVAL, "an issuer message has no \"%s\"", fault.field->key);
	default:
		return err_set(EINVAL, "an issuer message has an unknown, repeated, mistyped or too long entry at byte %zu",
			       fault.at);
	}
	if (cbor_dec_finish(&d))
		return err_set(EINVAL, "an issuer message has %zu bytes after its map", cbor_dec_left(&d));
	return 0;
}

/* A text field into out (cap bytes with its NUL): 1 to cap - 1 bytes, no NUL inside. */
static int text_field(const struct cbor_field *f, char *out, size_t cap)
{
	if (!f->seen || !f->len || f->len >= cap || memchr(f->data, '\0', f->len))
		return err_set(EINVAL, "an issuer message's \"%s\" is missing, empty, or longer than %zu bytes",
			       f->key, cap - 1);
	memcpy(out, f->data, f->len);
	out[f->len] = '\0';
	return 0;
}

size_t nsm_issuer_encode_request(const struct nsm_issuer_request *r, uint8_t *buf, size_t cap)
{
	struct cbor_enc e;

	cbor_enc_init(&e, buf, cap);
	cbor_enc_map(&e, r->op == NSM_ISSUER_BIND ? 2 : 4);
	cbor_enc_text(&e, "op");
	cbor_enc_text(&e, r->op == NSM_ISSUER_BIND ? "bind" : "issue");
	cbor_enc_text(&e, "id");
	cbor_enc_text(&e, r->id);
	if (r->op == NSM_ISSUER_ISSUE) {
		cbor_enc_text(&e, "seq");
		cbor_enc_uint(&e, r->seq);
		cbor_enc_text(&e, "key");
		cbor_enc_bytes(&e, r->key, r->key_len);
	}
	return e.failed ? 0 : e.len;
}

int nsm_issuer_decode_request(const uint8_t *buf, size_t len, struct nsm_issuer_request *r)
{
	struct cbor_field f[] = {
		{ .key = "op", .type = CBOR_FIELD_TEXT, .required = true },
		{ .key = "id", .type = CBOR_FIELD_TEXT, .required = true },
		{ .key = "seq", .type = CBOR_FIELD_UINT },
		{ .key = "key", .type = CBOR_FIELD_BYTES, .max = NSM_ISSUER_KEY_MAX },
	};
	char op[8];
	int ret;

	memset(r, 0, sizeof(*r));
	ret = read_map(buf, len, f, ARRAY_SIZE(f));
	if (!ret)
		ret = text_field(&f[0], op, sizeof(op));
	if (!ret)
		ret = text_field(&f[1], r->id, sizeof(r->id));
	if (ret)
		return ret;
	if (!strcmp(op, "bind") && !f[2].seen && !f[3].seen) {
		r->op = NSM_ISSUER_BIND;
		return 0;
	}
	if (strcmp(op, "issue") || !f[2].seen || !f[3].seen || !f[3].len)
		return err_set(EINVAL, "an issuer request is neither a bind nor an issue with a sequence number "
				       "and a key of 1 to %d bytes", NSM_ISSUER_KEY_MAX);
	r->op = NSM_ISSUER_ISSUE;
	r->seq = f[2].u;
	r->key = f[3].data;
	r->key_len = f[3].len;
	return 0;
}

size_t nsm_issuer_encode_reply(const struct nsm_issuer_reply *r, uint8_t *buf, size_t cap)
{
	struct cbor_enc e;

	cbor_enc_init(&e, buf, cap);
	cbor_enc_map(&e, r->error ? 3 : 5);
	cbor_enc_text(&e, "seq");
	cbor_enc_uint(&e, r->seq);
	if (r->error) {
		cbor_enc_text(&e, "error");
		cbor_enc_uint(&e, (uint64_t)r->error);
		cbor_enc_text(&e, "message");
		cbor_enc_text(&e, r->message[0] ? r->message : "refused");
		return e.failed ? 0 : e.len;
	}
	cbor_enc_text(&e, "leaf");
	cbor_enc_bytes(&e, r->leaf, r->leaf_len);
	cbor_enc_text(&e, "root");
	cbor_enc_bytes(&e, r->root, r->root_len);
	cbor_enc_text(&e, "intermediate");
	cbor_enc_bytes(&e, r->intermediate, r->intermediate_len);
	cbor_enc_text(&e, "not_after");
	cbor_enc_uint(&e, r->not_after);
	return e.failed ? 0 : e.len;
}

int nsm_issuer_decode_reply(const uint8_t *buf, size_t len, struct nsm_issuer_reply *r)
{
	struct cbor_field f[] = {
		{ .key = "seq", .type = CBOR_FIELD_UINT, .required = true },
		{ .key = "error", .type = CBOR_FIELD_UINT },
		{ .key = "message", .type = CBOR_FIELD_TEXT },
		{ .key = "leaf", .type = CBOR_FIELD_BYTES },
		{ .key = "root", .type = CBOR_FIELD_BYTES },
		{ .key = "intermediate", .type = CBOR_FIELD_BYTES },
		{ .key = "not_after", .type = CBOR_FIELD_UINT },
	};
	int ret;

	memset(r, 0, sizeof(*r));
	ret = read_map(buf, len, f, ARRAY_SIZE(f));
	if (ret)
		return ret;
	r->seq = f[0].u;
	if (f[1].seen) {
		/* errno values are small and positive; anything else is reported as EIO. */
		r->error = f[1].u && f[1].u < 4096 ? (int)f[1].u : EIO;
		return text_field(&f[2], r->message, sizeof(r->message));
	}
	if (!f[3].seen || !f[4].seen || !f[5].seen || !f[6].seen || !f[3].len || !f[4].len || !f[5].len)
		return err_set(EINVAL, "an issuer reply has neither an error nor a leaf, its chain and its end");
	r->leaf = f[3].data;
	r->leaf_len = f[3].len;
	r->root = f[4].data;
	r->root_len = f[4].len;
	r->intermediate = f[5].data;
	r->intermediate_len = f[5].len;
	r->not_after = f[6].u;
	return 0;
}
