// SPDX-License-Identifier: MIT
/*
 * nitrovm describe-eif --eif-path X   nitro-cli's JSON: version, measurements, signature, CRC, metadata
 * nitrovm validate-eif --eif-path X   everything a launch would check, failing on the first problem
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "common/util.h"
#include "eif/describe.h"
#include "eif/eif.h"
#include "eif/signature.h"

/* What both commands learn about an image. */
struct eif_report {
	struct eif_file f;
	struct eif_measurements m;
	bool signed_image;
	struct eif_signature_check sig;
	/* {"ImageName", "ImageVersion", "Metadata"} as nitro-cli shows them (eif/describe.h), or NULL for none */
	struct json_object *metadata;
	/* why describe-eif cannot show the custom metadata (E17; a launch does not mind), or "" */
	char metadata_unshowable[256];
};

static void report_free(struct eif_report *r)
{
	if (r->signed_image)
		eif_signature_check_free(&r->sig);
	json_object_put(r->metadata);
	eif_close(&r->f);
}

/* The section read and laid out as nitro-cli does (eif/describe.h). */
static int load_metadata(struct eif_report *r)
{
	int ret = eif_describe_metadata(&r->f.eif, &r->metadata);

	if (ret == -EDOM) {
		snprintf(r->metadata_unshowable, sizeof(r->metadata_unshowable), "%s", err_msg());
		return 0;
	}
	return ret;
}

/*
 * Open, measure and check an image; the returned value is the exit status to use on failure, 0 on success.
 * open_error is the number for a file that cannot be opened or read at all: nitro-cli's describe-eif reports
 * every failure of its EIF reader, opening the file included, as E35, while its run-enclave opens the image
 * itself and reports E19.
 */
static int report_load(struct eif_report *r, const char *path, enum cli_error open_error)
{
	int ret;

	memset(r, 0, sizeof(*r));
	ret = eif_open(&r->f, path);
	if (ret)
		return cli_fail_err(ret == -EINVAL ? E_EIF_PARSING : open_error);
	if (eif_measure(&r->f.eif, &r->m)) {
		report_free(r);
		return cli_fail_err(E_HASHER);
	}
	if (load_metadata(r)) {
		report_free(r);
		return cli_fail(E_EIF_PARSING, "%s: %s", path, err_msg());
	}
	if (r->f.eif.signature) {
		const struct eif_section *s = r->f.eif.signature;

		if (eif_signature_check(s->data, s->size, r->m.pcr0, &r->sig)) {
			report_free(r);
			return cli_fail(E_EIF_SIGNATURE_CHECK, "%s: %s", path, err_msg());
		}
		r->signed_image = true;
	}
	return 0;
}

static struct json_object *cert_json(const struct eif_cert_info *c)
{
	struct json_object *o = json_object_new_object(), *issuer = json_object_new_object();

	for (unsigned int i = 0; i < c->n_issuer; i++)
		json_object_object_add(issuer, c->issuer[i].key, json_object_new_string(c->issuer[i].value));
	json_object_object_add(o, "IssuerName", issuer);
	json_object_object_add(o, "Algorithm", json_object_new_string(c->algorithm));
	json_object_object_add(o, "NotBefore", json_object_new_string(c->not_before));
	json_object_object_add(o, "NotAfter", json_object_new_string(c->not_after));
	json_object_object_add(o, "Signature", json_object_new_string(c->signature_hex ? c->signature_hex : ""));
	return o;
}

static const char describe_usage[] =
	"Usage: nitrovm describe-eif --eif-path FILE\n\n"
	"Print an enclave image's version, measurements (PCR0, PCR1, PCR2 and, when signed, PCR8), signing\n"
	"certificate and signature check, CRC check and metadata as JSON, as nitro-cli describe-eif does.\n"
	"A CRC mismatch is reported as \"CheckCRC\": false; a structurally broken image, or a file that cannot be\n"
	"opened or read, is an error (E35, as nitro-cli reports it).\n";

static const char validate_usage[] =
	"Usage: nitrovm validate-eif --eif-path FILE\n\n"
	"Check an enclave image completely before launching it: structure, CRC, and, when signed, the COSE\n"
	"signature, the certificate's validity period and that the signed PCR0 is the image's. Prints a JSON summary\n"
	"and exits 0 when all pass; otherwise prints the first problem and exits non-zero (E35 image, E59 signature).\n";

