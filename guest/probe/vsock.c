// SPDX-License-Identifier: MIT
/*
 * probe.vsock=1: the virtio-vsock device at 0xd0000000 (virtio id 19), driven by polling as the virtio spec
 * (1.2, 5.10) asks of a driver: rx buffers posted before DRIVER_OK and re-posted as they come back, an event
 * buffer posted, every packet we send carrying our buf_alloc and fwd_cnt, never more data in flight than the
 * peer's credit (buf_alloc - (tx_cnt - fwd_cnt)), a CREDIT_UPDATE once we consumed half our buffer, and
 * CREDIT_REQUEST answered.  Streams only; the parent is CID 3.
 *
 * Steps, in this order, each optional (its own words on the command line, read here so cmdline.c stays small):
 *   heartbeat             connect 3:9000, send probe.vsock.hb (default 0xb7), expect it back (as the AWS init)
 *   probe.vsock.reset=P   listen on P until a connection brings data, then reset the device and set it up again
 *                         with that connection open (a driver starting over: Linux's probe, a kexec); the host's
 *                         end of it is reset
 *   probe.vsock.echo=P:B  guest -> host: connect 3:P, send B pattern bytes, SHUTDOWN(SEND), read B bytes back
 *                         and the peer's end of stream, compare CRCs, close
 *   probe.vsock.serve=P:N host -> guest: listen on P, echo N connections (up to VC_MAX at once), passing the
 *                         peer's half-close back once everything was echoed
 *   probe.vsock.sink=P:N  figures: accept N connections on P, discard and time what they send
 *   probe.vsock.send=P:M  figures: send M MiB to 3:P (a host sink) and time it
 *   probe.vsock.ping=P:N  figures: N times connect to 3:P, one byte there and back (a host echo), close
 * probe.vsock.nohb=1 skips the heartbeat (with probe.hold=1: the missing-heartbeat test).
 */
#include "virtio_mmio.h"

#define VS_BASE	    0xd0000000UL
#define VS_CID_HOST 3 /* the parent */
#define HB_PORT	    9000
#define HB_BYTE	    0xb7
#define VIRTIO_ID_VSOCK 19

enum { Q_RX, Q_TX, Q_EVENT, NQ };

#define RX_PAYLOAD  16384 /* per rx buffer: a packet's payload is cut to what the buffer holds */
#define TX_PAYLOAD  32768 /* per packet we send */
#define HDR	    44
#define VC_MAX	    4	  /* connections at once */
#define VC_RXBUF    65536 /* our buf_alloc per connection */
#define EPHEMERAL   50000 /* first local port of our connects */
#define WAIT_US	    20000000ULL /* one step may take this long on a loaded, emulated host */

#define MIN(a, b)     ((a) < (b) ? (a) : (b))
#define MIN3(a, b, c) MIN(MIN(a, b), c)

enum { OP_REQUEST = 1, OP_RESPONSE, OP_RST, OP_SHUTDOWN, OP_RW, OP_CREDIT_UPDATE, OP_CREDIT_REQUEST };
#define SHUT_RCV  1
#define SHUT_SEND 2
#define TYPE_STREAM 1

struct hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

enum vc_state { VC_FREE, VC_CONNECTING, VC_OPEN, VC_CLOSED };

struct vconn {
	enum vc_state state;
	uint32_t lport, rport;
	bool peer_eof, peer_gone; /* SHUTDOWN(SEND) / SHUTDOWN(both) or RST received */
	bool refused;
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	uint32_t fwd_cnt, fwd_told; /* consumed; and what we last told the peer */
	uint32_t rx_head, rx_len;
	uint8_t rx[VC_RXBUF];
};

static struct {
	struct vq q[NQ];
	uint8_t rxbuf[VQ_SIZE][HDR + RX_PAYLOAD] __attribute__((aligned(64)));
	uint8_t txbuf[VQ_SIZE][HDR + TX_PAYLOAD] __attribute__((aligned(64)));
	uint8_t evbuf[VQ_SIZE][8];
	struct vconn vc[VC_MAX];
} vs __attribute__((aligned(4096), section(".noinit.vsock")));

