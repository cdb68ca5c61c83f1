/* SPDX-License-Identifier: MIT */
/*
 * How nitro-cli shows an image's metadata section: "ImageName", "ImageVersion" and "Metadata" (the build
 * metadata and DockerInfo, the custom metadata's keys flattened in), the same in describe-eif and in
 * describe-enclaves --metadata.
 */
#ifndef NITROVM_EIF_DESCRIBE_H
#define NITROVM_EIF_DESCRIBE_H

struct eif;
struct json_object;

/*
 * {"ImageName", "ImageVersion", "Metadata"} of e's metadata section, read as nitro-cli's EIF reader reads it
 * (serde_json: common/sjson.h) and laid out as nitro-cli prints it.  Returns 0 with *out set, or NULL when there
 * is no metadata (no section before version 4, or a section holding null); -EINVAL when nitro-cli's reader
 * would refuse the section (not JSON, not an object, a field it requires missing or mistyped); -EDOM when the
 * custom metadata is JSON but not an object, which nitro-cli cannot flatten into "Metadata" and so fails to
 * print.  err_msg() says which.
 */
int eif_describe_metadata(const struct eif *e, struct json_object **out);

#endif
