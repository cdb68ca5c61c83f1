// SPDX-License-Identifier: MIT
/*
 * Unit tests: what src/image reads from untrusted JSON and strings: references, digests, manifests, indexes
 * and their platform choice, configs and DockerInfo, User resolution, WWW-Authenticate challenges.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/auth.h"
#include "image/internal.h"

#define D64(c)                                                                                              \
	c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c \
		c c c c c c c c c c c c c c
#define DIGEST_A "sha256:" D64("a")
#define DIGEST_B "sha256:" D64("b")
#define DIGEST_C "sha256:" D64("c")

static void expect_error(int ret, int err, const char *fragment)
{
	assert_int_equal(ret, -err);
	if (!strstr(err_msg(), fragment))
		fail_msg("error '%s' does not mention '%s'", err_msg(), fragment);
}

/* ---- references ---- */

static void test_reference_registry(void **state)
{
	struct image_ref r;

	(void)state;
	assert_int_equal(image_ref_parse("busybox", &r), 0);
	assert_int_equal(r.transport, TRANSPORT_REGISTRY);
	assert_string_equal(r.registry, DOCKER_HUB_REGISTRY);
	assert_string_equal(r.domain, "docker.io");
	assert_string_equal(r.repository, "library/busybox");
	assert_string_equal(r.tag, "latest");
	assert_string_equal(r.name, "busybox");

	assert_int_equal(image_ref_parse("localhost:5000/team/app:v1.2", &r), 0);
	assert_string_equal(r.registry, "localhost:5000");
	assert_string_equal(r.repository, "team/app");
	assert_string_equal(r.tag, "v1.2");
	assert_string_equal(r.name, "localhost:5000/team/app");

	assert_int_equal(image_ref_parse("docker://quay.io/org/img@" DIGEST_A, &r), 0);
	assert_string_equal(r.registry, "quay.io");
	assert_true(r.has_digest);
	assert_string_equal(r.digest.str, DIGEST_A);
	assert_string_equal(r.tag, "");
	assert_string_equal(r.name, "quay.io/org/img");

	assert_int_equal(image_ref_parse("user/app:tag", &r), 0);
	assert_string_equal(r.repository, "user/app");
	assert_int_equal(image_ref_parse("[::1]:5000/x", &r), 0);
	assert_string_equal(r.registry, "[::1]:5000");
	assert_int_equal(image_ref_parse("a__b/c-d--e.f", &r), 0);
}

static void test_reference_refusals(void **state)
{
	struct image_ref r;

	(void)state;
	expect_error(image_ref_parse("Upper/case", &r), EINVAL, "not a valid image name");
	expect_error(image_ref_parse("a:b:c", &r), EINVAL, "not a valid image name");
	expect_error(image_ref_parse("app:-tag", &r), EINVAL, "not a valid tag");
	expect_error(image_ref_parse("app@sha256:1234", &r), EINVAL, "digest");
	expect_error(image_ref_parse("app@md5:" D64("0"), &r), EINVAL, "sha256:<hex>");
	expect_error(image_ref_parse("a/../b", &r), EINVAL, "not a valid image name");
	expect_error(image_ref_parse("", &r), EINVAL, "empty");
	expect_error(image_ref_parse("oci-archive:", &r), EINVAL, "names no path");
	expect_error(image_ref_parse("bad_host:x/app", &r), EINVAL, "registry host");
}

static void test_reference_local(void **state)
{
	struct image_ref r;

	(void)state;
	assert_int_equal(image_ref_parse("oci:/tmp/layout:v1", &r), 0);
	assert_int_equal(r.transport, TRANSPORT_OCI);
	assert_string_equal(r.path, "/tmp/layout");
	assert_string_equal(r.ref, "v1");
	assert_string_equal(r.name, "layout");
	assert_int_equal(image_ref_parse("docker-archive:/x/app.tar:reg:5000/app:v2", &r), 0);
	assert_int_equal(r.transport, TRANSPORT_DOCKER_ARCHIVE);
	assert_string_equal(r.path, "/x/app.tar");
	assert_string_equal(r.ref, "reg:5000/app:v2");
	assert_string_equal(r.name, "reg:5000/app");
	assert_int_equal(image_ref_parse("oci-archive:img.tar", &r), 0);
	assert_int_equal(r.transport, TRANSPORT_OCI_ARCHIVE);
	assert_string_equal(r.ref, "");
	assert_string_equal(r.name, "img");
}

