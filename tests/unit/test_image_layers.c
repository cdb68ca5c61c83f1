// SPDX-License-Identifier: MIT
/*
 * Unit tests: layers applied to the path index (src/image/tree.c, layer.c) and the customer ramdisk streamed
 * from it (ramdisk.c): the OCI whiteout rules, opaque directories against the layer's own entries, hard
 * links, symlinks on the way to a path staying inside the root, refusals, both digests, and the exact bytes
 * of the newc archive.  Layers are written here with libarchive, as tar, tar+gzip and tar+zstd.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/internal.h"
#include "image/spool.h"
#include "image/tree.h"
#include "newc_parse.h"

struct tentry {
	const char *name;
	unsigned int type; /* AE_IF*, or 0 for a hard link */
	const char *data;  /* contents, or a link's target */
	unsigned int mode, uid;
};

#define FILE_(n, d)                     \
	{                               \
		n, AE_IFREG, d, 0644, 0 \
	}
#define DIR_(n)                            \
	{                                  \
		n, AE_IFDIR, NULL, 0755, 0 \
	}
#define LINK_(n, t)                     \
	{                               \
		n, AE_IFLNK, t, 0777, 0 \
	}
#define HARD_(n, t)              \
	{                        \
		n, 0, t, 0644, 0 \
	}

struct layer_file {
	char path[64];
	int fd;
	uint64_t size;
};

static void write_layer(struct layer_file *lf, int filter, const struct tentry *e, size_t n)
{
	struct archive *a = archive_write_new();
	struct stat st;

	strcpy(lf->path, "/tmp/nitrovm-test-layer-XXXXXX");
	lf->fd = mkstemp(lf->path);
	assert_true(lf->fd >= 0);
	unlink(lf->path);
	archive_write_set_format_pax_restricted(a);
	if (filter == ARCHIVE_FILTER_GZIP)
		archive_write_add_filter_gzip(a);
	else if (filter == ARCHIVE_FILTER_ZSTD)
		archive_write_add_filter_zstd(a);
	assert_int_equal(archive_write_open_fd(a, lf->fd), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *ae = archive_entry_new();
		size_t len = e[i].type == AE_IFREG && e[i].data ? strlen(e[i].data) : 0;

		archive_entry_set_pathname(ae, e[i].name);
		archive_entry_set_perm(ae, e[i].mode);
		archive_entry_set_uid(ae, e[i].uid);
		archive_entry_set_mtime(ae, 1000 + (time_t)i, 0);
		if (!e[i].type) {
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_hardlink(ae, e[i].data);
		} else {
			archive_entry_set_filetype(ae, e[i].type);
			if (e[i].type == AE_IFLNK)
				archive_entry_set_symlink(ae, e[i].data);
			if (e[i].type == AE_IFCHR) {
				archive_entry_set_rdevmajor(ae, 1); /* /dev/null's numbers */
				archive_entry_set_rdevminor(ae, 3);
			}
			archive_entry_set_size(ae, (la_int64_t)len);
		}
		assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
		if (len)
			assert_int_equal(archive_write_data(a, e[i].data, len), (la_ssize_t)len);
		archive_entry_free(ae);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	assert_int_equal(fstat(lf->fd, &st), 0);
	lf->size = (uint64_t)st.st_size;
}

/* The digest of a file's bytes, from a given offset to its end. */
static void file_digest(int fd, struct image_digest *d)
{
	uint8_t buf[4096], md[DIGEST_MAX_LEN];
	struct digest_ctx c;
	ssize_t n;
	off_t off = 0;

	assert_int_equal(digest_init(&c, DIGEST_SHA256), 0);
	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		digest_update(&c, buf, (size_t)n);
		off += n;
	}
	digest_final(&c, md);
	image_digest_set(d, DIGEST_SHA256, md);
}

