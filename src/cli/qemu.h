/* SPDX-License-Identifier: MIT */
/*
 * The QEMU-style front end's command line (qemu_opts.c) and its launch (qemu.c).  Private to src/cli.
 *
 * QEMU's option grammar as its users write it: every option with one dash or two, values as comma-separated
 * key=value lists whose first item may omit its key (-M TYPE,..., -smp N,..., -chardev BACKEND,...), options
 * that may be given more than once (-M, -object, -chardev).  Options of QEMU's that mean nothing for an enclave
 * are refused with one sentence saying why, not "unknown option".
 */
#ifndef NITROVM_CLI_QEMU_H
#define NITROVM_CLI_QEMU_H

#include <stdbool.h>
#include <stdint.h>

#include "enclave/qmp.h"
#include "hypervisor/hypervisor.h"
#include "vsock/bridge.h"

#define QEMU_MAX_INITRDS  8
#define QEMU_MAX_CHARDEVS 8
#define QEMU_MAX_OBJECTS  8
#define QEMU_MAX_OWNED	  64 /* option values copied to be split in place */
/* The smallest CID QEMU's guest-cid takes: 0-2 are the hypervisor, local and host, 3 the parent. */
#define QEMU_GUEST_CID_MIN 4
#define QEMU_GUEST_CID_MAX 0xfffffffeULL /* 2^32 - 1 is VMADDR_CID_ANY */

enum qemu_chardev_backend {
	QEMU_CHR_NULL,
	QEMU_CHR_STDIO,
	QEMU_CHR_FILE,
	QEMU_CHR_SOCKET,
};

/* -chardev BACKEND,id=ID[,path=P][,server=on|off][,wait=on|off] */
struct qemu_chardev {
	const char *id;
	enum qemu_chardev_backend backend;
	const char *path; /* file, or socket (Unix) */
	const char *host, *port; /* socket (TCP) */
	bool server, wait;
};

/* -object memory-backend-memfd,id=ID,size=S[,share=on][,hugetlb=on] */
struct qemu_memory_object {
	const char *id;
	uint64_t size;
	bool share, hugetlb;
};

/* Where the enclave's serial console goes (-serial, -nographic). */
enum qemu_serial {
	QEMU_SERIAL_DEFAULT, /* stdio, as -nographic gives */
	QEMU_SERIAL_NONE,
	QEMU_SERIAL_STDIO,
	QEMU_SERIAL_FILE,
};

struct qemu_args {
	const char *kernel;
	const char *initrd[QEMU_MAX_INITRDS];
	unsigned int ninitrd;
	const char *append;
	const char *name;
	const char *parent_role, *parent_id, *enclave_id;
	uint64_t memory_mib;
	uint64_t cpus;
	uint64_t guest_cid; /* -M nitro-enclave,guest-cid=N (0: nitrovm picks) */
	bool acpi, rng, hugepages;
	enum hv_kernel_boot boot_path;
	bool no_heartbeat; /* --no-heartbeat: vsock port 9000 is the user's */
	bool no_sandbox;   /* -sandbox off: no system-call allow-lists */
	const char *runas; /* -runas USER[:GROUP]: the enclave process's user once the enclave runs (privdrop.h) */
	/* -accel nitro[,debug-mode=on|off][,enclave-cid=N] with -M nitro: native mode (hypervisor/nitro.h) */
	bool accel_nitro, machine_nitro, machine_given, debug_mode;
	uint64_t enclave_cid;
	const char *memory_backend; /* -machine memory-backend=ID or -numa node,memdev=ID */
	const char *vsock_chardev;  /* -M nitro-enclave,vsock=ID: the -chardev socket of a vhost-user backend */
	const char *vsock_path;	    /* its socket, once resolved */
	enum qemu_serial serial;
	const char *serial_path; /* QEMU_SERIAL_FILE */
	const char *serial_chardev; /* -serial chardev:ID, until resolved */
	bool serial_given;
	bool nographic;
	bool daemonize;
	const char *pidfile;
	struct qmp_listen_addr qmp[QMP_LISTEN_MAX]; /* -qmp unix:PATH,server=on,wait=off or tcp:HOST:PORT,... */
	unsigned int nqmp;
	struct qemu_chardev chardev[QEMU_MAX_CHARDEVS];
	unsigned int nchardev;
	struct qemu_memory_object object[QEMU_MAX_OBJECTS];
	unsigned int nobject;
	struct bridge_config bridges; /* --vsock-uds, --forward-* (vsock/bridge.h) */
	char *owned[QEMU_MAX_OWNED];  /* copies of option values the fields above point into */
	unsigned int nowned;
};

/* Parse argv (argv[0] the program) into a, which the caller zeroed and gave its defaults.  0 or the exit status. */
int qemu_parse_args(int argc, char **argv, struct qemu_args *a);
void qemu_args_free(struct qemu_args *a);

#endif
