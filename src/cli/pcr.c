// SPDX-License-Identifier: MIT
/* nitrovm pcr --input F | --signing-certificate C */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "common/util.h"
#include "eif/signature.h"

static const char usage[] =
	"Usage: nitrovm pcr (--input FILE | --signing-certificate CERT.pem)\n\n"
	"Print the PCR value a file's bytes would measure to, SHA384(0^48 || SHA384(bytes)), as {\"PCR\": hex};\n"
	"or PCR8 of a signing certificate (measured over its DER encoding) as {\"PCR8\": hex}.\n";

int cmd_pcr(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "input", required_argument, NULL, 'i' },
		{ "signing-certificate", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *input = NULL, *cert = NULL;
	uint8_t pcr[SHA384_LEN];
	struct json_object *o;
	int c, ret;

	while ((c = cli_getopt(argc, argv, opts)) != -1) {
		switch (c) {
		case 'i': input = optarg; break;
		case 'c': cert = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: return cli_bad_option("pcr");
		}
	}
	if (optind < argc)
		return cli_fail(E_INVALID_ARGUMENT, "unexpected argument '%s' for pcr", argv[optind]);
	if (!input == !cert)
		return cli_fail(input ? E_CONFLICTING_ARGUMENT : E_MISSING_ARGUMENT,
				"pcr needs exactly one of --input FILE or --signing-certificate CERT");
	o = json_object_new_object();
	if (input) {
		struct file_map m;

		if (file_map_open(&m, input)) {
			json_object_put(o);
			return cli_fail_err(E_FILE_OPERATION);
		}
		pcr_measure(m.data, m.size, pcr);
		file_map_close(&m);
		json_object_object_add(o, "PCR", cli_hex_json(pcr, SHA384_LEN));
	} else {
		uint8_t *pem;
		size_t len;

		if (file_read_all(cert, &pem, &len, 1 << 20)) {
			json_object_put(o);
			return cli_fail_err(E_FILE_OPERATION);
		}
		ret = eif_pcr8_from_pem(pem, len, pcr);
		free(pem);
		if (ret) {
			json_object_put(o);
			return cli_fail(E_HASHER, "%s: %s", cert, err_msg());
		}
		json_object_object_add(o, "PCR8", cli_hex_json(pcr, SHA384_LEN));
	}
	cli_print_json(o);
	json_object_put(o);
	return 0;
}
