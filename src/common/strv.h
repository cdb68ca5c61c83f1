/* SPDX-License-Identifier: MIT */
/* A growable, NULL-terminated array of heap strings: argv and envp lists, as commands and images carry them.
 */
#ifndef NITROVM_COMMON_STRV_H
#define NITROVM_COMMON_STRV_H

#include <stddef.h>

struct strv {
	char **v;
	size_t n, cap;
};

/* Append a copy of str[0..len); returns 0 or -ENOMEM with err_msg() set. */
int strv_push(struct strv *s, const char *str, size_t len);
void strv_free(struct strv *s);
/* The strings, each followed by '\n', in one heap buffer (NUL-terminated; *len excludes the NUL). */
char *strv_join_lines(const char *const *v, size_t n, size_t *len);

#endif
