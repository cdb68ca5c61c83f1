// SPDX-License-Identifier: MIT
/*
 * nitrovm vhost-user-vsock: nitrovm's vhost-user-vsock backend, with rust-vmm vhost-device-vsock's own command
 * line, so QEMU's nitro-enclave page (docs/system/i386/nitro-enclave.rst) runs with nitrovm in its place:
 *
 *   nitrovm vhost-user-vsock --vm guest-cid=4,forward-cid=1,forward-listen=9001+9002,socket=/tmp/vhost4.socket
 *   nitrovm vhost-user-vsock --vm guest-cid=4,uds-path=/tmp/vm4.vsock,socket=/tmp/vhost4.socket [--vm ...]
 *   nitrovm vhost-user-vsock --guest-cid 4 --uds-path /tmp/vm4.vsock --socket /tmp/vhost4.socket
 *
 * Unlike vhost-device-vsock, it also answers the enclave's heartbeat on parent port 9000 (heartbeat=off leaves
 * the port to forward-cid or uds-path, where the page's own responder would be).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/evloop.h"
#include "common/util.h"
#include "vhost/vhost.h"

#define VHOST_MAX_VMS 8

struct vm_opts {
	struct vhost_vsock_config c;
	char *spec; /* the --vm value, split in place */
};

static void usage(void)
{
	printf("Usage: nitrovm vhost-user-vsock --vm guest-cid=N,socket=PATH[,uds-path=PATH][,forward-cid=CID]\n"
	       "                                     [,forward-listen=PORT+PORT...][,heartbeat=on|off] [--vm ...]\n"
	       "       nitrovm vhost-user-vsock --guest-cid N --socket PATH [--uds-path PATH] [--forward-cid CID]\n"
	       "                                [--forward-listen PORT+PORT...]\n\n"
	       "A vhost-user-vsock backend with rust-vmm vhost-device-vsock's command line: it listens on the\n"
	       "vhost-user socket PATH for a frontend (QEMU's -chardev socket,path=PATH with -M nitro-enclave,vsock=\n"
	       "or -device vhost-user-vsock-device; nitrovm's own -M nitro-enclave,vsock=) and serves its vsock\n"
	       "device with nitrovm's connection table and bridges. The enclave is guest-cid (4 or more); the\n"
	       "parent it talks to is CID 3.\n\n"
	       "  guest-cid=N         the guest's CID (4 or more)\n"
	       "  socket=PATH         the vhost-user socket (created; a stale socket file is replaced)\n"
	       "  uds-path=PATH       Firecracker's hybrid vsock: host clients connect to PATH and send\n"
	       "                      \"CONNECT <port>\\n\"; guest connections to parent port P go to PATH_P\n"
	       "  forward-cid=CID     guest connections to any other parent port P go to AF_VSOCK CID:P (1: this\n"
	       "                      host, through vsock_loopback)\n"
	       "  forward-listen=P+P  host AF_VSOCK connections to local port P (CID 1) go to the guest's port P\n"
	       "  heartbeat=on|off    answer the enclave's heartbeat on parent port 9000 (default on; off leaves\n"
	       "                      it to forward-cid or uds-path, as vhost-device-vsock does)\n"
	       "  tx-buffer-size=N, queue-size=N\n"
	       "                      accepted for vhost-device-vsock's command lines; nitrovm's buffers and\n"
	       "                      queues have their own fixed sizes (256 KiB a connection, 256 entries)\n");
}

static int parse_cid_value(const char *key, const char *v, uint64_t min, uint64_t *out)
{
	if (cli_parse_u64(v, out) < 0 || *out < min || *out > 0xfffffffeULL)
		return cli_fail(E_INVALID_ARGUMENT, "--vm %s=%s: a CID of %llu up to 4294967294 expected", key, v,
				(unsigned long long)min);
	return 0;
}

