// SPDX-License-Identifier: MIT
/*
 * The QEMU-style front end's option grammar (qemu.h).  Each option's value is copied and split in place; the
 * fields of struct qemu_args point into those copies until qemu_args_free().
 */
#include "qemu.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/util.h"
#include "nsm/nsm.h"

#define QEMU_MACHINE	   "nitro-enclave"
#define QEMU_NITRO_MACHINE "nitro" /* QEMU's docs/system/nitro.rst: -accel nitro -M nitro, the Nitro hypervisor */

static char *own(struct qemu_args *a, const char *v)
{
	char *c;

	if (a->nowned == QEMU_MAX_OWNED) {
		cli_fail(E_INVALID_ARGUMENT, "more than %d options with values: that is not a command line nitrovm "
					     "expects", QEMU_MAX_OWNED);
		return NULL;
	}
	c = strdup(v);
	if (!c) {
		cli_fail(E_UNSPECIFIED, "out of memory");
		return NULL;
	}
	a->owned[a->nowned++] = c;
	return c;
}

/*
 * The next item of a key=value list.  The first item may be a bare value, which is returned with *key = NULL.
 * An item without '=' later in the list is a flag (QEMU reads "x" as x=on): *val = "on".
 */
static bool next_item(char **save, char *spec, char **key, char **val)
{
	char *tok = strtok_r(spec, ",", save), *eq;

	if (!tok)
		return false;
	eq = strchr(tok, '=');
	if (eq) {
		*eq = '\0';
		*key = tok;
		*val = eq + 1;
	} else if (spec) {
		*key = NULL;
		*val = tok;
	} else {
		*key = tok;
		*val = "on";
	}
	return true;
}

static int parse_bool(const char *opt, const char *key, const char *v, bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes")) {
		*out = true;
		return 0;
	}
	if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "no")) {
		*out = false;
		return 0;
	}
	return cli_fail(E_INVALID_ARGUMENT, "%s %s=%s: expected on or off", opt, key, v);
}

static int parse_accel_name(const char *v, struct qemu_args *a)
{
	if (!strcmp(v, "kvm"))
		return 0;
	if (!strcmp(v, "nitro")) {
		a->accel_nitro = true;
		return 0;
	}
	if (!strcmp(v, "tcg"))
		return cli_fail(E_INVALID_ARGUMENT, "accelerator %s: an enclave runs on KVM (-accel kvm, with -M nitro-enclave) or on the "
				  "Nitro hypervisor (-accel nitro, with -M nitro), never emulated", v);
	return cli_fail(E_INVALID_ARGUMENT, "unknown accelerator '%s': nitrovm knows -accel kvm (with -M nitro-enclave) and -accel nitro "
			  "(with -M nitro)", v);
}

static int parse_guest_cid(const char *v, struct qemu_args *a)
{
	uint64_t cid;

	if (cli_parse_u64(v, &cid) < 0)
		return cli_fail(E_INVALID_ARGUMENT, "machine option guest-cid=%s is not a number", v);
	if (cid < QEMU_GUEST_CID_MIN || cid > QEMU_GUEST_CID_MAX)
		return cli_fail(E_INVALID_ARGUMENT, "Nitro enclave machine option 'guest-cid' must be set with a value greater than or "
				  "equal to 4 (and below 4294967295), not %s", v);
	a->guest_cid = cid;
	return 0;
}

static int parse_machine_type(const char *type, struct qemu_args *a)
{
	a->machine_given = true;
	if (!strcmp(type, QEMU_NITRO_MACHINE)) {
		a->machine_nitro = true;
		return 0;
	}
	if (strcmp(type, QEMU_MACHINE))
		return cli_fail(E_INVALID_ARGUMENT, "unknown machine type '%s': use -M nitro-enclave (emulated, -accel kvm) or -M nitro "
				  "(the Nitro hypervisor, -accel nitro)", type);
	a->machine_nitro = false;
	return 0;
}

/*
 * -M nitro-enclave[,guest-cid=N][,acpi=on|off][,rng=on|off][,hugepages=on|off][,id=ID][,parent-role=ARN]
 *    [,parent-id=ID][,boot-path=host|decompressor][,accel=kvm|nitro][,memory-backend=ID]
 * Given more than once, the options add up (a later value wins), as in QEMU.
 */
static int parse_machine(const char *v, struct qemu_args *a)
{
	char *spec = own(a, v), *save = NULL, *key, *val;
	int ret = 0;

	if (!spec)
		return E_INVALID_ARGUMENT;
	for (char *s = spec; !ret && next_item(&save, s, &key, &val); s = NULL) {
		if (!key || !strcmp(key, "type"))
			ret = parse_machine_type(val, a);
		else if (!strcmp(key, "guest-cid"))
			ret = parse_guest_cid(val, a);
		else if (!strcmp(key, "accel"))
			ret = parse_accel_name(val, a);
		else if (!strcmp(key, "memory-backend"))
			a->memory_backend = val;
		else if (!strcmp(key, "vsock"))
			a->vsock_chardev = val;
		else if (!strcmp(key, "acpi"))
			ret = parse_bool("-M", key, val, &a->acpi);
		else if (!strcmp(key, "rng"))
			ret = parse_bool("-M", key, val, &a->rng);
		else if (!strcmp(key, "hugepages"))
			ret = parse_bool("-M", key, val, &a->hugepages);
		else if (!strcmp(key, "boot-path"))
			ret = cli_parse_boot_path(val, &a->boot_path);
		else if (!strcmp(key, "id")) {
			/* QEMU's enclave identifier: the NSM module_id (and here the enclave's name too). */
			if (nsm_check_parent_string("machine option id", val, NSM_MODULE_ID_MAX - 1) < 0)
				return cli_fail_err(E_INVALID_ARGUMENT);
			a->name = val;
			a->enclave_id = val;
		} else if (!strcmp(key, "parent-role")) {
			if (nsm_check_parent_string("machine option parent-role", val, NSM_PARENT_ROLE_MAX) < 0)
				return cli_fail_err(E_INVALID_ARGUMENT);
			a->parent_role = val;
		} else if (!strcmp(key, "parent-id")) {
			if (nsm_check_parent_string("machine option parent-id", val, NSM_PARENT_ID_MAX) < 0)
				return cli_fail_err(E_INVALID_ARGUMENT);
			a->parent_id = val;
		} else
			return cli_fail(E_INVALID_ARGUMENT, "unknown nitro-enclave machine option '%s' (known: guest-cid, vsock, acpi, rng, "
					  "hugepages, id, parent-role, parent-id, boot-path, accel, memory-backend)", key);
	}
	return ret;
}