/* ---- digests ---- */

static void test_digests(void **state)
{
	struct image_digest d, e;

	(void)state;
	assert_int_equal(image_digest_parse(DIGEST_A, "x", &d), 0);
	assert_int_equal(d.alg, DIGEST_SHA256);
	assert_int_equal(d.bytes[0], 0xaa);
	assert_int_equal(image_digest_parse("sha512:" D64("0") D64("1"), "x", &e), 0);
	assert_int_equal(e.alg, DIGEST_SHA512);
	assert_false(image_digest_equal(&d, &e));
	expect_error(image_digest_parse("sha256:" D64("A"), "x", &d), EINVAL, "lowercase");
	expect_error(image_digest_parse(DIGEST_A "0", "x", &d), EINVAL, "64 lowercase hex");
	expect_error(image_digest_parse("sha256:", "x", &d), EINVAL, "x: digest");
	/* sha256("") */
	assert_int_equal(
		image_digest_parse("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
				   "x", &d),
		0);
	assert_int_equal(image_digest_verify_buf(&d, "", 0, "nothing"), 0);
	expect_error(image_digest_verify_buf(&d, "a", 1, "one byte"), EBADMSG,
		     "one byte does not match its digest");
}

/* ---- manifests and indexes ---- */

#define LAYER(type, digest) "{\"mediaType\":\"" type "\",\"digest\":\"" digest "\",\"size\":10}"
#define OCI_MANIFEST(config_type, layers)                                         \
	"{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_OCI_MANIFEST                \
	"\",\"config\":{\"mediaType\":\"" config_type "\",\"digest\":\"" DIGEST_C \
	"\",\"size\":99},\"layers\":[" layers "]}"

static int parse(const char *json, const char *served, struct image_manifest *m)
{
	return image_manifest_parse((const uint8_t *)json, strlen(json), served, m);
}

static void test_manifest_oci(void **state)
{
	struct image_manifest m;

	(void)state;
	assert_int_equal(
		parse(OCI_MANIFEST(MEDIA_OCI_CONFIG,
				   LAYER("application/vnd.oci.image.layer.v1.tar+gzip", DIGEST_A) "," LAYER(
					   "application/vnd.oci.image.layer.v1.tar+zstd",
					   DIGEST_B) "," LAYER("application/vnd.oci.image.layer.v1.tar",
							       DIGEST_A)),
		      "", &m),
		0);
	assert_int_equal(m.kind, MANIFEST_IMAGE);
	assert_int_equal(m.nlayers, 3);
	assert_int_equal(m.compression[0], LAYER_GZIP);
	assert_int_equal(m.compression[1], LAYER_ZSTD);
	assert_int_equal(m.compression[2], LAYER_TAR);
	assert_string_equal(m.layers[1].digest.str, DIGEST_B);
	assert_int_equal(m.config.size, 99);
	image_manifest_free(&m);
}

static void test_manifest_docker(void **state)
{
	static const char json[] =
		"{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_DOCKER_MANIFEST
		"\",\"config\":{\"mediaType\":\"" MEDIA_DOCKER_CONFIG "\",\"digest\":\"" DIGEST_C
		"\",\"size\":5},\"layers\":[" LAYER("application/vnd.docker.image.rootfs.diff.tar.gzip",
						    DIGEST_A) "]}";
	struct image_manifest m;

	(void)state;
	assert_int_equal(parse(json, MEDIA_DOCKER_MANIFEST, &m), 0);
	assert_int_equal(m.nlayers, 1);
	assert_int_equal(m.compression[0], LAYER_GZIP);
	image_manifest_free(&m);
	/* Served as one type, saying another: refused. */
	expect_error(parse(json, MEDIA_OCI_MANIFEST, &m), EINVAL, "served as");
}