struct fixture {
	struct tree t;
	struct spool s;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(tree_init(&f->t), 0);
	assert_int_equal(spool_open(&f->s, "/tmp"), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	tree_free(&f->t);
	spool_close(&f->s);
	free(f);
	return 0;
}

static int apply_ex(struct fixture *f, uint16_t layer, int filter, enum layer_compression c,
		    const struct tentry *e, size_t n, const struct image_digest *blob,
		    const struct image_digest *diff)
{
	struct layer_file lf;
	struct blob_region r;
	struct layer_stats st;
	struct layer_input in = {
		.region = &r, .compression = c, .blob_digest = blob, .diff_id = diff, .what = "the layer"};
	int ret;

	write_layer(&lf, filter, e, n);
	r = (struct blob_region){.fd = lf.fd, .size = lf.size};
	ret = layer_apply(&f->t, &f->s, layer, &in, &st);
	close(lf.fd);
	return ret;
}

static int apply(struct fixture *f, uint16_t layer, const struct tentry *e, size_t n)
{
	return apply_ex(f, layer, ARCHIVE_FILTER_GZIP, LAYER_GZIP, e, n, NULL, NULL);
}

static bool exists(struct fixture *f, const char *path)
{
	return tree_lookup(&f->t, path, false) != NULL;
}

static void expect_content(struct fixture *f, const char *path, const char *want)
{
	struct tree_node *n = tree_lookup(&f->t, path, true);
	char buf[256] = "";

	assert_non_null(n);
	assert_true(S_ISREG(n->mode));
	assert_int_equal(n->inode->size, strlen(want));
	assert_int_equal(spool_read(&f->s, n->inode->data_off, buf, (size_t)n->inode->size), 0);
	assert_string_equal(buf, want);
}

static void test_layers_and_whiteouts(void **state)
{
	struct fixture *f = *state;
	const struct tentry l1[] = {
		DIR_("a"),	    FILE_("a/x", "x1"), FILE_("a/y", "y1"),	   DIR_("b"),
		FILE_("b/z", "z1"), FILE_("./c", "c1"), FILE_("deep/er/file", "d")};
	const struct tentry l2[] = {FILE_("a/.wh.x", ""), FILE_(".wh.b", ""), FILE_("c", "c2"),
				    FILE_(".wh..wh.plnk", "")};

	assert_int_equal(apply(f, 1, l1, ARRAY_SIZE(l1)), 0);
	/* parents nobody named are made 0755 */
	assert_int_equal(tree_lookup(&f->t, "deep/er", false)->mode, S_IFDIR | 0755);
	assert_int_equal(apply(f, 2, l2, ARRAY_SIZE(l2)), 0);
	assert_false(exists(f, "a/x"));
	expect_content(f, "a/y", "y1");
	assert_false(exists(f, "b"));
	assert_false(exists(f, "b/z"));
	expect_content(f, "c", "c2");
	assert_false(exists(f, ".wh..wh.plnk"));
	assert_false(exists(f, "a/.wh.x"));
}

static void test_opaque_before_own_entries(void **state)
{
	struct fixture *f = *state;
	const struct tentry l1[] = {DIR_("d"), FILE_("d/old", "o"), DIR_("d/sub"), FILE_("d/sub/deep", "s")};
	/* The marker comes after one of the layer's own entries: it must not hide it. */
	const struct tentry l2[] = {FILE_("d/new", "n"), FILE_("d/.wh..wh..opq", ""), FILE_("d/after", "a")};

	assert_int_equal(apply(f, 1, l1, ARRAY_SIZE(l1)), 0);
	assert_int_equal(apply(f, 2, l2, ARRAY_SIZE(l2)), 0);
	assert_false(exists(f, "d/old"));
	assert_false(exists(f, "d/sub"));
	expect_content(f, "d/new", "n");
	expect_content(f, "d/after", "a");
}

static void test_whiteout_spares_own_layer(void **state)
{
	struct fixture *f = *state;
	struct tentry l1[] = {DIR_("a"), FILE_("a/old", "o"), FILE_("f", "1")};
	const struct tentry l2[] = {FILE_("f", "2"), FILE_(".wh.f", ""), FILE_("a/new", "n"),
				    FILE_(".wh.a", "")};
	struct tree_node *a;

	l1[0].mode = 0700;
	l1[0].uid = 5;
	assert_int_equal(apply(f, 1, l1, ARRAY_SIZE(l1)), 0);
	assert_int_equal(apply(f, 2, l2, ARRAY_SIZE(l2)), 0);
	expect_content(f, "f", "2");
	expect_content(f, "a/new", "n");
	assert_false(exists(f, "a/old"));
	/* "a" of layer 1 is gone; the "a" left is the one layer 2's own entry needed, made as a parent is */
	a = tree_lookup(&f->t, "a", false);
	assert_int_equal(a->mode, S_IFDIR | 0755);
	assert_int_equal(a->uid, 0);
}

static void test_replacements(void **state)
{
	struct fixture *f = *state;
	const struct tentry l1[] = {DIR_("x"), FILE_("x/in", "i"), FILE_("y", "file"), DIR_("z"),
				    FILE_("z/keep", "k")};
	struct tentry l2[] = {FILE_("x", "now a file"), DIR_("y"), FILE_("y/in", "i2"), DIR_("z")};

	l2[3].mode = 0711;
	assert_int_equal(apply(f, 1, l1, ARRAY_SIZE(l1)), 0);
	assert_int_equal(apply(f, 2, l2, ARRAY_SIZE(l2)), 0);
	expect_content(f, "x", "now a file");
	assert_false(exists(f, "x/in"));
	expect_content(f, "y/in", "i2");
	/* a directory over a directory: new attributes, old contents */
	assert_int_equal(tree_lookup(&f->t, "z", false)->mode, S_IFDIR | 0711);
	expect_content(f, "z/keep", "k");
}

static void test_hardlinks(void **state)
{
	struct fixture *f = *state;
	const struct tentry l1[] = {FILE_("h1", "shared"), HARD_("h2", "h1"), HARD_("./h3", "./h1"),
				    LINK_("s", "h1"), HARD_("s2", "s")};
	const struct tentry l2[] = {FILE_("h1", "new")};
	struct tree_node *h2, *h3, *s2;

	assert_int_equal(apply(f, 1, l1, ARRAY_SIZE(l1)), 0);
	h2 = tree_lookup(&f->t, "h2", false);
	h3 = tree_lookup(&f->t, "h3", false);
	assert_ptr_equal(h2->inode, tree_lookup(&f->t, "h1", false)->inode);
	assert_ptr_equal(h2->inode, h3->inode);
	assert_int_equal(h2->inode->names, 3);
	/* a hard link to a symlink is the symlink */
	s2 = tree_lookup(&f->t, "s2", false);
	assert_true(S_ISLNK(s2->mode));
	assert_string_equal(s2->target, "h1");
	assert_int_equal(apply(f, 2, l2, ARRAY_SIZE(l2)), 0);
	expect_content(f, "h1", "new");
	expect_content(f, "h2", "shared");
	assert_int_equal(tree_lookup(&f->t, "h2", false)->inode->names, 2);
}

static void test_symlinks_stay_inside(void **state)
{
	struct fixture *f = *state;
	const struct tentry l1[] = {
		DIR_("etc"), LINK_("etc2", "/etc"),	LINK_("up", "../../.."), LINK_("rel", "etc/../etc"),
		DIR_("var"), LINK_("var/run", "../run")};
	const struct tentry l2[] = {FILE_("etc2/conf", "c"), FILE_("up/top", "t"), FILE_("rel/r", "r"),
				    FILE_("var/run/pid", "p")};

	assert_int_equal(apply(f, 1, l1, ARRAY_SIZE(l1)), 0);
	assert_int_equal(apply(f, 2, l2, ARRAY_SIZE(l2)), 0);
	expect_content(f, "etc/conf", "c");
	expect_content(f, "top", "t");
	expect_content(f, "etc/r", "r");
	expect_content(f, "run/pid", "p"); /* made where the link points, inside the root */
	assert_true(S_ISLNK(tree_lookup(&f->t, "etc2", false)->mode));
}

static void expect_layer_error(struct fixture *f, const struct tentry *e, size_t n, int err,
			       const char *fragment)
{
	int ret = apply(f, 3, e, n);

	assert_int_equal(ret, -err);
	if (!strstr(err_msg(), fragment))
		fail_msg("error '%s' does not mention '%s'", err_msg(), fragment);
}

static void test_refusals(void **state)
{
	struct fixture *f = *state;
	const struct tentry abs[] = {FILE_("/etc/passwd", "x")};
	const struct tentry dots[] = {FILE_("a/../../x", "x")};
	const struct tentry wh[] = {FILE_("a/.wh..", "")};
	const struct tentry loop[] = {LINK_("l1", "l2"), LINK_("l2", "l1"), FILE_("l1/x", "x")};
	const struct tentry notdir[] = {FILE_("file", "f"), FILE_("file/x", "x")};
	const struct tentry hard_missing[] = {HARD_("h", "nowhere")};
	const struct tentry hard_dir[] = {DIR_("dd"), HARD_("h", "dd")};
	const struct tentry hard_out[] = {HARD_("h", "../etc/shadow")};

	expect_layer_error(f, abs, 1, EINVAL, "absolute path");
	expect_layer_error(f, dots, 1, EINVAL, "'..'");
	expect_layer_error(f, wh, 1, EINVAL, "names no file");
	expect_layer_error(f, loop, 3, ELOOP, "more than 40 symlinks");
	expect_layer_error(f, notdir, 2, ENOTDIR, "not a directory");
	expect_layer_error(f, hard_missing, 1, ENOENT, "not in the image");
	expect_layer_error(f, hard_dir, 2, EPERM, "directory");
	expect_layer_error(f, hard_out, 1, EINVAL, "'..'");
	assert_non_null(strstr(err_msg(), "the layer: "));
}

static void test_digests_and_compression(void **state)
{
	struct fixture *f = *state;
	const struct tentry e[] = {FILE_("f", "contents")};
	struct image_digest blob, diff, wrong;
	struct layer_file lf, raw;
	struct blob_region r;
	struct layer_stats st;
	struct layer_input in = {.region = &r, .compression = LAYER_ZSTD, .what = "the layer"};

	write_layer(&lf, ARCHIVE_FILTER_ZSTD, e, 1);
	write_layer(&raw, ARCHIVE_FILTER_NONE, e, 1);
	file_digest(lf.fd, &blob);
	file_digest(raw.fd, &diff);
	assert_int_equal(
		image_digest_parse("sha256:"
				   "0000000000000000000000000000000000000000000000000000000000000000",
				   "x", &wrong),
		0);
	r = (struct blob_region){.fd = lf.fd, .size = lf.size};
	in.blob_digest = &blob;
	in.diff_id = &diff;
	assert_int_equal(layer_apply(&f->t, &f->s, 1, &in, &st), 0);
	assert_int_equal(st.files, 1);
	in.blob_digest = &wrong;
	assert_int_equal(layer_apply(&f->t, &f->s, 1, &in, &st), -EBADMSG);
	assert_non_null(strstr(err_msg(), "(compressed) does not match its digest"));
	in.blob_digest = &blob;
	in.diff_id = &wrong;
	assert_int_equal(layer_apply(&f->t, &f->s, 1, &in, &st), -EBADMSG);
	assert_non_null(strstr(err_msg(), "diff_id"));
	/* said gzip, is zstd */
	in.compression = LAYER_GZIP;
	in.diff_id = NULL;
	in.blob_digest = NULL;
	assert_int_equal(layer_apply(&f->t, &f->s, 1, &in, &st), -EINVAL);
	assert_non_null(strstr(err_msg(), "not tar+gzip"));
	/* any compression when there is no media type (docker-archive) */
	in.compression = LAYER_DETECT;
	assert_int_equal(layer_apply(&f->t, &f->s, 1, &in, &st), 0);
	/* truncated: damaged; with its digest known, reported as the wrong blob */
	in.compression = LAYER_ZSTD;
	r.size = lf.size - 7;
	assert_int_equal(layer_apply(&f->t, &f->s, 1, &in, &st), -EINVAL);
	assert_non_null(strstr(err_msg(), "damaged"));
	in.blob_digest = &blob;
	assert_int_equal(layer_apply(&f->t, &f->s, 1, &in, &st), -EBADMSG);
	/* an uncompressed layer that is not a tar */
	r = (struct blob_region){.fd = raw.fd, .offset = 100, .size = raw.size - 100};
	in = (struct layer_input){.region = &r, .compression = LAYER_TAR, .what = "the layer"};
	assert_int_equal(layer_apply(&f->t, &f->s, 1, &in, &st), -EINVAL);
	close(lf.fd);
	close(raw.fd);
}

/* ---- the ramdisk ---- */

static struct parsed *find(struct parsed *e, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(e[i].name, name))
			return &e[i];
	fail_msg("no entry %s", name);
	return NULL;
}

