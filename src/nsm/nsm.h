/* SPDX-License-Identifier: MIT */
/*
 * The Nitro Secure Module, as the guest sees it through virtio device 33 (src/hw/virtio/nsm.c carries the bytes;
 * everything the bytes mean is here):
 *
 *   pcr.c          32 SHA-384 PCRs with lock bits; the boot measurements (PCR0/1/2/8 from the EIF, PCR3 from
 *                  the parent's IAM role, PCR4 from the parent's instance id); 0-15 locked at start
 *   request.c      CBOR requests in, CBOR responses out, with nsm-api's serde schema (aws-nitro-enclaves-nsm-api): unit
 *                  requests are bare text, the others one-entry maps {"Name": {fields in declared order}},
 *                  errors {"Error": "<ErrorCode>"}
 *   attestation.c  the attestation document: untagged COSE_Sign1, ES384, over nsm-api's AttestationDoc
 *   ca.c           the local certificate chain that signs documents (root -> intermediate -> per-enclave leaf),
 *                  kept in a state directory
 *   certifier.c    what certifies the enclave's leaf key: the CA in this process (tests, tools)
 *   issuer*.c      or the issuer, a process of its own (issuer.h): the VMM never holds a CA key
 *   worker.c       the thread that makes the leaf and signs documents, so that no signature runs on the loop
 *
 * Requests come from an untrusted guest: every length is checked against the bytes present before it is used,
 * nothing is allocated on the strength of a length the guest sent, and no input crashes the module; each has
 * an answer, at worst {"Error": "InvalidOperation"}.
 */
#ifndef NITROVM_NSM_H
#define NITROVM_NSM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "crypto/crypto.h"

struct eif;
struct file_pin;

#define NSM_MAX_PCRS	      32 /* DescribeNSM max_pcrs */
#define NSM_BOOT_LOCKED_PCRS  16 /* PCRs 0-15 are the hypervisor's, locked from the start */
#define NSM_PCR_LEN	      SHA384_LEN
#define NSM_REQUEST_MAX	      0x1000 /* NSM_REQUEST_MAX_SIZE of both Linux drivers */
#define NSM_RESPONSE_MAX      0x3000 /* NSM_RESPONSE_MAX_SIZE: the response buffer the drivers offer */
/* user_data, nonce and public_key: nsm-check sends 1024 bytes of each and expects success; more is refused. */
#define NSM_ATTESTATION_FIELD_MAX 1024
/* ExtendPCR data: the real NSM bounds it only through the 4 KiB request, and so do we (named for the check). */
#define NSM_EXTEND_DATA_MAX	  NSM_REQUEST_MAX
/* GetRandom bytes per call, as QEMU gives; the Linux hwrng parser needs at least 24 (the nsm driver's hwrng read). */
#define NSM_RANDOM_BYTES	  256
/* DescribeNSM version: what QEMU and the Nitro NSM report. */
#define NSM_VERSION_MAJOR 1
#define NSM_VERSION_MINOR 0
#define NSM_VERSION_PATCH 0
#define NSM_MODULE_ID_MAX 128 /* enclave ids are ~40 bytes; QEMU's id= is free text, bounded here */
#define NSM_PARENT_ID_MAX 128 /* EC2 instance ids are 19 bytes */
#define NSM_PARENT_ROLE_MAX 2048 /* the longest IAM ARN */
/* The whole document, as the nsm-api spec bounds it; ours are 2-6 KiB. */
#define NSM_DOCUMENT_MAX 16384
/*
 * How the NSM reads CBOR (common/cbor.h's decoder): definite lengths only, as nsm-api's serde_cbor writes,
 * and containers nested at most 8 deep, more than any request needs ({name: {field: value}} is depth 2) so
 * that unknown values may nest a little.  The bound counts containers, empty or not, as it always has.
 */
#define NSM_CBOR_MAX_DEPTH 8
#define NSM_CBOR_FLAGS	   CBOR_DEC_DEPTH_COUNTS_CONTAINERS

/*
 * The parent instance id when none is given and the host is not an EC2 instance: the id nitro-cli puts in
 * enclave ids off EC2 (its src/enclave_proc/utils.rs), so that module_id and PCR4 name the same parent.
 */
#define NSM_DEFAULT_PARENT_ID "i-0000000000000000"

