// SPDX-License-Identifier: MIT
#include "ctl_client.h"

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/util.h"
#include "registry.h"

/* What one enclave process may send in all: a describe with metadata is a few KiB. */
#define CTL_ANSWER_MAX (1024 * 1024)

void ctl_answer_free(struct ctl_answer *a)
{
	free(a->out);
	free(a->err);
	memset(a, 0, sizeof(*a));
}

void ctl_answers_free(struct ctl_answer *answers, unsigned int n)
{
	for (unsigned int i = 0; answers && i < n; i++)
		ctl_answer_free(&answers[i]);
	free(answers);
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	return write_full(fd, p, len) < 0 ? err_set(EPIPE, "the enclave process closed its socket") : 0;
}

int ctl_send(int fd, enum ctl_cmd cmd, const uint8_t *args, size_t args_len)
{
	size_t len;
	uint8_t *frame = ctl_frame_cmd(cmd, &len);
	int ret;

	if (!frame)
		return err_set(ENOMEM, "out of memory");
	ret = write_all(fd, frame, len);
	if (!ret)
		ret = write_all(fd, frame, len);
	if (!ret && args)
		ret = write_all(fd, args, args_len);
	free(frame);
	return ret;
}

/* Exactly len bytes within timeout_ms each wait; 1 at a clean end of stream before the first byte. */
static int read_exact(int fd, uint8_t *buf, size_t len, int timeout_ms)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;
		int r = poll(&p, 1, timeout_ms);

		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return err_set(ETIMEDOUT, "the enclave process did not answer within %d ms", timeout_ms);
		n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 && got == 0)
			return 1;
		if (n <= 0)
			return err_set(EPIPE, "the enclave process closed its socket in the middle of a message");
		got += (size_t)n;
	}
	return 0;
}

int ctl_read_u64(int fd, uint64_t *v, int timeout_ms)
{
	uint8_t b[CTL_LEN_SIZE];
	int ret = read_exact(fd, b, sizeof(b), timeout_ms);

	if (ret == 1)
		return err_set(EPIPE, "the enclave process closed its socket without answering");
	if (ret < 0)
		return ret;
	*v = get_le64(b);
	return 0;
}

static int append(char **s, size_t *len, const char *text, size_t n)
{
	char *p;

	if (*len + n > CTL_ANSWER_MAX)
		return err_set(EMSGSIZE, "the enclave process sent more than %d bytes", CTL_ANSWER_MAX);
	p = realloc(*s, *len + n + 1);
	if (!p)
		return err_set(ENOMEM, "out of memory");
	memcpy(p + *len, text, n);
	*len += n;
	p[*len] = '\0';
	*s = p;
	return 0;
}

int ctl_read_answer(int fd, struct ctl_answer *a, int timeout_ms)
{
	memset(a, 0, sizeof(*a));
	for (;;) {
		uint8_t hdr[CTL_LEN_SIZE], *msg;
		struct ctl_reply r;
		uint64_t mlen;
		int ret = read_exact(fd, hdr, sizeof(hdr), timeout_ms);

		if (ret == 1)
			break;
		if (ret < 0)
			return ret;
		mlen = get_le64(hdr);
		if (mlen > CTL_MSG_MAX)
			return err_set(EMSGSIZE, "the enclave process announced a %llu-byte message",
				       (unsigned long long)mlen);
		msg = malloc(mlen ? mlen : 1);
		if (!msg)
			return err_set(ENOMEM, "out of memory");
		ret = read_exact(fd, msg, (size_t)mlen, timeout_ms);
		if (ret == 1)
			ret = err_set(EPIPE, "the enclave process closed its socket in the middle of a message");
		if (!ret)
			ret = ctl_decode_reply(msg, (size_t)mlen, &r);
		if (!ret && r.kind == CTL_REPLY_STDOUT)
			ret = append(&a->out, &a->out_len, r.text, r.len);
		else if (!ret && r.kind == CTL_REPLY_STDERR)
			ret = append(&a->err, &a->err_len, r.text, r.len);
		else if (!ret) {
			a->has_status = true;
			a->status = r.status;
		}
		free(msg);
		if (ret < 0)
			return ret;
	}
	if (!a->out)
		a->out = strdup("");
	if (!a->err)
		a->err = strdup("");
	return a->out && a->err ? 0 : err_set(ENOMEM, "out of memory");
}

