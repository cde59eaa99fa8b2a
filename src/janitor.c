/* SPDX-License-Identifier: ISC */
/*
 * Periodic maintenance, every JANITOR_PERIOD_USEC on each worker. The client timeouts
 * (query, transaction, idle transaction, client idle, the queue wait and its NOTICE) come
 * from the worker's deadline wheel (deadline.c): a pass touches only the clients whose entry
 * is due, and timeout_fired() says what each timeout does. Login timeouts look at list
 * heads (clients are appended as they arrive); servers, which are few, are checked one by
 * one (connect timeout, lifetime, idle timeout); pools grow to min_pool_size and into the
 * reserve; a graceful shutdown ends here. A pass costs O(pools + servers + what expires).
 * Every stamp is compared with the `now` read at the start of the pass through
 * usec_passed(): a server launched or a client queued during the pass is stamped later,
 * and has not expired.
 */
#include <event2/event.h>

#include "client.h"
#include "config.h"
#include "control.h"
#include "deadline.h"
#include "janitor.h"
#include "log.h"
#include "pool_sched.h"
#include "registry.h"
#include "server.h"
#include "stats.h"
#include "worker.h"

#define JANITOR_PERIOD_USEC 200000
/* Slots of the deadline wheel: one turn is 1024 periods (about 205 s). */
#define DEADLINE_SLOTS 1024

/* A limit of 0 is off. `now` was read at the start of the pass: later stamps have not expired. */
static bool expired(usec_t since, usec_t limit, usec_t now)
{
	return limit > 0 && usec_passed(since, limit, now);
}

static void check_logins(struct list_head *list, usec_t limit, usec_t now)
{
	struct list_node *n;

	while ((n = list_first(list))) {
		struct client *client = list_entry(n, struct client, node);

		if (!expired(client->login_start, limit, now))
			break;
		client_close(client, "08P01", "client_login_timeout");
	}
}

/*
 * What happens when a client's timeout has passed: the one place that decides it. A client
 * left open is filed again at its next deadline; if the action leaves the same timeout
 * passed, it comes back at the next pass, never twice in one.
 */
static void timeout_fired(struct client *client, enum client_timeout kind)
{
	switch (kind) {
	case CTO_CLIENT_IDLE:
		client_close(client, "08P01", "client_idle_timeout");
		return;
	case CTO_QUERY: /* the query is cancelled on PostgreSQL, and its server kept */
		client_cancel_and_close(client, "query timeout");
		return;
	case CTO_XACT:
		client_close(client, "08P01", "transaction timeout");
		return;
	case CTO_IDLE_XACT:
		client_close(client, "08P01", "idle transaction timeout");
		return;
	case CTO_WAIT_NOTIFY:
		client->wait_notified = true;
		client_send_notice(client, "No server connection available in postgres backend, "
					   "client being queued");
		return;
	case CTO_WAIT:
		client_close(client, "08P01", "query_wait_timeout");
		return;
	case CTO_NONE:
		return;
	}
}

/* The clients of this worker whose deadline entry is due: O(entries due), not O(clients). */
static void expire_clients(struct worker *w, usec_t now)
{
	enum client_timeout kind;
	struct client *client;

	deadline_expire(w, now);
	while ((client = deadline_pop_due(w, now, &kind))) {
		timeout_fired(client, kind);
		if (!client->conn.closed)
			deadline_update(client);
	}
}

/* The head of the queue has waited reserve_pool_timeout: one more server, from the reserve. */
static void check_waiting(struct pool *pool, struct worker *w, usec_t now)
{
	const struct config *cfg = w->reg->cfg;
	struct list_node *n = list_first(&pool->queue);

	if (!n)
		return;
	if (pool_reserve_size(pool) > 0 &&
	    expired(list_entry(n, struct client, qnode)->request_time, cfg->reserve_pool_timeout,
		    now))
		pool_launch(pool, w, true);
	pool_schedule(pool, w);
}

static usec_t lifetime(const struct pool *pool, const struct config *cfg)
{
	const struct db_def *dd = pool->db->def;

	return dd && dd->server_lifetime != USEC_UNSET ? dd->server_lifetime : cfg->server_lifetime;
}

/* How long a server may take to answer after its query was cancelled (query_timeout). */
static usec_t drain_limit(const struct config *cfg)
{
	return cfg->cancel_wait_timeout ? cfg->cancel_wait_timeout : 10 * USEC_PER_SEC;
}

