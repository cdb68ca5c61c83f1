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
 * Every operation returns 0 or a negative errno with err_msg() set.
 */
#ifndef NITROVM_HYPERVISOR_H
#define NITROVM_HYPERVISOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* How a launch is set up; fields a backend does not know are ignored. */
struct hv_slot_config {
	struct evloop *loop;	   /* the caller's loop; backends add their own descriptors */
	const char *device;	   /* device node; NULL: the backend's default (or $NITROVM_KVM_DEVICE) */
	bool hugepages;		   /* back memory with huge pages when the host has them */
	bool acpi;		   /* kvm: describe the machine with ACPI tables (else virtio_mmio.device=) */
	bool test_rng;		   /* kvm: add the virtio-rng transport test device */
	bool seccomp;		   /* kvm: each vCPU thread loads its system-call allow-list before running */
	const char *extra_cmdline; /* kvm: appended to the EIF's command line at boot (QEMU's -append) */
	enum hv_kernel_boot kernel_boot; /* kvm: who decompresses the kernel */
	/* NSM (src/nsm/nsm.h): the parent's IAM role ARN (PCR3; NULL: none), its instance id (PCR4 and the enclave
	 * id's prefix; NULL: this host's), and an enclave id to use as is (QEMU's id=; NULL: formed). */
	const char *parent_role;
	const char *parent_id;
	const char *enclave_id;
	/*
	 * kvm: the vsock device's rings are run by the vhost-user backend listening on this socket (QEMU's
	 * vsock= with -chardev socket,path=); the enclave's CID is then the backend's.  NULL: nitrovm's own.
	 */
	const char *vsock_vhost_user;
	/*
	 * kvm: the process that certifies the enclave's leaf key (nsm/issuer.h), which the enclave process forked
	 * before any guest memory existed; the backend binds it to the enclave id before the guest runs.  NULL:
	 * the NSM cannot attest (Attestation answers InternalError).
	 */
	struct nsm_issuer_proc *nsm_issuer;
	/*
	 * Called once the machine is built, right before the guest's first instruction (kvm: before the vCPU
	 * threads start), on the caller's thread: the launch drops privileges and loads its allow-list there.  A
	 * negative return fails the start.  A backend whose guest does not run in this process need not call it.
	 */
	int (*before_run)(void *opaque);
	void *before_run_opaque;
	/*
	 * What the launch will ask for, so that a native backend can check CPUs and huge pages before its first
	 * ioctl.  cpu_ids: NE_ADD_VCPU with these ids (cpu_count of them, --cpu-ids); NULL: by count (id 0).
	 */
	uint64_t memory_size;
	unsigned int cpu_count;
	const uint32_t *cpu_ids;
};

/* Which of nitro-cli's error classes a native backend's failure belongs to, for the command's error number. */
enum hv_fault {
	HV_FAULT_NONE = 0,
	HV_FAULT_DEVICE,	  /* E19: the device or a sysfs file cannot be used */
	HV_FAULT_CPU_CONFIG,	  /* E20: duplicate CPU ids, partial cores */
	HV_FAULT_CPU_NOT_IN_POOL, /* E21 */
	HV_FAULT_CPU_COUNT,	  /* E22: not a count the pool can give */
	HV_FAULT_MEMORY,	  /* E27: huge pages short */
	HV_FAULT_CREATE_VM,	  /* E29: NE_CREATE_VM (nitro-cli calls it a general ioctl failure) */
	HV_FAULT_LOAD_INFO,	  /* E30 */
	HV_FAULT_MEMORY_REGION,	  /* E31 */
	HV_FAULT_ADD_VCPU,	  /* E32 */
	HV_FAULT_START,		  /* E33 */
};

/* Host memory handed to the enclave, in the order it is added: enclave memory offset 0 is regions[0].hva. */
struct hv_region {
	uint8_t *hva;
	uint64_t size;
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
	/* NE_CREATE_VM: a new, empty enclave slot.  *slot_uid identifies it (EnclaveID). */
	int (*create_slot)(const struct hv_slot_config *cfg, struct hypervisor **out, uint64_t *slot_uid);
	/* Allocate size bytes of enclave memory in the backend's preferred form (memfd, huge pages). */
	int (*alloc_memory)(struct hypervisor *hv, uint64_t size, struct hv_region *regions, unsigned int *nregions);
	/* NE_GET_IMAGE_LOAD_INFO: where in enclave memory the EIF must be written. */
	int (*image_load_info)(struct hypervisor *hv, uint64_t *offset);
	/* NE_SET_USER_MEMORY_REGION */
	int (*add_memory_region)(struct hypervisor *hv, const struct hv_region *r);
	/* NE_ADD_VCPU: *cpu_id 0 lets the backend choose; returns the id used. */
	int (*add_vcpu)(struct hypervisor *hv, uint32_t *cpu_id);
	/* NE_START_ENCLAVE: cid 0 lets the backend choose; *cid_out is the enclave's CID. */
	int (*start)(struct hypervisor *hv, uint64_t cid, bool debug_mode, uint64_t *cid_out);
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

/*
 * The error class of the last failure of this thread, next to err_msg(): native backends set it, the pipeline
 * takes it (and so clears it) to pick the error number.  HV_FAULT_NONE: not classified.
 */
void hv_fault_set(enum hv_fault f);
enum hv_fault hv_fault_take(void);

extern const struct hypervisor_ops hv_kvm_ops;
extern const struct hypervisor_ops hv_nitro_ops;
extern const struct hypervisor_ops hv_nitro_sim_ops;

/* Choosing a backend: --hypervisor NAME, else $NITROVM_HYPERVISOR, else the driver when its device exists. */
#define HV_SELECT_ENV "NITROVM_HYPERVISOR"
/* "kvm", "nitro", "nitro-sim": the backend, or NULL. */
const struct hypervisor_ops *hv_by_name(const char *name);
/*
 * name NULL: $NITROVM_HYPERVISOR, else nitro when /dev/nitro_enclaves exists, else kvm; *why says why when
 * it was the default (NULL when named).  NULL with err_msg() for an unknown name.
 */
const struct hypervisor_ops *hv_select(const char *name, const char **why);

/* Copy len bytes into enclave memory at offset, across region boundaries. */
int hv_memory_write(const struct hv_region *regions, unsigned int nregions, uint64_t offset, const void *buf,
		    uint64_t len);
/* Read len bytes of fd (from its offset 0) into enclave memory at offset, across region boundaries. */
int hv_memory_read_fd(const struct hv_region *regions, unsigned int nregions, uint64_t offset, int fd,
		      uint64_t len);
/* A stable name for an exit reason ("poweroff", "triple fault", ...). */
const char *hv_exit_reason_name(enum hv_exit_reason r);

#endif
