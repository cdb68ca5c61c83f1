/* SPDX-License-Identifier: MIT */
/*
 * Subcommands.  Each is `int cmd_<name>(int argc, char **argv)` with argv[0] the command name, returning the
 * process exit status.  Failures print one line, `[ Exx ] sentence`, and exit with xx: nitro-cli's error numbers
 * (nitro-cli's src/common/document_errors.rs), so scripts written against nitro-cli read our exit codes the same way.
 *
 * JSON goes to stdout in serde_json's pretty layout (2-space indent, "key": value), as nitro-cli prints it.
 */
#ifndef NITROVM_CLI_H
#define NITROVM_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "hypervisor/hypervisor.h"

struct json_object;
struct eif_measurements;

/* nitro-cli error numbers we use (the process exit status). */
enum cli_error {
	E_UNSPECIFIED = 0,
	E_MISSING_ARGUMENT = 1,
	E_CONFLICTING_ARGUMENT = 2,
	E_INVALID_ARGUMENT = 3,
	E_SOCKET = 11,
	E_EPOLL = 12,
	E_INVALID_COMMAND = 14,
	E_SERDE = 17,
	E_FILE_OPERATION = 19,
	E_INVALID_CPU_CONFIGURATION = 20,
	E_NO_SUCH_CPU_AVAILABLE_IN_POOL = 21,
	E_INSUFFICIENT_CPUS = 22,
	E_MALFORMED_CPU_ID = 23,
	E_INSUFFICIENT_MEMORY_REQUESTED = 26,
	E_INSUFFICIENT_MEMORY_AVAILABLE = 27,
	E_IOCTL = 29,
	E_IOCTL_IMAGE_LOAD_INFO = 30,
	E_IOCTL_SET_MEMORY_REGION = 31,
	E_IOCTL_ADD_VCPU = 32,
	E_IOCTL_ENCLAVE_START = 33,
	E_EIF_PARSING = 35,
	E_ENCLAVE_BOOT = 36,
	E_ENCLAVE_PROCESS_COMMAND = 38,
	E_ENCLAVE_PROCESS_CONNECTION = 39,
	E_SOCKET_PATH_NOT_FOUND = 40,
	E_ENCLAVE_CONSOLE_CONNECTION = 44,
	E_ENCLAVE_CONSOLE_READ = 45,
	E_ENCLAVE_CONSOLE_WRITE = 46,
	E_INTEGER_PARSING = 47,
	E_EIF_BUILDING = 48,
	E_DOCKER_IMAGE_BUILD = 49,
	E_DOCKER_IMAGE_PULL = 50,
	E_BLOBS_PATH_NOT_SET = 52,
	E_ENCLAVE_NAMING = 58,
	E_HASHER = 57,
	E_EIF_SIGNATURE_CHECK = 59,
	E_EIF_SIGNING = 60,
	/* nitrovm's own numbers, above nitro-cli's range. */
	E_ATTESTATION_VERIFY = 70, /* verify-attestation: the document does not verify */
};

/* What an error number means, for `nitrovm explain` (error_texts.c): every code above, nitro-cli's others too. */
struct cli_error_text {
	int code;	  /* xx of Exx */
	const char *name; /* nitro-cli's name for it (NitroCliErrorEnum), or ours for E70 */
	const char *text; /* what it means, the usual causes, what to do: one paragraph */
};
extern const struct cli_error_text cli_error_texts[];
extern const size_t cli_error_texts_count;