/* -accel nitro[,debug-mode=on|off][,enclave-cid=N], the options of QEMU's nitro accelerator; -accel kvm. */
static int parse_accel(const char *v, struct qemu_args *a)
{
	char *spec = own(a, v), *save = NULL, *key, *val;
	int ret = 0;
	bool nitro = false;

	if (!spec)
		return E_INVALID_ARGUMENT;
	for (char *s = spec; !ret && next_item(&save, s, &key, &val); s = NULL) {
		if (!key || !strcmp(key, "accel")) {
			ret = parse_accel_name(val, a);
			nitro = !strcmp(val, "nitro");
		} else if (nitro && !strcmp(key, "debug-mode"))
			ret = parse_bool("-accel nitro", key, val, &a->debug_mode);
		else if (nitro && !strcmp(key, "enclave-cid")) {
			if (cli_parse_u64(val, &a->enclave_cid) < 0)
				return cli_fail(E_INVALID_ARGUMENT, "-accel nitro,enclave-cid=%s is not a number", val);
		} else
			return cli_fail(E_INVALID_ARGUMENT, nitro ? "unknown -accel nitro option '%s' (known: debug-mode, enclave-cid)"
						: "unknown -accel kvm option '%s' (it has none here)", key);
	}
	return ret;
}

static int parse_memory(const char *v, struct qemu_args *a)
{
	uint64_t bytes;
	char *spec = own(a, v), *save = NULL, *key, *val;

	if (!spec)
		return E_INVALID_ARGUMENT;
	for (char *s = spec; next_item(&save, s, &key, &val); s = NULL) {
		if (key && (!strcmp(key, "slots") || !strcmp(key, "maxmem")))
			return cli_fail(E_INVALID_ARGUMENT, "-m %s=: an enclave's memory is fixed when it starts; there is no memory to "
					  "plug in later", key);
		if (key && strcmp(key, "size"))
			return cli_fail(E_INVALID_ARGUMENT, "unknown -m option '%s' (known: size)", key);
		if (cli_parse_size(val, MiB, &bytes) < 0 || bytes < MiB)
			return cli_fail(E_INVALID_ARGUMENT, "-m '%s' is not a memory size (e.g. 512M or 2G)", val);
		a->memory_mib = bytes / MiB;
	}
	return 0;
}

/* One -smp count: a positive number. */
static int smp_count(const char *key, const char *v, uint64_t *out)
{
	if (cli_parse_u64(v, out) < 0)
		return cli_fail(E_INVALID_ARGUMENT, "-smp %s=%s is not a number", key, v);
	if (!*out)
		return cli_fail(E_INVALID_ARGUMENT, "-smp %s=0: CPU topology parameters must be greater than zero", key);
	if (*out > 4096)
		return cli_fail(E_INVALID_ARGUMENT, "-smp %s=%s is more than any machine has", key, v);
	return 0;
}

/*
 * -smp [cpus=]N[,sockets=S][,dies=1][,clusters=1][,cores=C][,threads=T][,maxcpus=M], with QEMU's (since 6.2)
 * rules for what is left out: cores before sockets, threads last, maxcpus = cpus, cpus = maxcpus; then
 * sockets * cores * threads must be maxcpus and cpus at most maxcpus.  The enclave gets cpus vCPUs; the
 * topology is only checked (there is no CPU hotplug to reserve maxcpus for).
 */