static uint64_t my_cid;
static uint32_t next_port = EPHEMERAL;
static uint32_t listen_port; /* 0: none */
static bool tx_busy[VQ_SIZE];
static uint64_t proto_errors;

/* ---- options (probe.vsock.*) ---- */

struct vs_opt {
	bool on, nohb;
	uint32_t hb;
	uint32_t echo_port, serve_port, send_port, sink_port, ping_port, reset_port;
	uint64_t echo_bytes, serve_n, send_mib, sink_n, ping_n;
};

static uint64_t num(const char **s, const char *end)
{
	uint64_t v = 0;
	unsigned base = 10;

	if (end - *s > 2 && (*s)[0] == '0' && ((*s)[1] == 'x' || (*s)[1] == 'X')) {
		base = 16;
		*s += 2;
	}
	for (; *s < end; (*s)++) {
		char c = **s;
		unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) : 99;

		if (d >= base)
			break;
		v = v * base + d;
	}
	return v;
}

/* "key=A" or "key=A:B" */
static bool opt(const char *w, const char *end, const char *key, uint32_t *a, uint64_t *b)
{
	size_t k = strlen(key);
	const char *s = w + k + 1;

	if ((size_t)(end - w) <= k || memcmp(w, key, k) || w[k] != '=')
		return false;
	*a = (uint32_t)num(&s, end);
	if (b && s < end && *s == ':') {
		s++;
		*b = num(&s, end);
	}
	return true;
}

static void parse_opts(struct vs_opt *o)
{
	const char *p = cfg.cmdline, *end = cfg.cmdline + cfg.cmdline_len;
	uint32_t x;

	o->hb = HB_BYTE;
	while (p < end) {
		const char *w;

		while (p < end && (*p == ' ' || *p == '\t' || *p == '\n'))
			p++;
		w = p;
		while (p < end && *p != ' ' && *p != '\t' && *p != '\n')
			p++;
		if (opt(w, p, "probe.vsock", &x, NULL))
			o->on = x != 0;
		else if (opt(w, p, "probe.vsock.nohb", &x, NULL))
			o->nohb = x != 0;
		else if (opt(w, p, "probe.vsock.hb", &x, NULL))
			o->hb = x & 0xff;
		else if (opt(w, p, "probe.vsock.reset", &x, NULL))
			o->reset_port = x;
		else if (!opt(w, p, "probe.vsock.echo", &o->echo_port, &o->echo_bytes) &&
			 !opt(w, p, "probe.vsock.serve", &o->serve_port, &o->serve_n) &&
			 !opt(w, p, "probe.vsock.send", &o->send_port, &o->send_mib) &&
			 !opt(w, p, "probe.vsock.sink", &o->sink_port, &o->sink_n))
			opt(w, p, "probe.vsock.ping", &o->ping_port, &o->ping_n);
	}
}

/* ---- the device ---- */

static void vq_add(int qi, uint16_t id, uint64_t addr, uint32_t len, uint16_t flags)
{
	struct vq *q = &vs.q[qi];

	q->desc[id] = (struct vq_desc){ addr, len, flags, 0 };
	q->avail.ring[q->avail_idx % VQ_SIZE] = id;
	barrier();
	q->avail_idx++;
	*(volatile uint16_t *)&q->avail.idx = q->avail_idx;
}

