/* SPDX-License-Identifier: MIT */
/*
 * nitrovm-runc: runc's command line over nitrovm's enclave process (enclave/proc.h), so
 * that container engines -- podman, containerd and through it Kubernetes -- run container images as enclaves.
 * The same executable as nitrovm, chosen by its name (argv[0]), because containerd cannot add arguments.
 *
 *   create   reads the bundle and chooses per container (bundle.c, select.c): pass it to runc/crun
 *            (passthrough.c: the pod's sandbox, containers not selected), or make it an enclave, booting the
 *            image's own EIF (EIF mode) or one packed from root.path and the process (rootfs mode,
 *            enclave_image.c).  It forks the monitor (monitor.c) -- the enclave process, the container's
 *            process: it joins the container's cgroup (cgroup.c) and network namespace, takes its stdio (or a
 *            pty, tty.c), prepares the image, and waits for start on its control socket (ctl.c).  create
 *            returns once it is ready, with the pid file written.
 *   start    tells the monitor to boot the enclave; the app's output is the container's stdout and stderr,
 *            its exit status the monitor's.
 *   kill     SIGKILL kills the monitor (the enclave goes with it); any other signal goes to the app, through
 *            the monitor and the enclave's init (the app channel).
 *   state, ps, delete, features as runc's; exec, pause, resume, update, checkpoint, restore, run: refused.
 *
 * State lives under --root (state.c): <root>/<id>/state.json and the monitor's socket; containers passed
 * through live in the delegate's own root, <root>/@delegate.  Everything read from the bundle, its annotations
 * and the engine is untrusted: a bad value is one sentence and a non-zero exit, with nothing left behind.
 */
#ifndef NITROVM_RUNTIME_H
#define NITROVM_RUNTIME_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/strv.h"

struct json_object;

#define RT_NAME "nitrovm-runc"
/* The runtime-spec version of the state we print and of the bundles we read. */
#define RT_OCI_VERSION "1.0.2"
#define RT_ROOT_DEFAULT "/run/nitrovm-runc"
#define RT_ROOT_USER_DIR "nitrovm-runc" /* under $XDG_RUNTIME_DIR for other users */
/* runc's own limit on container ids is none; a name longer than a path component cannot be a directory. */
#define RT_ID_MAX 255
/* The delegate's root under ours: '@' is no character of a container id, so no id can take the name. */
#define RT_DELEGATE_DIR "@delegate"
/* What runc exits with for every error. */
#define RT_EXIT_ERROR 1

/* ---- global flags (main.c) and errors (log.c) ---- */

struct rt_globals {
	char root[PATH_MAX];
	const char *log_path;	/* --log: errors are written there too */
	const char *log_format; /* "text" or "json" */
	bool systemd_cgroup;
	bool debug;
};

/* Errors the way runc reports them: the sentence on stderr and in the --log file (text or JSON lines). */
void rt_log_setup(const struct rt_globals *g);
int rt_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* rt_fail with err_msg() as the sentence. */
int rt_fail_err(void);
/* A line for the --log file only (debug details, with --debug). */
void rt_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Now, as runc writes times (RFC 3339 with nanoseconds, UTC). */
void rt_now_rfc3339(char *out, size_t len);

/* ---- the node's configuration (config.c) ---- */

#define RT_CONFIG_ENV "NITROVM_RUNC_CONFIG"
#define RT_CONFIG_DEFAULT "/etc/nitrovm/runc.conf"
/* nitrovm's own kernel directory for rootfs mode, then nitro-cli's blobs. */
#define RT_KERNEL_DIR_DEFAULT "/usr/share/nitrovm/kernel"
#define RT_BLOBS_ENV "NITRO_CLI_BLOBS"
#define RT_BLOBS_DEFAULT "/usr/share/nitro_enclaves/blobs"

struct rt_config {
	char path[PATH_MAX]; /* the file read ("" when there was none) */
	char kernel[PATH_MAX], cmdline[4096], kernel_modules[PATH_MAX], init[PATH_MAX], nsm_module[PATH_MAX];
	char delegate[PATH_MAX];
	char hypervisor[32];
	bool debug_mode;
	unsigned int cpus;	/* default vCPUs (0: the backend's default) */
	uint64_t memory_mib;	/* default memory (0: from the EIF) */
};

/* Read the configuration file (absent: the defaults).  0, or -errno with err_msg() naming file and line. */
int rt_config_load(struct rt_config *c);
/* The same for text in memory (NUL-terminated; changed in place); c->path names it in messages. */
int rt_config_parse(struct rt_config *c, char *text);
/* Fill in the kernel for rootfs mode from the defaults when the file named none: 0, or -ENOENT saying where. */
int rt_config_kernel(struct rt_config *c);

