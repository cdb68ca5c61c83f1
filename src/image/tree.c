// SPDX-License-Identifier: MIT
/*
 * The path index of an image's root filesystem (see tree.h for the rules it applies).
 *
 * Each node is found from its parent by name through one hash table keyed on (parent, name), so a lookup
 * costs one probe per path component whatever the directory sizes; siblings form a doubly linked list so that
 * a removal is O(1).  Paths are resolved component by component, the way the kernel walks them, so that a
 * symlink met on the way is followed inside the root and never outside it.
 */
#include "tree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"

#define TREE_MIN_BUCKETS  1024
#define IMPLICIT_DIR_MODE (S_IFDIR | 0755)
/*
 * While symlinks are followed, the rest of the path and the targets spliced in front of it live in one
 * buffer: 40 targets of up to 4 KiB each could need more, but only an image built to loop would.
 */
#define WALK_BUF (16 * 1024)

enum {
	RESOLVE_FOLLOW = 1, /* follow a symlink in the last component */
	RESOLVE_CREATE = 2, /* make missing directories, the last component included */
};

static uint64_t hash_name(const struct tree_node *parent, const char *name, size_t len)
{
	uint64_t h = 1469598103934665603ULL ^ (uint64_t)(uintptr_t)parent;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)name[i]) * 1099511628211ULL;
	return h ^ (h >> 29);
}

int tree_init(struct tree *t)
{
	uint32_t sde = 0;
	int ret;

	memset(t, 0, sizeof(*t));
	ret = source_date_epoch(&sde);
	if (ret < 0)
		return ret;
	t->default_mtime = sde;
	t->nbuckets = TREE_MIN_BUCKETS;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->buckets)
		return err_set(ENOMEM, "out of memory for the image's path index");
	t->root.mode = IMPLICIT_DIR_MODE;
	t->root.mtime = t->default_mtime;
	t->root.name = (char *)"";
	t->root.parent = &t->root;
	return 0;
}

static struct tree_node *find(const struct tree *t, const struct tree_node *parent, const char *name,
			      size_t len)
{
	struct tree_node *n = t->buckets[hash_name(parent, name, len) & (t->nbuckets - 1)];

	for (; n; n = n->hnext)
		if (n->parent == parent && !strncmp(n->name, name, len) && !n->name[len])
			return n;
	return NULL;
}

static void hash_insert(struct tree *t, struct tree_node *n)
{
	struct tree_node **b =
		&t->buckets[hash_name(n->parent, n->name, strlen(n->name)) & (t->nbuckets - 1)];

	n->hnext = *b;
	*b = n;
}

static void hash_remove(struct tree *t, struct tree_node *n)
{
	struct tree_node **p =
		&t->buckets[hash_name(n->parent, n->name, strlen(n->name)) & (t->nbuckets - 1)];

	while (*p != n)
		p = &(*p)->hnext;
	*p = n->hnext;
}

/* Keep chains short: double the table when it holds as many nodes as buckets. */
static void maybe_grow(struct tree *t)
{
	size_t nb = t->nbuckets * 2;
	struct tree_node **old = t->buckets, **b;

	if (t->nnodes < t->nbuckets)
		return;
	b = calloc(nb, sizeof(*b));
	if (!b)
		return; /* longer chains, still correct */
	t->buckets = b;
	t->nbuckets = nb;
	for (size_t i = 0; i < nb / 2; i++) {
		struct tree_node *n = old[i], *next;

		for (; n; n = next) {
			next = n->hnext;
			hash_insert(t, n);
		}
	}
	free(old);
}

static void inode_release(struct tree_inode *ino)
{
	if (ino && !--ino->names)
		free(ino);
}

static void release_payload(struct tree_node *n)
{
	if (S_ISREG(n->mode))
		inode_release(n->inode);
	else if (S_ISLNK(n->mode))
		free(n->target);
	n->inode = NULL;
}

static void unlink_sibling(struct tree_node *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		n->parent->child = n->next;
	if (n->next)
		n->next->prev = n->prev;
	n->prev = n->next = NULL;
}

static void free_node(struct tree *t, struct tree_node *n)
{
	hash_remove(t, n);
	release_payload(n);
	free(n->name);
	free(n);
	t->nnodes--;
}

