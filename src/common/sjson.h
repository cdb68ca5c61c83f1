/* SPDX-License-Identifier: MIT */
/*
 * JSON read and written as Rust's serde_json reads and writes it (1.0.135 with its default features, as
 * nitro-cli 1.5 is built), over json-c objects.
 *
 * nitro-cli passes build-enclave's custom metadata through serde_json::Value and writes the EIF's metadata
 * section with serde_json::to_vec; describe-eif reads the section back the same way and prints it with
 * to_string_pretty.  For our images and our describe-eif output to be nitro-cli's byte for byte, we parse and
 * print what serde_json does, which json-c's own tokener and printer do not:
 *
 * - objects: keys in bytewise order at every depth (serde_json's map is a BTreeMap), the last of duplicate
 *   keys kept;
 * - numbers: an integer that fits u64 (or, when negative, i64) stays an integer; any other number is an f64,
 *   computed as serde_json computes it without its float_roundtrip feature (the significand's nearest double
 *   multiplied or divided by a power of ten, not always the double nearest to the text), and printed in the
 *   shortest form that reads back to the same double, laid out as Rust's ryu crate does: 1.0, 1000.0,
 *   1e16, 1.5e-7, -0.0;
 * - strings: UTF-8 only, \u escapes with paired surrogates, no raw control characters; written with only ",
 *   \ and control characters escaped (\b \f \n \r \t, else \u00xx);
 * - nesting: at most 127 levels (serde_json's recursion limit);
 * - nothing but whitespace (space, tab, CR, LF) around the value.
 *
 * JSON null is a NULL json_object, as elsewhere with json-c.
 */
#ifndef NITROVM_COMMON_SJSON_H
#define NITROVM_COMMON_SJSON_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;

/* serde_json's recursion limit: a container nested 128 deep is refused. */
#define SJSON_RECURSION_LIMIT 128
/* Room for any double as sjson_format_f64 writes it, with its NUL. */
#define SJSON_F64_MAX 32

/*
 * Parse len bytes of text as serde_json::from_slice::<Value>() does.  0 with *out set (NULL for null), or
 * -EINVAL with err_msg() saying what is wrong and at which byte.  One thing serde_json accepts is refused: a
 * key holding U+0000, which a json-c object cannot keep.
 */
int sjson_parse(const char *text, size_t len, struct json_object **out);

/*
 * o as serde_json::to_vec() (compact) or to_string_pretty() (two-space indent) writes it, in a NUL-terminated
 * heap string of *len bytes (len may be NULL).  Objects are written in their json-c order, duplicates
 * included.  Aborts on out of memory.
 */
char *sjson_write(struct json_object *o, bool pretty, size_t *len);

/* A finite double as serde_json prints it (ryu): shortest round-trip digits; out holds SJSON_F64_MAX. */
void sjson_format_f64(double d, char *out);

#endif