/* nsm-api's ErrorCode, in its order (the C library's enum values). */
enum nsm_error {
	NSM_E_SUCCESS = 0,
	NSM_E_INVALID_ARGUMENT,
	NSM_E_INVALID_INDEX,
	NSM_E_INVALID_RESPONSE,
	NSM_E_READ_ONLY_INDEX,
	NSM_E_INVALID_OPERATION,
	NSM_E_BUFFER_TOO_SMALL,
	NSM_E_INPUT_TOO_LARGE,
	NSM_E_INTERNAL_ERROR,
	NSM_E_COUNT,
};

/* "InvalidIndex", ...; NULL out of range. */
const char *nsm_error_name(enum nsm_error e);

/* ---- PCRs (pcr.c) ---- */

struct nsm_pcrs {
	uint8_t value[NSM_MAX_PCRS][NSM_PCR_LEN];
	bool locked[NSM_MAX_PCRS];
};

/* What the hypervisor measures before the enclave runs. */
struct nsm_boot {
	uint8_t pcr0[NSM_PCR_LEN], pcr1[NSM_PCR_LEN], pcr2[NSM_PCR_LEN];
	bool has_pcr8; /* the image is signed */
	uint8_t pcr8[NSM_PCR_LEN];
	const char *parent_role; /* NULL or "": no IAM role, PCR3 stays zero */
	const char *parent_id;	 /* never NULL: PCR4 */
};

/*
 * PCR0/1/2 with eif_measure (the code describe-eif uses) and PCR8 (nsm_boot_signature).  Returns 0 or a negative
 * errno with err_msg() set (a signature section that cannot be decoded).
 */
int nsm_boot_measure(const struct eif *e, struct nsm_boot *b);
/* PCR8 alone, from the signing certificate when the image is signed: a small section, not a pass over the image. */
int nsm_boot_signature(const struct eif *e, struct nsm_boot *b);
/*
 * PCR0/1/2 from the image file the EIF in enclave memory was loaded from, off the start path: fd is that file,
 * pin its identity taken before the load, layout the section table parsed from the loaded copy (eif_measure_fd).
 * The file is measured, then pinned again: any difference (or a file cut short) is -ESTALE with a sentence
 * saying the image changed during the launch.  -ECANCELED when *stop was set meanwhile.
 */
int nsm_boot_measure_file(int fd, const struct file_pin *pin, const struct eif *layout, const atomic_bool *stop,
			  struct nsm_boot *b);
/* All PCRs zero and unlocked, then the boot values, then 0-15 locked. */
void nsm_pcrs_boot(struct nsm_pcrs *p, const struct nsm_boot *b);
/* SHA384(old || data); NSM_E_INVALID_INDEX past 31, NSM_E_READ_ONLY_INDEX when locked. */
enum nsm_error nsm_pcr_extend(struct nsm_pcrs *p, unsigned int index, const void *data, size_t len);
/* NSM_E_INVALID_INDEX past 31, NSM_E_READ_ONLY_INDEX when already locked. */
enum nsm_error nsm_pcr_lock(struct nsm_pcrs *p, unsigned int index);
/* Lock [0, range); NSM_E_INVALID_INDEX for range > 32.  Idempotent. */
enum nsm_error nsm_pcr_lock_range(struct nsm_pcrs *p, unsigned int range);

/*
 * The parent instance id: given (when not NULL), else the EC2 instance id of this host (the DMI board asset tag
 * EC2 sets, as nitro-cli reads it), else NSM_DEFAULT_PARENT_ID.
 */
void nsm_parent_id(const char *given, char *out, size_t len);
/* The enclave id nitro-cli forms: "<parent instance id>-enc<slot uid, 16 lowercase hex digits>". */
void nsm_enclave_id(const char *parent_id, uint64_t slot_uid, char *out, size_t len);
/*
 * Both ids of a launch, one rule for the launch pipeline (EnclaveID) and the hypervisor (module_id, PCR4):
 * the parent id from nsm_parent_id(parent_id), the enclave id given_id when set (QEMU's id=), else formed.
 */
void nsm_launch_ids(const char *given_id, const char *parent_id, uint64_t slot_uid, char *pid, size_t pid_len,
		    char *eid, size_t eid_len);
