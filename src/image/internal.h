/* SPDX-License-Identifier: MIT */
/*
 * What the files of src/image share: digests, descriptors, manifests and indexes, image configs, references,
 * sources (registry, OCI layout, archives), layer application and the blob cache.  image.h is what the rest
 * of nitrovm sees; this header is for src/image itself and its tests.
 *
 * Everything here reads untrusted bytes (a registry's answers, an archive's members, a layer's entries): each
 * length, digest and JSON item is checked, and a bad one is one error with err_set() saying what and where.
 */
#ifndef NITROVM_IMAGE_INTERNAL_H
#define NITROVM_IMAGE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/strv.h"
#include "common/util.h"
#include "crypto/crypto.h"
#include "image.h"

struct json_object;
struct tree;
struct spool;

/* ---- limits, each with the reason it is what it is ---- */

/* containerd refuses manifests and indexes larger than this: nothing real comes near it. */
#define IMAGE_MAX_MANIFEST (4 * MiB)
/* A config is a few KiB; a long build history makes it tens of KiB. */
#define IMAGE_MAX_CONFIG (8 * MiB)
/* Docker refuses images deeper than 125 layers ("max depth exceeded"); twice that is surely not an image. */
#define IMAGE_MAX_LAYERS 256
/* Platforms of one index: multi-arch images list a dozen, attestations double it. */
#define IMAGE_MAX_INDEX 1024
/* One layer's blob, and the unpacked image: the ramdisk lives in enclave memory, which must be 4x the EIF. */
#define IMAGE_MAX_BLOB	   (64 * GiB)
#define IMAGE_MAX_UNPACKED (256 * GiB)
/* RFC 6838 caps a media type at 127 characters for each of its two names. */
#define IMAGE_MEDIA_TYPE_MAX 256
/* Architecture, OS and variant strings are short words ("amd64", "linux", "v8"). */
#define IMAGE_PLATFORM_WORD_MAX 32
/* A JSON document nested deeper than this is not a manifest or config (json-c's own default is 32). */
#define IMAGE_JSON_MAX_DEPTH 64

/* ---- digests (digest.c) ---- */

/* "sha512:" and 128 hex digits, the longest digest a descriptor may carry, and the NUL. */
#define IMAGE_DIGEST_STR_MAX (7 + 2 * DIGEST_MAX_LEN + 1)

struct image_digest {
	enum digest_alg alg;
	uint8_t bytes[DIGEST_MAX_LEN];
	char str[IMAGE_DIGEST_STR_MAX]; /* "sha256:<hex>" */
};

/* "sha256:" + 64 lowercase hex digits, or "sha512:" + 128; anything else is -EINVAL naming what. */
int image_digest_parse(const char *s, const char *what, struct image_digest *d);
void image_digest_set(struct image_digest *d, enum digest_alg alg, const uint8_t *bytes);
bool image_digest_equal(const struct image_digest *a, const struct image_digest *b);
/* The digest of a buffer with d's algorithm, compared: -EBADMSG naming what when it differs. */
int image_digest_verify_buf(const struct image_digest *want, const void *buf, size_t len, const char *what);
/* The first 12 hex digits, as docker shows image and layer ids. */
const char *image_digest_short(const struct image_digest *d, char out[13]);

/* An incremental check of a stream against a digest and a size. */
struct image_verifier {
	struct digest_ctx ctx;
	const struct image_digest *want; /* NULL: nothing to check */
	uint64_t bytes;
};
int image_verifier_init(struct image_verifier *v, const struct image_digest *want);
void image_verifier_update(struct image_verifier *v, const void *buf, size_t len);
/* Compare (and free): -EBADMSG with a sentence naming what when the digest differs. */
int image_verifier_finish(struct image_verifier *v, const char *what);
void image_verifier_free(struct image_verifier *v);

/* ---- untrusted JSON (json.c) ---- */

/* Parse a whole document (one value, nothing after it but blanks, no NUL bytes) whose root is an object. */
int ijson_parse(const uint8_t *buf, size_t len, const char *what, struct json_object **out);
/* The same with another type at the root (type is a json-c enum json_type). */
int ijson_parse_as(const uint8_t *buf, size_t len, const char *what, int type, struct json_object **out);
/*
 * Members of an object, type-checked.  A missing member and a JSON null are "absent": *out is left alone
 * (NULL, 0, empty) and the call fails only when required.  The wrong type is -EINVAL naming what.key.
 */
