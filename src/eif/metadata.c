// SPDX-License-Identifier: MIT
/*
 * The metadata section: nitro-cli's serde_json::to_vec of its EifIdentityInfo, compact, fields in declaration
 * order, and the Docker information and custom metadata as serde_json::Value re-serialises them (keys sorted at
 * every depth, numbers in serde_json's form: common/sjson.h), so that the section's bytes are the ones
 * nitro-cli writes for the same inputs.  BuildTime honours SOURCE_DATE_EPOCH so that two builds of the same
 * inputs give the same bytes.
 */
#include "eif.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/sjson.h"
#include "common/util.h"

int eif_build_time(char *out, size_t len)
{
	struct timespec ts;
	char frac[32] = "";
	uint32_t epoch;
	struct tm tm;
	int ret;

	ret = source_date_epoch(&epoch);
	if (ret < 0)
		return ret;
	if (ret) {
		ts.tv_sec = (time_t)epoch;
		ts.tv_nsec = 0;
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
	}
	gmtime_r(&ts.tv_sec, &tm);
	/* chrono's to_rfc3339: the shortest of 0, 3, 6 or 9 fraction digits that is exact. */
	if (ts.tv_nsec % 1000000000 == 0)
		frac[0] = '\0';
	else if (ts.tv_nsec % 1000000 == 0)
		snprintf(frac, sizeof(frac), ".%03ld", ts.tv_nsec / 1000000);
	else if (ts.tv_nsec % 1000 == 0)
		snprintf(frac, sizeof(frac), ".%06ld", ts.tv_nsec / 1000);
	else
		snprintf(frac, sizeof(frac), ".%09ld", ts.tv_nsec);
	snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d%s+00:00", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
	return 0;
}

void eif_kernel_version(const uint8_t *kernel, size_t len, char *os, size_t oslen, char *ver, size_t verlen)
{
	size_t off, n;

	snprintf(os, oslen, "Unknown");
	snprintf(ver, verlen, "Unknown");
	if (eif_detect_arch(kernel, len) != EIF_ARCH_X86_64)
		return;
	snprintf(os, oslen, "Linux");
	/* Setup header field kernel_version (0x20e): offset of a NUL-terminated string, minus 0x200. */
	off = (size_t)(kernel[0x20e] | kernel[0x20f] << 8);
	if (!off)
		return;
	off += 0x200;
	if (off >= len)
		return;
	/* "6.12.107+deb12-cloud-amd64 (debian-kernel@...) #1 SMP ..." -> "6.12.107+deb12", as nitro-cli cuts. */
	for (n = 0; off + n < len && n + 1 < verlen; n++) {
		char c = (char)kernel[off + n];

		if (c == ' ' || c == '-' || c == '\0' || c < 0x20 || c > 0x7e)
			break;
	}
	if (n) {
		memcpy(ver, kernel + off, n);
		ver[n] = '\0';
	}
}

/* A JSON text as serde_json::Value holds it (common/sjson.h): NULL for null, with *ret set on error. */
static struct json_object *json_value(const char *text, size_t len, const char *what, int *ret)
{
	struct json_object *o;

	if (!text)
		return NULL;
	*ret = sjson_parse(text, len, &o);
	if (*ret)
		err_wrap(EINVAL, "%s is not valid JSON", what);
	return o;
}

int eif_metadata_build(const struct eif_metadata_in *in, char **out, size_t *len)
{
	struct json_object *root = json_object_new_object(), *bm = json_object_new_object(), *docker, *custom;
	size_t custom_len;
	char now[64];
	int ret = 0;

	if (!in->build_time) {
		ret = eif_build_time(now, sizeof(now));
		if (ret)
			goto out;
	}
	docker = json_value(in->docker_info_json, in->docker_info_json ? strlen(in->docker_info_json) : 0,
			    "the Docker information", &ret);
	if (ret)
		goto out;
	custom_len = in->custom_metadata_len;
	if (in->custom_metadata_json && !custom_len)
		custom_len = strlen(in->custom_metadata_json);
	custom = json_value(in->custom_metadata_json, custom_len, "the custom metadata file", &ret);
	if (ret) {
		json_object_put(docker);
		goto out;
	}
	/* nitro-cli's EifIdentityInfo and EifBuildInfo, fields in declaration order. */
	json_object_object_add(root, "ImageName", json_object_new_string(in->image_name));
	json_object_object_add(root, "ImageVersion", json_object_new_string(in->image_version));
	json_object_object_add(bm, "BuildTime", json_object_new_string(in->build_time ? in->build_time : now));
	json_object_object_add(bm, "BuildTool", json_object_new_string(in->build_tool));
	json_object_object_add(bm, "BuildToolVersion", json_object_new_string(in->build_tool_version));
	json_object_object_add(bm, "OperatingSystem", json_object_new_string(in->operating_system));
	json_object_object_add(bm, "KernelVersion", json_object_new_string(in->kernel_version));
	json_object_object_add(root, "BuildMetadata", bm);
	bm = NULL;
	json_object_object_add(root, "DockerInfo", docker);
	json_object_object_add(root, "CustomMetadata", custom);
	*out = sjson_write(root, false, len);
out:
	json_object_put(bm);
	json_object_put(root);
	return ret;
}