/* Print "[ Exx ] message" on stderr; returns the exit status (xx, or 1 for E00). */
int cli_fail(enum cli_error e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same with err_msg() as the message. */
int cli_fail_err(enum cli_error e);
/* The "[ Exx ] message" line (with its newline) into out instead of stderr; returns the same exit status. */
int cli_fail_text(char *out, size_t len, enum cli_error e, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * getopt_long for a subcommand: returns the option value, -1 at the end, or '?' after printing one clear line
 * for an unknown option or a missing value (the caller then returns E_INVALID_ARGUMENT... via cli_usage_error).
 */
int cli_getopt(int argc, char **argv, const struct option *opts);
/* Print the line for a bad option seen by cli_getopt and return the exit status for it. */
int cli_bad_option(const char *cmd);
/* True when argv holds --help or -h. */
bool cli_help_requested(int argc, char **argv);

/* Write o to stdout in serde_json's pretty form followed by a newline. */
void cli_print_json(struct json_object *o);

/* {"HashAlgorithm": "Sha384 { ... }", "PCR0", "PCR1", "PCR2"[, "PCR8"]} */
struct json_object *cli_measurements_json(const struct eif_measurements *m, const uint8_t *pcr8);
struct json_object *cli_hex_json(const uint8_t *buf, size_t len);

/*
 * The settings a user writes in the environment to choose nitrovm's places (environment.c): the cache root, the
 * attestation CA's state directory, the enclave records directory (and nitro-cli's REGISTRY_SOCKETS_ENV).
 */
#define CLI_CACHE_ENV	  "NITROVM_CACHE"
#define CLI_STATE_DIR_ENV "NITROVM_STATE_DIR"
#define CLI_RUN_DIR_ENV	  "NITROVM_RUN_DIR"
/* Read them and hand them to the floors that use those places; -1 with err_msg() set when one is unusable. */
int cli_read_environment(void);

/* Say where the attestation CA will be kept when the first launch is about to create it (said once). */
void cli_note_state_dir(void);

/* Parse a size with an optional suffix (K, M, G, T; none = default_unit bytes). */
int cli_parse_size(const char *s, uint64_t default_unit, uint64_t *out);
int cli_parse_u64(const char *s, uint64_t *out);
/* "host" or "decompressor": who unpacks an emulated enclave's kernel (--boot-path, boot-path=). */
int cli_parse_boot_path(const char *s, enum hv_kernel_boot *out);

/* Commands. */
int cmd_build_enclave(int argc, char **argv);
int cmd_describe_eif(int argc, char **argv);
int cmd_validate_eif(int argc, char **argv);
int cmd_pcr(int argc, char **argv);
int cmd_sign_eif(int argc, char **argv);
int cmd_run_enclave(int argc, char **argv);
int cmd_selftest(int argc, char **argv);
int cmd_ca(int argc, char **argv);
int cmd_cache(int argc, char **argv);
int cmd_verify_attestation(int argc, char **argv);
int cmd_describe_enclaves(int argc, char **argv);
int cmd_terminate_enclave(int argc, char **argv);
int cmd_console(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_vhost_user_vsock(int argc, char **argv);
int cmd_cache(int argc, char **argv);
/* The QEMU-style front end (`nitrovm -M nitro-enclave -kernel ...`): argv[0] is the program name. */
int qemu_main(int argc, char **argv);

/* Launches shared by run-enclave, the QEMU front end and selftest (run_enclave.c). */
struct launch_result;
struct enclave_proc_opts;
/* nitro-cli's progress lines of a launch: before the memory is allocated, and once the enclave runs. */
#define CLI_ALLOCATING_LINE  "Start allocating memory..."
#define CLI_STARTED_LINE_MAX 1024
struct enclave_info;
void cli_started_line(const struct enclave_info *info, char *buf, size_t len);
/*
 * A launch's typed error in the command line's words (launch_errors.c): nitro-cli's error number for it, and its
 * sentence, made from the error's values where it names one of our options, else said (the launch's err_msg()).
 */
struct launch_error;
enum cli_error cli_launch_error_code(const struct launch_error *e);
void cli_launch_error_text(const struct launch_error *e, const char *said, char *buf, size_t len);

/*
 * The host-bridge options (bridge_opts.c): opt is "vsock-uds", "forward-listen", "forward-connect",
 * "forward-vsock" or "forward-remote" (value NULL).  0, -ENOENT when opt is none of them, or -EINVAL with
 * err_msg().  cli_bridge_check: what needs the whole command line (loopback-only TCP without --forward-remote).
 */
struct bridge_config;
int cli_bridge_option(struct bridge_config *c, const char *opt, const char *value);
int cli_bridge_check(const struct bridge_config *c);
/* Their help text, for the commands' --help. */
extern const char cli_bridge_usage[];

/*
 * The environment a launch's backend takes, read here and passed down (backend_env.c): $NITROVM_HYPERVISOR names
 * the backend when no option does; $NITROVM_KVM_DEVICE is nitrovm's KVM device (kvm, nitro-sim); NITROVM_NE_TRACE=1
 * prints each Nitro Enclaves driver request (nitro, nitro-sim).
 */
#define CLI_HYPERVISOR_ENV "NITROVM_HYPERVISOR"
#define CLI_KVM_DEVICE_ENV "NITROVM_KVM_DEVICE"
#define CLI_NE_TRACE_ENV   "NITROVM_NE_TRACE"
struct hv_slot_config;
struct hypervisor_ops;
/* option when given, else $NITROVM_HYPERVISOR when set and not empty, else NULL (hv_select's default). */
const char *cli_hypervisor_name(const char *option);
/* Fill in what the environment says for backend: the KVM device, the driver trace. */
void cli_backend_env(struct hv_slot_config *slot, const struct hypervisor_ops *backend);
/*
 * Run an enclave in this process to its end (run-enclave --foreground, the QEMU front end): nitro-cli's progress
 * lines and the run JSON when print_json, the console to console_out (-1: nowhere).  Returns the exit status.
 */
int cli_run_foreground(struct enclave_proc_opts *o, bool print_json, int console_out);

/* Enclaves by id or name (enclaves.c). */
/* Attach to an enclave's console (its history first) until it ends or timeout_s passes (0: never). */
int cli_console(const char *enclave_id, uint64_t cid, uint64_t timeout_s);

#endif
