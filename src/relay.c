/* SPDX-License-Identifier: ISC */
/*
 * The relay: bytes a connection received are scanned header by header and written from the
 * same buffer to the peer's socket. Per message the owner (client.c or server.c) decides
 * through conn_ops.on_message whether to forward it, read it whole first, or consume it.
 * Forwarded messages larger than the buffer are streamed (pkt_remain); consumed messages
 * that follow unsent bytes are dropped after those bytes are flushed (pkt_skip). When the
 * peer's socket is full the source stops reading until the peer drains: backpressure.
 */
#include <string.h>

#include "config.h"
#include "conn.h"
#include "iobuf.h"
#include "registry.h"
#include "relay.h"
#include "sock.h"
#include "wire.h"
#include "worker.h"

static uint32_t max_packet(const struct conn *c)
{
	return (uint32_t)c->worker->reg->cfg->max_packet_size;
}

enum io_result relay_read(struct conn *c)
{
	struct iobuf *b;
	enum io_result r;
	size_t n;

	if (!c->buf)
		c->buf = iobuf_get(&c->worker->bufs);
	b = c->buf;
	if (b->recv_pos == b->cap)
		iobuf_compact(b);
	if (b->recv_pos == b->cap)
		return IO_AGAIN;
	r = conn_read(c, b->data + b->recv_pos, b->cap - b->recv_pos, &n);
	b->recv_pos += (uint32_t)n;
	return r;
}

/* Writes b's approved bytes to dst's socket until done or the socket is full. */
static enum io_result send_buffer(struct conn *dst, struct iobuf *b)
{
	while (iobuf_unsent(b) > 0) {
		size_t n;
		enum io_result r = conn_write(dst, b->data + b->send_pos, iobuf_unsent(b), &n);

		if (r != IO_OK)
			return r;
		b->send_pos += (uint32_t)n;
	}
	return IO_OK;
}

/* Writes src's approved bytes to its peer, after the peer's own queued output. */
static enum io_result flush_to_peer(struct conn *src)
{
	struct conn *dst = src->peer;

	if (dst->out || dst->fd < 0)
		return IO_AGAIN;
	return send_buffer(dst, src->buf);
}

/* Drops bytes of a consumed message once nothing unsent precedes them. */
static void skip_bytes(struct conn *c)
{
	struct iobuf *b = c->buf;
	uint32_t take = iobuf_unscanned(b);

	if (take > c->pkt_skip)
		take = c->pkt_skip;
	b->scan_pos += take;
	b->send_pos = b->scan_pos;
	c->pkt_skip -= take;
}

/*
 * Room to read more of an incomplete message that must be read whole. The room at most
 * doubles per step (or grows by one standard buffer), so memory follows the bytes that
 * arrive, never the length a header declares.
 */
static bool grow_toward(struct conn *c, uint32_t total)
{
	uint32_t have = iobuf_unscanned(c->buf);
	uint64_t step = have > c->worker->bufs.size ? have : c->worker->bufs.size;
	uint64_t need = (uint64_t)have + step < total ? (uint64_t)have + step : total;

	return iobuf_reserve(&c->worker->bufs, &c->buf, (uint32_t)need, max_packet(c) + 1);
}

/* SCAN_AGAIN: flush, then scan on (the message asked for what precedes it to go first). */
enum scan_result {
	SCAN_MORE,
	SCAN_FLUSH,
	SCAN_AGAIN,
	SCAN_STOP,
	SCAN_CLOSED
};

static enum scan_result scan_message(struct conn *c)
{
	struct iobuf *b = c->buf;
	uint32_t avail = iobuf_unscanned(b), len, total;
	uint8_t type;
	bool complete;

	switch (wire_typed_header(b->data + b->scan_pos, avail, max_packet(c), &type, &len)) {
	case WIRE_HDR_NEED_MORE:
		return SCAN_FLUSH;
	case WIRE_HDR_BAD:
		c->ops->on_protocol_error(c, "08P01", "invalid packet length");
		return SCAN_CLOSED;
	case WIRE_HDR_OK:
		break;
	}
	total = len + 1;
	complete = avail >= total;
	switch (c->ops->on_message(c, type, b->data + b->scan_pos, total, complete)) {
	case RELAY_FORWARD:
		b = c->buf;
		if (complete) {
			b->scan_pos += total;
		} else {
			b->scan_pos += avail;
			c->pkt_remain = total - avail;
		}
		return SCAN_MORE;
	case RELAY_NEED_ALL:
		ASSERT(!complete);
		if (!grow_toward(c, total)) {
			c->ops->on_protocol_error(c, "53200", "out of memory for a message");
			return SCAN_CLOSED;
		}
		return SCAN_FLUSH;
	case RELAY_CONSUME:
		c->pkt_skip = total;
		if (iobuf_unsent(c->buf) == 0)
			skip_bytes(c);
		return c->closed ? SCAN_CLOSED : SCAN_MORE;
	case RELAY_FLUSH_FIRST:
		return c->closed ? SCAN_CLOSED : SCAN_AGAIN;
	case RELAY_STOP:
		break;
	}
	return c->closed ? SCAN_CLOSED : SCAN_STOP;
}

