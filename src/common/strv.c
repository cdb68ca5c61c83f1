// SPDX-License-Identifier: MIT
#include "strv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "util.h"

int strv_push(struct strv *s, const char *str, size_t len)
{
	char *copy;

	char **v = grow_array(s->v, &s->cap, s->n + 2, sizeof(*v), 8);

	if (!v)
		return err_set(ENOMEM, "out of memory");
	s->v = v;
	copy = strndup(str, len);
	if (!copy)
		return err_set(ENOMEM, "out of memory");
	s->v[s->n++] = copy;
	s->v[s->n] = NULL;
	return 0;
}

void strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

char *strv_join_lines(const char *const *v, size_t n, size_t *len)
{
	size_t total = 0;
	char *buf, *p;

	for (size_t i = 0; i < n; i++)
		total += strlen(v[i]) + 1;
	buf = malloc(total + 1);
	if (!buf)
		return NULL;
	p = buf;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(v[i]);

		memcpy(p, v[i], l);
		p[l] = '\n';
		p += l + 1;
	}
	*p = '\0';
	*len = total;
	return buf;
}
