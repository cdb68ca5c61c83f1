/* SPDX-License-Identifier: MIT */
/*
 * The launch pipeline, one for every hypervisor backend (hypervisor/hypervisor.h):
 * check sizes before anything is allocated, create the slot, allocate memory, copy the EIF to the load offset,
 * add memory and vCPUs, start, then run the console and wait for the enclave to end, tearing it down on
 * SIGINT/SIGTERM.
 */
#ifndef NITROVM_ENCLAVE_LAUNCH_H
#define NITROVM_ENCLAVE_LAUNCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "app_wire.h"
#include "hypervisor/hypervisor.h"

struct bridge_config;

#define ENCLAVE_MIN_MEMORY_MIB	  64 /* the smallest enclave Nitro runs */
#define ENCLAVE_MEMORY_ALIGN_MIB  2  /* memory comes in 2 MiB huge pages */
#define ENCLAVE_MEMORY_EIF_RATIO  4  /* nitro-cli's ENCLAVE_MEMORY_EIF_SIZE_RATIO */
#define ENCLAVE_NAME_MAX	  256
#define ENCLAVE_ID_MAX		  128
#define ENCLAVE_CONSOLE_CHUNK	  4096

/* Which step failed, so the command can print nitro-cli's error number for it. */
enum launch_failure {
	LAUNCH_OK = 0,
	LAUNCH_BAD_ARGUMENT,	 /* E03 */
	LAUNCH_MEMORY_REQUESTED, /* E26: too little memory asked for */
	LAUNCH_DEVICE,		 /* E19: the hypervisor device cannot be used */
	LAUNCH_MEMORY_AVAILABLE, /* E27: the host could not give the memory */
	LAUNCH_SETUP,		 /* E29: an operation of the backend failed */
	LAUNCH_IMAGE,		 /* E35: the image cannot be booted */
	LAUNCH_START,		 /* E33 */
	LAUNCH_RUN,		 /* E12: the event loop failed */
	LAUNCH_HEARTBEAT,	 /* E36: no heartbeat, or a wrong one (the enclave was terminated) */
	/* native backends (hypervisor.h, enum hv_fault) */
	LAUNCH_CPU_CONFIG,	    /* E20: duplicate CPU ids, partial cores */
	LAUNCH_CPU_NOT_IN_POOL,	    /* E21 */
	LAUNCH_CPUS,		    /* E22: a CPU count the pool cannot give */
	LAUNCH_IOCTL_LOAD_INFO,	    /* E30 */
	LAUNCH_IOCTL_MEMORY_REGION, /* E31 */
	LAUNCH_IOCTL_ADD_VCPU,	    /* E32 */
};

struct enclave_info {
	char name[ENCLAVE_NAME_MAX];
	char id[ENCLAVE_ID_MAX];
	pid_t pid;
	uint64_t cid;
	unsigned int ncpus;
	uint32_t cpu_ids[HV_MAX_VCPUS];
	uint64_t memory_mib;
};

/* A launch in progress, for the hooks: its event loop and a way to end it. */
struct launch_run;
struct launch_result;

struct evloop *launch_loop(struct launch_run *run);
/* Ask the enclave to end (from the loop's thread); the launch then returns with HV_EXIT_TERMINATED. */
void launch_terminate(struct launch_run *run);

/*
 * What the caller learns along the way, all on the launch's thread.  Lower layers print nothing: what a user
 * sees (nitro-cli's progress lines, the JSON, the console) is the hooks' business.
 */
