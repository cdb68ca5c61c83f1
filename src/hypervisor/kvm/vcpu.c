// SPDX-License-Identifier: MIT
/*
 * One thread per vCPU, each looping on KVM_RUN and handling port and MMIO exits synchronously through the bus.
 * Anything that ends the enclave goes through kvm_vm_request_exit(), which kicks every vCPU out of KVM_RUN:
 * immediate_exit is set first, then a signal interrupts a thread already inside the ioctl.
 */
#include "kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/boot_trace.h"
#include "common/util.h"

/* Only interrupts KVM_RUN; its handler does nothing. */
#define KVM_KICK_SIGNAL SIGUSR1

int kvm_vcpu_create(struct kvm_vm *vm, unsigned int index)
{
	struct kvm_vcpu *vcpu = &vm->vcpus[index];

	vcpu->vm = vm;
	vcpu->index = index;
	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (vcpu->fd < 0)
		return err_set(errno, "KVM_CREATE_VCPU %u failed: %s", index, strerror(errno));
	vcpu->run_size = (size_t)vm->vcpu_mmap_size;
	vcpu->run = mmap(NULL, vcpu->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		vcpu->run = NULL;
		return err_set(errno, "cannot map vCPU %u's run area: %s", index, strerror(errno));
	}
	return kvm_arch_vcpu_init(vcpu);
}

void kvm_vcpu_destroy(struct kvm_vcpu *vcpu)
{
	if (vcpu->run)
		munmap(vcpu->run, vcpu->run_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
}

static void kick_handler(int sig)
{
	(void)sig;
}

int kvm_vcpu_install_kick_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler; /* no SA_RESTART: blocking calls in vCPU threads return EINTR */
	sigemptyset(&sa.sa_mask);
	if (sigaction(KVM_KICK_SIGNAL, &sa, NULL) < 0)
		return err_set(errno, "cannot install the vCPU kick handler: %s", strerror(errno));
	return 0;
}

void kvm_vcpu_kick(struct kvm_vcpu *vcpu)
{
	if (vcpu->run)
		vcpu->run->immediate_exit = 1;
	if (vcpu->thread_started)
		pthread_kill(vcpu->thread, KVM_KICK_SIGNAL);
}

/* A fatal exit: capture this vCPU's registers (only this thread may read them reliably), then end the VM. */
static void vcpu_fail(struct kvm_vcpu *vcpu, enum hv_exit_reason reason, const char *what)
{
	struct kvm_vm *vm = vcpu->vm;

	pthread_mutex_lock(&vm->exit_lock);
	if (!vm->regs_dump[0])
		kvm_arch_vcpu_dump_regs(vcpu, vm->regs_dump, sizeof(vm->regs_dump));
	pthread_mutex_unlock(&vm->exit_lock);
	kvm_vm_request_exit(vm, reason, 1, "vCPU %u: %s", vcpu->index, what);
}

static void vcpu_internal_error(struct kvm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	char what[HV_EXIT_DETAIL_MAX];
	size_t n;

	n = (size_t)snprintf(what, sizeof(what), "KVM internal error, suberror %u%s", run->internal.suberror,
			     run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ? " (instruction emulation failed)"
										    : "");
	for (unsigned int i = 0; i < run->internal.ndata && i < 4 && n < sizeof(what); i++)
		n += (size_t)snprintf(what + n, sizeof(what) - n, "%s%llx", i ? " " : ", data ",
				      (unsigned long long)run->internal.data[i]);
	vcpu_fail(vcpu, HV_EXIT_INTERNAL_ERROR, what);
}

static void vcpu_system_event(struct kvm_vcpu *vcpu)
{
	switch (vcpu->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		kvm_vm_request_exit(vcpu->vm, HV_EXIT_POWEROFF, 0, "the enclave powered off");
		break;
	case KVM_SYSTEM_EVENT_RESET:
		kvm_vm_request_exit(vcpu->vm, HV_EXIT_RESET, 0, "the enclave rebooted");
		break;
	default:
		vcpu_fail(vcpu, HV_EXIT_UNHANDLED, "unexpected system event (crash)");
		break;
	}
}

