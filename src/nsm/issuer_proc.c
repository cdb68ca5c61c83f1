// SPDX-License-Identifier: MIT
/*
 * The issuer as a process (issuer.h): forked by the enclave process, it answers on a SOCK_SEQPACKET socket
 * pair, one datagram per message; and the enclave process's end of that socket, as an nsm_certifier.
 *
 * The child first makes itself hard to reach from the parent it serves: PR_SET_PDEATHSIG so it never outlives
 * it, not dumpable so that the same user cannot ptrace it or read its /proc/PID/mem (where the CA keys will
 * be), every inherited descriptor closed but its socket and stderr, the terminal's signals blocked (it ends
 * with its enclave process, not with a Ctrl-C the enclave process handles in its own orderly way).  Only then,
 * at the bind, does it open the CA.
 */
#include "issuer.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

/* How long the enclave process waits for its issuer to exit after ending the socket. */
#define ISSUER_EXIT_WAIT_MS 2000

struct nsm_issuer_proc {
	pid_t pid;
	int fd;
	uint64_t seq;
};

struct issuer_client {
	struct nsm_certifier ops;
	struct nsm_issuer_proc *p;
};

static long ms_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* ---- the child ---- */

static uint64_t mono_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

/* Everything before the CA is opened: see the top of the file. */
static void child_isolate(int *fd, pid_t parent)
{
	int null;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(0);
	helper_isolate(fd, NSM_ISSUER_PROC_NAME);
	null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	if (setpriority(PRIO_PROCESS, 0, NSM_ISSUER_NICE) < 0) {
		/* Only a hint: at the normal priority the issuer merely competes with the boot. */
	}
}

