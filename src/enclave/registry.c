// SPDX-License-Identifier: MIT
#include "registry.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/grow.h"
#include "common/util.h"

#define REGISTRY_FALLBACK_NAME "nitro_enclaves"
#define REGISTRY_RUN_NAME      "nitrovm"
#define CTL_NAME_MAX	       1024 /* an enclave name as the protocol carries it */
/* A record is one of these files per enclave (registry.h). */
static const char *const record_suffixes[] = { ".json", ".console", ".log", ".exit" };

/* mkdir -p for the last component only, then check it is a directory this user can write. */
static int ensure_dir(const char *path, mode_t mode, bool *created)
{
	struct stat st;

	if (mkdir(path, mode) == 0) {
		if (created)
			*created = true;
		return 0;
	}
	if (errno != EEXIST)
		return -errno;
	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	return access(path, W_OK | X_OK) ? -errno : 0;
}

/* The per-user directory: $XDG_RUNTIME_DIR/<name>, else /tmp/<name>-<uid> (which must be ours). */
static int user_dir(const char *name, char *out, size_t len, bool create, bool *created)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	int ret;

	if (xdg && xdg[0] == '/')
		snprintf(out, len, "%s/%s", xdg, name);
	else
		snprintf(out, len, "/tmp/%s-%u", name, (unsigned int)getuid());
	if (!create)
		return 0;
	ret = ensure_dir(out, 0700, created);
	if (ret < 0)
		return err_set(-ret, "cannot use %s for this user's enclaves: %s", out, strerror(-ret));
	/* Under /tmp anyone could have made it first: use it only if it is ours and private. */
	if (lstat(out, &st) < 0 || st.st_uid != getuid() || (st.st_mode & 077))
		return err_set(EPERM, "%s belongs to someone else or is open to others; remove it or set $%s", out,
			       REGISTRY_SOCKETS_ENV);
	return 0;
}

static char chosen_sockets[PATH_MAX], chosen_run[PATH_MAX];

int registry_set_dirs(const char *sockets, const char *run)
{
	int ret = path_setting_copy(chosen_sockets, sizeof(chosen_sockets), sockets, "the enclave sockets directory");

	return ret < 0 ? ret : path_setting_copy(chosen_run, sizeof(chosen_run), run, "the enclave records directory");
}

static int sockets_dir(struct registry_dirs *d, bool create)
{
	int ret;

	if (chosen_sockets[0]) {
		snprintf(d->sockets, sizeof(d->sockets), "%s", chosen_sockets);
		if (!create)
			return 0;
		ret = ensure_dir(d->sockets, 0775, &d->created);
		if (ret < 0)
			return err_set(-ret, "the enclave sockets directory $%s=%s cannot be used: %s",
				       REGISTRY_SOCKETS_ENV, chosen_sockets, strerror(-ret));
		return 0;
	}
	snprintf(d->sockets, sizeof(d->sockets), "%s", REGISTRY_SOCKETS_DEFAULT);
	if (!create)
		return access(d->sockets, W_OK | X_OK) ? user_dir(REGISTRY_FALLBACK_NAME, d->sockets,
								   sizeof(d->sockets), false, NULL) : 0;
	/* nitro-cli's package makes it 0775 root:ne; we make it the same way when we are the first. */
	if (ensure_dir(d->sockets, 0775, NULL) == 0)
		return 0;
	d->fell_back = true;
	return user_dir(REGISTRY_FALLBACK_NAME, d->sockets, sizeof(d->sockets), true, &d->created);
}

static int run_dir(struct registry_dirs *d, bool create)
{
	int ret;

	if (chosen_run[0])
		snprintf(d->run, sizeof(d->run), "%s", chosen_run);
	else if (geteuid() == 0)
		snprintf(d->run, sizeof(d->run), "%s", REGISTRY_RUN_ROOT);
	else
		return user_dir(REGISTRY_RUN_NAME, d->run, sizeof(d->run), create, NULL);
	if (!create)
		return 0;
	ret = ensure_dir(d->run, 0700, NULL);
	return ret < 0 ? err_set(-ret, "nitrovm's records directory %s cannot be used: %s", d->run, strerror(-ret))
		       : 0;
}

int registry_dirs(struct registry_dirs *d, bool create)
{
	int ret;

	memset(d, 0, sizeof(*d));
	ret = sockets_dir(d, create);
	if (ret < 0)
		return ret;
	memcpy(d->search[d->nsearch++], d->sockets, strlen(d->sockets) + 1);
	/* A user of the fallback still sees root's enclaves (read-only commands are open to everyone). */
	if (!chosen_sockets[0] && strcmp(d->sockets, REGISTRY_SOCKETS_DEFAULT))
		snprintf(d->search[d->nsearch++], PATH_MAX, "%s", REGISTRY_SOCKETS_DEFAULT);
	return run_dir(d, create);
}

