// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the virtio-mmio transport and split virtqueues: the input is a guest memory image plus a
 * program of register accesses, memory writes, kicks and device actions, run against virtio-rng or a small echo
 * device with two queues and a configuration space.  Guest memory is the device tier's fake memory (guard pages
 * around it, a canary hole between its regions, checked after every input), so * AddressSanitizer reports any access outside them; the target must never crash, hang or leak.
 *
 * Input layout:
 *   byte 0      flags: bit 0 echo device instead of rng, bit 1 bring the device up first the way Linux does,
 *               bit 2 also negotiate EVENT_IDX, bit 3 also INDIRECT_DESC
 *   byte 1      queue size for the bring-up (raw, so invalid sizes are tried too)
 *   bytes 2-3   n, little-endian: the next n bytes (at most the size of region 0) are copied to region 0
 *   rest        operations, each an opcode byte and its arguments (see run_op)
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fake_mem.h"
#include "fuzz_input.h"
#include "hw/virtio/virtio.h"

/* Guest memory is the device tier's fake memory (fake_mem.h): region 0 at 0 with the rings at fixed places and
 * buffers anywhere, region 1 at 1 MiB behind a hole and a canary. */
#define R0_GPA  FAKE_R0_GPA
#define R0_SIZE FAKE_R0_SIZE
/* Where the bring-up puts queue i's rings. */
#define RING_STRIDE 0x3000ULL
#define AVAIL_OFF   0x1000ULL
#define USED_OFF    0x2000ULL
/* Operations per input: bounds the run time of one input whatever its size. */
#define MAX_OPS 4096

/*
 * The echo device: readable bytes come back in the writable part.  It can also hold one chain back to push it
 * late (perhaps after a reset), or pop and give back.
 */
struct echo {
	uint8_t config[8];
	bool hold;
	bool unpop;
	bool have_held;
	struct virtq_chain held;
};

static void echo_config_read(void *dev, uint64_t off, void *data, unsigned len)
{
	struct echo *e = dev;

	if (off < sizeof(e->config) && len <= sizeof(e->config) - off)
		memcpy(data, e->config + off, len);
}

static void echo_config_write(void *dev, uint64_t off, const void *data, unsigned len)
{
	struct echo *e = dev;

	if (off < sizeof(e->config) && len <= sizeof(e->config) - off)
		memcpy(e->config + off, data, len);
}

static void echo_notify(void *dev, struct virtio_mmio_dev *t, unsigned queue)
{
	struct echo *e = dev;
	struct virtq *q = virtio_mmio_vq(t, queue);
	struct virtq_chain c;

	if (e->unpop) {
		if (virtq_pop(q, &c) > 0)
			virtq_unpop(q, &c);
		return;
	}
	if (e->hold && !e->have_held) {
		e->have_held = virtq_pop(q, &e->held) > 0;
		return;
	}
	while (virtq_pop(q, &c) > 0) {
		uint8_t buf[61];
		size_t off = 0, n;

		while ((n = virtq_chain_read(&c, off, buf, sizeof(buf))) > 0) {
			size_t w = virtq_chain_write(&c, off, buf, n);

			off += w;
			if (w < n)
				break;
		}
		virtq_push(q, &c, off + c.writable_bytes / 2);
	}
	virtq_signal(q);
}

static void echo_reset(void *dev)
{
	struct echo *e = dev;

	e->have_held = false;
}

static struct virtio_device_ops echo_ops = {
	.device_id = 42,
	.num_queues = 2,
	.queue_max_size = 256,
	.features = VIRTIO_BIT(0) | VIRTIO_BIT(40),
	.config_read = echo_config_read,
	.config_write = echo_config_write,
	.queue_notify = echo_notify,
	.reset = echo_reset,
};

struct vm {
	uint8_t *r0;
	struct virtio_mmio_dev *t;
	const struct virtio_device_ops *ops;
	struct echo *echo;
	unsigned irqs;
};

static void count_irq(void *opaque)
{
	struct vm *vm = opaque;

	vm->irqs++;
}

static void quiet(const char *line)
{
	(void)line;
}

static uint32_t rd32(struct vm *vm, uint64_t off)
{
	uint32_t v;

	virtio_mmio_access(vm->t, off, &v, sizeof(v), false);
	return v;
}

static void wr32(struct vm *vm, uint64_t off, uint32_t v)
{
	virtio_mmio_access(vm->t, off, &v, sizeof(v), true);
}