static void vcpu_io(struct kvm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint8_t *p = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;

	/* rep ins/outs arrive as count elements of size bytes each. */
	for (uint32_t i = 0; i < run->io.count; i++, p += run->io.size)
		bus_access(&vcpu->vm->bus, BUS_PIO, run->io.port, p, run->io.size, is_write);
}

/* Handle one exit; false when the vCPU must stop. */
static bool vcpu_handle_exit(struct kvm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	char what[HV_EXIT_DETAIL_MAX];

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		vcpu_io(vcpu);
		return true;
	case KVM_EXIT_MMIO:
		bus_access(&vcpu->vm->bus, BUS_MMIO, run->mmio.phys_addr, run->mmio.data, run->mmio.len,
			   run->mmio.is_write);
		return true;
	case KVM_EXIT_INTR:
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		return true;
	case KVM_EXIT_SHUTDOWN:
		vcpu_fail(vcpu, HV_EXIT_TRIPLE_FAULT, "triple fault (KVM_EXIT_SHUTDOWN)");
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		vcpu_system_event(vcpu);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		vcpu_internal_error(vcpu);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(what, sizeof(what), "VM entry failed, hardware reason %#llx",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		vcpu_fail(vcpu, HV_EXIT_FAIL_ENTRY, what);
		return false;
	default:
		snprintf(what, sizeof(what), "unhandled KVM exit reason %u", run->exit_reason);
		vcpu_fail(vcpu, HV_EXIT_UNHANDLED, what);
		return false;
	}
}

/* NITROVM_TRACE_START: the stamps of the start path, and where the guest's TSC stands against the host's. */
static void vcpu_trace_report(struct kvm_vcpu *vcpu)
{
	int64_t offset = 0;

	if (!boot_trace_enabled || vcpu->index)
		return;
	if (kvm_arch_guest_clock_offset(vcpu, &offset) < 0)
		fprintf(stderr, "nitrovm: trace-start: %s\n", err_msg());
	boot_trace_mark(BOOT_TRACE_END);
	boot_trace_report(offset);
}

static void *vcpu_thread(void *opaque)
{
	struct kvm_vcpu *vcpu = opaque;
	struct kvm_vm *vm = vcpu->vm;
	char name[16];

	snprintf(name, sizeof(name), "vcpu%u", vcpu->index);
	pthread_setname_np(pthread_self(), name);
	if (vm->cfg.kvm.seccomp && kvm_vcpu_seccomp() < 0) {
		kvm_vm_request_exit(vm, HV_EXIT_HOST_ERROR, 1, "vCPU %u: %s", vcpu->index, err_msg());
		return NULL;
	}
#ifdef NITROVM_TEST_HOOKS
	/* Test only: prove a call outside the list ends the enclave with its line (tests/kvm/test_seccomp.py). */
	if (vm->cfg.kvm.seccomp && !vcpu->index && getenv("NITROVM_TEST_SECCOMP_TRIGGER") &&
	    !strcmp(getenv("NITROVM_TEST_SECCOMP_TRIGGER"), "vcpu"))
		close(open("/", O_RDONLY));
#endif
	if (!vcpu->index)
		boot_trace_mark(BOOT_TRACE_KVM_RUN);
	while (!atomic_load(&vm->stopping)) {
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			kvm_vm_request_exit(vm, HV_EXIT_HOST_ERROR, 1, "KVM_RUN on vCPU %u failed: %s", vcpu->index,
					    strerror(errno));
			break;
		}
		if (!vcpu_handle_exit(vcpu))
			break;
	}
	vcpu_trace_report(vcpu);
	return NULL;
}

int kvm_vcpu_start_thread(struct kvm_vcpu *vcpu)
{
	int e = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);

	if (e)
		return err_set(e, "cannot start the thread of vCPU %u: %s", vcpu->index, strerror(e));
	vcpu->thread_started = true;
	return 0;
}
