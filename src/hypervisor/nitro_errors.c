// SPDX-License-Identifier: MIT
/*
 * A sentence for every error the Nitro Enclaves driver returns, saying what to change.  The driver returns
 * its own codes NE_ERR_* (256-275) through errno, where strerror() says "Unknown error 263"; QEMU maps them
 * only for NE_START_ENCLAVE.  Ordinary errno values get a sentence per ioctl where the driver gives them a
 * meaning (drivers/virt/nitro_enclaves/ne_misc_dev.c), and strerror() otherwise.  The sentences speak of the
 * enclave, not of a command's options: a command that wants to name its own (src/cli) says it over them.
 */
#include "hypervisor/nitro.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"

#define NE_ALLOCATOR "nitro-enclaves-allocator (/etc/nitro_enclaves/allocator.yaml)"

struct ne_error {
	const char *name;
	const char *sentence;
};

/* One entry per driver code: its name from the header, and what to change. */
#define NE_ERROR(code, text) [(code) - NE_ERR_FIRST] = { #code, text }

/* clang-format off: one sentence per entry reads better than what the formatter makes of the designators */
static const struct ne_error ne_errors[NE_ERR_LAST - NE_ERR_FIRST + 1] = {
	NE_ERROR(NE_ERR_VCPU_ALREADY_USED,
		 "that CPU was already added to this enclave: give each CPU id once"),
	NE_ERROR(NE_ERR_VCPU_NOT_IN_CPU_POOL,
		 "that CPU is not in the Nitro Enclaves CPU pool (" NE_CPUS_PARAM "): use CPUs of the pool, or "
		 "add it with " NE_ALLOCATOR),
	NE_ERROR(NE_ERR_VCPU_INVALID_CPU_CORE,
		 "that CPU's core id is beyond the cores the driver counted for this instance: use another CPU of "
		 "the pool"),
	NE_ERROR(NE_ERR_INVALID_MEM_REGION_SIZE,
		 "a memory region is not a multiple of 2 MiB: ask for enclave memory in multiples of 2 MiB"),
	NE_ERROR(NE_ERR_INVALID_MEM_REGION_ADDR,
		 "a memory region lies outside this process's address space: enclave memory must be mapped by the "
		 "process that creates the enclave"),
	NE_ERROR(NE_ERR_UNALIGNED_MEM_REGION_ADDR,
		 "a memory region does not start on a 2 MiB boundary: map enclave memory with huge pages, which "
		 "are aligned"),
	NE_ERROR(NE_ERR_MEM_REGION_ALREADY_USED,
		 "a memory region overlaps one already given to this enclave: give each range of memory once"),
	NE_ERROR(NE_ERR_MEM_NOT_HUGE_PAGE,
		 "enclave memory is not backed by huge pages: reserve huge pages (`echo N > "
		 "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages`, or memory_mib in " NE_ALLOCATOR ")"),
	NE_ERROR(NE_ERR_MEM_DIFFERENT_NUMA_NODE,
		 "the huge pages are not on the NUMA node of the CPU pool: reserve them on that node "
		 "(/sys/devices/system/node/nodeN/hugepages/hugepages-2048kB/nr_hugepages), which " NE_ALLOCATOR
		 " does"),
	NE_ERROR(NE_ERR_MEM_MAX_REGIONS,
		 "enclave memory is split into more physically contiguous pieces than the Nitro hypervisor "
		 "accepts: use 1 GiB huge pages, or reserve the huge pages soon after boot while memory is "
		 "unfragmented"),
	NE_ERROR(NE_ERR_NO_MEM_REGIONS_ADDED,
		 "the enclave was started without memory: give it memory"),
	NE_ERROR(NE_ERR_NO_VCPUS_ADDED,
		 "the enclave was started without vCPUs: give it CPUs"),
	NE_ERROR(NE_ERR_ENCLAVE_MEM_MIN_SIZE,
		 "enclave memory is below the 64 MiB minimum: ask for at least 64 MiB"),
	NE_ERROR(NE_ERR_FULL_CORES_NOT_USED,
		 "the vCPUs do not make up whole cores: ask for a multiple of the threads per core (2 on most "
		 "instances), or for every sibling of each CPU"),
	NE_ERROR(NE_ERR_NOT_IN_INIT_STATE,
		 "the enclave has already started: memory, vCPUs and the image are set up once, before "
		 "NE_START_ENCLAVE; start a new enclave instead"),
	NE_ERROR(NE_ERR_INVALID_VCPU,
		 "that CPU id is higher than any CPU of this instance: use CPU ids from the pool (" NE_CPUS_PARAM
		 ")"),
	NE_ERROR(NE_ERR_NO_CPUS_AVAIL_IN_POOL,
		 "no CPUs are left in the Nitro Enclaves CPU pool (it is empty, or other enclaves use them): "
		 "terminate an enclave, or grow the pool with " NE_ALLOCATOR),
	NE_ERROR(NE_ERR_INVALID_PAGE_SIZE,
		 "the huge pages are not a multiple of 2 MiB: use 2 MiB or 1 GiB huge pages"),
	NE_ERROR(NE_ERR_INVALID_FLAG_VALUE,
		 "the driver does not know a flag nitrovm passed: the driver is older than this nitrovm; update "
		 "the kernel, or use a nitrovm that matches it"),
	NE_ERROR(NE_ERR_INVALID_ENCLAVE_CID,
		 "that enclave CID is reserved (0-2 the hypervisor and host, 3 the parent, 4294967295 any): use a "
		 "CID from 4 to 4294967294, or 0 to have one assigned"),
};
/* clang-format on */