static int parse_smp(const char *v, struct qemu_args *a)
{
	uint64_t cpus = 0, sockets = 0, cores = 0, threads = 0, maxcpus = 0, one = 1, total;
	char *spec = own(a, v), *save = NULL, *key, *val;
	int ret = 0;

	if (!spec)
		return E_INVALID_ARGUMENT;
	for (char *s = spec; !ret && next_item(&save, s, &key, &val); s = NULL) {
		if (!key || !strcmp(key, "cpus"))
			ret = smp_count("cpus", val, &cpus);
		else if (!strcmp(key, "sockets"))
			ret = smp_count(key, val, &sockets);
		else if (!strcmp(key, "cores"))
			ret = smp_count(key, val, &cores);
		else if (!strcmp(key, "threads"))
			ret = smp_count(key, val, &threads);
		else if (!strcmp(key, "maxcpus"))
			ret = smp_count(key, val, &maxcpus);
		else if (!strcmp(key, "dies") || !strcmp(key, "clusters")) {
			ret = smp_count(key, val, &one);
			if (!ret && one != 1)
				return cli_fail(E_INVALID_ARGUMENT, "-smp %s=%s: an x86 enclave has one per socket", key,
						val);
		} else
			return cli_fail(E_INVALID_ARGUMENT, "unknown -smp option '%s' (known: cpus, sockets, cores, threads, maxcpus)", key);
	}
	if (ret)
		return ret;
	if (!cpus && !maxcpus) {
		sockets = sockets ? sockets : 1;
		cores = cores ? cores : 1;
		threads = threads ? threads : 1;
	} else {
		maxcpus = maxcpus ? maxcpus : cpus;
		if (!cores) {
			sockets = sockets ? sockets : 1;
			threads = threads ? threads : 1;
			cores = maxcpus / (sockets * threads);
		} else if (!sockets) {
			threads = threads ? threads : 1;
			sockets = maxcpus / (cores * threads);
		}
		if (!threads)
			threads = maxcpus / (sockets * cores);
	}
	total = sockets * cores * threads;
	maxcpus = maxcpus ? maxcpus : total;
	cpus = cpus ? cpus : maxcpus;
	if (total != maxcpus)
		return cli_fail(E_INVALID_ARGUMENT, "-smp %s: invalid CPU topology: sockets (%llu) * cores (%llu) * threads "
				"(%llu) != maxcpus (%llu)", v, (unsigned long long)sockets, (unsigned long long)cores,
				(unsigned long long)threads, (unsigned long long)maxcpus);
	if (maxcpus < cpus)
		return cli_fail(E_INVALID_ARGUMENT, "-smp %s: invalid CPU topology: maxcpus (%llu) must be equal to or "
				"greater than the CPU count (%llu)", v, (unsigned long long)maxcpus,
				(unsigned long long)cpus);
	if (cpus > HV_MAX_VCPUS)
		return cli_fail(E_INVALID_ARGUMENT, "-smp %s: at most %d vCPUs", v, HV_MAX_VCPUS);
	a->cpus = cpus;
	return 0;
}

static int parse_initrd(const char *v, struct qemu_args *a)
{
	char *list = own(a, v), *save = NULL;

	if (!list)
		return E_INVALID_ARGUMENT;
	a->ninitrd = 0;
	for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (a->ninitrd == QEMU_MAX_INITRDS)
			return cli_fail(E_INVALID_ARGUMENT, "-initrd takes at most %d files", QEMU_MAX_INITRDS);
		a->initrd[a->ninitrd++] = t;
	}
	return 0;
}

/* -name [guest=]NAME[,process=P][,debug-threads=on|off] */
static int parse_name(const char *v, struct qemu_args *a)
{
	char *spec = own(a, v), *save = NULL, *key, *val;
	bool b;

	if (!spec)
		return E_INVALID_ARGUMENT;
	for (char *s = spec; next_item(&save, s, &key, &val); s = NULL) {
		if (!key || !strcmp(key, "guest"))
			a->name = val;
		else if (!strcmp(key, "debug-threads")) {
			if (parse_bool("-name", key, val, &b))
				return E_INVALID_ARGUMENT;
		} else if (strcmp(key, "process"))
			return cli_fail(E_INVALID_ARGUMENT, "unknown -name option '%s' (known: guest, process, debug-threads)", key);
	}
	return 0;
}

/* The -chardev with this id, or NULL. */
static const struct qemu_chardev *qemu_find_chardev(const struct qemu_args *a, const char *id)
{
	for (unsigned int i = 0; i < a->nchardev; i++)
		if (!strcmp(a->chardev[i].id, id))
			return &a->chardev[i];
	return NULL;
}

/* -chardev BACKEND,id=ID[,path=P][,host=H,port=N][,server=on|off][,wait=on|off][,mux=on|off][,logfile=...] */
static int parse_chardev(const char *v, struct qemu_args *a)
{
	char *spec = own(a, v), *save = NULL, *key, *val;
	struct qemu_chardev c = { .wait = true };
	const char *backend = NULL;
	bool b;

	if (!spec)
		return E_INVALID_ARGUMENT;
	for (char *s = spec; next_item(&save, s, &key, &val); s = NULL) {
		if (!key || !strcmp(key, "backend"))
			backend = val;
		else if (!strcmp(key, "id"))
			c.id = val;
		else if (!strcmp(key, "path"))
			c.path = val;
		else if (!strcmp(key, "host"))
			c.host = val;
		else if (!strcmp(key, "port"))
			c.port = val;
		else if (!strcmp(key, "server")) {
			if (parse_bool("-chardev", key, val, &c.server))
				return E_INVALID_ARGUMENT;
		} else if (!strcmp(key, "wait")) {
			if (parse_bool("-chardev", key, val, &c.wait))
				return E_INVALID_ARGUMENT;
		} else if (!strcmp(key, "mux") || !strcmp(key, "signal")) {
			if (parse_bool("-chardev", key, val, &b))
				return E_INVALID_ARGUMENT;
		} else
			return cli_fail(E_INVALID_ARGUMENT, "unknown -chardev option '%s' (known: id, path, host, port, server, wait, mux)",
					  key);
	}
	if (!backend || !c.id)
		return cli_fail(E_INVALID_ARGUMENT, "-chardev %s: give a backend and an id (-chardev socket,id=ID,path=PATH)", v);
	if (qemu_find_chardev(a, c.id))
		return cli_fail(E_INVALID_ARGUMENT, "-chardev: duplicate chardev id '%s'", c.id);
	if (a->nchardev == QEMU_MAX_CHARDEVS)
		return cli_fail(E_INVALID_ARGUMENT, "at most %d -chardev options", QEMU_MAX_CHARDEVS);
	if (!strcmp(backend, "null"))
		c.backend = QEMU_CHR_NULL;
	else if (!strcmp(backend, "stdio"))
		c.backend = QEMU_CHR_STDIO;
	else if (!strcmp(backend, "file")) {
		c.backend = QEMU_CHR_FILE;
		if (!c.path)
			return cli_fail(E_INVALID_ARGUMENT, "-chardev file,id=%s needs path=FILE", c.id);
	} else if (!strcmp(backend, "socket")) {
		c.backend = QEMU_CHR_SOCKET;
		if (!c.path == !(c.host || c.port))
			return cli_fail(E_INVALID_ARGUMENT, "-chardev socket,id=%s needs path=PATH (a Unix socket) or host=,port= (TCP)",
					  c.id);
	} else
		return cli_fail(E_INVALID_ARGUMENT, "-chardev %s: nitrovm's chardev backends are socket, file, stdio and null", backend);
	a->chardev[a->nchardev++] = c;
	return 0;
}