struct fd_list {
	int fds[CTL_MAX_ENCLAVES];
	unsigned int n, dropped;
};

static void collect(void *opaque, int fd, const char *path)
{
	struct fd_list *l = opaque;

	(void)path;
	if (l->n == CTL_MAX_ENCLAVES) {
		close(fd);
		l->dropped++;
		return;
	}
	l->fds[l->n++] = fd;
}

/* Wait for each process's confirmation as nitro-cli does: every wait of CTL_REPLY_TIMEOUT_MS that ends with
 * nothing counts one process lost.  Confirmed descriptors are moved to the front; returns how many. */
static unsigned int confirmations(struct fd_list *l, const bool *sent)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	unsigned int expected = 0, confirmed = 0;
	int order[CTL_MAX_ENCLAVES];

	if (ep < 0)
		return 0;
	for (unsigned int i = 0; i < l->n; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };

		if (sent[i] && epoll_ctl(ep, EPOLL_CTL_ADD, l->fds[i], &ev) == 0)
			expected++;
	}
	while (expected) {
		struct epoll_event ev;
		uint64_t v;
		int r = epoll_wait(ep, &ev, 1, CTL_REPLY_TIMEOUT_MS);

		if (r < 0 && errno == EINTR)
			continue;
		expected--;
		if (r <= 0)
			continue;
		epoll_ctl(ep, EPOLL_CTL_DEL, l->fds[ev.data.u32], NULL);
		if (ctl_read_u64(l->fds[ev.data.u32], &v, CTL_REPLY_TIMEOUT_MS) == 0 && v == CTL_CONFIRM)
			order[confirmed++] = (int)ev.data.u32;
	}
	close(ep);
	/* Keep the confirmed ones, in the order they confirmed; close the rest. */
	{
		int keep[CTL_MAX_ENCLAVES];
		bool used[CTL_MAX_ENCLAVES] = { false };

		for (unsigned int i = 0; i < confirmed; i++) {
			keep[i] = l->fds[order[i]];
			used[order[i]] = true;
		}
		for (unsigned int i = 0; i < l->n; i++)
			if (!used[i])
				close(l->fds[i]);
		memcpy(l->fds, keep, confirmed * sizeof(int));
		l->n = confirmed;
	}
	return confirmed;
}

int ctl_broadcast(const struct registry_dirs *d, enum ctl_cmd cmd, const uint8_t *args, size_t args_len,
		  struct ctl_answer **answers, unsigned int *n, unsigned int *failed)
{
	struct fd_list l = { .n = 0 };
	bool sent[CTL_MAX_ENCLAVES];
	unsigned int stale, total, ok = 0;
	struct ctl_answer *out;

	*answers = NULL;
	*n = 0;
	registry_connect_all(d, collect, &l, &stale);
	total = l.n + l.dropped;
	for (unsigned int i = 0; i < l.n; i++)
		sent[i] = ctl_send(l.fds[i], cmd, args, args_len) == 0;
	confirmations(&l, sent);
	out = calloc(l.n ? l.n : 1, sizeof(*out));
	if (!out) {
		for (unsigned int i = 0; i < l.n; i++)
			close(l.fds[i]);
		return err_set(ENOMEM, "out of memory");
	}
	for (unsigned int i = 0; i < l.n; i++) {
		if (ctl_read_answer(l.fds[i], &out[ok], CTL_REPLY_TIMEOUT_MS) == 0)
			ok++;
		else
			ctl_answer_free(&out[ok]);
		close(l.fds[i]);
	}
	*answers = out;
	*n = ok;
	*failed = total - ok;
	return 0;
}

