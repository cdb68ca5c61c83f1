// SPDX-License-Identifier: MIT
/*
 * QMP for the QEMU front end (qmp.h).  A session is the protocol alone, bytes in and bytes out; the server puts
 * sessions on sockets of the enclave process's event loop.
 *
 * Messages are cut out of the byte stream by json-c's incremental tokener: it is fed what arrived and returns
 * an object once one is complete, saying how many bytes it used, so several messages in one read and one
 * message over several reads are the same to it.
 */
#include "qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/util.h"

/* QEMU's device id and property for the enclave CID (QEMU's docs/system/nitro.rst). */
#define QMP_VSOCK_PATH	    "/machine/peripheral/nitro-vsock"
#define QMP_VSOCK_ID	    "nitro-vsock"
#define QMP_VSOCK_PROPERTY  "enclave-cid"
/* How often a wait=on start looks for SIGINT/SIGTERM while it waits for a client. */
#define QMP_WAIT_POLL_MS 200

struct qmp_session {
	const struct qmp_ops *ops;
	const struct qmp_facts *facts;
	qmp_out_fn out;
	void *out_opaque;
	struct json_tokener *tok;
	size_t pending; /* bytes of the message being read so far */
	bool negotiated;
};

static const char *const qmp_commands[] = {
	"qmp_capabilities", "query-status", "query-version", "query-name", "query-commands", "qom-get",
	"system_powerdown", "quit",
};

static int send_obj(struct qmp_session *s, struct json_object *o)
{
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len = strlen(text);
	char *line = malloc(len + 3);
	int ret;

	if (!line) {
		json_object_put(o);
		return -ENOMEM;
	}
	memcpy(line, text, len);
	memcpy(line + len, "\r\n", 3);
	ret = s->out(s->out_opaque, line, len + 2);
	free(line);
	json_object_put(o);
	return ret;
}

/* {"qemu": {"micro", "minor", "major"}, "package"}: nitrovm's own version, in QEMU's shape. */
static struct json_object *version_json(void)
{
	struct json_object *v = json_object_new_object(), *q = json_object_new_object();
	unsigned int major = 0, minor = 0, micro = 0;

	sscanf(NITROVM_VERSION, "%u.%u.%u", &major, &minor, &micro);
	json_object_object_add(q, "micro", json_object_new_int((int)micro));
	json_object_object_add(q, "minor", json_object_new_int((int)minor));
	json_object_object_add(q, "major", json_object_new_int((int)major));
	json_object_object_add(v, "qemu", q);
	json_object_object_add(v, "package", json_object_new_string("nitrovm " NITROVM_VERSION));
	return v;
}

static int send_greeting(struct qmp_session *s)
{
	struct json_object *o = json_object_new_object(), *g = json_object_new_object();

	json_object_object_add(g, "version", version_json());
	json_object_object_add(g, "capabilities", json_object_new_array());
	json_object_object_add(o, "QMP", g);
	return send_obj(s, o);
}

/* The reply's "id" is the command's, whatever JSON value it was. */
static void add_id(struct json_object *reply, struct json_object *id)
{
	if (id)
		json_object_object_add(reply, "id", json_object_get(id));
}

static int send_return(struct qmp_session *s, struct json_object *id, struct json_object *value)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "return", value ? value : json_object_new_object());
	add_id(o, id);
	return send_obj(s, o);
}

