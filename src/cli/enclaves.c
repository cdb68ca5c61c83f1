// SPDX-License-Identifier: MIT
/*
 * The running enclaves, as nitro-cli shows and ends them:
 *
 *   nitrovm describe-enclaves [--metadata]
 *   nitrovm terminate-enclave (--enclave-id ID | --enclave-name NAME | --all)
 *   nitrovm console (--enclave-id ID | --enclave-name NAME) [--disconnect-timeout S]
 *
 * Each asks the enclave processes over nitro-cli's protocol (enclave/ctl_client.h), so they work on enclaves
 * that nitrovm or nitro-cli started.  console replays what the enclave printed before it attached, and for an
 * enclave that has ended shows what it left and how it ended, until terminate-enclave cleans that up.
 */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
/* After sys/socket.h: older kernel headers use struct sockaddr without including it. */
#include <linux/vm_sockets.h>

#include "cli.h"
#include "common/json_pretty.h"
#include "common/util.h"
#include "enclave/console_ring.h"
#include "enclave/ctl_client.h"
#include "enclave/registry.h"

#define CONSOLE_PORT_OFFSET   10000 /* nitro-cli: the console is vsock CID 0, port CID + 10000 */
#define CONSOLE_CONNECT_MS    20000 /* nitro-cli's SO_VM_SOCKETS_CONNECT_TIMEOUT for it */
#define CONSOLE_CHUNK	      1024  /* nitro-cli reads the console 1 KiB at a time */
#define OWN_PROCESS_NAME      "nitrovm"

static int dirs_or_fail(struct registry_dirs *d)
{
	return registry_dirs(d, false) < 0 ? cli_fail_err(E_FILE_OPERATION) : 0;
}

/* ---- describe-enclaves ---- */