static void test_manifest_refusals(void **state)
{
	struct image_manifest m;

	(void)state;
	expect_error(parse("{\"schemaVersion\":1,\"name\":\"x\"}", "", &m), EPROTONOSUPPORT, "schema 1");
	expect_error(parse("{}", MEDIA_DOCKER_SCHEMA1_SIGNED, &m), EPROTONOSUPPORT, "schema 1");
	expect_error(
		parse(OCI_MANIFEST(MEDIA_OCI_CONFIG,
				   LAYER("application/vnd.oci.image.layer.v1.tar+gzip+encrypted", DIGEST_A)),
		      "", &m),
		EPROTONOSUPPORT, "encrypted");
	expect_error(parse(OCI_MANIFEST("application/vnd.cncf.helm.config.v1+json", ""), "", &m),
		     EPROTONOSUPPORT, "artifact");
	expect_error(parse(OCI_MANIFEST(MEDIA_OCI_CONFIG, LAYER("application/x-tar", DIGEST_A)), "", &m),
		     EPROTONOSUPPORT, "not a layer nitrovm knows");
	expect_error(parse("{\"schemaVersion\":2,\"mediaType\":\"text/plain\"}", "", &m), EPROTONOSUPPORT,
		     "not the media type");
	expect_error(parse("{\"schemaVersion\":2,\"config\":", "", &m), EINVAL, "not valid JSON");
	expect_error(parse("[1]", "", &m), EINVAL, "not one JSON object");
	expect_error(parse("{\"schemaVersion\":2}\"x\"", "", &m), EINVAL, "more follows");
	expect_error(parse("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" MEDIA_OCI_CONFIG
			   "\",\"digest\":\"" DIGEST_C "\",\"size\":-1},\"layers\":[]}",
			   "", &m),
		     EINVAL, "whole number");
	expect_error(parse("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" MEDIA_OCI_CONFIG
			   "\",\"digest\":\"" DIGEST_C "\",\"size\":1},\"layers\":{}}",
			   "", &m),
		     EINVAL, "not an array");
	expect_error(parse("{\"schemaVersion\":3}", "", &m), EPROTONOSUPPORT, "schemaVersion 3");
}

#define ENTRY(digest, platform, extra)                                   \
	"{\"mediaType\":\"" MEDIA_OCI_MANIFEST "\",\"digest\":\"" digest \
	"\",\"size\":7,\"platform\":{" platform "}" extra "}"

static void test_index_select(void **state)
{
	static const char json[] =
		"{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_OCI_INDEX "\",\"manifests\":[" ENTRY(
			DIGEST_A, "\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v7\"",
			"") "," ENTRY(DIGEST_B, "\"architecture\":\"amd64\",\"os\":\"linux\"",
				      "") "," ENTRY(DIGEST_C,
						    "\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":"
						    "\"v8\"",
						    "") "," ENTRY(DIGEST_A,
								  "\"architecture\":\"unknown\",\"os\":"
								  "\"unknown\"",
								  ",\"annotations\":{\"vnd.docker.reference."
								  "type\":\"attestation-manifest\"}") "]}";
	const struct image_descriptor *d;
	struct image_manifest m;

	(void)state;
	assert_int_equal(parse(json, "", &m), 0);
	assert_int_equal(m.kind, MANIFEST_INDEX);
	assert_int_equal(m.nmanifests, 4);
	assert_true(m.manifests[3].attestation);
	assert_int_equal(image_index_select(&m, "amd64", &d), 0);
	assert_string_equal(d->digest.str, DIGEST_B);
	assert_int_equal(image_index_select(&m, "arm64", &d), 0);
	assert_string_equal(d->digest.str, DIGEST_C);
	expect_error(image_index_select(&m, "riscv64", &d), ENODATA,
		     "linux/arm/v7, linux/amd64, linux/arm64/v8");
	image_manifest_free(&m);
	assert_string_equal(image_arch_normalize("x86_64"), "amd64");
	assert_string_equal(image_arch_normalize("aarch64"), "arm64");
	assert_null(image_arch_normalize("s390x"));
}

static void test_index_refs(void **state)
{
	static const char json[] =
		"{\"schemaVersion\":2,\"manifests\":["
		"{\"mediaType\":\"" MEDIA_OCI_MANIFEST "\",\"digest\":\"" DIGEST_A "\",\"size\":7,"
		"\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}},"
		"{\"mediaType\":\"" MEDIA_OCI_MANIFEST "\",\"digest\":\"" DIGEST_B "\",\"size\":7,"
		"\"annotations\":{\"org.opencontainers.image.ref.name\":\"v2\"}}]}";
	const struct image_descriptor *d;
	struct image_manifest m;

	(void)state;
	assert_int_equal(parse(json, MEDIA_OCI_INDEX, &m), 0);
	assert_int_equal(image_index_find_ref(&m, "v2", &d), 0);
	assert_string_equal(d->digest.str, DIGEST_B);
	expect_error(image_index_find_ref(&m, "v3", &d), ENODATA, "'v1', 'v2'");
	image_manifest_free(&m);
}

