// SPDX-License-Identifier: MIT
/*
 * An image's User, resolved the way runc (and so Docker and podman) resolve it at container start, from the
 * image's own /etc/passwd and /etc/group:
 *
 *   ""            uid 0, and what passwd says for uid 0 (gid, home)
 *   NAME | UID    the first passwd entry with that name (a number always means a uid); a number that no entry
 *                 has is taken as is, with gid 0 and home "/"; a name no entry has is an error
 *   ...:GROUP     the group's gid (first /etc/group entry by name; a number always means a gid); no
 *                 supplementary groups
 *   without :GROUP and with a passwd entry: the supplementary groups are those listing the user's name
 *
 * One difference, on purpose: runc reads a malformed uid or gid field as 0 (root); here such lines are
 * ignored, so that a typo cannot make an app root.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* runc's range for ids given as numbers: a Linux id is 32 bits, and the top half is not portable. */
#define USER_MAX_ID   0x7fffffffUL
#define PASSWD_FIELDS 7
#define GROUP_FIELDS  4

/* Split one line at ':' into at most max fields (the last keeps the rest); returns the count. */
static size_t split_fields(char *line, char **f, size_t max)
{
	size_t n = 0;

	while (n < max) {
		f[n++] = line;
		if (n == max)
			break;
		line = strchr(line, ':');
		if (!line)
			break;
		*line++ = '\0';
	}
	return n;
}

static bool parse_id(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 10)
		return false;
	v = strtoul(s, &end, 10);
	if (v > USER_MAX_ID)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* Next line of a text buffer, trimmed of surrounding blanks, as a writable copy in line. */
static bool next_line(const char **p, const char *end, char *line, size_t len)
{
	while (*p < end) {
		const char *nl = memchr(*p, '\n', (size_t)(end - *p));
		const char *s = *p, *e = nl ? nl : end;

		*p = nl ? nl + 1 : end;
		while (s < e && strchr(" \t\r", *s))
			s++;
		while (e > s && strchr(" \t\r", e[-1]))
			e--;
		if (s == e || (size_t)(e - s) >= len)
			continue; /* empty, or longer than any real entry: not one to match */
		memcpy(line, s, (size_t)(e - s));
		line[e - s] = '\0';
		return true;
	}
	return false;
}

/* Lines are bounded so that a hostile file cannot make one allocation per byte. */
#define USER_LINE_MAX 4096

static int find_passwd(const struct user_db *db, const char *arg, bool numeric, uint32_t want,
		       struct image_user *u, char *name, size_t namelen)
{
	const char *p = db->passwd, *end;
	char line[USER_LINE_MAX], *f[PASSWD_FIELDS];
	uint32_t uid, gid;

	if (!db->passwd)
		return 0;
	end = db->passwd + db->passwd_len;
	while (next_line(&p, end, line, sizeof(line))) {
		size_t n = split_fields(line, f, PASSWD_FIELDS);

		if (n < 4 || !parse_id(f[2], &uid) || !parse_id(f[3], &gid))
			continue;
		if (numeric ? uid != want : strcmp(f[0], arg))
			continue;
		u->uid = uid;
		u->gid = gid;
		snprintf(u->home, sizeof(u->home), "%s", n > 5 && f[5][0] ? f[5] : "/");
		snprintf(name, namelen, "%s", f[0]);
		return 1;
	}
	return 0;
}

static bool is_member(const char *list, const char *name)
{
	size_t nl = strlen(name);

	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");

		if (n == nl && !strncmp(p, name, n))
			return true;
		p += n;
		if (*p == ',')
			p++;
	}
	return false;
}

static int add_group(struct image_user *u, uint32_t gid)
{
	uint32_t *g;

	if (u->ngroups >= IMAGE_MAX_GROUPS)
		return err_set(E2BIG, "the user is in more than %d groups", IMAGE_MAX_GROUPS);
	g = realloc(u->groups, (u->ngroups + 1) * sizeof(*g));
	if (!g)
		return err_set(ENOMEM, "out of memory");
	u->groups = g;
	u->groups[u->ngroups++] = gid;
	return 0;
}

/* The explicit group (first by gid or name), or with group NULL every group listing member. */
static int scan_groups(const struct user_db *db, const char *group, const char *member, struct image_user *u,
		       bool *found)
{
	const char *p = db->group, *end;
	char line[USER_LINE_MAX], *f[GROUP_FIELDS];
	uint32_t want = 0, gid;
	bool numeric = group && parse_id(group, &want);
	int ret;

	*found = false;
	if (!db->group)
		return 0;
	end = db->group + db->group_len;
	while (next_line(&p, end, line, sizeof(line))) {
		size_t n = split_fields(line, f, GROUP_FIELDS);

		if (n < 3 || !parse_id(f[2], &gid))
			continue;
		if (group) {
			if (numeric ? gid != want : strcmp(f[0], group))
				continue;
			u->gid = gid;
			*found = true;
			return 0;
		}
		if (n == 4 && is_member(f[3], member)) {
			ret = add_group(u, gid);
			if (ret)
				return ret;
		}
	}
	return 0;
}

int image_user_resolve(const char *spec, const struct user_db *db, struct image_user *u)
{
	char user[USER_LINE_MAX], name[USER_LINE_MAX] = "";
	const char *colon = strchr(spec, ':'), *group = colon ? colon + 1 : NULL;
	size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);
	uint32_t id = 0;
	bool numeric, found;
	int ret;

	memset(u, 0, sizeof(*u));
	snprintf(u->home, sizeof(u->home), "/");
	if (ulen >= sizeof(user))
		return err_set(EINVAL, "the image's User '%.64s...' is too long", spec);
	memcpy(user, spec, ulen);
	user[ulen] = '\0';
	if (group && !*group)
		group = NULL;
	numeric = !user[0] || parse_id(user, &id);
	if (!numeric && strspn(user, "0123456789") == strlen(user))
		return err_set(EINVAL, "the image's User '%s' is a uid past %lu", user, USER_MAX_ID);
	if (!find_passwd(db, user, numeric, id, u, name, sizeof(name))) {
		if (!numeric)
			return err_set(ENOENT, "the image's User '%s' is not in its /etc/passwd%s", user,
				       db->passwd ? "" : " (the image has none)");
		u->uid = id;
	}
	if (!group && !name[0])
		return 0;
	ret = scan_groups(db, group, name, u, &found);
	if (ret || !group || found)
		return ret;
	if (!parse_id(group, &id))
		return err_set(ENOENT,
			       "the image's User names the group '%.64s', which is not in its /etc/group%s",
			       group, db->group ? "" : " (the image has none)");
	u->gid = id;
	return 0;
}

void image_user_free(struct image_user *u)
{
	free(u->groups);
	u->groups = NULL;
	u->ngroups = 0;
}
