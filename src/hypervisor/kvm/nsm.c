// SPDX-License-Identifier: MIT
/*
 * The machine's Nitro Secure Module: what the Nitro hypervisor does before an enclave runs, done here when the
 * machine is built.  Take PCR8 from the image's signature section, the parent's role and instance id (PCR3,
 * PCR4), name the module like the enclave, then attach virtio-nsm at 0xd0001000, IRQ 6.  The DSDT (ACPI on)
 * and the virtio_mmio.device= declarations (ACPI off) already list that slot.
 *
 * PCR0/1/2 (SHA-384 over the whole image, twice over its application ramdisk: seconds for a large one) are
 * measured once the vCPUs run, on a thread of their own, from the image FILE the pipeline loaded (cfg.image),
 * never from enclave memory, which the guest may overwrite from its first instruction.  The file's identity
 * was pinned before the load (device, inode, size, change time); it is pinned again after the measurement, and
 * any difference ends the enclave with a sentence saying the image changed during the launch, as any other
 * failure of the hypervisor ends it (kvm_vm_request_exit, HV_EXIT_HOST_ERROR).  Requests that read or change
 * the PCR bank wait for the measurement (nsm/request.c); the heartbeat, console, vsock and GetRandom do not.
 * Without an image file (a caller that wrote enclave memory itself), the EIF in memory is measured here, before
 * the first instruction, as it used to be.
 *
 * The other passes over the image before the first instruction, and why they stay or go:
 *   - the copy of the file to the load offset (enclave/launch.c): stays, the guest boots from it;
 *   - the ramdisks joined into one initrd (initrd.c): stays, the kernel reads that initrd and the guest owns the
 *     memory from its first instruction, so nothing may be copied there later;
 *   - the CRC-32: the old measurement computed it beside PCR2 and dropped it (the launch has never refused an
 *     image for its CRC; describe-eif and validate-eif report it).  Off the start path now: eif_measure_fd
 *     still computes it in the same pass, and it stays unchecked;
 *   - eif_parse of the loaded copy: headers only, not a pass;
 *   - PCR8: the signature section (at most 32 KiB) decoded here, so a malformed one still fails the launch
 *     before the guest runs, as before.
 *
 * Binding the certificate issuer (nsm/issuer.h) to the module id stays here as well: the first bind is the one
 * the issuer keeps, and here no guest has run yet to have a say in it.  The CA itself is never opened in this
 * process: the issuer, forked by the enclave process before any guest memory existed, holds it; the NSM's
 * worker makes the enclave's own key once the vCPUs run and has the issuer certify it.  What would make the
 * issuer fail for sure (an unusable state directory, loose key files) is checked here first with a few stat
 * calls, so such launches still fail at once with the reason.
 */
#include "kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "eif/eif.h"
#include "hw/virtio/virtio.h"
#include "nsm/issuer.h"
#include "nsm/nsm.h"

/*
 * Test builds only: the measurement starts once this file exists, so that a test knows the guest asked the NSM
 * before it, or changes the image meanwhile (tests/kvm/test_nsm.py).  Looked up in its directory, opened when the
 * machine is built: the enclave process may have left the host's file system by the time the vCPUs run.
 */
#define MEASURE_GATE_ENV "NITROVM_TEST_MEASURE_GATE"

struct kvm_nsm_measure {
	int fd;
	struct file_pin pin;
	struct eif layout; /* the loaded copy's section table; its data pointers cleared */
	atomic_bool stop;
	pthread_t thread;
	bool started;
#ifdef NITROVM_TEST_HOOKS
	int gate_dir; /* the test gate's directory, opened before the privilege drop hides the host's tree; or -1 */
	const char *gate_name; /* in the environment's string */
#endif
};

/* The issuer bound to module_id, as the module's certifier; NULL (the NSM cannot attest) without an issuer. */
static int issuer_certifier(struct kvm_vm *vm, const char *module_id, struct nsm_certifier **out)
{
	char dir[PATH_MAX];
	int ret;

	*out = NULL;
	ret = nsm_state_dir(NULL, dir, sizeof(dir));
	if (!ret)
		ret = nsm_ca_check(dir);
	if (ret < 0)
		return err_wrap(-ret, "the NSM's attestation CA");
	if (!vm->cfg.kvm.nsm_issuer)
		return 0;
	ret = nsm_issuer_bind(vm->cfg.kvm.nsm_issuer, module_id);
	if (!ret) {
		*out = nsm_issuer_certifier(vm->cfg.kvm.nsm_issuer);
		ret = *out ? 0 : -ENOMEM;
	}
	return ret < 0 ? err_wrap(-ret, "the NSM's certificate issuer") : 0;
}