/* ---- configs ---- */

static const char config_json[] =
	"{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2024-01-01T00:00:00Z\",\"author\":\"me\","
	"\"config\":{\"User\":\"app\",\"Env\":[\"PATH=/bin\",\"A=1\"],\"Entrypoint\":[\"/bin/sh\",\"-c\"],"
	"\"Cmd\":[\"echo hi\"],\"WorkingDir\":\"/app\",\"Labels\":{\"z\":\"1\",\"a\":\"2\"}},"
	"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" DIGEST_A "\",\"" DIGEST_B "\"]},"
	"\"history\":[{\"created_by\":\"x\"}]}";

static void test_config(void **state)
{
	struct image_config c;
	char *info;

	(void)state;
	assert_int_equal(image_config_parse((const uint8_t *)config_json, strlen(config_json), &c), 0);
	assert_string_equal(c.arch, "amd64");
	assert_string_equal(c.user, "app");
	assert_string_equal(c.working_dir, "/app");
	assert_true(c.has_entrypoint && c.has_cmd);
	assert_int_equal(c.entrypoint.n, 2);
	assert_string_equal(c.cmd.v[0], "echo hi");
	assert_int_equal(c.env.n, 2);
	assert_int_equal(c.ndiff_ids, 2);
	assert_string_equal(c.diff_ids[1].str, DIGEST_B);
	assert_int_equal(image_config_docker_info(&c, 1234, &info), 0);
	/* docker inspect's keys, sorted as serde_json writes them, Labels too; nothing of the source */
	assert_non_null(strstr(info,
			       "{\"Architecture\":\"amd64\",\"Author\":\"me\",\"Comment\":\"\",\"Config\":{"
			       "\"Cmd\":[\"echo hi\"],\"Entrypoint\":[\"/bin/sh\",\"-c\"],\"Env\":"));
	assert_non_null(
		strstr(info, "\"Labels\":{\"a\":\"2\",\"z\":\"1\"},\"User\":\"app\",\"WorkingDir\":\"/app\"},"
			     "\"Created\":\"2024-01-01T00:00:00Z\",\"DockerVersion\":\"\",\"Id\":\"sha256:"));
	assert_non_null(strstr(info, "\"Os\":\"linux\",\"Parent\":\"\",\"RepoDigests\":[],\"RepoTags\":[],"
				     "\"RootFS\":{\"Layers\":[\"" DIGEST_A "\",\"" DIGEST_B
				     "\"],\"Type\":\"layers\"},"
				     "\"Size\":1234}"));
	free(info);
	image_config_free(&c);
}

static void test_config_refusals(void **state)
{
	struct image_config c;
	const char *windows =
		"{\"architecture\":\"amd64\",\"os\":\"windows\",\"rootfs\":{\"type\":\"layers\","
		"\"diff_ids\":[]}}";
	const char *no_rootfs = "{\"architecture\":\"amd64\",\"os\":\"linux\"}";
	const char *bad_cmd = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":\"echo\"},"
			      "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
	const char *bad_id = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
			     "\"diff_ids\":[\"sha256:zz\"]}}";

	(void)state;
	expect_error(image_config_parse((const uint8_t *)windows, strlen(windows), &c), EPROTONOSUPPORT,
		     "windows");
	expect_error(image_config_parse((const uint8_t *)no_rootfs, strlen(no_rootfs), &c), EINVAL, "rootfs");
	expect_error(image_config_parse((const uint8_t *)bad_cmd, strlen(bad_cmd), &c), EINVAL,
		     "\"Cmd\" is not an array");
	expect_error(image_config_parse((const uint8_t *)bad_id, strlen(bad_id), &c), EINVAL, "diff_ids[0]");
}

/* ---- users ---- */

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
			     "broken:x:notanumber:0::/:/bin/sh\n"
			     "  app:x:1000:1000:App:/home/app:/bin/sh  \n"
			     "\n"
			     "short:x:1001\n";