static bool vs_init(void)
{
	if (!vmmio_identify(VS_BASE, "vsock", VIRTIO_ID_VSOCK) || !vmmio_negotiate(VS_BASE, "vsock", NULL))
		return false;
	/* Every queue full size: the rx and tx slots below are indexed modulo VQ_SIZE. */
	for (uint32_t qi = 0; qi < NQ; qi++)
		if (!vmmio_queue_setup(VS_BASE, "vsock", qi, &vs.q[qi], VQ_SIZE))
			return false;
	memset(&vs.vc, 0, sizeof(vs.vc));
	/* The spec wants receive buffers (and event buffers) there before DRIVER_OK. */
	for (uint16_t i = 0; i < VQ_SIZE; i++) {
		vq_add(Q_RX, i, (uint64_t)vs.rxbuf[i], sizeof(vs.rxbuf[i]), VIRTQ_DESC_F_WRITE);
		vq_add(Q_EVENT, i, (uint64_t)vs.evbuf[i], sizeof(vs.evbuf[i]), VIRTQ_DESC_F_WRITE);
	}
	vmmio_driver_ok(VS_BASE);
	vmmio_notify(VS_BASE, Q_RX);
	vmmio_notify(VS_BASE, Q_EVENT);
	my_cid = (uint64_t)vmmio_read(VS_BASE, VMMIO_CONFIG) |
		 (uint64_t)vmmio_read(VS_BASE, VMMIO_CONFIG + 4) << 32;
	for (int i = 0; i < VQ_SIZE; i++)
		tx_busy[i] = false;
	return !(vmmio_read(VS_BASE, VMMIO_STATUS) & VMMIO_ST_NEEDS_RESET);
}

/* ---- packets ---- */

/*
 * One string instruction instead of a byte loop: on the PVM hosts guest kernel code runs in KVM's instruction
 * emulator (README.md), where each emulated instruction costs microseconds, so this is what bounds the probe.
 */
static void copy(void *d, const void *s, size_t n)
{
	__asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
}

static void reclaim_tx(void)
{
	struct vq *q = &vs.q[Q_TX];

	while (q->last_used != *(volatile uint16_t *)&q->used.idx) {
		tx_busy[q->used.ring[q->last_used % VQ_SIZE].id % VQ_SIZE] = false;
		q->last_used++;
	}
}

static void poll(void);

/* Queue one packet (waits for a free tx slot).  false when the device stopped taking them. */
static bool send_pkt(struct vconn *c, uint16_t op, uint32_t flags, const uint8_t *data, uint32_t len, uint32_t rport,
		     uint32_t lport)
{
	uint64_t t0 = time_us();
	struct hdr *h;
	int slot = -1;

	while (slot < 0) {
		reclaim_tx();
		for (int i = 0; i < VQ_SIZE && slot < 0; i++)
			if (!tx_busy[i])
				slot = i;
		if (slot < 0) {
			if (time_us() - t0 > WAIT_US)
				return false;
			poll(); /* the device may be waiting for rx buffers before it takes more tx */
		}
	}
	h = (struct hdr *)vs.txbuf[slot];
	*h = (struct hdr){ .src_cid = my_cid, .dst_cid = VS_CID_HOST, .src_port = lport, .dst_port = rport,
			   .len = len, .type = TYPE_STREAM, .op = op, .flags = flags, .buf_alloc = VC_RXBUF };
	if (c) {
		h->fwd_cnt = c->fwd_cnt;
		c->fwd_told = c->fwd_cnt;
		c->tx_cnt += len;
	}
	if (len)
		copy(vs.txbuf[slot] + HDR, data, len);
	tx_busy[slot] = true;
	vq_add(Q_TX, (uint16_t)slot, (uint64_t)vs.txbuf[slot], HDR + len, 0);
	vmmio_notify(VS_BASE, Q_TX);
	return true;
}

static bool send_ctl(struct vconn *c, uint16_t op, uint32_t flags)
{
	return send_pkt(c, op, flags, NULL, 0, c->rport, c->lport);
}

static struct vconn *conn_find(uint32_t lport, uint32_t rport)
{
	for (int i = 0; i < VC_MAX; i++)
		if (vs.vc[i].state != VC_FREE && vs.vc[i].lport == lport && vs.vc[i].rport == rport)
			return &vs.vc[i];
	return NULL;
}

