// SPDX-License-Identifier: MIT
/*
 * The local certificate authority that signs attestation documents, shaped like AWS's (attestation_process.md):
 *
 *   root          CN=nitrovm.nitro-enclaves root, O=nitrovm          30 years   CA, pathlen 1
 *   intermediate  CN=<16 hex>.intermediate.nitrovm.nitro-enclaves    30 days    CA, pathlen 0
 *   leaf          CN=<enclave id>.nitrovm.nitro-enclaves             3 hours    not a CA, digitalSignature
 *
 * All keys P-384, all signatures ecdsa-with-SHA384; CA certificates carry critical basicConstraints with a path
 * length and critical keyUsage digitalSignature+keyCertSign+cRLSign, the leaf critical CA:FALSE and critical
 * keyUsage digitalSignature; every certificate has subject and authority key identifiers.
 *
 * The root and the intermediate live in <state dir>/ca as PEM files, keys 0600 and refused when looser (a key
 * others can read is a key others can sign with).  The root is made once and never replaced, so pins stay good;
 * the intermediate is replaced when it nears its end.  Creation and replacement happen under an flock on
 * <state dir>/ca/.lock and files appear by rename, so concurrent launches agree on one chain.  Leaf keys are
 * made per enclave and never written anywhere.
 */
#include "nsm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

#define CA_CURVE	  "P-384"
#define CA_SERIAL_BYTES	  16 /* RFC 5280 allows 20; 16 random bytes make collisions a non-issue */
#define CA_PEM_MAX	  (64 * 1024)
#define CA_DIR_MODE	  0700
#define CA_KEY_MODE	  0600
#define CA_CERT_MODE	  0644
#define DAY_SECS	  (24 * 3600)
#define CA_NAME_MAX	  256
#define CA_CN_MAX	  64 /* ub-common-name */
#define CA_LEAF_SUFFIX	  ".nitrovm.nitro-enclaves"

enum ca_kind { CA_ROOT, CA_INTERMEDIATE, CA_LEAF };

struct nsm_ca {
	char dir[PATH_MAX];
	X509 *root;
	X509 *inter;
	EVP_PKEY *inter_key;
	uint8_t *root_der, *inter_der;
	size_t root_der_len, inter_der_len;
};

static int ossl_fail(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "unknown error";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return err_set(EIO, "OpenSSL could not %s: %s", what, buf);
}

/* A home directory nitrovm may keep state under: absolute, and writable (or already holding our state). */
static bool home_usable(const char *home)
{
	char p[PATH_MAX];

	if (!home || home[0] != '/')
		return false;
	if ((size_t)snprintf(p, sizeof(p), "%s/%s", home, NSM_STATE_HOME_SUBDIR) >= sizeof(p))
		return false;
	return !access(p, W_OK) || !access(home, W_OK);
}

static char chosen_state_dir[PATH_MAX];

int nsm_state_dir_set(const char *dir)
{
	return path_setting_copy(chosen_state_dir, sizeof(chosen_state_dir), dir, "the state directory");
}

int nsm_state_dir(const char *override, char *out, size_t len)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	const char *run = getenv("XDG_RUNTIME_DIR");
	int n;

	if (override && override[0])
		n = snprintf(out, len, "%s", override);
	else if (chosen_state_dir[0])
		n = snprintf(out, len, "%s", chosen_state_dir);
	else if (xdg && xdg[0] == '/')
		n = snprintf(out, len, "%s/nitrovm", xdg);
	else if (geteuid() == 0)
		n = snprintf(out, len, "%s", NSM_STATE_SYSTEM_DIR); /* a service's HOME may be / and read-only */
	else if (home_usable(home))
		n = snprintf(out, len, "%s/%s", home, NSM_STATE_HOME_SUBDIR);
	else if (run && run[0] == '/')
		n = snprintf(out, len, "%s/nitrovm/state", run);
	else
		n = snprintf(out, len, "/tmp/nitrovm-%u/state", (unsigned int)getuid());
	if (n < 0 || (size_t)n >= len)
		return err_set(ENAMETOOLONG, "the state directory path is too long");
	return 0;
}

static int ca_path(const struct nsm_ca *ca, const char *name, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/%s", ca->dir, name);

	return n < 0 || (size_t)n >= len ? err_set(ENAMETOOLONG, "path %s/%s is too long", ca->dir, name) : 0;
}