/* -object memory-backend-memfd,id=ID,size=S[,share=on|off][,hugetlb=on|off][,hugetlbsize=...][,seal=...] */
static int parse_object(const char *v, struct qemu_args *a)
{
	char *spec = own(a, v), *save = NULL, *key, *val;
	struct qemu_memory_object o = { 0 };
	const char *type = NULL;
	bool b;

	if (!spec)
		return E_INVALID_ARGUMENT;
	for (char *s = spec; next_item(&save, s, &key, &val); s = NULL) {
		if (!key || !strcmp(key, "qom-type")) {
			type = val;
			if (strcmp(type, "memory-backend-memfd"))
				break;
		} else if (!strcmp(key, "id"))
			o.id = val;
		else if (!strcmp(key, "size")) {
			if (cli_parse_size(val, 1, &o.size) < 0 || o.size < MiB)
				return cli_fail(E_INVALID_ARGUMENT, "-object size=%s is not a memory size (e.g. 512M)", val);
		} else if (!strcmp(key, "share")) {
			if (parse_bool("-object", key, val, &o.share))
				return E_INVALID_ARGUMENT;
		} else if (!strcmp(key, "hugetlb")) {
			if (parse_bool("-object", key, val, &o.hugetlb))
				return E_INVALID_ARGUMENT;
		} else if (!strcmp(key, "seal") || !strcmp(key, "prealloc") || !strcmp(key, "merge") ||
			   !strcmp(key, "dump")) {
			if (parse_bool("-object", key, val, &b))
				return E_INVALID_ARGUMENT;
		} else if (strcmp(key, "hugetlbsize"))
			return cli_fail(E_INVALID_ARGUMENT, "unknown memory-backend-memfd option '%s' (known: id, size, share, hugetlb)", key);
	}
	if (!type || strcmp(type, "memory-backend-memfd")) {
		if (type && (!strcmp(type, "memory-backend-ram") || !strcmp(type, "memory-backend-file")))
			return cli_fail(E_INVALID_ARGUMENT, "-object %s: an enclave's memory is always a memfd (use memory-backend-memfd)",
					  type);
		return cli_fail(E_INVALID_ARGUMENT, "-object %s: nitrovm knows only memory-backend-memfd objects", type ? type : v);
	}
	if (!o.id || !o.size)
		return cli_fail(E_INVALID_ARGUMENT, "-object %s: give id= and size=", v);
	if (a->nobject == QEMU_MAX_OBJECTS)
		return cli_fail(E_INVALID_ARGUMENT, "at most %d -object options", QEMU_MAX_OBJECTS);
	a->object[a->nobject++] = o;
	return 0;
}

/* -numa node[,memdev=ID][,nodeid=0]: one node, whose memory is the machine's. */
static int parse_numa(const char *v, struct qemu_args *a)
{
	char *spec = own(a, v), *save = NULL, *key, *val;

	if (!spec)
		return E_INVALID_ARGUMENT;
	for (char *s = spec; next_item(&save, s, &key, &val); s = NULL) {
		if (!key) {
			if (strcmp(val, "node"))
				return cli_fail(E_INVALID_ARGUMENT, "-numa %s: an enclave has one NUMA node (-numa node,memdev=ID)", val);
		} else if (!strcmp(key, "memdev")) {
			if (a->memory_backend && strcmp(a->memory_backend, val))
				return cli_fail(E_INVALID_ARGUMENT, "-numa node,memdev=%s: an enclave has one NUMA node, and so one memory "
						  "backend", val);
			a->memory_backend = val;
		} else if (!strcmp(key, "nodeid")) {
			if (strcmp(val, "0"))
				return cli_fail(E_INVALID_ARGUMENT, "-numa node,nodeid=%s: an enclave has one NUMA node (0)", val);
		} else if (strcmp(key, "cpus"))
			return cli_fail(E_INVALID_ARGUMENT, "unknown -numa option '%s' (known: memdev, nodeid, cpus)", key);
	}
	return 0;
}

/* -serial none|null|stdio|mon:stdio|file:PATH|chardev:ID; the enclave has one serial port. */
static int parse_serial(const char *v, struct qemu_args *a)
{
	if (a->serial_given)
		return cli_fail(E_INVALID_ARGUMENT, "-serial %s: the enclave has one serial port, and -serial was given already", v);
	a->serial_given = true;
	if (!strcmp(v, "none") || !strcmp(v, "null")) {
		a->serial = QEMU_SERIAL_NONE;
	} else if (!strcmp(v, "stdio") || !strcmp(v, "mon:stdio")) {
		a->serial = QEMU_SERIAL_STDIO;
	} else if (!strncmp(v, "file:", 5) && v[5]) {
		a->serial = QEMU_SERIAL_FILE;
		a->serial_path = v + 5;
	} else if (!strncmp(v, "chardev:", 8) && v[8]) {
		a->serial_chardev = v + 8; /* resolved once every -chardev is known */
	} else
		return cli_fail(E_INVALID_ARGUMENT, "-serial %s: the console goes to none, stdio, mon:stdio, file:PATH or chardev:ID", v);
	return 0;
}

