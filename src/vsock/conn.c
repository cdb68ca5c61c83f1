// SPDX-License-Identifier: MIT
/*
 * The vsock connection state machine (conn.h has the contract).
 *
 * A connection lives in one of three states:
 *   LOCAL_INIT   the parent opened it; our REQUEST is queued or sent; waiting for RESPONSE or RST
 *   ESTABLISHED  data flows, each direction until its SHUTDOWN
 *   CLOSING      its endpoint is detached; one last packet (RST, or SHUTDOWN with both flags) waits for an rx
 *                buffer, then the connection is freed
 * A guest REQUEST to a listener is accepted on the spot (there is no PEER_INIT: the RESPONSE is queued at once).
 *
 * The guest is untrusted: every header field is checked before anything is looked up, a packet that breaks the
 * protocol on a connection resets that connection, and nothing the guest sends makes us hold more than
 * VSOCK_CONN_BUF_SIZE per connection or VSOCK_ORPHAN_RST_MAX replies in all.
 */
#include "vsock/conn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/iov.h"
#include "common/util.h"

/*
 * Log lines per table before they are suppressed: enough to see what a misbehaving guest does, not enough for
 * it to flood the parent's stderr.
 */
#define VSOCK_LOG_BUDGET 64

enum conn_state {
	CONN_LOCAL_INIT,
	CONN_ESTABLISHED,
	CONN_CLOSING,
};

/* Packets a connection owes the guest, sent in this order (RW data is not a bit: see conn_rw_ready()). */
#define PEND_RST	    (1U << 0) /* the last packet */
#define PEND_REQUEST	    (1U << 1)
#define PEND_RESPONSE	    (1U << 2)
#define PEND_CREDIT_UPDATE  (1U << 3)
#define PEND_SHUTDOWN	    (1U << 4) /* flags in shut_flags; the last packet when CLOSING */
#define PEND_CREDIT_REQUEST (1U << 5)

struct vsock_conn {
	struct vsock_conn *hnext;	 /* hash chain */
	struct vsock_conn *qnext, *qprev; /* FIFO of connections with work for the guest */
	bool queued;

	uint32_t host_cid, host_port, guest_port;
	enum conn_state state;
	uint32_t pending;
	uint32_t shut_flags; /* of the pending SHUTDOWN */
	uint32_t guest_shut; /* SHUTDOWN flags the guest sent */
	bool readable;	     /* the host side said it has data, and read has not said EAGAIN since */
	bool host_eof;	     /* read returned end of stream: SHUTDOWN(SEND) is queued or sent */
	bool host_gone;	     /* the host side hung up: read to the end, then SHUTDOWN both and free */
	bool eof_delivered;  /* shutdown_write was called */
	bool rd_delivered;   /* shutdown_read was called */
	bool credit_requested;

	/* host -> guest: what the guest advertised, and what we sent */
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	/* guest -> host: what we received, passed on, and last told the guest we passed on */
	uint32_t rx_cnt, fwd_cnt, fwd_cnt_sent;
	uint8_t *buf; /* ring of VSOCK_CONN_BUF_SIZE bytes, allocated when the host falls behind */
	uint32_t buf_head, buf_len;

	const struct vsock_endpoint_ops *ops; /* NULL once detached */
	void *ep;
};

struct vsock_listener {
	bool used;
	uint32_t cid, port;
	vsock_accept_fn fn;
	void *opaque;
};

struct vsock_mux {
	pthread_mutex_t lock;
	uint64_t guest_cid;
	unsigned int nconns;
	struct vsock_conn *buckets[VSOCK_CONN_BUCKETS];
	struct vsock_conn *qhead, *qtail;
	struct vsock_hdr orphan[VSOCK_ORPHAN_RST_MAX]; /* ring of RSTs for packets without a connection */
	unsigned int orphan_head, orphan_len;
	struct vsock_listener listeners[VSOCK_MAX_LISTENERS];
	uint32_t next_port;
	void (*host_poll)(void *opaque);
	void *host_opaque;
	unsigned int log_budget;
	struct vsock_mux_stats stats;
	/* One read's scatter list over several rx buffers (too large for the stack of the caller's thread). */
	struct iovec rx_iov[VSOCK_RX_IOV_MAX];
	unsigned int rx_niov;
};

