// SPDX-License-Identifier: MIT
/*
 * The Unix-socket vsock PATH: Firecracker's hybrid vsock over Unix sockets (reference/microvm-peers.md A9), on the
 * endpoint interface.
 *
 * Host -> enclave: a client connects to PATH and writes "CONNECT <port>\n" (the verb in any case, the port in
 * decimal).  We read exactly that line and nothing past it -- bytes after the newline belong to the stream --
 * connect to the enclave's port, and only once the enclave accepted answer "OK <parent port>\n", where the port
 * is the parent side's (Firecracker's host-assigned local port, not the requested one).  A refused connect or a
 * bad line closes the client's stream without a word, as Firecracker does.
 *
 * Enclave -> host: a connection to parent port P goes to the Unix socket PATH_P.  The endpoint interface
 * listens per port, so we listen on exactly the ports whose PATH_P socket exists: the directory is scanned
 * at start and watched with inotify.  A port without a socket is not listened on, so the enclave's REQUEST is
 * answered with RST, as Firecracker answers a failed connect.  (A socket file nobody serves any more is
 * only found out at connect time: where the parent side joins host sockets the enclave then gets RST too;
 * elsewhere it sees its connection accepted and closed.  So is a name the enclave process can no longer look at
 * itself, having given up the file system (bridge_config's connect_unix makes its connections).)
 */
#include "vsock/bridge_impl.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "vsock/vsock.h"

/* Bytes of inotify events read at once (names are at most NAME_MAX). */
#define UDS_INOTIFY_BUF (16 * (sizeof(struct inotify_event) + NAME_MAX + 1))

struct uds_port {
	uint32_t port;
	struct bridge_listener *l; /* NULL: the slot is free */
};

struct bridge_uds {
	struct bridge_set *s;
	char path[PATH_MAX];
	char dir[PATH_MAX];
	char base[NAME_MAX + 1];
	struct bridge_watch w; /* inotify on dir */
	struct uds_port ports[BRIDGE_UDS_MAX_PORTS];
	bool full_logged;
};

/* ---- host -> enclave: the CONNECT line ---- */

static int parse_connect_line(char *line)
{
	char *save = NULL, *verb = strtok_r(line, " \t\r", &save), *port = strtok_r(NULL, " \t\r", &save);
	char *end;
	unsigned long v;

	if (!verb || !port || strtok_r(NULL, " \t\r", &save) || strcasecmp(verb, "connect") || !isdigit(port[0]))
		return -EINVAL;
	errno = 0;
	v = strtoul(port, &end, 10);
	if (*end || errno || v > UINT32_MAX || v > INT_MAX)
		return -EINVAL;
	return (int)v;
}

int bridge_uds_read_connect(struct bridge_conn *bc)
{
	int fd = bc->w[SIDE_HOST].fd;
	size_t room = BRIDGE_CONNECT_LINE_MAX - bc->line_len;
	char *nl;
	ssize_t n;

	/* Peek, then take only up to the newline: what follows it is the client's first stream bytes. */
	n = recv(fd, bc->line + bc->line_len, room, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -EAGAIN;
	if (n <= 0)
		return -EPIPE;
	nl = memchr(bc->line + bc->line_len, '\n', (size_t)n);
	if (nl)
		n = nl - (bc->line + bc->line_len) + 1;
	if (recv(fd, bc->line + bc->line_len, (size_t)n, MSG_DONTWAIT) != n)
		return -EPIPE;
	bc->line_len += (size_t)n;
	if (!nl) {
		if (bc->line_len == BRIDGE_CONNECT_LINE_MAX) {
			vsock_log("bridge %s: no \"CONNECT <port>\" line in the first %d bytes: closed", bc->what,
				  BRIDGE_CONNECT_LINE_MAX);
			return -EINVAL;
		}
		return -EAGAIN;
	}
	bc->line[bc->line_len - 1] = '\0';
	n = parse_connect_line(bc->line);
	if (n < 0) {
		vsock_log("bridge %s: expected \"CONNECT <port>\": closed", bc->what);
		return -EINVAL;
	}
	snprintf(bc->what, sizeof(bc->what), "unix:%.120s -> enclave port %zd", bc->s->uds->path, n);
	return (int)n;
}

/* ---- enclave -> host: PATH_<port> ---- */

/* The port named by a directory entry "<base>_<port>", or -1. */
static int64_t entry_port(const struct bridge_uds *u, const char *name)
{
	size_t bl = strlen(u->base);
	const char *p = name + bl + 1;
	char *end;
	unsigned long long v;

	if (strncmp(name, u->base, bl) || name[bl] != '_' || !isdigit((unsigned char)*p))
		return -1;
	errno = 0;
	v = strtoull(p, &end, 10);
	if (*end || errno || v > UINT32_MAX)
		return -1;
	return (int64_t)v;
}

static struct uds_port *port_find(struct bridge_uds *u, uint32_t port)
{
	for (unsigned int i = 0; i < BRIDGE_UDS_MAX_PORTS; i++)
		if (u->ports[i].l && u->ports[i].port == port)
			return &u->ports[i];
	return NULL;
}

static void port_add(struct bridge_uds *u, const char *name)
{
	int64_t port = entry_port(u, name);
	struct bridge_addr a;
	struct uds_port *slot = NULL;
	char path[PATH_MAX];
	struct stat st;

	if (port < 0 || port_find(u, (uint32_t)port))
		return;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", u->dir, name) >= sizeof(path) ||
	    (stat(path, &st) == 0 ? !S_ISSOCK(st.st_mode) : !u->s->connect_unix) || bridge_addr_unix(&a, path) < 0)
		return;
	for (unsigned int i = 0; i < BRIDGE_UDS_MAX_PORTS && !slot; i++)
		if (!u->ports[i].l)
			slot = &u->ports[i];
	if (!slot) {
		if (!u->full_logged)
			vsock_log("bridge unix:%s: already %d PATH_<port> sockets served: %s is not", u->path,
				  BRIDGE_UDS_MAX_PORTS, path);
		u->full_logged = true;
		return;
	}
	slot->l = bridge_listen_vsock(u->s, (uint32_t)port, &a);
	if (!slot->l) {
		vsock_log("bridge unix:%s: %s", u->path, err_msg());
		return;
	}
	slot->port = (uint32_t)port;
}

