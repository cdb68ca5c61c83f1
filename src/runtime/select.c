// SPDX-License-Identifier: MIT
/*
 * What a container becomes, chosen from its annotations and its root filesystem:
 *
 *   passed to runc or crun: the pod's sandbox (the pause container: it holds the pod's namespaces and must
 *       be a process on the node), a container annotated nitrovm.io/enclave=false, and a container of a pod
 *       annotated nitrovm.io/containers=NAME,... that is not listed (sidecars that stay containers);
 *   EIF mode: the image carries an EIF, named by nitrovm.io/eif=PATH or at Enclaver's /enclave/application.eif,
 *       booted unchanged so that the PCRs its CI computed are the ones the enclave attests;
 *   rootfs mode: everything else; the enclave's image is packed from root.path and the process.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime.h"


static bool is_sandbox(const struct rt_bundle *b)
{
	const char *t = rt_annotation(b, RT_ANN_CRI_TYPE);

	if (!t)
		t = rt_annotation(b, RT_ANN_CRIO_TYPE);
	return t && !strcmp(t, "sandbox");
}

/* nitrovm.io/enclave: 1 true, 0 false, -1 absent. */
static int enclave_annotation(const struct rt_bundle *b, int *out)
{
	const char *v = rt_annotation(b, RT_ANN_ENCLAVE);

	*out = -1;
	if (!v)
		return 0;
	if (!strcmp(v, "true"))
		*out = 1;
	else if (!strcmp(v, "false"))
		*out = 0;
	else
		return err_set(EINVAL, "the annotation " RT_ANN_ENCLAVE " is '%.32s': use true or false", v);
	return 0;
}

/* Is name in the comma-separated list? */
static bool listed(const char *list, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = list; *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		while (n && *p == ' ') {
			p++;
			n--;
		}
		while (n && p[n - 1] == ' ')
			n--;
		if (n == len && !strncmp(p, name, len))
			return true;
		if (!end)
			break;
		p = end + 1;
	}
	return false;
}

static const char *container_name(const struct rt_bundle *b)
{
	const char *n = rt_annotation(b, RT_ANN_CRI_NAME);

	return n ? n : rt_annotation(b, RT_ANN_CRIO_NAME);
}

static bool exists_in_root(const struct rt_bundle *b, const char *path)
{
	int fd = rt_open_in_root(b->root, path);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static int choose_image(const struct rt_bundle *b, struct rt_choice *c)
{
	const char *eif = rt_annotation(b, RT_ANN_EIF);

	if (eif) {
		if (eif[0] != '/' || strlen(eif) >= sizeof(c->eif))
			return err_set(EINVAL, "the annotation " RT_ANN_EIF " '%.64s' is not an absolute path in the "
					       "container's root filesystem", eif);
		snprintf(c->eif, sizeof(c->eif), "%s", eif);
		c->mode = RT_MODE_EIF;
		c->why = "the image's EIF (" RT_ANN_EIF ")";
		return 0;
	}
	if (exists_in_root(b, RT_ENCLAVER_EIF)) {
		snprintf(c->eif, sizeof(c->eif), "%s", RT_ENCLAVER_EIF);
		c->mode = RT_MODE_EIF;
		c->why = "the image's EIF (Enclaver's " RT_ENCLAVER_EIF ")";
		return 0;
	}
	c->mode = RT_MODE_ROOTFS;
	c->why = "an EIF packed from the container's root filesystem";
	return 0;
}

int rt_select(const struct rt_bundle *b, struct rt_choice *c)
{
	const char *list = rt_annotation(b, RT_ANN_CONTAINERS), *name = container_name(b);
	int enclave, ret;

	memset(c, 0, sizeof(*c));
	c->mode = RT_MODE_PASSTHROUGH;
	if (is_sandbox(b)) {
		c->why = "the pod's sandbox container";
		return 0;
	}
	ret = enclave_annotation(b, &enclave);
	if (ret)
		return ret;
	if (!enclave) {
		c->why = RT_ANN_ENCLAVE "=false";
		return 0;
	}
	if (enclave < 0 && list && name && !listed(list, name)) {
		c->why = "not listed in " RT_ANN_CONTAINERS;
		return 0;
	}
	return choose_image(b, c);
}
