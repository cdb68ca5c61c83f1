/* SPDX-License-Identifier: MIT */
/*
 * nitrovm's own Nitro hypervisor on KVM: internal interfaces between vm.c (slot, memory, start, exits), vcpu.c
 * (threads and the exit loop), devices.c (the legacy devices and virtio transports, ioeventfd and irqfd) and the
 * x86 machine in x86/ (boot protocol, CPUID, MSRs, MP table, ACPI).
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

#include "hw/acpi_pm.h"
#include "hw/bus.h"
#include "hw/debug_exit.h"
#include "hw/guest_mem.h"
#include "hypervisor/hypervisor.h"

#define KVM_DEFAULT_DEVICE "/dev/kvm"
#define KVM_DEVICE_ENV	   "NITROVM_KVM_DEVICE" /* overrides the device path (tests point it elsewhere) */
#define KVM_API_VERSION_12 12

/* Guest-physical layout of the 32-bit MMIO hole: RAM stops at 3 GiB and resumes at 4 GiB. */
#define KVM_MMIO_HOLE_START (3ULL << 30)
#define KVM_MMIO_HOLE_END   (4ULL << 30)

/* CIDs: 0-2 are reserved, 3 is the parent; nitro-cli hands enclaves CIDs from 4 up. */
#define KVM_ENCLAVE_CID_MIN	4
#define KVM_ENCLAVE_CID_DEFAULT 16

/* The virtio-mmio slots of the Nitro machine (4 KiB windows, one GSI each). */
enum kvm_virtio_slot {
	KVM_VIRTIO_VSOCK = 0, /* 0xd0000000, IRQ 5 */
	KVM_VIRTIO_NSM = 1,   /* 0xd0001000, IRQ 6 */
	KVM_VIRTIO_RNG = 2,   /* 0xd0002000, IRQ 7: the transport test device, on request only */
	KVM_VIRTIO_SLOTS
};
#define KVM_VIRTIO_BASE	    0xd0000000ULL
#define KVM_VIRTIO_SIZE	    0x1000ULL
#define KVM_VIRTIO_GSI_BASE 5
#define KVM_VIRTIO_MAX_QUEUES 8

static inline uint64_t kvm_virtio_base(unsigned int slot)
{
	return KVM_VIRTIO_BASE + slot * KVM_VIRTIO_SIZE;
}

static inline unsigned int kvm_virtio_gsi(unsigned int slot)
{
	return KVM_VIRTIO_GSI_BASE + slot;
}

struct kvm_vm;
struct kvm_vsock;
struct virtio_vsock;
struct virtio_mmio_dev;
struct serial;
struct i8042;

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

	/* Enclave memory: one memfd mapping; offsets below 3 GiB are GPAs, the rest moves above 4 GiB. */
	int mem_fd;
	uint8_t *mem;
	uint64_t mem_size;
	uint64_t mem_added; /* enclave-memory offset up to which regions were added */
	unsigned int nslots;
	struct guest_mem gmem;

	unsigned int nvcpus;
	struct kvm_vcpu vcpus[HV_MAX_VCPUS];

	struct bus bus;
	struct serial *serial;
	struct i8042 *i8042;
	struct debug_exit debug_exit;
	struct acpi_pm acpi_pm;
	struct kvm_virtio virtio[KVM_VIRTIO_SLOTS];

	int console[2]; /* socketpair: [0] the UART's end, [1] the caller's */
	int exit_efd;	/* written once the enclave ended */

	pthread_mutex_t exit_lock;
	atomic_bool stopping;
	struct hv_exit exit;
	char regs_dump[KVM_REGS_DUMP_MAX];
	struct kvm_cpuid2 *cpuid; /* KVM_GET_SUPPORTED_CPUID, adjusted per vCPU (x86/cpuid.c) */
	uint64_t zero_page;	  /* guest address of boot_params, once laid out */
	struct timespec t_start, t_end;
	bool started;
	bool irqchip; /* KVM_CREATE_IRQCHIP and KVM_CREATE_PIT2 done (with the first vCPU) */
	uint64_t cid;
	struct kvm_vsock *vsock; /* vsock.c: connection table, parent side, console service */
	struct vhost_vsock_frontend *vhost_vsock; /* cfg.vsock_vhost_user: the device's rings are the backend's */
	uint64_t slot_uid;	 /* from create_slot: names the enclave (NSM module_id) */
	bool debug_mode;	 /* from start: the NSM attests zero PCRs */
	struct nsm *nsm;		 /* nsm.c; owned by its device, its worker started by kvm_start */
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
/* Bytes of RAM below the MMIO hole. */
uint64_t kvm_low_ram_size(const struct kvm_vm *vm);

/* vcpu.c */
int kvm_vcpu_create(struct kvm_vm *vm, unsigned int index);
void kvm_vcpu_destroy(struct kvm_vcpu *vcpu);
int kvm_vcpu_start_thread(struct kvm_vcpu *vcpu);
/* The vCPU thread's system-call allow-list (seccomp.c), loaded by the thread itself before its first KVM_RUN. */
int kvm_vcpu_seccomp(void);
void kvm_vcpu_kick(struct kvm_vcpu *vcpu);
int kvm_vcpu_install_kick_handler(void);
/* Format the registers of vcpu (from its own thread) into buf. */
void kvm_vcpu_dump_regs(struct kvm_vcpu *vcpu, char *buf, size_t len);

/* devices.c */
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
 * nsm.c: measure the EIF into the PCRs, bind the enclave's certificate issuer to its id, and attach the NSM at
 * 0xd0001000, IRQ 6.
 */
struct eif;
int kvm_nsm_create(struct kvm_vm *vm, const struct eif *e);

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
