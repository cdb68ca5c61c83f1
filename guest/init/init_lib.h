/* SPDX-License-Identifier: MIT */
/*
 * The pure parts of nitrovm's enclave init: parsing of /cmd, /env, /modules/order and the kernel command
 * line, module format detection and the wording of the app's exit status.  No system calls here, so the unit
 * tests (tests/unit/test_init_lib.c) run them on the host; init.c does everything that touches the machine.
 *
 * Functions that fail return a negative errno value and, where a line is at fault, its 1-based number.
 */
#ifndef NITROVM_GUEST_INIT_LIB_H
#define NITROVM_GUEST_INIT_LIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* PATH for the app when /env sets none: what AWS's init and Docker's default image config use. */
#define INIT_DEFAULT_PATH_VALUE "/sbin:/usr/sbin:/bin:/usr/bin"
#define INIT_DEFAULT_PATH	"PATH=" INIT_DEFAULT_PATH_VALUE

/*
 * Split buf (len bytes plus room for one more, modified in place: each '\n' becomes a NUL) into lines, one
 * string per line, as nitro-cli writes /cmd and /env.  A final line without '\n' still counts; the '\n' that
 * ends the last line does not start another.  *out is a malloc'd, NULL-terminated array pointing into buf
 * (free only the array).
 *
 * INIT_LINES_CMD keeps empty lines: an empty argv element is a legitimate argument.
 * INIT_LINES_ENV skips empty lines and requires every other one to be NAME=VALUE with a non-empty NAME.
 * A NUL byte anywhere is an error (-EILSEQ): it would silently cut an argument short.
 */
enum init_lines_kind {
	INIT_LINES_CMD,
	INIT_LINES_ENV,
};
int init_split_lines(char *buf, size_t len, enum init_lines_kind kind, char ***out, size_t *count,
		     size_t *bad_line);

/*
 * /modules/order: one module path per line relative to /modules; surrounding blanks trimmed, empty lines and
 * lines starting with '#' skipped.  Absolute paths and ".." components are rejected (-EINVAL): the file names
 * what the bootstrap ramdisk itself holds.  Same ownership rules and NUL check as init_split_lines.
 */
int init_parse_module_order(char *buf, size_t len, char ***out, size_t *count, size_t *bad_line);

/*
 * Find "key=value" on a kernel command line (the last one wins, as for the kernel's own parameters) and copy
 * the value, without the double quotes the kernel allows around it, into val.  "key" alone gives "".
 * Returns false when the key is absent or the value does not fit.
 */
bool init_cmdline_value(const char *cmdline, const char *key, char *val, size_t val_len);

/* False only for nitrovm.heartbeat=0 (or off, no, false, n) on the kernel command line. */
bool init_heartbeat_enabled(const char *cmdline);

/* What a module file holds, from its first bytes. */
enum init_module_format {
	INIT_MODULE_UNKNOWN,
	INIT_MODULE_ELF,
	INIT_MODULE_XZ,
	INIT_MODULE_ZSTD,
	INIT_MODULE_GZIP,
};
#define INIT_MODULE_MAGIC_MAX 6 /* bytes init_module_format looks at (xz's magic is the longest) */
enum init_module_format init_module_format(const uint8_t *head, size_t len);
const char *init_module_format_name(enum init_module_format f);

/*
 * /cwd (nitrovm's images from containers): the app's working directory, one absolute path with an optional
 * '\n' after it.  buf is modified (the '\n' cut off); *out points into it.  Anything else is -EINVAL.
 */
int init_parse_cwd(char *buf, size_t len, const char **out);

/* The kernel's limit on supplementary groups (NGROUPS_MAX). */
#define INIT_MAX_GROUPS 65536

/*
 * /user: "UID GID [GID...]", decimal numbers separated by blanks, an optional '\n' at the end: the app's
 * user, group and supplementary groups (resolved from the image's /etc/passwd and /etc/group when it was
 * built).  groups is malloc'd (NULL when there are none).  Anything else is -EINVAL.
 */
struct init_user {
	uint32_t uid, gid;
	size_t ngroups;
	uint32_t *groups;
};
int init_parse_user(const char *buf, size_t len, struct init_user *u);

/* True when env (NULL-terminated) sets PATH. */
bool init_env_has_path(char *const *env);

/* "exited with status N" or "killed by signal S (NAME)" for a wait() status. */
void init_describe_status(int status, char *buf, size_t len);

#endif
