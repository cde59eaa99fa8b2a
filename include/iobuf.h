/* SPDX-License-Identifier: ISC */
/*
 * I/O buffers for data in flight. A connection holds one only while bytes it received are
 * waiting to be inspected or forwarded; the worker keeps released standard-size buffers on
 * a free list, so the relay path does not allocate. Layout of the live region:
 *
 *   [0, send_pos)         already sent to the peer
 *   [send_pos, scan_pos)  inspected and approved, waiting to be sent
 *   [scan_pos, recv_pos)  received, not yet inspected
 */
#pragma once

#include "common.h"
#include "list.h"

struct iobuf {
	struct list_node node; /* on the pool's free list while unused */
	uint32_t cap;
	uint32_t send_pos;
	uint32_t scan_pos;
	uint32_t recv_pos;
	uint8_t data[];
};

/* Free standard-size buffers of one worker. */
struct iobuf_pool {
	struct list_head free;
	uint32_t size;	   /* pkt_buf */
	unsigned max_free; /* keep at most this many free */
	unsigned in_use;
};

void iobuf_pool_init(struct iobuf_pool *p, uint32_t size);
void iobuf_pool_destroy(struct iobuf_pool *p);
struct iobuf *iobuf_get(struct iobuf_pool *p);
void iobuf_put(struct iobuf_pool *p, struct iobuf *b);

/*
 * Makes room for `need` contiguous bytes from scan_pos: compacts if sent bytes can be
 * dropped, or replaces *bp with a larger heap buffer (returned to malloc, not the pool, when
 * put back). False, leaving *bp as it was, if need exceeds max or the memory cannot be had
 * (network input asks for it: the caller closes that connection, weir goes on).
 */
MUST_CHECK bool iobuf_reserve(struct iobuf_pool *p, struct iobuf **bp, uint32_t need, uint32_t max);

/*
 * Queues len bytes at the end of *bp (taken from the pool when NULL), as one output queue:
 * approved and received at once. False if they cannot be held (the caller closes).
 */
MUST_CHECK bool iobuf_append(struct iobuf_pool *p, struct iobuf **bp, const void *data, size_t len);

/* Moves unsent bytes to the start of the buffer. */
void iobuf_compact(struct iobuf *b);

static inline uint32_t iobuf_unsent(const struct iobuf *b)
{
	return b->scan_pos - b->send_pos;
}

static inline uint32_t iobuf_unscanned(const struct iobuf *b)
{
	return b->recv_pos - b->scan_pos;
}

static inline bool iobuf_is_empty(const struct iobuf *b)
{
	return b->send_pos == b->recv_pos;
}
