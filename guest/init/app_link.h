/* SPDX-License-Identifier: MIT */
/*
 * The init's end of the app channel (src/enclave/app_wire.h): the app's stdout and stderr go to the parent
 * as frames, its stdin and signals come from there, and when it has ended its exit status goes out last.
 *
 * Written over plain descriptors (the channel, the app's three pipes, a signalfd for SIGCHLD) so that the unit
 * tests (tests/unit/test_init_app.c) run it on the host with a socketpair for the channel and a real child
 * process for the app; init.c opens the vsock stream and the pipes.
 *
 * The parent is untrusted from here too: a frame the parent may not send, or out of bounds, ends the channel,
 * and the app's output goes to the fallback descriptor (the console) from then on.  So does everything when the
 * parent goes away.  The app is never held up by a parent that is not there.
 */
#ifndef NITROVM_GUEST_INIT_APP_LINK_H
#define NITROVM_GUEST_INIT_APP_LINK_H

#include <stddef.h>
#include <sys/types.h>

/* The parent answers a connection at once (AF_VSOCK: RST when nobody listens); this bounds a silent one. */
#define APP_LINK_CONNECT_TIMEOUT_MS 2000
/* And the answer to HELLO, which a parent that knows the channel sends at once. */
#define APP_LINK_WELCOME_TIMEOUT_MS 2000
/*
 * After the app exited, its pipes may stay open in children it left behind: what they hold is passed on until
 * they are empty and idle this long.
 */
#define APP_LINK_DRAIN_IDLE_MS 300
/* The exit status must reach the parent before the reboot ends the enclave; a parent silent this long is gone. */
#define APP_LINK_ACK_TIMEOUT_MS 5000
/* Stdin the app has not read yet: a few frames. */
#define APP_LINK_STDIN_MAX (256 * 1024)

struct app_link_io {
	int chan;     /* the channel, connected and past the handshake (made non-blocking here) */
	int app_in;   /* the write end of the app's stdin pipe */
	int app_out;  /* the read ends of its stdout and stderr pipes */
	int app_err;
	int sigchld;  /* a signalfd for SIGCHLD (blocked): every child is reaped here, the app's status kept */
	int fallback; /* where output goes when the channel ends early (the console) */
	pid_t app;
};

/*
 * Send HELLO on fd and wait up to timeout_ms for the parent's WELCOME.  0 when the parent speaks the channel,
 * -EPROTO when something else answered, -ETIMEDOUT, or -errno from the stream.
 */
int app_link_handshake(int fd, int timeout_ms);

/*
 * Relay until the app has exited and its output is passed on, then send its exit status and wait (bounded)
 * for the parent's acknowledgement.  The channel and the pipes are closed on return (sigchld and fallback stay
 * the caller's).  *status is the app's wait()
 * status.  Returns 0 when the parent acknowledged it, -EPIPE when the channel ended before (the status was
 * then not delivered: say it on the console).
 */
int app_link_relay(struct app_link_io *io, int *status);

#endif
