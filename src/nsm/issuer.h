/* SPDX-License-Identifier: MIT */
/*
 * The issuer: the process that holds the local CA's intermediate key for one enclave and certifies that
 * enclave's leaf key, so that the process that touches guest memory (the enclave process: vCPU threads, the
 * device event loop that parses the guest's CBOR) holds at most its own enclave's leaf key.
 *
 *   enclave process                                          issuer (forked by it before any guest memory)
 *   nsm_issuer_spawn  ──────────── fork ─────────────────►   opens <state dir>/ca (root.key, intermediate.key)
 *   nsm_issuer_bind(id)  before the guest runs ──────────►   bound to id, once and for good
 *   worker: leaf key made here; public key ── issue ─────►   id the bound one? same key as the first time?
 *                                          ◄── leaf, chain   within the rate limit?  then certify
 *
 * What a compromised enclave process can get from its issuer is therefore what it had already: certificates
 * for its own enclave id and its own key, at most NSM_ISSUER_BURST at once and one per NSM_ISSUER_REFILL_SECS
 * after that.  The issuer is not dumpable (no ptrace, no /proc/PID/mem for its owner), dies with its enclave
 * process (PR_SET_PDEATHSIG) or when the socket closes, and keeps no descriptor but its socket and stderr.
 *
 * issuer.c is the policy, over messages (issuer_wire.c) and with the clocks given by the caller, so that tests
 * can drive it without a process; issuer_proc.c is the process and the enclave process's side of the socket.
 */
#ifndef NITROVM_NSM_ISSUER_H
#define NITROVM_NSM_ISSUER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "nsm.h"

/* Certificates the issuer gives at once: the first leaf and a few retries after failures. */
#define NSM_ISSUER_BURST 4
/*
 * Then one more per this many seconds.  A well-behaved enclave asks once per NSM_CA_LEAF_SECS -
 * NSM_CA_LEAF_RENEW_SECS (two hours); ten minutes is twelve times that, and caps what a compromised enclave
 * process can have certified at six leaves an hour, all for its own id and key.
 */
#define NSM_ISSUER_REFILL_SECS 600
/* One message: a request is an id and a 120-byte public key, a reply three certificates of under 1 KiB each. */
#define NSM_ISSUER_MSG_MAX 8192
/* A P-384 SubjectPublicKeyInfo is 120 bytes; anything much longer is not one. */
#define NSM_ISSUER_KEY_MAX 512
/* The sentence a refusal carries. */
#define NSM_ISSUER_MESSAGE_MAX 512
/*
 * How long the enclave process waits for an answer.  Creating the chain on first use (two P-384 keys, files
 * written) takes seconds on an emulated CPU; the wait is the NSM worker's, never the event loop's.
 */
#define NSM_ISSUER_REPLY_TIMEOUT_MS 60000
/* Below the vCPUs and the event loop: the boot needs the CPU now, the issuer only when the enclave first asks. */
#define NSM_ISSUER_NICE 10
#define NSM_ISSUER_PROC_NAME "nitrovm-issuer"

/* ---- messages (issuer_wire.c): CBOR maps, one per SOCK_SEQPACKET datagram ---- */

enum nsm_issuer_op {
	NSM_ISSUER_BIND = 1, /* {"op": "bind", "id": text}: no reply */
	NSM_ISSUER_ISSUE,    /* {"op": "issue", "seq": uint, "id": text, "key": bstr (SubjectPublicKeyInfo DER)} */
};

struct nsm_issuer_request {
	enum nsm_issuer_op op;
	uint64_t seq;
	char id[NSM_MODULE_ID_MAX];
	const uint8_t *key; /* inside the message */
	size_t key_len;
};

/* {"seq", "leaf", "root", "intermediate", "not_after"} or {"seq", "error": errno, "message": text} */
struct nsm_issuer_reply {
	uint64_t seq;
	int error; /* a positive errno, 0 when certified */
	char message[NSM_ISSUER_MESSAGE_MAX];
	const uint8_t *leaf, *root, *intermediate; /* inside the message */
	size_t leaf_len, root_len, intermediate_len;
	uint64_t not_after;
};

/* The message's length, 0 when it does not fit cap. */
size_t nsm_issuer_encode_request(const struct nsm_issuer_request *r, uint8_t *buf, size_t cap);
size_t nsm_issuer_encode_reply(const struct nsm_issuer_reply *r, uint8_t *buf, size_t cap);
/* 0, or -EINVAL with err_msg() for anything but the shapes above (unknown or repeated keys included). */
int nsm_issuer_decode_request(const uint8_t *buf, size_t len, struct nsm_issuer_request *r);
int nsm_issuer_decode_reply(const uint8_t *buf, size_t len, struct nsm_issuer_reply *r);

/* ---- the policy (issuer.c) ---- */

struct nsm_issuer;

/*
 * An issuer for the CA in state_dir, which it opens (nsm_ca_open) at the first bind; a failure to open it is
 * kept and becomes every issue's answer.
 */
int nsm_issuer_new(const char *state_dir, struct nsm_issuer **out);
void nsm_issuer_free(struct nsm_issuer *is);
/*
 * One message in, at most one reply out (into reply, cap bytes; its length, 0 for none).  now is the time
 * certificates are issued at, mono_s a monotonic clock in seconds for the rate limit.
 */
size_t nsm_issuer_handle(struct nsm_issuer *is, const uint8_t *msg, size_t len, time_t now, uint64_t mono_s,
			 uint8_t *reply, size_t cap);

/* ---- the process (issuer_proc.c) ---- */

struct nsm_issuer_proc;

/*
 * Fork the issuer for the CA in state_dir.  Call it while the process is single-threaded and before guest
 * memory exists: the child keeps a copy of the address space it was forked from, and OpenSSL and malloc must
 * not find a lock some other thread held.
 */
int nsm_issuer_spawn(const char *state_dir, struct nsm_issuer_proc **out);
/*
 * Bind the issuer to the enclave id, before the guest runs: the first bind is the one that counts.  The issuer
 * then opens the CA (creating the chain on first use) while the enclave boots.
 */
int nsm_issuer_bind(struct nsm_issuer_proc *p, const char *id);
/* A certifier that asks p (nsm.h): the module owns it, p must outlive it. */
struct nsm_certifier *nsm_issuer_certifier(struct nsm_issuer_proc *p);
pid_t nsm_issuer_pid(const struct nsm_issuer_proc *p);
/* Close the socket (the issuer exits), reap it, free p. */
void nsm_issuer_stop(struct nsm_issuer_proc *p);

#endif