int ctl_ask_u64(const struct registry_dirs *d, const char *enclave_id, enum ctl_cmd cmd, uint64_t *v)
{
	char path[PATH_MAX];
	int fd = registry_connect(d, enclave_id, path, sizeof(path)), ret;

	if (fd < 0)
		return fd;
	ret = ctl_send(fd, cmd, NULL, 0);
	if (!ret)
		ret = ctl_read_u64(fd, v, CTL_REPLY_TIMEOUT_MS);
	close(fd);
	return ret;
}

/* A JSON string literal (what GetEnclaveName and GetIDbyName print) into out. */
static int json_string(const char *text, char *out, size_t len)
{
	struct json_object *o = json_tokener_parse(text);
	int ret = 0;

	if (!o || !json_object_is_type(o, json_type_string) || (size_t)json_object_get_string_len(o) >= len)
		ret = -EBADMSG;
	else
		snprintf(out, len, "%s", json_object_get_string(o));
	json_object_put(o);
	return ret;
}

unsigned int ctl_collect_u64(const struct registry_dirs *d, enum ctl_cmd cmd, uint64_t *v, unsigned int max)
{
	struct fd_list l = { .n = 0 };
	unsigned int stale, n = 0;

	registry_connect_all(d, collect, &l, &stale);
	for (unsigned int i = 0; i < l.n; i++) {
		if (n < max && ctl_send(l.fds[i], cmd, NULL, 0) == 0 &&
		    ctl_read_u64(l.fds[i], &v[n], CTL_REPLY_TIMEOUT_MS) == 0)
			n++;
		close(l.fds[i]);
	}
	return n;
}

void ctl_names_free(char **names, unsigned int n)
{
	for (unsigned int i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

int ctl_all_names(const struct registry_dirs *d, char ***names, unsigned int *n)
{
	struct ctl_answer *answers;
	unsigned int count, failed;
	int ret = ctl_broadcast(d, CTL_GET_NAME, NULL, 0, &answers, &count, &failed);

	*names = NULL;
	*n = 0;
	if (ret < 0)
		return ret;
	*names = calloc(count ? count : 1, sizeof(char *));
	if (!*names) {
		ctl_answers_free(answers, count);
		return err_set(ENOMEM, "out of memory");
	}
	for (unsigned int i = 0; i < count; i++) {
		char one[CTL_STRING_MAX];

		if (answers[i].out_len && json_string(answers[i].out, one, sizeof(one)) == 0 &&
		    ((*names)[*n] = strdup(one)))
			(*n)++;
	}
	ctl_answers_free(answers, count);
	return 0;
}

int ctl_id_by_name(const struct registry_dirs *d, const char *name, char *id, size_t id_len)
{
	struct ctl_answer *answers;
	unsigned int n, failed, found = 0;
	size_t alen;
	uint8_t *args = ctl_frame_string(name, &alen);
	int ret;

	if (!args)
		return err_set(ENOMEM, "out of memory");
	ret = ctl_broadcast(d, CTL_GET_ID_BY_NAME, args, alen, &answers, &n, &failed);
	free(args);
	if (ret < 0)
		return ret;
	for (unsigned int i = 0; i < n; i++) {
		char one[CTL_STRING_MAX];

		if (answers[i].out_len && json_string(answers[i].out, one, sizeof(one)) == 0) {
			if (!found)
				snprintf(id, id_len, "%s", one);
			found++;
		}
	}
	ctl_answers_free(answers, n);
	if (!found)
		return err_set(ENOENT, "No enclave matched the given name '%s'.", name);
	if (found > 1)
		return err_set(EEXIST, "Conflicting enclave names have been found: %u enclaves are called '%s'.", found,
			       name);
	return 0;
}