int ijson_string(struct json_object *o, const char *key, const char *what, bool required, const char **out);
int ijson_u64(struct json_object *o, const char *key, const char *what, bool required, uint64_t *out);
int ijson_object(struct json_object *o, const char *key, const char *what, bool required,
		 struct json_object **out);
int ijson_array(struct json_object *o, const char *key, const char *what, bool required,
		struct json_object **out);
/* An array of strings (each without NUL bytes); *present says whether the member was there (not null). */
int ijson_strv(struct json_object *o, const char *key, const char *what, struct strv *out, bool *present);
/* Copy a string member into a fixed buffer: longer than len - 1 bytes is -EINVAL. */
int ijson_string_buf(struct json_object *o, const char *key, const char *what, bool required, char *buf,
		     size_t len);

/* ---- media types, descriptors, manifests and indexes (manifest.c) ---- */

#define MEDIA_OCI_MANIFEST	    "application/vnd.oci.image.manifest.v1+json"
#define MEDIA_OCI_INDEX		    "application/vnd.oci.image.index.v1+json"
#define MEDIA_OCI_CONFIG	    "application/vnd.oci.image.config.v1+json"
#define MEDIA_DOCKER_MANIFEST	    "application/vnd.docker.distribution.manifest.v2+json"
#define MEDIA_DOCKER_LIST	    "application/vnd.docker.distribution.manifest.list.v2+json"
#define MEDIA_DOCKER_CONFIG	    "application/vnd.docker.container.image.v1+json"
#define MEDIA_DOCKER_SCHEMA1	    "application/vnd.docker.distribution.manifest.v1+json"
#define MEDIA_DOCKER_SCHEMA1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"
/* What a registry is asked for: every manifest and index type nitrovm reads, nothing it would refuse. */
#define MEDIA_ACCEPT MEDIA_OCI_INDEX ", " MEDIA_OCI_MANIFEST ", " MEDIA_DOCKER_LIST ", " MEDIA_DOCKER_MANIFEST

enum layer_compression {
	LAYER_TAR,
	LAYER_GZIP,
	LAYER_ZSTD,
	LAYER_DETECT, /* docker-archive: no media type, so whatever the bytes are (tar, gzip, zstd) */
};
const char *layer_compression_name(enum layer_compression c);

struct image_descriptor {
	char media_type[IMAGE_MEDIA_TYPE_MAX];
	struct image_digest digest;
	uint64_t size;
	/* From an index entry's platform: */
	bool has_platform;
	char os[IMAGE_PLATFORM_WORD_MAX], arch[IMAGE_PLATFORM_WORD_MAX], variant[IMAGE_PLATFORM_WORD_MAX];
	/* The org.opencontainers.image.ref.name annotation of an OCI layout's index entry, if any. */
	char ref_name[256];
	/* An index entry that is an attestation or other non-image artifact (Docker's buildx writes these).
	 */
	bool attestation;
};

enum manifest_kind {
	MANIFEST_IMAGE,
	MANIFEST_INDEX,
};

struct image_manifest {
	enum manifest_kind kind;
	char media_type[IMAGE_MEDIA_TYPE_MAX];
	struct image_descriptor config;
	size_t nlayers;
	struct image_descriptor *layers;
	enum layer_compression *compression;
	size_t nmanifests;
	struct image_descriptor *manifests;
};

/*
 * Parse a manifest or an index.  media_type is what the bytes were served or described as (a registry's
 * Content-Type, a descriptor's mediaType), "" when unknown: the document's own mediaType must agree with it.
 * Schema 1, encrypted layers, non-image artifacts and unknown media types are refused with a sentence.
 */
int image_manifest_parse(const uint8_t *buf, size_t len, const char *media_type, struct image_manifest *m);
void image_manifest_free(struct image_manifest *m);
/*
 * The index entry for linux/arch (arm64 also matches variant v8 or none).  No match is -ENODATA with a
 * sentence listing the platforms the index has.
 */
int image_index_select(const struct image_manifest *idx, const char *arch,
		       const struct image_descriptor **out);
/* The entry whose ref.name annotation is ref (an OCI layout's tag), or -ENODATA listing the names there are.
 */
int image_index_find_ref(const struct image_manifest *idx, const char *ref,
			 const struct image_descriptor **out);