/* forward-listen=9001+9002: host AF_VSOCK port P (CID 1) to the guest's port P. */
static int parse_forward_listen(struct vhost_vsock_config *c, char *v)
{
	char *save = NULL, rule[64];

	for (char *p = strtok_r(v, "+", &save); p; p = strtok_r(NULL, "+", &save)) {
		uint64_t port;

		if (cli_parse_u64(p, &port) < 0 || port > 0xfffffffeULL)
			return cli_fail(E_INVALID_ARGUMENT, "--vm forward-listen: '%s' is not a port", p);
		snprintf(rule, sizeof(rule), "vsock:%llu=vsock:%llu", (unsigned long long)port, (unsigned long long)port);
		if (cli_bridge_option(&c->bridges, "forward-listen", rule) < 0)
			return cli_fail_err(E_INVALID_ARGUMENT);
	}
	return 0;
}

static int set_key(struct vm_opts *vm, char *key, char *val)
{
	struct vhost_vsock_config *c = &vm->c;
	uint64_t n;

	if (!strcmp(key, "guest-cid"))
		return parse_cid_value(key, val, 4, &c->guest_cid);
	if (!strcmp(key, "socket")) {
		c->socket = val;
		return 0;
	}
	if (!strcmp(key, "uds-path"))
		return bridge_config_set_uds(&c->bridges, val) < 0 ? cli_fail_err(E_INVALID_ARGUMENT) : 0;
	if (!strcmp(key, "forward-cid")) {
		if (parse_cid_value(key, val, 1, &n))
			return E_INVALID_ARGUMENT;
		c->forward_cid = (uint32_t)n;
		return 0;
	}
	if (!strcmp(key, "forward-listen"))
		return parse_forward_listen(c, val);
	if (!strcmp(key, "heartbeat")) {
		if (strcmp(val, "on") && strcmp(val, "off"))
			return cli_fail(E_INVALID_ARGUMENT, "--vm heartbeat=%s: on or off", val);
		c->heartbeat = !strcmp(val, "on");
		return 0;
	}
	if (!strcmp(key, "tx-buffer-size") || !strcmp(key, "queue-size")) {
		if (cli_parse_u64(val, &n) < 0 || !n)
			return cli_fail(E_INVALID_ARGUMENT, "--vm: '%s' is not a size", val);
		return 0;
	}
	if (!strcmp(key, "groups"))
		return cli_fail(E_INVALID_ARGUMENT, "--vm groups=%s: sibling-VM groups are not offered: an enclave talks to its parent only",
				val);
	return cli_fail(E_INVALID_ARGUMENT, "unknown --vm key '%s' (known: guest-cid, socket, uds-path, forward-cid, forward-listen, "
			"heartbeat, tx-buffer-size, queue-size)", key);
}

static int parse_vm(struct vm_opts *vm, const char *v)
{
	char *save = NULL;
	int ret = 0;

	vm->spec = strdup(v);
	if (!vm->spec)
		return cli_fail(E_UNSPECIFIED, "out of memory");
	for (char *t = strtok_r(vm->spec, ",", &save); t && !ret; t = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(t, '=');

		if (!eq)
			return cli_fail(E_INVALID_ARGUMENT, "--vm: '%s' is not key=value", t);
		*eq = '\0';
		ret = set_key(vm, t, eq + 1);
	}
	return ret;
}

static int check_vm(const struct vm_opts *vm, unsigned int i, const struct vm_opts *all)
{
	if (!vm->c.guest_cid || !vm->c.socket)
		return cli_fail(E_MISSING_ARGUMENT, "--vm needs guest-cid= and socket= (nitrovm vhost-user-vsock --help)");
	for (unsigned int j = 0; j < i; j++) {
		if (all[j].c.guest_cid == vm->c.guest_cid)
			return cli_fail(E_INVALID_ARGUMENT, "guest-cid %llu is given to two VMs",
					(unsigned long long)vm->c.guest_cid);
		if (!strcmp(all[j].c.socket, vm->c.socket))
			return cli_fail(E_INVALID_ARGUMENT, "socket %s is given to two VMs", vm->c.socket);
	}
	if (cli_bridge_check(&vm->c.bridges) < 0)
		return cli_fail_err(E_INVALID_ARGUMENT);
	return 0;
}

/* The single-VM form: --guest-cid N --socket PATH ... as one --vm. */
static int single_vm_option(const char *name, const char *v, struct vm_opts *vm)
{
	char *key = strdup(name), *val = strdup(v);
	int ret;

	if (!key || !val) {
		free(key);
		free(val);
		return cli_fail(E_UNSPECIFIED, "out of memory");
	}
	ret = set_key(vm, key, val);
	free(key);
	/* val stays: the configuration points into it for the life of the process. */
	return ret;
}

