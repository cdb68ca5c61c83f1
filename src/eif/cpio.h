/* SPDX-License-Identifier: MIT */
/*
 * A "newc" cpio archive writer (the initramfs format), deterministic: entries sorted by name (byte order,
 * which also puts every directory before what it contains), uid/gid 0, mtime from SOURCE_DATE_EPOCH (0 when
 * unset), inode numbers assigned in output order, hard links not preserved (every file has nlink 1 and its
 * own copy of the data; directories have nlink 2).  The archive is built in memory: ramdisks are small next
 * to enclave memory, and the EIF writer wants bytes.
 *
 * Entries are collected by the cpio_add_* calls and written, sorted, by cpio_finish(), so the order of the
 * calls does not matter.  Adding the same directory twice with the same mode is allowed (the copies merge);
 * any other duplicate name is an error.  Parent directories are not invented for hand-added entries (the
 * kernel's unpacker does not create them either): add them, or use cpio_add_tree.
 *
 * Kept from a host tree: regular files, directories, symlinks (their target is the entry's data), character
 * and block devices (with their rdev) and fifos (the kernel's unpacker recreates them with mknod, and an init
 * may rely on one).  Sockets are skipped: they only mean something to the process that bound them.
 *
 * Errors are sticky: after the first failure every later call returns the same error, so a caller may check
 * only cpio_finish().  newc stores sizes and times in 32 bits: files of 4 GiB or more are rejected.
 */
#ifndef NITROVM_EIF_CPIO_H
#define NITROVM_EIF_CPIO_H

#include <stddef.h>
#include <stdint.h>

#define CPIO_NEWC_MAGIC	      "070701"
#define CPIO_NEWC_HEADER_SIZE 110
#define CPIO_TRAILER_NAME     "TRAILER!!!"
#define CPIO_MAX_FILE_SIZE    0xffffffffULL /* c_filesize is 8 hex digits */
#define CPIO_MAX_NAME	      4095	    /* the kernel's PATH_MAX less the NUL */

struct cpio_entry;

struct cpio {
	uint8_t *buf;
	size_t len, cap;
	uint32_t next_ino;
	uint32_t mtime;
	int error;		    /* sticky: first failure */
	struct cpio_entry *entries; /* collected until cpio_finish */
	size_t nentries, entries_cap;
};

/*
 * One newc header with its name, NUL and padding, for writers that stream their archive (the container image
 * packer): *f's fields as they go in the header.  Returns the bytes written, cpio_newc_header_size(name).
 */
struct cpio_newc_fields {
	uint32_t ino, mode, uid, gid, nlink, mtime, size, rmajor, rminor;
};
size_t cpio_newc_header(uint8_t *p, const struct cpio_newc_fields *f, const char *name);
size_t cpio_newc_header_size(size_t namelen);
/* The trailer entry that ends every archive. */
size_t cpio_newc_trailer(uint8_t *p);

/* Reads SOURCE_DATE_EPOCH; a malformed value makes every later call fail with a message saying so. */
void cpio_init(struct cpio *c);
/*
 * Add entries by hand; name is the path inside the archive without a leading "/".  mode is the permission
 * bits (07777); file type bits, if given, must match the call.  cpio_add_node takes the full mode (S_IFCHR,
 * S_IFBLK or S_IFIFO plus permissions).
 */
int cpio_add_dir(struct cpio *c, const char *name, unsigned int mode);
int cpio_add_file(struct cpio *c, const char *name, unsigned int mode, const void *data, size_t len);
int cpio_add_symlink(struct cpio *c, const char *name, const char *target);
int cpio_add_node(struct cpio *c, const char *name, unsigned int mode, unsigned int rmajor,
		  unsigned int rminor);
/*
 * Add a host directory tree below prefix (prefix "" = archive root; e.g. "rootfs" for nitro-cli's customer
 * ramdisk).  Regular files, directories, symlinks, device nodes and fifos; sockets are skipped.  A non-empty
 * prefix is itself added as a directory with host_dir's mode, and its ancestors (if any) with mode 0755.
 * Permissions are taken from the host; files are read when cpio_finish() runs.
 */
int cpio_add_tree(struct cpio *c, const char *host_dir, const char *prefix);
/* Write the sorted entries and the trailer; c->buf/c->len is then the archive (freed by cpio_free). */
int cpio_finish(struct cpio *c);
void cpio_free(struct cpio *c);

#endif