/*
 * -qmp unix:PATH[,server=on][,wait=on|off] or tcp:[HOST]:PORT[,...]: a QMP server socket.  QEMU's server=off
 * would connect out instead; nitrovm only listens.  As in QEMU, wait is on unless wait=off (or nowait).
 */
static int parse_qmp(const char *v, struct qemu_args *a)
{
	struct qmp_listen_addr *q = &a->qmp[a->nqmp];
	char *spec, *save = NULL, *key, *val, *colon;
	bool server = true;

	if (a->nqmp == QMP_LISTEN_MAX)
		return cli_fail(E_INVALID_ARGUMENT, "-qmp %s: at most two QMP sockets", v);
	if (strncmp(v, "unix:", 5) && strncmp(v, "tcp:", 4))
		return cli_fail(E_INVALID_ARGUMENT, "-qmp %s: QMP listens on unix:PATH,server=on,wait=off or tcp:HOST:PORT,server=on,"
				  "wait=off", v);
	spec = own(a, v);
	if (!spec)
		return E_INVALID_ARGUMENT;
	*q = (struct qmp_listen_addr){ .wait = true };
	for (char *s = spec; next_item(&save, s, &key, &val); s = NULL) {
		if (!key && !strncmp(val, "unix:", 5) && val[5]) {
			q->path = val + 5;
		} else if (!key && !strncmp(val, "tcp:", 4) && (colon = strrchr(val + 4, ':')) && colon[1]) {
			*colon = '\0';
			q->host = val + 4;
			q->port = colon + 1;
		} else if (!key) {
			return cli_fail(E_INVALID_ARGUMENT, "-qmp %s: give unix:PATH or tcp:HOST:PORT", v);
		} else if (!strcmp(key, "server")) {
			if (parse_bool("-qmp", key, val, &server))
				return E_INVALID_ARGUMENT;
		} else if (!strcmp(key, "wait")) {
			if (parse_bool("-qmp", key, val, &q->wait))
				return E_INVALID_ARGUMENT;
		} else if (!strcmp(key, "nowait")) {
			q->wait = false;
		} else
			return cli_fail(E_INVALID_ARGUMENT, "unknown -qmp option '%s' (known: server, wait)", key);
	}
	if (!server)
		return cli_fail(E_INVALID_ARGUMENT, "-qmp %s: nitrovm serves QMP (server=on); it does not connect to a client", v);
	a->nqmp++;
	return 0;
}

/*
 * QEMU's -sandbox on|off[,obsolete=...,elevateprivileges=...,spawn=...,resourcecontrol=...]: nitrovm's allow-lists
 * are on by default and already deny what those sub-options can deny, so only on and off change anything.
 */
static int parse_sandbox(const char *v, struct qemu_args *a)
{
	size_t n = strcspn(v, ",");

	if (n == 2 && !strncmp(v, "on", 2))
		a->no_sandbox = false;
	else if (n == 3 && !strncmp(v, "off", 3))
		a->no_sandbox = true;
	else
		return cli_fail(E_INVALID_ARGUMENT, "-sandbox %s: use -sandbox on (the default: system-call allow-lists) or -sandbox off",
				  v);
	return 0;
}

/* QEMU's -runas USER, and USER:GROUP as its -run-with user= takes it. */
static int parse_runas(const char *v, struct qemu_args *a)
{
	a->runas = v;
	return 0;
}

static int parse_simple(const char *opt, const char *v, struct qemu_args *a)
{
	if (!strcmp(opt, "-monitor")) {
		if (strcmp(v, "none"))
			return cli_fail(E_INVALID_ARGUMENT, "-monitor %s: nitrovm has no human monitor (HMP); -qmp gives QMP, and "
					  "describe-enclaves, console and terminate-enclave do the rest", v);
	} else if (!strcmp(opt, "-vga")) {
		if (strcmp(v, "none"))
			return cli_fail(E_INVALID_ARGUMENT, "-vga %s: an enclave has no display; its console is the serial port", v);
	} else if (!strcmp(opt, "-display")) {
		if (strcmp(v, "none"))
			return cli_fail(E_INVALID_ARGUMENT, "-display %s: the enclave has no display (use -display none or -nographic)", v);
	} else if (!strcmp(opt, "-parallel")) {
		if (strcmp(v, "none"))
			return cli_fail(E_INVALID_ARGUMENT, "-parallel %s: an enclave has no parallel port", v);
	} else if (!strcmp(opt, "-pidfile")) {
		a->pidfile = v;
	} else if (!strcmp(opt, "-cpu")) {
		/* -cpu host is what the documents give; the vCPUs are the host's (with KVM's filtering) whatever it says. */
	}
	return 0;
}

/* Options with a value, and what takes them. */
static const struct {
	const char *name;
	int (*parse)(const char *v, struct qemu_args *a);
} value_opts[] = {
	{ "-M", parse_machine },	 { "-machine", parse_machine }, { "-accel", parse_accel },
	{ "-m", parse_memory },		 { "-smp", parse_smp },		{ "-initrd", parse_initrd },
	{ "-name", parse_name },	 { "-chardev", parse_chardev }, { "-object", parse_object },
	{ "-numa", parse_numa },	 { "-serial", parse_serial },	{ "-qmp", parse_qmp },
	{ "-sandbox", parse_sandbox },	 { "-runas", parse_runas },
};