int registry_run_dir(char *out, size_t len)
{
	struct registry_dirs *d = calloc(1, sizeof(*d));
	int ret;

	if (!d)
		return err_set(ENOMEM, "out of memory");
	ret = run_dir(d, true);
	if (!ret)
		snprintf(out, len, "%s", d->run);
	free(d);
	return ret;
}

/* "<slot>" of an enclave id ("i-...-enc<slot>", or the whole id when it has no "-enc"). */
void registry_slot_of(const char *enclave_id, char *out, size_t len)
{
	const char *p = enclave_id, *q;

	while ((q = strstr(p, "-enc")))
		p = q + 4;
	snprintf(out, len, "%s", p == enclave_id ? enclave_id : p);
}

/* A slot is used as a file name: it must not name another directory or a hidden file. */
static bool slot_is_safe(const char *slot)
{
	if (!slot[0] || slot[0] == '.' || strlen(slot) >= REGISTRY_SLOT_MAX)
		return false;
	return !strpbrk(slot, "/\n");
}

int registry_socket_path(const char *dir, const char *enclave_id, char *out, size_t len)
{
	char slot[REGISTRY_SLOT_MAX + 8];

	registry_slot_of(enclave_id, slot, sizeof(slot));
	if (!slot_is_safe(slot))
		return err_set(EINVAL, "'%s' is not an enclave id (they look like i-0123456789abcdef0-enc9f1e)",
			       enclave_id);
	if ((size_t)snprintf(out, len, "%s/%s%s", dir, slot, REGISTRY_SOCKET_SUFFIX) >= len)
		return err_set(ENAMETOOLONG, "the socket path for enclave %s is too long", enclave_id);
	return 0;
}

int registry_record_path(const struct registry_dirs *d, const char *enclave_id, const char *suffix, char *out,
			 size_t len)
{
	char slot[REGISTRY_SLOT_MAX + 8];

	registry_slot_of(enclave_id, slot, sizeof(slot));
	if (!slot_is_safe(slot))
		return err_set(EINVAL, "'%s' is not an enclave id", enclave_id);
	if ((size_t)snprintf(out, len, "%s/%s%s", d->run, slot, suffix) >= len)
		return err_set(ENAMETOOLONG, "the record path for enclave %s is too long", enclave_id);
	return 0;
}

int registry_lock(const struct registry_dirs *d)
{
	char path[PATH_MAX];
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", d->sockets, REGISTRY_LOCK_NAME) >= sizeof(path))
		return err_set(ENAMETOOLONG, "the sockets directory's path is too long");
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0664);
	if (fd < 0)
		return err_set(errno, "cannot open the launch lock %s: %s", path, strerror(errno));
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int e = errno;

			close(fd);
			return err_set(e, "cannot take the launch lock %s: %s", path, strerror(e));
		}
	}
	return fd;
}

void registry_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* closing drops the flock */
}

/* Connect to a socket path; ECONNREFUSED (and a vanished file) mean nobody listens. */
static int connect_path(const char *path)
{
	return unix_connect(path, SOCK_CLOEXEC);
}

int registry_write_exit(const struct registry_dirs *d, const char *enclave_id, const struct registry_exit *x)
{
	struct json_object *o = json_object_new_object();
	struct atomic_file f;
	char path[PATH_MAX];
	const char *text;
	int ret;

	ret = registry_record_path(d, enclave_id, ".exit", path, sizeof(path));
	if (ret < 0)
		goto out;
	json_object_object_add(o, "Reason", json_object_new_string(x->reason));
	json_object_object_add(o, "Detail", json_object_new_string(x->detail));
	json_object_object_add(o, "Status", json_object_new_int(x->status));
	json_object_object_add(o, "Seconds", json_object_new_double(x->seconds));
	json_object_object_add(o, "Ended", json_object_new_int64((int64_t)x->ended));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	ret = atomic_file_open(&f, path, 0600);
	if (ret < 0)
		goto out;
	ret = atomic_file_write(&f, text, strlen(text));
	if (ret < 0)
		atomic_file_abort(&f);
	else
		ret = atomic_file_commit(&f);
out:
	json_object_put(o);
	return ret;
}

