// SPDX-License-Identifier: MIT
#include "ctl_server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/util.h"
#include "ctl_proto.h"

/* nitro-cli makes its sockets 0766: anyone may connect, the policy decides what they may do. */
#define CTL_SOCKET_MODE 0766

enum conn_state {
	CONN_READING,	/* the request is coming in */
	CONN_DESCRIBE,	/* confirmed, waiting for the describe callback to be able to answer */
	CONN_TERMINATE, /* waiting for the enclave to end */
};

struct ctl_conn {
	struct ctl_server *s;
	int fd, timer;
	uid_t uid;
	enum conn_state state;
	uint8_t buf[CTL_REQUEST_MAX];
	size_t len;
	struct ctl_request req;
	struct ctl_conn *next;
};

struct ctl_server {
	struct evloop *loop;
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const struct ctl_server_ops *ops;
	void *opaque;
	struct ctl_conn *conns;
	unsigned int nconns;
	uid_t owner; /* who started the enclave: the process may run as another user later (privdrop.h) */
};

static void conn_close(struct ctl_conn *c)
{
	struct ctl_server *s = c->s;

	for (struct ctl_conn **p = &s->conns; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	s->nconns--;
	if (c->fd >= 0) {
		evloop_del(s->loop, c->fd);
		close(c->fd);
	}
	if (c->timer >= 0) {
		evloop_del(s->loop, c->timer);
		close(c->timer);
	}
	free(c);
}

/* Replies are small and the peer's receive buffer holds them; a peer that does not read loses its reply. */
static int conn_send(struct ctl_conn *c, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_frame(struct ctl_conn *c, uint8_t *frame, size_t len)
{
	int ret = frame ? conn_send(c, frame, len) : -ENOMEM;

	free(frame);
	return ret;
}

static int send_u64(struct ctl_conn *c, uint64_t v)
{
	uint8_t b[CTL_LEN_SIZE];

	put_le64(b, v);
	return conn_send(c, b, sizeof(b));
}

static int send_text(struct ctl_conn *c, enum ctl_reply_kind kind, const char *text)
{
	size_t len = 0;
	uint8_t *frame = ctl_frame_reply_text(kind, text, &len);

	return send_frame(c, frame, len);
}

static int send_status(struct ctl_conn *c, int32_t status)
{
	size_t len = 0;
	uint8_t *frame = ctl_frame_reply_status(status, &len);

	return send_frame(c, frame, len);
}

/* A JSON value as nitro-cli's enclave process prints it into a StdOutMessage: the text and a newline. */
static int send_json_line(struct ctl_conn *c, const char *json)
{
	char *line;
	int ret;

	if (asprintf(&line, "%s\n", json) < 0)
		return -ENOMEM;
	ret = send_text(c, CTL_REPLY_STDOUT, line);
	free(line);
	return ret;
}

/* A JSON string literal (serde_json's escaping of a name or an id). */
static int send_json_string(struct ctl_conn *c, const char *s)
{
	size_t n = strlen(s), k = 0;
	char *q = malloc(6 * n + 3);
	int ret;

	if (!q)
		return -ENOMEM;
	q[k++] = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\') {
			q[k++] = '\\';
			q[k++] = (char)ch;
		} else if (ch == '\n') {
			q[k++] = '\\';
			q[k++] = 'n';
		} else if (ch < 0x20) {
			k += (size_t)sprintf(q + k, "\\u%04x", ch);
		} else {
			q[k++] = (char)ch;
		}
	}
	q[k++] = '"';
	q[k] = '\0';
	ret = send_json_line(c, q);
	free(q);
	return ret;
}

static bool may(const struct ctl_conn *c, enum ctl_cmd cmd)
{
	switch (cmd) {
	case CTL_DESCRIBE:
	case CTL_GET_CID:
	case CTL_GET_FLAGS:
	case CTL_GET_NAME:
	case CTL_GET_ID_BY_NAME:
		return true;
	default:
		return c->uid == 0 || c->uid == c->s->owner;
	}
}

