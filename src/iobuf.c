/* SPDX-License-Identifier: ISC */
/*
 * The worker's pool of I/O buffers. Standard buffers are pkt_buf bytes and are recycled
 * through a free list; a buffer grown past that (a startup packet or a message weir must
 * read whole) comes from malloc and goes back to it, so large packets cost memory only
 * while they are in flight.
 */
#include <string.h>

#include "iobuf.h"
#include "log.h"

void iobuf_pool_init(struct iobuf_pool *p, uint32_t size)
{
	list_init(&p->free);
	p->size = size;
	p->max_free = 1024;
	p->in_use = 0;
}

void iobuf_pool_destroy(struct iobuf_pool *p)
{
	struct list_node *n;

	while ((n = list_pop_first(&p->free)))
		free(list_entry(n, struct iobuf, node));
}

/* NULL when the memory cannot be had. */
static struct iobuf *iobuf_try_new(uint32_t cap)
{
	struct iobuf *b = malloc(sizeof(*b) + cap);

	if (!b)
		return NULL;
	list_node_init(&b->node);
	b->cap = cap;
	b->send_pos = b->scan_pos = b->recv_pos = 0;
	return b;
}

/* Standard buffers: small, one per connection in flight; running out of them is fatal. */
static struct iobuf *iobuf_new(uint32_t cap)
{
	struct iobuf *b = iobuf_try_new(cap);

	if (!b)
		die("out of memory");
	return b;
}

struct iobuf *iobuf_get(struct iobuf_pool *p)
{
	struct list_node *n = list_pop_first(&p->free);
	struct iobuf *b;

	p->in_use++;
	if (!n)
		return iobuf_new(p->size);
	b = list_entry(n, struct iobuf, node);
	b->send_pos = b->scan_pos = b->recv_pos = 0;
	return b;
}

void iobuf_put(struct iobuf_pool *p, struct iobuf *b)
{
	p->in_use--;
	if (b->cap != p->size || p->free.count >= p->max_free) {
		free(b);
		return;
	}
	list_prepend(&p->free, &b->node);
}

void iobuf_compact(struct iobuf *b)
{
	uint32_t live = b->recv_pos - b->send_pos;

	if (b->send_pos == 0)
		return;
	if (live)
		memmove(b->data, b->data + b->send_pos, live);
	b->scan_pos -= b->send_pos;
	b->recv_pos -= b->send_pos;
	b->send_pos = 0;
}

bool iobuf_reserve(struct iobuf_pool *p, struct iobuf **bp, uint32_t need, uint32_t max)
{
	struct iobuf *b = *bp, *nb;
	uint32_t live;

	if (b->cap - b->scan_pos >= need)
		return true;
	iobuf_compact(b);
	if (b->cap - b->scan_pos >= need)
		return true;
	if (need > max || need > UINT32_MAX - b->scan_pos)
		return false;
	live = b->recv_pos;
	nb = iobuf_try_new(b->scan_pos + need);
	if (!nb)
		return false;
	memcpy(nb->data, b->data, live);
	nb->scan_pos = b->scan_pos;
	nb->recv_pos = b->recv_pos;
	p->in_use++;
	iobuf_put(p, b);
	*bp = nb;
	return true;
}

bool iobuf_append(struct iobuf_pool *p, struct iobuf **bp, const void *data, size_t len)
{
	struct iobuf *b;

	if (len > UINT32_MAX / 2)
		return false;
	if (!*bp)
		*bp = iobuf_get(p);
	if (!iobuf_reserve(p, bp, (uint32_t)len, UINT32_MAX / 2))
		return false;
	b = *bp;
	memcpy(b->data + b->scan_pos, data, len);
	b->scan_pos += (uint32_t)len;
	b->recv_pos = b->scan_pos;
	return true;
}
