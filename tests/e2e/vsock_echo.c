// SPDX-License-Identifier: MIT
/*
 * vsock_echo: the static test and benchmark tool of the vsock e2e scenarios and bench/vsock, the same binary in
 * the enclave, on the host and in the QEMU peer.  ADDR is vsock:CID:PORT, tcp:IPV4:PORT, unix:PATH, or
 * uds:PATH:PORT (a client of Firecracker's protocol: "CONNECT PORT\n" to the Unix socket PATH, then "OK ...\n").
 *
 *   serve ADDR COUNT [sink]   accept COUNT connections (0: forever), each in its own process: echo until the
 *                             peer half-closes, then half-close back (sink: discard instead); exit 0 if all did
 *   check ADDR CONNS BYTES    CONNS connections at once, each sending BYTES of its own pseudo-random stream,
 *                             half-closing, reading the echo to end of stream and comparing it with what it sent
 *   send ADDR MIB             one connection: MIB MiB in 64 KiB writes, half-close, wait for the peer's end;
 *                             prints the rate
 *   ping ADDR N               N times: connect, one byte there and back, close; prints mean and best latency
 *   poke ADDR HEXBYTE         one connection: send that one byte, print what comes back (a byte, or "EOF");
 *                             the e2e tests send the parent a wrong heartbeat byte with it
 *   exec ADDR COUNT CMD ARG.. accept COUNT connections (0: forever), each running CMD with its stdin and
 *                             stdout on the connection, as inetd does (the demo's attestation service)
 *   cat ADDR                  one connection: stdin to it, half-close, then what comes back to stdout
 *
 * A refused connect is retried for CONNECT_RETRY_S (the other side may still be starting).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define CHUNK		 65536
#define CONNECT_RETRY_S	 60
#define IO_TIMEOUT_MS	 120000

struct addr {
	struct sockaddr_storage sa;
	socklen_t len;
	unsigned int uds_port; /* uds:PATH:PORT: the CONNECT handshake's port */
	int uds;
};

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int parse_addr(const char *s, struct addr *a, int listen)
{
	memset(a, 0, sizeof(*a));
	if (!strncmp(s, "vsock:", 6)) {
		struct sockaddr_vm *vm = (struct sockaddr_vm *)&a->sa;
		unsigned int cid, port;

		if (sscanf(s + 6, "%u:%u", &cid, &port) != 2)
			return -1;
		vm->svm_family = AF_VSOCK;
		vm->svm_cid = listen ? VMADDR_CID_ANY : cid;
		vm->svm_port = port;
		a->len = sizeof(*vm);
		return 0;
	}
	if (!strncmp(s, "unix:", 5) || !strncmp(s, "uds:", 4)) {
		struct sockaddr_un *un = (struct sockaddr_un *)&a->sa;
		const char *path = strchr(s, ':') + 1, *colon = strrchr(path, ':');
		size_t n = strlen(path);

		a->uds = s[1] == 'd';
		if (a->uds) {
			if (!colon)
				return -1;
			a->uds_port = (unsigned int)atoi(colon + 1);
			n = (size_t)(colon - path);
		}
		if (n >= sizeof(un->sun_path))
			return -1;
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, path, n);
		a->len = sizeof(*un);
		return 0;
	}
	if (!strncmp(s, "tcp:", 4)) {
		struct sockaddr_in *in = (struct sockaddr_in *)&a->sa;
		char ip[64];
		unsigned int port;
		const char *colon = strrchr(s + 4, ':');

		if (!colon || (size_t)(colon - (s + 4)) >= sizeof(ip))
			return -1;
		memcpy(ip, s + 4, (size_t)(colon - (s + 4)));
		ip[colon - (s + 4)] = '\0';
		port = (unsigned int)atoi(colon + 1);
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, ip, &in->sin_addr) != 1)
			return -1;
		a->len = sizeof(*in);
		return 0;
	}
	return -1;
}

/* Firecracker's handshake: the reply line is read a byte at a time, the stream follows it at once. */
static int uds_handshake(int fd, unsigned int port)
{
	char line[64], c;
	size_t n = 0;

	dprintf(fd, "CONNECT %u\n", port);
	while (n < sizeof(line) - 1 && read(fd, &c, 1) == 1 && c != '\n')
		line[n++] = c;
	line[n] = '\0';
	return strncmp(line, "OK ", 3) ? -1 : 0;
}

static int dial(const struct addr *a)
{
	double end = now() + CONNECT_RETRY_S;

	for (;;) {
		int fd = socket(a->sa.ss_family, SOCK_STREAM, 0), one = 1;

		if (fd < 0)
			return -1;
		if (a->sa.ss_family == AF_INET)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (!connect(fd, (const struct sockaddr *)&a->sa, a->len)) {
			if (!a->uds || !uds_handshake(fd, a->uds_port))
				return fd;
			/* The bridge closed without "OK": the enclave refused; say so, not the last errno. */
			errno = ECONNREFUSED;
		}
		close(fd);
		if (now() > end)
			return -1;
		usleep(200000);
	}
}

/* xorshift: each connection's stream is reproducible from its index. */
static uint8_t next_byte(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint8_t)*s;
}

