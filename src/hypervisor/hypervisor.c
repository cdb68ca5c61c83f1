// SPDX-License-Identifier: MIT
/* Backend-independent helpers of the hypervisor interface. */
#include "hypervisor.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "common/util.h"
#include "hypervisor/nitro.h"

/* At most this much per sendfile(2) call (the kernel stops at 2 GiB less a page anyway). */
#define SENDFILE_CHUNK (1ULL << 30)

int hv_memory_write(const struct hv_region *regions, unsigned int nregions, uint64_t offset, const void *buf,
		    uint64_t len)
{
	const uint8_t *src = buf;

	for (unsigned int i = 0; i < nregions && len; i++) {
		const struct hv_region *r = &regions[i];
		uint64_t n;

		if (offset >= r->size) {
			offset -= r->size;
			continue;
		}
		n = MIN(len, r->size - offset);
		memcpy(r->hva + offset, src, n);
		src += n;
		len -= n;
		offset = 0;
	}
	if (len)
		return err_set(ENOSPC, "the image does not fit in enclave memory");
	return 0;
}

/*
 * len bytes of fd from pos into file out at out_pos, in the kernel.  1 when the files do not allow it (nothing
 * was written then: the caller reads instead), 0 when done, or an error.  sendfile(2) writes at the output's
 * file position, so it is set first: the region's file is this process's alone while the image loads.
 */
static int send_to_file(int out, uint64_t out_pos, int fd, uint64_t pos, uint64_t len)
{
	off_t in = (off_t)pos;
	bool sent = false;

	if (lseek(out, (off_t)out_pos, SEEK_SET) < 0)
		return 1;
	while (len) {
		ssize_t n = sendfile(out, fd, &in, (size_t)MIN(len, SENDFILE_CHUNK));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && !sent && (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP || errno == EXDEV))
			return 1;
		if (n < 0)
			return err_set(errno, "cannot read the image: %s", strerror(errno));
		if (n == 0)
			return err_set(EIO, "the image is shorter than its size said");
		sent = true;
		len -= (uint64_t)n;
	}
	return 0;
}

int hv_memory_read_fd(const struct hv_region *regions, unsigned int nregions, uint64_t offset, int fd,
		      uint64_t len)
{
	uint64_t pos = 0;

	for (unsigned int i = 0; i < nregions && pos < len; i++) {
		const struct hv_region *r = &regions[i];
		int ret = 1;

		if (offset >= r->size) {
			offset -= r->size;
			continue;
		}
		if (r->fd >= 0) {
			uint64_t want = MIN(len - pos, r->size - offset);

			ret = send_to_file(r->fd, r->fd_offset + offset, fd, pos, want);
			if (ret < 0)
				return ret;
			if (!ret) {
				pos += want;
				offset = 0;
				continue;
			}
		}
		while (offset < r->size && pos < len) {
			size_t want = (size_t)MIN(len - pos, r->size - offset);
			ssize_t n = pread(fd, r->hva + offset, want, (off_t)pos);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return err_set(errno, "cannot read the image: %s", strerror(errno));
			if (n == 0)
				return err_set(EIO, "the image is shorter than %llu bytes", (unsigned long long)len);
			offset += (uint64_t)n;
			pos += (uint64_t)n;
		}
		offset = 0;
	}
	if (pos < len)
		return err_set(ENOSPC, "the image does not fit in enclave memory");
	return 0;
}

const char *hv_exit_reason_name(enum hv_exit_reason r)
{
	static const char *const names[] = {
		[HV_EXIT_RUNNING] = "running",
		[HV_EXIT_POWEROFF] = "poweroff",
		[HV_EXIT_RESET] = "reset",
		[HV_EXIT_DEBUG_PORT] = "debug exit",
		[HV_EXIT_TERMINATED] = "terminated",
		[HV_EXIT_TRIPLE_FAULT] = "triple fault",
		[HV_EXIT_INTERNAL_ERROR] = "KVM internal error",
		[HV_EXIT_FAIL_ENTRY] = "VM entry failure",
		[HV_EXIT_UNHANDLED] = "unhandled exit",
		[HV_EXIT_HOST_ERROR] = "host error",
		[HV_EXIT_HANGUP] = "hang-up",
	};

	return r < ARRAY_SIZE(names) && names[r] ? names[r] : "unknown";
}

const struct hypervisor_ops *hv_by_name(const char *name)
{
	static const struct hypervisor_ops *const all[] = { &hv_kvm_ops, &hv_nitro_ops, &hv_nitro_sim_ops };

	for (size_t i = 0; name && i < ARRAY_SIZE(all); i++)
		if (!strcmp(name, all[i]->name))
			return all[i];
	return NULL;
}

const struct hypervisor_ops *hv_select(const char *name, const char **why)
{
	const struct hypervisor_ops *ops;

	*why = NULL;
	if (name) {
		ops = hv_by_name(name);
		if (!ops)
			err_set(EINVAL, "unknown hypervisor '%s': use nitro (the /dev/nitro_enclaves driver), kvm "
					"(nitrovm's own, on /dev/kvm) or nitro-sim (the simulated driver, for tests)", name);
		return ops;
	}
	/* Never the simulator by default: it would pass for the real driver. */
	if (access(NE_DEVICE_PATH, F_OK) == 0) {
		*why = NE_DEVICE_PATH " exists";
		return &hv_nitro_ops;
	}
	*why = NE_DEVICE_PATH " does not exist";
	return &hv_kvm_ops;
}
