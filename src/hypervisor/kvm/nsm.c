// SPDX-License-Identifier: MIT
/*
 * The machine's Nitro Secure Module: what the Nitro hypervisor does before an enclave runs, done here when the
 * machine is built.  Measure the EIF found at the load offset (PCR0/1/2, PCR8 when signed), take the parent's
 * role and instance id (PCR3, PCR4), name the module like the enclave, open the local CA and give the enclave
 * its own leaf key, then attach virtio-nsm at 0xd0001000, IRQ 6.  The DSDT (ACPI on) and the
 * virtio_mmio.device= declarations (ACPI off) already list that slot.
 */
#include "kvm.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "hw/virtio/virtio.h"
#include "nsm/nsm.h"

int kvm_nsm_create(struct kvm_vm *vm, const struct eif *e)
{
	char parent[NSM_PARENT_ID_MAX + 1], module_id[NSM_MODULE_ID_MAX], dir[PATH_MAX];
	struct nsm_boot boot = { .parent_role = vm->cfg.parent_role };
	struct nsm_config c = { .debug_mode = vm->debug_mode, .boot = &boot };
	struct nsm_signer *signer = NULL;
	struct nsm_ca *ca = NULL;
	struct virtio_nsm *dev;
	struct nsm *n;
	time_t now = time(NULL);
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
		ret = nsm_ca_open(dir, now, &ca);
	if (!ret)
		ret = nsm_signer_create(ca, module_id, now, &signer);
	if (ret < 0)
		return err_wrap(-ret, "the NSM's attestation CA");
	c.signer = signer;
	n = nsm_create(&c);
	if (!n) {
		nsm_signer_free(signer);
		return err_set(ENOMEM, "out of memory creating the NSM");
	}
	dev = virtio_nsm_new(n);
	if (!dev) {
		nsm_free(n);
		return err_set(ENOMEM, "out of memory creating the NSM device");
	}
	return kvm_virtio_attach(vm, KVM_VIRTIO_NSM, virtio_nsm_ops(), dev, virtio_nsm_free);
}