/* Remove n and everything below it, without recursion (a tree may be thousands of levels deep). */
static void remove_subtree(struct tree *t, struct tree_node *n)
{
	struct tree_node *cur = n;

	unlink_sibling(n);
	for (;;) {
		struct tree_node *up = cur->parent;

		if (cur->child) {
			cur = cur->child;
			continue;
		}
		if (cur == n) {
			free_node(t, cur);
			return;
		}
		unlink_sibling(cur);
		free_node(t, cur);
		cur = up->child ? up->child : up;
	}
}

static struct tree_node *new_node(struct tree *t, struct tree_node *parent, const char *name, size_t len)
{
	struct tree_node *n;

	size_t plen = parent->pathlen + (parent->parent != parent) + len;

	/* Symlinks can lead below any path a layer names: bound the real depth, not only the names given. */
	if (plen > TREE_MAX_PATH) {
		err_set(ENAMETOOLONG, "a path in the image ('%.64s/%.*s') is longer than %zu bytes",
			parent->name, (int)MIN(len, 64), name, TREE_MAX_PATH);
		return NULL;
	}
	if (t->nnodes >= TREE_MAX_NODES) {
		err_set(EFBIG, "the image holds more than %u paths at once, the most nitrovm indexes",
			TREE_MAX_NODES);
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (n)
		n->name = strndup(name, len);
	if (!n || !n->name) {
		free(n);
		err_set(ENOMEM, "out of memory for the image's path index");
		return NULL;
	}
	n->parent = parent;
	n->pathlen = (uint16_t)plen;
	n->next = parent->child;
	if (n->next)
		n->next->prev = n;
	parent->child = n;
	maybe_grow(t);
	hash_insert(t, n);
	t->nnodes++;
	return n;
}

static void set_implicit(const struct tree *t, struct tree_node *n, uint16_t layer)
{
	n->mode = IMPLICIT_DIR_MODE;
	n->uid = n->gid = 0;
	n->mtime = t->default_mtime;
	n->layer = layer;
}

/* ---- path walking ---- */

struct walk {
	char buf[WALK_BUF];
	size_t pos, len;
	unsigned int hops;
};

/* The next component of w (skipping empty and "." ones) as [*name, *len); false at the end. */
static bool next_component(struct walk *w, const char **name, size_t *len)
{
	for (;;) {
		size_t start, n;

		while (w->pos < w->len && w->buf[w->pos] == '/')
			w->pos++;
		if (w->pos >= w->len)
			return false;
		start = w->pos;
		while (w->pos < w->len && w->buf[w->pos] != '/')
			w->pos++;
		n = w->pos - start;
		if (n == 1 && w->buf[start] == '.')
			continue;
		*name = w->buf + start;
		*len = n;
		return true;
	}
}

/* Whether a real component (not empty, not ".") follows the cursor. */
static bool more_components(const struct walk *w)
{
	for (size_t i = w->pos; i < w->len;) {
		size_t start = i;

		while (i < w->len && w->buf[i] != '/')
			i++;
		if (i > start && !(i - start == 1 && w->buf[start] == '.'))
			return true;
		i++;
	}
	return false;
}

/* Replace what w has consumed with target: the rest of the walk now starts with the symlink's target. */
static int splice_target(struct walk *w, const char *target, const char *path)
{
	size_t tl = strlen(target), rest = w->len - w->pos;

	if (++w->hops > TREE_MAX_SYMLINKS)
		return err_set(ELOOP, "resolving '%.256s' in the image meets more than %d symlinks (a loop?)",
			       path, TREE_MAX_SYMLINKS);
	if (tl + 1 + rest > sizeof(w->buf))
		return err_set(ENAMETOOLONG, "resolving '%.256s' in the image: its symlinks make it too long",
			       path);
	memmove(w->buf + tl + 1, w->buf + w->pos, rest);
	memcpy(w->buf, target, tl);
	w->buf[tl] = '/';
	w->pos = 0;
	w->len = tl + 1 + rest;
	return 0;
}

/*
 * Walk path from the root.  Returns the node (the root for ""), or NULL with *err: -ENOENT when a component
 * is missing (and not RESOLVE_CREATE), -ENOTDIR when one on the way is neither a directory nor a symlink.
 */
static struct tree_node *resolve(struct tree *t, const char *path, int flags, uint16_t layer, int *err)
{
	struct walk *w = malloc(sizeof(*w));
	struct tree_node *cur = &t->root, *res = NULL;
	const char *name;
	size_t len;

