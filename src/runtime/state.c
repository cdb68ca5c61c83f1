// SPDX-License-Identifier: MIT
/*
 * A container's state: <root>/<id>/state.json, written whole (renamed into place) by create and by start.
 * Whether the container still runs is never written down: it is read from the monitor process itself (alive,
 * not a zombie, and started when the record says so), so a monitor that was killed, or a pid reused by
 * another process (its start time differs), reads as stopped.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json_pretty.h"
#include "common/util.h"
#include "runtime.h"

#define RT_STATE_FILE "state.json"
/* A state record: a few paths and the annotations, which CRI keeps to a few KiB. */
#define RT_STATE_MAX (4 * 1024 * 1024)
/* /proc/<pid>/stat: the command name is at most 16 bytes; the rest is numbers. */
#define RT_PROC_STAT_MAX 4096

int rt_check_id(const char *id)
{
	size_t len = strlen(id);

	if (!len || len > RT_ID_MAX)
		return err_set(EINVAL, "invalid container id '%.64s': 1 to %d characters", id, RT_ID_MAX);
	/* runc's rule: letters, digits, '_', '+', '-' and '.', but not "." or "..". */
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)id[i]) && !strchr("_+-.", id[i]))
			return err_set(EINVAL, "invalid container id '%.64s': use letters, digits, _ + - and .", id);
	if (!strcmp(id, ".") || !strcmp(id, ".."))
		return err_set(EINVAL, "invalid container id '%s'", id);
	return 0;
}

int rt_state_dir(const struct rt_globals *g, const char *id, char *out, size_t len)
{
	int ret = rt_check_id(id);

	if (ret)
		return ret;
	if ((size_t)snprintf(out, len, "%s/%s", g->root, id) >= len)
		return err_set(ENAMETOOLONG, "the state directory for container %.64s is too long a path", id);
	return 0;
}

static struct json_object *cgroup_json(const struct rt_cgroup *cg)
{
	struct json_object *a = json_object_new_array();

	for (unsigned int i = 0; i < cg->n; i++) {
		struct json_object *d = json_object_new_object();

		json_object_object_add(d, "dir", json_object_new_string(cg->dirs[i]));
		json_object_object_add(d, "made", json_object_new_int(cg->made[i]));
		json_object_array_add(a, d);
	}
	return a;
}

int rt_state_write(const char *dir, const struct rt_state *s)
{
	struct json_object *o = json_object_new_object();
	char path[PATH_MAX];
	struct atomic_file f;
	const char *text;
	int ret;

	json_object_object_add(o, "id", json_object_new_string(s->id));
	json_object_object_add(o, "pid", json_object_new_int64(s->pid));
	json_object_object_add(o, "pid_start", json_object_new_uint64(s->pid_start));
	json_object_object_add(o, "bundle", json_object_new_string(s->bundle));
	json_object_object_add(o, "rootfs", json_object_new_string(s->rootfs));
	json_object_object_add(o, "created", json_object_new_string(s->created));
	json_object_object_add(o, "owner", json_object_new_string(s->owner));
	json_object_object_add(o, "started", json_object_new_boolean(s->started));
	json_object_object_add(o, "annotations",
			       s->annotations ? json_object_get(s->annotations) : json_object_new_object());
	json_object_object_add(o, "cgroup", cgroup_json(&s->cg));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	snprintf(path, sizeof(path), "%s/%s", dir, RT_STATE_FILE);
	ret = atomic_file_open(&f, path, 0600);
	if (!ret) {
		ret = atomic_file_write(&f, text, strlen(text));
		ret = ret ? ret : atomic_file_commit(&f);
		if (ret)
			atomic_file_abort(&f);
	}
	json_object_put(o);
	return ret;
}

static int get_string(struct json_object *o, const char *key, char *out, size_t len)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string) ||
	    (size_t)json_object_get_string_len(v) >= len)
		return -EINVAL;
	snprintf(out, len, "%s", json_object_get_string(v));
	return 0;
}

static int get_cgroup(struct json_object *o, struct rt_cgroup *cg)
{
	struct json_object *a, *d, *v;

	memset(cg, 0, sizeof(*cg));
	if (!json_object_object_get_ex(o, "cgroup", &a) || !json_object_is_type(a, json_type_array) ||
	    json_object_array_length(a) > RT_CGROUP_MAX_DIRS)
		return -EINVAL;
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		d = json_object_array_get_idx(a, i);
		if (get_string(d, "dir", cg->dirs[i], sizeof(cg->dirs[i])) ||
		    !json_object_object_get_ex(d, "made", &v))
			return -EINVAL;
		cg->made[i] = (unsigned int)json_object_get_int(v);
		cg->n++;
	}
	return 0;
}