/* A key file others can read, or that is not ours, is refused: a key others can read is a key others can use. */
static int check_key_private(const char *path, const struct stat *st)
{
	if (st->st_mode & 077)
		return err_set(EPERM,
			       "%s has mode %04o, so others can read or change the key that signs attestation "
			       "documents; nitrovm uses CA keys only when they are private (chmod 600 %s, or remove "
			       "the CA directory to start a new chain)",
			       path, (unsigned int)(st->st_mode & 07777), path);
	if (st->st_uid != geteuid())
		return err_set(EPERM, "%s belongs to uid %u, not to this user (uid %u); nitrovm uses only CA keys "
				      "it owns", path, (unsigned int)st->st_uid, (unsigned int)geteuid());
	return 0;
}

/* Read a file the CA keeps; *buf NULL (return 0) when it does not exist.  Key files must be private. */
static int read_ca_file(const char *path, bool secret, uint8_t **buf, size_t *len)
{
	struct stat st;
	ssize_t n;
	int fd, ret;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return err_set(errno, "cannot open %s: %s", path, strerror(errno));
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > CA_PEM_MAX) {
		close(fd);
		return err_set(EINVAL, "%s is not a regular file of 1 to %d bytes", path, CA_PEM_MAX);
	}
	ret = secret ? check_key_private(path, &st) : 0;
	if (ret) {
		close(fd);
		return ret;
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (!*buf) {
		close(fd);
		return err_set(ENOMEM, "out of memory reading %s", path);
	}
	n = read(fd, *buf, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		free(*buf);
		*buf = NULL;
		return err_set(EIO, "cannot read %s", path);
	}
	(*buf)[n] = '\0';
	*len = (size_t)n;
	return 0;
}

static void free_secret(uint8_t *buf, size_t len)
{
	if (buf)
		explicit_bzero(buf, len);
	free(buf);
}

static int write_pem_file(const char *path, unsigned int mode, EVP_PKEY *key, X509 *cert)
{
	struct atomic_file f;
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;
	int ret;

	if (!bio)
		return err_set(ENOMEM, "out of memory");
	if ((key && !PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)) ||
	    (cert && !PEM_write_bio_X509(bio, cert))) {
		BIO_free(bio);
		return ossl_fail("encode PEM");
	}
	n = BIO_get_mem_data(bio, &data);
	ret = atomic_file_open(&f, path, mode);
	if (!ret)
		ret = atomic_file_write(&f, data, (size_t)n);
	if (!ret)
		ret = atomic_file_commit(&f);
	else
		atomic_file_abort(&f);
	/* A BIO_s_mem's buffer is freed without clearing: clear the key's PEM first. */
	if (n > 0)
		OPENSSL_cleanse(data, (size_t)n);
	BIO_free(bio);
	return ret;
}

static EVP_PKEY *new_key(void)
{
	EVP_PKEY *k = EVP_EC_gen(CA_CURVE);

	if (!k)
		ossl_fail("generate a P-384 key");
	return k;
}

static int set_serial(X509 *x)
{
	unsigned char b[CA_SERIAL_BYTES];
	BIGNUM *bn;
	int ok;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -1;
	b[0] &= 0x7f; /* positive */
	b[0] |= 0x01; /* and never zero-led, so it encodes in exactly 16 bytes */
	bn = BN_bin2bn(b, sizeof(b), NULL);
	ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok ? 0 : -1;
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok;

	if (!ext)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/*
 * One certificate for key, named cn (O=nitrovm), issued by issuer/issuer_key (NULL: self-signed), valid
 * [not_before, not_after].
 */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, time_t not_before,
		       time_t not_after, enum ca_kind kind)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	X509V3_CTX ctx;
	const char *bc, *ku;
	bool ok;

	switch (kind) {
	case CA_ROOT:
		bc = "critical,CA:TRUE,pathlen:1";
		ku = "critical,digitalSignature,keyCertSign,cRLSign";
		break;
	case CA_INTERMEDIATE:
		bc = "critical,CA:TRUE,pathlen:0";
		ku = "critical,digitalSignature,keyCertSign,cRLSign";
		break;
	default:
		bc = "critical,CA:FALSE";
		ku = "critical,digitalSignature";
		break;
	}
	ok = x && name && X509_set_version(x, X509_VERSION_3) && !set_serial(x) &&
	     X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)NSM_CA_ORG, -1, -1, 0) &&
	     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) &&
	     X509_set_subject_name(x, name) &&
	     X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) &&
	     ASN1_TIME_set(X509_getm_notBefore(x), not_before) && ASN1_TIME_set(X509_getm_notAfter(x), not_after) &&
	     X509_set_pubkey(x, key);
	if (ok) {
		X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
		ok = !add_ext(x, &ctx, NID_basic_constraints, bc) && !add_ext(x, &ctx, NID_key_usage, ku) &&
		     !add_ext(x, &ctx, NID_subject_key_identifier, "hash") &&
		     !add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") &&
		     X509_sign(x, issuer_key ? issuer_key : key, EVP_sha384()) > 0;
	}
	X509_NAME_free(name);
	if (!ok) {
		X509_free(x);
		ossl_fail("build a certificate");
		return NULL;
	}
	return x;
}

