// SPDX-License-Identifier: MIT
/*
 * How the app of an image runs: its argv, environment, working directory and user, by Docker's rules or, on
 * request, by nitro-cli's (Cmd or else Entrypoint, the image's Env, from / as root: nitro-cli issue #388).
 *
 * The enclave init reads the argv from a file with one argument per line and the environment from one with a
 * NAME=VALUE per line, so an argument or a variable holding a newline cannot be carried: that is an error
 * here, where it can still be fixed, rather than a surprise in the enclave.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* /etc/passwd and /etc/group of real images are a few KiB; 4 MiB is tens of thousands of users. */
#define USER_DB_MAX (4 * MiB)
#define PASSWD_PATH "etc/passwd"
#define GROUP_PATH  "etc/group"

static int check_argv(const struct strv *argv)
{
	if (!argv->n)
		return err_set(ENOEXEC,
			       "the image has neither Cmd nor Entrypoint, so there is no app to run");
	if (!argv->v[0][0])
		return err_set(EINVAL, "the app's command starts with an empty program name");
	for (size_t i = 0; i < argv->n; i++)
		if (strchr(argv->v[i], '\n'))
			return err_set(
				EINVAL,
				"argument %zu of the app's command holds a newline, which the enclave's /cmd "
				"file (one argument per line) cannot carry",
				i + 1);
	return 0;
}

static int append_all(struct strv *out, const struct strv *in)
{
	for (size_t i = 0; i < in->n; i++)
		if (strv_push(out, in->v[i], strlen(in->v[i])))
			return -ENOMEM;
	return 0;
}

/* Docker: an --entrypoint clears the image's Cmd; a command replaces Cmd; argv = Entrypoint ++ Cmd. */
static int make_argv(const struct image_config *c, const struct image_run_overrides *o, struct strv *argv)
{
	static const struct strv none;
	const struct strv *ep = o->has_entrypoint ? o->entrypoint : &c->entrypoint;
	const struct strv *cmd = o->has_cmd ? o->cmd : o->has_entrypoint ? &none : &c->cmd;
	int ret;

	if (o->nitro_cli_rule) {
		/* nitro-cli: Cmd when the image has one, else Entrypoint; never both. */
		bool has_cmd = o->has_cmd || (!o->has_entrypoint && c->has_cmd);

		ret = append_all(argv, has_cmd && cmd->n ? cmd : ep);
	} else {
		ret = append_all(argv, ep);
		if (!ret)
			ret = append_all(argv, cmd);
	}
	return ret ? ret : check_argv(argv);
}

static size_t env_name_len(const char *kv)
{
	const char *eq = strchr(kv, '=');

	return eq ? (size_t)(eq - kv) : 0;
}

/* Set NAME=VALUE in env, replacing an earlier NAME. */
static int env_set(struct strv *env, const char *kv, const char *what)
{
	size_t n = env_name_len(kv);

	if (!n)
		return err_set(EINVAL, "%s has the variable '%.64s', which is not NAME=VALUE", what, kv);
	if (strchr(kv, '\n'))
		return err_set(
			EINVAL,
			"%s has the variable %.*s holding a newline, which the enclave's /env file (one "
			"variable per line) cannot carry",
			what, (int)MIN(n, 64), kv);
	for (size_t i = 0; i < env->n; i++) {
		if (env_name_len(env->v[i]) == n && !strncmp(env->v[i], kv, n)) {
			char *copy = strdup(kv);

			if (!copy)
				return err_set(ENOMEM, "out of memory");
			free(env->v[i]);
			env->v[i] = copy;
			return 0;
		}
	}
	return strv_push(env, kv, strlen(kv));
}

static bool env_has(const struct strv *env, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < env->n; i++)
		if (env_name_len(env->v[i]) == n && !strncmp(env->v[i], name, n))
			return true;
	return false;
}

static int make_env(const struct image_config *c, const struct image_run_overrides *o, struct strv *env)
{
	int ret = 0;

	for (size_t i = 0; !ret && i < c->env.n; i++)
		ret = env_set(env, c->env.v[i], "the image's Env");
	for (size_t i = 0; !ret && i < o->nenv; i++)
		ret = env_set(env, o->env[i], "the environment given");
	return ret;
}

/* An absolute, clean path: "." dropped, ".." applied (never above "/"), as Go's filepath.Clean does. */
static int clean_dir(const char *in, char *out, size_t len)
{
	char buf[4096], *save = NULL, *c;
	size_t n = 0;

	if (strlen(in) >= sizeof(buf))
		return err_set(ENAMETOOLONG, "the image's WorkingDir is longer than %zu bytes",
			       sizeof(buf) - 1);
	strcpy(buf, in);
	out[0] = '\0';
	for (c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			char *slash = strrchr(out, '/');

			n = slash ? (size_t)(slash - out) : 0;
			out[n] = '\0';
			continue;
		}
		if (n + 1 + strlen(c) + 1 > len)
			return err_set(ENAMETOOLONG, "the image's WorkingDir is too long");
		n += (size_t)snprintf(out + n, len - n, "/%s", c);
	}
	if (!n)
		snprintf(out, len, "/");
	return 0;
}

static int read_db(struct image *img, const char *path, char **buf, size_t *len)
{
	int ret = image_read_file(img, path, USER_DB_MAX, buf, len);

	if (ret == -ENOENT) {
		*buf = NULL;
		*len = 0;
		return 0;
	}
	return ret;
}

static int resolve_user(struct image *img, struct image_run *run, struct image_user *u)
{
	const char *spec = img->plan.config.user ? img->plan.config.user : "";
	struct user_db db = {0};
	char *passwd = NULL, *group = NULL;
	int ret = read_db(img, PASSWD_PATH, &passwd, &db.passwd_len);

	if (!ret)
		ret = read_db(img, GROUP_PATH, &group, &db.group_len);
	db.passwd = passwd;
	db.group = group;
	if (!ret)
		ret = image_user_resolve(spec, &db, u);
	free(passwd);
	free(group);
	if (ret)
		return ret;
	run->uid = u->uid;
	run->gid = u->gid;
	run->groups = u->groups;
	run->ngroups = u->ngroups;
	u->groups = NULL;
	return 0;
}

int image_run_resolve(struct image *img, const struct image_run_overrides *o, struct image_run *run)
{
	const struct image_config *c = &img->plan.config;
	struct image_user u = {0};
	char home[PATH_MAX + 8];
	int ret;

	memset(run, 0, sizeof(*run));
	run->container = !o->nitro_cli_rule;
	snprintf(run->cwd, sizeof(run->cwd), "/");
	ret = make_argv(c, o, &run->argv);
	if (!ret)
		ret = make_env(c, o, &run->env);
	if (ret || !run->container)
		goto out;
	if (c->working_dir && c->working_dir[0]) {
		ret = clean_dir(c->working_dir, run->cwd, sizeof(run->cwd));
		if (ret)
			goto out;
	}
	ret = resolve_user(img, run, &u);
	/* runc sets HOME from the user's passwd entry when the environment has none. */
	if (!ret && !env_has(&run->env, "HOME")) {
		snprintf(home, sizeof(home), "HOME=%s", u.home);
		ret = env_set(&run->env, home, "the user's home");
	}
out:
	image_user_free(&u);
	if (ret)
		image_run_free(run);
	return ret;
}

void image_run_free(struct image_run *run)
{
	strv_free(&run->argv);
	strv_free(&run->env);
	free(run->groups);
	run->groups = NULL;
	run->ngroups = 0;
}
