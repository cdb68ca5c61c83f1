// SPDX-License-Identifier: MIT
/* vhost-user messages: checking, encoding, and moving them over the socket with their descriptors. */
#include "vhost_user.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/util.h"

#define VRING_STATE_SIZE 8
#define VRING_ADDR_SIZE	 40
#define REGION_SIZE	 32
#define MEM_HDR_SIZE	 8  /* nregions, padding */
#define CONFIG_HDR_SIZE	 12 /* offset, size, flags */

static const char *const request_names[] = {
	[VHOST_USER_GET_FEATURES] = "GET_FEATURES",
	[VHOST_USER_SET_FEATURES] = "SET_FEATURES",
	[VHOST_USER_SET_OWNER] = "SET_OWNER",
	[VHOST_USER_RESET_OWNER] = "RESET_OWNER",
	[VHOST_USER_SET_MEM_TABLE] = "SET_MEM_TABLE",
	[VHOST_USER_SET_LOG_BASE] = "SET_LOG_BASE",
	[VHOST_USER_SET_LOG_FD] = "SET_LOG_FD",
	[VHOST_USER_SET_VRING_NUM] = "SET_VRING_NUM",
	[VHOST_USER_SET_VRING_ADDR] = "SET_VRING_ADDR",
	[VHOST_USER_SET_VRING_BASE] = "SET_VRING_BASE",
	[VHOST_USER_GET_VRING_BASE] = "GET_VRING_BASE",
	[VHOST_USER_SET_VRING_KICK] = "SET_VRING_KICK",
	[VHOST_USER_SET_VRING_CALL] = "SET_VRING_CALL",
	[VHOST_USER_SET_VRING_ERR] = "SET_VRING_ERR",
	[VHOST_USER_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
	[VHOST_USER_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
	[VHOST_USER_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
	[VHOST_USER_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
	[VHOST_USER_SEND_RARP] = "SEND_RARP",
	[VHOST_USER_NET_SET_MTU] = "NET_SET_MTU",
	[VHOST_USER_SET_BACKEND_REQ_FD] = "SET_BACKEND_REQ_FD",
	[VHOST_USER_IOTLB_MSG] = "IOTLB_MSG",
	[VHOST_USER_SET_VRING_ENDIAN] = "SET_VRING_ENDIAN",
	[VHOST_USER_GET_CONFIG] = "GET_CONFIG",
	[VHOST_USER_SET_CONFIG] = "SET_CONFIG",
	[VHOST_USER_RESET_DEVICE] = "RESET_DEVICE",
	[VHOST_USER_GET_MAX_MEM_SLOTS] = "GET_MAX_MEM_SLOTS",
	[VHOST_USER_SET_STATUS] = "SET_STATUS",
	[VHOST_USER_GET_STATUS] = "GET_STATUS",
};

const char *vhost_user_request_name(uint32_t request)
{
	if (request < ARRAY_SIZE(request_names) && request_names[request])
		return request_names[request];
	return "an unknown request";
}

/* The payload size a request's message has (for requests with a fixed size), or -1 when it varies or is unknown. */
static int vhost_user_payload_size(uint32_t request)
{
	switch (request) {
	case VHOST_USER_GET_FEATURES:
	case VHOST_USER_SET_OWNER:
	case VHOST_USER_RESET_OWNER:
	case VHOST_USER_GET_PROTOCOL_FEATURES:
	case VHOST_USER_GET_QUEUE_NUM:
	case VHOST_USER_RESET_DEVICE:
	case VHOST_USER_GET_MAX_MEM_SLOTS:
	case VHOST_USER_GET_STATUS:
		return 0;
	case VHOST_USER_SET_FEATURES:
	case VHOST_USER_SET_PROTOCOL_FEATURES:
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
	case VHOST_USER_SET_STATUS:
		return 8;
	case VHOST_USER_SET_VRING_NUM:
	case VHOST_USER_SET_VRING_BASE:
	case VHOST_USER_GET_VRING_BASE:
	case VHOST_USER_SET_VRING_ENABLE:
		return VRING_STATE_SIZE;
	case VHOST_USER_SET_VRING_ADDR:
		return VRING_ADDR_SIZE;
	default:
		return -1;
	}
}

/* A reply's payload: a u64 for the GET_* of a number and for REPLY_ACK's status, a state for GET_VRING_BASE. */
static int reply_size(uint32_t request)
{
	switch (request) {
	case VHOST_USER_GET_VRING_BASE:
		return VRING_STATE_SIZE;
	case VHOST_USER_GET_CONFIG:
		return -1;
	default:
		return 8;
	}
}

static int bad(const char *what, uint32_t request, unsigned long long v)
{
	return err_set(EPROTO, "vhost-user %s: %s (%llu)", vhost_user_request_name(request), what, v);
}

static int decode_mem_table(const uint8_t *p, struct vhost_user_msg *m, unsigned int nfds)
{
	uint32_t n = get_le32(p);

	if (n == 0 || n > VHOST_USER_MAX_REGIONS)
		return bad("a memory table of 1 to 8 regions expected", m->request, n);
	if (m->size != MEM_HDR_SIZE + n * REGION_SIZE)
		return bad("the size does not match the region count", m->request, m->size);
	if (nfds != n)
		return bad("one descriptor per region expected", m->request, nfds);
	m->mem.nregions = n;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *r = p + MEM_HDR_SIZE + i * REGION_SIZE;
		struct vhost_user_region *reg = &m->mem.regions[i];

		reg->gpa = get_le64(r);
		reg->size = get_le64(r + 8);
		reg->uaddr = get_le64(r + 16);
		reg->mmap_offset = get_le64(r + 24);
		/* Each range must not wrap, in any of the three address spaces it is given in. */
		if (!reg->size || reg->gpa + reg->size < reg->gpa || reg->uaddr + reg->size < reg->uaddr ||
		    reg->mmap_offset + reg->size < reg->mmap_offset)
			return bad("a region is empty or wraps around", m->request, i);
	}
	return 0;
}

static int decode_config(const uint8_t *p, struct vhost_user_msg *m, bool is_reply)
{
	if (m->size < CONFIG_HDR_SIZE)
		return bad("a config header expected", m->request, m->size);
	m->config.offset = get_le32(p);
	m->config.size = get_le32(p + 4);
	m->config.flags = get_le32(p + 8);
	if (m->config.size > VHOST_USER_MAX_CONFIG || m->config.offset > VHOST_USER_MAX_CONFIG ||
	    m->config.offset + m->config.size > VHOST_USER_MAX_CONFIG)
		return bad("config range outside 256 bytes", m->request, m->config.offset + (uint64_t)m->config.size);
	if (m->size != CONFIG_HDR_SIZE + m->config.size)
		return bad("the size does not match the config size", m->request, m->size);
	/* GET_CONFIG's request carries room for the answer too; only SET_CONFIG's and the reply's bytes count. */
	if (m->request == VHOST_USER_SET_CONFIG || is_reply)
		memcpy(m->config.data, p + CONFIG_HDR_SIZE, m->config.size);
	return 0;
}

int vhost_user_decode(const uint8_t *buf, size_t len, unsigned int nfds, bool is_reply, struct vhost_user_msg *m)
{
	const uint8_t *p = buf + VHOST_USER_HDR_SIZE;
	unsigned int want_fds = 0;
	int fixed;

	memset(m, 0, offsetof(struct vhost_user_msg, fds));
	if (len < VHOST_USER_HDR_SIZE)
		return err_set(EPROTO, "vhost-user: a message of %zu bytes is shorter than its header", len);
	m->request = get_le32(buf);
	m->flags = get_le32(buf + 4);
	m->size = get_le32(buf + 8);
	if ((m->flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION)
		return bad("protocol version 1 expected", m->request, m->flags & VHOST_USER_VERSION_MASK);
	if (!!(m->flags & VHOST_USER_FLAG_REPLY) != is_reply)
		return bad(is_reply ? "a reply expected" : "a reply where a request was expected", m->request, m->flags);
	if (m->size > VHOST_USER_PAYLOAD_MAX || len - VHOST_USER_HDR_SIZE != m->size)
		return bad("payload size out of bounds or not what came", m->request, m->size);
	if (nfds > VHOST_USER_MAX_FDS)
		return bad("too many descriptors", m->request, nfds);
	fixed = is_reply ? reply_size(m->request) : vhost_user_payload_size(m->request);
	if (fixed >= 0 && m->size != (uint32_t)fixed)
		return bad("wrong payload size", m->request, m->size);
	switch (m->request) {
	case VHOST_USER_SET_MEM_TABLE:
		if (is_reply)
			break;
		if (m->size < MEM_HDR_SIZE)
			return bad("a memory table header expected", m->request, m->size);
		return decode_mem_table(p, m, nfds);
	case VHOST_USER_GET_CONFIG:
	case VHOST_USER_SET_CONFIG:
		if (is_reply && m->request == VHOST_USER_SET_CONFIG)
			break;
		if (nfds)
			return bad("no descriptor expected", m->request, nfds);
		return decode_config(p, m, is_reply);
	case VHOST_USER_SET_VRING_ADDR:
		if (is_reply)
			break;
		m->addr.index = get_le32(p);
		m->addr.flags = get_le32(p + 4);
		m->addr.desc = get_le64(p + 8);
		m->addr.used = get_le64(p + 16);
		m->addr.avail = get_le64(p + 24);
		m->addr.log = get_le64(p + 32);
		break;
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
		m->u64 = get_le64(p);
		if (!is_reply && !(m->u64 & VHOST_USER_VRING_NOFD_MASK))
			want_fds = 1;
		if (!is_reply && (m->u64 & ~(uint64_t)(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD_MASK)))
			return bad("unknown bits in the queue word", m->request, m->u64);
		break;
	default:
		if (m->size == 8)
			m->u64 = get_le64(p);
		break;
	}
	if (m->size == VRING_STATE_SIZE && (m->request == VHOST_USER_SET_VRING_NUM ||
					    m->request == VHOST_USER_SET_VRING_BASE ||
					    m->request == VHOST_USER_GET_VRING_BASE ||
					    m->request == VHOST_USER_SET_VRING_ENABLE)) {
		m->state.index = get_le32(p);
		m->state.num = get_le32(p + 4);
	}
	if (nfds != want_fds)
		return bad(want_fds ? "one descriptor expected" : "no descriptor expected", m->request, nfds);
	return 0;
}

static size_t encode_config(const struct vhost_user_msg *m, uint8_t *p)
{
	uint32_t n = MIN(m->config.size, (uint32_t)VHOST_USER_MAX_CONFIG);

	put_le32(p, m->config.offset);
	put_le32(p + 4, n);
	put_le32(p + 8, m->config.flags);
	memcpy(p + CONFIG_HDR_SIZE, m->config.data, n);
	return CONFIG_HDR_SIZE + n;
}

static size_t encode_state(const struct vhost_user_msg *m, uint8_t *p)
{
	put_le32(p, m->state.index);
	put_le32(p + 4, m->state.num);
	return VRING_STATE_SIZE;
}

/* A reply: the configuration, a ring's state, or a u64 (a number asked for, or REPLY_ACK's status). */
static size_t encode_reply(const struct vhost_user_msg *m, uint8_t *p)
{
	if (m->request == VHOST_USER_GET_CONFIG)
		return encode_config(m, p);
	if (m->request == VHOST_USER_GET_VRING_BASE)
		return encode_state(m, p);
	put_le64(p, m->u64);
	return 8;
}

static size_t encode_request(const struct vhost_user_msg *m, uint8_t *p)
{
	switch (m->request) {
	case VHOST_USER_SET_MEM_TABLE: {
		uint32_t n = MIN(m->mem.nregions, (uint32_t)VHOST_USER_MAX_REGIONS);

		put_le32(p, n);
		put_le32(p + 4, 0);
		for (uint32_t i = 0; i < n; i++) {
			uint8_t *r = p + MEM_HDR_SIZE + i * REGION_SIZE;

			put_le64(r, m->mem.regions[i].gpa);
			put_le64(r + 8, m->mem.regions[i].size);
			put_le64(r + 16, m->mem.regions[i].uaddr);
			put_le64(r + 24, m->mem.regions[i].mmap_offset);
		}
		return MEM_HDR_SIZE + (size_t)n * REGION_SIZE;
	}
	case VHOST_USER_SET_VRING_ADDR:
		put_le32(p, m->addr.index);
		put_le32(p + 4, m->addr.flags);
		put_le64(p + 8, m->addr.desc);
		put_le64(p + 16, m->addr.used);
		put_le64(p + 24, m->addr.avail);
		put_le64(p + 32, m->addr.log);
		return VRING_ADDR_SIZE;
	case VHOST_USER_GET_CONFIG:
	case VHOST_USER_SET_CONFIG:
		return encode_config(m, p);
	case VHOST_USER_SET_VRING_NUM:
	case VHOST_USER_SET_VRING_BASE:
	case VHOST_USER_GET_VRING_BASE:
	case VHOST_USER_SET_VRING_ENABLE:
		return encode_state(m, p);
	default:
		if (vhost_user_payload_size(m->request) == 0)
			return 0;
		put_le64(p, m->u64);
		return 8;
	}
}

/* Encode a message into buf (VHOST_USER_HDR_SIZE + payload); returns the length. */
static size_t vhost_user_encode(const struct vhost_user_msg *m, uint8_t *buf, size_t len)
{
	size_t size;

	if (len < VHOST_USER_HDR_SIZE + VHOST_USER_PAYLOAD_MAX)
		return 0;
	size = m->flags & VHOST_USER_FLAG_REPLY ? encode_reply(m, buf + VHOST_USER_HDR_SIZE)
						: encode_request(m, buf + VHOST_USER_HDR_SIZE);
	put_le32(buf, m->request);
	put_le32(buf + 4, m->flags);
	put_le32(buf + 8, (uint32_t)size);
	return VHOST_USER_HDR_SIZE + size;
}

void vhost_user_close_fds(struct vhost_user_msg *m)
{
	for (unsigned int i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	m->nfds = 0;
}

/* Read exactly len bytes, waiting at most timeout_ms between pieces. */
static int read_rest(int fd, uint8_t *buf, size_t len, int timeout_ms)
{
	while (len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, timeout_ms) <= 0)
			return err_set(ETIMEDOUT, "vhost-user: the peer stopped in the middle of a message");
		n = recv(fd, buf, len, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return err_set(ECONNRESET, "vhost-user: the peer closed the connection in a message");
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int vhost_user_recv(int fd, bool is_reply, int timeout_ms, struct vhost_user_msg *m)
{
	uint8_t buf[VHOST_USER_HDR_SIZE + VHOST_USER_PAYLOAD_MAX];
	char control[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
	struct iovec iov = { buf, VHOST_USER_HDR_SIZE };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			     .msg_controllen = sizeof(control) };
	struct cmsghdr *c;
	uint32_t size;
	ssize_t n;
	int ret;

	m->nfds = 0;
	/* Never a blocking read: a peer that stalls costs at most timeout_ms, never the caller's thread. */
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n >= 0 || (errno != EINTR && errno != EAGAIN))
			break;
		if (errno == EAGAIN && poll(&pfd, 1, timeout_ms) == 0)
			return err_set(ETIMEDOUT, "vhost-user: no message from the peer within %d ms", timeout_ms);
	}
	/* Descriptors first: whatever else is wrong, none of them may leak. */
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t count;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < count; i++) {
			int d;

			memcpy(&d, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (m->nfds < VHOST_USER_MAX_FDS)
				m->fds[m->nfds++] = d;
			else
				close(d);
		}
	}
	if (n == 0)
		return -ECONNRESET;
	if (n < 0) {
		ret = err_set(errno, "vhost-user: reading a message failed: %s", strerror(errno));
		goto fail;
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		ret = err_set(EPROTO, "vhost-user: a message came with more than %d descriptors", VHOST_USER_MAX_FDS);
		goto fail;
	}
	if ((size_t)n < VHOST_USER_HDR_SIZE) {
		ret = read_rest(fd, buf + n, VHOST_USER_HDR_SIZE - (size_t)n, timeout_ms);
		if (ret < 0)
			goto fail;
	}
	size = get_le32(buf + 8);
	if (size > VHOST_USER_PAYLOAD_MAX) {
		ret = bad("payload size out of bounds", get_le32(buf), size);
		goto fail;
	}
	ret = read_rest(fd, buf + VHOST_USER_HDR_SIZE, size, timeout_ms);
	if (ret < 0)
		goto fail;
	/* decode leaves m->fds and m->nfds alone. */
	ret = vhost_user_decode(buf, VHOST_USER_HDR_SIZE + size, m->nfds, is_reply, m);
	if (ret < 0)
		goto fail;
	return 0;
fail:
	vhost_user_close_fds(m);
	return ret;
}

int vhost_user_send(int fd, const struct vhost_user_msg *m)
{
	uint8_t buf[VHOST_USER_HDR_SIZE + VHOST_USER_PAYLOAD_MAX];
	char control[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)] = { 0 };
	size_t len = vhost_user_encode(m, buf, sizeof(buf));
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (m->nfds) {
		struct cmsghdr *c;

		mh.msg_control = control;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * m->nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * m->nfds);
		memcpy(CMSG_DATA(c), m->fds, sizeof(int) * m->nfds);
	}
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return err_set(errno, "vhost-user: sending %s failed: %s", vhost_user_request_name(m->request),
			       strerror(errno));
	if ((size_t)n != len)
		return err_set(EIO, "vhost-user: %s went out short", vhost_user_request_name(m->request));
	return 0;
}