/* Options with a value that need the option's name, handled by parse_simple. */
static const char *const simple_opts[] = { "-monitor", "-vga", "-display", "-parallel", "-pidfile", "-cpu" };

/*
 * QEMU options that mean nothing for an enclave: one sentence each.  takes_value tells whether to mention a
 * value; the option is refused either way.
 */
static const struct {
	const char *name;
	bool takes_value;
	const char *why;
} meaningless[] = {
	{ "-netdev", true, "an enclave has no network: its one channel is vsock to the parent (CID 3)" },
	{ "-nic", true, "an enclave has no network: its one channel is vsock to the parent (CID 3)" },
	{ "-net", true, "an enclave has no network: its one channel is vsock to the parent (CID 3)" },
	{ "-drive", true, "an enclave has no disks: its file system is the EIF's ramdisks" },
	{ "-blockdev", true, "an enclave has no disks: its file system is the EIF's ramdisks" },
	{ "-hda", true, "an enclave has no disks: its file system is the EIF's ramdisks" },
	{ "-hdb", true, "an enclave has no disks: its file system is the EIF's ramdisks" },
	{ "-cdrom", true, "an enclave has no disks: its file system is the EIF's ramdisks" },
	{ "-fda", true, "an enclave has no disks: its file system is the EIF's ramdisks" },
	{ "-pflash", true, "an enclave has no flash: nitrovm boots the EIF's kernel directly, as Nitro does" },
	{ "-snapshot", false, "an enclave has no disks to snapshot: its file system is the EIF's ramdisks" },
	{ "-fsdev", true, "an enclave shares no file system with the host: vsock is its only channel" },
	{ "-virtfs", true, "an enclave shares no file system with the host: vsock is its only channel" },
	{ "-device", true, "the enclave's devices are fixed (serial, vsock, NSM); -M nitro-enclave,vsock=ID hands its "
			   "vsock to a vhost-user backend" },
	{ "-global", true, "the enclave's devices have no properties to set; -M nitro-enclave's options are what can "
			   "change" },
	{ "-set", true, "the enclave's devices have no properties to set; -M nitro-enclave's options are what can "
			"change" },
	{ "-bios", true, "an enclave has no firmware: nitrovm boots the EIF's kernel directly, as Nitro does" },
	{ "-boot", true, "an enclave has no firmware: nitrovm boots the EIF's kernel directly, as Nitro does" },
	{ "-L", true, "an enclave has no firmware: nitrovm boots the EIF's kernel directly, as Nitro does" },
	{ "-vnc", true, "an enclave has no display; its console is the serial port (-serial)" },
	{ "-spice", true, "an enclave has no display; its console is the serial port (-serial)" },
	{ "-sdl", false, "an enclave has no display; its console is the serial port (-serial)" },
	{ "-curses", false, "an enclave has no display; its console is the serial port (-serial)" },
	{ "-full-screen", false, "an enclave has no display; its console is the serial port (-serial)" },
	{ "-k", true, "an enclave has no keyboard; its console is the serial port (-serial)" },
	{ "-usb", false, "an enclave has no USB" },
	{ "-usbdevice", true, "an enclave has no USB" },
	{ "-audiodev", true, "an enclave has no sound device" },
	{ "-soundhw", true, "an enclave has no sound device" },
	{ "-tpmdev", true, "an enclave is measured by its Nitro Secure Module (PCRs, attestation), not by a TPM" },
	{ "-incoming", true, "an enclave cannot be migrated: its memory never leaves it" },
	{ "-loadvm", true, "an enclave cannot be restored from a snapshot: its memory never leaves it" },
	{ "-gdb", true, "an enclave cannot be debugged from the host: that is what makes it an enclave" },
	{ "-s", false, "an enclave cannot be debugged from the host: that is what makes it an enclave" },
	{ "-S", false, "an enclave starts at once, as on Nitro: there is no paused state to continue from" },
	{ "-mem-path", true, "the enclave's memory is a memfd; use -M nitro-enclave,hugepages=on for huge pages" },
	{ "-mem-prealloc", false, "the enclave's memory is a memfd; use -M nitro-enclave,hugepages=on for huge pages" },
	{ "-balloon", true, "an enclave's memory is fixed when it starts: there is no balloon" },
	{ "-watchdog", true, "an enclave has no watchdog device; nitrovm sees it end however it ends" },
	{ "-rtc", true, "the enclave machine has no RTC to configure: its clock is the host's" },
	{ "-mon", true, "nitrovm has no human monitor (HMP); -qmp gives QMP" },
	{ "-chroot", true, "nitrovm does not chroot; run it where the enclave's files are" },
	{ "-D", true, "nitrovm has no QEMU debug log; its own messages go to stderr" },
	{ "-d", true, "nitrovm has no QEMU debug log; its own messages go to stderr" },
	{ "-icount", true, "an enclave's vCPUs run on hardware; there is nothing to count" },
	{ "-no-shutdown", false, "an enclave that shuts down has ended: nitrovm ends with it, as nitro-cli's enclave "
				 "process does" },
	{ "-smbios", true, "an enclave has no firmware tables to fill in" },
};