/* w's servers of pool. */
static void check_servers(struct pool *pool, struct worker *w, usec_t now)
{
	const struct config *cfg = w->reg->cfg;
	struct pool_local *here = pool_here(pool, w);
	struct list_node *n, *t;
	usec_t life = lifetime(pool, cfg);

	list_for_each_safe(n, t, &here->servers[SV_LOGIN]) {
		struct server *server = list_entry(n, struct server, node);

		if (expired(server->login_start, cfg->server_connect_timeout, now)) {
			pool_login_failed(pool, w, "08006", "server connect timeout");
			server_close(server, "connect timeout");
		}
	}
	list_for_each_safe(n, t, &here->servers[SV_USED]) {
		struct server *server = list_entry(n, struct server, node);

		if (server->draining && expired(server->drain_since, drain_limit(cfg), now))
			server_close(server, "query did not end after its cancel");
	}
	pool_trim(pool, w);
	list_for_each_safe(n, t, &here->servers[SV_IDLE]) {
		struct server *server = list_entry(n, struct server, node);
		bool keep = (int)pool_server_count(pool) <= pool_min_size(pool);

		if (server->close_needed)
			server_close(server, "obsolete connection");
		else if (expired(server->created, life, now))
			server_close(server, "server lifetime over");
		else if (!keep && expired(server->idle_since, cfg->server_idle_timeout, now))
			server_close(server, "server idle timeout");
	}
}

static void fill_min_pool(struct pool *pool, struct worker *w)
{
	int min = pool_min_size(pool);
	/* a database removed by a reload keeps what its clients use, and grows no more */
	bool wanted = !pool->db->removed_from &&
		      ((pool->db->def && pool->db->def->user) ||
		       pool_count_clients(pool, CL_ACTIVE) + pool->queue.count > 0);

	while (wanted && min > 0 && (int)pool_server_count(pool) < min)
		if (!pool_launch(pool, w, false))
			break;
}

static bool servers_in_use(const struct registry *reg)
{
	struct list_node *n, *t;

	list_for_each_safe(n, t, &reg->pools) {
		const struct pool *pool = list_entry(n, struct pool, node);

		if (pool_count_servers(pool, SV_ACTIVE) || pool_count_servers(pool, SV_TESTED))
			return true;
	}
	return false;
}

static void check_shutdown(struct worker *w)
{
	if (w->shutdown == SHUTDOWN_WAIT_FOR_CLIENTS &&
	    __atomic_load_n(&w->reg->nclients, __ATOMIC_RELAXED) == 0) {
		log_info("no clients left, shutting down");
		worker_stop(w);
	} else if (w->shutdown == SHUTDOWN_WAIT_FOR_SERVERS && !servers_in_use(w->reg)) {
		log_info("no servers in use, shutting down");
		worker_stop(w);
	}
}

static void rotate_stats(struct worker *w, void *arg)
{
	const usec_t *now = arg;
	struct registry *reg = w->reg;

	stats_rotate(reg, (double)usec_since(reg->stats_period_start, *now) / USEC_PER_SEC);
	reg->stats_period_start = *now;
}

/*
 * The first worker closes the statistics period of the whole process every stats_period,
 * with the other workers parked: their figures are theirs to write while they run.
 */
static void end_stats_period(struct worker *w, usec_t now)
{
	struct registry *reg = w->reg;
	usec_t period = (usec_t)reg->cfg->stats_period * USEC_PER_SEC;

	if (!reg->stats_period_start) {
		reg->stats_period_start = now;
		return;
	}
	if (!usec_passed(reg->stats_period_start, period, now))
		return;
	worker_exclusive(w, rotate_stats, &now);
}

void janitor_run(struct worker *w)
{
	const struct config *cfg = w->reg->cfg;
	usec_t now = now_usec();
	struct list_node *n, *t;

	check_logins(&w->login_clients, cfg->client_login_timeout, now);
	expire_clients(w, now);
	registry_lock(w->reg);
	list_for_each_safe(n, t, &w->reg->pools) {
		struct pool *pool = list_entry(n, struct pool, node);

		check_logins(&pool_here(pool, w)->clients[CL_WAIT_WELCOME],
			     cfg->client_login_timeout, now);
		check_waiting(pool, w, now);
		check_servers(pool, w, now);
		fill_min_pool(pool, w);
	}
	if (w->index == 0) /* it stops the others as its loop ends */
		check_shutdown(w);
	registry_unlock(w->reg);
	control_poll(w);
	if (w->index == 0)
		end_stats_period(w, now);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	janitor_run(arg);
}

void janitor_start(struct worker *w)
{
	const struct timeval period = { 0, JANITOR_PERIOD_USEC };

	wheel_init(&w->deadlines, DEADLINE_SLOTS, JANITOR_PERIOD_USEC, now_usec());
	w->janitor = event_new(w->base, -1, EV_PERSIST, on_tick, w);
	event_add(w->janitor, &period);
}

void janitor_stop(struct worker *w)
{
	if (w->janitor)
		event_free(w->janitor);
	w->janitor = NULL;
	wheel_free(&w->deadlines);
}
