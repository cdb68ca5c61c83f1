// SPDX-License-Identifier: MIT
/*
 * Pure helpers of the enclave init (see init_lib.h).  Everything here works on buffers the caller owns, so it
 * can be tested on the host and linked into the static init alike.
 */
#include "init_lib.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static const uint8_t elf_magic[] = {0x7f, 'E', 'L', 'F'};
static const uint8_t xz_magic[] = {0xfd, '7', 'z', 'X', 'Z', 0x00};
static const uint8_t zstd_magic[] = {0x28, 0xb5, 0x2f, 0xfd};
static const uint8_t gzip_magic[] = {0x1f, 0x8b};

/* Count the lines of buf: one per '\n', plus one for a last line that lacks it. */
static size_t count_lines(const char *buf, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\n')
			n++;
	if (len && buf[len - 1] != '\n')
		n++;
	return n;
}

/*
 * Cut buf into NUL-terminated lines and hand each to keep(); the ones it accepts (returns 1) go into a new
 * NULL-terminated array.  keep() returns 0 to skip a line or a negative errno to fail on it.
 */
static int split(char *buf, size_t len, int (*keep)(char **line), char ***out, size_t *count,
		 size_t *bad_line)
{
	size_t n = 0, line_no = 0;
	char **v;

	*out = NULL;
	*count = 0;
	*bad_line = 0;
	if (memchr(buf, '\0', len)) {
		*bad_line = count_lines(buf, (size_t)((char *)memchr(buf, '\0', len) - buf) + 1);
		return -EILSEQ;
	}
	v = calloc(count_lines(buf, len) + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t start = 0; start < len;) {
		char *nl = memchr(buf + start, '\n', len - start);
		size_t end = nl ? (size_t)(nl - buf) : len;
		char *line = buf + start;
		int ret;

		/* A last line without '\n' ends at buf[len], which the caller must have room for. */
		buf[end] = '\0';
		line_no++;
		ret = keep(&line);
		if (ret < 0) {
			free(v);
			*bad_line = line_no;
			return ret;
		}
		if (ret)
			v[n++] = line;
		start = end + 1;
	}
	v[n] = NULL;
	*out = v;
	*count = n;
	return 0;
}

static int keep_cmd(char **line)
{
	(void)line;
	return 1;
}

static int keep_env(char **line)
{
	const char *eq = strchr(*line, '=');

	if (!**line)
		return 0;
	if (!eq || eq == *line)
		return -EINVAL;
	return 1;
}

int init_split_lines(char *buf, size_t len, enum init_lines_kind kind, char ***out, size_t *count,
		     size_t *bad_line)
{
	return split(buf, len, kind == INIT_LINES_ENV ? keep_env : keep_cmd, out, count, bad_line);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static int keep_module(char **line)
{
	char *s = *line, *e = s + strlen(s);

	while (is_blank(*s))
		s++;
	while (e > s && is_blank(e[-1]))
		*--e = '\0';
	if (!*s || *s == '#')
		return 0;
	if (*s == '/')
		return -EINVAL;
	/* Reject ".." as a whole component only: "a..b.ko" is a fine name. */
	for (const char *p = s; p; p = strchr(p, '/')) {
		if (*p == '/')
			p++;
		if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == '\0'))
			return -EINVAL;
	}
	*line = s;
	return 1;
}

int init_parse_module_order(char *buf, size_t len, char ***out, size_t *count, size_t *bad_line)
{
	return split(buf, len, keep_module, out, count, bad_line);
}

/*
 * The kernel splits its command line at blanks outside double quotes (lib/cmdline.c next_arg), and a quote
 * may open anywhere in a parameter.  Walk it the same way so "key=a b" inside quotes is one parameter.
 */
bool init_cmdline_value(const char *cmdline, const char *key, char *val, size_t val_len)
{
	size_t key_len = strlen(key);
	const char *p = cmdline;
	bool found = false;

	while (*p) {
		bool quoted = false;
		size_t n = 0;
		char tmp[256];
		bool fits = true;

		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (!*p)
			break;
		for (; *p && (quoted || (*p != ' ' && *p != '\t' && *p != '\n')); p++) {
			if (*p == '"') {
				quoted = !quoted;
				continue;
			}
			if (n + 1 < sizeof(tmp))
				tmp[n++] = *p;
			else
				fits = false;
		}
		tmp[n] = '\0';
		if (!fits || strncmp(tmp, key, key_len))
			continue;
		if (tmp[key_len] == '\0') {
			if (val_len)
				val[0] = '\0';
			found = val_len > 0;
		} else if (tmp[key_len] == '=') {
			found = strlen(tmp + key_len + 1) < val_len;
			if (found)
				strcpy(val, tmp + key_len + 1);
		}
	}
	return found;
}