/* Flags QEMU users pass out of habit that change nothing here, or set what they say. */
static int parse_flag(const char *opt, struct qemu_args *a, bool *known)
{
	*known = true;
	if (!strcmp(opt, "-nographic"))
		a->nographic = true;
	else if (!strcmp(opt, "-enable-kvm"))
		return parse_accel_name("kvm", a);
	else if (!strcmp(opt, "-daemonize"))
		a->daemonize = true;
	else if (!strcmp(opt, "-no-acpi"))
		a->acpi = false;
	else if (!strcmp(opt, "-no-heartbeat"))
		a->no_heartbeat = true;
	else if (strcmp(opt, "-no-reboot") && strcmp(opt, "-nodefaults") && strcmp(opt, "-no-user-config") &&
		 strcmp(opt, "-no-hpet"))
		*known = false;
	return 0;
}

/*
 * The host bridges' options (opt already in its one-dash form).  Returns the exit status: 0 with *consumed
 * telling whether opt was one of them (and *i moved past its value), or E03 after its error line.  The status
 * and "consumed" are kept apart because cli_fail()'s status is positive: read as a count, a refused option was
 * taken as accepted and the enclave launched anyway.
 */
static int parse_bridge_option(int argc, char **argv, int *i, const char *opt, struct qemu_args *a, bool *consumed)
{
	const char *name = opt + 1;
	int ret;

	*consumed = false;
	if (!strcmp(name, "forward-remote"))
		ret = cli_bridge_option(&a->bridges, name, NULL);
	else if (strcmp(name, "vsock-uds") && strncmp(name, "forward-", 8))
		return 0;
	else if (*i + 1 >= argc)
		return cli_fail(E_INVALID_ARGUMENT, "option %s needs a value", argv[*i]);
	else
		ret = cli_bridge_option(&a->bridges, name, argv[++*i]);
	if (ret == -ENOENT)
		return cli_fail(E_INVALID_ARGUMENT, "unknown option '%s'", argv[*i - 1]);
	if (ret < 0)
		return cli_fail_err(E_INVALID_ARGUMENT);
	*consumed = true;
	return 0;
}

/* One option (opt in its one-dash form) that takes a value, or -ENOENT when it is not one. */
static int parse_value_option(const char *opt, const char *v, struct qemu_args *a)
{
	for (size_t k = 0; k < ARRAY_SIZE(value_opts); k++)
		if (!strcmp(opt, value_opts[k].name))
			return value_opts[k].parse(v, a);
	for (size_t k = 0; k < ARRAY_SIZE(simple_opts); k++)
		if (!strcmp(opt, simple_opts[k]))
			return parse_simple(opt, v, a);
	if (!strcmp(opt, "-kernel"))
		a->kernel = v;
	else if (!strcmp(opt, "-append"))
		a->append = v;
	else
		return -ENOENT;
	return 0;
}

static bool takes_value(const char *opt)
{
	if (!strcmp(opt, "-kernel") || !strcmp(opt, "-append"))
		return true;
	for (size_t k = 0; k < ARRAY_SIZE(value_opts); k++)
		if (!strcmp(opt, value_opts[k].name))
			return true;
	for (size_t k = 0; k < ARRAY_SIZE(simple_opts); k++)
		if (!strcmp(opt, simple_opts[k]))
			return true;
	return false;
}

static int parse_one(int argc, char **argv, int *i, struct qemu_args *a)
{
	char opt[64];
	bool consumed;
	int ret;

	/* QEMU takes every option with two dashes too: --enable-kvm, --machine. */
	if (argv[*i][0] != '-' || !argv[*i][1])
		return cli_fail(E_INVALID_ARGUMENT, "'%s' is not an option: the QEMU-style front end takes options only (-kernel FILE ...)",
				  argv[*i]);
	snprintf(opt, sizeof(opt), "-%s", argv[*i] + (argv[*i][1] == '-' ? 2 : 1));
	ret = parse_flag(opt, a, &consumed);
	if (ret || consumed)
		return ret;
	ret = parse_bridge_option(argc, argv, i, opt, a, &consumed);
	if (ret || consumed)
		return ret;
	for (size_t k = 0; k < ARRAY_SIZE(meaningless); k++) {
		if (strcmp(opt, meaningless[k].name))
			continue;
		return cli_fail(E_INVALID_ARGUMENT, "%s: %s", argv[*i], meaningless[k].why);
	}
	if (!takes_value(opt))
		return cli_fail(E_INVALID_ARGUMENT, "unknown option '%s' for the QEMU-style front end (nitrovm -M nitro-enclave -kernel "
				  "FILE [-initrd FILE] [-append TEXT] [-m SIZE] [-smp N] [-nographic]; -help lists them)",
				  argv[*i]);
	if (*i + 1 >= argc)
		return cli_fail(E_INVALID_ARGUMENT, "option %s needs a value", argv[*i]);
	++*i;
	return parse_value_option(opt, argv[*i], a);
}

/* -serial chardev:ID, with the -chardev given before or after it. */
static int resolve_serial_chardev(struct qemu_args *a)
{
	const struct qemu_chardev *c = qemu_find_chardev(a, a->serial_chardev);

	if (!c)
		return cli_fail(E_INVALID_ARGUMENT, "-serial chardev:%s: no -chardev has that id", a->serial_chardev);
	if (c->backend == QEMU_CHR_SOCKET)
		return cli_fail(E_INVALID_ARGUMENT, "-serial chardev:%s: the console goes to stdio, a file or nowhere; a socket chardev "
				  "serves -M nitro-enclave,vsock= only", a->serial_chardev);
	a->serial = c->backend == QEMU_CHR_NULL	 ? QEMU_SERIAL_NONE
		  : c->backend == QEMU_CHR_STDIO ? QEMU_SERIAL_STDIO
						 : QEMU_SERIAL_FILE;
	a->serial_path = c->path;
	return 0;
}

