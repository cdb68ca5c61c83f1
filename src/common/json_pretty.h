/* SPDX-License-Identifier: MIT */
/*
 * JSON text in serde_json's pretty layout: two-space indent, "key": value, objects in their json-c order,
 * strings and numbers as serde_json writes them (sjson.h).  nitro-cli prints every JSON document this way (its
 * describe outputs and the replies an enclave process sends), and scripts compare the text.
 */
#ifndef NITROVM_COMMON_JSON_PRETTY_H
#define NITROVM_COMMON_JSON_PRETTY_H

#include "sjson.h"

/* o rendered as serde_json::to_string_pretty would, without a trailing newline; a heap string (aborts on OOM). */
static inline char *json_pretty(struct json_object *o)
{
	return sjson_write(o, true, NULL);
}

#endif