/* 0 when s is usable as --parent-id / --parent-role (printable ASCII, 1..max bytes), else -EINVAL + err_msg(). */
int nsm_check_parent_string(const char *what, const char *s, size_t max);

/* ---- the local CA (ca.c) ---- */

struct nsm_ca;
struct evp_pkey_st;
struct x509_st;

/* Lifetimes, shaped like AWS's chain (attestation_process.md): a long-lived root, shorter CA below, hours for the leaf. */
#define NSM_CA_ROOT_DAYS	 (30 * 365)
#define NSM_CA_INTERMEDIATE_DAYS 30
/* An intermediate with less than this left is replaced (on disk, under the lock) before issuing from it. */
#define NSM_CA_INTERMEDIATE_RENEW_SECS (3 * 24 * 3600)
#define NSM_CA_LEAF_SECS	      (3 * 3600)
/* A document is never signed by a leaf with less than this left: a fresh leaf is issued first. */
#define NSM_CA_LEAF_RENEW_SECS (3600)
/*
 * A renewal that failed (the issuer refused or was busy) is tried again after this long, the current leaf
 * signing meanwhile: once a minute keeps a long-running enclave's documents valid without asking at every
 * request.
 */
#define NSM_CA_RENEW_RETRY_SECS 60
/* notBefore is set this far back, so a guest clock a little behind the host's still sees valid certificates. */
#define NSM_CA_BACKDATE_SECS 60

#define NSM_STATE_SYSTEM_DIR  "/var/lib/nitrovm"   /* root's, when $XDG_STATE_HOME is not set */
#define NSM_STATE_HOME_SUBDIR ".local/state/nitrovm" /* XDG's default state home, for other users */
#define NSM_CA_SUBDIR	  "ca"
#define NSM_CA_ROOT_KEY	  "root.key"
#define NSM_CA_ROOT_CERT  "root.pem"
#define NSM_CA_INTER_KEY  "intermediate.key"
#define NSM_CA_INTER_CERT "intermediate.pem"
#define NSM_CA_LOCK	  ".lock"
#define NSM_CA_ROOT_CN	  "nitrovm.nitro-enclaves root"
#define NSM_CA_ORG	  "nitrovm"

/* Use dir as the state directory from now on, wherever none is given (copied; NULL or "" for the default). */
int nsm_state_dir_set(const char *dir);
/*
 * The state directory: override if not NULL, else the one nsm_state_dir_set() chose, else $XDG_STATE_HOME/nitrovm, else for
 * root /var/lib/nitrovm, else ~/.local/state/nitrovm when $HOME is usable (a service's HOME may be / and
 * read-only), else a runtime directory ($XDG_RUNTIME_DIR/nitrovm/state, /tmp/nitrovm-UID/state).
 */
int nsm_state_dir(const char *override, char *out, size_t len);
/*
 * Open the CA in <state dir>/ca, creating the root and the intermediate on first use (and a new intermediate
 * when the old one is near its end).  Key files must be private (no group or other bits, owned by us): a looser
 * one is refused with a sentence saying how to fix it.  now is the time to judge validity by.
 */
int nsm_ca_open(const char *state_dir, time_t now, struct nsm_ca **out);
/*
 * What nsm_ca_open would refuse at once, without its cost (no file is read or even opened, no key made):
 * <state dir>/ca can be created and written, and the keys already there are private.  Lets a launch fail early
 * and clearly while the CA itself is opened by the issuer process (issuer.h).
 */
int nsm_ca_check(const char *state_dir);
void nsm_ca_free(struct nsm_ca *ca);
/* <state dir>/ca */
const char *nsm_ca_dir(const struct nsm_ca *ca);
/* DER of the root and the intermediate (owned by ca; valid until the next nsm_ca_issue_leaf or free). */
void nsm_ca_root_der(const struct nsm_ca *ca, const uint8_t **der, size_t *len);
void nsm_ca_intermediate_der(const struct nsm_ca *ca, const uint8_t **der, size_t *len);
struct x509_st *nsm_ca_root(const struct nsm_ca *ca);
struct x509_st *nsm_ca_intermediate(const struct nsm_ca *ca);
/* Root certificate as PEM text (heap, NUL-terminated). */
int nsm_ca_root_pem(const struct nsm_ca *ca, char **pem);
/*
 * Issue a leaf for key (the enclave's P-384 key) named "<name>.nitrovm.nitro-enclaves", valid from now -
 * NSM_CA_BACKDATE_SECS for NSM_CA_LEAF_SECS, never past the intermediate (renewed first when needed).
 * *der is heap (free()).
 */