/* "'v1', 'v2'" (the ref.name annotations of the entries) or "no names", for messages. */
void image_index_ref_names(const struct image_manifest *idx, char *buf, size_t len);
/* "amd64" or "arm64" for the names people and tools use ("x86_64", "aarch64" too); NULL for others. */
const char *image_arch_normalize(const char *arch);
/* The host's architecture as an image names it ("amd64" when unknown). */
const char *image_host_arch(void);
/* A new, empty image with its tree and spool (not yet opened): 0, or -errno with nothing left behind. */
int image_alloc(const struct image_options *o, struct image **out);

/* ---- image configs (config.c) ---- */

struct image_config {
	struct json_object *json; /* the whole document, kept for DockerInfo */
	struct image_digest id;	  /* digest of its bytes: the image ID */
	const char *arch, *os, *variant, *created, *author;
	struct strv entrypoint, cmd, env;
	bool has_entrypoint, has_cmd;
	const char *working_dir, *user;
	size_t ndiff_ids;
	struct image_digest *diff_ids;
};

/* Parse a config whose digest (its SHA-256, the image ID) the caller has verified or computed. */
int image_config_parse(const uint8_t *buf, size_t len, struct image_config *c);
void image_config_free(struct image_config *c);
/*
 * DockerInfo as nitro-cli records it: the `docker image inspect` object of the image (keys sorted, as
 * serde_json writes them), from the config alone so that every source of one image gives the same bytes.
 */
int image_config_docker_info(const struct image_config *c, uint64_t size, char **out);

/* ---- references (reference.c) ---- */

enum image_transport {
	TRANSPORT_REGISTRY,
	TRANSPORT_OCI,
	TRANSPORT_OCI_ARCHIVE,
	TRANSPORT_DOCKER_ARCHIVE,
};

/* Docker Hub: references without a registry mean it, and its API lives on another host. */
#define DOCKER_HUB_DOMAIN   "docker.io"
#define DOCKER_HUB_REGISTRY "registry-1.docker.io"
#define REFERENCE_MAX_NAME  255 /* the distribution spec's limit on a repository name */
#define REFERENCE_MAX_TAG   128

struct image_ref {
	enum image_transport transport;
	/* registry: host[:port] as the API is reached, the repository, a tag and/or a digest */
	char domain[256], registry[256], repository[REFERENCE_MAX_NAME + 1], tag[REFERENCE_MAX_TAG + 1];
	bool has_digest;
	struct image_digest digest;
	/* oci:, oci-archive:, docker-archive: the path and what follows it ("" when nothing) */
	char path[PATH_MAX];
	char ref[REFERENCE_MAX_NAME + REFERENCE_MAX_TAG + 2];
	/* ImageName when the user gives none: the reference as written, without its tag or digest */
	char name[PATH_MAX];
};

int image_ref_parse(const char *uri, struct image_ref *r);

/* ---- sources: where blobs come from (source.c, registry.c, layout.c, archive.c, docker_archive.c) ---- */

/* Bytes of a blob inside a file: a layout's blob file, an archive's member, a cached download. */
struct blob_region {
	int fd;
	uint64_t offset, size;
	bool owned; /* close fd when done */
};

struct image_layer {
	struct image_descriptor desc; /* media type, blob digest and size */
	bool has_blob_digest;	      /* docker-archive layers are known by their diff_id only */
	enum layer_compression compression;
	char member[PATH_MAX]; /* docker-archive: the member holding it */
};

/* What a reference resolves to: the config and the layers to apply, in order. */
struct image_plan {
	bool has_manifest_digest;
	struct image_digest manifest_digest;
	struct image_config config;
	size_t nlayers;
	struct image_layer *layers;
};

struct image_source;

struct image_source_ops {
	/* The document the reference names (manifest or index), its media type ("" unknown), its digest if
	 * known */
	int (*root)(struct image_source *s, uint8_t **buf, size_t *len, char *media_type, size_t mtlen);
	/* A small blob (manifest, config) by descriptor into memory, verified */
	int (*read_blob)(struct image_source *s, const struct image_descriptor *d, uint8_t **buf,
			 size_t *len);
	/* Sources without manifests (docker-archive) resolve themselves; NULL: the common walk */
	int (*resolve)(struct image_source *s, const char *arch, struct image_plan *plan);
	/* Make a layer's blob local (a download) if it is not; NULL when every blob is local already */
	int (*fetch_layer)(struct image_source *s, const struct image_layer *l, unsigned int index,
			   unsigned int total);
	/* Where layer l's bytes are */
	int (*layer_region)(struct image_source *s, const struct image_layer *l, struct blob_region *out);
	void (*close)(struct image_source *s);
};

