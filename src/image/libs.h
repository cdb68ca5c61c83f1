/* SPDX-License-Identifier: MIT */
/*
 * libcurl and libarchive, loaded the first time a container image needs them (libs.c) instead of by the dynamic
 * loader at every start of nitrovm: with what they link (libssl and a second look at libcrypto, GnuTLS,
 * Kerberos, LDAP, ICU, libxml2: 35 libraries) they were three quarters of the loader's work before main, on the
 * way to every enclave's first instruction, for the few commands that read images (docs/internals.md, "Before
 * main").  http.c, archive.c and layer.c include this header instead of the libraries' own and call the
 * functions by their usual names, which name the pointers resolved here; each of their entry points loads the
 * library first and fails with a sentence when it is missing.
 */
#ifndef NITROVM_IMAGE_LIBS_H
#define NITROVM_IMAGE_LIBS_H

/* The calls through pointers lose libcurl's typed curl_easy_setopt macros; the options are checked by tests. */
#define CURL_DISABLE_TYPECHECK
#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>

#define IMAGE_CURL_SONAME    "libcurl.so.4"
#define IMAGE_ARCHIVE_SONAME "libarchive.so.13"

#define IMAGE_CURL_FUNCS(X)                                                                                         \
	X(curl_global_init) X(curl_easy_init) X(curl_easy_setopt) X(curl_easy_perform) X(curl_easy_getinfo)          \
	X(curl_easy_cleanup) X(curl_easy_strerror) X(curl_easy_escape) X(curl_easy_header) X(curl_free)             \
	X(curl_slist_append) X(curl_slist_free_all) X(curl_url) X(curl_url_set) X(curl_url_get) X(curl_url_cleanup)

#define IMAGE_ARCHIVE_FUNCS(X)                                                                                      \
	X(archive_read_new) X(archive_read_free) X(archive_read_open) X(archive_read_open_fd)                        \
	X(archive_read_next_header) X(archive_read_data) X(archive_read_data_block)                                  \
	X(archive_read_support_filter_all) X(archive_read_support_filter_gzip) X(archive_read_support_filter_zstd)   \
	X(archive_read_support_format_raw) X(archive_read_support_format_tar) X(archive_filter_bytes)                \
	X(archive_filter_code) X(archive_filter_name) X(archive_errno) X(archive_error_string) X(archive_set_error) \
	X(archive_entry_filetype) X(archive_entry_hardlink) X(archive_entry_pathname) X(archive_entry_size)          \
	X(archive_entry_sparse_count) X(archive_entry_symlink) X(archive_entry_uid) X(archive_entry_gid)             \
	X(archive_entry_mtime) X(archive_entry_perm) X(archive_entry_rdevmajor) X(archive_entry_rdevminor)

struct image_libs {
#define IMAGE_LIBS_FIELD(f) __typeof__(f) *f;
	IMAGE_CURL_FUNCS(IMAGE_LIBS_FIELD)
	IMAGE_ARCHIVE_FUNCS(IMAGE_LIBS_FIELD)
#undef IMAGE_LIBS_FIELD
};
extern struct image_libs image_libs;

/* Load the library (once; later calls say the same): 0, or -ELIBACC with err_msg() naming what is missing. */
int image_libs_curl(void);
int image_libs_archive(void);

/* In the files that use them, the libraries' names are the pointers (libs.c defines IMAGE_LIBS_SELF). */
#ifndef IMAGE_LIBS_SELF
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_global_init		  (image_libs.curl_global_init)
#define curl_easy_init			  (image_libs.curl_easy_init)
#define curl_easy_setopt		  (image_libs.curl_easy_setopt)
#define curl_easy_perform		  (image_libs.curl_easy_perform)
#define curl_easy_getinfo		  (image_libs.curl_easy_getinfo)
#define curl_easy_cleanup		  (image_libs.curl_easy_cleanup)
#define curl_easy_strerror		  (image_libs.curl_easy_strerror)
#define curl_easy_escape		  (image_libs.curl_easy_escape)
#define curl_easy_header		  (image_libs.curl_easy_header)
#define curl_free			  (image_libs.curl_free)
#define curl_slist_append		  (image_libs.curl_slist_append)
#define curl_slist_free_all		  (image_libs.curl_slist_free_all)
#define curl_url			  (image_libs.curl_url)
#define curl_url_set			  (image_libs.curl_url_set)
#define curl_url_get			  (image_libs.curl_url_get)
#define curl_url_cleanup		  (image_libs.curl_url_cleanup)
#define archive_read_new		  (image_libs.archive_read_new)
#define archive_read_free		  (image_libs.archive_read_free)
#define archive_read_open		  (image_libs.archive_read_open)
#define archive_read_open_fd		  (image_libs.archive_read_open_fd)
#define archive_read_next_header	  (image_libs.archive_read_next_header)
#define archive_read_data		  (image_libs.archive_read_data)
#define archive_read_data_block		  (image_libs.archive_read_data_block)
#define archive_read_support_filter_all	  (image_libs.archive_read_support_filter_all)
#define archive_read_support_filter_gzip  (image_libs.archive_read_support_filter_gzip)
#define archive_read_support_filter_zstd  (image_libs.archive_read_support_filter_zstd)
#define archive_read_support_format_raw	  (image_libs.archive_read_support_format_raw)
#define archive_read_support_format_tar	  (image_libs.archive_read_support_format_tar)
#define archive_filter_bytes		  (image_libs.archive_filter_bytes)
#define archive_filter_code		  (image_libs.archive_filter_code)
#define archive_filter_name		  (image_libs.archive_filter_name)
#define archive_errno			  (image_libs.archive_errno)
#define archive_error_string		  (image_libs.archive_error_string)
#define archive_set_error		  (image_libs.archive_set_error)
#define archive_entry_filetype		  (image_libs.archive_entry_filetype)
#define archive_entry_hardlink		  (image_libs.archive_entry_hardlink)
#define archive_entry_pathname		  (image_libs.archive_entry_pathname)
#define archive_entry_size		  (image_libs.archive_entry_size)
#define archive_entry_sparse_count	  (image_libs.archive_entry_sparse_count)
#define archive_entry_symlink		  (image_libs.archive_entry_symlink)
#define archive_entry_uid		  (image_libs.archive_entry_uid)
#define archive_entry_gid		  (image_libs.archive_entry_gid)
#define archive_entry_mtime		  (image_libs.archive_entry_mtime)
#define archive_entry_perm		  (image_libs.archive_entry_perm)
#define archive_entry_rdevmajor		  (image_libs.archive_entry_rdevmajor)
#define archive_entry_rdevminor		  (image_libs.archive_entry_rdevminor)
#endif

#endif