static int send_error(struct qmp_session *s, struct json_object *id, const char *cls, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int send_error(struct qmp_session *s, struct json_object *id, const char *cls, const char *fmt, ...)
{
	struct json_object *o = json_object_new_object(), *e = json_object_new_object();
	char desc[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	json_object_object_add(e, "class", json_object_new_string(cls));
	json_object_object_add(e, "desc", json_object_new_string(desc));
	json_object_object_add(o, "error", e);
	add_id(o, id);
	return send_obj(s, o);
}

/*
 * The arguments a command takes: names[] are required strings, none other is allowed.  0, or 1 after the error
 * reply (QEMU's wording).
 */
static int check_args(struct qmp_session *s, struct json_object *id, struct json_object *args,
		      const char *const *names, unsigned int n)
{
	if (args) {
		json_object_object_foreach(args, key, val) {
			bool known = false;

			(void)val;
			for (unsigned int i = 0; i < n && !known; i++)
				known = !strcmp(key, names[i]);
			if (!known)
				return send_error(s, id, "GenericError", "Parameter '%s' is unexpected", key) ?: 1;
		}
	}
	for (unsigned int i = 0; i < n; i++) {
		struct json_object *v = NULL;

		if (!args || !json_object_object_get_ex(args, names[i], &v))
			return send_error(s, id, "GenericError", "Parameter '%s' is missing", names[i]) ?: 1;
		if (!json_object_is_type(v, json_type_string))
			return send_error(s, id, "GenericError", "Invalid parameter type for '%s', expected: string",
					  names[i]) ?: 1;
	}
	return 0;
}

static const char *arg_str(struct json_object *args, const char *name)
{
	struct json_object *v;

	return json_object_object_get_ex(args, name, &v) ? json_object_get_string(v) : "";
}

static int cmd_capabilities(struct qmp_session *s, struct json_object *id, struct json_object *args)
{
	struct json_object *enable = NULL;

	if (s->negotiated)
		return send_error(s, id, "CommandNotFound", "Capabilities negotiation is already complete, command "
				  "ignored");
	if (args) {
		json_object_object_foreach(args, key, val) {
			(void)val;
			if (strcmp(key, "enable"))
				return send_error(s, id, "GenericError", "Parameter '%s' is unexpected", key);
		}
		json_object_object_get_ex(args, "enable", &enable);
	}
	if (enable && !json_object_is_type(enable, json_type_array))
		return send_error(s, id, "GenericError", "Invalid parameter type for 'enable', expected: array");
	/* We offer no capability (no out-of-band execution): any one asked for is not available. */
	if (enable && json_object_array_length(enable)) {
		struct json_object *c = json_object_array_get_idx(enable, 0);

		return send_error(s, id, "GenericError", "Capability '%s' not available",
				  json_object_is_type(c, json_type_string) ? json_object_get_string(c) : "?");
	}
	s->negotiated = true;
	return send_return(s, id, NULL);
}

static int cmd_query_status(struct qmp_session *s, struct json_object *id)
{
	struct json_object *r = json_object_new_object();

	json_object_object_add(r, "status", json_object_new_string(s->facts->running ? "running" : "prelaunch"));
	json_object_object_add(r, "singlestep", json_object_new_boolean(0));
	json_object_object_add(r, "running", json_object_new_boolean(s->facts->running));
	return send_return(s, id, r);
}

static int cmd_query_name(struct qmp_session *s, struct json_object *id)
{
	struct json_object *r = json_object_new_object();

	if (s->facts->name && s->facts->name[0])
		json_object_object_add(r, "name", json_object_new_string(s->facts->name));
	return send_return(s, id, r);
}

static int cmd_query_commands(struct qmp_session *s, struct json_object *id)
{
	struct json_object *r = json_object_new_array();

	for (size_t i = 0; i < ARRAY_SIZE(qmp_commands); i++) {
		struct json_object *c = json_object_new_object();

		json_object_object_add(c, "name", json_object_new_string(qmp_commands[i]));
		json_object_array_add(r, c);
	}
	return send_return(s, id, r);
}

/* qom-get: the one object and property a QMP user of an enclave asks for, the CID. */
static int cmd_qom_get(struct qmp_session *s, struct json_object *id, struct json_object *args)
{
	static const char *const names[] = { "path", "property" };
	const char *path, *prop;
	int ret = check_args(s, id, args, names, ARRAY_SIZE(names));

	if (ret)
		return ret < 0 ? ret : 0;
	path = arg_str(args, "path");
	prop = arg_str(args, "property");
	/* QEMU resolves a partial path when it names one object: the device id alone does. */
	if (strcmp(path, QMP_VSOCK_PATH) && strcmp(path, QMP_VSOCK_ID))
		return send_error(s, id, "DeviceNotFound", "Device '%s' not found", path);
	if (strcmp(prop, QMP_VSOCK_PROPERTY))
		return send_error(s, id, "GenericError", "Property 'nitro-vsock-bridge.%s' not found", prop);
	return send_return(s, id, json_object_new_int64((int64_t)s->facts->cid));
}

static int dispatch(struct qmp_session *s, const char *cmd, struct json_object *id, struct json_object *args)
{
	int ret;

	if (!strcmp(cmd, "qmp_capabilities"))
		return cmd_capabilities(s, id, args);
	if (!s->negotiated)
		return send_error(s, id, "CommandNotFound", "Expecting capabilities negotiation with "
				  "'qmp_capabilities'");
	if (!strcmp(cmd, "qom-get"))
		return cmd_qom_get(s, id, args);
	for (size_t i = 0; i < ARRAY_SIZE(qmp_commands); i++) {
		if (strcmp(cmd, qmp_commands[i]))
			continue;
		ret = check_args(s, id, args, NULL, 0);
		if (ret)
			return ret < 0 ? ret : 0;
		if (!strcmp(cmd, "query-status"))
			return cmd_query_status(s, id);
		if (!strcmp(cmd, "query-version"))
			return send_return(s, id, version_json());
		if (!strcmp(cmd, "query-name"))
			return cmd_query_name(s, id);
		if (!strcmp(cmd, "query-commands"))
			return cmd_query_commands(s, id);
		/* system_powerdown, quit: reply first; the events follow as the enclave ends. */
		ret = send_return(s, id, NULL);
		if (!strcmp(cmd, "quit"))
			s->ops->quit(s->ops->opaque);
		else
			s->ops->powerdown(s->ops->opaque);
		return ret;
	}
	return send_error(s, id, "CommandNotFound", "The command %s has not been found", cmd);
}

/* One complete message (QEMU's checks and wording, qmp-dispatch.c). */
static int handle_message(struct qmp_session *s, struct json_object *msg)
{
	struct json_object *id = NULL, *exec = NULL, *args = NULL;

	if (!json_object_is_type(msg, json_type_object))
		return send_error(s, NULL, "GenericError", "QMP input must be a JSON object");
	json_object_object_get_ex(msg, "id", &id);
	json_object_object_foreach(msg, key, val) {
		(void)val;
		if (strcmp(key, "execute") && strcmp(key, "arguments") && strcmp(key, "id"))
			return send_error(s, id, "GenericError", "QMP input member '%s' is unexpected", key);
	}
	if (!json_object_object_get_ex(msg, "execute", &exec))
		return send_error(s, id, "GenericError", "QMP input lacks member 'execute'");
	if (!json_object_is_type(exec, json_type_string))
		return send_error(s, id, "GenericError", "QMP input member 'execute' must be a string");
	if (json_object_object_get_ex(msg, "arguments", &args) && !json_object_is_type(args, json_type_object))
		return send_error(s, id, "GenericError", "QMP input member 'arguments' must be an object");
	return dispatch(s, json_object_get_string(exec), id, args);
}

struct qmp_session *qmp_session_new(const struct qmp_ops *ops, const struct qmp_facts *facts, qmp_out_fn out,
				    void *out_opaque)
{
	struct qmp_session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->ops = ops;
	s->facts = facts;
	s->out = out;
	s->out_opaque = out_opaque;
	s->tok = json_tokener_new_ex(QMP_DEPTH_MAX);
	if (!s->tok || send_greeting(s) < 0) {
		qmp_session_free(s);
		return NULL;
	}
	return s;
}

void qmp_session_free(struct qmp_session *s)
{
	if (!s)
		return;
	if (s->tok)
		json_tokener_free(s->tok);
	free(s);
}

static bool is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int qmp_session_input(struct qmp_session *s, const uint8_t *buf, size_t len)
{
	while (len) {
		struct json_object *msg;
		enum json_tokener_error e;
		size_t used, chunk;
		int ret;

		/* Between messages, whitespace is nothing (json-c would wait on it for a value to begin). */
		if (!s->pending && is_space(*buf)) {
			buf++;
			len--;
			continue;
		}
		/* Feed no more than completes the bound: a message that does not end by then is refused. */
		chunk = MIN(len, (size_t)QMP_MSG_MAX - s->pending);
		msg = json_tokener_parse_ex(s->tok, (const char *)buf, (int)chunk);
		e = json_tokener_get_error(s->tok);
		if (e == json_tokener_continue) {
			s->pending += chunk;
			if (s->pending >= QMP_MSG_MAX) {
				send_error(s, NULL, "GenericError", "JSON parse error, message over %d bytes", QMP_MSG_MAX);
				return err_set(EPROTO, "a QMP client sent a message of more than %d bytes", QMP_MSG_MAX);
			}
			buf += chunk;
			len -= chunk;
			continue;
		}
		if (e != json_tokener_success) {
			send_error(s, NULL, "GenericError", "JSON parse error, %s", json_tokener_error_desc(e));
			return err_set(EPROTO, "a QMP client sent what is not JSON (%s)", json_tokener_error_desc(e));
		}
		used = json_tokener_get_parse_end(s->tok);
		if (used > chunk || !used)
			used = chunk; /* never trust the count to move backwards or stand still */
		json_tokener_reset(s->tok);
		s->pending = 0;
		buf += used;
		len -= used;
		ret = handle_message(s, msg);
		json_object_put(msg);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int qmp_session_event(struct qmp_session *s, const char *name, struct json_object *data)
{
	struct json_object *o, *ts;
	struct timeval tv;

	if (!s->negotiated) {
		json_object_put(data);
		return 0;
	}
	o = json_object_new_object();
	ts = json_object_new_object();
	gettimeofday(&tv, NULL);
	json_object_object_add(o, "event", json_object_new_string(name));
	if (data)
		json_object_object_add(o, "data", data);
	json_object_object_add(ts, "seconds", json_object_new_int64(tv.tv_sec));
	json_object_object_add(ts, "microseconds", json_object_new_int64(tv.tv_usec));
	json_object_object_add(o, "timestamp", ts);
	return send_obj(s, o);
}

/* ---- the server ---- */

struct qmp_client {
	struct qmp_server *q;
	int fd;
	struct qmp_session *s;
	char *out; /* what the client has not taken yet */
	size_t out_len;
	bool watching_out;
	bool closing; /* the session ended: close once the output is out */
};

struct qmp_listener {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* removed at stop; "" for TCP */
};

struct qmp_server {
	struct evloop *loop;
	struct qmp_ops ops;
	struct qmp_facts facts;
	char name[256];
	struct qmp_listener listeners[QMP_LISTEN_MAX];
	unsigned int nlisteners;
	struct qmp_client *clients[QMP_CLIENTS_MAX];
	bool ended;
};

static void client_close(struct qmp_client *c)
{
	struct qmp_server *q = c->q;

	for (unsigned int i = 0; i < QMP_CLIENTS_MAX; i++)
		if (q->clients[i] == c)
			q->clients[i] = NULL;
	if (q->loop && !q->ended)
		evloop_del(q->loop, c->fd);
	close(c->fd);
	qmp_session_free(c->s);
	free(c->out);
	free(c);
}

static void on_client(void *opaque, int fd, uint32_t events);

/* Watch for output room only while something waits (an idle client is not woken for nothing). */
static void client_watch(struct qmp_client *c)
{
	bool want_out = c->out_len > 0;

	if (want_out == c->watching_out || c->q->ended)
		return;
	evloop_del(c->q->loop, c->fd);
	if (evloop_add(c->q->loop, c->fd, EPOLLIN | (want_out ? EPOLLOUT : 0), on_client, c) == 0)
		c->watching_out = want_out;
}

/* Write what waits, without blocking.  -EPIPE when the client is gone. */
static int client_flush(struct qmp_client *c)
{
	while (c->out_len) {
		ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return -EPIPE;
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	return 0;
}

static int client_out(void *opaque, const char *text, size_t len)
{
	struct qmp_client *c = opaque;
	char *more;

	if (c->out_len + len > QMP_OUT_MAX)
		return err_set(ENOBUFS, "a QMP client left %d bytes unread", QMP_OUT_MAX);
	more = realloc(c->out, c->out_len + len);
	if (!more)
		return -ENOMEM;
	memcpy(more + c->out_len, text, len);
	c->out = more;
	c->out_len += len;
	return client_flush(c);
}

static void on_client(void *opaque, int fd, uint32_t events)
{
	struct qmp_client *c = opaque;
	uint8_t buf[4096];
	ssize_t n;

	if ((events & EPOLLOUT) && client_flush(c) < 0) {
		client_close(c);
		return;
	}
	if (c->closing) {
		if (!c->out_len)
			client_close(c);
		else
			client_watch(c);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			client_close(c);
			return;
		}
		if (qmp_session_input(c->s, buf, (size_t)n) < 0) {
			fprintf(stderr, "nitrovm: QMP: %s; closing that connection\n", err_msg());
			c->closing = true;
		}
		/* quit or system_powerdown may have ended the server's loop work: check before touching more. */
		if (c->q->ended)
			return;
		if (c->closing && !c->out_len) {
			client_close(c);
			return;
		}
	}
	client_watch(c);
}

static void accept_client(struct qmp_server *q, int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), slot = -1;
	struct qmp_client *c;

	if (fd < 0)
		return;
	for (int i = 0; i < QMP_CLIENTS_MAX && slot < 0; i++)
		if (!q->clients[i])
			slot = i;
	c = slot >= 0 ? calloc(1, sizeof(*c)) : NULL;
	if (!c) {
		static const char busy[] = "{\"error\": {\"class\": \"GenericError\", \"desc\": \"too many QMP "
					   "clients\"}}\r\n";

		if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
			/* it is closed either way */
		}
		close(fd);
		return;
	}
	c->q = q;
	c->fd = fd;
	q->clients[slot] = c;
	c->s = qmp_session_new(&q->ops, &q->facts, client_out, c);
	if (!c->s || (q->loop && evloop_add(q->loop, fd, EPOLLIN, on_client, c) < 0)) {
		client_close(c);
		return;
	}
	if (q->loop)
		client_watch(c);
}

static void on_listener(void *opaque, int fd, uint32_t events)
{
	(void)events;
	accept_client(opaque, fd);
}

static bool host_is_loopback(const struct addrinfo *ai)
{
	if (ai->ai_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr) >> 24) == 127;
	if (ai->ai_family == AF_INET6) {
		static const struct in6_addr lo = IN6ADDR_LOOPBACK_INIT;

		return !memcmp(&((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, &lo, sizeof(lo));
	}
	return false;
}

static int listen_tcp(const struct qmp_listen_addr *a)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *ai = NULL;
	const char *host = a->host && a->host[0] ? a->host : "127.0.0.1";
	int fd, one = 1, ret = getaddrinfo(host, a->port, &hints, &ai);

	if (ret)
		return err_set(EINVAL, "QMP address %s:%s: %s", host, a->port, gai_strerror(ret));
	/* QMP has no authentication: whoever reaches the port may end the enclave. */
	if (!host_is_loopback(ai)) {
		freeaddrinfo(ai);
		return err_set(EINVAL, "QMP on tcp:%s:%s: QMP has no authentication, so nitrovm listens on loopback "
				       "addresses only (127.0.0.1, ::1, localhost)", host, a->port);
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, QMP_CLIENTS_MAX) < 0) {
		ret = err_set(errno, "cannot listen for QMP on tcp:%s:%s: %s", host, a->port, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return ret;
	}
	freeaddrinfo(ai);
	return fd;
}

static int listen_unix(const struct qmp_listen_addr *a, struct qmp_listener *l)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, ret;

	if (strlen(a->path) >= sizeof(sa.sun_path))
		return err_set(ENAMETOOLONG, "QMP socket path %s is longer than %zu bytes", a->path,
			       sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, a->path, strlen(a->path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(errno, "cannot create the QMP socket: %s", strerror(errno));
	/* QEMU replaces a stale socket file; so do we (a live one belongs to someone: bind then fails). */
	{
		struct stat st;

		if (lstat(a->path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(a->path);
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, QMP_CLIENTS_MAX) < 0) {
		ret = err_set(errno, "cannot listen for QMP on unix:%s: %s", a->path, strerror(errno));
		close(fd);
		return ret;
	}
	snprintf(l->path, sizeof(l->path), "%s", a->path);
	return fd;
}

/*
 * wait=on: the enclave starts once a client connected (QEMU waits the same way).  SIGINT or SIGTERM, which
 * the launch has blocked for its signalfd, end the wait: they stay pending for the launch to see.
 */
static int wait_for_client(struct qmp_server *q, struct qmp_listener *l, const struct qmp_listen_addr *a)
{
	fprintf(stderr, "nitrovm: waiting for a QMP connection on %s%s%s%s\n", a->path ? "unix:" : "tcp:",
		a->path ? a->path : (a->host ? a->host : "127.0.0.1"), a->path ? "" : ":", a->path ? "" : a->port);
	for (;;) {
		struct pollfd pfd = { .fd = l->fd, .events = POLLIN };
		sigset_t pending;

		if (poll(&pfd, 1, QMP_WAIT_POLL_MS) > 0) {
			accept_client(q, l->fd);
			return 0;
		}
		sigpending(&pending);
		if (sigismember(&pending, SIGINT) || sigismember(&pending, SIGTERM))
			return err_set(EINTR, "interrupted while waiting for a QMP client");
	}
}

struct qmp_server *qmp_server_start(struct evloop *loop, const struct qmp_listen_addr *addrs, unsigned int n,
				    const struct qmp_ops *ops, const struct qmp_facts *facts)
{
	struct qmp_server *q = calloc(1, sizeof(*q));

	if (!q) {
		err_set(ENOMEM, "out of memory");
		return NULL;
	}
	q->ops = *ops;
	qmp_server_update(q, facts);
	for (unsigned int i = 0; i < n && i < QMP_LISTEN_MAX; i++) {
		struct qmp_listener *l = &q->listeners[q->nlisteners];
		int fd = addrs[i].path ? listen_unix(&addrs[i], l) : listen_tcp(&addrs[i]);

		if (fd < 0)
			goto fail;
		l->fd = fd;
		q->nlisteners++;
		if (addrs[i].wait && wait_for_client(q, l, &addrs[i]) < 0)
			goto fail;
	}
	/* Clients accepted while waiting join the loop now. */
	q->loop = loop;
	for (unsigned int i = 0; i < q->nlisteners; i++)
		if (evloop_add(loop, q->listeners[i].fd, EPOLLIN, on_listener, q) < 0)
			goto fail;
	for (unsigned int i = 0; i < QMP_CLIENTS_MAX; i++) {
		if (q->clients[i] && evloop_add(loop, q->clients[i]->fd, EPOLLIN, on_client, q->clients[i]) < 0)
			goto fail;
		if (q->clients[i])
			client_watch(q->clients[i]);
	}
	return q;
fail:
	q->ended = true; /* nothing to take off the loop: the caller's failure ends it */
	qmp_server_stop(q);
	return NULL;
}

void qmp_server_update(struct qmp_server *q, const struct qmp_facts *facts)
{
	snprintf(q->name, sizeof(q->name), "%s", facts->name ? facts->name : "");
	q->facts = *facts;
	q->facts.name = q->name;
}

static void broadcast(struct qmp_server *q, const char *name, bool shutdown, bool guest, const char *reason)
{
	for (unsigned int i = 0; i < QMP_CLIENTS_MAX; i++) {
		struct qmp_client *c = q->clients[i];
		struct json_object *data = NULL;

		if (!c || c->closing)
			continue;
		if (shutdown) {
			data = json_object_new_object();
			json_object_object_add(data, "guest", json_object_new_boolean(guest));
			json_object_object_add(data, "reason", json_object_new_string(reason));
		}
		if (qmp_session_event(c->s, name, data) < 0)
			c->closing = true;
		if (!q->ended)
			client_watch(c);
	}
}

void qmp_server_powerdown_event(struct qmp_server *q)
{
	broadcast(q, "POWERDOWN", false, false, NULL);
}

void qmp_server_ended(struct qmp_server *q, bool guest, const char *reason)
{
	/* The loop runs no more: take everything off it first, then write what each client takes now. */
	for (unsigned int i = 0; i < QMP_CLIENTS_MAX; i++)
		if (q->clients[i])
			evloop_del(q->loop, q->clients[i]->fd);
	for (unsigned int i = 0; i < q->nlisteners; i++)
		evloop_del(q->loop, q->listeners[i].fd);
	q->ended = true;
	/* What clients sent before the end is answered first (a qmp_capabilities sent as the enclave started). */
	for (unsigned int i = 0; i < QMP_CLIENTS_MAX; i++) {
		struct qmp_client *c = q->clients[i];
		uint8_t buf[4096];
		ssize_t n;

		while (c && !c->closing && (n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
			if (qmp_session_input(c->s, buf, (size_t)n) < 0)
				c->closing = true;
	}
	broadcast(q, "SHUTDOWN", true, guest, reason);
	for (unsigned int i = 0; i < QMP_CLIENTS_MAX; i++) {
		struct qmp_client *c = q->clients[i];
		struct pollfd pfd;

		/* A client that reads gets its last events; one that does not, 100 ms of patience. */
		while (c && c->out_len && client_flush(c) == 0) {
			pfd = (struct pollfd){ .fd = c->fd, .events = POLLOUT };
			if (poll(&pfd, 1, 100) <= 0)
				break;
		}
	}
}

void qmp_server_stop(struct qmp_server *q)
{
	if (!q)
		return;
	if (!q->ended && q->loop) {
		for (unsigned int i = 0; i < q->nlisteners; i++)
			evloop_del(q->loop, q->listeners[i].fd);
	}
	for (unsigned int i = 0; i < QMP_CLIENTS_MAX; i++)
		if (q->clients[i])
			client_close(q->clients[i]);
	for (unsigned int i = 0; i < q->nlisteners; i++) {
		close(q->listeners[i].fd);
		if (q->listeners[i].path[0])
			unlink(q->listeners[i].path);
	}
	free(q);
}
