// SPDX-License-Identifier: MIT
/*
 * A terminal for a container with process.terminal: a new pty whose master goes to the engine over the console
 * socket (SCM_RIGHTS, with the pty's name as the message, as runc sends it), and whose slave the monitor keeps
 * as the app's terminal end: what the app writes goes to it, what the user types comes from it.  The app
 * itself runs on pipes inside the enclave; the host's pty is where the line discipline (echo, \r\n) lives.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime.h"

static int send_master(const char *socket_path, int master, const char *name)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = (void *)name, .iov_len = strlen(name) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	int fd, ret = 0;

	if (strlen(socket_path) >= sizeof(a.sun_path))
		return err_set(ENAMETOOLONG, "the console socket path %.64s... is too long", socket_path);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		ret = err_set(errno, "cannot connect to the console socket %s: %s", socket_path, strerror(errno));
		goto out;
	}
	memset(cbuf, 0, sizeof(cbuf));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &master, sizeof(int));
	if (sendmsg(fd, &msg, MSG_NOSIGNAL) < 0)
		ret = err_set(errno, "cannot send the terminal over the console socket: %s", strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	return ret;
}

int rt_tty_open(const char *console_socket, unsigned int rows, unsigned int cols)
{
	char name[64];
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), slave = -1, ret;

	if (master < 0 || grantpt(master) || unlockpt(master) || ptsname_r(master, name, sizeof(name))) {
		ret = err_set(errno, "cannot make a terminal for the container: %s", strerror(errno));
		goto fail;
	}
	slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0) {
		ret = err_set(errno, "cannot open the terminal %s: %s", name, strerror(errno));
		goto fail;
	}
	if (rows && cols) {
		struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };

		ioctl(slave, TIOCSWINSZ, &ws);
	}
	ret = send_master(console_socket, master, name);
	if (ret)
		goto fail;
	close(master);
	return slave;
fail:
	if (master >= 0)
		close(master);
	if (slave >= 0)
		close(slave);
	return ret;
}