static struct vconn *conn_new(uint32_t lport, uint32_t rport, enum vc_state st)
{
	for (int i = 0; i < VC_MAX; i++) {
		struct vconn *c = &vs.vc[i];

		if (c->state == VC_FREE) {
			memset(c, 0, sizeof(*c) - sizeof(c->rx));
			c->state = st;
			c->lport = lport;
			c->rport = rport;
			return c;
		}
	}
	return NULL;
}

static void handle(const struct hdr *h, const uint8_t *payload, uint32_t plen)
{
	struct vconn *c;

	if (h->dst_cid != my_cid || h->src_cid != VS_CID_HOST || h->type != TYPE_STREAM) {
		proto_errors++;
		return;
	}
	c = conn_find(h->dst_port, h->src_port);
	if (!c) {
		if (h->op == OP_REQUEST && h->dst_port == listen_port &&
		    (c = conn_new(h->dst_port, h->src_port, VC_OPEN))) {
			c->peer_buf_alloc = h->buf_alloc;
			c->peer_fwd_cnt = h->fwd_cnt;
			send_ctl(c, OP_RESPONSE, 0);
		} else if (h->op != OP_RST) {
			send_pkt(NULL, OP_RST, 0, NULL, 0, h->src_port, h->dst_port);
		}
		return;
	}
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	switch (h->op) {
	case OP_RESPONSE:
		if (c->state == VC_CONNECTING)
			c->state = VC_OPEN;
		break;
	case OP_RST:
		if (c->state == VC_CONNECTING)
			c->refused = true;
		c->peer_gone = c->peer_eof = true;
		c->state = VC_CLOSED;
		break;
	case OP_SHUTDOWN:
		if (h->flags & SHUT_SEND)
			c->peer_eof = true;
		if ((h->flags & (SHUT_SEND | SHUT_RCV)) == (SHUT_SEND | SHUT_RCV))
			c->peer_gone = true;
		break;
	case OP_RW:
		if (plen > VC_RXBUF - c->rx_len) {
			/* Beyond the credit we gave: a device bug. */
			proto_errors++;
			send_ctl(c, OP_RST, 0);
			c->state = VC_CLOSED;
			c->peer_gone = true;
			break;
		}
		{
			uint32_t tail = (c->rx_head + c->rx_len) % VC_RXBUF, first = MIN(plen, VC_RXBUF - tail);

			copy(c->rx + tail, payload, first);
			copy(c->rx, payload + first, plen - first);
		}
		c->rx_len += plen;
		break;
	case OP_CREDIT_REQUEST:
		send_ctl(c, OP_CREDIT_UPDATE, 0);
		break;
	default:
		break;
	}
}

/* Take what the device delivered, give the buffers back. */
static void poll(void)
{
	struct vq *q = &vs.q[Q_RX];
	bool reposted = false;

	vmmio_ack(VS_BASE);
	while (q->last_used != *(volatile uint16_t *)&q->used.idx) {
		uint16_t id = (uint16_t)(q->used.ring[q->last_used % VQ_SIZE].id % VQ_SIZE);
		uint32_t len = q->used.ring[q->last_used % VQ_SIZE].len;
		const struct hdr *h = (const struct hdr *)vs.rxbuf[id];

		q->last_used++;
		if (len >= HDR && h->len <= len - HDR)
			handle(h, vs.rxbuf[id] + HDR, h->len);
		else
			proto_errors++;
		vq_add(Q_RX, id, (uint64_t)vs.rxbuf[id], sizeof(vs.rxbuf[id]), VIRTQ_DESC_F_WRITE);
		reposted = true;
	}
	if (reposted)
		vmmio_notify(VS_BASE, Q_RX);
	reclaim_tx();
}

/* ---- a tiny socket layer ---- */

static uint32_t credit(const struct vconn *c)
{
	return c->peer_buf_alloc - (c->tx_cnt - c->peer_fwd_cnt);
}

