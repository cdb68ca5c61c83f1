// SPDX-License-Identifier: MIT
/*
 * The bridges' configuration (bridge.h) from text: host addresses and rules in the forms the commands take
 * ("tcp:ADDR:PORT=vsock:PORT"...).  The options that carry them and their names are the commands' (src/cli).
 */
#include "vsock/bridge_impl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <linux/vm_sockets.h>

#include "common/util.h"
#include "vsock/vsock.h"

static int parse_port(const char *s, uint32_t *port, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (!*s || *end || errno || v > UINT32_MAX || s[0] == '-')
		return err_set(EINVAL, "%s: '%s' is not a port number", what, s);
	*port = (uint32_t)v;
	return 0;
}

int bridge_addr_unix(struct bridge_addr *a, const char *path)
{
	struct sockaddr_un *un = (struct sockaddr_un *)&a->sa;

	memset(a, 0, sizeof(*a));
	if (!path[0] || strlen(path) >= sizeof(un->sun_path))
		return err_set(EINVAL, "Unix socket path '%s' is empty or longer than %zu bytes", path,
			       sizeof(un->sun_path) - 1);
	a->kind = BRIDGE_ADDR_UNIX;
	un->sun_family = AF_UNIX;
	strcpy(un->sun_path, path);
	a->salen = sizeof(*un);
	snprintf(a->text, sizeof(a->text), "unix:%s", path);
	return 0;
}

static int parse_tcp(struct bridge_addr *a, const char *spec)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *hs = spec;
	size_t hl;
	uint32_t port;
	int ret;

	/* [v6]:port or v4:port or name:port */
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');

		if (!close || close[1] != ':')
			return err_set(EINVAL, "tcp:%s: expected tcp:[IPv6]:PORT", spec);
		hs = spec + 1;
		hl = (size_t)(close - hs);
		colon = close + 1;
	} else {
		colon = strrchr(spec, ':');
		if (!colon)
			return err_set(EINVAL, "tcp:%s: expected tcp:ADDRESS:PORT", spec);
		hl = (size_t)(colon - spec);
	}
	if (!hl || hl >= sizeof(host))
		return err_set(EINVAL, "tcp:%s: no address, or an address that is too long", spec);
	memcpy(host, hs, hl);
	host[hl] = '\0';
	if (parse_port(colon + 1, &port, "tcp") < 0 || port > 65535 || !port)
		return err_set(EINVAL, "tcp:%s: the port must be 1-65535", spec);
	ret = getaddrinfo(host, colon + 1, &hints, &res);
	if (ret || !res)
		return err_set(EINVAL, "tcp:%s: cannot resolve '%s': %s", spec, host, gai_strerror(ret));
	memcpy(&a->sa, res->ai_addr, res->ai_addrlen);
	a->salen = res->ai_addrlen;
	freeaddrinfo(res);
	a->kind = BRIDGE_ADDR_TCP;
	return 0;
}

static int parse_vsock(struct bridge_addr *a, const char *spec, bool cid_allowed)
{
	struct sockaddr_vm *vm = (struct sockaddr_vm *)&a->sa;
	const char *colon = strchr(spec, ':');
	uint32_t cid = VSOCK_CID_LOCAL, port;

	if (colon) {
		char c[16];

		if (!cid_allowed)
			return err_set(EINVAL, "vsock:%s: give only the port here", spec);
		if ((size_t)(colon - spec) >= sizeof(c))
			return err_set(EINVAL, "vsock:%s: bad CID", spec);
		memcpy(c, spec, (size_t)(colon - spec));
		c[colon - spec] = '\0';
		if (parse_port(c, &cid, "vsock CID") < 0)
			return -EINVAL;
		spec = colon + 1;
	}
	if (parse_port(spec, &port, "vsock") < 0)
		return -EINVAL;
	a->kind = BRIDGE_ADDR_VSOCK;
	a->cid = cid;
	a->port = port;
	vm->svm_family = AF_VSOCK;
	/* As a listener: any local CID (the host's own, or 1 through vsock_loopback). */
	vm->svm_cid = cid;
	vm->svm_port = port;
	a->salen = sizeof(*vm);
	return 0;
}

static int bridge_addr_parse(struct bridge_addr *a, const char *text, bool vsock_cid_allowed)
{
	int ret;

	memset(a, 0, sizeof(*a));
	if (!strncmp(text, "tcp:", 4))
		ret = parse_tcp(a, text + 4);
	else if (!strncmp(text, "unix:", 5))
		ret = bridge_addr_unix(a, text + 5);
	else if (!strncmp(text, "vsock:", 6))
		ret = parse_vsock(a, text + 6, vsock_cid_allowed);
	else
		ret = err_set(EINVAL, "'%s' is not tcp:ADDR:PORT, unix:PATH or vsock:[CID:]PORT", text);
	if (!ret)
		snprintf(a->text, sizeof(a->text), "%s", text);
	return ret;
}

/* "vsock:PORT" as the enclave side of a rule. */
static int parse_enclave_port(const char *text, uint32_t *port)
{
	if (strncmp(text, "vsock:", 6))
		return err_set(EINVAL, "'%s': the enclave side is vsock:PORT", text);
	return parse_port(text + 6, port, "vsock");
}

int bridge_config_add_rule(struct bridge_config *c, enum bridge_dir dir, const char *rule)
{
	struct bridge_rule *r;
	const char *eq = strchr(rule, '=');
	char left[256];
	int ret;

	if (c->nrules == BRIDGE_MAX_RULES)
		return err_set(EINVAL, "at most %d bridges", BRIDGE_MAX_RULES);
	if (!eq || (size_t)(eq - rule) >= sizeof(left))
		return err_set(EINVAL, "expected %s", dir == BRIDGE_TO_ENCLAVE ? "HOST=vsock:PORT" : "vsock:PORT=HOST");
	memcpy(left, rule, (size_t)(eq - rule));
	left[eq - rule] = '\0';
	r = &c->rules[c->nrules];
	r->dir = dir;
	if (dir == BRIDGE_TO_ENCLAVE) {
		ret = bridge_addr_parse(&r->host, left, false);
		if (!ret)
			ret = parse_enclave_port(eq + 1, &r->vsock_port);
		if (!ret && r->host.kind == BRIDGE_ADDR_VSOCK)
			((struct sockaddr_vm *)&r->host.sa)->svm_cid = VMADDR_CID_ANY;
	} else {
		ret = parse_enclave_port(left, &r->vsock_port);
		if (!ret)
			ret = bridge_addr_parse(&r->host, eq + 1, true);
	}
	if (ret < 0)
		return ret;
	c->nrules++;
	return 0;
}

int bridge_config_set_uds(struct bridge_config *c, const char *path)
{
	struct bridge_addr a;

	if (c->uds_path)
		return err_set(EINVAL, "the Unix-socket vsock is set already (to %s)", c->uds_path);
	if (bridge_addr_unix(&a, path) < 0)
		return -EINVAL;
	c->uds_path = path;
	return 0;
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;

		if (IN6_IS_ADDR_LOOPBACK(a))
			return true;
		return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
	}
	return false;
}

int bridge_config_check(const struct bridge_config *c)
{
	for (unsigned int i = 0; i < c->nrules; i++) {
		const struct bridge_rule *r = &c->rules[i];

		if (r->host.kind == BRIDGE_ADDR_TCP && !c->allow_remote && !is_loopback(&r->host.sa))
			return err_set(EINVAL, "%s is not a loopback address: bridges default to this host only",
				       r->host.text);
	}
	return 0;
}