/* ---- container ids and state (state.c) ---- */

int rt_check_id(const char *id);
/* <root>/<id> */
int rt_state_dir(const struct rt_globals *g, const char *id, char *out, size_t len);

enum rt_status {
	RT_CREATED,
	RT_RUNNING,
	RT_STOPPED,
};

/* The cgroup of a container: one directory on cgroup v2, one per hierarchy on v1. */
#define RT_CGROUP_MAX_DIRS 16
struct rt_cgroup {
	unsigned int n;
	char dirs[RT_CGROUP_MAX_DIRS][PATH_MAX];
	/* how many of the topmost path components of dirs[i] this container made (and delete removes) */
	unsigned int made[RT_CGROUP_MAX_DIRS];
};

struct rt_state {
	char id[RT_ID_MAX + 1];
	pid_t pid;
	unsigned long long pid_start; /* the monitor's start time (/proc/<pid>/stat), against pid reuse */
	char bundle[PATH_MAX], rootfs[PATH_MAX];
	char created[64];
	char owner[64];
	bool started;
	struct json_object *annotations;
	struct rt_cgroup cg;
};

int rt_state_write(const char *dir, const struct rt_state *s);
/* Remove the state directory and what is in it. */
void rt_state_remove(const char *dir);
/* -ENOENT when there is no such container. */
int rt_state_read(const char *dir, struct rt_state *s);
void rt_state_free(struct rt_state *s);
enum rt_status rt_state_status(const struct rt_state *s);
/* runc's state JSON (the runtime-spec's, and runc's extras), pretty; the caller frees it. */
char *rt_state_json(const struct rt_state *s);
/* The start time of a live, non-zombie process, or 0. */
unsigned long long rt_proc_start_time(pid_t pid);
/* Write the pid file: decimal, no newline, renamed into place. */
int rt_write_pid_file(const char *path, pid_t pid);

/* ---- the bundle (bundle.c) ---- */

#define RT_BUNDLE_CONFIG "config.json"
/* CRI bundles carry seccomp profiles and many mounts: tens of KiB.  Nothing real comes near this. */
#define RT_CONFIG_JSON_MAX (16 * 1024 * 1024)
/* execve() takes at most this much of arguments and environment together (Linux's ARG_MAX with 8 MiB stacks). */
#define RT_ARGS_ENV_MAX (2 * 1024 * 1024)
/* The kernel's NGROUPS_MAX. */
#define RT_MAX_GROUPS 65536

struct rt_bundle {
	char dir[PATH_MAX];
	char root[PATH_MAX]; /* root.path, made absolute */
	struct json_object *json;
	struct json_object *annotations; /* inside json (an object, maybe empty) */
	bool terminal;
	struct strv args, env;
	char cwd[PATH_MAX];
	uint32_t uid, gid;
	size_t ngroups;
	uint32_t *groups;
	unsigned int rows, cols; /* consoleSize, 0 when not given */
	char cgroups_path[PATH_MAX];
	bool netns;	     /* a network namespace is asked for */
	char netns_path[PATH_MAX]; /* ... and it is this one ("" for a new one) */
	int64_t memory_limit;	   /* bytes, 0: none */
	int64_t cpu_quota;	   /* microseconds per period, 0: none */
	uint64_t cpu_period;
	char cpuset[256];
	int64_t pids_limit; /* 0: none */
	int64_t hugetlb_2m, hugetlb_1g; /* bytes, 0: none */
};

/*
 * Read <dir>/config.json: the document, root.path and the annotations (what choosing a mode needs; a container
 * passed through is runc's to check).  0, or -errno with err_msg() saying what is wrong and where.
 */
int rt_bundle_load(const char *dir, struct rt_bundle *b);
/* The same for a config.json in memory, of the bundle at the absolute path dir (b is cleared first). */
int rt_bundle_parse(struct rt_bundle *b, const char *dir, const uint8_t *buf, size_t len);
/* The rest an enclave needs: the process and linux (cgroupsPath, the network namespace, resources). */
int rt_bundle_check(struct rt_bundle *b);
void rt_bundle_free(struct rt_bundle *b);
/* An annotation's value, or NULL. */
const char *rt_annotation(const struct rt_bundle *b, const char *key);

/* ---- what a container becomes (select.c) ---- */

