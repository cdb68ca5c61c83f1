// SPDX-License-Identifier: MIT
/*
 * first_line: time a VMM from its process start to the first console line that contains a marker, the same way
 * for nitrovm and its peer (QEMU), where no Python runs (the arm64 machine of the e2e tier).
 *
 *   first_line MARKER LIMIT CMD ARG...
 *
 * Runs CMD with its stdout and stderr on a pipe, copies everything to stdout, and prints "FIRST-LINE <seconds>"
 * (CLOCK_MONOTONIC from just before fork) once a line with MARKER arrives.  The command is killed after LIMIT
 * seconds.  Exits with the command's status (124 when killed for the limit, 125 when it could not start).
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	char line[LINE_MAX_BYTES];
	size_t len = 0;
	double t0, limit;
	int fds[2], status = 0, found = 0;
	pid_t pid;

	if (argc < 4) {
		fprintf(stderr, "usage: first_line MARKER LIMIT CMD ARG...\n");
		return 125;
	}
	limit = atof(argv[2]);
	if (pipe(fds) < 0)
		return 125;
	t0 = now();
	pid = fork();
	if (pid < 0)
		return 125;
	if (!pid) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		execvp(argv[3], argv + 3);
		_exit(125);
	}
	close(fds[1]);
	for (;;) {
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		double left = t0 + limit - now();
		char c;
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			printf("\nfirst_line: killed after %.0f s\n", limit);
			return 124;
		}
		n = read(fds[0], &c, 1);
		if (n <= 0)
			break;
		putchar(c);
		if (c != '\n' && len < sizeof(line) - 1) {
			line[len++] = c;
			continue;
		}
		line[len] = '\0';
		len = 0;
		if (!found && strstr(line, argv[1])) {
			found = 1;
			printf("FIRST-LINE %.3f\n", now() - t0);
		}
		fflush(stdout);
	}
	waitpid(pid, &status, 0);
	fflush(stdout);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