static int der_of(X509 *x, uint8_t **der, size_t *len)
{
	int n = i2d_X509(x, NULL);
	unsigned char *p;

	if (n <= 0)
		return ossl_fail("encode a certificate as DER");
	*der = malloc((size_t)n);
	if (!*der)
		return err_set(ENOMEM, "out of memory");
	p = *der;
	i2d_X509(x, &p);
	*len = (size_t)n;
	return 0;
}

/* Load a key/certificate pair; *key and *cert stay NULL when neither file exists. */
static int load_pair(struct nsm_ca *ca, const char *key_name, const char *cert_name, EVP_PKEY **key, X509 **cert)
{
	char kpath[PATH_MAX], cpath[PATH_MAX];
	uint8_t *kbuf = NULL, *cbuf = NULL;
	size_t klen = 0, clen = 0;
	enum ec_curve curve;
	BIO *bio;
	int ret;

	*key = NULL;
	*cert = NULL;
	ret = ca_path(ca, key_name, kpath, sizeof(kpath));
	if (!ret)
		ret = ca_path(ca, cert_name, cpath, sizeof(cpath));
	if (!ret)
		ret = read_ca_file(kpath, true, &kbuf, &klen);
	if (!ret)
		ret = read_ca_file(cpath, false, &cbuf, &clen);
	if (ret)
		goto out;
	if (!kbuf && !cbuf)
		goto out;
	if (!kbuf || !cbuf) {
		ret = err_set(ENOENT, "%s exists but %s does not; restore it, or remove %s to start a new chain",
			      kbuf ? kpath : cpath, kbuf ? cpath : kpath, ca->dir);
		goto out;
	}
	ret = eckey_load_private_pem(kbuf, klen, key, &curve);
	if (ret) {
		err_wrap(-ret, "%s", kpath);
		goto out;
	}
	bio = BIO_new_mem_buf(cbuf, (int)clen);
	*cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	ERR_clear_error();
	if (!*cert) {
		ret = err_set(EINVAL, "%s does not hold a PEM certificate", cpath);
		goto out;
	}
	if (curve != EC_CURVE_P384 || X509_check_private_key(*cert, *key) != 1) {
		ERR_clear_error();
		ret = err_set(EINVAL, "%s is not the P-384 key of the certificate %s", kpath, cpath);
	}
out:
	free_secret(kbuf, klen);
	free(cbuf);
	if (ret) {
		EVP_PKEY_free(*key);
		X509_free(*cert);
		*key = NULL;
		*cert = NULL;
	}
	return ret;
}

static int save_pair(struct nsm_ca *ca, const char *key_name, const char *cert_name, EVP_PKEY *key, X509 *cert)
{
	char kpath[PATH_MAX], cpath[PATH_MAX];
	int ret = ca_path(ca, key_name, kpath, sizeof(kpath));

	if (!ret)
		ret = ca_path(ca, cert_name, cpath, sizeof(cpath));
	/* Key first: a certificate without its key would be refused on the next open, the reverse is replaced. */
	if (!ret)
		ret = write_pem_file(kpath, CA_KEY_MODE, key, NULL);
	if (!ret)
		ret = write_pem_file(cpath, CA_CERT_MODE, NULL, cert);
	return ret;
}

static time_t cert_not_after(X509 *x)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1)
		return 0;
	return timegm(&tm);
}

static int ensure_root(struct nsm_ca *ca, time_t now)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int ret = load_pair(ca, NSM_CA_ROOT_KEY, NSM_CA_ROOT_CERT, &key, &cert);

	if (ret)
		return ret;
	if (!cert) {
		key = new_key();
		cert = key ? make_cert(key, NSM_CA_ROOT_CN, NULL, NULL, now - NSM_CA_BACKDATE_SECS,
				       now + (time_t)NSM_CA_ROOT_DAYS * DAY_SECS, CA_ROOT)
			   : NULL;
		ret = cert ? save_pair(ca, NSM_CA_ROOT_KEY, NSM_CA_ROOT_CERT, key, cert) : -EIO;
	} else if (cert_not_after(cert) <= now) {
		ret = err_set(EKEYEXPIRED, "the attestation root %s/%s has expired; remove %s to start a new chain "
					   "(verifiers must then pin the new root)", ca->dir, NSM_CA_ROOT_CERT, ca->dir);
	}
	/* The root key is needed only to issue an intermediate: keep it for that and no longer. */
	if (!ret) {
		ca->root = cert;
		cert = NULL;
	}
	X509_free(cert);
	EVP_PKEY_free(key);
	return ret;
}