static void port_remove(struct bridge_uds *u, const char *name)
{
	int64_t port = entry_port(u, name);
	struct uds_port *p = port < 0 ? NULL : port_find(u, (uint32_t)port);

	if (!p)
		return;
	/* Connections already made go on; new REQUESTs to the port get RST again. */
	bridge_unlisten(p->l);
	p->l = NULL;
	u->full_logged = false;
}

static void on_inotify(struct bridge_watch *w, uint32_t events)
{
	struct bridge_uds *u = w->owner;
	char buf[UDS_INOTIFY_BUF] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	(void)events;
	while ((n = read(w->fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			if (ev->len && (ev->mask & (IN_CREATE | IN_MOVED_TO)))
				port_add(u, ev->name);
			else if (ev->len && (ev->mask & (IN_DELETE | IN_MOVED_FROM)))
				port_remove(u, ev->name);
			p += sizeof(*ev) + ev->len;
		}
	}
}

static int scan_dir(struct bridge_uds *u)
{
	DIR *d = opendir(u->dir);
	struct dirent *de;

	if (!d)
		return err_set(errno, "cannot read %s, the Unix-socket vsock's directory: %s", u->dir, strerror(errno));
	while ((de = readdir(d)))
		port_add(u, de->d_name);
	closedir(d);
	return 0;
}

int bridge_uds_create(struct bridge_set *s, const char *path)
{
	struct bridge_uds *u = calloc(1, sizeof(*u));
	struct bridge_addr a;
	const char *slash;

	if (!u)
		return err_set(ENOMEM, "out of memory");
	s->uds = u;
	u->s = s;
	u->w = (struct bridge_watch){ .fd = -1, .fn = on_inotify, .owner = u };
	snprintf(u->path, sizeof(u->path), "%s", path);
	slash = strrchr(path, '/');
	if (slash)
		snprintf(u->dir, sizeof(u->dir), "%.*s", (int)(slash == path ? 1 : slash - path), path);
	else
		snprintf(u->dir, sizeof(u->dir), ".");
	snprintf(u->base, sizeof(u->base), "%s", slash ? slash + 1 : path);
	if (!u->base[0])
		return err_set(EINVAL, "the Unix-socket vsock %s names a directory, not a socket", path);
	if (bridge_addr_unix(&a, path) < 0 || !bridge_listen_host(s, &a, 0, true))
		return -EINVAL;
	/* Watch first, then scan: a socket created in between is seen twice, which port_add ignores. */
	u->w.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (u->w.fd < 0 ||
	    inotify_add_watch(u->w.fd, u->dir, IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM) < 0)
		return err_set(errno, "cannot watch %s, the Unix-socket vsock's directory: %s", u->dir, strerror(errno));
	if (bridge_watch_set(s, &u->w, EPOLLIN) < 0)
		return -EIO;
	return scan_dir(u);
}

void bridge_uds_free(struct bridge_set *s)
{
	struct bridge_uds *u = s->uds;

	if (!u)
		return;
	if (u->w.fd >= 0) {
		bridge_watch_set(s, &u->w, 0);
		close(u->w.fd);
	}
	/* The port listeners are in the set's table and closed with it. */
	free(u);
	s->uds = NULL;
}
