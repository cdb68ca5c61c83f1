/* SPDX-License-Identifier: MIT */
/*
 * virtio 1.x for nitrovm's devices: the virtio-mmio transport (version 2, "modern"), split virtqueues, and the
 * devices built on them (virtio-rng now; vsock and NSM later).
 *
 * Shape.  A device is a struct virtio_device_ops plus an opaque pointer.  The machine wraps it in a transport
 * with virtio_mmio_create(), maps the transport's 4 KiB window, and forwards every vCPU access inside it to
 * virtio_mmio_access().  When the guest kicks a queue the transport calls ops->queue_notify(); the device then
 * takes buffers with virtq_pop(), fills them, gives them back with virtq_push() and interrupts the guest with
 * virtq_signal().
 *
 * The guest is untrusted.  Every ring and buffer address is checked with guest_mem_ptr() before it is used,
 * every index is checked against the queue size, chains are bounded, and every ring field is read once into a
 * local before it is trusted.  A driver that breaks the ring rules does not crash nitrovm: the device enters
 * DEVICE_NEEDS_RESET (status bit 0x40), the guest gets a configuration-change interrupt, one line is logged,
 * and every queue of the device stops until the driver writes 0 to Status.
 *
 * Locking.  Each transport has one mutex.  virtio_mmio_access() (vCPU threads) and virtio_mmio_queue_notify()
 * (the event-loop thread) take it; every ops callback and raise_irq run with it held.  The functions marked
 * "locked" below must be called with it held: a device calling them from its callbacks already holds it; a
 * device calling them from elsewhere (say, when host data arrives for vsock) wraps the calls in
 * virtio_mmio_lock() / virtio_mmio_unlock().  Callbacks must not call virtio_mmio_access(),
 * virtio_mmio_queue_notify() or virtio_mmio_lock().
 *
 * Driver mistakes at the register level are logged (one line each, within a per-device budget) and ignored:
 * accesses to registers that are not aligned 32-bit ones, reads of write-only and writes of read-only
 * registers, queue registers of a queue that does not exist or is already ready, feature writes after
 * FEATURES_OK, Status writes that clear bits without a reset, and kicks of a queue before DRIVER_OK or before it
 * is ready (the buffers wait for the next kick).  FEATURES_OK is refused (reads back clear) when the driver
 * accepted a feature the device does not offer or did not accept VIRTIO_F_VERSION_1; DRIVER_OK is refused
 * without FEATURES_OK.  A queue whose size is not a power of two up to QueueNumMax, or whose rings are not
 * wholly inside guest memory or are misaligned, is not enabled (QueueReady reads 0) and the device enters
 * DEVICE_NEEDS_RESET, with an interrupt only if DRIVER_OK is already set.
 *
 * For the machine (src/hypervisor/kvm):
 *   - Window: 4 KiB (VIRTIO_MMIO_WINDOW_SIZE); registers take only aligned 32-bit accesses, the device
 *     configuration space at VIRTIO_MMIO_CONFIG accepts any width of 1, 2, 4 or 8 bytes.
 *   - ioeventfd: register one per queue on VIRTIO_MMIO_QUEUE_NOTIFY, 4 bytes, with datamatch = queue index
 *     (the driver writes the queue index there), and call virtio_mmio_queue_notify(d, index) when it fires.  A
 *     write that matches none still reaches virtio_mmio_access(), which handles it the same way.
 *   - Interrupts: raise_irq is called each time InterruptStatus gains a bit, and again when the driver
 *     acknowledges only some of the bits, so an edge-triggered irqfd never loses one.  It runs with the device
 *     mutex held and must not call back into the transport.
 *   - Guest memory: a ring or buffer must lie wholly inside one guest_mem region (guest_mem_ptr()'s rule), so
 *     register RAM that is contiguous in guest-physical space as one region, not as adjacent pieces.
 */