/* Consume n received bytes: tell the peer once half our buffer was freed since we last did. */
static void consumed(struct vconn *c, uint32_t n)
{
	c->rx_head = (c->rx_head + n) % VC_RXBUF;
	c->rx_len -= n;
	c->fwd_cnt += n;
	if (c->fwd_cnt - c->fwd_told >= VC_RXBUF / 2 && c->state == VC_OPEN)
		send_ctl(c, OP_CREDIT_UPDATE, 0);
}

static struct vconn *vconnect(uint32_t port)
{
	struct vconn *c = conn_new(next_port++, port, VC_CONNECTING);
	uint64_t t0 = time_us();

	if (!c || !send_ctl(c, OP_REQUEST, 0))
		return NULL;
	while (c->state == VC_CONNECTING && time_us() - t0 < WAIT_US)
		poll();
	if (c->state != VC_OPEN) {
		c->state = VC_FREE;
		return NULL;
	}
	return c;
}

/* Send as much of data as the peer's credit allows now (at most one packet); the bytes sent. */
static uint32_t vsend_some(struct vconn *c, const uint8_t *data, uint32_t len)
{
	uint32_t n = MIN3(len, credit(c), TX_PAYLOAD);

	if (!n || c->peer_gone || c->state != VC_OPEN)
		return 0;
	return send_pkt(c, OP_RW, 0, data, n, c->rport, c->lport) ? n : 0;
}

/* Orderly close as Linux does it: SHUTDOWN both, then wait (bounded) for the peer's RST. */
static void vclose(struct vconn *c)
{
	uint64_t t0 = time_us();

	if (c->state == VC_OPEN && !c->peer_gone)
		send_ctl(c, OP_SHUTDOWN, SHUT_RCV | SHUT_SEND);
	while (c->state == VC_OPEN && !c->peer_gone && time_us() - t0 < WAIT_US)
		poll();
	if (c->state == VC_OPEN && c->peer_gone)
		send_ctl(c, OP_RST, 0);
	c->state = VC_FREE;
}

static uint8_t pattern(uint64_t i)
{
	return (uint8_t)(i * 7 + (i >> 9));
}

/* ---- steps ---- */

static void step_heartbeat(uint8_t byte)
{
	struct vconn *c = vconnect(HB_PORT);
	uint64_t t0 = time_us();

	if (!c) {
		report_fail("vsock-heartbeat", "connect to %d:%d refused or unanswered", VS_CID_HOST, HB_PORT);
		return;
	}
	vsend_some(c, &byte, 1);
	while (!c->rx_len && !c->peer_gone && time_us() - t0 < WAIT_US)
		poll();
	if (c->rx_len && c->rx[c->rx_head] == HB_BYTE)
		report_ok("vsock-heartbeat", "0x%02x echoed in %lu us (CID %lu)", c->rx[c->rx_head], time_us() - t0,
			  my_cid);
	else
		report_fail("vsock-heartbeat", "sent 0x%02x, got %s", byte, c->rx_len ? "another byte" : "nothing");
	if (c->rx_len)
		consumed(c, 1);
	vclose(c);
}