static enum scan_result scan(struct conn *c)
{
	while (c->buf && iobuf_unscanned(c->buf) > 0 && !c->hold) {
		struct iobuf *b = c->buf;
		enum scan_result r;

		if (c->pkt_skip) {
			if (iobuf_unsent(b) > 0)
				return SCAN_FLUSH;
			skip_bytes(c);
			continue;
		}
		if (c->pkt_remain) {
			uint32_t take = iobuf_unscanned(b);

			if (take > c->pkt_remain)
				take = c->pkt_remain;
			b->scan_pos += take;
			c->pkt_remain -= take;
			continue;
		}
		r = scan_message(c);
		if (r != SCAN_MORE)
			return r;
	}
	return SCAN_FLUSH;
}

/* After everything approved was sent: reuse the buffer from the start, or give it back. */
static void settle_buffer(struct conn *c)
{
	struct iobuf *b = c->buf;

	if (!b || iobuf_unsent(b) > 0)
		return;
	if (b->scan_pos == b->recv_pos) {
		b->send_pos = b->scan_pos = b->recv_pos = 0;
		conn_release_buf_if_empty(c);
	} else if (b->cap - b->recv_pos < 64) {
		iobuf_compact(b);
	}
}

static bool process_loop(struct conn *c)
{
	for (;;) {
		enum scan_result r = scan(c);
		enum io_result io = IO_OK;

		if (r == SCAN_CLOSED || c->closed)
			return false;
		if (c->buf && iobuf_unsent(c->buf) > 0) {
			if (!c->peer)
				return true;
			io = flush_to_peer(c);
		}
		if (io == IO_ERROR) {
			c->peer->ops->on_eof(c->peer, "write failed");
			return false;
		}
		c->paused = io == IO_AGAIN;
		conn_update_events(c);
		if (c->peer)
			conn_update_events(c->peer);
		if (io == IO_AGAIN)
			return true;
		settle_buffer(c);
		if (c->hold) {
			c->hold = false;
			if (!c->ops->on_flushed(c) || c->closed)
				return !c->closed;
			continue;
		}
		if (r == SCAN_AGAIN)
			continue;
		if (r == SCAN_STOP || !c->buf || !c->pkt_skip || iobuf_unscanned(c->buf) == 0)
			return true;
	}
}

bool relay_process(struct conn *c)
{
	bool ok;

	if (c->processing)
		return !c->closed;
	c->processing = true;
	ok = process_loop(c);
	c->processing = false;
	return ok && !c->closed;
}

int relay_next_message(struct conn *c, uint32_t max, const uint8_t **msg, uint32_t *total)
{
	struct iobuf *b = c->buf;
	uint32_t len;
	uint8_t type;

	if (!b)
		return 0;
	switch (wire_typed_header(b->data + b->scan_pos, iobuf_unscanned(b), max, &type, &len)) {
	case WIRE_HDR_NEED_MORE:
		return 0;
	case WIRE_HDR_BAD:
		return -1;
	case WIRE_HDR_OK:
		break;
	}
	if (iobuf_unscanned(b) < len + 1) {
		if (!iobuf_reserve(&c->worker->bufs, &c->buf, len + 1, max + 1))
			return -1;
		return 0;
	}
	*msg = b->data + b->scan_pos;
	*total = len + 1;
	return 1;
}

void relay_consume(struct conn *c, uint32_t n)
{
	struct iobuf *b = c->buf;

	b->scan_pos += n;
	b->send_pos = b->scan_pos;
}

bool relay_mid_message(const struct conn *c)
{
	return c->pkt_remain > 0 || (c->buf && iobuf_unsent(c->buf) > 0);
}

static enum io_result flush_own_output(struct conn *c)
{
	enum io_result r = send_buffer(c, c->out);

	if (r == IO_OK) {
		iobuf_put(&c->worker->bufs, c->out);
		c->out = NULL;
	}
	return r;
}

void relay_on_writable(struct conn *c)
{
	struct conn *src = c->peer;

	if (c->connecting) {
		c->connecting = false;
		c->ops->on_connected(c, sock_connect_error(c->fd));
		if (c->closed)
			return;
	}
	if (c->out) {
		enum io_result r = flush_own_output(c);

		if (r == IO_ERROR) {
			c->ops->on_eof(c, "write failed");
			return;
		}
	}
	/* Also after a partial write: whoever called, bytes left queued keep EV_WRITE armed. */
	conn_update_events(c);
	if (c->out)
		return;
	if (src && src->buf && iobuf_unsent(src->buf) > 0)
		(void)relay_process(src);
}
