/* SPDX-License-Identifier: MIT */
/*
 * The enclave process: the one process that owns an enclave for its whole life.
 *
 * It picks the enclave's name and CID (unique on this host, under the registry's launch lock), runs the launch
 * pipeline, and from the moment the slot exists serves nitro-cli's protocol on its socket (ctl_server.h), so
 * nitrovm's commands and a stock nitro-cli can find, describe, attach to and terminate the enclave.  It keeps
 * the console history (console_ring.h) and, when the enclave ends, an exit record, then removes its socket.
 *
 * It runs in the foreground (run-enclave --foreground, the QEMU front end) or detached: enclave_proc_detach()
 * forks it off in its own session with its stdio on /dev/null and its own log, and the command waits only
 * until the enclave booted (the heartbeat), printing what the enclave process reports on the way: nitro-cli's
 * progress lines, the run-enclave JSON, or the error that ended the launch.  If the command goes away before
 * the enclave booted (Ctrl-C), the enclave process ends the enclave rather than leave one nobody asked for.
 */
#ifndef NITROVM_ENCLAVE_PROC_H
#define NITROVM_ENCLAVE_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "launch.h"
#include "privdrop.h"

/* CIDs nitrovm picks for emulated enclaves start where the Nitro driver's do (16, 17, ... in nitro-cli's logs). */
#define ENCLAVE_AUTO_CID_FIRST 16
#define ENCLAVE_AUTO_CID_LAST  0xfffffffeULL

/* What the command shows while the enclave process works (all optional). */
struct enclave_view {
	void *opaque;
	void (*progress)(void *opaque, const char *line);	     /* the launch's own lines (launch.h) */
	void (*allocating)(void *opaque);			     /* the enclave's memory is being allocated */
	void (*notice)(void *opaque, const char *line);		     /* something said once (a fallback directory) */
	void (*running)(void *opaque, const struct enclave_info *info); /* the enclave runs */
	void (*booted)(void *opaque, const struct enclave_info *info, double seconds); /* it answered the heartbeat */
	void (*console)(void *opaque, const uint8_t *buf, size_t len);
	/*
	 * The app's output through the app channel (stream 1 stdout, 2 stderr): returns how much was taken now;
	 * less pauses the channel until launch_app_resume().  Without it the output goes to console.
	 */
	size_t (*app_output)(void *opaque, int stream, const uint8_t *buf, size_t len);
	void (*app_started)(void *opaque);    /* the init opened the app channel: the app runs */
	void (*app_input_room)(void *opaque); /* launch_app_input() takes bytes again */
	/* The launch's loop exists (the slot was just made): watch more descriptors, talk to the app. */
	int (*attach)(void *opaque, struct launch_run *run);
	/*
	 * The launch is over: the console history as the enclave left it (debug mode: a and b, oldest first;
	 * else empty), for a command that shows its end.  Its file may be out of this process's reach by then.
	 */
	void (*history)(void *opaque, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);
};

/*
 * More services on the enclave process's event loop (the QEMU front end's QMP), all optional: started once the
 * slot exists (a negative return ends the launch with err_msg()), told when the enclave runs, and when the
 * launch is over (the loop runs no more; r and ret as enclave_launch returns them).
 */
struct enclave_service {
	void *opaque;
	int (*start)(void *opaque, struct launch_run *run, const struct enclave_info *info);
	void (*running)(void *opaque, const struct enclave_info *info);
	void (*ended)(void *opaque, const struct launch_result *r, int ret);
};

struct enclave_proc_opts {
	struct launch_opts launch; /* its hooks are the enclave process's own */
	struct enclave_view view;
	struct enclave_service service;
	/*
	 * A detached enclave process's report channel (else -1): watched until the enclave booted, a hang-up
	 * ending the enclave (the command was interrupted), and closed right after view.booted ran.
	 */
	int report_fd;
	/*
	 * What the process gives up before the guest runs (privdrop.h; all zero: only no_new_privs and limits).
	 * When it switches user, a keeper it forks first (keeper.h) writes its records, removes its sockets and
	 * connects its Unix-socket bridges for it.
	 */
	struct privdrop privdrop;
};

/*
 * Run an enclave to its end in this process (the launch pipeline's contract: 0 when it started, then r->exit;
 * else -errno with err_msg() and r->failure).
 */
int enclave_proc_run(const struct enclave_proc_opts *o, struct launch_result *r);

/* ---- detached enclave processes ---- */

/*
 * The report channel from a detached enclave process to the command that started it: nitro-cli's reply messages
 * (ctl_proto.h) on a socket pair.  enclave_report_text() sends stderr or stdout text, enclave_report_status()
 * the command's exit status, after which the channel is closed.
 */
int enclave_report_text(int fd, bool to_stdout, const char *text);
int enclave_report_status(int fd, int status);

/*
 * Fork a detached enclave process (setsid, its parent gone, stdin and stdout on /dev/null) that runs
 * child(opaque, report_fd) and exits with its return value.  Here, print what it reports (stderr, stdout) until
 * its status, and return that status; -errno with err_msg() when it could not be started or ended without one.
 * With out, what it reported for stdout is also kept there (a heap string, or NULL).
 */
int enclave_proc_detach(int (*child)(void *opaque, int report_fd), void *opaque, char **out);

/* In the enclave process: send stderr to a log file of its own from now on (<run dir>/enclave-<pid>.log). */
int enclave_proc_log_to_file(char *path, size_t len);

#endif
