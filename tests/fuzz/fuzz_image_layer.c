// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: two layers (tar, tar+gzip or tar+zstd: whatever the bytes are) applied one over the other
 * to an image's path index, then the customer ramdisk streamed from it.  The first two bytes are the first
 * layer's length; the rest after it is the second layer.
 *
 * Beyond memory errors, it checks what the rest relies on: every path in the index fits a ramdisk name, no
 * entry lies outside the root, and the ramdisk is exactly as long as announced and parses as newc.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/internal.h"
#include "image/spool.h"
#include "image/tree.h"

#define CHECK(cond)                                                                       \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "fuzz_image_layer: broken promise: %s\n", #cond); \
			abort();                                                          \
		}                                                                         \
	} while (0)

/* Larger ramdisks only cost the fuzzer time. */
#define FUZZ_MAX_RAMDISK (64 * 1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int apply(struct image *img, uint16_t layer, const uint8_t *data, size_t size)
{
	int fd = memfd_create("layer", 0), ret;
	struct blob_region r;
	struct layer_stats st;
	struct layer_input in = {.region = &r, .compression = LAYER_DETECT, .what = "the layer"};

	CHECK(fd >= 0);
	CHECK(write(fd, data, size) == (ssize_t)size);
	r = (struct blob_region){.fd = fd, .size = size};
	ret = layer_apply(img->tree, img->spool, layer, &in, &st);
	close(fd);
	return ret;
}

static int check_node(struct tree_node *n, void *arg)
{
	char path[TREE_MAX_PATH + 1];

	(void)arg;
	tree_path(n, path);
	CHECK(strlen(path) <= TREE_MAX_PATH);
	CHECK(strlen(path) == n->pathlen || n->parent == n);
	CHECK(!strstr(path, "/../") && strncmp(path, "../", 3) && path[0] != '/');
	return 0;
}

/* Framing of the stream: headers with the magic, names with their NUL, the trailer at the very end. */
static void check_ramdisk(const uint8_t *buf, uint64_t size)
{
	uint64_t off = 0;

	for (;;) {
		char num[9] = "";
		uint32_t namesize, filesize;

		CHECK(off + 110 <= size && !memcmp(buf + off, "070701", 6));
		memcpy(num, buf + off + 94, 8);
		namesize = (uint32_t)strtoul(num, NULL, 16);
		memcpy(num, buf + off + 54, 8);
		filesize = (uint32_t)strtoul(num, NULL, 16);
		CHECK(namesize >= 2 && off + 110 + namesize <= size && !buf[off + 110 + namesize - 1]);
		if (!strcmp((const char *)buf + off + 110, "TRAILER!!!"))
			break;
		off = (off + 110 + namesize + 3) & ~3ULL;
		off = (off + filesize + 3) & ~3ULL;
	}
	CHECK(((off + 110 + 11 + 3) & ~3ULL) == size);
}

static void ramdisk(struct image *img)
{
	struct image_run run = {.container = true};
	struct image_ramdisk *rd = NULL;
	uint64_t size;
	uint8_t *buf;

	strcpy(run.cwd, "/w");
	strv_push(&run.argv, "/app", 4);
	if (image_ramdisk_open(img, &run, &rd, &size) || size > FUZZ_MAX_RAMDISK) {
		image_ramdisk_close(rd);
		goto out;
	}
	buf = malloc(size);
	CHECK(!image_ramdisk_read(rd, buf, size));
	CHECK(image_ramdisk_read(rd, buf, 1) == -EIO);
	check_ramdisk(buf, size);
	free(buf);
	image_ramdisk_close(rd);
out:
	strv_free(&run.argv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tree t;
	struct spool s;
	struct image img = {.tree = &t, .spool = &s};
	size_t first;

	if (size < 2)
		return 0;
	first = (size_t)(data[0] << 8 | data[1]);
	first = first > size - 2 ? size - 2 : first;
	/* In memory (tmpfs), not on a disk: the fuzzer makes thousands a second. */
	if (tree_init(&t) || spool_open(&s, "/dev/shm"))
		abort();
	if (!apply(&img, 1, data + 2, first) && !apply(&img, 2, data + 2 + first, size - 2 - first)) {
		tree_walk(&t, check_node, NULL);
		img.plan.nlayers = 2;
		img.unpacked = true;
		ramdisk(&img);
	}
	tree_free(&t);
	spool_close(&s);
	return 0;
}