struct image_source {
	const struct image_source_ops *ops;
	const struct image_ref *ref;
	const struct image_options *opts;
};

int source_open_registry(const struct image_ref *r, const struct image_options *o, struct image_source **out);
/* oci:DIR (layout.c); oci-archive: and docker-archive: (archive.c) */
int source_open_dir(const struct image_ref *r, const struct image_options *o, struct image_source **out);
int source_open_archive(const struct image_ref *r, const struct image_options *o, struct image_source **out);

/* The files of an OCI image layout wherever they are (a directory, an archive's members), by relative name.
 */
struct layout_files {
	/* A regular file's bytes as a region; -ENODATA (err_msg set) when there is no such file */
	int (*open)(void *arg, const char *name, struct blob_region *out);
	void (*close)(void *arg);
	void *arg;
	const char *where; /* for messages: the directory or archive */
};
/* A source over an OCI layout; it owns files (closes it with the source). */
int source_open_layout(const struct image_ref *r, const struct image_options *o,
		       const struct layout_files *files, struct image_source **out);
/* Manifest, index and platform, config: the walk every source with manifests shares (source.c). */
int source_resolve(struct image_source *s, const char *arch, struct image_plan *plan);
void image_plan_free(struct image_plan *p);
/* Read a region whole into memory (small blobs of archives and layouts), at most max bytes. */
int blob_region_read(const struct blob_region *r, size_t max, const char *what, uint8_t **buf);
void blob_region_close(struct blob_region *r);

/* ---- layers (layer.c) ---- */

struct layer_input {
	const struct blob_region *region;
	enum layer_compression compression;
	const struct image_digest *blob_digest; /* NULL: not known */
	const struct image_digest *diff_id;	/* NULL: not checked */
	const char *what;			/* "layer 2 of 5 (sha256:…)" for messages */
	const struct image_progress *progress;
};

struct layer_stats {
	uint64_t entries, files, file_bytes;
};

/* Apply one layer to the tree, its files' contents to the spool; layer is its 1-based position. */
int layer_apply(struct tree *t, struct spool *s, uint16_t layer, const struct layer_input *in,
		struct layer_stats *st);

/* ---- the image being built (image.c) ---- */

struct image {
	struct image_ref ref;
	struct image_options opts;
	struct image_source *src;
	struct image_plan plan;
	struct tree *tree;
	struct spool *spool;
	char id[2 * DIGEST_MAX_LEN + 1]; /* the config digest's hex */
	char arch[IMAGE_PLATFORM_WORD_MAX];
	uint64_t file_bytes; /* contents of every layer's files: docker inspect's Size */
	bool unpacked;
	bool finished; /* the ramdisk's rewrites are done (ramdisk.c) */
};

/* A regular file of the unpacked image (symlinks followed), whole; -ENOENT when there is none. */
int image_read_file(struct image *img, const char *path, size_t max, char **buf, size_t *len);

/* ---- users and groups (user.c) ---- */

/* An image's /etc/passwd and /etc/group contents; NULL when the image has no such file. */
struct user_db {
	const char *passwd, *group;
	size_t passwd_len, group_len;
};

struct image_user {
	uint32_t uid, gid;
	char home[PATH_MAX];
	size_t ngroups;
	uint32_t *groups;
};

/* User ("name", "uid", "name:group", "uid:gid", ...) as runc resolves it; see user.c. */
int image_user_resolve(const char *spec, const struct user_db *db, struct image_user *u);
void image_user_free(struct image_user *u);

/* ---- the blob cache (cache.c) ---- */

struct blob_cache {
	char dir[PATH_MAX]; /* .../nitrovm/blobs */
};

/* The cache under dir (NULL: $XDG_CACHE_HOME/nitrovm, else ~/.cache/nitrovm), made if missing. */
int blob_cache_open(struct blob_cache *c, const char *dir);
/* A verified blob as a region (fd owned), or -ENOENT; a hit is marked used for pruning. */
int blob_cache_get(struct blob_cache *c, const struct image_digest *d, struct blob_region *out);
/* A download in progress: an unnamed file in the cache, linked under its digest once verified. */
struct blob_cache_entry {
	int fd;
	char tmp[PATH_MAX];
	char path[PATH_MAX];
};
int blob_cache_begin(struct blob_cache *c, const struct image_digest *d, struct blob_cache_entry *e);
int blob_cache_commit(struct blob_cache_entry *e);
void blob_cache_abort(struct blob_cache_entry *e);

#endif