/* The file to measure later, or NULL (with err_msg() on failure) to measure enclave memory now. */
static int measure_later(struct kvm_vm *vm, const struct eif *e)
{
	const struct hv_image *img = vm->cfg.image;
	struct kvm_nsm_measure *m;

	if (!img)
		return 0;
	m = calloc(1, sizeof(*m));
	if (!m)
		return err_set(ENOMEM, "out of memory creating the NSM");
	/* Our own descriptor: the measurement may outlive the caller's use of its own. */
	m->fd = fcntl(img->fd, F_DUPFD_CLOEXEC, 0);
	if (m->fd < 0) {
		free(m);
		return err_set(errno, "cannot keep the image file open to measure it: %s", strerror(errno));
	}
	m->pin = img->pin;
#ifdef NITROVM_TEST_HOOKS
	m->gate_dir = -1;
	if (getenv(MEASURE_GATE_ENV)) {
		const char *gate = getenv(MEASURE_GATE_ENV), *slash = strrchr(gate, '/');
		char dir[PATH_MAX];

		m->gate_name = slash ? slash + 1 : gate;
		if (!slash)
			strcpy(dir, ".");
		else if ((size_t)(slash - gate) < sizeof(dir)) {
			size_t n = slash == gate ? 1 : (size_t)(slash - gate); /* "/gate": the root */

			memcpy(dir, gate, n);
			dir[n] = 0;
		} else {
			dir[0] = 0;
		}
		m->gate_dir = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
#endif
	m->layout = *e;
	m->layout.base = NULL;
	for (unsigned int i = 0; i < m->layout.nsections; i++)
		m->layout.sections[i].data = NULL;
	vm->nsm_measure = m;
	return 0;
}

int kvm_nsm_create(struct kvm_vm *vm, const struct eif *e)
{
	char parent[NSM_PARENT_ID_MAX + 1], module_id[NSM_MODULE_ID_MAX];
	struct nsm_boot boot = { .parent_role = vm->cfg.kvm.parent_role };
	struct nsm_config c = { .debug_mode = vm->debug_mode, .boot = &boot };
	struct virtio_nsm *dev;
	struct nsm *n;
	int ret;

	nsm_launch_ids(vm->cfg.enclave_id, vm->cfg.parent_id, vm->slot_uid, parent, sizeof(parent), module_id,
		       sizeof(module_id));
	boot.parent_id = parent;
	c.module_id = module_id;
	ret = measure_later(vm, e);
	if (!ret && vm->nsm_measure) {
		c.boot_pending = true;
		ret = nsm_boot_signature(e, &boot);
	} else if (!ret) {
		ret = nsm_boot_measure(e, &boot);
	}
	if (!ret)
		ret = issuer_certifier(vm, module_id, &c.certifier);
	if (ret < 0)
		return ret;
	n = nsm_create(&c);
	if (!n) {
		if (c.certifier)
			c.certifier->free(c.certifier);
		return err_set(ENOMEM, "out of memory creating the NSM");
	}
	dev = virtio_nsm_new(n);
	if (!dev) {
		nsm_free(n);
		return err_set(ENOMEM, "out of memory creating the NSM device");
	}
	vm->nsm = n; /* the device's: kvm_nsm_start starts its worker once the vCPUs run */
	return kvm_virtio_attach(vm, KVM_VIRTIO_NSM, virtio_nsm_ops(), dev, virtio_nsm_free);
}

#ifdef NITROVM_TEST_HOOKS
static void test_gate(struct kvm_nsm_measure *m)
{
	struct stat st;

	while (m->gate_dir >= 0 && fstatat(m->gate_dir, m->gate_name, &st, 0) < 0 && !atomic_load(&m->stop))
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000000L }, NULL);
}
#endif

static void *measure_thread(void *arg)
{
	struct kvm_vm *vm = arg;
	struct kvm_nsm_measure *m = vm->nsm_measure;
	struct nsm_boot boot;
	int ret;

#ifdef NITROVM_TEST_HOOKS
	test_gate(m);
#endif
	ret = nsm_boot_measure_file(m->fd, &m->pin, &m->layout, &m->stop, &boot);
	if (ret == -ECANCELED)
		return NULL; /* the enclave is being torn down */
	if (ret < 0) {
		kvm_vm_request_exit(vm, HV_EXIT_HOST_ERROR, 1, "%s", err_msg());
		nsm_boot_measured(vm->nsm, NULL);
		return NULL;
	}
	nsm_boot_measured(vm->nsm, &boot);
	return NULL;
}

void kvm_nsm_start(struct kvm_vm *vm)
{
	struct kvm_nsm_measure *m = vm->nsm_measure;

	if (!vm->nsm)
		return;
	nsm_start(vm->nsm);
	if (!m || m->started)
		return;
	if (pthread_create(&m->thread, NULL, measure_thread, vm)) {
		kvm_vm_request_exit(vm, HV_EXIT_HOST_ERROR, 1, "cannot start the thread that measures the image");
		nsm_boot_measured(vm->nsm, NULL);
		return;
	}
	pthread_setname_np(m->thread, "measure");
	m->started = true;
}

void kvm_nsm_destroy(struct kvm_vm *vm)
{
	struct kvm_nsm_measure *m = vm->nsm_measure;

	if (!m)
		return;
	atomic_store(&m->stop, true);
	if (m->started)
		pthread_join(m->thread, NULL);
	close(m->fd);
#ifdef NITROVM_TEST_HOOKS
	if (m->gate_dir >= 0)
		close(m->gate_dir);
#endif
	free(m);
	vm->nsm_measure = NULL;
}
