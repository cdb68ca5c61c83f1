// SPDX-License-Identifier: MIT
/*
 * nitrovm sign-eif --eif-path X --signing-certificate C --private-key K
 *
 * Signs an EIF, or replaces its signature, like nitro-cli sign-eif.  nitro-cli edits the file in place; we
 * write the whole image anew beside it and rename it over the original, so an interrupted or failed run
 * leaves the old image untouched.  Sections come out in nitro-cli's order (kernel, cmdline, metadata,
 * ramdisks, signature), which keeps PCR0/1/2: they depend only on the kernel, cmdline and ramdisks, in order.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "common/util.h"
#include "eif/eif.h"
#include "eif/signature.h"

/* Limits on the input files: a certificate stored one CBOR item per byte must fit in the section. */
#define CERT_FILE_MAX EIF_SIGNATURE_MAX_SIZE
#define KEY_FILE_MAX  (64 * 1024)

static const char usage[] =
	"Usage: nitrovm sign-eif --eif-path X.eif --signing-certificate CERT.pem --private-key KEY.pem\n\n"
	"Sign an EIF with a PEM EC private key (P-256, P-384 or P-521) and its certificate, or replace the\n"
	"signature it has, as nitro-cli sign-eif does.  The signature covers PCR0; the certificate gives "
	"PCR8.\n"
	"The image is rewritten whole and renamed into place, so a failure leaves the original file as it "
	"was.\n"
	"Prints {\"Measurements\": {...}} including PCR8.\n\n"
	"Options:\n"
	"  --eif-path FILE              the image to sign (rewritten in place)\n"
	"  --signing-certificate FILE   PEM X.509 certificate of the signing key\n"
	"  --private-key FILE           PEM EC private key (unencrypted)\n"
	"  -h, --help                   this text\n";

struct sign_args {
	const char *eif, *cert, *key;
};

