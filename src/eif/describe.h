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
 * {"ImageName", "ImageVersion", "Metadata"} of e's metadata section: NULL when it has none (before version 4),
 * or when the section is not a JSON object (err_msg() says where).
 */
struct json_object *eif_describe_metadata(const struct eif *e);

#endif