/* Describe: the JSON, or wait for it. */
static void answer_describe(struct ctl_conn *c)
{
	char *json = c->s->ops->describe(c->s->opaque, c->req.metadata);

	if (!json) {
		c->state = CONN_DESCRIBE;
		return;
	}
	if (!send_json_line(c, json))
		send_status(c, 0);
	free(json);
	conn_close(c);
}

/* The request is whole: do it.  The connection is closed, or kept waiting (describe, terminate). */
static void dispatch(struct ctl_conn *c)
{
	struct ctl_server *s = c->s;
	const struct ctl_server_ops *ops = s->ops;

	evloop_del(s->loop, c->timer);
	close(c->timer);
	c->timer = -1;
	if (!may(c, c->req.cmd)) {
		char line[160];

		snprintf(line, sizeof(line), "Only the enclave's owner (uid %u) or root may ask for %s.\n",
			 (unsigned int)s->owner, ctl_cmd_name(c->req.cmd) ? ctl_cmd_name(c->req.cmd) : "that");
		send_text(c, CTL_REPLY_STDERR, line);
		send_status(c, EACCES);
		conn_close(c);
		return;
	}
	switch (c->req.cmd) {
	case CTL_GET_CID:
		send_u64(c, ops->cid(s->opaque));
		break;
	case CTL_GET_FLAGS:
		send_u64(c, ops->flags(s->opaque));
		break;
	case CTL_GET_NAME:
		if (!send_u64(c, CTL_CONFIRM) && !send_json_string(c, ops->name(s->opaque)))
			send_status(c, 0);
		break;
	case CTL_GET_ID_BY_NAME:
		if (send_u64(c, CTL_CONFIRM))
			break;
		if (!strcmp(c->req.name, ops->name(s->opaque)) && send_json_string(c, ops->id(s->opaque)))
			break;
		send_status(c, 0);
		break;
	case CTL_DESCRIBE:
		if (send_u64(c, CTL_CONFIRM))
			break;
		answer_describe(c);
		return;
	case CTL_TERMINATE:
		evloop_del(s->loop, c->fd);
		c->state = CONN_TERMINATE;
		ops->terminate(s->opaque);
		return;
	case CTL_CONNECT_CONSOLE:
		if (send_u64(c, CTL_CONFIRM))
			break;
		evloop_del(s->loop, c->fd);
		ops->console(s->opaque, c->fd);
		c->fd = -1;
		break;
	case CTL_RUN:
		send_status(c, EEXIST); /* this process runs its enclave already */
		break;
	case CTL_NOT_PERMITTED:
		send_status(c, EACCES);
		break;
	default:
		/* ConnectionListenerStop, TerminateComplete: nitro-cli sends them to itself; unknown: nothing to do. */
		break;
	}
	conn_close(c);
}

static void on_conn(void *opaque, int fd, uint32_t events)
{
	struct ctl_conn *c = opaque;
	size_t used;
	ssize_t n;
	int ret;

	(void)events;
	n = recv(fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)n;
	ret = ctl_request_feed(&c->req, c->buf, c->len, &used, CTL_REQUEST_MAX - CTL_LEN_SIZE);
	c->len -= used;
	memmove(c->buf, c->buf + used, c->len);
	if (ret < 0 || (!ret && c->len == sizeof(c->buf))) {
		conn_close(c); /* not nitro-cli's protocol, or too long */
		return;
	}
	if (ret)
		dispatch(c);
}

static void on_timeout(void *opaque, int fd, uint32_t events)
{
	(void)fd;
	(void)events;
	conn_close(opaque);
}

static int arm_timer(struct ctl_conn *c)
{
	struct itimerspec t = { .it_value = { .tv_sec = CTL_REQUEST_TIMEOUT_MS / 1000,
					      .tv_nsec = (CTL_REQUEST_TIMEOUT_MS % 1000) * 1000000L } };

	c->timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (c->timer < 0)
		return -errno;
	if (timerfd_settime(c->timer, 0, &t, NULL) < 0)
		return -errno;
	return evloop_add(c->s->loop, c->timer, EPOLLIN, on_timeout, c);
}

