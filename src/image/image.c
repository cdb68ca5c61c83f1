// SPDX-License-Identifier: MIT
/* An image from reference to unpacked tree: the steps image.h describes, and their progress. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "spool.h"
#include "tree.h"

static int open_source(struct image *img)
{
	switch (img->ref.transport) {
	case TRANSPORT_REGISTRY:
		return source_open_registry(&img->ref, &img->opts, &img->src);
	case TRANSPORT_OCI:
		return source_open_dir(&img->ref, &img->opts, &img->src);
	default:
		return source_open_archive(&img->ref, &img->opts, &img->src);
	}
}

int image_alloc(const struct image_options *o, struct image **out)
{
	struct image *img = calloc(1, sizeof(*img));
	int ret;

	if (!img)
		return err_set(ENOMEM, "out of memory");
	img->opts = *o;
	img->tree = calloc(1, sizeof(*img->tree));
	img->spool = calloc(1, sizeof(*img->spool));
	if (!img->tree || !img->spool) {
		free(img->tree);
		free(img->spool);
		free(img);
		return err_set(ENOMEM, "out of memory");
	}
	img->spool->fd = -1;
	ret = tree_init(img->tree);
	if (ret) {
		image_close(img);
		return ret;
	}
	*out = img;
	return 0;
}

int image_open(const char *uri, const struct image_options *o, struct image **out)
{
	struct image *img;
	int ret;

#ifndef NITROVM_HAVE_IMAGES
	(void)uri;
	(void)o;
	(void)out;
	return err_set(ENOTSUP, "this nitrovm was built without container images (libarchive, libcurl)");
#endif
	ret = image_alloc(o, &img);
	if (ret)
		return ret;
	ret = image_ref_parse(uri, &img->ref);
	if (!ret)
		ret = open_source(img);
	if (!ret)
		ret = source_resolve(img->src, o->arch, &img->plan);
	if (ret) {
		image_close(img);
		return ret;
	}
	snprintf(img->id, sizeof(img->id), "%s", strchr(img->plan.config.id.str, ':') + 1);
	snprintf(img->arch, sizeof(img->arch), "%s", image_arch_normalize(img->plan.config.arch));
	*out = img;
	return 0;
}

int image_fetch(struct image *img)
{
	if (!img->src->ops->fetch_layer)
		return 0;
	for (size_t i = 0; i < img->plan.nlayers; i++) {
		int ret = img->src->ops->fetch_layer(img->src, &img->plan.layers[i], (unsigned int)i + 1,
						     (unsigned int)img->plan.nlayers);

		if (ret)
			return ret;
	}
	return 0;
}

static int unpack_layer(struct image *img, size_t i)
{
	const struct image_layer *l = &img->plan.layers[i];
	const struct image_progress *p = img->opts.progress;
	struct blob_region r = {.fd = -1};
	struct layer_stats st;
	char what[256], shortid[13], summary[96], size[32];
	struct layer_input in = {
		.region = &r,
		.compression = l->compression,
		.blob_digest = l->has_blob_digest ? &l->desc.digest : NULL,
		.diff_id = &img->plan.config.diff_ids[i],
		.what = what,
		.progress = p,
	};
	int ret = img->src->ops->layer_region(img->src, l, &r);

	if (ret)
		return ret;
	image_digest_short(&l->desc.digest, shortid);
	snprintf(what, sizeof(what), "layer %zu of %zu (%s)", i + 1, img->plan.nlayers, l->desc.digest.str);
	if (p && p->begin)
		p->begin(p->ctx, "unpack", (unsigned int)i + 1, (unsigned int)img->plan.nlayers, shortid,
			 r.size);
	ret = layer_apply(img->tree, img->spool, (uint16_t)(i + 1), &in, &st);
	blob_region_close(&r);
	if (ret)
		return ret;
	img->file_bytes += st.file_bytes;
	size_text(st.file_bytes, size, sizeof(size));
	snprintf(summary, sizeof(summary), "%llu entries, %llu files, %s", (unsigned long long)st.entries,
		 (unsigned long long)st.files, size);
	if (p && p->end)
		p->end(p->ctx, summary);
	return 0;
}

int image_unpack(struct image *img)
{
	int ret = spool_open(img->spool, img->opts.work_dir ? img->opts.work_dir : ".");

	for (size_t i = 0; !ret && i < img->plan.nlayers; i++)
		ret = unpack_layer(img, i);
	if (!ret)
		img->unpacked = true;
	return ret;
}

int image_read_file(struct image *img, const char *path, size_t max, char **buf, size_t *len)
{
	struct tree_node *n = tree_lookup(img->tree, path, true);
	char *b;
	int ret;

	if (!n)
		return -ENOENT;
	if (!S_ISREG(n->mode))
		return err_set(EINVAL, "/%s in the image is not a regular file", path);
	if (n->inode->size > max)
		return err_set(EFBIG, "/%s in the image is %llu bytes, more than the %zu nitrovm reads", path,
			       (unsigned long long)n->inode->size, max);
	b = malloc((size_t)n->inode->size + 1);
	if (!b)
		return err_set(ENOMEM, "out of memory");
	ret = spool_read(img->spool, n->inode->data_off, b, (size_t)n->inode->size);
	if (ret) {
		free(b);
		return ret;
	}
	b[n->inode->size] = '\0';
	*buf = b;
	*len = (size_t)n->inode->size;
	return 0;
}

const char *image_arch(const struct image *img)
{
	return img->arch;
}

const char *image_name(const struct image *img)
{
	return img->ref.name;
}

const char *image_id(const struct image *img)
{
	return img->id;
}

int image_docker_info(const struct image *img, char **json)
{
	return image_config_docker_info(&img->plan.config, img->file_bytes, json);
}

void image_close(struct image *img)
{
	if (!img)
		return;
	if (img->src)
		img->src->ops->close(img->src);
	image_plan_free(&img->plan);
	if (img->tree->buckets)
		tree_free(img->tree);
	spool_close(img->spool);
	free(img->tree);
	free(img->spool);
	free(img);
}
