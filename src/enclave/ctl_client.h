/* SPDX-License-Identifier: MIT */
/*
 * The commands' side of nitro-cli's enclave-process protocol (ctl_proto.h): ask one enclave process, or all of
 * them at once as nitro-cli broadcasts (each gets CTL_REPLY_TIMEOUT_MS to confirm), and gather what they answer.
 * They may be nitrovm's or a stock nitro-cli's: replies are checked like any other untrusted input.
 */
#ifndef NITROVM_ENCLAVE_CTL_CLIENT_H
#define NITROVM_ENCLAVE_CTL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl_proto.h"

struct registry_dirs;

/* nitro-cli's ENCLAVE_PROC_WAIT_TIMEOUT_MSEC: how long one enclave process may take to confirm or reply. */
#define CTL_REPLY_TIMEOUT_MS 3000
/* Terminating waits for the enclave to end, which takes as long as the backend needs to stop it. */
#define CTL_TERMINATE_TIMEOUT_MS 60000
#define CTL_MAX_ENCLAVES	 256

/* What an enclave process answered: its stdout and stderr texts, concatenated, and the status. */
struct ctl_answer {
	char *out, *err; /* heap, NUL-terminated ("" when none) */
	size_t out_len, err_len;
	bool has_status;
	int32_t status;
};

void ctl_answer_free(struct ctl_answer *a);

/* Send a command (twice, as nitro-cli does) and its argument message, if any (NULL: none). */
int ctl_send(int fd, enum ctl_cmd cmd, const uint8_t *args, size_t args_len);
/* Read a bare u64 (a confirmation, a CID, flags) within timeout_ms. */
int ctl_read_u64(int fd, uint64_t *v, int timeout_ms);
/* Read reply messages until the peer closes, each within timeout_ms. */
int ctl_read_answer(int fd, struct ctl_answer *a, int timeout_ms);

/*
 * Ask every enclave process: cmd (and args) to each, then the confirmations, then the answers.  *answers is a
 * heap array of *n (one per process that confirmed); *failed counts those that did not.
 */
int ctl_broadcast(const struct registry_dirs *d, enum ctl_cmd cmd, const uint8_t *args, size_t args_len,
		  struct ctl_answer **answers, unsigned int *n, unsigned int *failed);
void ctl_answers_free(struct ctl_answer *answers, unsigned int n);

/* One enclave, by id: connect, send, and read its u64 (GetEnclaveCID, GetEnclaveFlags). */
int ctl_ask_u64(const struct registry_dirs *d, const char *enclave_id, enum ctl_cmd cmd, uint64_t *v);
/* Every enclave process's answer to GetEnclaveCID (or GetEnclaveFlags): up to max values into v; returns n. */
unsigned int ctl_collect_u64(const struct registry_dirs *d, enum ctl_cmd cmd, uint64_t *v, unsigned int max);
/* The names of every enclave (GetEnclaveName, broadcast); a heap array of *n heap strings. */
int ctl_all_names(const struct registry_dirs *d, char ***names, unsigned int *n);
void ctl_names_free(char **names, unsigned int n);
/* The id of the one enclave called name: 0, -ENOENT (none) or -EEXIST (several), err_msg() set. */
int ctl_id_by_name(const struct registry_dirs *d, const char *name, char *id, size_t id_len);

#endif
