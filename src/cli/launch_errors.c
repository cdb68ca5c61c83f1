// SPDX-License-Identifier: MIT
/*
 * A launch's typed error (enclave/launch.h: the launch's class, the backend's hv_fault) in the command line's
 * words: nitro-cli's error number for it, and the sentence, which names our options where the user has to change
 * one.  The lower floors' sentences (err_msg()) speak of the enclave only; where they would have to name an
 * option, the sentence is made here from the error's values instead.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>

#include "enclave/launch.h"
#include "hypervisor/nitro.h"

/* nitro-cli's number for each class of the launch (its own steps) ... */
static const enum cli_error by_class[LAUNCH_ERR_CLASSES] = {
	[LAUNCH_ERR_MEMORY_BELOW_IMAGE] = E_INSUFFICIENT_MEMORY_REQUESTED,
	[LAUNCH_ERR_MEMORY_BELOW_MIN] = E_INSUFFICIENT_MEMORY_REQUESTED,
	[LAUNCH_ERR_MEMORY_UNALIGNED] = E_INVALID_ARGUMENT,
	[LAUNCH_ERR_NO_VCPUS] = E_INVALID_ARGUMENT,
	[LAUNCH_ERR_TOO_MANY_VCPUS] = E_INVALID_ARGUMENT,
	[LAUNCH_ERR_PROCESS] = E_EPOLL,
	[LAUNCH_ERR_CID_TAKEN] = E_INVALID_ARGUMENT,
	[LAUNCH_ERR_SLOT] = E_FILE_OPERATION,
	[LAUNCH_ERR_MEMORY] = E_INSUFFICIENT_MEMORY_AVAILABLE,
	[LAUNCH_ERR_SETUP] = E_IOCTL,
	[LAUNCH_ERR_IMAGE_OVERFLOW] = E_INSUFFICIENT_MEMORY_REQUESTED,
	[LAUNCH_ERR_NO_VSOCK] = E_IOCTL,
	[LAUNCH_ERR_HEARTBEAT_PORT] = E_IOCTL,
	[LAUNCH_ERR_PORTS] = E_INVALID_ARGUMENT,
	[LAUNCH_ERR_SANDBOX] = E_EPOLL,
	[LAUNCH_ERR_START] = E_IOCTL_ENCLAVE_START,
	[LAUNCH_ERR_IMAGE] = E_EIF_PARSING,
	[LAUNCH_ERR_GUEST_MEMORY] = E_INSUFFICIENT_MEMORY_REQUESTED,
	[LAUNCH_ERR_RUN] = E_EPOLL,
	[LAUNCH_ERR_HEARTBEAT] = E_ENCLAVE_BOOT,
};

/* ... and for each class of a backend's fault, which outweighs the step's when the backend gave one. */
static const enum cli_error by_fault[HV_FAULT_CLASSES] = {
	[HV_FAULT_DEVICE] = E_FILE_OPERATION,
	[HV_FAULT_CPU_POOL] = E_INSUFFICIENT_CPUS,
	[HV_FAULT_CPU_TWICE] = E_INVALID_CPU_CONFIGURATION,
	[HV_FAULT_CPU_NOT_IN_POOL] = E_NO_SUCH_CPU_AVAILABLE_IN_POOL,
	[HV_FAULT_CPU_SIBLING] = E_INVALID_CPU_CONFIGURATION,
	[HV_FAULT_CPU_COUNT] = E_INSUFFICIENT_CPUS,
	[HV_FAULT_MEMORY] = E_INSUFFICIENT_MEMORY_AVAILABLE,
	[HV_FAULT_DRIVER] = E_FILE_OPERATION, /* a request we do not know; the known ones are below */
};

/* nitro-cli numbers a failed driver request by the request, whatever the cause: scripts match on those. */
static enum cli_error driver_request_code(unsigned long request)
{
	switch (request) {
	case NE_IOCTL_CREATE_VM:
		return E_IOCTL;
	case NE_IOCTL_GET_IMAGE_LOAD_INFO:
		return E_IOCTL_IMAGE_LOAD_INFO;
	case NE_IOCTL_SET_USER_MEMORY_REGION:
		return E_IOCTL_SET_MEMORY_REGION;
	case NE_IOCTL_ADD_VCPU:
		return E_IOCTL_ADD_VCPU;
	case NE_IOCTL_START_ENCLAVE:
		return E_IOCTL_ENCLAVE_START;
	}
	return by_fault[HV_FAULT_DRIVER];
}