static void json_str(struct json_object *o, const char *key, char *out, size_t len)
{
	struct json_object *v;

	if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
		snprintf(out, len, "%s", json_object_get_string(v));
}

int registry_read_exit(const struct registry_dirs *d, const char *enclave_id, struct registry_exit *x)
{
	struct json_object *o, *v;
	char path[PATH_MAX];
	uint8_t *buf;
	size_t len;
	int ret;

	memset(x, 0, sizeof(*x));
	x->status = -1;
	ret = registry_record_path(d, enclave_id, ".exit", path, sizeof(path));
	if (ret < 0)
		return ret;
	ret = file_read_all(path, &buf, &len, 4096);
	if (ret < 0)
		return ret;
	o = json_tokener_parse((const char *)buf);
	free(buf);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return err_set(EBADMSG, "%s is not an exit record", path);
	}
	json_str(o, "Reason", x->reason, sizeof(x->reason));
	json_str(o, "Detail", x->detail, sizeof(x->detail));
	if (json_object_object_get_ex(o, "Status", &v))
		x->status = json_object_get_int(v);
	if (json_object_object_get_ex(o, "Seconds", &v))
		x->seconds = json_object_get_double(v);
	if (json_object_object_get_ex(o, "Ended", &v))
		x->ended = (time_t)json_object_get_int64(v);
	json_object_put(o);
	return 0;
}

/*
 * A socket left by a process that died without cleaning up (SIGKILL, a crash): its enclave died with it.  When
 * the records are ours, say so in an exit record, so `console` can tell how it ended.
 */
static void mark_killed(const struct registry_dirs *d, const char *sock_name)
{
	char slot[REGISTRY_SLOT_MAX], path[PATH_MAX];
	size_t n = strlen(sock_name) - strlen(REGISTRY_SOCKET_SUFFIX);
	struct registry_exit x = { .reason = "killed", .status = -1 };

	if (n >= sizeof(slot))
		return;
	memcpy(slot, sock_name, n);
	slot[n] = '\0';
	if (registry_record_path(d, slot, ".json", path, sizeof(path)) < 0 || access(path, F_OK))
		return;
	if (registry_record_path(d, slot, ".exit", path, sizeof(path)) < 0 || !access(path, F_OK))
		return;
	snprintf(x.detail, sizeof(x.detail), "its enclave process died without ending it in order (killed, or "
					     "crashed); the enclave went with it");
	x.ended = time(NULL);
	registry_write_exit(d, slot, &x);
}

static bool is_stale(int err)
{
	return err == -ECONNREFUSED || err == -ENOTSOCK;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n > k && !strcmp(s + n - k, suffix);
}

int registry_connect_all(const struct registry_dirs *d, void (*cb)(void *opaque, int fd, const char *path),
			 void *opaque, unsigned int *stale)
{
	int connected = 0;

	*stale = 0;
	for (unsigned int i = 0; i < d->nsearch; i++) {
		DIR *dir = opendir(d->search[i]);
		struct dirent *e;

		if (!dir)
			continue; /* no enclaves there (yet) */
		while ((e = readdir(dir))) {
			char path[PATH_MAX];
			int fd;

			if (e->d_name[0] == '.' || !has_suffix(e->d_name, REGISTRY_SOCKET_SUFFIX))
				continue;
			if ((size_t)snprintf(path, sizeof(path), "%s/%s", d->search[i], e->d_name) >= sizeof(path))
				continue;
			fd = connect_path(path);
			if (fd >= 0) {
				connected++;
				cb(opaque, fd, path);
			} else if (is_stale(fd) && unlink(path) == 0) {
				(*stale)++;
				mark_killed(d, e->d_name);
			}
		}
		closedir(dir);
	}
	return connected;
}

int registry_connect(const struct registry_dirs *d, const char *enclave_id, char *path, size_t path_len)
{
	int last = -ENOENT;

	for (unsigned int i = 0; i < d->nsearch; i++) {
		int fd, ret = registry_socket_path(d->search[i], enclave_id, path, path_len);

		if (ret < 0)
			return ret;
		fd = connect_path(path);
		if (fd >= 0)
			return fd;
		if (is_stale(fd) && unlink(path) == 0)
			mark_killed(d, strrchr(path, '/') + 1);
		if (fd == -EACCES)
			last = fd;
	}
	return last == -EACCES ? err_set(EACCES, "no permission to reach enclave %s (its socket is %s)", enclave_id,
					 path)
			       : err_set(ENOENT, "no running enclave has the id %s", enclave_id);
}

