// SPDX-License-Identifier: MIT
/*
 * The probe guest is x86_64 code (a bzImage entered in long mode): a nitrovm built for another architecture
 * carries none, and `nitrovm selftest` says so when it finds the size 0.
 */
#include <stdint.h>

const uint8_t nitrovm_probe_image[1];
const uint64_t nitrovm_probe_image_size;