enum cli_error cli_launch_error_code(const struct launch_error *e)
{
	if (e->fault.cls == HV_FAULT_DRIVER)
		return driver_request_code(e->fault.request);
	if (e->fault.cls > HV_FAULT_NONE && e->fault.cls < HV_FAULT_CLASSES)
		return by_fault[e->fault.cls];
	if (e->cls > LAUNCH_OK && e->cls < LAUNCH_ERR_CLASSES)
		return by_class[e->cls];
	return E_UNSPECIFIED;
}

/* The driver's codes whose remedy is one of our options: the whole sentence, said with them. */
static const char *driver_code_sentence(int code)
{
	switch (code) {
	case NE_ERR_VCPU_ALREADY_USED:
		return "that CPU was already added to this enclave: give each CPU id once in --cpu-ids";
	case NE_ERR_NO_MEM_REGIONS_ADDED:
		return "the enclave was started without memory: give it memory (--memory, or -m)";
	case NE_ERR_NO_VCPUS_ADDED:
		return "the enclave was started without vCPUs: give it CPUs (--cpu-count or --cpu-ids, or -smp)";
	case NE_ERR_ENCLAVE_MEM_MIN_SIZE:
		return "enclave memory is below the 64 MiB minimum: ask for at least 64 MiB (--memory 64, or -m 64M)";
	case NE_ERR_FULL_CORES_NOT_USED:
		return "the vCPUs do not make up whole cores: ask for a multiple of the threads per core (2 on most "
		       "instances: --cpu-count 2, or -smp 2), or list every sibling in --cpu-ids";
	}
	return NULL;
}

/* The sentence from the fault's values where it has to name an option; false: the backend's own says it. */
static bool fault_text(const struct hv_fault *f, char *buf, size_t len)
{
	const char *said;

	switch (f->cls) {
	case HV_FAULT_DEVICE:
		if (f->code != ENOENT || !f->device)
			return false;
		snprintf(buf, len,
			 "File: '%s', failing operation: 'Open': the Nitro Enclaves driver is not here. Launch the instance "
			 "with the enclave option (--enclave-options 'Enabled=true'), load the driver (modprobe "
			 "nitro_enclaves), or run the enclave on nitrovm's own hypervisor (--hypervisor kvm, or -accel kvm "
			 "-M nitro-enclave)",
			 f->device);
		return true;
	case HV_FAULT_CPU_TWICE:
		snprintf(buf, len, "CPU id %u is given twice in --cpu-ids", f->cpu);
		return true;
	case HV_FAULT_CPU_SIBLING:
		snprintf(buf, len, "CPU %u is given without its sibling CPU %u: enclaves take whole cores, add CPU %u to "
				   "--cpu-ids", f->cpu, f->sibling, f->sibling);
		return true;
	case HV_FAULT_DRIVER:
		said = driver_code_sentence(f->code);
		if (f->driver_why || !said)
			return false;
		snprintf(buf, len, "%s failed: %s (%s, %d)", ne_ioctl_name(f->request), said, ne_error_name(f->code),
			 f->code);
		return true;
	default:
		return false;
	}
}

void cli_launch_error_text(const struct launch_error *e, const char *said, char *buf, size_t len)
{
	if (e->fault.cls != HV_FAULT_NONE) {
		if (!fault_text(&e->fault, buf, len))
			snprintf(buf, len, "%s", said);
		return;
	}
	switch (e->cls) {
	/* nitro-cli's own sentences for its `memory` argument */
	case LAUNCH_ERR_MEMORY_BELOW_IMAGE:
		snprintf(buf, len, "User provided `memory` is %llu MB, but based on the EIF file size, the minimum "
				   "memory should be %llu MB", (unsigned long long)e->asked, (unsigned long long)e->limit);
		break;
	case LAUNCH_ERR_MEMORY_BELOW_MIN:
		snprintf(buf, len, "User provided `memory` is %llu MB, but an enclave needs at least %llu MB",
			 (unsigned long long)e->asked, (unsigned long long)e->limit);
		break;
	case LAUNCH_ERR_MEMORY_UNALIGNED:
		snprintf(buf, len, "User provided `memory` is %llu MB, but enclave memory comes in %llu MB pages: use a "
				   "multiple of %llu", (unsigned long long)e->asked, (unsigned long long)e->limit,
			 (unsigned long long)e->limit);
		break;
	case LAUNCH_ERR_NO_VSOCK:
		snprintf(buf, len, "the %s hypervisor has no vsock: run with --no-heartbeat",
			 e->hypervisor ? e->hypervisor : "chosen");
		break;
	case LAUNCH_ERR_HEARTBEAT_PORT:
		snprintf(buf, len, "%s (use --no-heartbeat to leave it to your own service)", said);
		break;
	default:
		snprintf(buf, len, "%s", said);
	}
}