#ifndef NITROVM_HW_VIRTIO_H
#define NITROVM_HW_VIRTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "hw/guest_mem.h"

/* virtio-mmio version 2 register map (virtio 1.2, 4.2.2), byte offsets in the window. */
#define VIRTIO_MMIO_MAGIC_VALUE         0x000
#define VIRTIO_MMIO_VERSION             0x004
#define VIRTIO_MMIO_DEVICE_ID           0x008
#define VIRTIO_MMIO_VENDOR_ID           0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES     0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES     0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL           0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX       0x034
#define VIRTIO_MMIO_QUEUE_NUM           0x038
#define VIRTIO_MMIO_QUEUE_READY         0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY        0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS    0x060
#define VIRTIO_MMIO_INTERRUPT_ACK       0x064
#define VIRTIO_MMIO_STATUS              0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW      0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH     0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW    0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH   0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW    0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH   0x0a4
#define VIRTIO_MMIO_SHM_SEL             0x0ac
#define VIRTIO_MMIO_SHM_LEN_LOW         0x0b0
#define VIRTIO_MMIO_SHM_LEN_HIGH        0x0b4
#define VIRTIO_MMIO_SHM_BASE_LOW        0x0b8
#define VIRTIO_MMIO_SHM_BASE_HIGH       0x0bc
#define VIRTIO_MMIO_CONFIG_GENERATION   0x0fc
#define VIRTIO_MMIO_CONFIG              0x100
#define VIRTIO_MMIO_WINDOW_SIZE         0x1000

#define VIRTIO_MMIO_MAGIC        0x74726976 /* "virt", little-endian */
#define VIRTIO_MMIO_VERSION_2    2          /* the modern layout; version 1 is the legacy one */
#define VIRTIO_MMIO_VENDOR_NITROVM 0x4e56   /* "NV"; drivers only print it */

/* InterruptStatus / InterruptACK bits. */
#define VIRTIO_MMIO_INT_VRING  0x1 /* a used buffer was added */
#define VIRTIO_MMIO_INT_CONFIG 0x2 /* configuration changed, or the device needs a reset */

/* Device status bits (virtio 1.2, 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE        0x01
#define VIRTIO_STATUS_DRIVER             0x02
#define VIRTIO_STATUS_DRIVER_OK          0x04
#define VIRTIO_STATUS_FEATURES_OK        0x08
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED             0x80

/* Feature bits the transport and queues implement (virtio 1.2, 6). */
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX     29
#define VIRTIO_F_VERSION_1          32
#define VIRTIO_BIT(b)               (1ULL << (b))
/* Added by the transport to every device's features: the split-ring code implements all three. */
#define VIRTIO_TRANSPORT_FEATURES \
	(VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX))

/* Device types (virtio 1.2, 5). */
#define VIRTIO_ID_RNG   4
#define VIRTIO_ID_VSOCK 19
#define VIRTIO_ID_NSM   33

/*
 * Split virtqueue layout in guest memory (virtio 1.2, 2.7), all fields little-endian.  Alignment the driver
 * must respect: descriptor table 16, available ring 2, used ring 4.
 */
#define VIRTQ_DESC_F_NEXT     0x1
#define VIRTQ_DESC_F_WRITE    0x2
#define VIRTQ_DESC_F_INDIRECT 0x4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 0x1
#define VIRTQ_USED_F_NO_NOTIFY     0x1
/* The largest queue size a split ring may have. */
#define VIRTQ_MAX_SIZE 32768

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[]; /* [queue size], then used_event (with EVENT_IDX) */
};

struct virtq_used_elem {
	uint32_t id; /* head descriptor index, 32 bits wide for padding */
	uint32_t len;
};

struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[]; /* [queue size], then avail_event (with EVENT_IDX) */
};

static inline uint64_t virtq_desc_table_size(unsigned int num)
{
	return 16ULL * num;
}

static inline uint64_t virtq_avail_size(unsigned int num)
{
	return 6 + 2ULL * num;
}