static void __attribute__((noreturn)) child_main(int fd, const char *state_dir, pid_t parent)
{
	static uint8_t msg[NSM_ISSUER_MSG_MAX], reply[NSM_ISSUER_MSG_MAX];
	struct nsm_issuer *is;
	ssize_t n;
	size_t len;

	child_isolate(&fd, parent);
	if (nsm_issuer_new(state_dir, &is))
		_exit(1);
	for (;;) {
		n = recv(fd, msg, sizeof(msg), MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* the enclave process closed its end, or is gone */
		/* A datagram longer than any message is refused whole rather than read in part. */
		len = nsm_issuer_handle(is, msg, (size_t)n > sizeof(msg) ? 0 : (size_t)n, time(NULL), mono_seconds(),
					reply, sizeof(reply));
		if (len && send(fd, reply, len, MSG_NOSIGNAL) < 0)
			break;
	}
	nsm_issuer_free(is);
	_exit(0);
}

struct child_args {
	const char *state_dir;
	pid_t parent;
};

static void child_start(int fd, void *arg)
{
	const struct child_args *a = arg;

	child_main(fd, a->state_dir, a->parent);
}

int nsm_issuer_spawn(const char *state_dir, struct nsm_issuer_proc **out)
{
	struct nsm_issuer_proc *p = calloc(1, sizeof(*p));
	struct child_args a = { .state_dir = state_dir, .parent = getpid() };
	int ret;

	*out = NULL;
	if (!p)
		return err_set(ENOMEM, "out of memory");
	ret = helper_spawn("the certificate issuer", true, child_start, &a, &p->pid, &p->fd);
	if (ret < 0) {
		free(p);
		return ret;
	}
	*out = p;
	return 0;
}

pid_t nsm_issuer_pid(const struct nsm_issuer_proc *p)
{
	return p->pid;
}

/*
 * The issuer exits as soon as it sees its socket end, unless it is in the middle of making a chain; we wait a
 * little for that end (its socket closing with it), and it dies with this process in any case (PDEATHSIG).
 * Neither reaped nor killed from here: the enclave process's allow-list (seccomp) has no wait4 and no kill,
 * and once this process ends, whoever reaps orphans collects the issuer's status.
 */
void nsm_issuer_stop(struct nsm_issuer_proc *p)
{
	uint8_t msg[NSM_ISSUER_MSG_MAX];
	struct pollfd pfd;
	struct timespec start;
	long left;
	ssize_t n;

	if (!p)
		return;
	pfd = (struct pollfd){ .fd = p->fd, .events = POLLIN };
	shutdown(p->fd, SHUT_WR);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		left = ISSUER_EXIT_WAIT_MS - ms_since(&start);
		if (left <= 0 || (poll(&pfd, 1, (int)left) < 0 && errno != EINTR))
			break;
		/* Late replies to requests whose wait timed out are read past; 0 is the issuer gone. */
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = recv(p->fd, msg, sizeof(msg), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			break;
	}
	close(p->fd);
	free(p);
}

/* ---- the enclave process's end ---- */

static int send_request(struct nsm_issuer_proc *p, const struct nsm_issuer_request *q)
{
	uint8_t msg[NSM_ISSUER_MSG_MAX];
	size_t len = nsm_issuer_encode_request(q, msg, sizeof(msg));

	if (!len)
		return err_set(EMSGSIZE, "a request to the certificate issuer does not fit a message");
	if (send(p->fd, msg, len, MSG_NOSIGNAL) < 0)
		return err_set(errno, "cannot reach the certificate issuer: %s", strerror(errno));
	return 0;
}

int nsm_issuer_bind(struct nsm_issuer_proc *p, const char *id)
{
	struct nsm_issuer_request q = { .op = NSM_ISSUER_BIND };

	snprintf(q.id, sizeof(q.id), "%s", id);
	return send_request(p, &q);
}

static int dup_bytes(const uint8_t *src, size_t len, uint8_t **out, size_t *out_len)
{
	*out = malloc(len);
	if (!*out)
		return err_set(ENOMEM, "out of memory");
	memcpy(*out, src, len);
	*out_len = len;
	return 0;
}

static int copy_leaf(const struct nsm_issuer_reply *r, struct nsm_leaf *out)
{
	int ret = dup_bytes(r->leaf, r->leaf_len, &out->cert, &out->cert_len);

	if (!ret)
		ret = dup_bytes(r->root, r->root_len, &out->root, &out->root_len);
	if (!ret)
		ret = dup_bytes(r->intermediate, r->intermediate_len, &out->intermediate, &out->intermediate_len);
	out->not_after = (time_t)r->not_after;
	if (ret)
		nsm_leaf_free(out);
	return ret;
}

/* The reply to request seq; replies to earlier requests (whose wait timed out) are passed over. */
static int await_reply(struct nsm_issuer_proc *p, uint64_t seq, struct nsm_leaf *out)
{
	uint8_t msg[NSM_ISSUER_MSG_MAX];
	struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
	struct timespec start;
	struct nsm_issuer_reply r;
	long left;
	ssize_t n;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		left = NSM_ISSUER_REPLY_TIMEOUT_MS - ms_since(&start);
		if (left <= 0)
			return err_set(ETIMEDOUT, "the certificate issuer did not answer within %d s",
				       NSM_ISSUER_REPLY_TIMEOUT_MS / 1000);
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
			return err_set(errno, "cannot wait for the certificate issuer: %s", strerror(errno));
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = recv(p->fd, msg, sizeof(msg), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return err_set(EPIPE, "the certificate issuer is gone (see the log for why)");
		if (nsm_issuer_decode_reply(msg, (size_t)n, &r))
			return -EPROTO;
		if (r.seq != seq)
			continue;
		if (r.error)
			return err_set(r.error, "the certificate issuer refused: %s", r.message);
		return copy_leaf(&r, out);
	}
}

static int client_issue(struct nsm_certifier *c, struct evp_pkey_st *key, const char *name, time_t now,
			struct nsm_leaf *out)
{
	struct nsm_issuer_proc *p = ((struct issuer_client *)c)->p;
	struct nsm_issuer_request q = { .op = NSM_ISSUER_ISSUE, .seq = ++p->seq };
	unsigned char *spki = NULL;
	int len, ret;

	/* The issuer issues at its own clock's time: it takes nothing from this process it does not need. */
	(void)now;
	memset(out, 0, sizeof(*out));
	len = i2d_PUBKEY(key, &spki);
	if (len <= 0) {
		ERR_clear_error();
		return err_set(EIO, "OpenSSL could not encode the enclave's public key");
	}
	snprintf(q.id, sizeof(q.id), "%s", name);
	q.key = spki;
	q.key_len = (size_t)len;
	ret = send_request(p, &q);
	OPENSSL_free(spki);
	return ret ? ret : await_reply(p, q.seq, out);
}

static void client_free(struct nsm_certifier *c)
{
	free(c);
}

struct nsm_certifier *nsm_issuer_certifier(struct nsm_issuer_proc *p)
{
	struct issuer_client *ic = calloc(1, sizeof(*ic));

	if (!ic) {
		err_set(ENOMEM, "out of memory");
		return NULL;
	}
	ic->ops = (struct nsm_certifier){ .issue = client_issue, .free = client_free };
	ic->p = p;
	return &ic->ops;
}
