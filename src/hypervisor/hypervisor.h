/* SPDX-License-Identifier: MIT */
/*
 * The hypervisor behind a launch, as a handful of operations shaped after the Nitro Enclaves driver's ioctls
 * (NE_CREATE_VM, NE_GET_IMAGE_LOAD_INFO, NE_SET_USER_MEMORY_REGION, NE_ADD_VCPU, NE_START_ENCLAVE, then waiting
 * for the enclave fd to hang up).  The launch pipeline (enclave/launch.c) drives any backend the same way:
 *
 *   create_slot -> alloc_memory -> image_load_info -> (copy the EIF to that offset) -> add_memory_region...
 *   -> add_vcpu... -> start (-> CID) -> console_fd / exit_fd watched in the caller's event loop -> wait_exit
 *
 * Backends: kvm (nitrovm's own Nitro hypervisor, hypervisor/kvm/), nitro (the /dev/nitro_enclaves driver,
 * nitro.c) and nitro-sim (a simulated driver in front of the kvm one, nitro_sim.c; see nitro.h).
 * Every operation returns 0 or a negative errno with err_msg() set; the launch steps also say what went wrong in
 * the backend's terms (struct hv_fault), which the command turns into its own words and error numbers.
 */
#ifndef NITROVM_HYPERVISOR_H
#define NITROVM_HYPERVISOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

struct evloop;
struct vsock_host;
struct nsm_issuer_proc;

#define HV_MAX_REGIONS	   64
#define HV_MAX_VCPUS	   64   /* what our MP table and MADT layouts are sized for */
#define HV_EIF_LOAD_OFFSET (8ULL << 20) /* NE_EIF_LOAD_OFFSET: the EIF lives at 8 MiB of enclave memory */
#define HV_EXIT_DETAIL_MAX 256
#define HV_EXIT_REGS_MAX   2048

/* kvm: how the kernel's compressed payload is unpacked (x86/boot_host.c). */
enum hv_kernel_boot {
	HV_KERNEL_BOOT_DEFAULT = 0, /* on the host when it can be, else by its own decompressor (saying why) */
	HV_KERNEL_BOOT_HOST,	    /* the same, and also say so for images without a payload */
	HV_KERNEL_BOOT_DECOMPRESSOR, /* always the kernel's own decompressor, in the guest */
};

/* The image file the pipeline loads the EIF from, with its identity (common/util.h) pinned before the load. */
struct hv_image {
	int fd;
	struct file_pin pin;
};

/*
 * nitrovm's own Nitro hypervisor: the shape of the emulated machine (kvm, and the machine behind nitro-sim).  The
 * real driver's machine is AWS's: hv_nitro_ops refuses a slot whose kvm options are not all zero.
 */
struct hv_kvm_options {
	const char *device;		 /* the KVM device; NULL: /dev/kvm */
	bool hugepages;			 /* back memory with huge pages when the host has them */
	bool acpi;			 /* describe the machine with ACPI tables (else virtio_mmio.device=) */
	bool test_rng;			 /* add the virtio-rng transport test device */
	bool seccomp;			 /* each vCPU thread loads its system-call allow-list before running */
	const char *extra_cmdline;	 /* appended to the EIF's command line at boot (QEMU's -append) */
	enum hv_kernel_boot kernel_boot; /* who decompresses the kernel */
	const char *parent_role;	 /* the NSM's PCR3: the parent's IAM role ARN (NULL: none) */
	/*
	 * The vsock device's rings are run by the vhost-user backend listening on this socket (QEMU's vsock= with
	 * -chardev socket,path=); the enclave's CID is then the backend's.  NULL: nitrovm's own.
	 */
	const char *vsock_vhost_user;
	/*
	 * The process that certifies the enclave's leaf key (nsm/issuer.h), which the enclave process forked before
	 * any guest memory existed; the backend binds it to the enclave id before the guest runs.  NULL: the NSM
	 * cannot attest (Attestation answers InternalError).
	 */
	struct nsm_issuer_proc *nsm_issuer;
};

/* The Nitro Enclaves driver (nitro, and the simulated one of nitro-sim). */
struct hv_nitro_options {
	const char *device; /* the driver's device; NULL: /dev/nitro_enclaves */
	bool trace;	    /* each NE_* request on stderr with its time ("ne-trace: ...") */
};