static void mux_log(struct vsock_mux *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void mux_log(struct vsock_mux *m, const char *fmt, ...)
{
	char line[224];
	va_list ap;

	if (!m->log_budget)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	vsock_log("%s", line);
	if (!--m->log_budget)
		vsock_log("further vsock messages for this enclave are suppressed");
}

uint32_t vsock_credit_available(uint32_t peer_buf_alloc, uint32_t peer_fwd_cnt, uint32_t tx_cnt)
{
	/* Counters wrap at 2^32 by design; a peer claiming more forwarded than sent just gets no extra room. */
	uint32_t in_flight = tx_cnt - peer_fwd_cnt;

	return in_flight >= peer_buf_alloc ? 0 : peer_buf_alloc - in_flight;
}

/* ---- table ---- */

static unsigned int conn_bucket(uint32_t host_cid, uint32_t host_port, uint32_t guest_port)
{
	uint32_t h = host_cid * 0x9e3779b1U ^ host_port * 0x85ebca6bU ^ guest_port * 0xc2b2ae35U;

	return (h ^ h >> 16) % VSOCK_CONN_BUCKETS;
}

static struct vsock_conn *conn_lookup(struct vsock_mux *m, uint32_t host_cid, uint32_t host_port,
				      uint32_t guest_port)
{
	struct vsock_conn *c = m->buckets[conn_bucket(host_cid, host_port, guest_port)];

	for (; c; c = c->hnext)
		if (c->host_cid == host_cid && c->host_port == host_port && c->guest_port == guest_port)
			return c;
	return NULL;
}

static void conn_enqueue(struct vsock_mux *m, struct vsock_conn *c)
{
	if (c->queued)
		return;
	c->queued = true;
	c->qnext = NULL;
	c->qprev = m->qtail;
	if (m->qtail)
		m->qtail->qnext = c;
	else
		m->qhead = c;
	m->qtail = c;
}

static void conn_dequeue(struct vsock_mux *m, struct vsock_conn *c)
{
	if (!c->queued)
		return;
	if (c->qprev)
		c->qprev->qnext = c->qnext;
	else
		m->qhead = c->qnext;
	if (c->qnext)
		c->qnext->qprev = c->qprev;
	else
		m->qtail = c->qprev;
	c->queued = false;
	c->qnext = c->qprev = NULL;
}

static struct vsock_conn *conn_new(struct vsock_mux *m, uint32_t host_cid, uint32_t host_port, uint32_t guest_port)
{
	struct vsock_conn *c = calloc(1, sizeof(*c));
	unsigned int b = conn_bucket(host_cid, host_port, guest_port);

	if (!c)
		return NULL;
	c->host_cid = host_cid;
	c->host_port = host_port;
	c->guest_port = guest_port;
	c->hnext = m->buckets[b];
	m->buckets[b] = c;
	m->nconns++;
	return c;
}

static void conn_free(struct vsock_mux *m, struct vsock_conn *c)
{
	struct vsock_conn **pp = &m->buckets[conn_bucket(c->host_cid, c->host_port, c->guest_port)];

	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
	conn_dequeue(m, c);
	m->nconns--;
	free(c->buf);
	free(c);
}

/* Detach the endpoint (it hears err) and end the connection, with last_op (RST or SHUTDOWN) or nothing (0). */
static void conn_finish(struct vsock_mux *m, struct vsock_conn *c, int err, uint16_t last_op)
{
	const struct vsock_endpoint_ops *ops = c->ops;

	c->ops = NULL;
	if (ops)
		ops->closed(c->ep, err);
	c->ep = NULL;
	if (!last_op || !m->guest_cid) {
		conn_free(m, c);
		return;
	}
	c->state = CONN_CLOSING;
	c->readable = false;
	c->buf_len = 0;
	if (last_op == VSOCK_OP_RST) {
		c->pending = PEND_RST;
	} else {
		c->pending = PEND_SHUTDOWN;
		c->shut_flags = VSOCK_SHUTDOWN_BOTH;
	}
	conn_enqueue(m, c);
}

static void conn_reset(struct vsock_mux *m, struct vsock_conn *c)
{
	conn_finish(m, c, ECONNRESET, VSOCK_OP_RST);
}

/* ---- flow control ---- */

static uint32_t conn_credit(const struct vsock_conn *c)
{
	return vsock_credit_available(c->peer_buf_alloc, c->peer_fwd_cnt, c->tx_cnt);
}

static bool conn_rw_ready(const struct vsock_conn *c)
{
	return c->state == CONN_ESTABLISHED && c->readable && !c->host_eof && !(c->guest_shut & VSOCK_SHUTDOWN_RCV) &&
	       conn_credit(c) > 0;
}

static bool conn_has_work(const struct vsock_conn *c)
{
	return c->pending || conn_rw_ready(c);
}

static void conn_update_queue(struct vsock_mux *m, struct vsock_conn *c)
{
	if (conn_has_work(c))
		conn_enqueue(m, c);
}

/* Owe the guest a CREDIT_UPDATE when its view of our free space is low and we have freed some since. */
static void conn_check_credit_update(struct vsock_conn *c)
{
	/* The guest may have sent more than it knew it could (our real room was larger): that view is full. */
	uint32_t guest_view_used = c->rx_cnt - c->fwd_cnt_sent;
	uint32_t guest_view_free = guest_view_used >= VSOCK_CONN_BUF_SIZE ? 0 : VSOCK_CONN_BUF_SIZE - guest_view_used;

	if (c->state == CONN_ESTABLISHED && guest_view_free < VSOCK_CREDIT_UPDATE_THRESHOLD &&
	    c->fwd_cnt != c->fwd_cnt_sent)
		c->pending |= PEND_CREDIT_UPDATE;
}

/* The guest's advertisement, carried in every packet it sends. */
static void conn_peer_credit(struct vsock_conn *c, const struct vsock_hdr *h)
{
	uint32_t before = conn_credit(c);

	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	if (conn_credit(c) > before)
		c->credit_requested = false;
}

/* ---- guest -> host data ---- */

/* Everything buffered and the guest said SEND/both: pass the end on. */
static void conn_after_flush(struct vsock_mux *m, struct vsock_conn *c)
{
	if (c->buf_len || !c->ops)
		return;
	if ((c->guest_shut & VSOCK_SHUTDOWN_SEND) && !c->eof_delivered) {
		c->eof_delivered = true;
		c->ops->shutdown_write(c->ep);
	}
	/* Linux's close() sends SHUTDOWN both and waits for our RST before it lets the socket go. */
	if (c->guest_shut == VSOCK_SHUTDOWN_BOTH)
		conn_finish(m, c, 0, VSOCK_OP_RST);
}

/* The buffered bytes as at most two pieces (the ring may wrap). */
static unsigned int conn_buf_iov(const struct vsock_conn *c, struct iovec iov[2])
{
	uint32_t first = MIN(c->buf_len, VSOCK_CONN_BUF_SIZE - c->buf_head);

	iov[0] = (struct iovec){ c->buf + c->buf_head, first };
	iov[1] = (struct iovec){ c->buf, c->buf_len - first };
	return c->buf_len > first ? 2 : 1;
}

/* Write the buffer out as far as the host takes it (one call); false when the connection was reset. */
static bool conn_flush(struct vsock_mux *m, struct vsock_conn *c)
{
	struct iovec iov[2];
	ssize_t n;

	if (!c->buf_len || !c->ops)
		return true;
	n = c->ops->write(c->ep, iov, conn_buf_iov(c, iov));
	if (n < 0) {
		conn_reset(m, c);
		return false;
	}
	n = MIN(n, (ssize_t)c->buf_len);
	c->buf_head = (c->buf_head + (uint32_t)n) % VSOCK_CONN_BUF_SIZE;
	c->buf_len -= (uint32_t)n;
	c->fwd_cnt += (uint32_t)n;
	m->stats.bytes_to_host += (uint64_t)n;
	return true;
}

/* Keep payload bytes [off, off + len) that the host did not take: the only copy on the way to the host. */
static bool conn_buffer(struct vsock_mux *m, struct vsock_conn *c, const struct iovec *p, unsigned int np,
			size_t off, uint32_t len)
{
	uint32_t tail;

	if (!c->buf) {
		c->buf = malloc(VSOCK_CONN_BUF_SIZE);
		if (!c->buf) {
			mux_log(m, "out of memory buffering data of enclave port %u: connection reset", c->guest_port);
			return false;
		}
		c->buf_head = 0;
	}
	/* rx_cnt - fwd_cnt <= VSOCK_CONN_BUF_SIZE was checked: the ring cannot overflow. */
	tail = (c->buf_head + c->buf_len) % VSOCK_CONN_BUF_SIZE;
	for (uint32_t done = 0; done < len;) {
		uint32_t n = MIN(len - done, VSOCK_CONN_BUF_SIZE - tail);

		iov_to_buf(p, np, off + done, c->buf + tail, n);
		tail = (tail + n) % VSOCK_CONN_BUF_SIZE;
		done += n;
	}
	c->buf_len += len;
	return true;
}

static void conn_guest_data(struct vsock_mux *m, struct vsock_conn *c, const struct iovec *p, unsigned int np,
			    uint32_t len)
{
	uint32_t room = VSOCK_CONN_BUF_SIZE - (c->rx_cnt - c->fwd_cnt);
	size_t off = 0;

	if (len > room) {
		m->stats.credit_violations++;
		mux_log(m, "enclave port %u sent %u bytes to port %u with %u bytes of credit: connection reset",
			c->guest_port, len, c->host_port, room);
		conn_reset(m, c);
		return;
	}
	c->rx_cnt += len;
	/* Straight from the guest's buffer to the host, unless older bytes wait (they go first). */
	if (!c->buf_len && c->ops && len) {
		ssize_t n = c->ops->write(c->ep, p, np);

		if (n < 0) {
			conn_reset(m, c);
			return;
		}
		n = MIN(n, (ssize_t)len);
		c->fwd_cnt += (uint32_t)n;
		m->stats.bytes_to_host += (uint64_t)n;
		off = (size_t)n;
		len -= (uint32_t)n;
	}
	if (len && !conn_buffer(m, c, p, np, off, len)) {
		conn_reset(m, c);
		return;
	}
	conn_check_credit_update(c);
}

/* ---- packets from the guest ---- */

/* An RST answering a packet that has no connection (never an RST itself: that would ping-pong). */
static void reply_rst(struct vsock_mux *m, const struct vsock_hdr *h)
{
	struct vsock_hdr *r;

	if (h->op == VSOCK_OP_RST)
		return;
	if (m->orphan_len == VSOCK_ORPHAN_RST_MAX)
		return;
	r = &m->orphan[(m->orphan_head + m->orphan_len++) % VSOCK_ORPHAN_RST_MAX];
	*r = (struct vsock_hdr){
		.src_cid = h->dst_cid,
		.dst_cid = m->guest_cid,
		.src_port = h->dst_port,
		.dst_port = h->src_port,
		.type = h->type,
		.op = VSOCK_OP_RST,
	};
}

static bool flags_valid(const struct vsock_hdr *h)
{
	if (h->op == VSOCK_OP_SHUTDOWN)
		return h->flags && !(h->flags & ~VSOCK_SHUTDOWN_BOTH);
	return h->flags == 0;
}

/*
 * Checks that need no connection.  Returns 1 to go on, 0 when the packet was dealt with (dropped or answered).
 */
static int guest_header_check(struct vsock_mux *m, const struct vsock_hdr *h)
{
	char opbuf[16];
	const char *op = vsock_op_name(h->op, opbuf, sizeof(opbuf));

	if (!m->guest_cid)
		return 0;
	if (h->src_cid != m->guest_cid) {
		/* Not from this guest's address: nowhere sensible to answer; drop. */
		m->stats.malformed++;
		mux_log(m, "dropped %s from CID %llu: the enclave is CID %llu", op, (unsigned long long)h->src_cid,
			(unsigned long long)m->guest_cid);
		return 0;
	}
	if (h->type != VSOCK_TYPE_STREAM) {
		m->stats.malformed++;
		mux_log(m, "refused %s of socket type %u from enclave port %u: only streams are supported", op,
			h->type, h->src_port);
		/* A seqpacket socket learns at once that it cannot connect; other types are not sockets at all. */
		if (h->type == VSOCK_TYPE_SEQPACKET)
			reply_rst(m, h);
		return 0;
	}
	if (h->op == VSOCK_OP_INVALID || h->op > VSOCK_OP_MAX || (h->op != VSOCK_OP_RW && h->len) ||
	    h->len > VSOCK_MAX_PKT_PAYLOAD || !flags_valid(h)) {
		m->stats.malformed++;
		mux_log(m, "malformed %s from enclave port %u to %llu:%u (len %u, flags %#x): answered with RST", op,
			h->src_port, (unsigned long long)h->dst_cid, h->dst_port, h->len, h->flags);
		return -1;
	}
	if (h->dst_cid != VSOCK_CID_PARENT && h->dst_cid != VSOCK_CID_HYPERVISOR) {
		if (h->op == VSOCK_OP_REQUEST)
			mux_log(m, "enclave port %u connects to CID %llu: only the parent (CID 3) is reachable",
				h->src_port, (unsigned long long)h->dst_cid);
		reply_rst(m, h);
		return 0;
	}
	return 1;
}

static struct vsock_listener *listener_find(struct vsock_mux *m, uint32_t cid, uint32_t port)
{
	for (unsigned int i = 0; i < VSOCK_MAX_LISTENERS; i++)
		if (m->listeners[i].used && m->listeners[i].cid == cid && m->listeners[i].port == port)
			return &m->listeners[i];
	return NULL;
}

static void guest_request(struct vsock_mux *m, const struct vsock_hdr *h)
{
	struct vsock_listener *l = h->dst_cid == VSOCK_CID_PARENT ? listener_find(m, VSOCK_CID_PARENT, h->dst_port)
								   : NULL;
	struct vsock_conn *c;

	/* A port nobody listens on goes to the catch-all listener, when there is one. */
	if (!l && h->dst_cid == VSOCK_CID_PARENT && h->dst_port != VSOCK_PORT_ANY)
		l = listener_find(m, VSOCK_CID_PARENT, VSOCK_PORT_ANY);

	if (!l) {
		reply_rst(m, h);
		return;
	}
	if (m->nconns >= VSOCK_MAX_CONNECTIONS) {
		m->stats.refused_limit++;
		mux_log(m, "connection limit reached (%d open): refused enclave port %u -> parent port %u",
			VSOCK_MAX_CONNECTIONS, h->src_port, h->dst_port);
		reply_rst(m, h);
		return;
	}
	c = conn_new(m, VSOCK_CID_PARENT, h->dst_port, h->src_port);
	if (!c) {
		mux_log(m, "out of memory: refused enclave port %u -> parent port %u", h->src_port, h->dst_port);
		reply_rst(m, h);
		return;
	}
	conn_peer_credit(c, h);
	if (l->fn(l->opaque, c, h->src_port, &c->ops, &c->ep) < 0 || !c->ops) {
		c->ops = NULL;
		conn_free(m, c);
		reply_rst(m, h);
		return;
	}
	c->state = CONN_ESTABLISHED;
	c->pending |= PEND_RESPONSE;
	conn_enqueue(m, c);
}

static void guest_shutdown(struct vsock_mux *m, struct vsock_conn *c, uint32_t flags)
{
	c->guest_shut |= flags;
	if ((c->guest_shut & VSOCK_SHUTDOWN_RCV) && !c->rd_delivered && c->ops) {
		c->rd_delivered = true;
		c->ops->shutdown_read(c->ep);
	}
	if (c->host_gone && (c->guest_shut & VSOCK_SHUTDOWN_RCV)) {
		/* Nothing left to do in either direction. */
		conn_finish(m, c, 0, VSOCK_OP_RST);
		return;
	}
	conn_after_flush(m, c);
}

/* A packet for an existing connection (guest_header_check passed). */
static void guest_conn_packet(struct vsock_mux *m, struct vsock_conn *c, const struct vsock_hdr *h,
			      const struct iovec *payload, unsigned int np)
{
	if (c->state == CONN_CLOSING) {
		/* Its last packet is on the way; an RST from the guest makes it unnecessary. */
		if (h->op == VSOCK_OP_RST)
			conn_free(m, c);
		return;
	}
	if (h->op == VSOCK_OP_RST) {
		conn_finish(m, c, c->state == CONN_LOCAL_INIT ? ECONNREFUSED : ECONNRESET, 0);
		return;
	}
	conn_peer_credit(c, h);
	if (c->state == CONN_LOCAL_INIT) {
		if (h->op != VSOCK_OP_RESPONSE) {
			conn_reset(m, c);
			return;
		}
		c->state = CONN_ESTABLISHED;
		if (c->ops->connected(c->ep) < 0) {
			conn_reset(m, c);
			return;
		}
		conn_update_queue(m, c);
		return;
	}
	switch (h->op) {
	case VSOCK_OP_RW:
		if (c->guest_shut & VSOCK_SHUTDOWN_SEND) {
			mux_log(m, "enclave port %u sent data after shutting down sending: connection reset",
				c->guest_port);
			conn_reset(m, c);
			return;
		}
		conn_guest_data(m, c, payload, np, h->len);
		break;
	case VSOCK_OP_SHUTDOWN:
		guest_shutdown(m, c, h->flags);
		break;
	case VSOCK_OP_CREDIT_REQUEST:
		c->pending |= PEND_CREDIT_UPDATE;
		break;
	case VSOCK_OP_CREDIT_UPDATE:
		break; /* conn_peer_credit did it */
	default:
		/* REQUEST or RESPONSE on an established connection. */
		mux_log(m, "unexpected %s on the connection of enclave port %u: connection reset",
			h->op == VSOCK_OP_REQUEST ? "REQUEST" : "RESPONSE", c->guest_port);
		conn_reset(m, c);
		return;
	}
	/* Nothing above frees c: a reset leaves it CLOSING with its RST queued. */
	if (c->state != CONN_CLOSING)
		conn_update_queue(m, c);
}

void vsock_mux_guest_packet(struct vsock_mux *m, const struct vsock_hdr *h, const struct iovec *payload,
			    unsigned int n)
{
	struct vsock_conn *c;
	int ret = guest_header_check(m, h);

	if (ret == 0)
		return;
	c = h->dst_cid <= UINT32_MAX ? conn_lookup(m, (uint32_t)h->dst_cid, h->dst_port, h->src_port) : NULL;
	if (ret < 0) {
		if (c && c->state != CONN_CLOSING)
			conn_reset(m, c);
		else if (!c)
			reply_rst(m, h);
		return;
	}
	if (c) {
		guest_conn_packet(m, c, h, payload, n);
		return;
	}
	if (h->op == VSOCK_OP_REQUEST)
		guest_request(m, h);
	else
		reply_rst(m, h);
}

void vsock_mux_guest_bad_packet(struct vsock_mux *m, const struct vsock_hdr *h, const char *why)
{
	struct vsock_conn *c;

	m->stats.malformed++;
	if (!h) {
		mux_log(m, "dropped a packet: %s", why);
		return;
	}
	mux_log(m, "bad packet from enclave port %u to %llu:%u: %s", h->src_port, (unsigned long long)h->dst_cid,
		h->dst_port, why);
	if (!m->guest_cid || h->src_cid != m->guest_cid || h->type != VSOCK_TYPE_STREAM)
		return;
	c = h->dst_cid <= UINT32_MAX ? conn_lookup(m, (uint32_t)h->dst_cid, h->dst_port, h->src_port) : NULL;
	if (c && c->state != CONN_CLOSING)
		conn_reset(m, c);
	else if (!c)
		reply_rst(m, h);
}

/* ---- packets to the guest ---- */

static void conn_hdr(struct vsock_mux *m, struct vsock_conn *c, struct vsock_hdr *h, uint16_t op)
{
	*h = (struct vsock_hdr){
		.src_cid = c->host_cid,
		.dst_cid = m->guest_cid,
		.src_port = c->host_port,
		.dst_port = c->guest_port,
		.type = VSOCK_TYPE_STREAM,
		.op = op,
		.buf_alloc = VSOCK_CONN_BUF_SIZE,
		.fwd_cnt = c->fwd_cnt,
	};
	c->fwd_cnt_sent = c->fwd_cnt;
}

/* The host side reached its end of stream. */
static void conn_host_eof(struct vsock_mux *m, struct vsock_conn *c)
{
	c->host_eof = true;
	c->readable = false;
	if (c->host_gone) {
		conn_finish(m, c, 0, VSOCK_OP_SHUTDOWN);
		return;
	}
	c->pending |= PEND_SHUTDOWN;
	c->shut_flags |= VSOCK_SHUTDOWN_SEND;
}

/* The guest's rx buffers as one scatter list for one read, each buffer's share at most a packet. */
static unsigned int rx_gather(struct vsock_mux *m, struct vsock_rx_buf *bufs, unsigned int n, size_t limit,
			      size_t *total)
{
	unsigned int nb = 0, niov = 0;

	*total = 0;
	for (; nb < n && *total < limit && niov < VSOCK_RX_IOV_MAX; nb++) {
		size_t got;

		niov += iov_slice(m->rx_iov + niov, VSOCK_RX_IOV_MAX - niov, bufs[nb].room, bufs[nb].nroom, 0,
				  MIN(limit - *total, (size_t)VSOCK_MAX_PKT_PAYLOAD), &got);
		if (!got)
			break; /* a buffer with room for a header only: it takes the next control packet */
		bufs[nb].h.len = (uint32_t)got; /* its share, until the read says how much came */
		*total += got;
	}
	m->rx_niov = niov;
	return nb;
}

/*
 * Try to make RW packets, read straight into the guest's rx buffers with one read: the number of buffers
 * filled (0 when nothing came: state updated).
 */
static unsigned int conn_read_rw(struct vsock_mux *m, struct vsock_conn *c, struct vsock_rx_buf *bufs,
				 unsigned int n)
{
	size_t want;
	unsigned int nb = rx_gather(m, bufs, n, conn_credit(c), &want), made = 0;
	ssize_t got;

	if (!nb)
		return 0;
	got = c->ops->read(c->ep, m->rx_iov, m->rx_niov);
	if (got == -EAGAIN && !c->host_gone) {
		c->readable = false;
		return 0;
	}
	if (got == 0 || got == -EAGAIN) {
		conn_host_eof(m, c);
		return 0;
	}
	if (got < 0) {
		conn_reset(m, c);
		return 0;
	}
	got = MIN(got, (ssize_t)want);
	/* Each buffer holds its share in turn: a short read fills the first ones. */
	for (; made < nb && got > 0; made++) {
		uint32_t len = MIN(bufs[made].h.len, (uint32_t)got);

		conn_hdr(m, c, &bufs[made].h, VSOCK_OP_RW);
		bufs[made].h.len = len;
		c->tx_cnt += len;
		got -= len;
	}
	/* Out of credit with more to send: ask once; Linux also updates by itself as its reader drains. */
	if (!conn_credit(c) && !c->credit_requested) {
		c->credit_requested = true;
		c->pending |= PEND_CREDIT_REQUEST;
	}
	return made;
}

/* Emit the pending packet op (its bit is cleared). */
static int conn_emit(struct vsock_mux *m, struct vsock_conn *c, struct vsock_hdr *h, uint32_t bit, uint16_t op)
{
	c->pending &= ~bit;
	conn_hdr(m, c, h, op);
	return 1;
}

/*
 * The next packets of c into bufs: how many were filled (a control packet takes one buffer, data as many as
 * one read fills), 0 when it had nothing after all.  *freed is set when c is gone (its last packet was made).
 */
static unsigned int conn_next(struct vsock_mux *m, struct vsock_conn *c, struct vsock_rx_buf *bufs, unsigned int n,
			      bool *freed)
{
	struct vsock_hdr *h = &bufs[0].h;
	unsigned int made;

	if (c->pending & PEND_RST) {
		conn_hdr(m, c, h, VSOCK_OP_RST);
		conn_free(m, c);
		*freed = true;
		return 1;
	}
	if (c->pending & PEND_REQUEST)
		return conn_emit(m, c, h, PEND_REQUEST, VSOCK_OP_REQUEST);
	if (c->pending & PEND_RESPONSE)
		return conn_emit(m, c, h, PEND_RESPONSE, VSOCK_OP_RESPONSE);
	if (c->pending & PEND_CREDIT_UPDATE)
		return conn_emit(m, c, h, PEND_CREDIT_UPDATE, VSOCK_OP_CREDIT_UPDATE);
	if (conn_rw_ready(c)) {
		made = conn_read_rw(m, c, bufs, n);
		if (made)
			return made;
	}
	if (c->pending & PEND_RST)
		return conn_next(m, c, bufs, n, freed); /* reading reset it */
	if (c->pending & PEND_SHUTDOWN) {
		conn_emit(m, c, h, PEND_SHUTDOWN, VSOCK_OP_SHUTDOWN);
		h->flags = c->shut_flags;
		if (c->state == CONN_CLOSING) {
			conn_free(m, c);
			*freed = true;
		}
		return 1;
	}
	if (c->pending & PEND_CREDIT_REQUEST)
		return conn_emit(m, c, h, PEND_CREDIT_REQUEST, VSOCK_OP_CREDIT_REQUEST);
	return 0;
}

bool vsock_mux_guest_pending(const struct vsock_mux *m)
{
	return m->orphan_len || m->qhead;
}

/* The packets of one turn: an orphan RST, or the next connection with something to send. */
static unsigned int mux_next(struct vsock_mux *m, struct vsock_rx_buf *bufs, unsigned int n)
{
	if (m->orphan_len) {
		bufs[0].h = m->orphan[m->orphan_head];
		m->orphan_head = (m->orphan_head + 1) % VSOCK_ORPHAN_RST_MAX;
		m->orphan_len--;
		return 1;
	}
	/*
	 * Round robin: a connection with more to send goes to the back.  Each is visited at most once per call, so
	 * one that cannot send now (no payload room in this buffer) does not keep us here.
	 */
	for (unsigned int visits = m->nconns + 1; m->qhead && visits; visits--) {
		struct vsock_conn *c = m->qhead;
		bool freed = false;
		unsigned int made;

		conn_dequeue(m, c);
		made = conn_next(m, c, bufs, n, &freed);
		if (!freed)
			conn_update_queue(m, c);
		if (made)
			return made;
	}
	return 0;
}

unsigned int vsock_mux_guest_fill(struct vsock_mux *m, struct vsock_rx_buf *bufs, unsigned int n)
{
	unsigned int used = 0;

	while (used < n) {
		unsigned int made = mux_next(m, bufs + used, n - used);

		if (!made)
			break;
		used += made;
	}
	return used;
}

int vsock_mux_guest_next(struct vsock_mux *m, struct vsock_hdr *h, const struct iovec *room, unsigned int n)
{
	struct vsock_rx_buf buf = { .room = room, .nroom = n };

	if (!vsock_mux_guest_fill(m, &buf, 1))
		return 0;
	*h = buf.h;
	return 1;
}

/* ---- host side ---- */

int vsock_mux_listen(struct vsock_mux *m, uint32_t host_cid, uint32_t port, vsock_accept_fn fn, void *opaque)
{
	if (listener_find(m, host_cid, port))
		return err_set(EADDRINUSE, "vsock port %u of CID %u is already listened on", port, host_cid);
	for (unsigned int i = 0; i < VSOCK_MAX_LISTENERS; i++) {
		struct vsock_listener *l = &m->listeners[i];

		if (l->used)
			continue;
		*l = (struct vsock_listener){ true, host_cid, port, fn, opaque };
		return 0;
	}
	return err_set(ENOSPC, "too many vsock listeners (at most %d)", VSOCK_MAX_LISTENERS);
}

void vsock_mux_unlisten(struct vsock_mux *m, uint32_t host_cid, uint32_t port)
{
	struct vsock_listener *l = listener_find(m, host_cid, port);

	if (l)
		memset(l, 0, sizeof(*l));
}

static uint32_t pick_port(struct vsock_mux *m, uint32_t guest_port)
{
	/* At most nconns ports can be taken for this guest port: nconns + 1 tries always find one. */
	for (unsigned int i = 0; i <= m->nconns; i++) {
		uint32_t p = m->next_port;

		m->next_port = p == VSOCK_EPHEMERAL_PORT_MAX ? VSOCK_EPHEMERAL_PORT_MIN : p + 1;
		if (!conn_lookup(m, VSOCK_CID_PARENT, p, guest_port))
			return p;
	}
	return 0;
}

struct vsock_conn *vsock_mux_connect(struct vsock_mux *m, uint32_t guest_port, const struct vsock_endpoint_ops *ops,
				     void *ep, int *err)
{
	struct vsock_conn *c;
	uint32_t port;

	if (!m->guest_cid) {
		*err = err_set(ENOTCONN, "the enclave has no CID yet: it is not running");
		return NULL;
	}
	if (m->nconns >= VSOCK_MAX_CONNECTIONS) {
		mux_log(m, "connection limit reached (%d open): refused parent -> enclave port %u",
			VSOCK_MAX_CONNECTIONS, guest_port);
		*err = err_set(EMFILE, "too many vsock connections to the enclave (at most %d)", VSOCK_MAX_CONNECTIONS);
		return NULL;
	}
	port = pick_port(m, guest_port);
	c = port ? conn_new(m, VSOCK_CID_PARENT, port, guest_port) : NULL;
	if (!c) {
		*err = err_set(ENOMEM, "out of memory opening a vsock connection");
		return NULL;
	}
	c->ops = ops;
	c->ep = ep;
	c->state = CONN_LOCAL_INIT;
	c->pending = PEND_REQUEST;
	conn_enqueue(m, c);
	return c;
}

void vsock_mux_host_readable(struct vsock_mux *m, struct vsock_conn *c)
{
	if (c->state == CONN_CLOSING)
		return;
	c->readable = true;
	conn_update_queue(m, c);
}

void vsock_mux_host_writable(struct vsock_mux *m, struct vsock_conn *c)
{
	if (c->state != CONN_ESTABLISHED)
		return;
	if (!conn_flush(m, c))
		return;
	conn_check_credit_update(c);
	conn_after_flush(m, c);
	if (c->state != CONN_CLOSING)
		conn_update_queue(m, c);
}

void vsock_mux_host_hangup(struct vsock_mux *m, struct vsock_conn *c)
{
	if (c->state == CONN_CLOSING)
		return;
	if (c->state == CONN_LOCAL_INIT) {
		conn_finish(m, c, ECONNRESET, VSOCK_OP_RST);
		return;
	}
	c->host_gone = true;
	c->buf_len = 0; /* nobody will ever read it */
	if (c->host_eof || (c->guest_shut & VSOCK_SHUTDOWN_RCV)) {
		conn_finish(m, c, 0, c->guest_shut & VSOCK_SHUTDOWN_RCV ? VSOCK_OP_RST : VSOCK_OP_SHUTDOWN);
		return;
	}
	c->readable = true;
	conn_update_queue(m, c);
}

void vsock_mux_host_reset(struct vsock_mux *m, struct vsock_conn *c)
{
	if (c->state == CONN_CLOSING)
		return;
	conn_reset(m, c);
}

/* ---- the table as a whole ---- */

struct vsock_mux *vsock_mux_create(void)
{
	struct vsock_mux *m = calloc(1, sizeof(*m));

	if (!m) {
		err_set(ENOMEM, "out of memory creating the vsock connection table");
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	m->next_port = VSOCK_EPHEMERAL_PORT_MIN;
	m->log_budget = VSOCK_LOG_BUDGET;
	return m;
}

static void mux_drop_all(struct vsock_mux *m)
{
	for (unsigned int b = 0; b < VSOCK_CONN_BUCKETS; b++) {
		while (m->buckets[b]) {
			struct vsock_conn *c = m->buckets[b];

			conn_finish(m, c, ECONNRESET, 0);
		}
	}
	m->orphan_len = 0;
	m->orphan_head = 0;
}

void vsock_mux_destroy(struct vsock_mux *m)
{
	if (!m)
		return;
	mux_drop_all(m);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

void vsock_mux_reset(struct vsock_mux *m)
{
	mux_drop_all(m);
}

void vsock_mux_lock(struct vsock_mux *m)
{
	pthread_mutex_lock(&m->lock);
}

void vsock_mux_unlock(struct vsock_mux *m)
{
	pthread_mutex_unlock(&m->lock);
}

void vsock_mux_set_guest_cid(struct vsock_mux *m, uint64_t cid)
{
	m->guest_cid = cid;
}

uint64_t vsock_mux_guest_cid(const struct vsock_mux *m)
{
	return m->guest_cid;
}

void vsock_mux_set_host_poll(struct vsock_mux *m, void (*fn)(void *opaque), void *opaque)
{
	m->host_poll = fn;
	m->host_opaque = opaque;
}

void vsock_mux_poll_host(struct vsock_mux *m)
{
	if (m->host_poll)
		m->host_poll(m->host_opaque);
}

void vsock_conn_addr(const struct vsock_conn *c, uint32_t *host_cid, uint32_t *host_port, uint32_t *guest_port)
{
	*host_cid = c->host_cid;
	*host_port = c->host_port;
	*guest_port = c->guest_port;
}

unsigned int vsock_mux_nconns(const struct vsock_mux *m)
{
	return m->nconns;
}

void vsock_mux_get_stats(const struct vsock_mux *m, struct vsock_mux_stats *s)
{
	*s = m->stats;
}
