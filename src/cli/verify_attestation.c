// SPDX-License-Identifier: MIT
/*
 * nitrovm verify-attestation --document F [--root R.pem | --state-dir D] [--nonce HEX] [--pcr N=HEX ...]
 *                            [--user-data HEX] [--public-key HEX] [--at TIME]
 *
 * Verifies an NSM attestation document, ours or one made by Nitro hardware (src/nsm/verify.c does the work),
 * and prints its payload as JSON.  Without --root the root pinned is the local CA's (<state dir>/ca/root.pem,
 * the certificate `nitrovm ca export` prints), read as a file: verifying never creates a CA.  Byte fields a
 * person compares (PCRs, nonce, user data, public key) are lowercase hex; the certificates are base64 of
 * their DER, so `base64 -d` or a PEM wrapper gives them back.
 *
 * Exit status: 0 when the document verifies; E70 (nitrovm's own number, above nitro-cli's E00..E60) when it
 * does not, whatever the reason (malformed, untrusted, or not what was expected); E19 when a file cannot be
 * read; E01/E03 for missing or bad options.
 */
#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "common/util.h"
#include "crypto/crypto.h"
#include "nsm/nsm.h"
#include "nsm/verify.h"

/* A root certificate file: PEM of one certificate is about 1 KiB; allow a bundle's worth. */
#define ROOT_FILE_MAX (1024 * 1024)

static const char usage[] =
	"Usage: nitrovm verify-attestation --document FILE [--root ROOT.pem] [--nonce HEX]\n"
	"           [--pcr N=HEX]... [--user-data HEX] [--public-key HEX] [--at TIME]\n\n"
	"Verify an NSM attestation document (COSE_Sign1, ES384) as AWS's procedure does: the payload's\n"
	"fields and limits, the certificate chain [certificate, cabundle[N]..cabundle[1], root] against\n"
	"the pinned root (which cabundle[0] must be), validity at TIME, basic constraints, path lengths\n"
	"and key usages, the COSE signature with the leaf's key, and the values you expect.  Works for\n"
	"nitrovm's documents (pin the root `nitrovm ca export` prints) and for documents from Nitro\n"
	"hardware (pin AWS's Nitro Enclaves root).\n\n"
	"Prints the payload as JSON: module_id, digest, timestamp (ms), pcrs {\"N\": hex}, certificate\n"
	"and cabundle as base64 DER, public_key, user_data and nonce as hex or null.  On failure prints\n"
	"one line, `[ E70 ] <what failed>`, and exits 70.\n\n"
	"Options:\n"
	"  --document FILE     the raw document (CBOR bytes, as the NSM returns it)\n"
	"  --root FILE         the root certificate to pin, PEM or DER (default: the local CA's root,\n"
	"                      DIR/ca/root.pem, which `nitrovm ca export` prints)\n"
	"  --state-dir DIR     the state directory of the local CA (default: $NITROVM_STATE_DIR, else\n"
	"                      $XDG_STATE_HOME/nitrovm, else /var/lib/nitrovm for root, else\n"
	"                      ~/.local/state/nitrovm; `nitrovm ca path` says which)\n"
	"  --nonce HEX         the nonce the document must carry\n"
	"  --pcr N=HEX         PCR N (0..31) must have this value; repeat for more PCRs\n"
	"  --user-data HEX     the user_data the document must carry\n"
	"  --public-key HEX    the public_key the document must carry\n"
	"  --at TIME           check the certificates at TIME: RFC 3339 (2024-05-01T12:00:00Z),\n"
	"                      seconds since the epoch, or \"document\" for the document's own\n"
	"                      timestamp (default: now)\n"
	"  -h, --help          this text\n";

enum {
	OPT_DOCUMENT = 'd',
	OPT_ROOT = 'r',
	OPT_NONCE = 'n',
	OPT_PCR = 'p',
	OPT_USER_DATA = 'u',
	OPT_PUBLIC_KEY = 'k',
	OPT_AT = 'a',
	OPT_STATE_DIR = 's'
};

