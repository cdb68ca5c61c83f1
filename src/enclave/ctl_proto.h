/* SPDX-License-Identifier: MIT */
/*
 * nitro-cli's enclave-process protocol, the bytes on the wire (both ends use this file: ctl_server.c in the
 * enclave process, ctl_client.c in the commands).
 *
 * Each enclave process listens on $NITRO_CLI_SOCKETS_PATH/<slot id in hex>.sock (registry.h).  Every message
 * is a u64 little-endian length followed by that many bytes of CBOR.  A request is the command's name (a CBOR
 * text string: the Rust variant name, "Describe") written twice, then for some commands one argument message
 * (Describe: the map {"metadata": bool}; GetIDbyName: the name as a text string).  Replies:
 *
 *   GetEnclaveCID, GetEnclaveFlags   a bare u64 little-endian, nothing else
 *   Describe, GetEnclaveName,        the u64 0xEEC0 ("confirm": the process is alive), then reply messages
 *   GetIDbyName
 *   Terminate, Run                   reply messages
 *
 * A reply message is a one-entry CBOR map: {"StdOutMessage": text} (JSON for the client's stdout, ending in a
 * newline), {"StdErrMessage": text} (a line for its stderr) or {"Status": int} (0, or an errno such as EACCES
 * or EEXIST), after which the enclave process closes the connection.
 *
 * ConnectConsole is nitrovm's own command (a stock nitro-cli never sends it): confirm, then the console's
 * history and live bytes, raw, until the enclave ends.
 */
#ifndef NITROVM_ENCLAVE_CTL_PROTO_H
#define NITROVM_ENCLAVE_CTL_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_CONFIRM	 0xEEC0ULL /* nitro-cli's MSG_ENCLAVE_CONFIRM */
#define CTL_LEN_SIZE	 8	   /* the u64 length before every message */
/* The largest message either end accepts: requests are a few bytes, a describe reply with metadata a few KiB. */
#define CTL_MSG_MAX	 (256 * 1024)
/* The longest enclave name or id a request may carry (nitro-cli sets no limit; ours are far shorter). */
#define CTL_STRING_MAX	 1024
#define CTL_DEBUG_FLAG	 1ULL /* GetEnclaveFlags: NE_ENCLAVE_DEBUG_MODE */

enum ctl_cmd {
	CTL_RUN,
	CTL_TERMINATE,
	CTL_TERMINATE_COMPLETE,
	CTL_DESCRIBE,
	CTL_GET_CID,
	CTL_GET_FLAGS,
	CTL_GET_NAME,
	CTL_GET_ID_BY_NAME,
	CTL_LISTENER_STOP,
	CTL_NOT_PERMITTED,
	CTL_CONNECT_CONSOLE, /* nitrovm's */
	CTL_CMD_COUNT,
	CTL_CMD_UNKNOWN = CTL_CMD_COUNT,
};

enum ctl_reply_kind {
	CTL_REPLY_STDOUT,
	CTL_REPLY_STDERR,
	CTL_REPLY_STATUS,
};

/* A decoded reply message; text points into the message (not NUL-terminated). */
struct ctl_reply {
	enum ctl_reply_kind kind;
	const char *text;
	size_t len;
	int32_t status;
};

/* "Describe", ...; NULL for CTL_CMD_UNKNOWN. */
const char *ctl_cmd_name(enum ctl_cmd c);
/* Whether an argument message follows the two copies of the command (what the enclave process reads). */
bool ctl_cmd_has_args(enum ctl_cmd c);

/* ---- encoding: each returns a heap buffer holding the framed message (length + CBOR), or NULL ---- */

uint8_t *ctl_frame_cmd(enum ctl_cmd c, size_t *len);
uint8_t *ctl_frame_describe_args(bool metadata, size_t *len);
uint8_t *ctl_frame_string(const char *s, size_t *len);
uint8_t *ctl_frame_reply_text(enum ctl_reply_kind kind, const char *text, size_t *len);
uint8_t *ctl_frame_reply_status(int32_t status, size_t *len);

/* ---- decoding one message (the CBOR after the length); 0 or -EBADMSG with err_msg() set ---- */

int ctl_decode_reply(const uint8_t *msg, size_t len, struct ctl_reply *r);

/* ---- a whole request, as an enclave process reads it ---- */

struct ctl_request {
	unsigned int messages; /* read so far */
	enum ctl_cmd cmd;
	bool metadata;		    /* Describe's argument */
	char name[CTL_STRING_MAX];  /* GetIDbyName's argument */
};

/*
 * Take whole messages off the front of buf[0..len) (the bytes received so far); *used says how many were taken.
 * Returns 1 once the request is complete (the command twice, then its argument if it takes one), 0 when more
 * bytes are needed, -1 when the bytes are not nitro-cli's protocol (a message longer than max_msg, a command
 * that is not a CBOR text, two different copies, a malformed argument).
 */
int ctl_request_feed(struct ctl_request *r, const uint8_t *buf, size_t len, size_t *used, size_t max_msg);

#endif