int nsm_ca_issue_leaf(struct nsm_ca *ca, struct evp_pkey_st *key, const char *name, time_t now, uint8_t **der,
		      size_t *der_len, time_t *not_after);

/* ---- who certifies the enclave's leaf key (certifier.c; the issuer process, issuer.h) ---- */

/* A leaf certificate and the chain it was issued under, DER (heap). */
struct nsm_leaf {
	uint8_t *cert, *root, *intermediate;
	size_t cert_len, root_len, intermediate_len;
	time_t not_after;
};
void nsm_leaf_free(struct nsm_leaf *l);

/*
 * What certifies the enclave's leaf key: the issuer, a process of its own that holds the CA (issuer.h; what the
 * VMM uses, so that the process that touches guest memory never holds a CA key), or a CA opened in this process
 * (nsm_ca_certifier: tests, tools).  issue() may block (the issuer answers over a socket): it runs on the NSM's
 * worker thread, never on the event loop.
 */
struct nsm_certifier {
	/* A leaf for key's public part, named "<name>.nitrovm.nitro-enclaves".  0, or -errno with err_msg(). */
	int (*issue)(struct nsm_certifier *c, struct evp_pkey_st *key, const char *name, time_t now,
		     struct nsm_leaf *out);
	void (*free)(struct nsm_certifier *c);
};

/* A certifier over a CA in this process; takes ownership of ca.  NULL when out of memory (ca is then freed). */
struct nsm_certifier *nsm_ca_certifier(struct nsm_ca *ca);
/* The CA of a certifier made by nsm_ca_certifier, else NULL. */
struct nsm_ca *nsm_certifier_ca(struct nsm_certifier *c);

/* ---- attestation documents (attestation.c) ---- */

/* The enclave's signing identity: a leaf key that never leaves the process, its certificate, the chain. */
struct nsm_signer;

/*
 * Make the enclave's P-384 key and have c certify it.  Takes ownership of c (freed on failure too).  name goes
 * into the leaf's subject (the module id).
 */
int nsm_signer_new(struct nsm_certifier *c, const char *name, time_t now, struct nsm_signer **out);
/* The same over a CA in this process (nsm_ca_certifier); takes ownership of ca.  For tests and tools. */
int nsm_signer_create(struct nsm_ca *ca, const char *name, time_t now, struct nsm_signer **out);
void nsm_signer_free(struct nsm_signer *s);
/* The leaf certificate in use (DER, owned by s). */
void nsm_signer_leaf(const struct nsm_signer *s, const uint8_t **der, size_t *len);
/* The in-process CA behind s (nsm_signer_create), else NULL. */
struct nsm_ca *nsm_signer_ca(const struct nsm_signer *s);

struct nsm_doc_input {
	const char *module_id;
	uint64_t timestamp_ms;
	const struct nsm_pcrs *pcrs;
	bool zero_pcrs; /* debug mode: the attested PCR values are all zero */
	const uint8_t *public_key, *user_data, *nonce; /* NULL: absent (CBOR null) */
	size_t public_key_len, user_data_len, nonce_len;
};

/*
 * Build and sign a document into out (cap bytes), renewing the leaf first when it has less than
 * NSM_CA_LEAF_RENEW_SECS left (a failed renewal is retried after NSM_CA_RENEW_RETRY_SECS; the current leaf signs
 * meanwhile while it is valid).  Returns 0, -ENOSPC when it does not fit, or another negative errno (err_msg()
 * set) when signing failed.
 */
int nsm_attestation_document(struct nsm_signer *s, const struct nsm_doc_input *in, uint8_t *out, size_t cap,
			     size_t *len);
/*
 * Check a document made by nsm_attestation_document against the root it was issued under: the COSE signature
 * with the leaf key, and the leaf/intermediate chain (X509_verify_cert at the document's time).  For tests and
 * the bench; the full verifier is `nitrovm verify-attestation`.  *payload points into doc.
 */