static void on_accept(void *opaque, int fd, uint32_t events)
{
	struct ctl_server *s = opaque;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct ctl_conn *c;
	int cfd;

	(void)events;
	cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (cfd < 0)
		return;
	if (s->nconns >= CTL_MAX_CONNS || getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
		close(cfd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(cfd);
		return;
	}
	c->s = s;
	c->fd = cfd;
	c->timer = -1;
	c->uid = cred.uid;
	c->next = s->conns;
	s->conns = c;
	s->nconns++;
	if (arm_timer(c) < 0 || evloop_add(s->loop, cfd, EPOLLIN, on_conn, c) < 0)
		conn_close(c);
}

/*
 * A socket file left at our path by a process that died (the driver can hand out a slot id again after a
 * restart): nobody answers on it, so it goes.  One that answers is someone's live enclave: EADDRINUSE.
 */
static int remove_stale(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), ret;

	if (fd < 0)
		return -errno;
	memcpy(a.sun_path, path, strlen(path) + 1);
	ret = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 ? -EADDRINUSE : errno == ECONNREFUSED ? 0 : -errno;
	close(fd);
	if (ret == 0 && unlink(path) < 0)
		ret = -errno;
	errno = ret ? -ret : 0;
	if (ret == -EADDRINUSE)
		errno = EADDRINUSE;
	return ret;
}

struct ctl_server *ctl_server_start(struct evloop *loop, const char *path, const struct ctl_server_ops *ops,
				   void *opaque)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct ctl_server *s;
	int one = 1;

	if (strlen(path) >= sizeof(a.sun_path)) {
		err_set(ENAMETOOLONG, "the control socket path %s is too long for a Unix socket", path);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		err_set(ENOMEM, "out of memory");
		return NULL;
	}
	s->loop = loop;
	s->ops = ops;
	s->opaque = opaque;
	s->owner = geteuid();
	snprintf(s->path, sizeof(s->path), "%s", path);
	memcpy(a.sun_path, path, strlen(path) + 1);
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->fd < 0)
		goto fail_errno;
	setsockopt(s->fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
	if (bind(s->fd, (struct sockaddr *)&a, sizeof(a)) < 0 && (errno != EADDRINUSE || remove_stale(path) < 0 ||
								  bind(s->fd, (struct sockaddr *)&a, sizeof(a)) < 0))
		goto fail_errno;
	if (chmod(path, CTL_SOCKET_MODE) < 0 || listen(s->fd, CTL_LISTEN_BACKLOG) < 0 ||
	    evloop_add(loop, s->fd, EPOLLIN, on_accept, s) < 0) {
		int e = errno;

		unlink(path);
		errno = e;
		goto fail_errno;
	}
	return s;
fail_errno:
	err_set(errno, "cannot listen on %s: %s", path, strerror(errno));
	if (s->fd >= 0)
		close(s->fd);
	free(s);
	return NULL;
}

void ctl_server_terminated(struct ctl_server *s, const char *stderr_line, const char *stdout_json)
{
	struct ctl_conn *c, *next;

	if (!s)
		return;
	for (c = s->conns; c; c = next) {
		next = c->next;
		if (c->state != CONN_TERMINATE)
			continue;
		/* The enclave has ended: nothing else competes for the peer's attention, so this may block. */
		fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) & ~O_NONBLOCK);
		if (!send_text(c, CTL_REPLY_STDERR, stderr_line) && !send_json_line(c, stdout_json))
			send_status(c, 0);
		conn_close(c);
	}
}

void ctl_server_describe_ready(struct ctl_server *s)
{
	struct ctl_conn *c, *next;

	for (c = s ? s->conns : NULL; c; c = next) {
		next = c->next;
		if (c->state == CONN_DESCRIBE)
			answer_describe(c);
	}
}

void ctl_server_stop(struct ctl_server *s)
{
	if (!s)
		return;
	while (s->conns)
		conn_close(s->conns);
	evloop_del(s->loop, s->fd);
	close(s->fd);
	unlink(s->path);
	free(s);
}