/* guest -> host: the host echoes; B bytes out, B bytes back, both half-closes seen in order. */
static void step_echo(uint32_t port, uint64_t bytes)
{
	struct vconn *c = vconnect(port);
	uint8_t chunk[512];
	uint64_t sent = 0, got = 0, t0 = time_us(), last = t0;
	uint32_t crc_tx = 0, crc_rx = 0;
	bool shut = false;

	if (!c) {
		report_fail("vsock-echo", "connect to %d:%u refused or unanswered", VS_CID_HOST, port);
		return;
	}
	while ((got < bytes || !c->peer_eof) && time_us() - last < WAIT_US && !c->peer_gone) {
		uint64_t before = sent + got;

		while (sent < bytes) {
			uint32_t n = (uint32_t)MIN(bytes - sent, sizeof(chunk)), k;

			for (uint32_t i = 0; i < n; i++)
				chunk[i] = pattern(sent + i);
			k = vsend_some(c, chunk, n);
			crc_tx = crc32(crc_tx, chunk, k);
			sent += k;
			if (k < n)
				break;
		}
		if (sent == bytes && !shut) {
			send_ctl(c, OP_SHUTDOWN, SHUT_SEND);
			shut = true;
		}
		poll();
		while (c->rx_len) {
			uint32_t n = MIN(c->rx_len, VC_RXBUF - c->rx_head);

			crc_rx = crc32(crc_rx, c->rx + c->rx_head, n);
			got += n;
			consumed(c, n);
		}
		if (sent + got != before)
			last = time_us();
	}
	/* The peer may close entirely once both directions ended: a TCP peer's FIN and close look alike. */
	if (got == bytes && crc_rx == crc_tx && c->peer_eof)
		report_ok("vsock-echo", "port %u: %lu bytes there and back, crc %08x, half-close both ways, %lu us",
			  port, bytes, crc_rx, time_us() - t0);
	else
		report_fail("vsock-echo", "port %u: sent %lu, got %lu (crc %08x/%08x), peer eof %d gone %d", port,
			    sent, got, crc_tx, crc_rx, c->peer_eof, c->peer_gone);
	vclose(c);
}

/* The driver starts over while the host holds a connection: the device must forget it and work again. */
static void step_reset(uint32_t port)
{
	uint64_t t0 = time_us();
	bool seen = false;

	listen_port = port;
	while (!seen && time_us() - t0 < WAIT_US) {
		poll();
		for (int i = 0; i < VC_MAX; i++)
			if (vs.vc[i].state == VC_OPEN && vs.vc[i].lport == port && vs.vc[i].rx_len)
				seen = true;
	}
	listen_port = 0;
	if (!seen) {
		report_fail("vsock-reset", "no connection brought data to port %u", port);
		return;
	}
	if (!vs_init()) {
		report_fail("vsock-reset", "the device did not come back after a reset with a connection open");
		return;
	}
	report_ok("vsock-reset", "port %u: device reset with a connection open, ready again (guest CID %lu)", port,
		  my_cid);
}

/*
 * host -> guest: listen on port for n connections.  echo: send everything back and pass the peer's half-close
 * on once it is echoed; otherwise discard (a sink for the figures).
 */
static void step_serve(const char *check, uint32_t port, uint64_t n, bool echo)
{
	uint64_t done = 0, bytes = 0, t0 = time_us(), last = t0, first = 0;
	bool shut[VC_MAX] = { false };
	bool bad = false;

	listen_port = port;
	while (done < n && time_us() - last < WAIT_US) {
		poll();
		for (int i = 0; i < VC_MAX; i++) {
			struct vconn *c = &vs.vc[i];
			uint32_t k;

			if (c->state == VC_FREE || c->lport != port)
				continue;
			if (!first && c->rx_len)
				first = time_us();
			while (c->rx_len) {
				uint32_t len = MIN(c->rx_len, VC_RXBUF - c->rx_head);

				k = echo ? vsend_some(c, c->rx + c->rx_head, len) : len;
				if (!k)
					break;
				bytes += k;
				consumed(c, k);
				last = time_us();
			}
			if (c->peer_eof && !c->rx_len && !shut[i] && c->state == VC_OPEN && !c->peer_gone) {
				send_ctl(c, OP_SHUTDOWN, SHUT_SEND);
				shut[i] = true;
			}
			if (c->peer_gone || (shut[i] && c->state != VC_OPEN)) {
				if (c->rx_len)
					bad = true;
				if (c->state == VC_OPEN)
					send_ctl(c, OP_RST, 0);
				c->state = VC_FREE;
				shut[i] = false;
				done++;
				last = time_us();
			}
		}
	}
	/* Still listening: a following step on the same port takes the connections that arrive in between. */
	if (done == n && !bad) {
		uint64_t us = first ? time_us() - first : 0;

		report_ok(check, "port %u: %lu connections, %lu bytes%s, %lu us from first byte", port, n, bytes,
			  echo ? " echoed" : " taken", us);
		if (!echo && us)
			report_info(check, "host->guest %lu Mbit/s", bytes * 8 / us);
	} else {
		report_fail(check, "port %u: %lu of %lu connections served, %lu bytes", port, done, n, bytes);
	}
}