struct verify_args {
	const char *document, *root, *at, *state_dir;
	char root_path[PATH_MAX];
	struct att_expect expect;
	/* Decoded option values, owned here (expect points into them). */
	uint8_t *bufs[3 + ATT_MAX_PCRS];
	unsigned int nbufs;
};

static void args_free(struct verify_args *a)
{
	for (unsigned int i = 0; i < a->nbufs; i++)
		free(a->bufs[i]);
}

/* Hex of any even length (an empty string is zero bytes), at most max bytes, into a heap buffer. */
static int parse_hex(struct verify_args *a, const char *opt, const char *s, size_t max, const uint8_t **out,
		     size_t *len)
{
	size_t n = strlen(s);
	uint8_t *b;

	if (n % 2)
		return cli_fail(E_INVALID_ARGUMENT, "--%s needs an even number of hex digits, not %zu", opt,
				n);
	if (n / 2 > max)
		return cli_fail(E_INVALID_ARGUMENT,
				"--%s is %zu bytes; the document's field holds at most %zu", opt, n / 2, max);
	b = malloc(n / 2 + 1);
	if (!b)
		return cli_fail(E_UNSPECIFIED, "out of memory");
	if (hex_decode(s, b, n / 2)) {
		free(b);
		return cli_fail(E_INVALID_ARGUMENT, "--%s is not hex: '%s'", opt, s);
	}
	a->bufs[a->nbufs++] = b;
	*out = b;
	*len = n / 2;
	return 0;
}

static int parse_pcr(struct verify_args *a, const char *s)
{
	const char *eq = strchr(s, '=');
	struct att_expect *e = &a->expect;
	unsigned long idx;
	char *end;

	if (!eq || eq == s || !isdigit((unsigned char)*s))
		return cli_fail(E_INVALID_ARGUMENT, "--pcr takes N=HEX (e.g. --pcr 0=6be4...), not '%s'", s);
	errno = 0;
	idx = strtoul(s, &end, 10);
	if (errno || end != eq || idx >= ATT_MAX_PCRS)
		return cli_fail(E_INVALID_ARGUMENT, "--pcr %s: the index must be 0 to %d", s,
				ATT_MAX_PCRS - 1);
	for (unsigned int i = 0; i < e->npcrs; i++)
		if (e->pcrs[i].index == idx)
			return cli_fail(E_CONFLICTING_ARGUMENT, "--pcr %lu is given twice", idx);
	if (strlen(eq + 1) != 64 && strlen(eq + 1) != 96 && strlen(eq + 1) != 128)
		return cli_fail(
			E_INVALID_ARGUMENT,
			"--pcr %lu: the value must be 32, 48 or 64 bytes of hex (64, 96 or 128 digits)", idx);
	e->pcrs[e->npcrs].index = (unsigned int)idx;
	if (parse_hex(a, "pcr", eq + 1, ATT_FIELD_MAX, &e->pcrs[e->npcrs].value, &e->pcrs[e->npcrs].len))
		return E_INVALID_ARGUMENT;
	e->npcrs++;
	return 0;
}

/* RFC 3339 (fractions ignored, Z or an offset), or seconds since the epoch, or "document" (0). */
static int parse_time(const char *s, time_t *out)
{
	struct tm tm = {0};
	const char *p;
	long off = 0;
	uint64_t secs;

	if (!strcmp(s, "document")) {
		*out = 0;
		return 0;
	}
	if (!cli_parse_u64(s, &secs) && strspn(s, "0123456789") == strlen(s)) {
		if (!secs || secs > (uint64_t)INT64_MAX)
			return -EINVAL;
		*out = (time_t)secs;
		return 0;
	}
	p = strptime(s, "%Y-%m-%d", &tm);
	if (!p || (*p != 'T' && *p != 't' && *p != ' '))
		return -EINVAL;
	p = strptime(p + 1, "%H:%M:%S", &tm);
	if (!p)
		return -EINVAL;
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p);)
			p++;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) && isdigit((unsigned char)p[2]) &&
		   p[3] == ':' && isdigit((unsigned char)p[4]) && isdigit((unsigned char)p[5])) {
		off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600L + ((p[4] - '0') * 10 + (p[5] - '0')) * 60L;
		if (*p == '-')
			off = -off;
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	*out = timegm(&tm) - off;
	return *out > 0 ? 0 : -EINVAL;
}