struct launch_hooks {
	void *opaque;
	/* A progress line, without its newline: "Start allocating memory...", "Started enclave with ...". */
	void (*progress)(void *opaque, const char *line);
	/*
	 * The slot exists and has its id (info: name, id, pid; the CID is the one asked for, 0 when the backend
	 * picks).  The enclave does not run yet; run's loop takes descriptors from now on.  A negative return ends
	 * the launch with err_msg().
	 */
	int (*slot_ready)(void *opaque, struct launch_run *run, const struct enclave_info *info);
	/* The enclave runs; info is complete. */
	void (*running)(void *opaque, const struct enclave_info *info);
	/* It answered the heartbeat, seconds after the start (or runs, when no heartbeat is awaited: 0). */
	void (*booted)(void *opaque, double seconds);
	/* Console bytes: the serial console, or the vsock console (CID 0) where that is the only one. */
	void (*console)(void *opaque, const uint8_t *buf, size_t len);
	/*
	 * The app channel (app_channel.h): the enclave's init is there and starts the app; the app's output
	 * (stream 1 stdout, 2 stderr), returning how much was taken now (less pauses the channel until
	 * launch_app_resume()); room again for launch_app_input().  Without app_output the output goes to console.
	 */
	void (*app_started)(void *opaque);
	size_t (*app_output)(void *opaque, int stream, const uint8_t *buf, size_t len);
	void (*app_input_room)(void *opaque);
	/*
	 * The launch is over (r as enclave_launch will return it, ret its return value), the loop still exists
	 * but runs no more.  Called once slot_ready has been, whatever happened after.
	 */
	void (*ended)(void *opaque, const struct launch_result *r, int ret);
	/*
	 * Everything the enclave needs is open and it is about to run (or, native, has not been read from yet):
	 * give up privileges (enclave/privdrop.h).  The allow-list is loaded right after.  A negative return
	 * fails the launch with err_msg().
	 */
	int (*contain)(void *opaque);
};

struct launch_opts {
	const char *eif_path; /* for the default name */
	int eif_fd;	      /* the image, read straight into enclave memory (a file, or a memfd built in memory) */
	uint64_t eif_size;
	uint64_t memory_mib;
	unsigned int cpu_count;
	uint64_t cid; /* 0: the hypervisor chooses */
	bool debug_mode;
	const char *name; /* NULL: the EIF's file name without .eif */
	const struct hypervisor_ops *backend;
	struct hv_slot_config slot; /* loop is filled in by the pipeline */
	int console_in;		    /* read and fed to the console when it can be watched (-1: none) */
	bool no_heartbeat;	    /* leave vsock port 9000 to the user's own service */
	bool heartbeat_no_timeout;  /* answer the heartbeat but never give up waiting (QEMU front end) */
	/* Read the console through vsock (CID 0, port CID + 10000) as nitro-cli does, not from the serial port. */
	bool attach_console;
	const struct bridge_config *bridges; /* host bridges for other vsock ports (vsock/bridge.h), or NULL */
	/*
	 * System-call allow-lists: the whole process's (enclave/sandbox.c) once everything is open and right
	 * before the guest runs (after hooks.contain), and each vCPU thread's (slot.seccomp, the backend's).
	 */
	bool seccomp;
	/*
	 * SIGINT, SIGTERM, SIGHUP, SIGQUIT and SIGUSR2 go to the app through the app channel while it is up,
	 * instead of ending the enclave (a container's process: the app decides how it stops).
	 */
	bool forward_signals;
	struct launch_hooks hooks;
};

/* How the app ended, as the enclave's init reported it over the app channel. */
struct launch_app_exit {
	bool known; /* false: no init reported it (AWS's init, or the enclave ended first) */
	enum app_exit_kind kind;
	uint32_t value;
};

struct launch_result {
	enum launch_failure failure; /* LAUNCH_OK once the enclave started; err_msg() says why otherwise */
	int signal;		     /* the signal that ended it (SIGINT, SIGTERM, SIGHUP, SIGQUIT), or 0 */
	struct hv_exit exit;
	struct enclave_info info;
	struct launch_app_exit app;
};

/*
 * The app, through the app channel (from the loop's thread): a signal (-ENOTCONN when the channel is not up),
 * bytes of stdin (returns how many were taken), the end of stdin, and "take output again".
 */
int launch_app_signal(struct launch_run *run, int signo);
size_t launch_app_input(struct launch_run *run, const uint8_t *buf, size_t len);
void launch_app_input_eof(struct launch_run *run);
void launch_app_resume(struct launch_run *run);
/* The exit status a process reports for the app's end: its status, or 128 + the signal that killed it. */
int launch_app_status(const struct launch_app_exit *a);

/* Run an enclave in the foreground until it ends.  Returns 0 when it started (see r->exit), else -errno. */
int enclave_launch(const struct launch_opts *o, struct launch_result *r);

/* The size checks alone (no allocation), for commands that want to fail before doing work. */
int enclave_check_resources(uint64_t memory_mib, unsigned int cpu_count, uint64_t eif_size,
			    enum launch_failure *failure);

#endif