static void step_send(uint32_t port, uint64_t mib)
{
	static const uint8_t zeros[TX_PAYLOAD];
	struct vconn *c = vconnect(port);
	uint64_t total = mib << 20, sent = 0, t0 = time_us(), last = t0, us;

	if (!c) {
		report_fail("vsock-send", "connect to %d:%u refused or unanswered", VS_CID_HOST, port);
		return;
	}
	while (sent < total && time_us() - last < WAIT_US && !c->peer_gone) {
		uint32_t k = vsend_some(c, zeros, (uint32_t)MIN(total - sent, TX_PAYLOAD));

		if (k) {
			sent += k;
			last = time_us();
		} else {
			poll();
		}
	}
	send_ctl(c, OP_SHUTDOWN, SHUT_SEND);
	/* The host sink closes once it read everything: the time includes the last byte's arrival. */
	while (!c->peer_eof && time_us() - last < WAIT_US)
		poll();
	us = time_us() - t0;
	if (sent == total && c->peer_eof)
		report_ok("vsock-send", "port %u: %lu MiB in %lu us: guest->host %lu Mbit/s", port, mib, us,
			  total * 8 / (us ? us : 1));
	else
		report_fail("vsock-send", "port %u: sent %lu of %lu bytes", port, sent, total);
	vclose(c);
}

static void step_ping(uint32_t port, uint64_t n)
{
	uint64_t t0 = time_us(), best = ~0ULL;

	for (uint64_t i = 0; i < n; i++) {
		uint64_t t1 = time_us();
		struct vconn *c = vconnect(port);
		uint8_t b = (uint8_t)i;

		if (!c || vsend_some(c, &b, 1) != 1) {
			report_fail("vsock-ping", "round %lu: connect to %d:%u failed", i, VS_CID_HOST, port);
			if (c)
				vclose(c);
			return;
		}
		while (!c->rx_len && !c->peer_gone && time_us() - t1 < WAIT_US)
			poll();
		if (!c->rx_len || c->rx[c->rx_head] != b) {
			report_fail("vsock-ping", "round %lu: no echo", i);
			vclose(c);
			return;
		}
		consumed(c, 1);
		best = MIN(best, time_us() - t1);
		vclose(c);
	}
	report_ok("vsock-ping", "port %u: %lu x (connect + 1-byte round trip + close): mean %lu us, best %lu us", port,
		  n, n ? (time_us() - t0) / n : 0, best);
}

void check_vsock(void)
{
	struct vs_opt o = { 0 };

	parse_opts(&o);
	if (!o.on)
		return;
	if (!vs_init())
		return;
	report_ok("vsock", "device ready, guest CID %lu, %d-entry queues", my_cid, VQ_SIZE);
	if (!o.nohb)
		step_heartbeat((uint8_t)o.hb);
	if (o.reset_port)
		step_reset(o.reset_port);
	if (o.echo_port)
		step_echo(o.echo_port, o.echo_bytes ? o.echo_bytes : 4096);
	if (o.serve_port)
		step_serve("vsock-serve", o.serve_port, o.serve_n ? o.serve_n : 1, true);
	if (o.sink_port)
		step_serve("vsock-sink", o.sink_port, o.sink_n ? o.sink_n : 1, false);
	if (o.send_port)
		step_send(o.send_port, o.send_mib ? o.send_mib : 64);
	if (o.ping_port)
		step_ping(o.ping_port, o.ping_n ? o.ping_n : 100);
	if (proto_errors)
		report_fail("vsock", "%lu malformed packets from the device", proto_errors);
}
