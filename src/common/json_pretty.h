/* SPDX-License-Identifier: MIT */
/* JSON text in serde_json's pretty layout (json_pretty.c says why it matters). */
#ifndef NITROVM_COMMON_JSON_PRETTY_H
#define NITROVM_COMMON_JSON_PRETTY_H

struct json_object;

/* o rendered as serde_json::to_string_pretty would, without a trailing newline; a heap string (aborts on OOM). */
char *json_pretty(struct json_object *o);

#endif