/* Annotations nitrovm reads (docs/kubernetes.md). */
#define RT_ANN_ENCLAVE "nitrovm.io/enclave"
#define RT_ANN_CONTAINERS "nitrovm.io/containers"
#define RT_ANN_EIF "nitrovm.io/eif"
#define RT_ANN_CPUS "nitrovm.io/cpus"
#define RT_ANN_MEMORY "nitrovm.io/memory-mib"
#define RT_ANN_PORTS "nitrovm.io/ports"
#define RT_ANN_DEBUG "nitrovm.io/debug-mode"
/* Enclaver's layout: the EIF its images carry. */
#define RT_ENCLAVER_EIF "/enclave/application.eif"
/* What the CRI plugins (containerd's, CRI-O's) say a container is and what it is called. */
#define RT_ANN_CRI_TYPE "io.kubernetes.cri.container-type"
#define RT_ANN_CRIO_TYPE "io.kubernetes.cri-o.ContainerType"
#define RT_ANN_CRI_NAME "io.kubernetes.cri.container-name"
#define RT_ANN_CRIO_NAME "io.kubernetes.container.name"

enum rt_mode {
	RT_MODE_PASSTHROUGH, /* runc or crun runs it */
	RT_MODE_EIF,	     /* the image's EIF, booted unchanged */
	RT_MODE_ROOTFS,	     /* an EIF packed from root.path and the process */
};

struct rt_choice {
	enum rt_mode mode;
	char eif[PATH_MAX]; /* EIF mode: the path inside root.path */
	const char *why;    /* for the log */
};

/* 0 with c set, or -EINVAL with err_msg() (a bad annotation value). */
int rt_select(const struct rt_bundle *b, struct rt_choice *c);

/* ---- sizes (sizing.c) ---- */

/*
 * What the monitor needs besides the enclave's memory, in the container's memory cgroup: its own pages, the
 * event loop's buffers and, in rootfs mode, the EIF it packed (counted separately).  Measured ~20 MiB RSS.
 */
#define RT_MONITOR_OVERHEAD_MIB 48
/* Memory when nothing says how much: enough for a Linux kernel, an init and a small app. */
#define RT_DEFAULT_MEMORY_MIB 256

struct rt_size {
	unsigned int cpus;
	uint64_t memory_mib;
	const char *memory_from; /* "annotation", "memory limit", ... for messages */
};

/*
 * vCPUs and memory for the enclave: annotations, else linux.resources (native: the hugetlb limit, emulated:
 * the memory limit less the monitor's share and the packed EIF), else the configuration's defaults; memory at
 * least 4 x the EIF.  0 or -EINVAL with a sentence.
 */
int rt_size(const struct rt_bundle *b, const struct rt_config *cfg, bool native, uint64_t eif_size,
	    bool eif_in_memory, struct rt_size *out);

/* ---- ports (ports.c) ---- */

struct bridge_config;

/* The bridges nitrovm.io/ports asks for (host TCP -> enclave vsock); 0 or -EINVAL with a sentence. */
int rt_ports(const struct rt_bundle *b, struct bridge_config *c);

/* ---- cgroups (cgroup.c) ---- */

#define RT_CGROUP_ROOT "/sys/fs/cgroup"

/* The container's cgroup directories for cgroupsPath (cgroupfs "/a/b" or systemd "slice:prefix:name"). */
int rt_cgroup_resolve(const char *cgroups_path, bool systemd, const char *id, struct rt_cgroup *cg);
/* Make the directories that are missing and apply the bundle's limits. */
int rt_cgroup_create(struct rt_cgroup *cg, const struct rt_bundle *b);
/* Move the calling process into it. */
int rt_cgroup_join(const struct rt_cgroup *cg);
/* The pids in it (the first directory's cgroup.procs); *n 0 when it is gone. */
int rt_cgroup_pids(const struct rt_cgroup *cg, pid_t **pids, size_t *n);
/* Remove what create made (once every process has left). */
void rt_cgroup_remove(const struct rt_cgroup *cg);

/* ---- containers passed to runc or crun (passthrough.c) ---- */

/* True when the delegate holds this id. */
bool rt_delegated(const struct rt_globals *g, const char *id);
/* Replace this process with the delegate running argv (the command and its arguments).  Returns on error. */
int rt_delegate_exec(const struct rt_globals *g, const struct rt_config *cfg, char **argv);
/* The same for a later command of a container the delegate holds; returns the exit status of a failure. */
int rt_pass_on(const struct rt_globals *g, char **argv);

/* ---- the monitor's control socket (ctl.c) ---- */

#define RT_CTL_SOCKET "m.sock"
/* A request or reply line: "start", "signal 15", "ok", "error <sentence>". */
#define RT_CTL_LINE_MAX 512
/* A monitor answers at once; one that does not within this long is stuck or gone. */
#define RT_CTL_TIMEOUT_MS 5000
/*
 * While the enclave runs, requests are read on the launch's event loop: a client that connects and sends
 * nothing may hold it up this long at most (commands send their line at once after connecting).
 */
#define RT_CTL_LOOP_TIMEOUT_MS 200

