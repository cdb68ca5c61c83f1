// SPDX-License-Identifier: MIT
/*
 * The PCR bank and what the hypervisor measures into it before the enclave runs (AWS's Nitro Enclaves documentation, "Where to get an enclave's measurements"):
 *   PCR0/1/2  the EIF's image, bootstrap and application measurements, from eif_measure (describe-eif's code),
 *             or from the image file with eif_measure_fd while the enclave boots, its identity pinned
 *   PCR3      extend(0, IAM role ARN of the parent), zero when it has none
 *   PCR4      extend(0, parent instance id)
 *   PCR8      extend(0, SHA384(DER of the signing certificate)) for signed images
 * PCR3 and PCR4 hash the raw string once: SHA384(0^48 || string), which the published PCR4 vector confirms.
 */
#include "nsm.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "eif/eif.h"
#include "eif/signature.h"

/* Where EC2 publishes the instance id to the instance (nitro-cli reads the same file). */
#define DMI_BOARD_ASSET_TAG "/sys/devices/virtual/dmi/id/board_asset_tag"
#define BOARD_ASSET_TAG_MAX 64

int nsm_boot_signature(const struct eif *e, struct nsm_boot *b)
{
	/* PCR8 is the certificate's, whatever PCR0 is: the payload check's result is not needed here. */
	static const uint8_t no_pcr0[NSM_PCR_LEN];
	struct eif_signature_check sc;
	int ret;

	b->has_pcr8 = false;
	if (!e->signature)
		return 0;
	ret = eif_signature_check(e->signature->data, e->signature->size, no_pcr0, &sc);
	if (ret < 0)
		return err_wrap(-ret, "the EIF's signature section cannot give PCR8");
	memcpy(b->pcr8, sc.pcr8, NSM_PCR_LEN);
	b->has_pcr8 = true;
	eif_signature_check_free(&sc);
	return 0;
}

static void boot_pcrs(const struct eif_measurements *m, struct nsm_boot *b)
{
	memcpy(b->pcr0, m->pcr0, NSM_PCR_LEN);
	memcpy(b->pcr1, m->pcr1, NSM_PCR_LEN);
	memcpy(b->pcr2, m->pcr2, NSM_PCR_LEN);
}

int nsm_boot_measure(const struct eif *e, struct nsm_boot *b)
{
	struct eif_measurements m;
	int ret;

	ret = eif_measure(e, &m);
	if (ret < 0)
		return ret;
	boot_pcrs(&m, b);
	return nsm_boot_signature(e, b);
}

int nsm_boot_measure_file(int fd, const struct file_pin *pin, const struct eif *layout, const atomic_bool *stop,
			  struct nsm_boot *b)
{
	struct eif_measurements m;
	struct file_pin now;
	int ret;

	ret = eif_measure_fd(fd, layout, stop, &m);
	/* Checked whatever the measurement said: a file cut short is a changed file, and is said so. */
	if (ret != -ECANCELED && (file_pin_take(fd, &now) < 0 || !file_pin_equal(pin, &now)))
		return err_set(ESTALE, "the image file changed during the launch (its size, change time or inode is "
				       "not what it was when it was loaded), so the enclave's measurements would not be "
				       "of what it runs: launch it again from an image nothing writes to");
	if (ret < 0)
		return ret;
	boot_pcrs(&m, b);
	return 0;
}

void nsm_pcrs_boot(struct nsm_pcrs *p, const struct nsm_boot *b)
{
	memset(p, 0, sizeof(*p));
	memcpy(p->value[0], b->pcr0, NSM_PCR_LEN);
	memcpy(p->value[1], b->pcr1, NSM_PCR_LEN);
	memcpy(p->value[2], b->pcr2, NSM_PCR_LEN);
	if (b->parent_role && b->parent_role[0])
		pcr_extend(p->value[3], b->parent_role, strlen(b->parent_role));
	if (b->parent_id)
		pcr_extend(p->value[4], b->parent_id, strlen(b->parent_id));
	if (b->has_pcr8)
		memcpy(p->value[8], b->pcr8, NSM_PCR_LEN);
	for (unsigned int i = 0; i < NSM_BOOT_LOCKED_PCRS; i++)
		p->locked[i] = true;
}

enum nsm_error nsm_pcr_extend(struct nsm_pcrs *p, unsigned int index, const void *data, size_t len)
{
	if (index >= NSM_MAX_PCRS)
		return NSM_E_INVALID_INDEX;
	if (p->locked[index])
		return NSM_E_READ_ONLY_INDEX;
	if (len > NSM_EXTEND_DATA_MAX)
		return NSM_E_INPUT_TOO_LARGE;
	pcr_extend(p->value[index], data, len);
	return NSM_E_SUCCESS;
}

enum nsm_error nsm_pcr_lock(struct nsm_pcrs *p, unsigned int index)
{
	if (index >= NSM_MAX_PCRS)
		return NSM_E_INVALID_INDEX;
	if (p->locked[index])
		return NSM_E_READ_ONLY_INDEX;
	p->locked[index] = true;
	return NSM_E_SUCCESS;
}

enum nsm_error nsm_pcr_lock_range(struct nsm_pcrs *p, unsigned int range)
{
	if (range > NSM_MAX_PCRS)
		return NSM_E_INVALID_INDEX;
	for (unsigned int i = 0; i < range; i++)
		p->locked[i] = true;
	return NSM_E_SUCCESS;
}

void nsm_parent_id(const char *given, char *out, size_t len)
{
	char tag[BOARD_ASSET_TAG_MAX] = "";
	FILE *f;
	size_t n = 0;

	if (given) {
		snprintf(out, len, "%s", given);
		return;
	}
	f = fopen(DMI_BOARD_ASSET_TAG, "re");
	if (f) {
		n = fread(tag, 1, sizeof(tag) - 1, f);
		fclose(f);
	}
	tag[n] = '\0';
	while (n && isspace((unsigned char)tag[n - 1]))
		tag[--n] = '\0';
	/* Off EC2 the tag is absent or a vendor's string: only an instance id names a parent instance. */
	if (strncmp(tag, "i-", 2) != 0)
		snprintf(tag, sizeof(tag), "%s", NSM_DEFAULT_PARENT_ID);
	snprintf(out, len, "%s", tag);
}

void nsm_enclave_id(const char *parent_id, uint64_t slot_uid, char *out, size_t len)
{
	snprintf(out, len, "%s-enc%llx", parent_id, (unsigned long long)slot_uid); /* nitro-cli: {:x}, no padding */
}

void nsm_launch_ids(const char *given_id, const char *parent_id, uint64_t slot_uid, char *pid, size_t pid_len,
		    char *eid, size_t eid_len)
{
	nsm_parent_id(parent_id, pid, pid_len);
	if (given_id && given_id[0])
		snprintf(eid, eid_len, "%s", given_id);
	else
		nsm_enclave_id(pid, slot_uid, eid, eid_len);
}

int nsm_check_parent_string(const char *what, const char *s, size_t max)
{
	size_t n = strlen(s);

	if (!n || n > max)
		return err_set(EINVAL, "%s must be 1 to %zu characters long (it is %zu)", what, max, n);
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return err_set(EINVAL, "%s must be printable ASCII without spaces (byte %zu is 0x%02x)",
				       what, i, (unsigned char)s[i]);
	return 0;
}
