/* SPDX-License-Identifier: ISC */
/*
 * Cancel requests. Each logged-in client has weir's own random (pid, key); this module keeps
 * the table from keys to clients, and forwards a CancelRequest to PostgreSQL over a new
 * connection, with the real key of the server running that client's query. While a cancel
 * is in flight its target server is not given to another client. A client still queued
 * for a server is taken out of the queue and answered with 57014 instead.
 */
#pragma once

#include "common.h"
#include "list.h"
#include "random_pool.h"

struct client;
struct server;
struct worker;

/* Key table: a hash of (pid, key) to clients, sized as it grows. */
struct cancel_table {
	struct list_head *buckets; /* owned */
	unsigned nbuckets;	   /* power of two */
	unsigned count;
};

void cancel_table_init(struct cancel_table *t);
void cancel_table_free(struct cancel_table *t);
/*
 * Draws a fresh random key for the client and registers it, with process id pid (the
 * backend's, in session pooling), or a random one of weir's own when pid is 0.
 */
MUST_CHECK bool cancel_register(struct cancel_table *t, struct random_pool *rnd,
				struct client *client, uint32_t pid);
void cancel_unregister(struct cancel_table *t, struct client *client);

/* A CancelRequest arrived on a new connection of worker w. */
void cancel_handle(struct worker *w, uint32_t pid, uint32_t key);

/*
 * Asks PostgreSQL to cancel what server is running, over a new connection with its real
 * key; the server is not reused before that connection is done.
 */
void cancel_forward(struct server *server);

/* At exit: every cancel request still in flight on worker w is dropped. */
void cancel_free_all(struct worker *w);

/* The server is going away: cancels aimed at it forget it. */
void cancel_detach_server(struct server *server);