int nsm_attestation_check(const uint8_t *doc, size_t len, struct x509_st *root, const uint8_t **payload,
			  size_t *payload_len);

/* ---- the module: requests and responses (request.c), signatures off the caller's thread (worker.c) ---- */

struct nsm;

/*
 * Attestations in flight at once, each waiting for its signature.  The Linux drivers keep one request in
 * flight; the device's queue of 8 chains holds 4 request/response pairs, and this bounds the copies of their
 * inputs that wait for the worker.
 */
#define NSM_ASYNC_MAX 4

/* An answer nsm_submit deferred, from the worker thread: resp holds len bytes (0: not even an error fits). */
typedef void nsm_done_fn(void *opaque, uint64_t tag, const uint8_t *resp, size_t len);

struct nsm_config {
	const char *module_id;
	bool debug_mode;
	const struct nsm_boot *boot;
	/*
	 * PCR0/1/2 are still being measured (boot's are not used): requests that read or change the PCR bank wait
	 * for nsm_boot_measured() (request.c says which and why).
	 */
	bool boot_pending;
	/* A ready signer (owned by the module from here on), or NULL and: */
	struct nsm_signer *signer;
	/*
	 * A certifier (owned by the module): the worker makes the enclave's key and has it certified as soon as
	 * nsm_start runs.  Neither: Attestation answers InternalError.
	 */
	struct nsm_certifier *certifier;
};

struct nsm *nsm_create(const struct nsm_config *c);
/* Stops the worker (a deferred answer still being signed is dropped) and frees everything. */
void nsm_free(struct nsm *n);
/*
 * Start the worker thread (at a low priority): it prepares the signer from the certifier right away, then signs
 * what nsm_submit defers.  The launch calls it once the vCPUs run, so the thread's creation does not delay them.
 * Without it, deferred attestations wait.
 */
void nsm_start(struct nsm *n);
/*
 * The boot measurement is in (b: its PCR0/1/2 go into the bank) or failed for good (b NULL: the bank's requests
 * answer InternalError).  What waited is answered in the order it came, through the done callback, on the
 * caller's thread; Attestations among it go to the worker.
 */
void nsm_boot_measured(struct nsm *n, const struct nsm_boot *b);
/*
 * Where deferred answers go; without it nsm_submit answers everything at once, as nsm_handle does (a request
 * that waits for the boot measurement then blocks the caller until it is in).
 */
void nsm_set_done(struct nsm *n, nsm_done_fn *done, void *opaque);
/* Take the signer back from the module (which then answers Attestation with InternalError). */
struct nsm_signer *nsm_detach_signer(struct nsm *n);
/*
 * Answer one request (at most NSM_REQUEST_MAX bytes, else InputTooLarge) into resp (cap bytes), attestations
 * included, on the caller's thread.  Returns the response's length; when the response does not fit,
 * {"Error": "BufferTooSmall"} if that fits, else 0.  For tests and fuzzers; the device uses nsm_submit.
 */
size_t nsm_handle(struct nsm *n, const uint8_t *req, size_t len, uint8_t *resp, size_t cap);
/*
 * The same, except that an Attestation is taken (its inputs and the PCRs copied as they are now) and signed on
 * the worker thread: NSM_PENDING is returned, and done(opaque, tag, answer) follows from the worker.  Every
 * other request is answered at once.  With NSM_ASYNC_MAX attestations already waiting, the answer is
 * InternalError at once.
 */
#define NSM_PENDING ((size_t)-1)
size_t nsm_submit(struct nsm *n, const uint8_t *req, size_t len, uint8_t *resp, size_t cap, uint64_t tag);
/* {"Error": "<name>"} into out; 0 when it does not fit. */
size_t nsm_encode_error(enum nsm_error e, uint8_t *out, size_t cap);
const struct nsm_pcrs *nsm_pcrs(const struct nsm *n);
const char *nsm_module_id(const struct nsm *n);

/* Where GetRandom's bytes and the timestamp come from (tests replace them; NULL restores the defaults). */
typedef int nsm_random_fn(void *buf, size_t len);
typedef uint64_t nsm_clock_fn(void);
void nsm_set_sources(struct nsm *n, nsm_random_fn *random, nsm_clock_fn *clock_ms);

#endif