/* ---- serve ---- */

static int echo_one(int fd, int sink)
{
	static uint8_t buf[CHUNK];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; !sink && off < n;) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));

			if (w <= 0)
				return 1;
			off += w;
		}
	}
	if (n < 0)
		return 1;
	shutdown(fd, SHUT_WR);
	/* The peer closes once it has read our end: keep the socket until then. */
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	return 0;
}

static int exec_one(int fd, char **cmd)
{
	if (dup2(fd, STDIN_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0)
		return 1;
	close(fd);
	execv(cmd[0], cmd);
	perror("vsock_echo exec");
	return 127;
}

/* cmd NULL: echo (or sink); else run cmd on each connection. */
static int cmd_serve(const struct addr *a, long count, int sink, char **cmd)
{
	int l = socket(a->sa.ss_family, SOCK_STREAM, 0), one = 1, failed = 0;
	long served = 0, running = 0;

	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l < 0 || bind(l, (const struct sockaddr *)&a->sa, a->len) || listen(l, 256)) {
		perror("vsock_echo serve: listen");
		return 2;
	}
	fprintf(stderr, "vsock_echo: serving\n");
	while (!count || served < count) {
		int fd = accept(l, NULL, NULL), st;

		if (fd < 0)
			continue;
		served++;
		running++;
		if (!fork()) {
			close(l);
			_exit(cmd ? exec_one(fd, cmd) : echo_one(fd, sink));
		}
		close(fd);
		while (waitpid(-1, &st, WNOHANG) > 0) {
			running--;
			failed += !WIFEXITED(st) || WEXITSTATUS(st);
		}
	}
	for (int st; running > 0 && wait(&st) > 0; running--)
		failed += !WIFEXITED(st) || WEXITSTATUS(st);
	printf("vsock_echo: served %ld connections, %d failed\n", served, failed);
	return failed ? 1 : 0;
}

/* ---- check ---- */

static int check_one(const struct addr *a, long idx, long bytes)
{
	static uint8_t out[CHUNK], in[CHUNK];
	uint64_t tx_seed = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(idx + 1), rx_seed = tx_seed;
	long sent = 0, got = 0;
	size_t out_len = 0, out_off = 0;
	int fd = dial(a), shut = 0;

	if (fd < 0) {
		fprintf(stderr, "vsock_echo: connection %ld: cannot connect: %s\n", idx, strerror(errno));
		return 1;
	}
	/* Write and read at once: an echo peer stops reading when we stop reading (flow control). */
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (sent < bytes || out_off < out_len)
			p.events |= POLLOUT;
		else if (!shut) {
			shutdown(fd, SHUT_WR);
			shut = 1;
		}
		if (poll(&p, 1, IO_TIMEOUT_MS) <= 0) {
			fprintf(stderr, "vsock_echo: connection %ld: stalled at %ld/%ld sent, %ld received\n", idx, sent,
				bytes, got);
			return 1;
		}
		if (p.revents & POLLOUT) {
			if (out_off == out_len) {
				out_len = (size_t)(bytes - sent < CHUNK ? bytes - sent : CHUNK);
				for (size_t i = 0; i < out_len; i++)
					out[i] = next_byte(&tx_seed);
				out_off = 0;
				sent += (long)out_len;
			}
			n = write(fd, out + out_off, out_len - out_off);
			if (n < 0) {
				fprintf(stderr, "vsock_echo: connection %ld: write: %s\n", idx, strerror(errno));
				return 1;
			}
			out_off += (size_t)n;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(fd, in, sizeof(in));
			if (n < 0) {
				fprintf(stderr, "vsock_echo: connection %ld: read: %s\n", idx, strerror(errno));
				return 1;
			}
			if (n == 0)
				break;
			for (ssize_t i = 0; i < n; i++)
				if (in[i] != next_byte(&rx_seed)) {
					fprintf(stderr, "vsock_echo: connection %ld: byte %ld differs\n", idx, got + i);
					return 1;
				}
			got += n;
		}
	}
	close(fd);
	if (got != bytes || !shut) {
		fprintf(stderr, "vsock_echo: connection %ld: %ld of %ld bytes came back before the end\n", idx, got,
			bytes);
		return 1;
	}
	return 0;
}

static int cmd_check(const char *text, const struct addr *a, long conns, long bytes)
{
	int failed = 0, st;
	double t0 = now();

	for (long i = 0; i < conns; i++)
		if (!fork())
			_exit(check_one(a, i, bytes));
	while (wait(&st) > 0)
		failed += !WIFEXITED(st) || WEXITSTATUS(st);
	if (failed) {
		printf("vsock_echo: CHECK-FAIL %s: %d of %ld connections failed\n", text, failed, conns);
		return 1;
	}
	printf("vsock_echo: CHECK-OK %s: %ld connections x %ld bytes echoed intact, half-closed both ways "
	       "(%.2f s)\n", text, conns, bytes, now() - t0);
	return 0;
}

/* ---- figures ---- */