	*err = 0;
	if (!w) {
		*err = err_set(ENOMEM, "out of memory");
		return NULL;
	}
	w->len = strlen(path);
	w->pos = 0;
	w->hops = 0;
	memcpy(w->buf, path, w->len);
	while (next_component(w, &name, &len)) {
		bool last = !more_components(w);
		struct tree_node *c;

		if (len == 2 && name[0] == '.' && name[1] == '.') {
			cur = cur->parent; /* the root's parent is the root */
			continue;
		}
		c = find(t, cur, name, len);
		if (!c && !(flags & RESOLVE_CREATE)) {
			*err = err_set(ENOENT, "'%.*s' is not in the image (resolving '%.256s')", (int)len,
				       name, path);
			goto out;
		}
		if (!c) {
			c = new_node(t, cur, name, len);
			if (!c) {
				*err = -ENOMEM;
				goto out;
			}
			set_implicit(t, c, layer);
		}
		if (S_ISLNK(c->mode) && (!last || (flags & RESOLVE_FOLLOW))) {
			const char *target = c->target;

			if (target[0] == '/')
				cur = &t->root;
			*err = splice_target(w, target, path);
			if (*err)
				goto out;
			continue;
		}
		if (last) {
			res = c;
			goto out;
		}
		if (!S_ISDIR(c->mode)) {
			*err = err_set(ENOTDIR, "'%.256s' lies below '%.*s', which is not a directory", path,
				       (int)len, name);
			goto out;
		}
		cur = c;
	}
	res = cur;
out:
	free(w);
	if (res && (flags & RESOLVE_CREATE) && !S_ISDIR(res->mode)) {
		*err = err_set(ENOTDIR, "'%.256s' is not a directory in the image", path);
		res = NULL;
	}
	return res;
}

struct tree_node *tree_lookup(struct tree *t, const char *path, bool follow)
{
	int err;