void registry_remove_records(const struct registry_dirs *d, const char *enclave_id)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < ARRAY_SIZE(record_suffixes); i++)
		if (registry_record_path(d, enclave_id, record_suffixes[i], path, sizeof(path)) == 0)
			unlink(path);
}

/* The enclave's record (<slot>.json), parsed; NULL when there is none or it does not parse. */
static struct json_object *read_record(const struct registry_dirs *d, const char *enclave_id)
{
	struct json_object *o;
	char path[PATH_MAX];
	uint8_t *buf;
	size_t len;

	if (registry_record_path(d, enclave_id, ".json", path, sizeof(path)) < 0 ||
	    file_read_all(path, &buf, &len, 64 * 1024) < 0)
		return NULL;
	o = json_tokener_parse((const char *)buf);
	free(buf);
	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

void registry_record_name(const struct registry_dirs *d, const char *enclave_id, char *name, size_t len)
{
	struct json_object *o = read_record(d, enclave_id);

	name[0] = '\0';
	if (o)
		json_str(o, "EnclaveName", name, len);
	json_object_put(o);
}

int registry_list_ended(const struct registry_dirs *d, char ***ids, unsigned int *n)
{
	DIR *dir = opendir(d->run);
	struct dirent *e;
	size_t cap = 0;
	char **more;

	*ids = NULL;
	*n = 0;
	if (!dir)
		return 0;
	while ((e = readdir(dir))) {
		char slot[REGISTRY_SLOT_MAX], id[256] = "";
		size_t len = strlen(e->d_name);
		struct json_object *o;

		if (!has_suffix(e->d_name, ".exit") || len - 5 >= sizeof(slot))
			continue;
		memcpy(slot, e->d_name, len - 5);
		slot[len - 5] = '\0';
		o = read_record(d, slot);
		if (o)
			json_str(o, "EnclaveID", id, sizeof(id));
		json_object_put(o);
		more = grow_array(*ids, &cap, *n + 1, sizeof(char *), 16);
		if (!more)
			break;
		*ids = more;
		if (((*ids)[*n] = strdup(id[0] ? id : slot)))
			(*n)++;
	}
	closedir(dir);
	return 0;
}

void registry_list_free(char **ids, unsigned int n)
{
	for (unsigned int i = 0; ids && i < n; i++)
		free(ids[i]);
	free(ids);
}

int registry_find_by_name(const struct registry_dirs *d, const char *name, char *id, size_t len)
{
	char **ids;
	unsigned int n;
	time_t newest = 0;
	int ret = -ENOENT;

	registry_list_ended(d, &ids, &n);
	for (unsigned int i = 0; i < n; i++) {
		char one[CTL_NAME_MAX];
		struct registry_exit x;

		registry_record_name(d, ids[i], one, sizeof(one));
		if (strcmp(one, name) || registry_read_exit(d, ids[i], &x) < 0 || (ret == 0 && x.ended < newest))
			continue;
		snprintf(id, len, "%s", ids[i]);
		newest = x.ended;
		ret = 0;
	}
	registry_list_free(ids, n);
	return ret == 0 ? 0 : err_set(ENOENT, "No enclave matched the given name '%s'.", name);
}

struct ended {
	char slot[REGISTRY_SLOT_MAX];
	time_t when;
};

static int by_age(const void *a, const void *b)
{
	const struct ended *x = a, *y = b;

	return x->when < y->when ? 1 : x->when > y->when ? -1 : 0;
}

void registry_prune_ended(const struct registry_dirs *d)
{
	struct ended *list = NULL, *more;
	size_t n = 0, cap = 0;
	DIR *dir = opendir(d->run);
	struct dirent *e;

	if (!dir)
		return;
	while ((e = readdir(dir))) {
		char path[PATH_MAX];
		struct stat st;
		size_t len = strlen(e->d_name);

		if (!has_suffix(e->d_name, ".exit") || len - 5 >= REGISTRY_SLOT_MAX)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", d->run, e->d_name) >= sizeof(path) ||
		    stat(path, &st) < 0)
			continue;
		more = grow_array(list, &cap, n + 1, sizeof(*list), 32);
		if (!more)
			break;
		list = more;
		memcpy(list[n].slot, e->d_name, len - 5);
		list[n].slot[len - 5] = '\0';
		list[n++].when = st.st_mtime;
	}
	closedir(dir);
	if (n > REGISTRY_ENDED_KEPT) {
		qsort(list, n, sizeof(*list), by_age);
		for (size_t i = REGISTRY_ENDED_KEPT; i < n; i++)
			registry_remove_records(d, list[i].slot);
	}
	free(list);
}
