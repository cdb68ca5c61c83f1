// SPDX-License-Identifier: MIT
/*
 * libcurl and libarchive on first use (libs.h says why): dlopen by soname, every function the image code calls
 * resolved at once, so a library that is missing or too old fails the one command that needed it, with the
 * package to install, and never half-way through.  The outcome is kept: later calls say the same.
 */
#define IMAGE_LIBS_SELF
#include "libs.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "common/util.h"

struct image_libs image_libs;

struct lib {
	const char *soname, *package, *used_for;
	pthread_once_t once;
	int ret;
	char why[512];
};

static struct lib curl_lib = { IMAGE_CURL_SONAME, "libcurl4", "registries", PTHREAD_ONCE_INIT, 0, "" };
static struct lib archive_lib = { IMAGE_ARCHIVE_SONAME, "libarchive13", "image archives and layers",
				  PTHREAD_ONCE_INIT, 0, "" };

static void *lib_open(struct lib *l)
{
	void *h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		snprintf(l->why, sizeof(l->why), "container images need %s for %s, and it cannot be loaded (%s): install "
			 "Debian's %s", l->soname, l->used_for, dlerror(), l->package);
		l->ret = -ELIBACC;
	}
	return h;
}

static void lib_symbol(struct lib *l, void *h, const char *name, void **slot)
{
	if (l->ret)
		return;
	*slot = dlsym(h, name);
	if (!*slot) {
		snprintf(l->why, sizeof(l->why), "%s has no %s: it is older than this nitrovm was built for; install "
			 "Debian's %s from the same release", l->soname, name, l->package);
		l->ret = -ELIBACC;
	}
}

#define RESOLVE(l, h, f) lib_symbol(l, h, #f, (void **)&image_libs.f);

static void load_curl(void)
{
	void *h = lib_open(&curl_lib);

	if (!h)
		return;
#define CURL_SYM(f) RESOLVE(&curl_lib, h, f)
	IMAGE_CURL_FUNCS(CURL_SYM)
#undef CURL_SYM
}

static void load_archive(void)
{
	void *h = lib_open(&archive_lib);

	if (!h)
		return;
#define ARCHIVE_SYM(f) RESOLVE(&archive_lib, h, f)
	IMAGE_ARCHIVE_FUNCS(ARCHIVE_SYM)
#undef ARCHIVE_SYM
}

static int lib_result(const struct lib *l)
{
	return l->ret ? err_set(-l->ret, "%s", l->why) : 0;
}

int image_libs_curl(void)
{
	pthread_once(&curl_lib.once, load_curl);
	return lib_result(&curl_lib);
}

int image_libs_archive(void)
{
	pthread_once(&archive_lib.once, load_archive);
	return lib_result(&archive_lib);
}