static int root_key(struct nsm_ca *ca, EVP_PKEY **key)
{
	X509 *cert = NULL;
	int ret = load_pair(ca, NSM_CA_ROOT_KEY, NSM_CA_ROOT_CERT, key, &cert);

	if (!ret && !cert)
		ret = err_set(ENOENT, "the attestation root disappeared from %s", ca->dir);
	if (!ret && X509_cmp(cert, ca->root) != 0)
		ret = err_set(EBUSY, "the attestation root in %s changed while nitrovm was using it", ca->dir);
	X509_free(cert);
	if (ret) {
		EVP_PKEY_free(*key);
		*key = NULL;
	}
	return ret;
}

/* Whether cert was issued by the root we hold (a new root makes old intermediates useless). */
static bool issued_by_root(struct nsm_ca *ca, X509 *cert)
{
	EVP_PKEY *pub = X509_get0_pubkey(ca->root);
	bool ok = pub && X509_verify(cert, pub) == 1 && X509_check_issued(ca->root, cert) == X509_V_OK;

	ERR_clear_error();
	return ok;
}

static int ensure_intermediate(struct nsm_ca *ca, time_t now)
{
	EVP_PKEY *key = NULL, *rkey = NULL;
	X509 *cert = NULL;
	unsigned char rnd[8];
	char cn[CA_NAME_MAX], hex[2 * sizeof(rnd) + 1];
	int ret = load_pair(ca, NSM_CA_INTER_KEY, NSM_CA_INTER_CERT, &key, &cert);

	if (ret)
		return ret;
	if (cert && (!issued_by_root(ca, cert) || cert_not_after(cert) < now + NSM_CA_INTERMEDIATE_RENEW_SECS)) {
		X509_free(cert);
		EVP_PKEY_free(key);
		cert = NULL;
		key = NULL;
	}
	if (!cert) {
		ret = root_key(ca, &rkey);
		if (ret)
			return ret;
		if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
			EVP_PKEY_free(rkey);
			return ossl_fail("get random bytes");
		}
		hex_encode(rnd, sizeof(rnd), hex);
		snprintf(cn, sizeof(cn), "%s.intermediate.nitrovm.nitro-enclaves", hex);
		key = new_key();
		cert = key ? make_cert(key, cn, ca->root, rkey, now - NSM_CA_BACKDATE_SECS,
				       now + (time_t)NSM_CA_INTERMEDIATE_DAYS * DAY_SECS, CA_INTERMEDIATE)
			   : NULL;
		EVP_PKEY_free(rkey);
		ret = cert ? save_pair(ca, NSM_CA_INTER_KEY, NSM_CA_INTER_CERT, key, cert) : -EIO;
	}
	if (ret) {
		X509_free(cert);
		EVP_PKEY_free(key);
		return ret;
	}
	X509_free(ca->inter);
	EVP_PKEY_free(ca->inter_key);
	free(ca->inter_der);
	ca->inter = cert;
	ca->inter_key = key;
	ca->inter_der = NULL;
	return der_of(cert, &ca->inter_der, &ca->inter_der_len);
}

static int lock_ca(struct nsm_ca *ca, int *fd)
{
	char path[PATH_MAX];
	int ret = ca_path(ca, NSM_CA_LOCK, path, sizeof(path));

	if (ret)
		return ret;
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, CA_KEY_MODE);
	if (*fd < 0)
		return err_set(errno, "cannot open %s: %s", path, strerror(errno));
	while (flock(*fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			ret = err_set(errno, "cannot lock %s: %s", path, strerror(errno));
			close(*fd);
			*fd = -1;
			return ret;
		}
	}
	return 0;
}

static int ca_dir_of(const char *state_dir, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/%s", state_dir, NSM_CA_SUBDIR);

	return n < 0 || (size_t)n >= len ? err_set(ENAMETOOLONG, "the state directory path is too long") : 0;
}