static volatile sig_atomic_t stopping;

static void on_signal(void *opaque, int signo)
{
	(void)signo;
	stopping = 1;
	evloop_stop(opaque);
}

static int serve(struct vm_opts *vms, unsigned int n)
{
	struct vhost_vsock_backend *b[VHOST_MAX_VMS] = { 0 };
	struct evloop *loop;
	int ret = 0;

	if (evloop_block_signals() < 0 || !(loop = evloop_create()) || evloop_watch_signals(loop, on_signal, loop) < 0)
		return cli_fail_err(E_EPOLL);
	signal(SIGPIPE, SIG_IGN);
	for (unsigned int i = 0; i < n && !ret; i++) {
		b[i] = vhost_vsock_backend_start(loop, &vms[i].c);
		if (!b[i])
			ret = cli_fail(E_SOCKET, "vhost-user-vsock CID %llu: %s", (unsigned long long)vms[i].c.guest_cid,
				       err_msg());
		else
			fprintf(stderr, "nitrovm vhost-user-vsock: CID %llu on %s%s\n",
				(unsigned long long)vms[i].c.guest_cid, vms[i].c.socket,
				vms[i].c.heartbeat ? " (answering the heartbeat on parent port 9000)" : "");
	}
	if (!ret && evloop_run(loop) < 0)
		ret = cli_fail_err(E_EPOLL);
	for (unsigned int i = 0; i < n; i++)
		vhost_vsock_backend_stop(b[i]);
	evloop_destroy(loop);
	return ret;
}

int cmd_vhost_user_vsock(int argc, char **argv)
{
	struct vm_opts vms[VHOST_MAX_VMS] = { 0 }, single = { .c = { .heartbeat = true } };
	unsigned int n = 0;
	bool single_used = false;
	int ret = 0;

	if (cli_help_requested(argc, argv)) {
		usage();
		return 0;
	}
	for (int i = 1; i < argc && !ret; i++) {
		const char *opt = argv[i], *name = opt + (opt[0] == '-' && opt[1] == '-' ? 2 : 0);
		const char *eq = strchr(name, '='), *val;
		char key[32];

		if (name == opt)
			return cli_fail(E_INVALID_ARGUMENT, "'%s' is not an option (nitrovm vhost-user-vsock --help)", opt);
		/* --vm X and --vm=X alike, as clap takes them. */
		if (eq) {
			snprintf(key, sizeof(key), "%.*s", (int)(eq - name), name);
			val = eq + 1;
		} else {
			snprintf(key, sizeof(key), "%s", name);
			if (i + 1 >= argc)
				return cli_fail(E_INVALID_ARGUMENT, "option %s needs a value", opt);
			val = argv[++i];
		}
		if (!strcmp(key, "vm")) {
			if (n == VHOST_MAX_VMS)
				return cli_fail(E_INVALID_ARGUMENT, "at most %d --vm", VHOST_MAX_VMS);
			vms[n].c.heartbeat = true;
			ret = parse_vm(&vms[n++], val);
		} else if (!strcmp(key, "config")) {
			ret = cli_fail(E_INVALID_ARGUMENT, "--config %s: nitrovm takes the VMs on the command line (--vm), not from a YAML file",
				       val);
		} else {
			single_used = true;
			ret = single_vm_option(key, val, &single);
		}
	}
	if (!ret && single_used) {
		if (n)
			ret = cli_fail(E_CONFLICTING_ARGUMENT, "give the VMs either as --vm or as --guest-cid/--socket/..., "
								"not both");
		else
			vms[n++] = single;
	}
	if (!ret && !n)
		ret = cli_fail(E_MISSING_ARGUMENT, "no VM to serve: give --vm guest-cid=N,socket=PATH");
	for (unsigned int i = 0; i < n && !ret; i++)
		ret = check_vm(&vms[i], i, vms);
	if (!ret)
		ret = serve(vms, n);
	for (unsigned int i = 0; i < n; i++)
		free(vms[i].spec);
	return ret;
}
