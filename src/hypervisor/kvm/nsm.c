// SPDX-License-Identifier: MIT
/*
 * The machine's Nitro Secure Module: what the Nitro hypervisor does before an enclave runs, done here when the
 * machine is built.  Measure the EIF found at the load offset (PCR0/1/2, PCR8 when signed), take the parent's
 * role and instance id (PCR3, PCR4), name the module like the enclave, then attach virtio-nsm at 0xd0001000,
 * IRQ 6.  The DSDT (ACPI on) and the virtio_mmio.device= declarations (ACPI off) already list that slot.
 *
 * The measurement stays here, before the first instruction: it reads the image in guest memory, which the
 * guest may overwrite as soon as it runs.  So does binding the certificate issuer (nsm/issuer.h) to the module
 * id: the first bind is the one the issuer keeps, and here no guest has run yet to have a say in it.  The CA
 * itself is never opened in this process: the issuer, forked by the enclave process before any guest memory
 * existed, holds it; the NSM's worker makes the enclave's own key once the vCPUs run and has the issuer
 * certify it.  What would make the issuer fail for sure (an unusable state directory, loose key files) is
 * checked here first with a few stat calls, so such launches still fail at once with the reason.
 */
#include "kvm.h"

#include <errno.h>
#include <string.h>

#include "common/util.h"
#include "hw/virtio/virtio.h"
#include "nsm/issuer.h"
#include "nsm/nsm.h"

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
	ret = nsm_boot_measure(e, &boot);
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
	vm->nsm = n; /* the device's: kvm_start starts its worker once the vCPUs run */
	return kvm_virtio_attach(vm, KVM_VIRTIO_NSM, virtio_nsm_ops(), dev, virtio_nsm_free);
}