	return resolve(t, path, follow ? RESOLVE_FOLLOW : 0, 0, &err);
}

/* Split a normalized path into its parent's path (in buf) and its last component. */
static const char *split_parent(const char *path, char *buf)
{
	const char *slash = strrchr(path, '/');

	if (!slash) {
		buf[0] = '\0';
		return path;
	}
	memcpy(buf, path, (size_t)(slash - path));
	buf[slash - path] = '\0';
	return slash + 1;
}

static int check_attr(const char *path, const struct tree_attr *a)
{
	if (a->mode & ~(uint32_t)(S_IFMT | 07777))
		return err_set(EINVAL, "'%.256s' has mode 0%o, with bits outside the type and 07777", path,
			       a->mode);
	return 0;
}

/*
 * Make path's node hold an entry with attributes a, replacing what was there unless both are directories.
 * Returns the node with its payload released (the caller sets the new one).
 */
static int put(struct tree *t, const char *path, const struct tree_attr *a, struct tree_node **out)
{
	char parent_path[TREE_MAX_PATH + 1];
	struct tree_node *parent, *n;
	const char *base;
	int ret;

	ret = check_attr(path, a);
	if (ret)
		return ret;
	if (!path[0]) {
		if (!S_ISDIR(a->mode))
			return err_set(EINVAL, "the image's root '/' must be a directory");
		n = &t->root;
		goto set;
	}
	base = split_parent(path, parent_path);
	parent = resolve(t, parent_path, RESOLVE_FOLLOW | RESOLVE_CREATE, a->layer, &ret);
	if (!parent)
		return ret;
	n = find(t, parent, base, strlen(base));
	if (n && S_ISDIR(n->mode) && S_ISDIR(a->mode))
		goto set;
	if (n)
		remove_subtree(t, n);
	n = new_node(t, parent, base, strlen(base));
	if (!n)
		return -ENOMEM;
set:
	release_payload(n);
	n->mode = a->mode;
	n->uid = a->uid;
	n->gid = a->gid;
	n->mtime = a->mtime;
	n->layer = a->layer;
	*out = n;
	return 0;
}

int tree_put_dir(struct tree *t, const char *path, const struct tree_attr *a)
{
	struct tree_node *n;

	if (!S_ISDIR(a->mode))
		return err_set(EINVAL, "'%.256s': not a directory mode", path);
	return put(t, path, a, &n);
}

int tree_put_symlink(struct tree *t, const char *path, const struct tree_attr *a, const char *target)
{
	struct tree_node *n;
	size_t len = strlen(target);
	char *copy;
	int ret;

	if (!S_ISLNK(a->mode))
		return err_set(EINVAL, "'%.256s': not a symlink mode", path);
	if (!len || len > TREE_MAX_PATH)
		return err_set(EINVAL, "symlink '%.256s' needs a target of 1 to %zu bytes", path,
			       TREE_MAX_PATH);
	copy = strdup(target);
	if (!copy)
		return err_set(ENOMEM, "out of memory");
	ret = put(t, path, a, &n);
	if (ret) {
		free(copy);
		return ret;
	}
	n->target = copy;
	return 0;
}

int tree_put_node(struct tree *t, const char *path, const struct tree_attr *a, uint32_t rmajor,
		  uint32_t rminor)
{
	uint32_t type = a->mode & S_IFMT;
	struct tree_node *n;
	int ret;

	if (type != S_IFCHR && type != S_IFBLK && type != S_IFIFO)
		return err_set(EINVAL, "'%.256s': not a device or fifo mode", path);
	ret = put(t, path, a, &n);
	if (ret)
		return ret;
	if (type != S_IFIFO) {
		n->rdev.major = rmajor;
		n->rdev.minor = rminor;
	}
	return 0;
}

int tree_put_file(struct tree *t, const char *path, const struct tree_attr *a, uint64_t data_off,
		  uint64_t size)
{
	struct tree_inode *ino;
	struct tree_node *n;
	int ret;

	if (!S_ISREG(a->mode))
		return err_set(EINVAL, "'%.256s': not a regular file mode", path);
	ino = calloc(1, sizeof(*ino));
	if (!ino)
		return err_set(ENOMEM, "out of memory");
	ino->data_off = data_off;
	ino->size = size;
	ino->names = 1;
	ret = put(t, path, a, &n);
	if (ret) {
		free(ino);
		return ret;
	}
	n->inode = ino;
	return 0;
}

int tree_put_link(struct tree *t, const char *path, const char *target, uint16_t layer)
{
	struct tree_node *tn, *n;
	struct tree_inode *ino = NULL;
	struct tree_attr a;
	char *sym = NULL;
	int ret;

	tn = resolve(t, target, 0, layer, &ret);
	if (!tn)
		return err_wrap(-ret, "hard link '%.256s' to '%.256s'", path, target);
	if (S_ISDIR(tn->mode))
		return err_set(EPERM, "hard link '%.256s' points to the directory '%.256s'", path, target);
	if (!strcmp(path, target))
		return 0;
	a = (struct tree_attr){tn->mode, tn->uid, tn->gid, tn->mtime, layer};
	/* Hold what the link shares before put(), which may remove the target (a link over its own target).
	 */
	if (S_ISREG(tn->mode)) {
		ino = tn->inode;
		ino->names++;
	} else if (S_ISLNK(tn->mode)) {
		sym = strdup(tn->target);
		if (!sym)
			return err_set(ENOMEM, "out of memory");
	}
	if (S_ISCHR(tn->mode) || S_ISBLK(tn->mode))
		return tree_put_node(t, path, &a, tn->rdev.major, tn->rdev.minor);
	ret = put(t, path, &a, &n);
	if (ret) {
		inode_release(ino);
		free(sym);
		return ret;
	}
	if (ino)
		n->inode = ino;
	else
		n->target = sym;
	return 0;
}

/*
 * A whiteout seen among a layer's entries acts as if it came before all of them: what lower layers put below
 * dir goes, what this layer put stays.  A lower directory that still holds this layer's entries becomes the
 * directory this layer would have made for them.  Returns true when dir keeps something.
 */
static bool prune_lower(struct tree *t, struct tree_node *dir, uint16_t layer)
{
	struct tree_node *c, *next;
	bool kept = false;

	for (c = dir->child; c; c = next) {
		next = c->next;
		if (S_ISDIR(c->mode)) {
			bool inner = prune_lower(t, c, layer);

			if (c->layer < layer && inner)
				set_implicit(t, c, layer);
			if (c->layer >= layer || inner) {
				kept = true;
				continue;
			}
		} else if (c->layer >= layer) {
			kept = true;
			continue;
		}
		remove_subtree(t, c);
	}
	return kept;
}

/*
 * The node at path, its last component not followed, for removals: NULL (and 0) when nothing is there,
 * which for a removal is not an error.
 */
static int existing(struct tree *t, const char *path, struct tree_node **out)
{
	char parent_path[TREE_MAX_PATH + 1];
	struct tree_node *parent;
	const char *base;
	int ret;

	*out = NULL;
	if (!path[0])
		return err_set(EINVAL, "the image's root cannot be removed");
	base = split_parent(path, parent_path);
	parent = resolve(t, parent_path, RESOLVE_FOLLOW, 0, &ret);
	if (!parent)
		return ret == -ENOENT || ret == -ENOTDIR ? 0 : ret;
	*out = find(t, parent, base, strlen(base));
	return 0;
}

int tree_whiteout(struct tree *t, const char *path, uint16_t layer)
{
	struct tree_node *n;
	int ret = existing(t, path, &n);

	if (ret || !n)
		return ret;
	if (n->layer >= layer) {
		if (S_ISDIR(n->mode))
			prune_lower(t, n, layer);
		return 0;
	}
	if (S_ISDIR(n->mode) && prune_lower(t, n, layer)) {
		set_implicit(t, n, layer);
		return 0;
	}
	remove_subtree(t, n);
	return 0;
}

int tree_opaque(struct tree *t, const char *dir, uint16_t layer)
{
	struct tree_node *n;
	int ret;

	n = resolve(t, dir, RESOLVE_FOLLOW | RESOLVE_CREATE, layer, &ret);
	if (!n)
		return ret;
	prune_lower(t, n, layer);
	return 0;
}

int tree_mkdir_p(struct tree *t, const char *path, uint16_t layer)
{
	int ret;

	return resolve(t, path, RESOLVE_FOLLOW | RESOLVE_CREATE, layer, &ret) ? 0 : ret;
}

int tree_remove(struct tree *t, const char *path)
{
	struct tree_node *n;
	int ret = existing(t, path, &n);

	if (!ret && n)
		remove_subtree(t, n);
	return ret;
}

int tree_normalize_path(const char *in, char *out)
{
	const char *p = in;
	size_t n = 0;

	if (in[0] == '/')
		return err_set(EINVAL, "'%.256s' is an absolute path; layer paths are relative to the root",
			       in);
	while (*p) {
		size_t len = strcspn(p, "/");

		if (len == 2 && p[0] == '.' && p[1] == '.')
			return err_set(EINVAL, "'%.256s' has a '..' component, which could leave the root",
				       in);
		if (len && !(len == 1 && p[0] == '.')) {
			if (n + !!n + len > TREE_MAX_PATH)
				return err_set(ENAMETOOLONG,
					       "'%.64s...' is longer than the %zu bytes a path may have", in,
					       TREE_MAX_PATH);
			if (n)
				out[n++] = '/';
			memcpy(out + n, p, len);
			n += len;
		}
		p += len;
		while (*p == '/')
			p++;
	}
	out[n] = '\0';
	return 0;
}

void tree_path(const struct tree_node *n, char *buf)
{
	size_t len = 0, pos;
	const struct tree_node *c;

	for (c = n; c->parent != c; c = c->parent)
		len += strlen(c->name) + (c->parent->parent != c->parent);
	buf[len] = '\0';
	pos = len;
	for (c = n; c->parent != c; c = c->parent) {
		size_t l = strlen(c->name);

		pos -= l;
		memcpy(buf + pos, c->name, l);
		if (c->parent->parent != c->parent)
			buf[--pos] = '/';
	}
}

int tree_walk(struct tree *t, int (*fn)(struct tree_node *n, void *arg), void *arg)
{
	struct tree_node *cur = &t->root;

	for (;;) {
		int ret = fn(cur, arg);

		if (ret)
			return ret;
		if (cur->child) {
			cur = cur->child;
			continue;
		}
		while (cur != &t->root && !cur->next)
			cur = cur->parent;
		if (cur == &t->root)
			return 0;
		cur = cur->next;
	}
}

void tree_free(struct tree *t)
{
	while (t->root.child)
		remove_subtree(t, t->root.child);
	free(t->buckets);
	t->buckets = NULL;
}
