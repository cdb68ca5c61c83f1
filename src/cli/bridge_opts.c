// SPDX-License-Identifier: MIT
/*
 * The host-bridge options of run-enclave and the QEMU-style front end (--vsock-uds, --forward-listen,
 * --forward-connect, --forward-vsock, --forward-remote) over vsock/bridge.h's configuration, which knows rules and
 * addresses but not the options that carry them.  Their help text is here too.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "vsock/bridge.h"
#include "vsock/vsock.h"

const char cli_bridge_usage[] =
	"  --vsock-uds PATH      Firecracker's Unix-socket vsock: clients of PATH send \"CONNECT <port>\\n\", read\n"
	"                        \"OK <parent port>\\n\" once the enclave accepted, then the stream; enclave\n"
	"                        connections to parent port P go to the Unix socket PATH_P if it exists\n"
	"  --forward-listen HOST=vsock:PORT\n"
	"                        host -> enclave: connections to HOST reach the enclave's vsock PORT\n"
	"  --forward-connect vsock:PORT=HOST\n"
	"                        enclave -> host: connections to parent (CID 3) PORT reach HOST\n"
	"  --forward-vsock PORT  enclave -> host AF_VSOCK: parent PORT reaches the host's local CID 1, PORT, where\n"
	"                        an unmodified parent application listens (needs the vsock_loopback module)\n"
	"                        HOST is tcp:ADDR:PORT, unix:PATH or vsock:[CID:]PORT; every option repeats\n"
	"  --forward-remote      allow TCP addresses other than loopback (127.0.0.0/8, ::1); refused by default:\n"
	"                        a bridge gives whoever reaches it the enclave's ports\n";

static int add_rule(struct bridge_config *c, const char *opt, enum bridge_dir dir, const char *rule)
{
	if (bridge_config_add_rule(c, dir, rule) < 0)
		return err_wrap(EINVAL, "--%s %s", opt, rule);
	if (dir == BRIDGE_FROM_ENCLAVE && c->rules[c->nrules - 1].vsock_port == VSOCK_HEARTBEAT_PORT)
		vsock_log("--%s: parent port %d is the boot heartbeat's: also give --no-heartbeat", opt,
			  VSOCK_HEARTBEAT_PORT);
	return 0;
}

int cli_bridge_option(struct bridge_config *c, const char *opt, const char *value)
{
	char rule[64], *end;
	unsigned long port;

	if (!strcmp(opt, "forward-remote")) {
		c->allow_remote = true;
		return 0;
	}
	if (!strcmp(opt, "vsock-uds")) {
		if (c->uds_path)
			return err_set(EINVAL, "--vsock-uds is given twice");
		return bridge_config_set_uds(c, value);
	}
	if (!strcmp(opt, "forward-vsock")) {
		errno = 0;
		port = strtoul(value, &end, 10);
		if (!*value || *end || errno || port > UINT32_MAX || value[0] == '-')
			return err_set(EINVAL, "--forward-vsock: '%s' is not a port number", value);
		snprintf(rule, sizeof(rule), "vsock:%lu=vsock:%u:%lu", port, VSOCK_CID_LOCAL, port);
		return add_rule(c, "forward-connect", BRIDGE_FROM_ENCLAVE, rule);
	}
	if (!strcmp(opt, "forward-listen"))
		return add_rule(c, opt, BRIDGE_TO_ENCLAVE, value);
	if (!strcmp(opt, "forward-connect"))
		return add_rule(c, opt, BRIDGE_FROM_ENCLAVE, value);
	return -ENOENT;
}

int cli_bridge_check(const struct bridge_config *c)
{
	char said[512];

	if (bridge_config_check(c) == 0)
		return 0;
	snprintf(said, sizeof(said), "%s", err_msg());
	return err_set(EINVAL, "%s (add --forward-remote to allow it)", said);
}
