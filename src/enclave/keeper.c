// SPDX-License-Identifier: MIT
#include "keeper.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "vsock/bridge.h"

/* How long the enclave process waits for an answer: the keeper does one small file write or connect. */
#define KEEPER_REPLY_MS 5000

enum keeper_req {
	KEEPER_BIND = 'B',
	KEEPER_INFO = 'I',
	KEEPER_ENDED = 'E',
	KEEPER_CONNECT = 'C',
};

struct keeper {
	pid_t pid;
	int fd;
};

/* ---- the child ---- */

static const char *unix_path(const struct bridge_addr *a)
{
	return ((const struct sockaddr_un *)&a->sa)->sun_path;
}

/* "<dir>/<base>_<port>", the way bridge_uds.c names the socket for parent port <port> of --vsock-uds PATH. */
static bool is_uds_port_path(const char *uds, const char *path)
{
	const char *slash = strrchr(uds, '/'), *base = slash ? slash + 1 : uds, *p;
	char prefix[PATH_MAX];
	size_t n, digits = 0;

	if (slash)
		n = (size_t)snprintf(prefix, sizeof(prefix), "%.*s/%s_", (int)(slash == uds ? 1 : slash - uds), uds,
				     base);
	else
		n = (size_t)snprintf(prefix, sizeof(prefix), "./%s_", base);
	if (n >= sizeof(prefix) || strncmp(path, prefix, n))
		return false;
	for (p = path + n; *p; p++, digits++)
		if (!isdigit((unsigned char)*p))
			return false;
	return digits >= 1 && digits <= 10;
}

static bool may_connect(const struct bridge_config *b, const char *path)
{
	for (unsigned int i = 0; b && i < b->nrules; i++) {
		const struct bridge_rule *r = &b->rules[i];

		if (r->dir == BRIDGE_FROM_ENCLAVE && r->host.kind == BRIDGE_ADDR_UNIX &&
		    !strcmp(unix_path(&r->host), path))
			return true;
	}
	return b && b->uds_path && is_uds_port_path(b->uds_path, path);
}

static int child_connect(const struct bridge_config *b, const char *path)
{
	return may_connect(b, path) ? unix_connect(path, SOCK_NONBLOCK | SOCK_CLOEXEC) : -EPERM;
}

static void remove_sockets(const struct keeper_state *k)
{
	char path[PATH_MAX];

	if (registry_socket_path(k->d->sockets, k->id, path, sizeof(path)) == 0)
		unlink(path);
	for (unsigned int i = 0; k->b && i < k->b->nrules; i++) {
		const struct bridge_rule *r = &k->b->rules[i];

		if (r->dir == BRIDGE_TO_ENCLAVE && r->host.kind == BRIDGE_ADDR_UNIX)
			unlink(unix_path(&r->host));
	}
	if (k->b && k->b->uds_path)
		unlink(k->b->uds_path);
}

static int child_info(const struct keeper_state *k, const char *text, size_t len)
{
	struct json_object *o = json_tokener_parse(text);
	char path[PATH_MAX];
	struct atomic_file f;
	int ret;

	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return -EINVAL;
	}
	json_object_put(o);
	ret = registry_record_path(k->d, k->id, ".json", path, sizeof(path));
	if (!ret)
		ret = atomic_file_open(&f, path, 0600);
	if (ret < 0)
		return ret;
	ret = atomic_file_write(&f, text, len);
	if (ret < 0)
		atomic_file_abort(&f);
	else
		ret = atomic_file_commit(&f);
	return ret;
}

static int child_ended(struct keeper_state *k, const uint8_t *msg, size_t len)
{
	struct registry_exit x;

	if (len != sizeof(x))
		return -EINVAL;
	memcpy(&x, msg, sizeof(x));
	x.reason[sizeof(x.reason) - 1] = '\0';
	x.detail[sizeof(x.detail) - 1] = '\0';
	k->ended = true;
	remove_sockets(k);
	return registry_write_exit(k->d, k->id, &x);
}

static void child_reply(int sock, int status, int fd)
{
	int32_t st = status;
	struct iovec iov = { .iov_base = &st, .iov_len = sizeof(st) };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} c;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		memset(&c, 0, sizeof(c));
		m.msg_control = c.buf;
		m.msg_controllen = sizeof(c.buf);
		CMSG_FIRSTHDR(&m)->cmsg_level = SOL_SOCKET;
		CMSG_FIRSTHDR(&m)->cmsg_type = SCM_RIGHTS;
		CMSG_FIRSTHDR(&m)->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(CMSG_FIRSTHDR(&m)), &fd, sizeof(int));
	}
	sendmsg(sock, &m, MSG_NOSIGNAL);
	if (fd >= 0)
		close(fd);
}