bool init_heartbeat_enabled(const char *cmdline)
{
	static const char *const off[] = {"0", "off", "no", "false", "n"};
	char val[16];

	if (!init_cmdline_value(cmdline, "nitrovm.heartbeat", val, sizeof(val)))
		return true;
	for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++)
		if (!strcmp(val, off[i]))
			return false;
	return true;
}

static bool has_magic(const uint8_t *head, size_t len, const uint8_t *magic, size_t magic_len)
{
	return len >= magic_len && !memcmp(head, magic, magic_len);
}

enum init_module_format init_module_format(const uint8_t *head, size_t len)
{
	if (has_magic(head, len, elf_magic, sizeof(elf_magic)))
		return INIT_MODULE_ELF;
	if (has_magic(head, len, xz_magic, sizeof(xz_magic)))
		return INIT_MODULE_XZ;
	if (has_magic(head, len, zstd_magic, sizeof(zstd_magic)))
		return INIT_MODULE_ZSTD;
	if (has_magic(head, len, gzip_magic, sizeof(gzip_magic)))
		return INIT_MODULE_GZIP;
	return INIT_MODULE_UNKNOWN;
}

const char *init_module_format_name(enum init_module_format f)
{
	switch (f) {
	case INIT_MODULE_ELF:
		return "ELF";
	case INIT_MODULE_XZ:
		return "xz";
	case INIT_MODULE_ZSTD:
		return "zstd";
	case INIT_MODULE_GZIP:
		return "gzip";
	default:
		return "unknown";
	}
}

bool init_env_has_path(char *const *env)
{
	for (; *env; env++)
		if (!strncmp(*env, "PATH=", 5))
			return true;
	return false;
}

void init_describe_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status)) {
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		const char *name = sigabbrev_np(WTERMSIG(status));

		snprintf(buf, len, "killed by signal %d (SIG%s)%s", WTERMSIG(status), name ? name : "?",
			 WCOREDUMP(status) ? ", core dumped" : "");
	} else {
		snprintf(buf, len, "ended with wait status 0x%x", (unsigned int)status);
	}
}

int init_parse_cwd(char *buf, size_t len, const char **out)
{
	if (len && buf[len - 1] == '\n')
		len--;
	buf[len] = '\0';
	if (!len || buf[0] != '/' || memchr(buf, '\n', len) || strlen(buf) != len)
		return -EINVAL;
	*out = buf;
	return 0;
}

/* One decimal number below 2^32 at *p, advancing past it; false when there is none. */
static bool parse_u32(const char **p, const char *end, uint32_t *out)
{
	uint64_t v = 0;
	const char *s = *p;

	if (s == end || *s < '0' || *s > '9')
		return false;
	while (s < end && *s >= '0' && *s <= '9') {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return false;
		s++;
	}
	*p = s;
	*out = (uint32_t)v;
	return true;
}

int init_parse_user(const char *buf, size_t len, struct init_user *u)
{
	const char *p = buf, *end = buf + len;
	uint32_t id, *g;

	memset(u, 0, sizeof(*u));
	if (len && buf[len - 1] == '\n')
		end--;
	if (!parse_u32(&p, end, &u->uid) || p == end || *p != ' ')
		return -EINVAL;
	p++;
	if (!parse_u32(&p, end, &u->gid))
		goto bad;
	while (p < end) {
		if (*p++ != ' ' || !parse_u32(&p, end, &id) || u->ngroups >= INIT_MAX_GROUPS)
			goto bad;
		g = realloc(u->groups, (u->ngroups + 1) * sizeof(*g));
		if (!g) {
			free(u->groups);
			u->groups = NULL;
			return -ENOMEM;
		}
		u->groups = g;
		u->groups[u->ngroups++] = id;
	}
	return 0;
bad:
	free(u->groups);
	u->groups = NULL;
	u->ngroups = 0;
	return -EINVAL;
}
