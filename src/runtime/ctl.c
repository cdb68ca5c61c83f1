// SPDX-License-Identifier: MIT
/*
 * The monitor's control socket, <state dir>/m.sock: one request line per connection, one reply line.
 *
 *   start        boot the enclave (the container was created)        ok
 *   signal N     pass signal N to the app (or, before it runs, end)  ok | error <sentence>
 *
 * The socket is reached through /proc/self/fd/<dir>/m.sock, so that a long --root and a long id never run
 * into sun_path's 108 bytes.  Only its owner and root may talk to it (the directory is 0700 too); a request
 * must arrive whole within RT_CTL_TIMEOUT_MS and fit in a line.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime.h"

#define RT_CTL_BACKLOG 16

/* The socket's address through an O_PATH descriptor of its directory (which must stay open while it is used). */
static int ctl_addr(const char *dir, struct sockaddr_un *a, int *dfd)
{
	*dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*dfd < 0)
		return -errno;
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	snprintf(a->sun_path, sizeof(a->sun_path), "/proc/self/fd/%d/%s", *dfd, RT_CTL_SOCKET);
	return 0;
}

int rt_ctl_listen(const char *dir)
{
	struct sockaddr_un a;
	int dfd, fd, ret = ctl_addr(dir, &a, &dfd);

	if (ret)
		return err_set(-ret, "cannot open %s: %s", dir, strerror(-ret));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	unlinkat(dfd, RT_CTL_SOCKET, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || fchmodat(dfd, RT_CTL_SOCKET, 0600, 0) ||
	    listen(fd, RT_CTL_BACKLOG)) {
		ret = err_set(errno, "cannot listen on %s/%s: %s", dir, RT_CTL_SOCKET, strerror(errno));
		if (fd >= 0)
			close(fd);
		close(dfd);
		return ret;
	}
	close(dfd);
	return fd;
}

/* Read one line (without its newline) from fd within timeout_ms. */
static int read_line(int fd, char *buf, size_t len, int timeout_ms)
{
	size_t got = 0;

	while (got + 1 < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, timeout_ms) <= 0)
			return -ETIMEDOUT;
		n = read(fd, buf + got, len - 1 - got);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return got ? -EPROTO : -EPIPE;
		got += (size_t)n;
		if (memchr(buf, '\n', got)) {
			*(char *)memchr(buf, '\n', got) = '\0';
			return 0;
		}
	}
	return -EMSGSIZE;
}

int rt_ctl_request(const char *dir, const char *request, char *reply, size_t len)
{
	struct sockaddr_un a;
	char line[RT_CTL_LINE_MAX];
	int dfd, fd, ret = ctl_addr(dir, &a, &dfd);

	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		ret = -errno;
		goto out;
	}
	snprintf(line, sizeof(line), "%s\n", request);
	ret = write_full(fd, line, strlen(line));
	if (!ret)
		ret = read_line(fd, reply, len, RT_CTL_TIMEOUT_MS);
out:
	if (fd >= 0)
		close(fd);
	close(dfd);
	return ret;
}

int rt_ctl_accept(int lfd, char *request, size_t len, int timeout_ms)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	fcntl(fd, F_SETFL, 0);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) || (cred.uid && cred.uid != geteuid())) {
		close(fd);
		return -EPERM;
	}
	ret = read_line(fd, request, len, timeout_ms);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

void rt_ctl_reply(int fd, const char *reply)
{
	char line[RT_CTL_LINE_MAX];

	snprintf(line, sizeof(line), "%s\n", reply);
	if (write_full(fd, line, strlen(line))) {
		/* the asker went away; nothing to tell */
	}
	close(fd);
}