/* Returns 0 to go on, -1 after --help (exit 0), or an exit status. */
static int parse_args(int argc, char **argv, struct verify_args *a)
{
	static const struct option opts[] = {
		{"document", required_argument, NULL, OPT_DOCUMENT},
		{"root", required_argument, NULL, OPT_ROOT},
		{"nonce", required_argument, NULL, OPT_NONCE},
		{"pcr", required_argument, NULL, OPT_PCR},
		{"user-data", required_argument, NULL, OPT_USER_DATA},
		{"public-key", required_argument, NULL, OPT_PUBLIC_KEY},
		{"at", required_argument, NULL, OPT_AT},
		{"state-dir", required_argument, NULL, OPT_STATE_DIR},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct att_expect *e = &a->expect;
	int c, ret = 0;

	if (cli_help_requested(argc, argv)) {
		fputs(usage, stdout);
		return -1;
	}
	while (!ret && (c = cli_getopt(argc, argv, opts)) != -1) {
		switch (c) {
		case OPT_DOCUMENT:
			a->document = optarg;
			break;
		case OPT_ROOT:
			a->root = optarg;
			break;
		case OPT_AT:
			a->at = optarg;
			break;
		case OPT_STATE_DIR:
			a->state_dir = optarg;
			break;
		case OPT_PCR:
			if (e->npcrs == ATT_MAX_PCRS)
				return cli_fail(E_INVALID_ARGUMENT, "more than %d --pcr options",
						ATT_MAX_PCRS);
			ret = parse_pcr(a, optarg);
			break;
		case OPT_NONCE:
			ret = e->nonce ? cli_fail(E_CONFLICTING_ARGUMENT, "--nonce is given twice")
				       : parse_hex(a, "nonce", optarg, ATT_FIELD_MAX, &e->nonce,
						   &e->nonce_len);
			break;
		case OPT_USER_DATA:
			ret = e->user_data ? cli_fail(E_CONFLICTING_ARGUMENT, "--user-data is given twice")
					   : parse_hex(a, "user-data", optarg, ATT_FIELD_MAX, &e->user_data,
						       &e->user_data_len);
			break;
		case OPT_PUBLIC_KEY:
			ret = e->public_key ? cli_fail(E_CONFLICTING_ARGUMENT, "--public-key is given twice")
					    : parse_hex(a, "public-key", optarg, ATT_FIELD_MAX,
							&e->public_key, &e->public_key_len);
			break;
		case 'h':
			fputs(usage, stdout);
			return -1;
		default:
			return cli_bad_option("verify-attestation");
		}
	}
	if (ret)
		return ret;
	if (optind < argc)
		return cli_fail(E_INVALID_ARGUMENT, "unexpected argument '%s' for verify-attestation",
				argv[optind]);
	if (!a->document)
		return cli_fail(E_MISSING_ARGUMENT, "verify-attestation needs --document FILE; run 'nitrovm "
						    "verify-attestation --help' for "
						    "its options");
	if (a->root && a->state_dir)
		return cli_fail(E_CONFLICTING_ARGUMENT,
				"--root and --state-dir both name the root to pin; give one");
	return 0;
}

/* The local CA's root, as a file: a verifier must not create the CA it is asked to trust. */
static int local_root(struct verify_args *a)
{
	char dir[PATH_MAX];

	if (nsm_state_dir(a->state_dir, dir, sizeof(dir)))
		return cli_fail(E_MISSING_ARGUMENT, "no --root given and %s", err_msg());
	if ((size_t)snprintf(a->root_path, sizeof(a->root_path), "%s/%s/%s", dir, NSM_CA_SUBDIR,
			     NSM_CA_ROOT_CERT) >= sizeof(a->root_path))
		return cli_fail(E_INVALID_ARGUMENT, "the state directory path is too long");
	if (access(a->root_path, F_OK))
		return cli_fail(
			E_FILE_OPERATION,
			"no --root given and the local CA has no root at %s yet (`nitrovm ca export` creates "
			"it); give --root to pin another root, e.g. AWS's for documents from Nitro hardware",
			a->root_path);
	a->root = a->root_path;
	return 0;
}

static struct json_object *base64_json(const struct att_bytes *b)
{
	size_t cap = 4 * ((b->len + 2) / 3) + 1;
	char *s = malloc(cap);
	struct json_object *o;

	if (!s)
		abort();
	EVP_EncodeBlock((unsigned char *)s, b->data, (int)b->len);
	o = json_object_new_string(s);
	free(s);
	return o;
}

static struct json_object *hex_or_null(const struct att_bytes *b)
{
	return b->present ? cli_hex_json(b->data, b->len) : NULL;
}

/* The payload in the document's field order (the order AWS's NSM writes: module_id, digest, timestamp, pcrs, certificate, cabundle, public_key, user_data, nonce). */
static struct json_object *payload_json(const struct att_doc *d)
{
	struct json_object *o = json_object_new_object(), *pcrs = json_object_new_object();
	struct json_object *cab = json_object_new_array();
	char key[16];

	json_object_object_add(o, "module_id",
			       json_object_new_string_len(d->module_id, (int)d->module_id_len));
	json_object_object_add(o, "digest", json_object_new_string_len(d->digest, (int)d->digest_len));
	json_object_object_add(o, "timestamp", json_object_new_uint64(d->timestamp));
	/* By index, whatever order the document lists them in, so that output is comparable. */
	for (unsigned int i = 0; i < ATT_MAX_PCRS; i++) {
		const struct att_pcr *p = att_doc_pcr(d, i);

		if (!p)
			continue;
		snprintf(key, sizeof(key), "%u", i);
		json_object_object_add(pcrs, key, cli_hex_json(p->value.data, p->value.len));
	}
	json_object_object_add(o, "pcrs", pcrs);
	json_object_object_add(o, "certificate", base64_json(&d->certificate));
	for (unsigned int i = 0; i < d->ncabundle; i++)
		json_object_array_add(cab, base64_json(&d->cabundle[i]));
	json_object_object_add(o, "cabundle", cab);
	json_object_object_add(o, "public_key", hex_or_null(&d->public_key));
	json_object_object_add(o, "user_data", hex_or_null(&d->user_data));
	json_object_object_add(o, "nonce", hex_or_null(&d->nonce));
	return o;
}

int cmd_verify_attestation(int argc, char **argv)
{
	struct verify_args a = {0};
	struct x509_st *root = NULL;
	struct json_object *o;
	struct file_map doc;
	struct att_doc d;
	uint8_t *root_buf;
	size_t root_len;
	time_t at;
	int ret;

	ret = parse_args(argc, argv, &a);
	if (ret) {
		args_free(&a);
		return ret < 0 ? 0 : ret;
	}
	if (!a.root) {
		ret = local_root(&a);
		if (ret) {
			args_free(&a);
			return ret;
		}
	}
	at = time(NULL);
	if (a.at && parse_time(a.at, &at)) {
		args_free(&a);
		return cli_fail(
			E_INVALID_ARGUMENT,
			"--at '%s' is not a time: give RFC 3339 (2024-05-01T12:00:00Z), seconds since the "
			"epoch, or \"document\"",
			a.at);
	}
	if (file_read_all(a.root, &root_buf, &root_len, ROOT_FILE_MAX)) {
		args_free(&a);
		return cli_fail_err(E_FILE_OPERATION);
	}
	ret = att_root_load(root_buf, root_len, &root);
	free(root_buf);
	if (ret) {
		args_free(&a);
		return cli_fail(E_INVALID_ARGUMENT, "--root %s: %s", a.root, err_msg());
	}
	if (file_map_open(&doc, a.document)) {
		cert_free(root);
		args_free(&a);
		return cli_fail_err(E_FILE_OPERATION);
	}
	ret = att_verify(doc.data, doc.size, root, at, &a.expect, &d);
	if (ret) {
		ret = cli_fail(E_ATTESTATION_VERIFY, "%s", err_msg());
	} else {
		o = payload_json(&d);
		cli_print_json(o);
		json_object_put(o);
	}
	file_map_close(&doc);
	cert_free(root);
	args_free(&a);
	return ret;
}
