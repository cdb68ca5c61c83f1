// SPDX-License-Identifier: MIT
/*
 * A bundle's config.json (the OCI runtime spec), read for what an enclave needs: root.path, the process
 * (args, env, cwd, user, terminal, consoleSize), the annotations, and from linux: cgroupsPath, the network
 * namespace and the resources that size the enclave.  Everything else (mounts, capabilities, seccomp, rlimits,
 * hooks...) means nothing inside an enclave and is not read.  The file comes from the engine, and through
 * annotations and the process from whoever wrote the pod: each value is type-checked and bounded, and the
 * first bad one is one sentence naming it.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "runtime.h"

/* json-c's own default; a config nests five levels deep, seccomp rules a few more. */
#define RT_JSON_DEPTH 32

/* The member key of o, when present and not null.  A member of another type is an error naming it. */
static int member(struct json_object *o, const char *key, enum json_type type, const char *what,
		  struct json_object **out)
{
	struct json_object *v = NULL;

	*out = NULL;
	if (!o || !json_object_object_get_ex(o, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, type))
		return err_set(EINVAL, "config.json: %s%s is not %s", what, key,
			       type == json_type_object   ? "an object"
			       : type == json_type_array  ? "an array"
			       : type == json_type_string ? "a string"
			       : type == json_type_int	  ? "an integer"
							  : "a boolean");
	*out = v;
	return 0;
}

/* A string without NUL bytes (JSON may carry \u0000, which no path or argument can). */
static int clean_string(struct json_object *v, const char *what)
{
	if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
		return err_set(EINVAL, "config.json: %s holds a NUL character", what);
	return 0;
}

static int get_str(struct json_object *o, const char *key, const char *what, char *out, size_t len)
{
	struct json_object *v;
	int ret = member(o, key, json_type_string, what, &v);

	if (ret || !v)
		return ret;
	if (clean_string(v, key))
		return -EINVAL;
	if ((size_t)json_object_get_string_len(v) >= len)
		return err_set(ENAMETOOLONG, "config.json: %s%s is too long", what, key);
	snprintf(out, len, "%s", json_object_get_string(v));
	return 0;
}

static int get_i64(struct json_object *o, const char *key, const char *what, int64_t *out)
{
	struct json_object *v;
	int ret = member(o, key, json_type_int, what, &v);

	if (!ret && v)
		*out = json_object_get_int64(v);
	return ret;
}

static int get_u32(struct json_object *o, const char *key, const char *what, uint32_t *out)
{
	int64_t v = -1;
	int ret = get_i64(o, key, what, &v);

	if (ret)
		return ret;
	if (v != -1 && (v < 0 || v > UINT32_MAX))
		return err_set(ERANGE, "config.json: %s%s is out of range", what, key);
	if (v != -1)
		*out = (uint32_t)v;
	return 0;
}

/* An array of strings into a strv; *bytes counts what execve would take. */
static int get_strv(struct json_object *o, const char *key, const char *what, struct strv *out, size_t *bytes)
{
	struct json_object *a;
	int ret = member(o, key, json_type_array, what, &a);

	if (ret || !a)
		return ret;
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		struct json_object *v = json_object_array_get_idx(a, i);

		if (!json_object_is_type(v, json_type_string))
			return err_set(EINVAL, "config.json: %s%s[%zu] is not a string", what, key, i);
		if (clean_string(v, key))
			return -EINVAL;
		*bytes += (size_t)json_object_get_string_len(v) + 1;
		if (*bytes > RT_ARGS_ENV_MAX)
			return err_set(E2BIG, "config.json: process.args and process.env are more than %d bytes",
				       RT_ARGS_ENV_MAX);
		ret = strv_push(out, json_object_get_string(v), (size_t)json_object_get_string_len(v));
		if (ret)
			return ret;
	}
	return 0;
}

static int load_user(struct json_object *p, struct rt_bundle *b)
{
	struct json_object *u, *g;
	int ret = member(p, "user", json_type_object, "process.", &u);

	if (ret || !u)
		return ret;
	ret = get_u32(u, "uid", "process.user.", &b->uid);
	if (!ret)
		ret = get_u32(u, "gid", "process.user.", &b->gid);
	if (!ret)
		ret = member(u, "additionalGids", json_type_array, "process.user.", &g);
	if (ret || !g)
		return ret;
	if (json_object_array_length(g) > RT_MAX_GROUPS)
		return err_set(E2BIG, "config.json: more than %d process.user.additionalGids", RT_MAX_GROUPS);
	b->groups = calloc(json_object_array_length(g) + 1, sizeof(*b->groups));
	if (!b->groups)
		return err_set(ENOMEM, "out of memory");
	for (size_t i = 0; i < json_object_array_length(g); i++) {
		struct json_object *v = json_object_array_get_idx(g, i);
		int64_t id = json_object_get_int64(v);

		if (!json_object_is_type(v, json_type_int) || id < 0 || id > UINT32_MAX)
			return err_set(EINVAL, "config.json: process.user.additionalGids[%zu] is not a group id", i);
		b->groups[b->ngroups++] = (uint32_t)id;
	}
	return 0;
}

