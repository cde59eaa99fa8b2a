/* SPDX-License-Identifier: ISC */
/*
 * Moving bytes: read from a socket into the connection's buffer, walk message headers
 * through conn_ops.on_message, and write approved bytes straight from that buffer to the
 * peer's socket. Nothing is copied on the way; a message larger than the buffer is streamed
 * in pieces. When the peer cannot take more, reading from the source pauses until the peer
 * drains (backpressure), so memory per connection stays bounded.
 */
#pragma once

#include "common.h"
#include "conn_io.h"

struct conn;

/* Reads once into c->buf (attaching a buffer if needed). */
enum io_result relay_read(struct conn *c);

/*
 * Scans c's unscanned bytes and forwards approved ones to c->peer. Returns false if c or its
 * peer was closed on the way. Safe to call again at any time (e.g. after linking a peer).
 */
bool relay_process(struct conn *c);

/*
 * For login phases that parse messages themselves: the next complete typed message in c's
 * buffer. Returns 1 with msg and total set, 0 if more data is needed, -1 on a bad header or a
 * message larger than max. The caller calls relay_consume(c, total) to mark it handled;
 * the bytes stay valid (the buffer is not released) until conn_release_buf_if_empty().
 */
int relay_next_message(struct conn *c, uint32_t max, const uint8_t **msg, uint32_t *total);
void relay_consume(struct conn *c, uint32_t n);

/*
 * Whether part of a message c forwarded has not reached the peer yet: the rest of it is
 * still to come from c's socket, or approved bytes still wait in c's buffer. A peer left
 * in such a state holds half a message and must not be handed to anyone else.
 */
bool relay_mid_message(const struct conn *c);

/* Socket writable: flushes c's own output, then the peer's data destined for c. */
void relay_on_writable(struct conn *c);