static const struct option describe_opts[] = {
	{ "metadata", no_argument, NULL, 'm' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const char describe_usage[] =
	"Usage: nitrovm describe-enclaves [--metadata]\n\n"
	"Print every enclave running on this host as a JSON array, as nitro-cli describe-enclaves does: name, id,\n"
	"its enclave process, CID, CPUs, memory, State (BOOTING until it answered the heartbeat, RUNNING,\n"
	"TERMINATING), Flags (NONE or DEBUG_MODE) and the image's measurements.  Enclaves started by nitro-cli\n"
	"are listed too.  Sockets left by enclave processes that died are removed on the way.\n\n"
	"  --metadata    add ImageName, ImageVersion and the image's Metadata\n";

/* The answers' JSON objects, in one array; counts what failed as nitro-cli does. */
static int gather(struct ctl_answer *answers, unsigned int n, struct json_object *array, unsigned int *bad_status,
		  unsigned int *bad_reply)
{
	for (unsigned int i = 0; i < n; i++) {
		struct json_object *o = json_tokener_parse(answers[i].out);

		if (answers[i].err_len)
			fputs(answers[i].err, stderr);
		if (!o || !json_object_is_type(o, json_type_object) || !answers[i].has_status) {
			json_object_put(o);
			(*bad_reply)++;
			continue;
		}
		if (answers[i].status)
			(*bad_status)++;
		json_object_array_add(array, o);
	}
	return 0;
}

int cmd_describe_enclaves(int argc, char **argv)
{
	struct registry_dirs d;
	struct ctl_answer *answers;
	struct json_object *array;
	unsigned int n, failed, bad_status = 0, bad_reply = 0;
	bool metadata = false;
	uint8_t *args;
	size_t alen;
	char *text;
	int c, ret;

	if (cli_help_requested(argc, argv)) {
		fputs(describe_usage, stdout);
		return 0;
	}
	optind = 1;
	while ((c = cli_getopt(argc, argv, describe_opts)) != -1) {
		if (c != 'm')
			return cli_bad_option("describe-enclaves");
		metadata = true;
	}
	if (optind < argc)
		return cli_fail(E_INVALID_ARGUMENT, "unexpected argument '%s' for describe-enclaves", argv[optind]);
	ret = dirs_or_fail(&d);
	if (ret)
		return ret;
	args = ctl_frame_describe_args(metadata, &alen);
	if (!args)
		return cli_fail(E_UNSPECIFIED, "out of memory");
	ret = ctl_broadcast(&d, CTL_DESCRIBE, args, alen, &answers, &n, &failed);
	free(args);
	if (ret < 0)
		return cli_fail_err(E_SOCKET);
	array = json_object_new_array();
	gather(answers, n, array, &bad_status, &bad_reply);
	ctl_answers_free(answers, n);
	text = json_pretty(array);
	printf("%s\n", text);
	free(text);
	json_object_put(array);
	failed += bad_reply;
	if (failed)
		fprintf(stderr, "Failed connections: %u\n", failed);
	if (bad_status)
		return cli_fail(E_ENCLAVE_PROCESS_COMMAND, "Failed to execute %u enclave process commands", bad_status);
	if (failed)
		return cli_fail(E_ENCLAVE_PROCESS_CONNECTION, "Failed to connect to %u enclave processes", failed);
	return 0;
}

/* ---- finding one enclave ---- */

/* The id of an ended enclave of ours called name (its record), or -ENOENT. */
static int ended_by_name(const struct registry_dirs *d, const char *name, char *id, size_t len)
{
	int ret = registry_find_by_name(d, name, id, len);

	return ret < 0 ? ret : 0;
}

/* --enclave-id or --enclave-name to an id: a running enclave's, else (when ended_ok) an ended one's. */
static int resolve(const struct registry_dirs *d, const char *id, const char *name, char *out, size_t len,
		   bool ended_ok)
{
	int ret;

	if (id) {
		snprintf(out, len, "%s", id);
		return 0;
	}
	ret = ctl_id_by_name(d, name, out, len);
	if (ret == -ENOENT && ended_ok && ended_by_name(d, name, out, len) == 0)
		return 0;
	return ret < 0 ? cli_fail_err(E_ENCLAVE_NAMING) : 0;
}

static int id_or_name_opts(int argc, char **argv, const struct option *opts, const char *cmd, const char **id,
			   const char **name, bool *all, uint64_t *timeout)
{
	int c;

	optind = 1;
	while ((c = cli_getopt(argc, argv, opts)) != -1) {
		switch (c) {
		case 'i':
			*id = optarg;
			break;
		case 'n':
			*name = optarg;
			break;
		case 'a':
			*all = true;
			break;
		case 't':
			if (cli_parse_u64(optarg, timeout) < 0)
				return cli_fail(E_INVALID_ARGUMENT, "--disconnect-timeout '%s' is not a number of seconds",
						optarg);
			break;
		default:
			return cli_bad_option(cmd);
		}
	}
	if (optind < argc)
		return cli_fail(E_INVALID_ARGUMENT, "unexpected argument '%s' for %s", argv[optind], cmd);
	if (!!*id + !!*name + !!*all > 1)
		return cli_fail(E_CONFLICTING_ARGUMENT, "%s takes one of --enclave-id, --enclave-name%s", cmd,
				all ? " or --all" : "");
	if (!*id && !*name && !*all)
		return cli_fail(E_MISSING_ARGUMENT, "%s needs --enclave-id or --enclave-name%s", cmd,
				!strcmp(cmd, "terminate-enclave") ? " (or --all)" : "");
	return 0;
}

/* ---- terminate-enclave ---- */

static const struct option terminate_opts[] = {
	{ "enclave-id", required_argument, NULL, 'i' },
	{ "enclave-name", required_argument, NULL, 'n' },
	{ "all", no_argument, NULL, 'a' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const char terminate_usage[] =
	"Usage: nitrovm terminate-enclave (--enclave-id ID | --enclave-name NAME | --all)\n\n"
	"End an enclave and wait until it has ended, as nitro-cli terminate-enclave does: prints\n"
	"\"Successfully terminated enclave ID.\" and {\"EnclaveName\", \"EnclaveID\", \"Terminated\": true}.\n"
	"--all ends every enclave this user may end and prints an array.  An enclave that had already ended\n"
	"(its console history and exit record kept for `nitrovm console`) is cleaned up instead.\n";

static struct json_object *terminated_json(const char *name, const char *id)
{
	struct json_object *o = json_object_new_object();

	if (name)
		json_object_object_add(o, "EnclaveName", json_object_new_string(name));
	json_object_object_add(o, "EnclaveID", json_object_new_string(id));
	json_object_object_add(o, "Terminated", json_object_new_boolean(1));
	return o;
}

static void print_json(struct json_object *o)
{
	char *text = json_pretty(o);

	printf("%s\n", text);
	fflush(stdout);
	free(text);
}

/* An ended enclave of ours: say how it ended, and remove what it left. */
static int clean_ended(const struct registry_dirs *d, const char *id, struct json_object *into)
{
	struct registry_exit x;
	char name[CTL_STRING_MAX] = "";
	struct json_object *o;

	if (registry_read_exit(d, id, &x) < 0)
		return -ENOENT;
	registry_record_name(d, id, name, sizeof(name));
	fprintf(stderr, "Enclave %s had already ended (%s%s%s); removed what it left.\n", id, x.reason,
		x.detail[0] ? ": " : "", x.detail);
	o = terminated_json(name[0] ? name : NULL, id);
	if (into) {
		json_object_array_add(into, o);
	} else {
		print_json(o);
		json_object_put(o);
	}
	registry_remove_records(d, id);
	return 0;
}

static int terminate_one(const struct registry_dirs *d, const char *id)
{
	struct ctl_answer a;
	char path[PATH_MAX];
	int fd = registry_connect(d, id, path, sizeof(path)), ret;

	if (fd < 0) {
		if (fd == -ENOENT && clean_ended(d, id, NULL) == 0)
			return 0;
		if (fd == -ENOENT)
			return cli_fail(E_SOCKET, "no running enclave has the id %s (describe-enclaves lists them)", id);
		return cli_fail_err(E_SOCKET);
	}
	ret = ctl_send(fd, CTL_TERMINATE, NULL, 0);
	if (!ret)
		ret = ctl_read_answer(fd, &a, CTL_TERMINATE_TIMEOUT_MS);
	close(fd);
	if (ret < 0)
		return cli_fail_err(E_ENCLAVE_PROCESS_CONNECTION);
	if (a.has_status && !a.status && a.out_len) {
		fputs(a.err, stderr);
		fputs(a.out, stdout);
		fflush(stdout);
	} else if (a.has_status) {
		/* It said why (EACCES: not the owner): that sentence is the error line. */
		char *why = a.err_len ? a.err : NULL;

		if (why && why[a.err_len - 1] == '\n')
			why[a.err_len - 1] = '\0';
		ret = cli_fail(E_ENCLAVE_PROCESS_COMMAND, "%s", why ? why : "the enclave process refused to terminate it");
	} else {
		ret = cli_fail(E_ENCLAVE_PROCESS_CONNECTION, "the enclave process of %s ended without saying whether it "
							     "terminated the enclave", id);
	}
	ctl_answer_free(&a);
	if (!ret)
		registry_remove_records(d, id);
	return ret;
}

struct term_all {
	int fds[CTL_MAX_ENCLAVES];
	unsigned int n;
};

static void add_fd(void *opaque, int fd, const char *path)
{
	struct term_all *t = opaque;

	(void)path;
	if (t->n < CTL_MAX_ENCLAVES && ctl_send(fd, CTL_TERMINATE, NULL, 0) == 0)
		t->fds[t->n++] = fd;
	else
		close(fd);
}

static int terminate_all(const struct registry_dirs *d)
{
	struct json_object *array = json_object_new_array();
	struct term_all t = { .n = 0 };
	unsigned int stale, failed = 0, bad = 0;
	char **ended = NULL;
	unsigned int nended = 0;
	int ret = 0;

	registry_connect_all(d, add_fd, &t, &stale);
	for (unsigned int i = 0; i < t.n; i++) {
		struct ctl_answer a;
		struct json_object *o;

		if (ctl_read_answer(t.fds[i], &a, CTL_TERMINATE_TIMEOUT_MS) < 0) {
			failed++;
			close(t.fds[i]);
			continue;
		}
		close(t.fds[i]);
		fputs(a.err, stderr);
		o = a.out_len ? json_tokener_parse(a.out) : NULL;
		if (o && json_object_is_type(o, json_type_object) && a.has_status) {
			struct json_object *v;

			if (a.status && a.status != EACCES)
				bad++;
			if (json_object_object_get_ex(o, "EnclaveID", &v))
				registry_remove_records(d, json_object_get_string(v));
			json_object_array_add(array, o);
		} else if (!(a.has_status && a.status == EACCES)) {
			json_object_put(o);
			failed++;
		} else {
			json_object_put(o);
		}
		ctl_answer_free(&a);
	}
	/* And what ended enclaves of ours left behind. */
	if (registry_list_ended(d, &ended, &nended) == 0) {
		for (unsigned int i = 0; i < nended; i++)
			clean_ended(d, ended[i], array);
		registry_list_free(ended, nended);
	}
	print_json(array);
	json_object_put(array);
	if (failed)
		fprintf(stderr, "Failed connections: %u\n", failed);
	if (bad)
		ret = cli_fail(E_ENCLAVE_PROCESS_COMMAND, "Failed to execute %u enclave process commands", bad);
	else if (failed)
		ret = cli_fail(E_ENCLAVE_PROCESS_CONNECTION, "Failed to connect to %u enclave processes", failed);
	return ret;
}

int cmd_terminate_enclave(int argc, char **argv)
{
	const char *id = NULL, *name = NULL;
	struct registry_dirs d;
	char resolved[CTL_STRING_MAX];
	uint64_t unused = 0;
	bool all = false;
	int ret;

	if (cli_help_requested(argc, argv)) {
		fputs(terminate_usage, stdout);
		return 0;
	}
	ret = id_or_name_opts(argc, argv, terminate_opts, "terminate-enclave", &id, &name, &all, &unused);
	if (!ret)
		ret = dirs_or_fail(&d);
	if (ret)
		return ret;
	if (all)
		return terminate_all(&d);
	ret = resolve(&d, id, name, resolved, sizeof(resolved), true);
	return ret ? ret : terminate_one(&d, resolved);
}

/* ---- console ---- */

static const struct option console_opts[] = {
	{ "enclave-id", required_argument, NULL, 'i' },
	{ "enclave-name", required_argument, NULL, 'n' },
	{ "disconnect-timeout", required_argument, NULL, 't' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const char console_usage[] =
	"Usage: nitrovm console (--enclave-id ID | --enclave-name NAME) [--disconnect-timeout SECONDS]\n\n"
	"Show a debug-mode enclave's console, as nitro-cli console does, but first what it printed before you\n"
	"attached (the last 256 KiB), then what it prints until it ends.  For an enclave that has already ended,\n"
	"print what it left and how it ended (until terminate-enclave cleans that up).\n\n"
	"  --disconnect-timeout S   detach after S seconds\n";

/* Copy a console stream to stdout until its end or the deadline. */
static int stream_console(int fd, uint64_t timeout_s)
{
	struct timespec end;
	uint8_t buf[CONSOLE_CHUNK];

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += (time_t)timeout_s;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct timespec now;
		int wait = -1;
		ssize_t n;

		if (timeout_s) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
				return 0;
			wait = (int)((end.tv_sec - now.tv_sec) * 1000 + (end.tv_nsec - now.tv_nsec) / 1000000) + 1;
		}
		if (poll(&p, 1, wait) < 0) {
			if (errno == EINTR)
				continue;
			return cli_fail(E_ENCLAVE_CONSOLE_READ, "cannot wait for the console: %s", strerror(errno));
		}
		if (!p.revents)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cli_fail(E_ENCLAVE_CONSOLE_READ, "cannot read the console: %s", strerror(errno));
		if (n == 0)
			return 0;
		if (write_full(STDOUT_FILENO, buf, (size_t)n) < 0)
			return cli_fail(E_ENCLAVE_CONSOLE_WRITE, "cannot write the console to stdout: %s", strerror(errno));
	}
}

/* Is the process listening on this socket nitrovm (which knows ConnectConsole), not nitro-cli? */
static bool peer_is_nitrovm(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char link[64], exe[PATH_MAX];
	const char *base;
	ssize_t n;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)cred.pid);
	n = readlink(link, exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	base = strrchr(exe, '/');
	base = base ? base + 1 : exe;
	return !strncmp(base, OWN_PROCESS_NAME, strlen(OWN_PROCESS_NAME));
}

/* The Nitro hypervisor's console, as nitro-cli reads it: vsock CID 0, port CID + 10000. */
static int vsock_console(uint64_t cid)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HYPERVISOR,
				 .svm_port = (unsigned int)(cid + CONSOLE_PORT_OFFSET) };
	struct timeval t = { .tv_sec = CONSOLE_CONNECT_MS / 1000 };
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &t, sizeof(t));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

/* Open the console of a running enclave: nitrovm's enclave process serves it (with its history). */
static int open_console(const struct registry_dirs *d, const char *id, uint64_t cid, int *out)
{
	char path[PATH_MAX];
	uint64_t v;
	int fd = registry_connect(d, id, path, sizeof(path));

	if (fd < 0)
		return fd;
	if (!peer_is_nitrovm(fd)) {
		/* nitro-cli's enclave process would end its loop on a command it does not know: not ours to ask. */
		close(fd);
		fd = vsock_console(cid);
		if (fd < 0)
			return err_set(-fd, "cannot connect to the console of enclave %s (vsock CID 0, port %llu): %s", id,
				       (unsigned long long)(cid + CONSOLE_PORT_OFFSET), strerror(-fd));
		*out = fd;
		return 0;
	}
	if (ctl_send(fd, CTL_CONNECT_CONSOLE, NULL, 0) < 0 || ctl_read_u64(fd, &v, CTL_REPLY_TIMEOUT_MS) < 0 ||
	    v != CTL_CONFIRM) {
		close(fd);
		return err_set(EPROTO, "the enclave process of %s did not open its console (only its owner and root "
				       "may)", id);
	}
	*out = fd;
	return 0;
}

int cli_console(const char *enclave_id, uint64_t cid, uint64_t timeout_s)
{
	struct registry_dirs d;
	int fd = -1, ret = dirs_or_fail(&d);

	if (ret)
		return ret;
	printf("Connecting to the console for enclave %llu...\n", (unsigned long long)cid);
	fflush(stdout);
	if (open_console(&d, enclave_id, cid, &fd) < 0)
		return cli_fail_err(E_ENCLAVE_CONSOLE_CONNECTION);
	printf("Successfully connected to the console.\n");
	fflush(stdout);
	ret = stream_console(fd, timeout_s);
	close(fd);
	return ret;
}

/* An ended enclave of ours: its history, then how it ended. */
static int console_of_ended(const struct registry_dirs *d, const char *id)
{
	struct registry_exit x;
	struct console_ring ring;
	char path[PATH_MAX];
	const uint8_t *a, *b;
	size_t alen, blen;

	if (registry_read_exit(d, id, &x) < 0)
		return cli_fail(E_SOCKET, "no running or ended enclave has the id %s", id);
	if (registry_record_path(d, id, ".console", path, sizeof(path)) == 0 && console_ring_open(&ring, path) == 0) {
		console_ring_pieces(&ring, &a, &alen, &b, &blen);
		write_full(STDOUT_FILENO, a, alen);
		write_full(STDOUT_FILENO, b, blen);
		console_ring_close(&ring);
	} else {
		fprintf(stderr, "(no console history: it was not in debug mode)\n");
	}
	fprintf(stderr, "Enclave %s has ended (%s%s%s) %lld s ago; terminate-enclave removes what it left.\n", id,
		x.reason, x.detail[0] ? ": " : "", x.detail, (long long)(time(NULL) - x.ended));
	return 0;
}

int cmd_console(int argc, char **argv)
{
	const char *id = NULL, *name = NULL;
	struct registry_dirs d;
	char resolved[CTL_STRING_MAX];
	uint64_t timeout = 0, cid = 0, flags = 0;
	bool all = false;
	int ret;

	if (cli_help_requested(argc, argv)) {
		fputs(console_usage, stdout);
		return 0;
	}
	ret = id_or_name_opts(argc, argv, console_opts, "console", &id, &name, &all, &timeout);
	if (!ret)
		ret = dirs_or_fail(&d);
	if (!ret)
		ret = resolve(&d, id, name, resolved, sizeof(resolved), true);
	if (ret)
		return ret;
	ret = ctl_ask_u64(&d, resolved, CTL_GET_CID, &cid);
	if (ret == -ENOENT)
		return console_of_ended(&d, resolved);
	if (ret < 0 || ctl_ask_u64(&d, resolved, CTL_GET_FLAGS, &flags) < 0)
		return cli_fail_err(E_ENCLAVE_PROCESS_CONNECTION);
	if (!(flags & CTL_DEBUG_FLAG))
		return cli_fail(E_ENCLAVE_CONSOLE_CONNECTION, "The enclave was not started with the debug flag set, "
							      "include '--debug-mode' in the run-enclave command");
	return cli_console(resolved, cid, timeout);
}