static void test_ramdisk(void **state)
{
	struct fixture *f = *state;
	const struct tentry l1[] = {DIR_("etc"),
				    FILE_("etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
				    FILE_("etc/hostname", "builder"),
				    FILE_(".dockerenv", ""),
				    DIR_("bin"),
				    FILE_("bin/b", "busybox"),
				    HARD_("bin/a", "bin/b"),
				    LINK_("var", "/tmp"),
				    FILE_("a-b", "dash"),
				    {"null", AE_IFCHR, NULL, 0666, 0},
				    {"fifo", AE_IFIFO, NULL, 0600, 7}};
	struct image img = {.tree = &f->t, .spool = &f->s, .unpacked = true};
	struct image_run run = {.container = true, .uid = 1000, .gid = 1000};
	uint32_t groups[] = {10, 20};
	struct image_ramdisk *rd;
	struct parsed *e, *a, *b;
	uint64_t size;
	uint8_t *buf;
	size_t n;

	assert_int_equal(apply(f, 1, l1, ARRAY_SIZE(l1)), 0);
	img.plan.nlayers = 1;
	strcpy(run.cwd, "/work/dir");
	run.groups = groups;
	run.ngroups = 2;
	assert_int_equal(strv_push(&run.argv, "/bin/b", 6), 0);
	assert_int_equal(strv_push(&run.argv, "arg one", 7), 0);
	assert_int_equal(strv_push(&run.env, "A=1", 3), 0);
	assert_int_equal(image_ramdisk_open(&img, &run, &rd, &size), 0);
	buf = malloc((size_t)size);
	assert_int_equal(image_ramdisk_read(rd, buf, (size_t)size - 100), 0);
	assert_int_equal(image_ramdisk_read(rd, buf + size - 100, 100), 0);
	assert_int_equal(image_ramdisk_read(rd, buf, 1), -EIO); /* nothing past the size it announced */
	e = calloc(256, sizeof(*e));
	n = parse_archive(buf, (size_t)size, e, 256) - 1; /* without the trailer */
	for (size_t i = 1; i < n; i++)
		assert_true(strcmp(e[i - 1].name, e[i].name) < 0); /* sorted, byte order */
	assert_memory_equal(find(e, n, "cmd")->data, "/bin/b\narg one\n", 15);
	assert_memory_equal(find(e, n, "env")->data, "A=1\n", 4);
	assert_memory_equal(find(e, n, "cwd")->data, "/work/dir\n", 10);
	assert_memory_equal(find(e, n, "user")->data, "1000 1000 10 20\n", 16);
	/* hard links: one inode number, nlink 2, the contents with the last name only */
	a = find(e, n, "rootfs/bin/a");
	b = find(e, n, "rootfs/bin/b");
	assert_int_equal(a->f[F_INO], b->f[F_INO]);
	assert_int_equal(a->f[F_NLINK], 2);
	assert_int_equal(a->f[F_SIZE], 0);
	assert_int_equal(b->f[F_SIZE], 7);
	assert_memory_equal(b->data, "busybox", 7);
	/* linuxkit's rewrites and nitro-cli's directories */
	assert_memory_equal(find(e, n, "rootfs/etc/hosts")->data, "127.0.0.1       localhost\n", 26);
	assert_memory_equal(find(e, n, "rootfs/etc/mtab")->data, "/proc/mounts", 12);
	find(e, n, "rootfs/dev/pts");
	find(e, n, "rootfs/proc");
	find(e, n, "rootfs/work/dir");
	assert_true(S_ISLNK(find(e, n, "rootfs/var")->f[F_MODE])); /* the image's own var stays as it is */
	for (size_t i = 0; i < n; i++) {
		assert_null(strstr(e[i].name, "hostname"));
		assert_null(strstr(e[i].name, "dockerenv"));
	}
	/* device nodes and fifos keep their numbers, modes and owners */
	a = find(e, n, "rootfs/null");
	assert_int_equal(a->f[F_MODE], S_IFCHR | 0666);
	assert_int_equal(a->f[F_RMAJ], 1);
	assert_int_equal(a->f[F_RMIN], 3);
	a = find(e, n, "rootfs/fifo");
	assert_int_equal(a->f[F_MODE], S_IFIFO | 0600);
	assert_int_equal(a->f[F_UID], 7);
	/* mtimes are the layer's (1000 + entry index) */
	assert_int_equal(b->f[F_MTIME], 1005);
	assert_int_equal(image_ramdisk_rewind(rd), 0);
	{
		uint8_t *again = malloc((size_t)size);

		assert_int_equal(image_ramdisk_read(rd, again, (size_t)size), 0);
		assert_memory_equal(again, buf, (size_t)size);
		free(again);
	}
	image_ramdisk_close(rd);
	strv_free(&run.argv);
	strv_free(&run.env);
	free(e);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_layers_and_whiteouts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_opaque_before_own_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_whiteout_spares_own_layer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replacements, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hardlinks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlinks_stay_inside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_digests_and_compression, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ramdisk, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
