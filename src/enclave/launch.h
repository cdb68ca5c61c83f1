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

/*
 * What went wrong in a launch, in the launch's own terms; a command turns it into its words, its option names and
 * its error numbers (src/cli/launch_errors.c).  err_msg() holds the launch's (or the backend's) own sentence.
 */
enum launch_error_class {
	LAUNCH_OK = 0,
	LAUNCH_ERR_MEMORY_BELOW_IMAGE, /* less memory than ENCLAVE_MEMORY_EIF_RATIO times the EIF: asked, limit */
	LAUNCH_ERR_MEMORY_BELOW_MIN,   /* less than ENCLAVE_MIN_MEMORY_MIB: asked, limit */
	LAUNCH_ERR_MEMORY_UNALIGNED,   /* not a multiple of ENCLAVE_MEMORY_ALIGN_MIB: asked, limit (the alignment) */
	LAUNCH_ERR_NO_VCPUS,	       /* a CPU count of 0 */
	LAUNCH_ERR_TOO_MANY_VCPUS,     /* more than HV_MAX_VCPUS: asked, limit */
	LAUNCH_ERR_PROCESS,	       /* the caller could not set up around the launch (loop, signals, records) */
	LAUNCH_ERR_CID_TAKEN,	       /* the caller found the CID taken, or none free */
	LAUNCH_ERR_SLOT,	       /* the backend could not create a slot */
	LAUNCH_ERR_MEMORY,	       /* the backend could not allocate the memory */
	LAUNCH_ERR_SETUP,	       /* placing the image, adding memory or vCPUs failed */
	LAUNCH_ERR_IMAGE_OVERFLOW,     /* the EIF does not fit past the load offset: asked (EIF MiB), limit (room) */
	LAUNCH_ERR_NO_VSOCK,	       /* the backend has no vsock to answer the heartbeat on: hypervisor */
	LAUNCH_ERR_HEARTBEAT_PORT,     /* the heartbeat's parent port cannot be listened on */
	LAUNCH_ERR_PORTS,	       /* a host bridge or the app channel cannot bind its parent port */
	LAUNCH_ERR_SANDBOX,	       /* the process's system-call allow-list cannot be loaded */
	LAUNCH_ERR_START,	       /* the backend could not start the enclave */
	LAUNCH_ERR_IMAGE,	       /* the start found an image that cannot boot */
	LAUNCH_ERR_GUEST_MEMORY,       /* the start found the memory too small for what the image unpacks */
	LAUNCH_ERR_RUN,		       /* the loop or a vsock service failed once the enclave ran */
	LAUNCH_ERR_HEARTBEAT,	       /* no heartbeat, or a wrong one (the enclave was terminated) */
	LAUNCH_ERR_CLASSES	       /* the number of classes */
};

struct launch_error {
	enum launch_error_class cls;
	/* The backend's own account of a failed step (fault.cls HV_FAULT_NONE: it gave none). */
	struct hv_fault fault;
	uint64_t asked, limit;	/* see the classes: MiB or vCPU counts */
	const char *hypervisor; /* the backend's name */
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
	/* A line of the launch's own, without its newline: "enclave booted in 1.234 s". */
	void (*progress)(void *opaque, const char *line);
	/* The enclave's memory is about to be allocated (the slot exists). */
	void (*allocating)(void *opaque);
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
	 * before the guest runs (after hooks.contain), and each vCPU thread's (slot.kvm.seccomp, the backend's).
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
	struct launch_error error; /* error.cls LAUNCH_OK once the enclave started; err_msg() says why otherwise */
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

/* The size checks alone (no allocation), for commands that want to fail before doing work; *e says which. */
int enclave_check_resources(uint64_t memory_mib, unsigned int cpu_count, uint64_t eif_size, struct launch_error *e);

#endif
