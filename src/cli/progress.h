/* SPDX-License-Identifier: MIT */
/*
 * Progress of pulls and unpacks on stderr: a bar per step, redrawn in place, with size and speed when stderr
 * is a terminal; one line per finished step otherwise (logs stay readable); nothing when quiet.
 */
#ifndef NITROVM_CLI_PROGRESS_H
#define NITROVM_CLI_PROGRESS_H

#include <stdbool.h>

#include "image/image.h"

struct progress;

/* NULL when quiet (image_options.progress may be NULL). */
struct progress *progress_new(bool quiet);
const struct image_progress *progress_hooks(struct progress *p);
void progress_free(struct progress *p);

#endif
