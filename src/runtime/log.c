// SPDX-License-Identifier: MIT
/*
 * Errors as runc reports them: the sentence alone on stderr, and a line in the --log file, logrus's text form
 * (time="..." level=error msg="...") or JSON ({"level":"error","msg":"...","time":"..."}).  containerd reads the
 * last line of its log.json to say why a runtime command failed; podman shows stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime.h"

/* One log line: a sentence and its envelope. */
#define RT_LOG_LINE_MAX 4096

static const struct rt_globals *globals;

void rt_log_setup(const struct rt_globals *g)
{
	globals = g;
}

void rt_now_rfc3339(char *out, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char base[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, len, "%s.%09ldZ", base, ts.tv_nsec);
}

static void log_line(const char *level, const char *msg)
{
	struct json_object *o;
	char when[64], line[RT_LOG_LINE_MAX];
	int fd;

	if (!globals || !globals->log_path)
		return;
	fd = open(globals->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
	if (fd < 0)
		return;
	rt_now_rfc3339(when, sizeof(when));
	if (!strcmp(globals->log_format, "json")) {
		o = json_object_new_object();
		json_object_object_add(o, "level", json_object_new_string(level));
		json_object_object_add(o, "msg", json_object_new_string(msg));
		json_object_object_add(o, "time", json_object_new_string(when));
		snprintf(line, sizeof(line), "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else {
		o = json_object_new_string(msg); /* logrus quotes the message as a Go string: JSON's escapes fit */
		snprintf(line, sizeof(line), "time=\"%s\" level=%s msg=%s\n", when, level,
			 json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	}
	if (write(fd, line, strlen(line)) < 0) {
		/* nowhere left to say it */
	}
	close(fd);
}

int rt_fail(const char *fmt, ...)
{
	char msg[RT_LOG_LINE_MAX / 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", msg);
	log_line("error", msg);
	return RT_EXIT_ERROR;
}

int rt_fail_err(void)
{
	return rt_fail("%s", err_msg());
}

void rt_debug(const char *fmt, ...)
{
	char msg[RT_LOG_LINE_MAX / 2];
	va_list ap;

	if (!globals || !globals->debug)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_line("debug", msg);
}
