// SPDX-License-Identifier: MIT
/*
 * The issuer (src/nsm/issuer*.c), the process that holds the CA for one enclave.  Its policy driven directly,
 * with the clocks in the test's hands: nothing before a bind, nothing for another enclave id, nothing for
 * another key than the first, a rebind ignored, the rate limit's burst and refill, malformed messages and a CA
 * that cannot be opened.  Then the real process: what it certifies verifies under the CA's root, it refuses a
 * flood and another id, keeps no descriptor of its parent's, and dies with its parent.  The enclave process's
 * side needs no call that process's allow-list forbids once the guest runs: shown under a filter that kills on
 * them (fork, threads, exec, wait4, kill, open).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "nsm/issuer.h"
#include "nsm/nsm.h"

#define ID    "i-0123456789abcdef0-enc0123456789abcdef"
#define OTHER "i-0123456789abcdef0-enc00000000000000ff"
#define NOW   ((time_t)1790000000) /* 2026-09-22 */
/* How long the process test waits for an issuer to die with its parent. */
#define DEATH_WAIT_MS 5000

static char dir[64];
static uint8_t msg[NSM_ISSUER_MSG_MAX], reply[NSM_ISSUER_MSG_MAX];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/nitrovm-issuer-test.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* A key's SubjectPublicKeyInfo, as the enclave process sends it. */
struct spki {
	uint8_t der[NSM_ISSUER_KEY_MAX];
	size_t len;
};

static struct spki spki_of(EVP_PKEY *key)
{
	struct spki s;
	unsigned char *p = s.der;
	int n = i2d_PUBKEY(key, &p);

	assert_true(n > 0 && (size_t)n <= sizeof(s.der));
	s.len = (size_t)n;
	return s;
}

static void bind(struct nsm_issuer *is, const char *id)
{
	struct nsm_issuer_request q = { .op = NSM_ISSUER_BIND };
	size_t n;

	snprintf(q.id, sizeof(q.id), "%s", id);
	n = nsm_issuer_encode_request(&q, msg, sizeof(msg));
	assert_true(n > 0);
	assert_int_equal(nsm_issuer_handle(is, msg, n, NOW, 0, reply, sizeof(reply)), 0);
}

/* One issue request at (NOW, mono); the decoded reply. */
static struct nsm_issuer_reply issue(struct nsm_issuer *is, const char *id, const struct spki *k, uint64_t mono)
{
	struct nsm_issuer_request q = { .op = NSM_ISSUER_ISSUE, .seq = mono + 1, .key = k->der,
					.key_len = k->len };
	struct nsm_issuer_reply r;
	size_t n;

	snprintf(q.id, sizeof(q.id), "%s", id);
	n = nsm_issuer_encode_request(&q, msg, sizeof(msg));
	assert_true(n > 0);
	n = nsm_issuer_handle(is, msg, n, NOW, mono, reply, sizeof(reply));
	assert_true(n > 0);
	assert_int_equal(nsm_issuer_decode_reply(reply, n, &r), 0);
	assert_int_equal(r.seq, q.seq);
	return r;
}

static void expect_refusal(const struct nsm_issuer_reply *r, int error, const char *fragment)
{
	assert_int_equal(r->error, error);
	if (!strstr(r->message, fragment))
		fail_msg("refusal \"%s\" lacks \"%s\"", r->message, fragment);
}

/* The leaf names the enclave, holds key, and chains to the reply's intermediate and root. */
static void check_leaf(const struct nsm_issuer_reply *r, EVP_PKEY *key, const char *id)
{
	const unsigned char *p = r->leaf, *q = r->intermediate, *s = r->root;
	X509 *leaf = d2i_X509(NULL, &p, (long)r->leaf_len), *inter = d2i_X509(NULL, &q, (long)r->intermediate_len);
	X509 *root = d2i_X509(NULL, &s, (long)r->root_len);
	char cn[128];

	assert_int_equal(r->error, 0);
	assert_non_null(leaf);
	assert_non_null(inter);
	assert_non_null(root);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(leaf), key), 1);
	assert_int_equal(X509_verify(leaf, X509_get0_pubkey(inter)), 1);
	assert_int_equal(X509_verify(inter, X509_get0_pubkey(root)), 1);
	X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn, sizeof(cn));
	assert_non_null(strstr(cn, id));
	assert_true(r->not_after > (uint64_t)NOW);
	X509_free(leaf);
	X509_free(inter);
	X509_free(root);
}

