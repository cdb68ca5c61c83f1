// SPDX-License-Identifier: MIT
/*
 * nitrovm.io/ports=8080:5000[,8443:5001...]: TCP port 8080 of the container's network namespace (the pod's,
 * where one is given) is joined to vsock port 5000 of the enclave, so that a Service reaches the app as it
 * would reach a container.  The listeners bind every address of that namespace: it is the pod's own.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "runtime.h"
#include "vsock/bridge.h"

#define RT_TCP_PORT_MAX 65535
/* vsock ports are 32 bits; the last one is VMADDR_PORT_ANY. */
#define RT_VSOCK_PORT_MAX 0xfffffffeULL

static int port_number(const char *s, size_t len, unsigned long long max, unsigned long long *out)
{
	char buf[16], *end;

	if (!len || len >= sizeof(buf) || strspn(s, "0123456789") < len)
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	*out = strtoull(buf, &end, 10);
	return *out >= 1 && *out <= max ? 0 : -EINVAL;
}

static int add_rule(struct bridge_config *c, const char *item, size_t len)
{
	const char *colon = memchr(item, ':', len);
	unsigned long long tcp, vsock;
	char rule[96];

	if (!colon || port_number(item, (size_t)(colon - item), RT_TCP_PORT_MAX, &tcp) ||
	    port_number(colon + 1, len - (size_t)(colon - item) - 1, RT_VSOCK_PORT_MAX, &vsock))
		return err_set(EINVAL, "the annotation " RT_ANN_PORTS " has '%.*s': use TCP:VSOCK port pairs like "
				       "8080:5000, separated by commas", (int)MIN(len, 64), item);
	if (c->nrules == BRIDGE_MAX_RULES)
		return err_set(E2BIG, "the annotation " RT_ANN_PORTS " names more than %d ports", BRIDGE_MAX_RULES);
	snprintf(rule, sizeof(rule), "tcp:0.0.0.0:%llu=vsock:%llu", tcp, vsock);
	return bridge_config_add_rule(c, BRIDGE_TO_ENCLAVE, rule);
}

int rt_ports(const struct rt_bundle *b, struct bridge_config *c)
{
	const char *v = rt_annotation(b, RT_ANN_PORTS);
	int ret = 0;

	memset(c, 0, sizeof(*c));
	c->allow_remote = true;
	while (v && *v && !ret) {
		const char *end = strchr(v, ',');
		size_t len = end ? (size_t)(end - v) : strlen(v);

		ret = add_rule(c, v, len);
		v = end ? end + 1 : NULL;
	}
	return ret ? ret : bridge_config_check(c);
}