static inline uint64_t virtq_used_size(unsigned int num)
{
	return 6 + 8ULL * num;
}

struct virtio_mmio_dev;
struct virtq;

/* What a device (rng now; vsock and NSM later) provides.  All callbacks run with the device mutex held. */
struct virtio_device_ops {
	uint32_t device_id;
	unsigned num_queues;     /* 1 .. VIRTIO_MMIO_MAX_QUEUES */
	uint16_t queue_max_size; /* QueueNumMax of every queue: a power of two, at most VIRTQ_MAX_SIZE */
	uint64_t features;       /* device features; the transport adds VIRTIO_TRANSPORT_FEATURES */
	/*
	 * Device configuration space, off bytes past VIRTIO_MMIO_CONFIG, len 1, 2, 4 or 8, off + len <= 0xf00.
	 * The device checks off against its own configuration size.  data is zeroed before config_read, so a
	 * device may leave bytes it does not have untouched.  Either may be NULL: reads give 0, writes are dropped.
	 */
	void (*config_read)(void *dev, uint64_t off, void *data, unsigned len);
	void (*config_write)(void *dev, uint64_t off, const void *data, unsigned len);
	/* The guest kicked queue (< num_queues) and the driver is running: use virtq_pop() and friends. */
	void (*queue_notify)(void *dev, struct virtio_mmio_dev *t, unsigned queue);
	/* The driver reset the device: forget all requests in flight and every chain popped so far. */
	void (*reset)(void *dev);
	/*
	 * Optional: the driver set DRIVER_OK (features agreed, its queues set up), before any kick it made early
	 * is served.  For a device whose queues someone else runs (the vhost-user frontend, src/vhost).
	 */
	void (*driver_ok)(void *dev, struct virtio_mmio_dev *t);
};

/* Queues per device: vsock needs 3 (rx, tx, event), NSM and rng 1; the bound keeps the state fixed-size. */
#define VIRTIO_MMIO_MAX_QUEUES 8

/*
 * Create a transport for a device.  mem must outlive it.  Returns NULL (with err_set) on an ops structure that
 * breaks the rules above or on allocation failure.
 */
struct virtio_mmio_dev *virtio_mmio_create(const struct guest_mem *mem, const struct virtio_device_ops *ops,
					   void *dev_opaque, void (*raise_irq)(void *irq_opaque), void *irq_opaque);
/*
 * For a transport a vhost-user backend drives (src/vhost/backend.c) rather than a guest's vCPUs: interrupt per
 * queue (each has its own call eventfd) instead of through raise_irq, which then only reports device errors.
 */
void virtio_mmio_set_queue_irq(struct virtio_mmio_dev *d, void (*queue_irq)(void *irq_opaque, unsigned queue));
/* Frees the transport only; the device (dev_opaque) belongs to the caller. */
void virtio_mmio_destroy(struct virtio_mmio_dev *d);
/* A vCPU's access at offset inside the 4 KiB window; on a read, data is always filled (0 when ignored). */
void virtio_mmio_access(struct virtio_mmio_dev *d, uint64_t offset, void *data, unsigned len, bool is_write);
/* The guest wrote queue to QueueNotify (from the ioeventfd). */
void virtio_mmio_queue_notify(struct virtio_mmio_dev *d, unsigned queue);

void virtio_mmio_lock(struct virtio_mmio_dev *d);
void virtio_mmio_unlock(struct virtio_mmio_dev *d);