static void bring_up(struct vm *vm, uint8_t flags, uint32_t num)
{
	uint64_t want = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(0);

	if (flags & 4)
		want |= VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX);
	if (flags & 8)
		want |= VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC);
	wr32(vm, VIRTIO_MMIO_STATUS, 0);
	wr32(vm, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr32(vm, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	want &= rd32(vm, VIRTIO_MMIO_DEVICE_FEATURES) | ~0xffffffffULL;
	wr32(vm, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr32(vm, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)want);
	wr32(vm, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr32(vm, VIRTIO_MMIO_DRIVER_FEATURES, want >> 32);
	wr32(vm, VIRTIO_MMIO_STATUS, rd32(vm, VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_FEATURES_OK);
	for (unsigned int i = 0; i < vm->ops->num_queues; i++) {
		uint64_t base = R0_GPA + i * RING_STRIDE;

		wr32(vm, VIRTIO_MMIO_QUEUE_SEL, i);
		wr32(vm, VIRTIO_MMIO_QUEUE_NUM, num);
		wr32(vm, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)base);
		wr32(vm, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(base + AVAIL_OFF));
		wr32(vm, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)(base + USED_OFF));
		wr32(vm, VIRTIO_MMIO_QUEUE_READY, 1);
	}
	wr32(vm, VIRTIO_MMIO_STATUS, rd32(vm, VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_DRIVER_OK);
}

static unsigned access_len(uint8_t code)
{
	static const unsigned lens[] = { 4, 1, 2, 8, 4, 4, 3, 0 };

	return lens[code % 8];
}

/* A descriptor and an avail entry in queue 0/1's fixed rings, written whether or not they fit the queue size. */
static void post(struct vm *vm, struct input *in)
{
	uint8_t qi = take8(in) & 1, idx = take8(in), flags = take8(in) & 7, next = take8(in);
	uint32_t addr = take16(in) | (uint32_t)(take8(in) & 1) << 16, len = take16(in);
	uint64_t base = qi * RING_STRIDE;
	uint8_t *d = vm->r0 + base + 16ULL * idx;
	uint16_t *avail_idx = (uint16_t *)(vm->r0 + base + AVAIL_OFF + 2);
	uint16_t slot = *avail_idx % 256;

	memcpy(d, &(struct virtq_desc){ addr, len, flags, next }, sizeof(struct virtq_desc));
	if (take8(in) & 1)
		return;
	memcpy(vm->r0 + base + AVAIL_OFF + 4 + 2 * slot, &(uint16_t){ idx }, 2);
	(*avail_idx)++;
}

static void release_held(struct vm *vm, uint32_t written)
{
	struct virtq *q;

	if (!vm->echo || !vm->echo->have_held)
		return;
	virtio_mmio_lock(vm->t);
	q = vm->echo->held.q;
	virtq_push(q, &vm->echo->held, written);
	virtq_signal(q);
	vm->echo->have_held = false;
	virtio_mmio_unlock(vm->t);
}

static void run_op(struct vm *vm, struct input *in, uint8_t flags)
{
	uint8_t op = take8(in);
	uint64_t val, off;
	unsigned len;

	switch (op % 11) {
	case 0: /* register or config write */
		off = take16(in) & 0x1fff;
		len = access_len(take8(in));
		val = take64(in);
		virtio_mmio_access(vm->t, off, &val, len, true);
		break;
	case 1: /* register or config read */
		off = take16(in) & 0x1fff;
		len = access_len(take8(in));
		virtio_mmio_access(vm->t, off, &val, len, false);
		break;
	case 2: { /* the guest writes its memory */
		uint16_t at = take16(in) % R0_SIZE;
		uint8_t n = take8(in);

		n = in->left < n ? in->left : n;
		n = R0_SIZE - at < n ? R0_SIZE - at : n;
		memcpy(vm->r0 + at, in->p, n);
		in->p += n;
		in->left -= n;
		break;
	}
	case 3: /* the ioeventfd fires */
		virtio_mmio_queue_notify(vm->t, take8(in) % 4);
		break;
	case 4: /* a vCPU kicks through the register */
		wr32(vm, VIRTIO_MMIO_QUEUE_NOTIFY, take8(in) % 4);
		break;
	case 5:
		post(vm, in);
		break;
	case 6: /* a raw avail idx */
		val = take16(in);
		memcpy(vm->r0 + (take8(in) & 1) * RING_STRIDE + AVAIL_OFF + 2, &(uint16_t){ (uint16_t)val }, 2);
		break;
	case 7:
		bring_up(vm, flags, take16(in));
		break;
	case 8:
		if (vm->echo) {
			uint8_t mode = take8(in);

			vm->echo->hold = mode & 1;
			vm->echo->unpop = mode & 2;
		}
		break;
	case 9:
		release_held(vm, take32(in));
		break;
	case 10:
		virtio_mmio_lock(vm->t);
		virtio_mmio_config_changed(vm->t);
		virtio_mmio_unlock(vm->t);
		break;
	}
}

static struct fake_mem mem;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	virtio_set_log(quiet);
	if (fake_mem_init(&mem, false))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct vm vm = { 0 };
	void *rng = NULL;
	uint8_t flags = take8(&in), qsize = take8(&in);
	size_t image = take16(&in);

	fake_mem_clear(&mem);
	vm.r0 = fake_r0(&mem);
	take_bytes(&in, vm.r0, image < R0_SIZE ? image : R0_SIZE);

	if (flags & 1) {
		vm.echo = calloc(1, sizeof(*vm.echo));
		vm.ops = &echo_ops;
		rng = vm.echo;
	} else {
		rng = virtio_rng_new();
		vm.ops = virtio_rng_ops();
	}
	if (!rng)
		goto out;
	vm.t = virtio_mmio_create(&mem.gm, vm.ops, rng, count_irq, &vm);
	if (!vm.t)
		goto out;
	if (flags & 2)
		bring_up(&vm, flags, qsize);
	for (unsigned int i = 0; i < MAX_OPS && in.left; i++)
		run_op(&vm, &in, flags);
out:
	virtio_mmio_destroy(vm.t);
	if (vm.echo)
		free(vm.echo);
	else
		virtio_rng_free(rng);
	/* A write that ran off region 0 into the hole before region 1 is a finding even when nothing faulted. */
	if (!fake_canary_intact(&mem))
		abort();
	return 0;
}
