/* SPDX-License-Identifier: MIT */
/*
 * The app channel's wire format, shared by its two ends: nitrovm's enclave init (guest/init/app_link.c) and the
 * parent (enclave/app_channel.c).  The channel carries the app's stdout and stderr and, at its end, its exit
 * status out of the enclave, and its stdin and signals into it.  Neither AWS's init nor nitro-cli knows it: an
 * init that finds no parent service on the port keeps the app's output on the console, as before.
 *
 * Transport: one vsock stream, opened by the init to the parent (CID 3) on port APP_WIRE_PORT once the boot
 * heartbeat is done, before the app starts.
 *
 * Frames: an 8-byte header -- type (1 byte), three zero bytes, payload length (4 bytes, little-endian) -- then
 * the payload, at most APP_WIRE_MAX_PAYLOAD bytes.
 *
 *   init -> parent                                parent -> init
 *   HELLO    magic "NVAP", version (u32 LE)       WELCOME    magic "NVAP", version (u32 LE)
 *   STDOUT   1..MAX bytes of the app's stdout     STDIN      1..MAX bytes for the app's stdin
 *   STDERR   1..MAX bytes of the app's stderr     STDIN_EOF  (empty) the app's stdin ends
 *   EXIT     kind (u32: 0 exited, 1 killed by a   SIGNAL     signal number (u32, 1..64) for the app
 *            signal), value (u32: status or       EXIT_ACK   (empty) the EXIT frame arrived: the init may
 *            signal number); the last frame                  end the enclave
 *
 * Order: HELLO first, then WELCOME; the init starts the app only after WELCOME, so a port that answers anything
 * else (someone else's service) is not taken for the channel.  After EXIT the init sends nothing more and
 * waits (bounded) for EXIT_ACK before it reboots, so that the status is not lost in a queue the reset throws
 * away.  Both ends treat the other's bytes as untrusted: a frame of an unknown type, a payload length out of
 * bounds or a frame out of order ends the channel.
 *
 * This file is plain C without system calls: the init (static, freestanding of nitrovm's library) compiles it
 * too.
 */
#ifndef NITROVM_ENCLAVE_APP_WIRE_H
#define NITROVM_ENCLAVE_APP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Next to the heartbeat's 9000: the other port nitrovm's init speaks on. */
#define APP_WIRE_PORT 9001
#define APP_WIRE_VERSION 1
#define APP_WIRE_MAGIC "NVAP"
#define APP_WIRE_HEADER 8
/*
 * A pipe's default capacity is 64 KiB; half of it per frame keeps a frame within the vsock's default buffer
 * (256 KiB) several times over, and bounds what either end holds per frame.
 */
#define APP_WIRE_MAX_PAYLOAD (32 * 1024)
#define APP_WIRE_HELLO_SIZE 8 /* magic + version, also WELCOME's */
#define APP_WIRE_EXIT_SIZE 8
#define APP_WIRE_SIGNAL_SIZE 4
/* Linux's signals, real-time ones included (_NSIG - 1). */
#define APP_WIRE_MAX_SIGNAL 64

enum app_wire_type {
	APP_WIRE_HELLO = 0x01,
	APP_WIRE_STDOUT = 0x02,
	APP_WIRE_STDERR = 0x03,
	APP_WIRE_EXIT = 0x04,
	APP_WIRE_WELCOME = 0x81,
	APP_WIRE_STDIN = 0x82,
	APP_WIRE_STDIN_EOF = 0x83,
	APP_WIRE_SIGNAL = 0x84,
	APP_WIRE_EXIT_ACK = 0x85,
};

enum app_exit_kind {
	APP_EXIT_CODE = 0,   /* value: the exit status, 0..255 */
	APP_EXIT_SIGNAL = 1, /* value: the signal that killed it, 1..APP_WIRE_MAX_SIGNAL */
};

/* The header of a frame into out (APP_WIRE_HEADER bytes). */
void app_wire_header(uint8_t *out, enum app_wire_type type, uint32_t len);
/* A whole HELLO or WELCOME frame into out (APP_WIRE_HEADER + APP_WIRE_HELLO_SIZE bytes); returns its size. */
size_t app_wire_hello(uint8_t *out, enum app_wire_type type);
/* A whole EXIT frame (APP_WIRE_HEADER + APP_WIRE_EXIT_SIZE bytes); returns its size. */
size_t app_wire_exit(uint8_t *out, enum app_exit_kind kind, uint32_t value);
/* A whole SIGNAL frame (APP_WIRE_HEADER + APP_WIRE_SIGNAL_SIZE bytes); returns its size. */
size_t app_wire_signal(uint8_t *out, uint32_t signo);
/* True when a HELLO or WELCOME payload carries the magic and this version. */
bool app_wire_hello_ok(const uint8_t *payload, uint32_t len);

/*
 * One frame at a time from a byte stream.  app_wire_need() says how many more bytes the frame in progress
 * needs (a header, then its payload): a reader of a socket asks for exactly that, so nothing past the frame is
 * ever taken from the stream.  app_wire_feed() takes up to that many; it returns 1 once the frame is whole
 * (type, len and payload are then valid until app_wire_next()), 0 while it is not, or a negative errno for a
 * header no frame has: -EMSGSIZE for a payload longer than APP_WIRE_MAX_PAYLOAD, -EPROTO for non-zero reserved
 * bytes.  *used says how many bytes it took.
 */
struct app_wire_reader {
	uint8_t hdr[APP_WIRE_HEADER];
	size_t hdr_got;
	uint8_t type;
	uint32_t len;
	size_t got;
	uint8_t payload[APP_WIRE_MAX_PAYLOAD];
};

void app_wire_reader_init(struct app_wire_reader *r);
size_t app_wire_need(const struct app_wire_reader *r);
int app_wire_feed(struct app_wire_reader *r, const uint8_t *buf, size_t len, size_t *used);
/* Start the next frame. */
void app_wire_next(struct app_wire_reader *r);

#endif