int nsm_ca_check(const char *state_dir)
{
	static const char *const keys[] = { NSM_CA_ROOT_KEY, NSM_CA_INTER_KEY };
	struct nsm_ca ca;
	struct stat st;
	int ret = ca_dir_of(state_dir, ca.dir, sizeof(ca.dir));

	if (!ret)
		ret = mkdir_p(ca.dir, CA_DIR_MODE);
	if (!ret && access(ca.dir, W_OK | X_OK) < 0)
		ret = err_set(errno, "cannot write to the CA directory %s: %s", ca.dir, strerror(errno));
	for (size_t i = 0; !ret && i < ARRAY_SIZE(keys); i++) {
		char path[PATH_MAX];

		ret = ca_path(&ca, keys[i], path, sizeof(path));
		/* Only what exists and is a plain file: anything else is nsm_ca_open's to explain. */
		if (!ret && lstat(path, &st) == 0 && S_ISREG(st.st_mode))
			ret = check_key_private(path, &st);
	}
	return ret;
}

int nsm_ca_open(const char *state_dir, time_t now, struct nsm_ca **out)
{
	struct nsm_ca *ca = calloc(1, sizeof(*ca));
	int ret, lock = -1;

	*out = NULL;
	if (!ca)
		return err_set(ENOMEM, "out of memory");
	if (ca_dir_of(state_dir, ca->dir, sizeof(ca->dir))) {
		free(ca);
		return -ENAMETOOLONG;
	}
	ret = mkdir_p(ca->dir, CA_DIR_MODE);
	if (!ret)
		ret = lock_ca(ca, &lock);
	if (!ret)
		ret = ensure_root(ca, now);
	if (!ret)
		ret = ensure_intermediate(ca, now);
	if (!ret)
		ret = der_of(ca->root, &ca->root_der, &ca->root_der_len);
	if (lock >= 0)
		close(lock);
	if (ret) {
		nsm_ca_free(ca);
		return ret;
	}
	*out = ca;
	return 0;
}

void nsm_ca_free(struct nsm_ca *ca)
{
	if (!ca)
		return;
	X509_free(ca->root);
	X509_free(ca->inter);
	EVP_PKEY_free(ca->inter_key);
	free(ca->root_der);
	free(ca->inter_der);
	free(ca);
}

const char *nsm_ca_dir(const struct nsm_ca *ca)
{
	return ca->dir;
}

void nsm_ca_root_der(const struct nsm_ca *ca, const uint8_t **der, size_t *len)
{
	*der = ca->root_der;
	*len = ca->root_der_len;
}

void nsm_ca_intermediate_der(const struct nsm_ca *ca, const uint8_t **der, size_t *len)
{
	*der = ca->inter_der;
	*len = ca->inter_der_len;
}

struct x509_st *nsm_ca_root(const struct nsm_ca *ca)
{
	return ca->root;
}

struct x509_st *nsm_ca_intermediate(const struct nsm_ca *ca)
{
	return ca->inter;
}

int nsm_ca_root_pem(const struct nsm_ca *ca, char **pem)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;

	*pem = NULL;
	if (!bio || !PEM_write_bio_X509(bio, ca->root)) {
		BIO_free(bio);
		return ossl_fail("encode the root certificate");
	}
	n = BIO_get_mem_data(bio, &data);
	*pem = malloc((size_t)n + 1);
	if (*pem) {
		memcpy(*pem, data, (size_t)n);
		(*pem)[n] = '\0';
	}
	BIO_free(bio);
	return *pem ? 0 : err_set(ENOMEM, "out of memory");
}

int nsm_ca_issue_leaf(struct nsm_ca *ca, struct evp_pkey_st *key, const char *name, time_t now, uint8_t **der,
		      size_t *der_len, time_t *not_after)
{
	char cn[CA_NAME_MAX];
	time_t end = now + NSM_CA_LEAF_SECS, inter_end = cert_not_after(ca->inter);
	X509 *leaf;
	int ret;

	*der = NULL;
	/* An enclave can outlive an intermediate: take a new one (another process may have made it already). */
	if (inter_end < end) {
		int lock = -1;

		ret = lock_ca(ca, &lock);
		if (!ret)
			ret = ensure_intermediate(ca, now);
		if (lock >= 0)
			close(lock);
		if (ret)
			return ret;
		inter_end = cert_not_after(ca->inter);
	}
	end = MIN(end, inter_end);
	/* X.520 bounds a common name to 64 characters; a long QEMU-style id= is cut to fit. */
	snprintf(cn, sizeof(cn), "%.*s%s", (int)(CA_CN_MAX - strlen(CA_LEAF_SUFFIX)), name, CA_LEAF_SUFFIX);
	leaf = make_cert(key, cn, ca->inter, ca->inter_key, now - NSM_CA_BACKDATE_SECS, end, CA_LEAF);
	if (!leaf)
		return -EIO;
	ret = der_of(leaf, der, der_len);
	X509_free(leaf);
	*not_after = end;
	return ret;
}