const char *ne_error_name(int err)
{
	if (err < NE_ERR_FIRST || err > NE_ERR_LAST)
		return NULL;
	return ne_errors[err - NE_ERR_FIRST].name;
}

const char *ne_ioctl_name(unsigned long request)
{
	switch (request) {
	case NE_IOCTL_CREATE_VM:
		return "NE_CREATE_VM";
	case NE_IOCTL_ADD_VCPU:
		return "NE_ADD_VCPU";
	case NE_IOCTL_GET_IMAGE_LOAD_INFO:
		return "NE_GET_IMAGE_LOAD_INFO";
	case NE_IOCTL_SET_USER_MEMORY_REGION:
		return "NE_SET_USER_MEMORY_REGION";
	case NE_IOCTL_START_ENCLAVE:
		return "NE_START_ENCLAVE";
	}
	return "an unknown Nitro Enclaves ioctl";
}

/* What an ordinary errno means coming from this ioctl of this driver; NULL: strerror() says it. */
static const char *errno_sentence(unsigned long request, int err)
{
	switch (err) {
	case EIO:
		return "the enclave belongs to another process: every ioctl on an enclave must come from the "
		       "process "
		       "that created it";
	case ENOTTY:
		return "the device does not know this request: it is not the Nitro Enclaves driver, or too "
		       "old a one";
	case EFAULT:
		return request == NE_IOCTL_SET_USER_MEMORY_REGION
			       ? "part of the memory region is not mapped in this process: map all of it "
				 "before adding it"
			       : "the driver could not read or write the argument (a bug in nitrovm: please "
				 "report it)";
	case ENOMEM:
		return "the parent instance's kernel is out of memory: free some memory on the parent";
	case EINVAL:
		if (request == NE_IOCTL_CREATE_VM)
			return "the driver refused to create an enclave: check `dmesg` for the "
			       "nitro_enclaves line "
			       "that says why (often: the CPU pool is not set)";
		return "the driver refused the request: check `dmesg` for the nitro_enclaves line that says "
		       "why";
	case EBUSY:
	case ENOSPC:
		if (request == NE_IOCTL_CREATE_VM)
			return "no enclave slot is free: terminate another enclave of this instance first";
		break;
	case EINTR:
		return "interrupted by a signal: run the command again";
	case EPERM:
	case EACCES:
		return "not permitted: run as root or as a member of the group that owns " NE_DEVICE_PATH
		       " (usually 'ne')";
	}
	return NULL;
}

const char *ne_error_sentence(unsigned long request, int err, char *buf, size_t len)
{
	const char *name = ne_error_name(err);
	const char *what;

	if (name) {
		snprintf(buf, len, "%s failed: %s (%s, %d)", ne_ioctl_name(request),
			 ne_errors[err - NE_ERR_FIRST].sentence, name, err);
		return buf;
	}
	what = errno_sentence(request, err);
	if (what)
		snprintf(buf, len, "%s failed: %s (%s)", ne_ioctl_name(request), what, strerror(err));
	else
		snprintf(buf, len, "%s failed: %s", ne_ioctl_name(request), strerror(err));
	return buf;
}