/* Nothing before a bind; then only the bound id, only the first key; a second bind changes nothing. */
static void test_one_enclave_one_key(void **state)
{
	EVP_PKEY *key = EVP_EC_gen("P-384"), *other = EVP_EC_gen("P-384");
	struct spki k = spki_of(key), o = spki_of(other);
	struct nsm_issuer_reply r;
	struct nsm_issuer *is;

	(void)state;
	assert_int_equal(nsm_issuer_new(dir, &is), 0);
	r = issue(is, ID, &k, 0);
	expect_refusal(&r, EPERM, "no enclave id was bound");
	bind(is, ID);
	r = issue(is, OTHER, &k, 0);
	expect_refusal(&r, EPERM, "certifies keys of enclave " ID " only, not of " OTHER);
	r = issue(is, ID, &k, 0);
	check_leaf(&r, key, ID);
	r = issue(is, ID, &o, 0);
	expect_refusal(&r, EPERM, "certifies one key for enclave " ID);
	/* A later bind (a compromised enclave process's) is ignored: the first one stands. */
	bind(is, OTHER);
	r = issue(is, OTHER, &k, 0);
	expect_refusal(&r, EPERM, "not of " OTHER);
	r = issue(is, ID, &k, 0);
	check_leaf(&r, key, ID);
	nsm_issuer_free(is);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}

/* NSM_ISSUER_BURST at once, then one per NSM_ISSUER_REFILL_SECS, and a full bucket again after a long rest. */
static void test_rate_limit(void **state)
{
	EVP_PKEY *key = EVP_EC_gen("P-384");
	struct spki k = spki_of(key);
	const uint64_t t0 = 1000;
	struct nsm_issuer_reply r;
	struct nsm_issuer *is;

	(void)state;
	assert_int_equal(nsm_issuer_new(dir, &is), 0);
	bind(is, ID);
	for (int i = 0; i < NSM_ISSUER_BURST; i++) {
		r = issue(is, ID, &k, t0 + (uint64_t)i);
		check_leaf(&r, key, ID);
	}
	r = issue(is, ID, &k, t0 + NSM_ISSUER_BURST);
	expect_refusal(&r, EAGAIN, "too many certificates asked for enclave " ID);
	/* Refusals cost nothing, and a token comes back REFILL_SECS after the bucket was first drawn. */
	r = issue(is, ID, &k, t0 + NSM_ISSUER_REFILL_SECS - 1);
	assert_int_equal(r.error, EAGAIN);
	r = issue(is, ID, &k, t0 + NSM_ISSUER_REFILL_SECS);
	check_leaf(&r, key, ID);
	r = issue(is, ID, &k, t0 + NSM_ISSUER_REFILL_SECS + 1);
	assert_int_equal(r.error, EAGAIN);
	r = issue(is, ID, &k, t0 + 2 * NSM_ISSUER_REFILL_SECS);
	check_leaf(&r, key, ID);
	/* A long rest fills the bucket, and no more. */
	for (int i = 0; i < NSM_ISSUER_BURST; i++) {
		r = issue(is, ID, &k, t0 + 100 * NSM_ISSUER_REFILL_SECS);
		check_leaf(&r, key, ID);
	}
	r = issue(is, ID, &k, t0 + 100 * NSM_ISSUER_REFILL_SECS);
	assert_int_equal(r.error, EAGAIN);
	nsm_issuer_free(is);
	EVP_PKEY_free(key);
}

/* Messages that are not the documented shapes, keys that are not P-384 public keys. */
static void test_malformed(void **state)
{
	static const struct {
		const char *msg;
		size_t len;
	} bad[] = {
		{ "", 0 },
		{ "\xa0", 1 },
		{ "\x80", 1 },
		{ "\xa1\x62op\x64" "bind", 9 },
		{ "\xa2\x62op\x64" "bind\x62id\x40", 13 },
		{ "\xa2\x62op\x64" "nope\x62id\x61x", 14 },
		{ "\xa3\x62op\x64" "bind\x62id\x61x\x62id\x61x", 19 },
		{ "\xa2\x62op\x64" "bind\x62id\x61x\x00", 15 },
	};
	EVP_PKEY *p256 = EVP_EC_gen("P-256");
	struct spki k = spki_of(p256), junk = { .der = { 0x30, 0x03, 0x02, 0x01, 0x00 }, .len = 5 };
	struct nsm_issuer_reply r;
	struct nsm_issuer *is;
	size_t n;

	(void)state;
	assert_int_equal(nsm_issuer_new(dir, &is), 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		n = nsm_issuer_handle(is, (const uint8_t *)bad[i].msg, bad[i].len, NOW, 0, reply, sizeof(reply));
		if (!n)
			fail_msg("message %zu got no reply", i);
		assert_int_equal(nsm_issuer_decode_reply(reply, n, &r), 0);
		assert_int_equal(r.error, EINVAL);
	}
	bind(is, ID);
	r = issue(is, ID, &k, 0);
	expect_refusal(&r, EINVAL, "not a P-384 public key");
	r = issue(is, ID, &junk, 0);
	expect_refusal(&r, EINVAL, "not a P-384 public key");
	nsm_issuer_free(is);
	EVP_PKEY_free(p256);
}

