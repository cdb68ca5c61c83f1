/* SPDX-License-Identifier: MIT */
/* The enclave process's system-call allow-list (sandbox.c). */
#ifndef NITROVM_ENCLAVE_SANDBOX_H
#define NITROVM_ENCLAVE_SANDBOX_H

/* Load it on every thread of the process; 0 or -errno with err_msg() set. */
int enclave_sandbox_loop(void);

#endif
