// SPDX-License-Identifier: MIT
/*
 * The container's stdio in the monitor: the descriptors create was given (non-tty) or the pty's slave (tty),
 * moved away from 0, 1 and 2, which then point at /dev/null and the monitor's log, so that nothing the monitor
 * says itself lands in the container's output and no caller that reads create's output to its end waits for
 * the monitor.
 *
 * Out: the app's stdout and stderr, written without blocking; when the reader is slow the app channel pauses
 * (the app then blocks in the enclave) and resumes once the descriptor takes more.  In: stdin, read once the
 * app runs and passed to it as the channel takes it; a stdin epoll cannot watch (/dev/null, a regular file) is
 * an empty one, as for a container started without -i.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/util.h"
#include "enclave/launch.h"
#include "runtime.h"

/* Above what the monitor's own setup opens first, so that 0, 1 and 2 can be replaced safely. */
#define RT_STDIO_FD_MIN 10

static int move_fd(int fd)
{
	int n = fcntl(fd, F_DUPFD_CLOEXEC, RT_STDIO_FD_MIN);

	return n < 0 ? -errno : n;
}

static void nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int null_stdio(void)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null < 0)
		return err_set(errno, "cannot open /dev/null: %s", strerror(errno));
	for (int i = 0; i < 3; i++)
		dup2(null, i);
	close(null);
	return 0;
}

int rt_stdio_take(struct rt_stdio *s, int tty_slave)
{
	memset(s, 0, sizeof(*s));
	s->in = s->out = s->err = -1;
	s->waiting = -1;
	if (tty_slave >= 0) {
		/* Separate descriptors for in and out: epoll watches each on its own. */
		s->in = tty_slave;
		s->out = move_fd(tty_slave);
		s->err = s->out;
	} else {
		s->in = move_fd(STDIN_FILENO);
		s->out = move_fd(STDOUT_FILENO);
		s->err = move_fd(STDERR_FILENO);
	}
	if (s->in < 0 || s->out < 0 || s->err < 0)
		return err_set(EBADF, "the container's stdio is not usable");
	nonblocking(s->out);
	if (s->err != s->out)
		nonblocking(s->err);
	nonblocking(s->in);
	return null_stdio();
}

void rt_stdio_say(const struct rt_stdio *s, const char *line)
{
	int fl = fcntl(s->err, F_GETFL);

	/* One line of our own, after the app's output: worth waiting for a slow reader. */
	fcntl(s->err, F_SETFL, fl & ~O_NONBLOCK);
	if (write_full(s->err, line, strlen(line))) {
		/* the reader is gone */
	}
	fcntl(s->err, F_SETFL, fl);
}

static void on_writable(void *opaque, int fd, uint32_t events)
{
	struct rt_stdio *s = opaque;

	(void)events;
	evloop_del(launch_loop(s->run), fd);
	s->waiting = -1;
	launch_app_resume(s->run);
}

size_t rt_stdio_output(struct rt_stdio *s, int stream, const uint8_t *buf, size_t len)
{
	int fd = stream == 2 ? s->err : s->out;
	ssize_t n = write(fd, buf, len);

	if (n < 0 && errno == EINTR)
		n = 0;
	if (n < 0 && errno != EAGAIN)
		return len; /* nobody reads the container's output any more: it is dropped, the app goes on */
	if (n >= 0 && (size_t)n == len)
		return len;
	if (s->waiting < 0 && s->run && evloop_add(launch_loop(s->run), fd, EPOLLOUT, on_writable, s) == 0)
		s->waiting = fd;
	if (s->waiting < 0)
		return len; /* cannot wait for it: do not stall the app for ever */
	return n > 0 ? (size_t)n : 0;
}

static void stdin_ended(struct rt_stdio *s)
{
	if (s->in_watched)
		evloop_del(launch_loop(s->run), s->in);
	s->in_watched = false;
	s->in_eof = true;
	launch_app_input_eof(s->run);
}

/* Hand what was read to the app; stop reading while the channel is full. */
static void feed(struct rt_stdio *s)
{
	while (s->in_off < s->in_len) {
		size_t n = launch_app_input(s->run, s->in_buf + s->in_off, s->in_len - s->in_off);

		if (!n) {
			if (s->in_watched)
				evloop_del(launch_loop(s->run), s->in);
			s->in_watched = false;
			return;
		}
		s->in_off += n;
	}
	s->in_off = s->in_len = 0;
}

static void on_stdin(void *opaque, int fd, uint32_t events)
{
	struct rt_stdio *s = opaque;
	ssize_t n = read(fd, s->in_buf, sizeof(s->in_buf));

	(void)events;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) { /* the end, or a pty whose master was closed (EIO) */
		stdin_ended(s);
		return;
	}
	s->in_len = (size_t)n;
	s->in_off = 0;
	feed(s);
}

static void watch_stdin(struct rt_stdio *s)
{
	if (s->in_eof || s->in_watched)
		return;
	if (evloop_add(launch_loop(s->run), s->in, EPOLLIN, on_stdin, s) == 0)
		s->in_watched = true;
	else
		stdin_ended(s); /* /dev/null or a regular file: nothing to wait for */
}

void rt_stdio_app_started(struct rt_stdio *s, struct launch_run *run)
{
	s->run = run;
	watch_stdin(s);
}

void rt_stdio_input_room(struct rt_stdio *s)
{
	feed(s);
	if (s->in_off == s->in_len)
		watch_stdin(s);
}

void rt_stdio_attach(struct rt_stdio *s, struct launch_run *run)
{
	s->run = run;
}