/*
 * -M nitro-enclave,vsock=ID -chardev socket,id=ID,path=P (QEMU's nitro-enclave.rst): the vsock device's rings go to
 * the vhost-user backend at P, which nitrovm connects to as QEMU does.  That backend then serves every vsock
 * port, the enclave's CID included (its guest-cid): nitrovm's own parent-side services stand aside.
 */
static int resolve_vsock_chardev(struct qemu_args *a)
{
	const struct qemu_chardev *c = qemu_find_chardev(a, a->vsock_chardev);

	if (!c)
		return cli_fail(E_INVALID_ARGUMENT, "machine option vsock=%s: no -chardev has that id (add -chardev "
				"socket,id=%s,path=PATH)", a->vsock_chardev, a->vsock_chardev);
	if (c->backend != QEMU_CHR_SOCKET || !c->path)
		return cli_fail(E_INVALID_ARGUMENT, "machine option vsock=%s: the chardev must be a Unix socket (-chardev socket,id=ID,"
				  "path=PATH), where a vhost-user-vsock backend listens", a->vsock_chardev);
	if (c->server)
		return cli_fail(E_INVALID_ARGUMENT, "-chardev socket,id=%s,server=on: nitrovm connects to the vhost-user backend, as QEMU "
				  "does; start the backend first and leave server= out", a->vsock_chardev);
	if (a->accel_nitro)
		return cli_fail(E_INVALID_ARGUMENT, "machine option vsock=%s is the emulated machine's: on the Nitro hypervisor vsock is "
				  "the host's own", a->vsock_chardev);
	if (a->guest_cid)
		return cli_fail(E_INVALID_ARGUMENT, "guest-cid and vsock=%s together: with a vhost-user backend the enclave's CID is the "
				  "backend's guest-cid", a->vsock_chardev);
	if (a->bridges.nrules || a->bridges.uds_path)
		return cli_fail(E_INVALID_ARGUMENT, "host bridges (--forward-*, --vsock-uds) and vsock=%s together: the backend serves "
				  "every vsock port then (vhost-device-vsock's uds-path=, forward-cid=, forward-listen=)",
				  a->vsock_chardev);
	a->vsock_path = c->path;
	return 0;
}

/* The checks that need the whole command line. */
static int check_args(struct qemu_args *a)
{
	if (a->vsock_chardev && resolve_vsock_chardev(a))
		return E_INVALID_ARGUMENT;
	if (a->serial_chardev && resolve_serial_chardev(a))
		return E_INVALID_ARGUMENT;
	if (!a->kernel)
		return cli_fail(E_MISSING_ARGUMENT, "-kernel is required: an EIF, or a bzImage with -initrd");
	if (a->machine_nitro && !a->accel_nitro)
		return cli_fail(E_INVALID_ARGUMENT, "The 'nitro' machine requires -accel nitro (-M nitro-enclave is "
						    "the emulated machine)");
	if (a->accel_nitro && a->machine_given && !a->machine_nitro)
		return cli_fail(E_INVALID_ARGUMENT, "-accel nitro runs the enclave on the Nitro hypervisor: use -M "
						    "nitro (-M nitro-enclave is the emulated machine, on -accel kvm)");
	if (a->guest_cid && a->accel_nitro)
		return cli_fail(E_INVALID_ARGUMENT, "guest-cid is an option of the emulated machine: on the Nitro "
						    "hypervisor give -accel nitro,enclave-cid=N");
	if (a->memory_backend) {
		const struct qemu_memory_object *o = NULL;

		for (unsigned int k = 0; k < a->nobject && !o; k++)
			if (!strcmp(a->object[k].id, a->memory_backend))
				o = &a->object[k];
		if (!o)
			return cli_fail(E_INVALID_ARGUMENT, "memory backend '%s' is not defined: add -object "
					"memory-backend-memfd,id=%s,size=SIZE", a->memory_backend, a->memory_backend);
		if (a->memory_mib && a->memory_mib * MiB != o->size)
			return cli_fail(E_INVALID_ARGUMENT, "-m (%llu MiB) and the size of memory backend '%s' (%llu "
					"bytes) differ: give the same size, or leave -m out",
					(unsigned long long)a->memory_mib, o->id, (unsigned long long)o->size);
		if (o->size % MiB)
			return cli_fail(E_INVALID_ARGUMENT, "memory backend '%s': its size must be a whole number of MiB",
					o->id);
		a->memory_mib = o->size / MiB;
		if (o->hugetlb)
			a->hugepages = true;
	}
	if (a->daemonize) {
		bool stdio_console = a->serial == QEMU_SERIAL_STDIO || (a->serial == QEMU_SERIAL_DEFAULT);

		if (a->nographic && !a->serial_given)
			return cli_fail(E_INVALID_ARGUMENT, "-nographic cannot be used with -daemonize: give -serial none "
							    "or -serial file:PATH for the console");
		if (stdio_console)
			return cli_fail(E_INVALID_ARGUMENT, "-daemonize leaves no terminal for the console: give -serial "
							    "none or -serial file:PATH");
	}
	if (cli_bridge_check(&a->bridges) < 0)
		return cli_fail_err(E_INVALID_ARGUMENT);
	return 0;
}

int qemu_parse_args(int argc, char **argv, struct qemu_args *a)
{
	for (int i = 1; i < argc; i++) {
		int ret = parse_one(argc, argv, &i, a);

		if (ret)
			return ret;
	}
	return check_args(a);
}

void qemu_args_free(struct qemu_args *a)
{
	for (unsigned int i = 0; i < a->nowned; i++)
		free(a->owned[i]);
	a->nowned = 0;
}