/* How a launch is set up: what every backend takes, then each kind's own options. */
struct hv_slot_config {
	struct evloop *loop; /* the caller's loop; backends add their own descriptors */
	/*
	 * Naming (src/nsm/nsm.h nsm_launch_ids): the parent's instance id (the enclave id's prefix, and the NSM's PCR4
	 * on kvm; NULL: this host's), and an enclave id to use as is (QEMU's id=; NULL: formed).
	 */
	const char *parent_id;
	const char *enclave_id;
	/*
	 * kvm: where the EIF in enclave memory came from (valid until start returns).  The NSM measures this file
	 * once the vCPUs run and ends the enclave if it changed since the pin.  NULL: the NSM measures the EIF in
	 * enclave memory before the first instruction.
	 */
	const struct hv_image *image;
	/*
	 * Called once the machine is built, right before the guest's first instruction (kvm: before the vCPU
	 * threads start), on the caller's thread: the launch drops privileges and loads its allow-list there.  A
	 * negative return fails the start.  A backend whose guest does not run in this process need not call it.
	 */
	int (*before_run)(void *opaque);
	void *before_run_opaque;
	/*
	 * What the launch will ask for, so that a native backend can check CPUs and huge pages before its first
	 * ioctl.  cpu_ids: NE_ADD_VCPU with these ids (cpu_count of them, as the user listed them); NULL: by count.
	 */
	uint64_t memory_size;
	unsigned int cpu_count;
	const uint32_t *cpu_ids;
	struct hv_kvm_options kvm;
	struct hv_nitro_options nitro;
};

/*
 * What went wrong in a backend, in the hypervisor's own terms, with the values a caller needs to say it in its
 * own words.  err_msg() holds the backend's sentence; a backend that cannot classify a failure leaves the class
 * HV_FAULT_NONE and the launch step that failed speaks for it.
 */
enum hv_fault_class {
	HV_FAULT_NONE = 0,
	HV_FAULT_DEVICE,	  /* the device cannot be opened: device, code (errno) */
	HV_FAULT_CPU_POOL,	  /* the CPU pool is unreadable, empty or breaks the driver's rules */
	HV_FAULT_CPU_TWICE,	  /* the CPU cpu was asked for twice */
	HV_FAULT_CPU_NOT_IN_POOL, /* the CPU cpu is not in the pool */
	HV_FAULT_CPU_SIBLING,	  /* the CPU cpu was asked for without its sibling */
	HV_FAULT_CPU_COUNT,	  /* a CPU count the pool cannot give */
	HV_FAULT_MEMORY,	  /* the host has too few huge pages, or they cannot be mapped */
	HV_FAULT_DRIVER,	  /* a driver request failed: request, code (errno or NE_ERR_*), driver_why */
	HV_FAULT_CLASSES	  /* the number of classes */
};

struct hv_fault {
	enum hv_fault_class cls;
	int code;
	const char *device;    /* DEVICE: the node that would not open (the caller's string or a constant) */
	uint32_t cpu, sibling; /* CPU_TWICE, CPU_NOT_IN_POOL, CPU_SIBLING */
	unsigned long request; /* DRIVER: the request (NE_IOCTL_* of hypervisor/nitro.h) */
	bool driver_why;       /* DRIVER: err_msg() is the driver's own account, not code's sentence */
};

/*
 * Host memory handed to the enclave, in the order it is added: enclave memory offset 0 is regions[0].hva.
 * fd, when not -1, is a file the region maps from fd_offset (the emulated machine's memfd): the image is then
 * written through the file, in the kernel, which spares a page fault and the zeroing of a page for every 4 KiB
 * (most of a large image's start under nested virtualization).
 */
struct hv_region {
	uint8_t *hva;
	uint64_t size;
	int fd;
	uint64_t fd_offset;
};

enum hv_exit_reason {
	HV_EXIT_RUNNING = 0,
	HV_EXIT_POWEROFF,	/* orderly: ACPI soft-off */
	HV_EXIT_RESET,		/* reboot (i8042 reset): on Nitro the enclave then ends */
	HV_EXIT_DEBUG_PORT,	/* the test guest's exit port */
	HV_EXIT_TERMINATED,	/* the host asked (signal, terminate) */
	HV_EXIT_TRIPLE_FAULT,
	HV_EXIT_INTERNAL_ERROR,
	HV_EXIT_FAIL_ENTRY,
	HV_EXIT_UNHANDLED,
	HV_EXIT_HOST_ERROR,	/* nitrovm itself failed (KVM_RUN error, out of memory...) */
	HV_EXIT_HANGUP,		/* native: the enclave descriptor hung up (the enclave stopped or crashed) */
};

