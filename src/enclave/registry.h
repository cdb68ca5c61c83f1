/* SPDX-License-Identifier: MIT */
/*
 * Where running and ended enclaves are found on this host.
 *
 * Running: each enclave process listens on <sockets dir>/<slot id in lowercase hex>.sock, the directory being
 * the one chosen (registry_set_dirs(): nitro-cli's $NITRO_CLI_SOCKETS_PATH), else /run/nitro_enclaves: the same place and names as nitro-cli's, so each tool finds
 * the other's enclaves.  A user who cannot write there (not root, not in the ne group) gets a directory of their
 * own under $XDG_RUNTIME_DIR (else /tmp) instead; commands look in both.  A socket nobody listens on any more
 * is a process that died: whoever finds it deletes it (ECONNREFUSED; EACCES means someone else's, left alone).
 *
 * Records: the enclave process keeps, in a directory of nitrovm's own (run_dir), per enclave <slot>.json (who
 * it is: name, id, CID, flags, its process), <slot>.console (the console history ring, console_ring.h),
 * <slot>.log (its stderr) and, once it ended, <slot>.exit (how).  An ended enclave's records stay for `console`
 * and are removed by terminate-enclave; at most REGISTRY_ENDED_KEPT are kept, the oldest going first.
 *
 * Launches serialise on a lock file in the sockets directory while they pick a name and a CID and bind their
 * socket, so ten launches at once get ten names and ten CIDs (nitro-cli's #516).
 */
#ifndef NITROVM_ENCLAVE_REGISTRY_H
#define NITROVM_ENCLAVE_REGISTRY_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* nitro-cli's own setting for the sockets directory: sharing it is how each tool finds the other's enclaves. */
#define REGISTRY_SOCKETS_ENV	 "NITRO_CLI_SOCKETS_PATH"
#define REGISTRY_SOCKETS_DEFAULT "/run/nitro_enclaves"
#define REGISTRY_RUN_ROOT	 "/run/nitrovm"
#define REGISTRY_LOCK_NAME	 ".nitrovm.lock" /* nitro-cli looks only at *.sock */
#define REGISTRY_SOCKET_SUFFIX	 ".sock"
#define REGISTRY_MAX_DIRS	 2
/* Ended enclaves whose console history and exit record are kept for `console`. */
#define REGISTRY_ENDED_KEPT	 32
/* The slot part of an id: what follows the last "-enc" (nitro-cli's socket name). */
#define REGISTRY_SLOT_MAX	 64

struct registry_dirs {
	char sockets[PATH_MAX];	 /* where this user's enclave processes put their sockets */
	bool fell_back;		 /* sockets is the per-user directory, not the chosen or the shared one */
	bool created;		 /* ... and it was created just now (the command says so, once) */
	char search[REGISTRY_MAX_DIRS][PATH_MAX]; /* where to look for enclaves: sockets, and the shared one */
	unsigned int nsearch;
	char run[PATH_MAX];	 /* nitrovm's records */
};

/*
 * The directories the command line chose (copied; NULL or "" for the defaults): sockets replaces
 * /run/nitro_enclaves and its per-user fallback, run the records directory.  -ENAMETOOLONG if one is too long.
 */
int registry_set_dirs(const char *sockets, const char *run);
/* Find (and, with create, make) the directories.  0 or -errno with err_msg() set. */
int registry_dirs(struct registry_dirs *d, bool create);
/* Only the records directory (made when missing): for an enclave process's log, before anything else. */
int registry_run_dir(char *out, size_t len);

/* "<slot>" of an enclave id ("i-...-enc<slot>", or the whole id when it has no "-enc"): its records' names. */
void registry_slot_of(const char *enclave_id, char *out, size_t len);

/* "<dir>/<slot>.sock" for an enclave id. */
int registry_socket_path(const char *dir, const char *enclave_id, char *out, size_t len);
/* "<run dir>/<slot><suffix>" for an enclave id ("" when the id's slot is not a safe file name). */
int registry_record_path(const struct registry_dirs *d, const char *enclave_id, const char *suffix, char *out,
			 size_t len);

/* The launch lock (flock on <sockets>/.nitrovm.lock): returns its fd, or -errno. */
int registry_lock(const struct registry_dirs *d);
void registry_unlock(int fd);

/*
 * Connect to every enclave process in the search directories: cb gets each connected socket (and its path)
 * and owns it.  Stale sockets are deleted on the way; *stale counts them.  Returns the number connected.
 */
int registry_connect_all(const struct registry_dirs *d, void (*cb)(void *opaque, int fd, const char *path),
			 void *opaque, unsigned int *stale);
/* Connect to one enclave's socket by id, in the search directories; -ENOENT when none listens. */
int registry_connect(const struct registry_dirs *d, const char *enclave_id, char *path, size_t path_len);

/*
 * How an enclave ended, as <slot>.exit keeps it: reason is a word ("poweroff", "terminated", "killed", ...),
 * detail one sentence, status the enclave process's exit status (-1: unknown).
 */
struct registry_exit {
	char reason[32];
	char detail[256];
	int status;
	double seconds; /* how long it ran (0: unknown) */
	time_t ended;	/* when */
};

int registry_write_exit(const struct registry_dirs *d, const char *enclave_id, const struct registry_exit *x);
int registry_read_exit(const struct registry_dirs *d, const char *enclave_id, struct registry_exit *x);

/* The EnclaveName in an enclave's record ("" when it has none). */
void registry_record_name(const struct registry_dirs *d, const char *enclave_id, char *name, size_t len);
/* The id of an ended enclave called name (the newest, if several); -ENOENT when none. */
int registry_find_by_name(const struct registry_dirs *d, const char *name, char *id, size_t len);
/* The ids of every ended enclave with records here: a heap array of *n heap strings. */
int registry_list_ended(const struct registry_dirs *d, char ***ids, unsigned int *n);
void registry_list_free(char **ids, unsigned int n);

/* Delete an ended enclave's records; oldest-first pruning keeps at most REGISTRY_ENDED_KEPT. */
void registry_remove_records(const struct registry_dirs *d, const char *enclave_id);
void registry_prune_ended(const struct registry_dirs *d);

#endif