/* Locked.  Queue index of this transport, or NULL when out of range. */
struct virtq *virtio_mmio_vq(struct virtio_mmio_dev *d, unsigned queue);
/* Locked.  True once the driver set DRIVER_OK and until reset or a device error: queues may be used. */
bool virtio_mmio_running(const struct virtio_mmio_dev *d);
/* Locked.  Features both sides agreed on (0 until FEATURES_OK). */
uint64_t virtio_mmio_negotiated(const struct virtio_mmio_dev *d);
/* Locked.  The device found the driver broke a rule: enter DEVICE_NEEDS_RESET (see top).  printf-style. */
void virtio_mmio_device_error(struct virtio_mmio_dev *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Locked.  The device changed its configuration space: bump ConfigGeneration and interrupt the driver. */
void virtio_mmio_config_changed(struct virtio_mmio_dev *d);

/*
 * Where the transport's log lines go (guest misbehaviour, one line each, without a newline).  The default
 * writes "nitrovm: <line>\n" to stderr.  NULL restores the default.  Set it before creating devices.
 */
typedef void virtio_log_fn(const char *line);
void virtio_set_log(virtio_log_fn *fn);

/*
 * Virtqueue API for devices.  All locked.
 *
 * A popped chain is a list of host-mapped segments (struct iovec), the device-readable ones first, then the device-writable
 * ones (the order virtio requires of drivers; a chain that breaks it is malformed).  Segments point into guest
 * memory, which the guest may change at any time: copy what you parse before checking it.
 */
/*
 * Segments per chain.  The drivers of our devices build at most 1 (rng), 2 (NSM) or 2 + MAX_SKB_FRAGS = 19
 * (vsock tx) segments per chain; 64 leaves room, keeps struct virtq_chain at about 1 KiB on the stack, and a
 * longer chain is treated as malformed.
 */
#define VIRTQ_CHAIN_MAX_SEGS 64
/* A chain's readable and writable byte counts each fit in 32 bits (the used ring's len field); longer is malformed. */
#define VIRTQ_CHAIN_MAX_BYTES UINT32_MAX

struct virtq_chain {
	struct virtq *q;
	uint32_t gen;  /* the queue's enable generation, so a stale chain is never pushed into a new ring */
	uint16_t head; /* head descriptor index, returned in the used ring */
	unsigned nr_readable;
	unsigned nr_writable;
	uint32_t readable_bytes;
	uint32_t writable_bytes;
	/*
	 * Host addresses inside guest memory, as a scatter list so bytes can move with readv/writev:
	 * [0, nr_readable) readable, then nr_writable writable.
	 */
	struct iovec seg[VIRTQ_CHAIN_MAX_SEGS];
};

/*
 * Take the next available chain.  Returns 1 with *c filled, 0 when the queue is empty (or not running), or
 * -EIO when the ring or the chain is malformed: the device is then in DEVICE_NEEDS_RESET and every later call
 * returns 0 until the driver resets it.  With EVENT_IDX the driver kicks again only after a virtq_pop() found
 * the queue empty, so a device that stops popping while buffers remain must come back to them by itself.
 */
int virtq_pop(struct virtq *q, struct virtq_chain *c);
/*
 * Give back the chain popped last, untouched, for a later virtq_pop() to return again (say, vsock popped an rx
 * buffer and then found nothing to put in it).  Only for the most recent pop; a stale chain is ignored.
 */
void virtq_unpop(struct virtq *q, const struct virtq_chain *c);
/*
 * Whether a chain popped earlier and kept (a request answered later) still belongs to the device: the queue is
 * in use and has not been reset or re-enabled since.  Check it before writing into a kept chain's buffers.
 */
bool virtq_chain_live(const struct virtq *q, const struct virtq_chain *c);
/* Give back the n chains popped last (first is the oldest of them), none of them pushed, for later pops. */
void virtq_unpop_n(struct virtq *q, const struct virtq_chain *first, unsigned int n);
/* Return a chain to the driver with written bytes written into its writable part (clamped to that). */
void virtq_push(struct virtq *q, const struct virtq_chain *c, uint32_t written);
/* Interrupt the driver if it used buffers since the last signal and did not suppress the interrupt. */
void virtq_signal(struct virtq *q);
/*
 * vhost-user's ring base: the next available entry the device will take (GET_VRING_BASE), and where a ring
 * just enabled starts (SET_VRING_BASE; the used index then continues from the used ring's).
 */
uint16_t virtq_next_avail(const struct virtq *q);
void virtq_set_next_avail(struct virtq *q, uint16_t idx);
/*
 * For a device that hands its rings to someone else (the vhost-user frontend): whether the driver enabled the
 * queue, and its layout as the driver wrote it (checked whole against guest memory when it was enabled).
 */
bool virtq_ready(const struct virtq *q);
void virtq_layout(const struct virtq *q, uint32_t *num, uint64_t *desc, uint64_t *avail, uint64_t *used);
/* Locked.  Used buffers were added by someone else (a vhost-user backend): interrupt the driver. */
void virtio_mmio_used_interrupt(struct virtio_mmio_dev *d);
/* Copy from the chain's readable bytes, starting off bytes in; returns the bytes copied (short at the end). */
size_t virtq_chain_read(const struct virtq_chain *c, size_t off, void *buf, size_t len);
/* Copy into the chain's writable bytes, starting off bytes in; returns the bytes copied (short at the end). */
size_t virtq_chain_write(const struct virtq_chain *c, size_t off, const void *buf, size_t len);
/*
 * The chain's readable (or writable) bytes [off, off + len) as a scatter list into guest memory, for readv/writev
 * straight between the guest's buffers and a host descriptor: at most max entries, clipped at the chain's end.
 * Returns the entries filled.  The guest may change those bytes at any time: move them, never parse them.
 */
unsigned int virtq_chain_iov(const struct virtq_chain *c, bool writable, size_t off, size_t len, struct iovec *iov,
			    unsigned int max);

/*
 * virtio-rng (device id 4): one queue; each device-writable buffer gets up to VIRTIO_RNG_MAX_PER_REQUEST bytes
 * from getrandom(2).  Linux asks for at most a page at a time; the bound keeps one request from holding a vCPU
 * (and the device lock) in getrandom for long whatever the driver asks.
 */
#define VIRTIO_RNG_MAX_PER_REQUEST (64 * 1024)
struct virtio_device_ops *virtio_rng_ops(void);
/* The device state to pass as dev_opaque; NULL on allocation failure. */
void *virtio_rng_new(void);
void virtio_rng_free(void *rng);

/*
 * virtio-vsock (device id 19, src/hw/virtio/vsock.c): rx, tx and event queues, guest_cid in the configuration
 * space; the connections live in the table m (vsock/conn.h), which the device does not own.  Create the
 * transport with dev_opaque = the device, then virtio_vsock_attach() it; the machine calls
 * virtio_vsock_host_ready() whenever the table's host side has events (its descriptor polls readable).
 */
struct vsock_mux;
struct virtio_vsock;
struct virtio_device_ops *virtio_vsock_ops(void);
struct virtio_vsock *virtio_vsock_new(struct vsock_mux *m);
void virtio_vsock_attach(struct virtio_vsock *v, struct virtio_mmio_dev *t);
/* Not locked (takes the locks).  Service the host side's events and fill rx buffers with what they made ready. */
void virtio_vsock_host_ready(struct virtio_vsock *v);
void virtio_vsock_free(void *v);
/* Not locked (takes the locks).  Drop every connection and send VIRTIO_VSOCK_EVENT_TRANSPORT_RESET. */
void virtio_vsock_transport_reset(struct virtio_vsock *v);

/*
 * virtio-nsm (device id 33, src/hw/virtio/nsm.c): the Nitro Secure Module's transport, one queue, request and
 * response as two chains (see the file).  The device owns the module n (src/nsm/nsm.h) and frees it.
 */
struct nsm;
struct virtio_nsm;
struct virtio_device_ops *virtio_nsm_ops(void);
struct virtio_nsm *virtio_nsm_new(struct nsm *n);
void virtio_nsm_free(void *v);
struct nsm *virtio_nsm_module(struct virtio_nsm *v);

#endif
