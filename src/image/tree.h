/* SPDX-License-Identifier: MIT */
/*
 * The root filesystem of a container image while its layers are applied: an index of every path (names,
 * types, modes, owners, times, symlink targets, device numbers), with the contents of regular files kept
 * outside memory, in a spool file (spool.h).  Memory grows with the number of paths, never with the size of
 * the files.
 *
 * The rules are those of the OCI image spec and of Docker's layer applier:
 *   - an entry replaces what its path held, unless both are directories (then the new attributes win and the
 *     contents merge);
 *   - missing parent directories are made (0755, root, mtime from SOURCE_DATE_EPOCH);
 *   - a symlink met on the way to an entry's parent is followed inside the root, as an unpack in a chroot
 *     would follow it: "/" and ".." never leave the root;
 *   - a whiteout removes what lower layers put at a path, an opaque marker what lower layers put below a
 *     directory, as if the layer's markers came before its own entries (a node remembers the layer that last
 *     set it);
 *   - a hard link is another name for a regular file's contents (an inode shared by its names).
 *
 * Paths given to the tree are normalized (tree_normalize_path): relative, no "." or ".." components, no empty
 * ones.  Functions return 0 or a negative errno with err_set() naming the path.
 */
#ifndef NITROVM_IMAGE_TREE_H
#define NITROVM_IMAGE_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Paths in the ramdisk are "rootfs/" + the image path and the kernel's unpacker takes at most PATH_MAX - 1
 * bytes: an image path may use the rest.
 */
#define TREE_ROOT_PREFIX "rootfs"
#define TREE_MAX_PATH	 (4095 - (sizeof(TREE_ROOT_PREFIX) - 1) - 1)
/*
 * Live paths at once.  The largest images seen (CUDA development images) hold ~250k; each path costs ~150
 * bytes here, so this bounds the index to ~150 MiB even for an image built to exhaust it.
 */
#define TREE_MAX_NODES (1000u * 1000)
/* Symlinks followed while resolving one path: Linux's own limit (MAXSYMLINKS). */
#define TREE_MAX_SYMLINKS 40

/* Regular file contents, shared by the hard links to it. */
struct tree_inode {
	uint64_t data_off; /* in the spool */
	uint64_t size;
	uint32_t names;	  /* live names pointing here */
	uint32_t emitted; /* names written out so far (the ramdisk writer's) */
	uint32_t ino;	  /* inode number in the ramdisk, 0 until assigned */
};

struct tree_node {
	struct tree_node *parent, *child, *prev, *next; /* siblings unsorted */
	struct tree_node *hnext;			/* hash chain of (parent, name) */
	char *name;
	union {
		struct tree_inode *inode; /* S_ISREG */
		char *target;		  /* S_ISLNK */
		struct {
			uint32_t major, minor;
		} rdev; /* S_ISCHR, S_ISBLK */
	};
	uint32_t mode; /* type and permissions */
	uint32_t uid, gid, mtime;
	uint16_t layer;	  /* the layer that last set this node's attributes */
	uint16_t pathlen; /* bytes of its path below the root */
};

struct tree {
	struct tree_node root;
	struct tree_node **buckets;
	size_t nbuckets, nnodes;
	uint32_t default_mtime; /* for directories the tree makes up */
};

/* Attributes of a new entry. */
struct tree_attr {
	uint32_t mode; /* type and permissions (07777) */
	uint32_t uid, gid, mtime;
	uint16_t layer;
};

int tree_init(struct tree *t);
void tree_free(struct tree *t);

/*
 * Normalize a path from a layer or an image config: strip leading "./", drop empty and "." components and
 * a trailing "/".  "" (the root itself) is allowed.  An absolute path, a ".." component or one longer than
 * TREE_MAX_PATH is -EINVAL.  out must hold TREE_MAX_PATH + 1 bytes.
 */
int tree_normalize_path(const char *in, char *out);

/* Directories, symlinks, devices and fifos. target: the symlink's; rmajor/rminor: a device's. */
int tree_put_dir(struct tree *t, const char *path, const struct tree_attr *a);
int tree_put_symlink(struct tree *t, const char *path, const struct tree_attr *a, const char *target);
int tree_put_node(struct tree *t, const char *path, const struct tree_attr *a, uint32_t rmajor,
		  uint32_t rminor);
/* A regular file whose size bytes were written to the spool at data_off. */
int tree_put_file(struct tree *t, const char *path, const struct tree_attr *a, uint64_t data_off,
		  uint64_t size);
/* Another name for what target (a path in the tree, its last component not followed) is; not a directory. */
int tree_put_link(struct tree *t, const char *path, const char *target, uint16_t layer);
/* Whiteouts: what layers below `layer` put at path / below dir goes away. */
int tree_whiteout(struct tree *t, const char *path, uint16_t layer);
int tree_opaque(struct tree *t, const char *dir, uint16_t layer);
/* mkdir -p: the directories of path that are missing (0755, root), symlinks on the way followed. */
int tree_mkdir_p(struct tree *t, const char *path, uint16_t layer);
/* Remove whatever path holds (no error when nothing), whichever layer put it there. */
int tree_remove(struct tree *t, const char *path);

/*
 * Look a path up, following symlinks (the last component too when follow) inside the root; NULL with
 * err_set() when it is not there.
 */
struct tree_node *tree_lookup(struct tree *t, const char *path, bool follow);

/* The node's path below the root into buf (TREE_MAX_PATH + 1 bytes); "" for the root. */
void tree_path(const struct tree_node *n, char *buf);

/* Call fn for every node (parents before children, siblings in no particular order); stops at a non-zero
 * return. */
int tree_walk(struct tree *t, int (*fn)(struct tree_node *n, void *arg), void *arg);

#endif