/* A CA that cannot be opened (a key others can read) is every issue's answer, in the CA's own words. */
static void test_ca_refused(void **state)
{
	EVP_PKEY *key = EVP_EC_gen("P-384");
	struct spki k = spki_of(key);
	struct nsm_issuer_reply r;
	struct nsm_issuer *is;
	struct nsm_ca *ca;
	char path[PATH_MAX];

	(void)state;
	assert_int_equal(nsm_ca_open(dir, NOW, &ca), 0);
	nsm_ca_free(ca);
	snprintf(path, sizeof(path), "%s/ca/intermediate.key", dir);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(nsm_issuer_new(dir, &is), 0);
	bind(is, ID);
	r = issue(is, ID, &k, 0);
	expect_refusal(&r, EPERM, "intermediate.key has mode 0644");
	nsm_issuer_free(is);
	EVP_PKEY_free(key);
}

/* ---- the process ---- */

/* The issuer's descriptors: exactly 0-2 and its socket, or (not root) none readable, it being undumpable. */
static void check_descriptors(pid_t pid)
{
	char path[64];
	struct dirent *e;
	unsigned int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d) {
		assert_int_equal(errno, EACCES);
		assert_int_not_equal(geteuid(), 0);
		return;
	}
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			assert_true(atoi(e->d_name) <= 3 && n++ < 4);
	closedir(d);
	assert_int_equal(n, 4);
}

static void check_name(pid_t pid)
{
	char path[64], comm[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(comm, sizeof(comm), f));
	fclose(f);
	assert_string_equal(comm, NSM_ISSUER_PROC_NAME "\n");
}

static bool gone_or_zombie(pid_t pid);

/* The real process: a certificate for the bound id, refusals for another id and a flood, no stray fds. */
static void test_process(void **state)
{
	pid_t issuer;
	int status = -1;
	EVP_PKEY *key = EVP_EC_gen("P-384");
	struct nsm_issuer_proc *p;
	struct nsm_certifier *c;
	struct nsm_leaf leaf;
	struct nsm_ca *ca;
	const unsigned char *der;
	const uint8_t *root;
	size_t root_len;
	X509 *x;
	int ret;

	(void)state;
	/* A descriptor the issuer must not keep. */
	assert_true(open("/dev/null", O_RDONLY) > 2);
	assert_int_equal(nsm_issuer_spawn(dir, &p), 0);
	assert_int_equal(nsm_issuer_bind(p, ID), 0);
	c = nsm_issuer_certifier(p);
	assert_non_null(c);
	assert_int_equal(c->issue(c, key, ID, time(NULL), &leaf), 0);
	check_name(nsm_issuer_pid(p));
	check_descriptors(nsm_issuer_pid(p));
	/* The chain is the CA's in the state directory, and the leaf is key's. */
	assert_int_equal(nsm_ca_open(dir, time(NULL), &ca), 0);
	nsm_ca_root_der(ca, &root, &root_len);
	assert_int_equal(leaf.root_len, root_len);
	assert_memory_equal(leaf.root, root, root_len);
	der = leaf.cert;
	x = d2i_X509(NULL, &der, (long)leaf.cert_len);
	assert_non_null(x);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), key), 1);
	assert_int_equal(X509_verify(x, X509_get0_pubkey(nsm_ca_intermediate(ca))), 1);
	X509_free(x);
	nsm_ca_free(ca);
	nsm_leaf_free(&leaf);

	ret = c->issue(c, key, OTHER, time(NULL), &leaf);
	assert_int_equal(ret, -EPERM);
	assert_non_null(strstr(err_msg(), "only, not of " OTHER));
	/* A flood: the burst, less the one above, then refusals. */
	for (int i = 1; i < NSM_ISSUER_BURST; i++) {
		assert_int_equal(c->issue(c, key, ID, time(NULL), &leaf), 0);
		nsm_leaf_free(&leaf);
	}
	for (int i = 0; i < 3 * NSM_ISSUER_BURST; i++)
		assert_int_equal(c->issue(c, key, ID, time(NULL), &leaf), -EAGAIN);
	assert_non_null(strstr(err_msg(), "too many certificates"));
	c->free(c);
	issuer = nsm_issuer_pid(p);
	nsm_issuer_stop(p);
	/* stop returns once the issuer's socket closed as it exits; reaping it is left to whoever reaps. */
	for (int ms = 0; ms < DEATH_WAIT_MS && waitpid(issuer, &status, WNOHANG) == 0; ms += 10)
		usleep(10000);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	EVP_PKEY_free(key);
}

