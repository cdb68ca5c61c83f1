// SPDX-License-Identifier: MIT
/*
 * The environment that shapes a launch's backend, read here, in the command line's floor, and handed down as
 * configuration (hypervisor.h): the backend below reads no environment of its own, except test hooks compiled
 * only with -Dtest_hooks=true (docs/internals.md, "Environment").
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#include "hypervisor/hypervisor.h"

const char *cli_hypervisor_name(const char *option)
{
	const char *env = getenv(CLI_HYPERVISOR_ENV);

	if (option)
		return option;
	return env && env[0] ? env : NULL;
}

void cli_backend_env(struct hv_slot_config *slot, const struct hypervisor_ops *backend)
{
	const char *kvm = getenv(CLI_KVM_DEVICE_ENV), *trace = getenv(CLI_NE_TRACE_ENV);

	/* nitro-sim's machine is nitrovm's own too */
	if (backend != &hv_nitro_ops && !slot->kvm.device && kvm && kvm[0])
		slot->kvm.device = kvm;
	if (backend != &hv_kvm_ops)
		slot->nitro.trace = trace && !strcmp(trace, "1");
}