int keeper_serve(struct keeper_state *k, uint8_t *msg, size_t len, int *fd)
{
	char *text = (char *)msg + 1;
	int ret = -EINVAL;

	*fd = -1;
	if (len < 1 || len > KEEPER_MSG_MAX)
		return -EINVAL;
	msg[len] = '\0'; /* the text of BIND, INFO and CONNECT, which must hold no NUL of its own */
	if ((msg[0] != KEEPER_BIND && !k->bound) || (msg[0] != KEEPER_ENDED && strlen(text) != len - 1))
		return -EINVAL;
	switch (msg[0]) {
	case KEEPER_BIND:
		if (k->bound || len - 1 >= sizeof(k->id))
			break;
		memcpy(k->id, text, len); /* with its NUL */
		k->bound = true;
		ret = 0;
		break;
	case KEEPER_INFO:
		ret = k->ended ? -EINVAL : child_info(k, text, len - 1);
		break;
	case KEEPER_ENDED:
		ret = k->ended ? -EINVAL : child_ended(k, msg + 1, len - 1);
		break;
	case KEEPER_CONNECT:
		*fd = child_connect(k->b, text);
		ret = *fd < 0 ? *fd : 0;
		break;
	}
	return ret;
}

static void child_main(const struct registry_dirs *d, const struct bridge_config *b, int sock)
{
	struct keeper_state k = { .d = d, .b = b };
	uint8_t msg[KEEPER_MSG_MAX + 1];
	int fd, ret;

	/* Not dumpable: not ptrace-able or readable by the user the enclave process becomes.  It ends after its
	 * enclave process, to clean up after it, whatever signal the terminal sends. */
	helper_isolate(&sock, KEEPER_PROC_NAME);
	for (;;) {
		ssize_t n = recv(sock, msg, KEEPER_MSG_MAX, MSG_TRUNC);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if ((size_t)n > KEEPER_MSG_MAX) {
			child_reply(sock, -EMSGSIZE, -1);
			continue;
		}
		ret = keeper_serve(&k, msg, (size_t)n, &fd);
		child_reply(sock, ret, fd);
	}
	if (k.bound && !k.ended) {
		struct registry_exit x = { .reason = "killed", .status = -1, .ended = time(NULL) };

		snprintf(x.detail, sizeof(x.detail), "its enclave process died without ending it in order (killed, "
						     "or crashed); the enclave went with it");
		remove_sockets(&k);
		registry_write_exit(d, k.id, &x);
	}
	_exit(0);
}

struct keeper_args {
	const struct registry_dirs *d;
	const struct bridge_config *b;
};

static void child_start(int sock, void *arg)
{
	const struct keeper_args *a = arg;

	child_main(a->d, a->b, sock);
}

int keeper_spawn(const struct registry_dirs *d, const struct bridge_config *b, struct keeper **out)
{
	struct keeper *k = calloc(1, sizeof(*k));
	struct keeper_args a = { .d = d, .b = b };
	int ret;

	*out = NULL;
	if (!k)
		return err_set(ENOMEM, "out of memory");
	ret = helper_spawn("the keeper", false, child_start, &a, &k->pid, &k->fd);
	if (ret < 0) {
		free(k);
		return ret;
	}
	*out = k;
	return 0;
}

/* ---- the enclave process's end ---- */

static int call(struct keeper *k, uint8_t req, const void *payload, size_t len, int *fd_out)
{
	uint8_t msg[KEEPER_MSG_MAX];
	int32_t st;
	struct iovec iov = { .iov_base = &st, .iov_len = sizeof(st) };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} c;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof(c.buf) };
	struct pollfd pfd = { .fd = k ? k->fd : -1, .events = POLLIN };
	struct cmsghdr *h;
	ssize_t n;

	if (!k)
		return -ENOTCONN;
	if (len > sizeof(msg) - 1)
		return -EMSGSIZE;
	msg[0] = req;
	memcpy(msg + 1, payload, len);
	if (send(k->fd, msg, len + 1, MSG_NOSIGNAL) != (ssize_t)(len + 1))
		return -EPIPE;
	do
		n = poll(&pfd, 1, KEEPER_REPLY_MS);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return -ETIMEDOUT;
	n = recvmsg(k->fd, &m, MSG_CMSG_CLOEXEC);
	if (n != sizeof(st))
		return -EPIPE;
	h = CMSG_FIRSTHDR(&m);
	if (h && h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS) {
		int fd;

		memcpy(&fd, CMSG_DATA(h), sizeof(fd));
		if (fd_out && st == 0)
			*fd_out = fd;
		else
			close(fd);
	}
	return st;
}

int keeper_bind(struct keeper *k, const char *enclave_id)
{
	int ret = call(k, KEEPER_BIND, enclave_id, strlen(enclave_id), NULL);

	return ret < 0 ? err_set(-ret, "the keeper did not take the enclave's id: %s", strerror(-ret)) : 0;
}

int keeper_write_info(struct keeper *k, const char *json)
{
	int ret = call(k, KEEPER_INFO, json, strlen(json), NULL);

	return ret < 0 ? err_set(-ret, "the keeper could not write the enclave's record: %s", strerror(-ret)) : 0;
}

int keeper_ended(struct keeper *k, const struct registry_exit *x)
{
	int ret = call(k, KEEPER_ENDED, x, sizeof(*x), NULL);

	return ret < 0 ? err_set(-ret, "the keeper could not write the exit record: %s", strerror(-ret)) : 0;
}

int keeper_connect_unix(void *keeper, const char *path)
{
	int fd = -1, ret = call(keeper, KEEPER_CONNECT, path, strlen(path), &fd);

	if (ret == 0 && fd < 0)
		ret = -EPROTO;
	return ret < 0 ? ret : fd;
}

void keeper_stop(struct keeper *k)
{
	if (!k)
		return;
	close(k->fd);
	free(k);
}
