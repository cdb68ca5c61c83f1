// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the serde_json-compatible JSON reader and writer (src/common/sjson.c), which reads
 * build-enclave's --metadata files and the metadata sections of images from anywhere.  The input is one JSON
 * text, copied into an exactly-sized heap block so that AddressSanitizer sees any read past it.
 *
 * Checked on every accepted input: the compact and the pretty text both read back, and to the same value.
 * (Not that writing what was read gives the same text again: serde_json's reading of long numbers is not
 * exact, so neither is that round trip, in serde_json or here.)
 */
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sjson.h"

static char *reread(const char *text, size_t len)
{
	struct json_object *o;
	char *out;

	if (sjson_parse(text, len, &o)) {
		fprintf(stderr, "fuzz_sjson: our own output does not read back: %s\n", text);
		abort();
	}
	out = sjson_write(o, false, NULL);
	json_object_put(o);
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size ? size : 1), *compact, *pretty, *a, *b;
	struct json_object *o;
	size_t clen, plen;

	if (!text)
		abort();
	memcpy(text, data, size);
	if (sjson_parse(text, size, &o)) {
		free(text);
		return 0;
	}
	compact = sjson_write(o, false, &clen);
	pretty = sjson_write(o, true, &plen);
	a = reread(compact, clen);
	b = reread(pretty, plen);
	if (strcmp(a, b)) {
		fprintf(stderr, "fuzz_sjson: compact and pretty read back differently:\n%s\n%s\n", a, b);
		abort();
	}
	free(a);
	free(b);
	free(compact);
	free(pretty);
	json_object_put(o);
	free(text);
	return 0;
}
