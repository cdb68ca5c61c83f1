// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the keeper (src/enclave/keeper.c): what it reads comes from an enclave process that gave
 * up root and that a guest may have taken over, while the keeper stays root.  The input is a run of requests (a
 * kind, a 16-bit little-endian length, the bytes), served by one keeper state over a scratch registry and a
 * bridge configuration with one --vsock-uds PATH and one --forward-connect unix: target, each listening.
 * Nothing may crash or read past a request; a stream it hands back must be connected to PATH_<port> or the
 * target, never to the other socket beside them; and the only files it leaves in the records directory are
 * the bound enclave's <slot>.json and <slot>.exit, with the other socket still in place.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"
#include "enclave/keeper.h"
#include "fuzz_input.h"
#include "vsock/bridge.h"

static const uint8_t kinds[] = { 'B', 'I', 'E', 'C' };

static char base[64], uds[128], uds_port[128], target[128], other[128];
static struct registry_dirs dirs;
static struct bridge_config bridges;

static void listen_at(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 4096))
		abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* A fixed place, so that the seeds (tests/fuzz/seeds/fuzz_keeper) can name its sockets; made afresh. */
	snprintf(base, sizeof(base), "/tmp/nitrovm-fuzz-keeper");
	snprintf(dirs.sockets, sizeof(dirs.sockets), "%s/sockets", base);
	snprintf(dirs.run, sizeof(dirs.run), "%s/run", base);
	snprintf(uds, sizeof(uds), "%s/v.sock", base);
	snprintf(uds_port, sizeof(uds_port), "%s/v.sock_7", base);
	snprintf(target, sizeof(target), "%s/target.sock", base);
	snprintf(other, sizeof(other), "%s/other.sock", base);
	unlink(uds_port);
	unlink(target);
	unlink(other);
	if (mkdir_p(dirs.sockets, 0700) || mkdir_p(dirs.run, 0700))
		abort();
	listen_at(uds_port);
	listen_at(target);
	listen_at(other);
	bridges.uds_path = uds;
	if (bridge_config_add_rule(&bridges, BRIDGE_FROM_ENCLAVE, "vsock:5000=unix:/tmp/nitrovm-fuzz-keeper/target.sock") ||
	    bridge_config_add_rule(&bridges, BRIDGE_TO_ENCLAVE, "unix:/tmp/nitrovm-fuzz-keeper/never.sock=vsock:5001"))
		abort();
	return 0;
}

/* A stream the keeper handed back: its peer is PATH_7 or the target, nothing else. */
static void check_stream(int fd)
{
	struct sockaddr_un a;
	socklen_t alen = sizeof(a);
	int err = 0;
	socklen_t elen = sizeof(err);

	memset(&a, 0, sizeof(a));
	if (getpeername(fd, (struct sockaddr *)&a, &alen) || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) || err)
		abort();
	if (strcmp(a.sun_path, uds_port) && strcmp(a.sun_path, target))
		abort();
	close(fd);
}

/* Only <slot>.json and <slot>.exit of the bound id; removed for the next input. */
static void check_records(const struct keeper_state *k)
{
	char slot[REGISTRY_SLOT_MAX + 8], path[PATH_MAX + 300];
	DIR *d = opendir(dirs.run);
	struct dirent *e;

	registry_slot_of(k->id, slot, sizeof(slot));
	while (d && (e = readdir(d))) {
		size_t n = strlen(slot);

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (!k->bound || strncmp(e->d_name, slot, n) ||
		    (strcmp(e->d_name + n, ".json") && strcmp(e->d_name + n, ".exit")))
			abort();
		snprintf(path, sizeof(path), "%s/%s", dirs.run, e->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	if (access(other, F_OK) || access(uds_port, F_OK) || access(target, F_OK))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct keeper_state k = { .d = &dirs, .b = &bridges };
	struct input in = { data, size };

	while (in.left) {
		uint8_t kind = take8(&in);
		size_t want = take16(&in), len = MIN(MIN(want, in.left), (size_t)KEEPER_MSG_MAX - 1);
		uint8_t *msg = malloc(len + 2); /* the kind, the bytes, and the one the keeper may write past them */
		int fd;

		if (!msg)
			break;
		/* Half the kinds are the keeper's own, so the input reaches past the first check. */
		msg[0] = kind & 0x80 ? kinds[kind & 3] : kind;
		memcpy(msg + 1, in.p, len);
		in.p += len;
		in.left -= len;
		keeper_serve(&k, msg, len + 1, &fd);
		free(msg);
		if (fd >= 0)
			check_stream(fd);
	}
	check_records(&k);
	return 0;
}