static bool gone_or_zombie(pid_t pid)
{
	char path[64], stat[256] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return true;
	if (!fgets(stat, sizeof(stat), f))
		stat[0] = '\0';
	fclose(f);
	return strstr(stat, ") Z ") != NULL;
}

/* An enclave process that dies without a word takes its issuer with it (PR_SET_PDEATHSIG). */
static void test_dies_with_parent(void **state)
{
	pid_t child, issuer = 0;
	int pipefd[2];

	(void)state;
	assert_int_equal(pipe(pipefd), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct nsm_issuer_proc *p;

		if (nsm_issuer_spawn(dir, &p))
			_exit(1);
		issuer = nsm_issuer_pid(p);
		if (write(pipefd[1], &issuer, sizeof(issuer)) != sizeof(issuer))
			_exit(1);
		_exit(0); /* no nsm_issuer_stop: the socket stays open in nobody */
	}
	close(pipefd[1]);
	assert_int_equal(read(pipefd[0], &issuer, sizeof(issuer)), sizeof(issuer));
	close(pipefd[0]);
	waitpid(child, NULL, 0);
	for (int ms = 0; ms < DEATH_WAIT_MS && !gone_or_zombie(issuer); ms += 10)
		usleep(10000);
	assert_true(gone_or_zombie(issuer));
}

/* Calls the enclave process may no longer make once its sandbox is on, as far as the issuer's side goes. */
static const int forbidden[] = {
#ifdef __NR_fork
	__NR_fork,
#endif
#ifdef __NR_vfork
	__NR_vfork,
#endif
#ifdef __NR_open
	__NR_open,
#endif
	__NR_clone, __NR_clone3, __NR_execve, __NR_execveat, __NR_wait4, __NR_waitid, __NR_kill, __NR_openat,
};

/* A filter that kills the process on any call in forbidden[], and allows the rest. */
static int forbid(void)
{
	struct sock_filter f[4 + ARRAY_SIZE(forbidden) + 2];
	struct sock_fprog prog = { .filter = f };
	unsigned short n = 0;

	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
#if defined(__x86_64__)
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
#elif defined(__aarch64__)
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_AARCH64, 1, 0);
#else
#error "the filter needs this architecture's AUDIT_ARCH"
#endif
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	for (size_t i = 0; i < ARRAY_SIZE(forbidden); i++) {
		/* Past the remaining comparisons and the allow, onto the kill. */
		unsigned char to_kill = (unsigned char)(ARRAY_SIZE(forbidden) - i);

		f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)forbidden[i], to_kill, 0);
	}
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	prog.len = n;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

/*
 * The enclave process forks its issuer at launch, then loads its allow-list before the vCPUs start: binding,
 * certifying and stopping must then work without a fork, a thread, exec, wait4, kill or open.  A forbidden call
 * kills the child with SIGSYS, which the parent sees.
 */
static void test_sandboxed_side(void **state)
{
	pid_t child;
	int status;

	(void)state;
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		EVP_PKEY *key = EVP_EC_gen("P-384");
		struct nsm_issuer_proc *p;
		struct nsm_certifier *c;
		struct nsm_leaf leaf;

		if (!key || nsm_issuer_spawn(dir, &p) || !(c = nsm_issuer_certifier(p)))
			_exit(10);
		if (forbid() < 0)
			_exit(11);
		if (nsm_issuer_bind(p, ID))
			_exit(12);
		if (c->issue(c, key, ID, time(NULL), &leaf))
			_exit(13);
		nsm_leaf_free(&leaf);
		/* A refusal travels the same way. */
		if (c->issue(c, key, OTHER, time(NULL), &leaf) != -EPERM)
			_exit(14);
		c->free(c);
		nsm_issuer_stop(p);
		_exit(0);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	if (WIFSIGNALED(status))
		fail_msg("the issuer's client side made a forbidden call: signal %d", WTERMSIG(status));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_one_enclave_one_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rate_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ca_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_process, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dies_with_parent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sandboxed_side, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