static int cmd_send(const char *text, const struct addr *a, long mib)
{
	static uint8_t buf[CHUNK];
	int fd = dial(a);
	double t0;
	long total = mib << 20;

	if (fd < 0) {
		perror("vsock_echo send: connect");
		return 1;
	}
	memset(buf, 0x5a, sizeof(buf));
	t0 = now();
	for (long sent = 0; sent < total;) {
		ssize_t n = write(fd, buf, sizeof(buf));

		if (n <= 0) {
			perror("vsock_echo send: write");
			return 1;
		}
		sent += n;
	}
	shutdown(fd, SHUT_WR);
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	t0 = now() - t0;
	printf("vsock_echo: SEND %s %ld MiB in %.3f s = %.1f Mbit/s\n", text, mib, t0, (double)total * 8 / t0 / 1e6);
	close(fd);
	return 0;
}

static int cmd_ping(const char *text, const struct addr *a, long n)
{
	double t0 = now(), best = 1e9;

	for (long i = 0; i < n; i++) {
		double t1 = now();
		int fd = dial(a);
		uint8_t b = (uint8_t)i, r;

		if (fd < 0 || write(fd, &b, 1) != 1 || read(fd, &r, 1) != 1 || r != b) {
			/* Round 0 waits for the far side: a bridge accepts before the enclave listens. */
			if (fd >= 0)
				close(fd);
			if (!i && now() - t0 < CONNECT_RETRY_S) {
				usleep(200000);
				i--;
				continue;
			}
			fprintf(stderr, "vsock_echo: ping %ld failed\n", i);
			return 1;
		}
		if (!i)
			t0 = now(); /* waiting for the far side is not latency */
		close(fd);
		t1 = now() - t1;
		best = t1 < best ? t1 : best;
	}
	/* Round 0 only waited for the far side: the mean is over the others. */
	printf("vsock_echo: PING %s %ld x connect+1-byte round trip: mean %.1f us, best %.1f us\n", text, n,
	       n > 1 ? (now() - t0) / (double)(n - 1) * 1e6 : best * 1e6, best * 1e6);
	return 0;
}

static int cmd_poke(const char *text, const struct addr *a, const char *hex)
{
	char *end;
	long v = strtol(hex, &end, 16);
	uint8_t b = (uint8_t)v, r;
	int fd;
	ssize_t n;

	if (*end || v < 0 || v > 0xff) {
		fprintf(stderr, "vsock_echo: poke needs one byte in hex, not %s\n", hex);
		return 2;
	}
	fd = dial(a);
	if (fd < 0 || write(fd, &b, 1) != 1) {
		fprintf(stderr, "vsock_echo: poke %s failed\n", text);
		return 1;
	}
	n = read(fd, &r, 1);
	if (n == 1)
		printf("vsock_echo: POKE %s sent 0x%02x, got 0x%02x\n", text, b, r);
	else
		printf("vsock_echo: POKE %s sent 0x%02x, got EOF\n", text, b);
	close(fd);
	return 0;
}

/* ---- cat ---- */

static int copy(int from, int to)
{
	static uint8_t buf[CHUNK];
	ssize_t n;

	while ((n = read(from, buf, sizeof(buf))) > 0)
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(to, buf + off, (size_t)(n - off));

			if (w <= 0)
				return 1;
			off += w;
		}
	return n < 0;
}

static int cmd_cat(const char *text, const struct addr *a)
{
	int fd = dial(a), ret;

	if (fd < 0) {
		fprintf(stderr, "vsock_echo: cat %s: cannot connect\n", text);
		return 1;
	}
	ret = copy(STDIN_FILENO, fd);
	shutdown(fd, SHUT_WR);
	ret |= copy(fd, STDOUT_FILENO);
	close(fd);
	return ret;
}

int main(int argc, char **argv)
{
	struct addr a;
	int listening = argc > 1 && (!strcmp(argv[1], "serve") || !strcmp(argv[1], "exec"));

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3 || (argc < 4 && strcmp(argv[1], "cat")) || parse_addr(argv[2], &a, listening)) {
		fprintf(stderr, "usage: vsock_echo serve|check|send|ping|poke|exec|cat vsock:CID:PORT|tcp:IP:PORT "
				"ARGS...\n");
		return 2;
	}
	if (!strcmp(argv[1], "serve"))
		return cmd_serve(&a, atol(argv[3]), argc > 4 && !strcmp(argv[4], "sink"), NULL);
	if (!strcmp(argv[1], "exec") && argc > 4)
		return cmd_serve(&a, atol(argv[3]), 0, argv + 4);
	if (!strcmp(argv[1], "cat"))
		return cmd_cat(argv[2], &a);
	if (!strcmp(argv[1], "check") && argc > 4)
		return cmd_check(argv[2], &a, atol(argv[3]), atol(argv[4]));
	if (!strcmp(argv[1], "send"))
		return cmd_send(argv[2], &a, atol(argv[3]));
	if (!strcmp(argv[1], "ping"))
		return cmd_ping(argv[2], &a, atol(argv[3]));
	if (!strcmp(argv[1], "poke"))
		return cmd_poke(argv[2], &a, argv[3]);
	fprintf(stderr, "vsock_echo: unknown command %s\n", argv[1]);
	return 2;
}
