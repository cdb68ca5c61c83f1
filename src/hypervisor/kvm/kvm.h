/* SPDX-License-Identifier: MIT */
/*
 * nitrovm's own Nitro hypervisor on KVM: internal interfaces between vm.c (slot, memory, start, exits), vcpu.c
 * (threads and the exit loop), devices.c (the console UART and virtio transports, ioeventfd and irqfd) and the
 * machine of the host's architecture (arch.h): x86/ (boot protocol, CPUID, MSRs, MP table, ACPI, the legacy
 * devices) or arm64/ (vCPU init and PSCI, the vGIC, the device tree, the Image boot protocol).
 */
#ifndef NITROVM_HYPERVISOR_KVM_H
#define NITROVM_HYPERVISOR_KVM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "hw/bus.h"
#include "hw/guest_mem.h"
#include "hypervisor/hypervisor.h"
#include "hypervisor/kvm/arch.h"

#define KVM_DEFAULT_DEVICE "/dev/kvm"
#define KVM_API_VERSION_12 12

/* CIDs: 0-2 are reserved, 3 is the parent; nitro-cli hands enclaves CIDs from 4 up. */
#define KVM_ENCLAVE_CID_MIN	4
#define KVM_ENCLAVE_CID_DEFAULT 16

/*
 * The virtio-mmio slots of the Nitro machine (4 KiB windows, one interrupt each), in this order from the
 * machine's base (KVM_ARCH_VIRTIO_BASE, interrupt KVM_ARCH_VIRTIO_GSI_BASE + slot; x86: 0xd0000000 and GSI 5,
 * as Nitro's own command line declares them).
 */
enum kvm_virtio_slot {
	KVM_VIRTIO_VSOCK = 0,
	KVM_VIRTIO_NSM = 1,
	KVM_VIRTIO_RNG = 2, /* the transport test device, on request only */
	KVM_VIRTIO_SLOTS
};
#define KVM_VIRTIO_SIZE	    0x1000ULL
#define KVM_VIRTIO_MAX_QUEUES 8

static inline uint64_t kvm_virtio_base(unsigned int slot)
{
	return KVM_ARCH_VIRTIO_BASE + slot * KVM_VIRTIO_SIZE;
}

/* What KVM_IRQFD's gsi means on this architecture (x86: a GSI; arm64: an SPI number). */
static inline unsigned int kvm_virtio_gsi(unsigned int slot)
{
	return KVM_ARCH_VIRTIO_GSI_BASE + slot;
}

struct kvm_vm;
struct kvm_vsock;
struct virtio_vsock;
struct virtio_mmio_dev;
struct serial;

struct kvm_vcpu {
	struct kvm_vm *vm;
	unsigned int index; /* also its APIC id */
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool thread_started;
};

struct kvm_virtio {
	bool present;
	struct kvm_vm *vm;
	unsigned int slot;
	struct virtio_mmio_dev *dev;
	void *dev_opaque;
	void (*dev_free)(void *dev_opaque);
	int irqfd;
	unsigned int nqueues;
	int notify_fd[KVM_VIRTIO_MAX_QUEUES];
	struct kvm_virtio_notify {
		struct kvm_virtio *v;
		unsigned int queue;
	} notify[KVM_VIRTIO_MAX_QUEUES];
};

/* The largest register dump we log for a vCPU that stopped abnormally. */
#define KVM_REGS_DUMP_MAX HV_EXIT_REGS_MAX

struct kvm_vm {
	struct hypervisor hv;
	struct hv_slot_config cfg;
	int kvm_fd, vm_fd;
	int vcpu_mmap_size;

	/*
	 * Enclave memory: one memfd mapping.  Offset o is guest-physical ram_base + o up to ram_low_max bytes;
	 * what lies beyond moves up to ram_high_base (x86's 32-bit MMIO hole; arm64 has none).
	 */
	uint64_t ram_base, ram_low_max, ram_high_base;
	int mem_fd;
	uint8_t *mem;
	uint64_t eif_offset; /* where the image is loaded: HV_EIF_LOAD_OFFSET and 0-3 bytes (vm.c) */
	uint64_t mem_size;
	uint64_t mem_added; /* enclave-memory offset up to which regions were added */
	unsigned int nslots;
	struct guest_mem gmem;

	unsigned int nvcpus;
	struct kvm_vcpu vcpus[HV_MAX_VCPUS];

	struct bus bus;
	struct serial *serial;
	uint32_t serial_irq; /* KVM_IRQ_LINE's irq for the UART, in this architecture's encoding */
	struct kvm_virtio virtio[KVM_VIRTIO_SLOTS];

	int console[2]; /* socketpair: [0] the UART's end, [1] the caller's */
	int exit_efd;	/* written once the enclave ended */