/* Returns 0 to go on, -1 after --help (exit 0), or an exit status. */
static int parse_args(int argc, char **argv, struct sign_args *a)
{
	static const struct option opts[] = {
		{"eif-path", required_argument, NULL, 'e'},
		{"signing-certificate", required_argument, NULL, 'c'},
		{"private-key", required_argument, NULL, 'k'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int c;

	if (cli_help_requested(argc, argv)) {
		fputs(usage, stdout);
		return -1;
	}
	while ((c = cli_getopt(argc, argv, opts)) != -1) {
		switch (c) {
		case 'e':
			a->eif = optarg;
			break;
		case 'c':
			a->cert = optarg;
			break;
		case 'k':
			a->key = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return -1;
		default:
			return cli_bad_option("sign-eif");
		}
	}
	if (optind < argc)
		return cli_fail(E_INVALID_ARGUMENT, "unexpected argument '%s' for sign-eif", argv[optind]);
	if (!a->eif || !a->cert || !a->key)
		return cli_fail(E_MISSING_ARGUMENT,
				"sign-eif needs --%s; run 'nitrovm sign-eif --help' for its options",
				!a->eif	   ? "eif-path FILE"
				: !a->cert ? "signing-certificate FILE"
					   : "private-key FILE");
	return 0;
}

/* The image as it will be written: its own sections, in nitro-cli's order, and the new signature. */
static int rebuild(const struct eif *e, const uint8_t *sig, size_t sig_len, struct eif_build *b)
{
	memset(b, 0, sizeof(*b));
	b->kernel = (struct eif_blob){e->kernel->data, e->kernel->size};
	b->cmdline = (struct eif_blob){e->cmdline->data, e->cmdline->size};
	if (e->metadata)
		b->metadata = (struct eif_blob){e->metadata->data, e->metadata->size};
	b->nramdisks = e->nramdisks;
	for (unsigned int i = 0; i < e->nramdisks; i++)
		b->ramdisks[i] = (struct eif_blob){e->ramdisks[i]->data, e->ramdisks[i]->size};
	b->signature = (struct eif_blob){sig, sig_len};
	b->flags = e->flags;
	/* The writer writes version 4, which requires metadata; older images have none to carry over. */
	if (!e->metadata)
		return err_set(EINVAL,
			       "the image is EIF version %u without a metadata section; nitrovm writes version 4, "
			       "which needs one (rebuild the image with nitrovm build-enclave)",
			       e->version);
	return 0;
}

/*
 * Create the replacement beside the image that --eif-path names: through a symbolic link, the link's target
 * is replaced and the link stays.  The new file gets the old one's mode and, where we may, its owner, so
 * signing does not change who can read or replace the image.  (Other hard links to the old file keep the old
 * image.)
 */
static int open_replacement(const char *path, struct atomic_file *out)
{
	char *target = realpath(path, NULL);
	struct stat st;
	int ret;

	if (!target)
		return err_set(errno, "cannot resolve %s: %s", path, strerror(errno));
	if (stat(target, &st)) {
		ret = err_set(errno, "cannot stat %s: %s", target, strerror(errno));
		free(target);
		return ret;
	}
	ret = atomic_file_open(out, target, st.st_mode & 07777);
	free(target);
	if (ret)
		return ret;
	/* Only root can give a file away; anyone else already owns what they create, so EPERM is harmless. */
	if (fchown(out->fd, st.st_uid, st.st_gid) && errno != EPERM) {
		ret = err_set(errno, "cannot set the owner of %s: %s", out->path, strerror(errno));
		atomic_file_abort(out);
		return ret;
	}
	/* Exactly the old mode: atomic_file_open applied the umask; chown may have cleared set-id bits. */
	fchmod(out->fd, st.st_mode & 07777);
	return 0;
}

int cmd_sign_eif(int argc, char **argv)
{
	struct sign_args a = {0};
	struct eif_measurements m, written;
	struct eif_file f;
	struct eif_build b;
	struct atomic_file out;
	uint8_t *cert = NULL, *key = NULL, *sig = NULL;
	uint8_t pcr8[SHA384_LEN];
	size_t cert_len = 0, key_len = 0, sig_len = 0;
	struct json_object *o;
	int ret;

	ret = parse_args(argc, argv, &a);
	if (ret)
		return ret < 0 ? 0 : ret;

	if (file_read_all(a.cert, &cert, &cert_len, CERT_FILE_MAX))
		return cli_fail_err(E_FILE_OPERATION);
	if (file_read_all(a.key, &key, &key_len, KEY_FILE_MAX)) {
		ret = cli_fail_err(E_FILE_OPERATION);
		goto out_files;
	}
	ret = eif_open(&f, a.eif);
	if (ret) {
		/* EINVAL: the file is there but is not an EIF; any other errno is an I/O failure. */
		ret = cli_fail_err(ret == -EINVAL ? E_EIF_PARSING : E_FILE_OPERATION);
		goto out_files;
	}
	if (eif_measure(&f.eif, &m)) {
		ret = cli_fail(E_EIF_PARSING, "%s: %s", a.eif, err_msg());
		goto out_eif;
	}
	/* Signing would give a damaged image a fresh, valid CRC and hide the damage: refuse instead. */
	if (m.crc != f.eif.crc_stored) {
		ret = cli_fail(E_EIF_PARSING,
			       "%s fails its CRC check (stored 0x%08x, computed 0x%08x); refusing to sign a "
			       "damaged image",
			       a.eif, f.eif.crc_stored, m.crc);
		goto out_eif;
	}
	if (eif_signature_create_pem(m.pcr0, cert, cert_len, key, key_len, &sig, &sig_len) ||
	    eif_pcr8_from_pem(cert, cert_len, pcr8)) {
		ret = cli_fail(E_EIF_SIGNING, "cannot sign %s with %s and %s: %s", a.eif, a.cert, a.key,
			       err_msg());
		goto out_eif;
	}
	if (rebuild(&f.eif, sig, sig_len, &b)) {
		ret = cli_fail(E_EIF_SIGNING, "cannot sign %s: %s", a.eif, err_msg());
		goto out_eif;
	}
	if (open_replacement(a.eif, &out)) {
		ret = cli_fail_err(E_FILE_OPERATION);
		goto out_eif;
	}
	/*
	 * nitro-cli's progress line, printed only now: every check that can refuse the inputs has passed, so
	 * a bad invocation gets exactly one line on stderr, its error.
	 */
	fprintf(stderr, "Start signing the Enclave Image...\n");
	if (eif_write_fd(&b, out.fd, a.eif, &written)) {
		atomic_file_abort(&out);
		ret = cli_fail_err(E_FILE_OPERATION);
		goto out_eif;
	}
	/* The signature covers m.pcr0; an image that measures differently would carry a wrong signature. */
	if (memcmp(written.pcr0, m.pcr0, SHA384_LEN)) {
		atomic_file_abort(&out);
		ret = cli_fail(E_EIF_SIGNING, "internal error: the rewritten %s measures to a different PCR0",
			       a.eif);
		goto out_eif;
	}
	if (atomic_file_commit(&out)) {
		ret = cli_fail_err(E_FILE_OPERATION);
		goto out_eif;
	}
	fprintf(stderr, "Enclave Image successfully signed.\n");
	o = json_object_new_object();
	json_object_object_add(o, "Measurements", cli_measurements_json(&written, pcr8));
	cli_print_json(o);
	json_object_put(o);
	ret = 0;
out_eif:
	eif_close(&f);
out_files:
	free(sig);
	if (key)
		explicit_bzero(key, key_len);
	free(key);
	free(cert);
	return ret;
}