static int load_process(struct json_object *root, struct rt_bundle *b)
{
	struct json_object *p, *v, *cs;
	size_t bytes = 0;
	int ret = member(root, "process", json_type_object, "", &p);

	if (ret)
		return ret;
	if (!p)
		return err_set(EINVAL, "config.json has no process: there is nothing to run");
	ret = member(p, "terminal", json_type_boolean, "process.", &v);
	if (!ret && v)
		b->terminal = json_object_get_boolean(v);
	if (!ret)
		ret = get_strv(p, "args", "process.", &b->args, &bytes);
	if (!ret)
		ret = get_strv(p, "env", "process.", &b->env, &bytes);
	if (!ret)
		ret = get_str(p, "cwd", "process.", b->cwd, sizeof(b->cwd));
	if (!ret)
		ret = load_user(p, b);
	if (!ret)
		ret = member(p, "consoleSize", json_type_object, "process.", &cs);
	if (!ret && cs)
		ret = get_u32(cs, "height", "process.consoleSize.", &b->rows) ||
		      get_u32(cs, "width", "process.consoleSize.", &b->cols) ? -EINVAL : 0;
	if (ret)
		return ret;
	if (!b->args.n || !b->args.v[0][0])
		return err_set(EINVAL, "config.json: process.args is empty: there is nothing to run");
	if (b->cwd[0] != '/')
		return err_set(EINVAL, "config.json: process.cwd '%.64s' is not an absolute path", b->cwd);
	for (size_t i = 0; i < b->env.n; i++)
		if (!strchr(b->env.v[i], '=') || b->env.v[i][0] == '=')
			return err_set(EINVAL, "config.json: process.env[%zu] '%.64s' is not NAME=VALUE", i, b->env.v[i]);
	return 0;
}

static int load_namespaces(struct json_object *linux_, struct rt_bundle *b)
{
	struct json_object *a;
	int ret = member(linux_, "namespaces", json_type_array, "linux.", &a);

	if (ret || !a)
		return ret;
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		struct json_object *ns = json_object_array_get_idx(a, i);
		char type[32] = "";

		if (!json_object_is_type(ns, json_type_object))
			return err_set(EINVAL, "config.json: linux.namespaces[%zu] is not an object", i);
		ret = get_str(ns, "type", "linux.namespaces[].", type, sizeof(type));
		if (ret)
			return ret;
		if (strcmp(type, "network"))
			continue; /* the others isolate a process the enclave already isolates */
		b->netns = true;
		ret = get_str(ns, "path", "linux.namespaces[].", b->netns_path, sizeof(b->netns_path));
		if (ret)
			return ret;
	}
	return 0;
}

static int load_hugetlb(struct json_object *res, struct rt_bundle *b)
{
	struct json_object *a;
	int ret = member(res, "hugepageLimits", json_type_array, "linux.resources.", &a);

	for (size_t i = 0; !ret && a && i < json_object_array_length(a); i++) {
		struct json_object *h = json_object_array_get_idx(a, i);
		char size[16] = "";
		int64_t limit = 0;

		ret = get_str(h, "pageSize", "linux.resources.hugepageLimits[].", size, sizeof(size));
		if (!ret)
			ret = get_i64(h, "limit", "linux.resources.hugepageLimits[].", &limit);
		if (!ret && limit > 0 && !strcmp(size, "2MB"))
			b->hugetlb_2m = limit;
		if (!ret && limit > 0 && !strcmp(size, "1GB"))
			b->hugetlb_1g = limit;
	}
	return ret;
}

static int load_resources(struct json_object *linux_, struct rt_bundle *b)
{
	struct json_object *res, *mem, *cpu, *pids, *period;
	int ret = member(linux_, "resources", json_type_object, "linux.", &res);

	if (ret || !res)
		return ret;
	ret = member(res, "memory", json_type_object, "linux.resources.", &mem);
	if (!ret)
		ret = get_i64(mem, "limit", "linux.resources.memory.", &b->memory_limit);
	if (!ret)
		ret = member(res, "cpu", json_type_object, "linux.resources.", &cpu);
	if (!ret)
		ret = get_i64(cpu, "quota", "linux.resources.cpu.", &b->cpu_quota);
	if (!ret)
		ret = member(cpu, "period", json_type_int, "linux.resources.cpu.", &period);
	if (!ret && period)
		b->cpu_period = json_object_get_uint64(period);
	if (!ret)
		ret = get_str(cpu, "cpus", "linux.resources.cpu.", b->cpuset, sizeof(b->cpuset));
	if (!ret)
		ret = member(res, "pids", json_type_object, "linux.resources.", &pids);
	if (!ret)
		ret = get_i64(pids, "limit", "linux.resources.pids.", &b->pids_limit);
	if (!ret)
		ret = load_hugetlb(res, b);
	b->memory_limit = MAX(b->memory_limit, 0);
	b->cpu_quota = MAX(b->cpu_quota, 0);
	b->pids_limit = MAX(b->pids_limit, 0);
	return ret;
}