static int parse_state(struct json_object *o, struct rt_state *s)
{
	struct json_object *v;

	if (get_string(o, "id", s->id, sizeof(s->id)) || get_string(o, "bundle", s->bundle, sizeof(s->bundle)) ||
	    get_string(o, "rootfs", s->rootfs, sizeof(s->rootfs)) ||
	    get_string(o, "created", s->created, sizeof(s->created)) ||
	    get_string(o, "owner", s->owner, sizeof(s->owner)) || get_cgroup(o, &s->cg))
		return -EINVAL;
	if (!json_object_object_get_ex(o, "pid", &v))
		return -EINVAL;
	s->pid = (pid_t)json_object_get_int64(v);
	if (!json_object_object_get_ex(o, "pid_start", &v))
		return -EINVAL;
	s->pid_start = json_object_get_uint64(v);
	if (!json_object_object_get_ex(o, "started", &v))
		return -EINVAL;
	s->started = json_object_get_boolean(v);
	if (!json_object_object_get_ex(o, "annotations", &v) || !json_object_is_type(v, json_type_object))
		return -EINVAL;
	s->annotations = json_object_get(v);
	return 0;
}

int rt_state_read(const char *dir, struct rt_state *s)
{
	char path[PATH_MAX];
	struct json_object *o;
	uint8_t *buf;
	size_t len;
	int ret;

	memset(s, 0, sizeof(*s));
	snprintf(path, sizeof(path), "%s/%s", dir, RT_STATE_FILE);
	ret = file_read_all(path, &buf, &len, RT_STATE_MAX);
	if (ret == -ENOENT)
		return ret;
	if (ret)
		return err_wrap(-ret, "cannot read the container's state");
	o = json_tokener_parse((const char *)buf);
	free(buf);
	ret = o ? parse_state(o, s) : -EINVAL;
	json_object_put(o);
	if (ret) {
		rt_state_free(s);
		return err_set(EINVAL, "the container's state %s is damaged", path);
	}
	return 0;
}

void rt_state_free(struct rt_state *s)
{
	json_object_put(s->annotations);
	s->annotations = NULL;
}

unsigned long long rt_proc_start_time(pid_t pid)
{
	char path[64], buf[RT_PROC_STAT_MAX], *p, state;
	unsigned long long start = 0;
	ssize_t n;
	int fd;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* "pid (comm) state ..." where comm may hold anything but is at most 16 bytes: the last ')' ends it. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c", &state) != 1 || state == 'Z' || state == 'X')
		return 0;
	/* starttime is field 22; after ')' come field 3 (state) onwards. */
	p += 2;
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (p)
		start = strtoull(p, NULL, 10);
	return start;
}

enum rt_status rt_state_status(const struct rt_state *s)
{
	unsigned long long t = rt_proc_start_time(s->pid);

	if (!t || t != s->pid_start)
		return RT_STOPPED;
	return s->started ? RT_RUNNING : RT_CREATED;
}

static const char *rt_status_name(enum rt_status st)
{
	return st == RT_CREATED ? "created" : st == RT_RUNNING ? "running" : "stopped";
}

char *rt_state_json(const struct rt_state *s)
{
	struct json_object *o = json_object_new_object();
	enum rt_status st = rt_state_status(s);
	char *text;

	json_object_object_add(o, "ociVersion", json_object_new_string(RT_OCI_VERSION));
	json_object_object_add(o, "id", json_object_new_string(s->id));
	json_object_object_add(o, "pid", json_object_new_int64(st == RT_STOPPED ? 0 : s->pid));
	json_object_object_add(o, "status", json_object_new_string(rt_status_name(st)));
	json_object_object_add(o, "bundle", json_object_new_string(s->bundle));
	json_object_object_add(o, "rootfs", json_object_new_string(s->rootfs));
	json_object_object_add(o, "created", json_object_new_string(s->created));
	json_object_object_add(o, "owner", json_object_new_string(s->owner));
	if (s->annotations && json_object_object_length(s->annotations))
		json_object_object_add(o, "annotations", json_object_get(s->annotations));
	text = json_pretty(o);
	json_object_put(o);
	return text;
}

void rt_state_remove(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	/* Only files of ours are in it (the state, the socket, the enclave's id): no subdirectories. */
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(dir);
}

int rt_write_pid_file(const char *path, pid_t pid)
{
	struct atomic_file f;
	char text[16];
	int ret;

	snprintf(text, sizeof(text), "%d", (int)pid);
	ret = atomic_file_open(&f, path, 0644);
	if (ret)
		return err_wrap(-ret, "cannot write the pid file %s", path);
	ret = atomic_file_write(&f, text, strlen(text));
	ret = ret ? ret : atomic_file_commit(&f);
	if (ret) {
		atomic_file_abort(&f);
		return err_wrap(-ret, "cannot write the pid file %s", path);
	}
	return 0;
}
