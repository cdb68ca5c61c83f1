// SPDX-License-Identifier: MIT
/*
 * The machine's Nitro Secure Module: what the Nitro hypervisor does before an enclave runs, done here when the
 * machine is built.  Measure the EIF found at the load offset (PCR0/1/2, PCR8 when signed), take the parent's
 * role and instance id (PCR3, PCR4), name the module like the enclave, then attach virtio-nsm at 0xd0001000,
 * IRQ 6.  The DSDT (ACPI on) and the virtio_mmio.device= declarations (ACPI off) already list that slot.
 *
 * The measurement stays here, before the first instruction: it reads the image in guest memory, which the
 * guest may overwrite as soon as it runs.  The signer (the local CA opened, the enclave's own leaf key and
 * certificate) is made by a background thread instead: 10-15 ms of OpenSSL that would otherwise be most of the
 * time to the first instruction; what would make it fail for sure (an unusable state directory, loose key
 * files) is checked here first, cheaply, so such launches still fail at once with the reason.
 */
#include "kvm.h"

#include <errno.h>
#include <string.h>

#include "common/util.h"
#include "hw/virtio/virtio.h"
#include "nsm/nsm.h"

int kvm_nsm_create(struct kvm_vm *vm, const struct eif *e)
{
	char parent[NSM_PARENT_ID_MAX + 1], module_id[NSM_MODULE_ID_MAX], dir[PATH_MAX];
	struct nsm_boot boot = { .parent_role = vm->cfg.parent_role };
	struct nsm_config c = { .debug_mode = vm->debug_mode, .boot = &boot };
	struct nsm_signer_job *job = NULL;
	struct virtio_nsm *dev;
	struct nsm *n;
	int ret;

	nsm_launch_ids(vm->cfg.enclave_id, vm->cfg.parent_id, vm->slot_uid, parent, sizeof(parent), module_id,
		       sizeof(module_id));
	boot.parent_id = parent;
	c.module_id = module_id;
	ret = nsm_boot_measure(e, &boot);
	if (ret < 0)
		return ret;
	ret = nsm_state_dir(NULL, dir, sizeof(dir));
	if (!ret)
		ret = nsm_ca_check(dir);
	if (!ret)
		ret = nsm_signer_job_new(dir, module_id, &job);
	if (ret < 0)
		return err_wrap(-ret, "the NSM's attestation CA");
	c.signer_job = job;
	n = nsm_create(&c);
	if (!n) {
		nsm_signer_free(nsm_signer_join(job));
		return err_set(ENOMEM, "out of memory creating the NSM");
	}
	dev = virtio_nsm_new(n);
	if (!dev) {
		nsm_free(n);
		return err_set(ENOMEM, "out of memory creating the NSM device");
	}
	vm->nsm_job = job; /* the module's: kvm_start starts it once the vCPUs run */
	return kvm_virtio_attach(vm, KVM_VIRTIO_NSM, virtio_nsm_ops(), dev, virtio_nsm_free);
}