static int load_annotations(struct json_object *root, struct rt_bundle *b)
{
	int ret = member(root, "annotations", json_type_object, "", &b->annotations);

	if (ret)
		return ret;
	if (!b->annotations) {
		b->annotations = json_object_new_object();
		json_object_object_add(root, "annotations", b->annotations);
	}
	json_object_object_foreach(b->annotations, key, val)
	{
		if (!json_object_is_type(val, json_type_string) || clean_string(val, key))
			return err_set(EINVAL, "config.json: the annotation %.64s is not a string", key);
	}
	return 0;
}

static int load_root(struct json_object *root, struct rt_bundle *b)
{
	struct json_object *r;
	char path[PATH_MAX] = "";
	int ret = member(root, "root", json_type_object, "", &r);

	if (!ret)
		ret = get_str(r, "path", "root.", path, sizeof(path));
	if (ret)
		return ret;
	if (!path[0])
		return err_set(EINVAL, "config.json has no root.path");
	if (path[0] == '/')
		snprintf(b->root, sizeof(b->root), "%s", path);
	else if ((size_t)snprintf(b->root, sizeof(b->root), "%s/%s", b->dir, path) >= sizeof(b->root))
		return err_set(ENAMETOOLONG, "root.path is too long");
	return 0;
}

int rt_bundle_parse(struct rt_bundle *b, const char *dir, const uint8_t *buf, size_t len)
{
	struct json_tokener *tok;
	size_t end;
	int ret;

	memset(b, 0, sizeof(*b));
	if ((size_t)snprintf(b->dir, sizeof(b->dir), "%s", dir) >= sizeof(b->dir))
		return err_set(ENAMETOOLONG, "the bundle's path is too long");
	if (len > RT_CONFIG_JSON_MAX)
		return err_set(EFBIG, "%s/config.json is larger than %d bytes", dir, RT_CONFIG_JSON_MAX);
	tok = json_tokener_new_ex(RT_JSON_DEPTH);
	if (!tok)
		return err_set(ENOMEM, "out of memory");
	b->json = json_tokener_parse_ex(tok, (const char *)buf, (int)len);
	end = b->json ? json_tokener_get_parse_end(tok) : 0;
	while (end < len && strchr(" \t\r\n", buf[end]) && buf[end])
		end++; /* engines end the file with a newline */
	if (!b->json || end != len)
		ret = err_set(EINVAL, "%s/config.json is not valid JSON (%s)", b->dir,
			      json_tokener_error_desc(json_tokener_get_error(tok)));
	else if (!json_object_is_type(b->json, json_type_object))
		ret = err_set(EINVAL, "%s/config.json is not a JSON object", b->dir);
	else
		ret = 0;
	json_tokener_free(tok);
	if (!ret)
		ret = load_root(b->json, b);
	if (!ret)
		ret = load_annotations(b->json, b);
	if (ret)
		rt_bundle_free(b);
	return ret;
}

int rt_bundle_check(struct rt_bundle *b)
{
	struct json_object *linux_;
	int ret = load_process(b->json, b);

	if (!ret)
		ret = member(b->json, "linux", json_type_object, "", &linux_);
	if (!ret)
		ret = get_str(linux_, "cgroupsPath", "linux.", b->cgroups_path, sizeof(b->cgroups_path));
	if (!ret)
		ret = load_namespaces(linux_, b);
	if (!ret)
		ret = load_resources(linux_, b);
	return ret;
}

int rt_bundle_load(const char *dir, struct rt_bundle *b)
{
	char path[PATH_MAX], real[PATH_MAX];
	uint8_t *buf;
	size_t len;
	int ret;

	memset(b, 0, sizeof(*b));
	if (!realpath(dir, real))
		return err_set(errno, "the bundle %s: %s", dir, strerror(errno));
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", real, RT_BUNDLE_CONFIG) >= sizeof(path))
		return err_set(ENAMETOOLONG, "the bundle's path is too long");
	ret = file_read_all(path, &buf, &len, RT_CONFIG_JSON_MAX);
	if (ret)
		return err_wrap(-ret, "cannot read the bundle's config");
	ret = rt_bundle_parse(b, real, buf, len);
	free(buf);
	return ret;
}

void rt_bundle_free(struct rt_bundle *b)
{
	json_object_put(b->json);
	b->json = NULL;
	b->annotations = NULL;
	strv_free(&b->args);
	strv_free(&b->env);
	free(b->groups);
	b->groups = NULL;
}

const char *rt_annotation(const struct rt_bundle *b, const char *key)
{
	struct json_object *v;

	if (!b->annotations || !json_object_object_get_ex(b->annotations, key, &v))
		return NULL;
	return json_object_get_string(v);
}