	pthread_mutex_t exit_lock;
	atomic_bool stopping;
	struct hv_exit exit;
	char regs_dump[KVM_REGS_DUMP_MAX];
	struct kvm_arch arch; /* what only this architecture's machine holds (arch.h) */
	struct timespec t_start, t_end;
	bool started;
	uint64_t cid;
	struct kvm_vsock *vsock; /* vsock.c: connection table, parent side, console service */
	struct vhost_vsock_frontend *vhost_vsock; /* cfg.kvm.vsock_vhost_user: the device's rings are the backend's */
	uint64_t slot_uid;	 /* from create_slot: names the enclave (NSM module_id) */
	bool debug_mode;	 /* from start: the NSM attests zero PCRs */
	struct nsm *nsm;		 /* nsm.c; owned by its device, its worker started by kvm_start */
	struct kvm_nsm_measure *nsm_measure; /* nsm.c: PCR0/1/2 from the image file, once the vCPUs run */
};

static inline struct kvm_vm *to_kvm_vm(struct hypervisor *hv)
{
	return (struct kvm_vm *)hv;
}

/* vm.c */
/* End the enclave (first caller wins): record why, wake the caller's loop, stop every vCPU. */
void kvm_vm_request_exit(struct kvm_vm *vm, enum hv_exit_reason reason, int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Guest-physical address -> host pointer for len bytes, NULL outside RAM. */
void *kvm_gpa(struct kvm_vm *vm, uint64_t gpa, uint64_t len);
/* Bytes of RAM contiguous from ram_base (below x86's MMIO hole). */
uint64_t kvm_low_ram_size(const struct kvm_vm *vm);
/* Find the EIF at the load offset and parse it in place; *extent is where its last section ends. */
struct eif;
int kvm_find_eif(struct kvm_vm *vm, struct eif *e, uint64_t *extent);

/* initrd.c: the ramdisks joined as one initrd (each RAMDISK_JOIN_ALIGN-aligned: Linux's unpacker looks for the
 * next cpio header on a 4-byte boundary), its size and the copy to dst (in enclave memory; with vm NULL, anywhere). */
#define RAMDISK_JOIN_ALIGN 4
uint64_t kvm_initrd_size(const struct eif *e);
void kvm_initrd_copy(struct kvm_vm *vm, const struct eif *e, uint8_t *dst);

/* vcpu.c */
int kvm_vcpu_create(struct kvm_vm *vm, unsigned int index);
void kvm_vcpu_destroy(struct kvm_vcpu *vcpu);
int kvm_vcpu_start_thread(struct kvm_vcpu *vcpu);
/* The vCPU thread's system-call allow-list (seccomp.c), loaded by the thread itself before its first KVM_RUN. */
int kvm_vcpu_seccomp(void);
void kvm_vcpu_kick(struct kvm_vcpu *vcpu);
int kvm_vcpu_install_kick_handler(void);

/* devices.c: the UART (the arch's devices put it on a bus, kvm_arch_devices_create), vsock, the rng */
int kvm_devices_create(struct kvm_vm *vm);
void kvm_devices_destroy(struct kvm_vm *vm);
int kvm_irq_line(struct kvm_vm *vm, unsigned int gsi, bool level);
int kvm_irqfd_create(struct kvm_vm *vm, unsigned int gsi, int *fd);
int kvm_ioeventfd_create(struct kvm_vm *vm, uint64_t addr, unsigned int len, uint64_t datamatch, int *fd);

/* Attach a device to a virtio-mmio slot (window, irqfd, ioeventfds); dev_free(dev) runs at teardown. */
struct virtio_device_ops;
int kvm_virtio_attach(struct kvm_vm *vm, unsigned int slot, const struct virtio_device_ops *ops, void *dev,
		      void (*dev_free)(void *));

/*
 * nsm.c: bind the enclave's certificate issuer to its id and attach the NSM in its virtio slot (create); once
 * the vCPUs run, start its worker and the measurement of the image file (start); stop and join that
 * measurement (destroy, before the devices go).
 */
struct eif;
int kvm_nsm_create(struct kvm_vm *vm, const struct eif *e);
void kvm_nsm_start(struct kvm_vm *vm);
void kvm_nsm_destroy(struct kvm_vm *vm);

/* vsock.c */
int kvm_vsock_create(struct kvm_vm *vm);
void kvm_vsock_destroy(struct kvm_vm *vm);
void kvm_vsock_set_cid(struct kvm_vm *vm, uint64_t cid);
struct vsock_mux *kvm_vsock_mux(struct kvm_vm *vm);
/* The device that services the parent side's streams (NULL when it goes away). */
void kvm_vsock_set_device(struct kvm_vm *vm, struct virtio_vsock *dev);
/* Serial output, also served on vsock CID 0 port CID + 10000 (vCPU thread, serial lock held). */
void kvm_vsock_console_output(struct kvm_vm *vm, const uint8_t *buf, size_t len);
struct vsock_host *kvm_vsock_host(struct hypervisor *hv);

#endif