struct hv_exit {
	enum hv_exit_reason reason;
	int status;			/* process exit status this maps to (0 = orderly) */
	double seconds;			/* from start to the exit */
	char detail[HV_EXIT_DETAIL_MAX]; /* one sentence for the log */
	char regs[HV_EXIT_REGS_MAX];	 /* register dump of the vCPU that failed, or "" */
};

struct hypervisor;

struct hypervisor_ops {
	const char *name;
	/*
	 * The steps of a launch.  Each returns 0, or a negative errno with err_msg() set and, when the backend
	 * can say what went wrong in its terms, *fault filled in (the caller zeroes it first).
	 */
	/* NE_CREATE_VM: a new, empty enclave slot.  *slot_uid identifies it (EnclaveID). */
	int (*create_slot)(const struct hv_slot_config *cfg, struct hypervisor **out, uint64_t *slot_uid,
			   struct hv_fault *fault);
	/* Allocate size bytes of enclave memory in the backend's preferred form (memfd, huge pages). */
	int (*alloc_memory)(struct hypervisor *hv, uint64_t size, struct hv_region *regions, unsigned int *nregions,
			    struct hv_fault *fault);
	/* NE_GET_IMAGE_LOAD_INFO: where in enclave memory the EIF must be written. */
	int (*image_load_info)(struct hypervisor *hv, uint64_t *offset, struct hv_fault *fault);
	/* NE_SET_USER_MEMORY_REGION */
	int (*add_memory_region)(struct hypervisor *hv, const struct hv_region *r, struct hv_fault *fault);
	/* NE_ADD_VCPU: *cpu_id 0 lets the backend choose; returns the id used. */
	int (*add_vcpu)(struct hypervisor *hv, uint32_t *cpu_id, struct hv_fault *fault);
	/* NE_START_ENCLAVE: cid 0 lets the backend choose; *cid_out is the enclave's CID.  -ENOEXEC: the image
	 * cannot boot; -ENOMEM: the memory is too small for what the image unpacks. */
	int (*start)(struct hypervisor *hv, uint64_t cid, bool debug_mode, uint64_t *cid_out, struct hv_fault *fault);
	/* A stream carrying the enclave console (both ways where the backend allows), or -1. */
	int (*console_fd)(struct hypervisor *hv);
	/* Readable once the enclave has ended (like the driver's enclave fd hanging up). */
	int (*exit_fd)(struct hypervisor *hv);
	/* Ask a running enclave to end (SIGINT/SIGTERM); wait_exit then reports HV_EXIT_TERMINATED. */
	void (*terminate)(struct hypervisor *hv);
	/* Wait until the enclave ended and every backend thread stopped; fill *e. */
	void (*wait_exit)(struct hypervisor *hv, struct hv_exit *e);
	/* Release everything: memory, descriptors, threads. */
	void (*destroy)(struct hypervisor *hv);
	/*
	 * The parent side of vsock for this enclave (vsock/endpoint.h), valid from create_slot until destroy, so
	 * listeners can be bound before start.  NULL when the backend has none.
	 */
	struct vsock_host *(*vsock_host)(struct hypervisor *hv);
};

struct hypervisor {
	const struct hypervisor_ops *ops;
};

extern const struct hypervisor_ops hv_kvm_ops;
extern const struct hypervisor_ops hv_nitro_ops;
extern const struct hypervisor_ops hv_nitro_sim_ops;

/* Choosing a backend: by name, else the driver when its device exists. */
/* "kvm", "nitro", "nitro-sim": the backend, or NULL. */
const struct hypervisor_ops *hv_by_name(const char *name);
/*
 * name NULL: nitro when /dev/nitro_enclaves exists, else kvm; *why says why when it was the default (NULL when
 * named).  NULL with err_msg() for an unknown name.
 */
const struct hypervisor_ops *hv_select(const char *name, const char **why);

/* Copy len bytes into enclave memory at offset, across region boundaries. */
int hv_memory_write(const struct hv_region *regions, unsigned int nregions, uint64_t offset, const void *buf,
		    uint64_t len);
/*
 * Read len bytes of fd (from its offset 0) into enclave memory at offset, across region boundaries: through a
 * region's own file with sendfile(2) where it has one and both files allow it, else with pread(2).
 */
int hv_memory_read_fd(const struct hv_region *regions, unsigned int nregions, uint64_t offset, int fd,
		      uint64_t len);
/* A stable name for an exit reason ("poweroff", "triple fault", ...). */
const char *hv_exit_reason_name(enum hv_exit_reason r);

#endif