static const char group[] = "root:x:0:\n"
			    "app:x:1000:\n"
			    "extra:x:2000:someone,app\n"
			    "more:x:3000:app\n"
			    "other:x:4000:application\n";

static void test_user_resolution(void **state)
{
	struct user_db db = {passwd, group, sizeof(passwd) - 1, sizeof(group) - 1};
	struct image_user u;

	(void)state;
	assert_int_equal(image_user_resolve("", &db, &u), 0);
	assert_int_equal(u.uid, 0);
	assert_string_equal(u.home, "/root");
	assert_int_equal(u.ngroups, 0);
	image_user_free(&u);

	assert_int_equal(image_user_resolve("app", &db, &u), 0);
	assert_int_equal(u.uid, 1000);
	assert_int_equal(u.gid, 1000);
	assert_string_equal(u.home, "/home/app");
	assert_int_equal(u.ngroups, 2);
	assert_int_equal(u.groups[0], 2000);
	assert_int_equal(u.groups[1], 3000);
	image_user_free(&u);

	assert_int_equal(image_user_resolve("1000:extra", &db, &u), 0);
	assert_int_equal(u.uid, 1000);
	assert_int_equal(u.gid, 2000);
	assert_int_equal(u.ngroups, 0); /* explicit group: no supplementary ones */
	image_user_free(&u);

	assert_int_equal(image_user_resolve("4242:5000", &db, &u), 0);
	assert_int_equal(u.uid, 4242);
	assert_int_equal(u.gid, 5000);
	assert_string_equal(u.home, "/");
	image_user_free(&u);

	assert_int_equal(image_user_resolve("4242", &db, &u), 0);
	assert_int_equal(u.gid, 0);
	image_user_free(&u);

	expect_error(image_user_resolve("nobody", &db, &u), ENOENT, "'nobody' is not in its /etc/passwd");
	expect_error(image_user_resolve("broken", &db, &u), ENOENT, "not in its /etc/passwd");
	expect_error(image_user_resolve("app:nogroup", &db, &u), ENOENT, "'nogroup'");
	expect_error(image_user_resolve("99999999999", &db, &u), EINVAL, "uid past");
	db.passwd = NULL;
	expect_error(image_user_resolve("app", &db, &u), ENOENT, "the image has none");
	assert_int_equal(image_user_resolve("", &db, &u), 0);
	assert_int_equal(u.uid, 0);
	assert_string_equal(u.home, "/");
}

/* ---- registry challenges ---- */

static void test_challenges(void **state)
{
	struct auth_challenge c;

	(void)state;
	assert_int_equal(
		auth_parse_challenge("Bearer realm=\"https://auth.example/token\",service=\"reg.example\","
				     "scope=\"repository:a/b:pull\"",
				     &c),
		0);
	assert_string_equal(c.scheme, "Bearer");
	assert_string_equal(c.realm, "https://auth.example/token");
	assert_string_equal(c.service, "reg.example");
	assert_string_equal(c.scope, "repository:a/b:pull");
	assert_int_equal(auth_parse_challenge("Basic realm=\"Registry \\\"x\\\"\"", &c), 0);
	assert_string_equal(c.scheme, "Basic");
	assert_string_equal(c.realm, "Registry \"x\"");
	assert_int_equal(auth_parse_challenge("Bearer realm=http://127.0.0.1:1/t, service=s", &c), 0);
	assert_string_equal(c.realm, "http://127.0.0.1:1/t");
	expect_error(auth_parse_challenge("Bearer realm=\"unterminated", &c), EPROTO, "malformed");
	expect_error(auth_parse_challenge("Bearer service=\"x\"", &c), EPROTO, "names no realm");
	expect_error(auth_parse_challenge("", &c), EPROTO, "no scheme");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_registry), cmocka_unit_test(test_reference_refusals),
		cmocka_unit_test(test_reference_local),	   cmocka_unit_test(test_digests),
		cmocka_unit_test(test_manifest_oci),	   cmocka_unit_test(test_manifest_docker),
		cmocka_unit_test(test_manifest_refusals),  cmocka_unit_test(test_index_select),
		cmocka_unit_test(test_index_refs),	   cmocka_unit_test(test_config),
		cmocka_unit_test(test_config_refusals),	   cmocka_unit_test(test_user_resolution),
		cmocka_unit_test(test_challenges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