/* Listen on <dir>/m.sock (0600; the owner and root may talk to it).  The descriptor, or -errno. */
int rt_ctl_listen(const char *dir);
/* Send one request and read the reply line into reply. */
int rt_ctl_request(const char *dir, const char *request, char *reply, size_t len);
/* Take one connection's request (within timeout_ms, at most len bytes): the connection, or -errno. */
int rt_ctl_accept(int lfd, char *request, size_t len, int timeout_ms);
void rt_ctl_reply(int fd, const char *reply);

/* ---- a pty for a terminal (tty.c) ---- */

/* A new pty: the master goes to the console socket, the slave is returned. */
int rt_tty_open(const char *console_socket, unsigned int rows, unsigned int cols);

/* ---- the enclave's image (enclave_image.c) ---- */

/*
 * Open path inside the root filesystem root as the container would see it: symlinks and ".." resolved within
 * it, never outside (openat2's RESOLVE_IN_ROOT).  A read-only descriptor of a regular file, or -errno.
 */
int rt_open_in_root(const char *root, const char *path);
/* The image for the choice: the EIF in root.path, or one packed from it.  A descriptor, or -errno. */
int rt_enclave_image(const struct rt_bundle *b, const struct rt_choice *c, const struct rt_config *cfg,
		     const char *work_dir, uint64_t *size);

/* ---- the container's stdio in the monitor (stdio.c) ---- */

struct launch_run;

/* What the monitor reads of stdin at a time: one frame of the app channel. */
#define RT_STDIN_CHUNK (32 * 1024)

struct rt_stdio {
	int in, out, err; /* tty: in is the pty's slave, out (= err) a second descriptor of it */
	struct launch_run *run;
	int waiting;	  /* the output descriptor watched until it takes more (-1: none) */
	bool in_watched, in_eof;
	size_t in_len, in_off;
	uint8_t in_buf[RT_STDIN_CHUNK];
};

/* Take the container's stdio (tty_slave, or else 0, 1, 2) away from 0, 1, 2, which then go to /dev/null. */
int rt_stdio_take(struct rt_stdio *s, int tty_slave);
void rt_stdio_attach(struct rt_stdio *s, struct launch_run *run);
/* The app's output (stream 1 or 2): how much was taken now (launch_app_output's contract). */
size_t rt_stdio_output(struct rt_stdio *s, int stream, const uint8_t *buf, size_t len);
/* The app runs: its stdin flows from now on. */
void rt_stdio_app_started(struct rt_stdio *s, struct launch_run *run);
void rt_stdio_input_room(struct rt_stdio *s);
/* A line of nitrovm's own on the container's stderr (why the enclave ended), written whole. */
void rt_stdio_say(const struct rt_stdio *s, const char *line);

/* ---- the monitor (monitor.c) ---- */

/* In the state directory: the enclave's id, which the monitor leaves for delete to clean its records. */
#define RT_ENCLAVE_ID_FILE "enclave"
/* ... and its log (its stderr: progress, and why the enclave ended). */
#define RT_LOG_FILE "log"

struct rt_create {
	const struct rt_globals *g;
	const char *id;
	const char *console_socket;
	char state_dir[PATH_MAX];
	struct rt_bundle b;
	struct rt_choice choice;
	struct rt_config cfg;
	struct rt_cgroup cg;
};

/*
 * In the forked monitor: get ready (cgroup, namespace, stdio, image, control socket), say so on report (a
 * line, "ok" or "error <sentence>"), wait for start, run the enclave; never returns.
 */
void rt_monitor_main(struct rt_create *c, int report) __attribute__((noreturn));

/* ---- finding a container (lookup.c) ---- */

/* rt_lookup's answer for a container the delegate holds: the command goes to it. */
#define RT_DELEGATED 1

/* Ours: 0 with dir and s set; the delegate's: RT_DELEGATED; none: -ENOENT, "container "ID" does not exist". */
int rt_lookup(const struct rt_globals *g, const char *id, char *dir, size_t len, struct rt_state *s);
/* After getopt: the one remaining argument is the id, else -EINVAL saying the usage. */
int rt_one_id(int argc, char **argv, const char *usage, const char **id);

/* ---- commands ---- */

int rt_cmd_create(const struct rt_globals *g, int argc, char **argv);
int rt_cmd_start(const struct rt_globals *g, int argc, char **argv);
int rt_cmd_state(const struct rt_globals *g, int argc, char **argv);
int rt_cmd_kill(const struct rt_globals *g, int argc, char **argv);
int rt_cmd_delete(const struct rt_globals *g, int argc, char **argv);
int rt_cmd_ps(const struct rt_globals *g, int argc, char **argv);
int rt_cmd_features(const struct rt_globals *g, int argc, char **argv);

/* Entry point: argv[0] is the program's name. */
int runtime_main(int argc, char **argv);

#endif
