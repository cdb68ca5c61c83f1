// SPDX-License-Identifier: MIT
/*
 * nitrovm ca: the local CA that signs attestation documents (src/nsm/ca.c).
 *
 *   nitrovm ca export [--state-dir D]   the root certificate as PEM on stdout, for verifiers to pin
 *   nitrovm ca path   [--state-dir D]   the directory holding the CA
 *   nitrovm ca info   [--state-dir D]   root and intermediate as JSON: subject, validity, SHA-256 of the DER
 *
 * Each creates the CA on first use, as the first enclave would, so a root can be pinned before any enclave runs.
 */
#include <errno.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "common/util.h"
#include "nsm/nsm.h"

#define SHA256_LEN 32

static const struct option ca_opts[] = {
	{ "state-dir", required_argument, NULL, 's' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void ca_usage(void)
{
	printf("Usage: nitrovm ca export|path|info [--state-dir DIR]\n\n"
	       "The local certificate authority that signs attestation documents of emulated enclaves:\n"
	       "root -> intermediate -> one leaf per enclave, all P-384.  It is created on first use in\n"
	       "DIR/ca, where DIR is --state-dir, else $NITROVM_STATE_DIR, else $XDG_STATE_HOME/nitrovm,\n"
	       "else /var/lib/nitrovm for root, else ~/.local/state/nitrovm when $HOME is writable, else a\n"
	       "runtime directory ($XDG_RUNTIME_DIR/nitrovm/state); `nitrovm ca path` says which.\n\n"
	       "  export   print the root certificate (PEM): pin it in verifiers\n"
	       "           (nitrovm verify-attestation --root ROOT.pem)\n"
	       "  path     print the CA directory\n"
	       "  info     print the root and intermediate certificates' subjects, validity and SHA-256\n"
	       "           fingerprints as JSON\n");
}

static int cert_name(X509 *x, bool issuer, char *out, size_t len)
{
	X509_NAME *n = issuer ? X509_get_issuer_name(x) : X509_get_subject_name(x);
	BIO *bio = BIO_new(BIO_s_mem());
	char *p;
	long l;

	if (!bio)
		return -ENOMEM;
	X509_NAME_print_ex(bio, n, 0, XN_FLAG_RFC2253);
	l = BIO_get_mem_data(bio, &p);
	snprintf(out, len, "%.*s", (int)MAX(l, 0L), p ? p : "");
	BIO_free(bio);
	return 0;
}

static struct json_object *cert_json(X509 *x)
{
	struct json_object *o = json_object_new_object();
	unsigned char md[SHA256_LEN];
	unsigned int mdlen = sizeof(md);
	char buf[512], hex[2 * SHA256_LEN + 1];

	cert_name(x, false, buf, sizeof(buf));
	json_object_object_add(o, "Subject", json_object_new_string(buf));
	cert_name(x, true, buf, sizeof(buf));
	json_object_object_add(o, "Issuer", json_object_new_string(buf));
	cert_not_before_text(x, buf, sizeof(buf));
	json_object_object_add(o, "NotBefore", json_object_new_string(buf));
	cert_not_after_text(x, buf, sizeof(buf));
	json_object_object_add(o, "NotAfter", json_object_new_string(buf));
	if (X509_digest(x, EVP_sha256(), md, &mdlen)) {
		hex_encode(md, mdlen, hex);
		json_object_object_add(o, "SHA256", json_object_new_string(hex));
	}
	return o;
}

int cmd_ca(int argc, char **argv)
{
	const char *sub, *override = NULL;
	char dir[PATH_MAX];
	struct nsm_ca *ca;
	int c, ret;

	if (cli_help_requested(argc, argv) || argc < 2) {
		ca_usage();
		return argc < 2 ? E_MISSING_ARGUMENT : 0;
	}
	sub = argv[1];
	optind = 2;
	while ((c = cli_getopt(argc, argv, ca_opts)) != -1) {
		if (c != 's')
			return cli_bad_option("ca");
		override = optarg;
	}
	if (optind < argc)
		return cli_fail(E_INVALID_ARGUMENT, "unexpected argument '%s' for ca %s", argv[optind], sub);
	if (strcmp(sub, "export") && strcmp(sub, "path") && strcmp(sub, "info"))
		return cli_fail(E_INVALID_ARGUMENT, "unknown ca command '%s' (export, path or info)", sub);
	if (nsm_state_dir(override, dir, sizeof(dir)) < 0)
		return cli_fail_err(E_FILE_OPERATION);
	if (nsm_ca_open(dir, time(NULL), &ca) < 0)
		return cli_fail_err(E_FILE_OPERATION);
	ret = 0;
	if (!strcmp(sub, "path")) {
		printf("%s\n", nsm_ca_dir(ca));
	} else if (!strcmp(sub, "export")) {
		char *pem;

		if (nsm_ca_root_pem(ca, &pem) < 0) {
			ret = cli_fail_err(E_UNSPECIFIED);
		} else {
			fputs(pem, stdout);
			free(pem);
		}
	} else {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "Directory", json_object_new_string(nsm_ca_dir(ca)));
		json_object_object_add(o, "Root", cert_json(nsm_ca_root(ca)));
		json_object_object_add(o, "Intermediate", cert_json(nsm_ca_intermediate(ca)));
		cli_print_json(o);
		json_object_put(o);
	}
	nsm_ca_free(ca);
	return ret;
}
