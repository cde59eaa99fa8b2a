/* SPDX-License-Identifier: ISC */
/*
 * The scheduler: pairing clients that need a server with idle servers of their pool, and
 * opening the servers they need within the pool's limits and the caps shared by pools
 * (max_db_connections, max_user_connections), evicting idle servers to make room when a
 * cap is reached. Waiting clients are served first-in first-out. In session pooling a
 * client is paired, at login, only with a server whose own login had the same startup
 * values (so that RESET means what it means on PostgreSQL): one is opened for it when none
 * is idle, an idle server with other values giving up its room when the pool is full.
 */
#pragma once

#include "common.h"

struct pool;
struct client;
struct worker;

/*
 * A client needs a server: links an idle one, or queues the client (launching a new
 * connection when the limits allow). A replication client gets a server of its own.
 * Returns false when the client was closed (fast fail).
 */
MUST_CHECK bool pool_request_server(struct pool *pool, struct client *client);

/*
 * Whether the client's login can have a server without waiting for one in use: an idle
 * one fits it, or one can be opened (an idle one of the pool giving up its room). A login
 * never waits for a server in use: a client that opens a second connection while holding
 * a first must not block on itself.
 */
bool pool_can_serve_login(struct pool *pool, const struct client *client);

/*
 * Pairs waiting clients with idle servers, and opens the connections they need. Also
 * called after a server was freed, so that its room is used at once.
 */
void pool_schedule(struct pool *pool, struct worker *w);

/*
 * A server finished its login (and is idle): it goes to the client it was opened for if
 * that one still waits (opened_for may be NULL), then waiting clients are scheduled.
 */
void pool_server_ready(struct server *server, struct client *opened_for);

/*
 * Closes idle servers of w, longest idle first, while the pool has more than pool_size plus
 * reserve_pool_size (a reload made it smaller). Servers in use are left to finish: they
 * are closed as they come back idle, since handing out a server trims first.
 */
void pool_trim(struct pool *pool, struct worker *w);

/*
 * Opens a new server connection if the limits allow; reserve allows the reserve pool. In
 * session pooling it logs in with the values of the first waiting client that has no
 * server on its way.
 */
bool pool_launch(struct pool *pool, struct worker *w, bool reserve);

/*
 * Asks worker w to schedule pool on its own loop (serve the queue with its idle servers,
 * open what is needed there); posted at most once until it ran. Registry lock held.
 */
void pool_nudge(struct pool *pool, struct worker *w);

/* After a loop pass of w: the idle servers promised to other workers leave (pool_sched.c). */
void pool_send_outbound(struct worker *w);
/* A server promised to another worker is closing: the promise is off. Registry lock held. */
void pool_cancel_leaving(struct server *server);