static int parse_eif_path(int argc, char **argv, const char *cmd, const char *usage, const char **path)
{
	static const struct option opts[] = {
		{ "eif-path", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	*path = NULL;
	while ((c = cli_getopt(argc, argv, opts)) != -1) {
		switch (c) {
		case 'e': *path = optarg; break;
		case 'h': fputs(usage, stdout); return -1;
		default: return cli_bad_option(cmd);
		}
	}
	if (optind < argc)
		return cli_fail(E_INVALID_ARGUMENT, "unexpected argument '%s' for %s", argv[optind], cmd);
	if (!*path)
		return cli_fail(E_MISSING_ARGUMENT, "%s needs --eif-path FILE", cmd);
	return 0;
}

int cmd_describe_eif(int argc, char **argv)
{
	struct eif_report r;
	struct json_object *o;
	const char *path;
	int ret;

	ret = parse_eif_path(argc, argv, "describe-eif", describe_usage, &path);
	if (ret)
		return ret < 0 ? 0 : ret;
	ret = report_load(&r, path, E_EIF_PARSING);
	if (ret)
		return ret;
	o = json_object_new_object();
	json_object_object_add(o, "EifVersion", json_object_new_int(r.f.eif.version));
	json_object_object_add(o, "Measurements", cli_measurements_json(&r.m, r.signed_image ? r.sig.pcr8 : NULL));
	json_object_object_add(o, "IsSigned", json_object_new_boolean(r.signed_image));
	if (r.signed_image)
		json_object_object_add(o, "SigningCertificate", cert_json(&r.sig.cert));
	json_object_object_add(o, "CheckCRC", json_object_new_boolean(r.m.crc == r.f.eif.crc_stored));
	if (r.signed_image)
		json_object_object_add(o, "SignatureCheck",
				       json_object_new_boolean(r.sig.signature_valid && r.sig.payload_matches));
	if (r.metadata_unshowable[0]) {
		ret = cli_fail(E_SERDE, "%s: %s", path, r.metadata_unshowable);
		json_object_put(o);
		report_free(&r);
		return ret;
	}
	if (r.metadata) {
		json_object_object_foreach(r.metadata, key, val)
			json_object_object_add(o, key, json_object_get(val));
	}
	cli_print_json(o);
	json_object_put(o);
	if (r.m.crc != r.f.eif.crc_stored)
		fprintf(stderr, "warning: %s: stored CRC 0x%08x does not match the contents (0x%08x); the file is "
				"corrupt and will not launch\n",
			path, r.f.eif.crc_stored, r.m.crc);
	report_free(&r);
	return 0;
}

int cmd_validate_eif(int argc, char **argv)
{
	struct eif_report r;
	struct json_object *o;
	const char *path;
	int ret;

	ret = parse_eif_path(argc, argv, "validate-eif", validate_usage, &path);
	if (ret)
		return ret < 0 ? 0 : ret;
	ret = report_load(&r, path, E_FILE_OPERATION);
	if (ret)
		return ret;
	if (r.m.crc != r.f.eif.crc_stored) {
		ret = cli_fail(E_EIF_PARSING, "%s: the CRC stored in the header (0x%08x) does not match the contents "
					      "(0x%08x); the file is corrupt",
			       path, r.f.eif.crc_stored, r.m.crc);
		goto out;
	}
	if (r.signed_image && r.sig.problem[0]) {
		ret = cli_fail(E_EIF_SIGNATURE_CHECK, "%s: %s", path, r.sig.problem);
		goto out;
	}
	o = json_object_new_object();
	json_object_object_add(o, "EifVersion", json_object_new_int(r.f.eif.version));
	json_object_object_add(o, "Architecture",
			       json_object_new_string(r.f.eif.flags & EIF_FLAG_ARM64 ? "aarch64" : "x86_64"));
	json_object_object_add(o, "Sections", json_object_new_int((int)r.f.eif.nsections));
	json_object_object_add(o, "Measurements", cli_measurements_json(&r.m, r.signed_image ? r.sig.pcr8 : NULL));
	json_object_object_add(o, "CheckCRC", json_object_new_boolean(true));
	json_object_object_add(o, "IsSigned", json_object_new_boolean(r.signed_image));
	if (r.signed_image)
		json_object_object_add(o, "SignatureCheck", json_object_new_boolean(true));
	json_object_object_add(o, "Valid", json_object_new_boolean(true));
	cli_print_json(o);
	json_object_put(o);
out:
	report_free(&r);
	return ret;
}
