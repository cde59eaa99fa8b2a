/* SPDX-License-Identifier: ISC */
/*
 * The scheduler (pool_sched.h): which server a client gets, and when a new one is opened.
 * Waiting clients form a FIFO per pool (append, take the head); idle servers are taken
 * from the head of their list and released to the head (LIFO) or the tail (round robin),
 * so taking and releasing are O(1). Limits are checked in one place, room_for(), for
 * regular and replication servers alike; at a cap shared with other pools, the longest
 * idle server of another pool makes room, when someone waits. Pool objects, their limits
 * and login failures are pool.c's.
 */
#include "client.h"
#include "config.h"
#include "control.h"
#include "deadline.h"
#include "log.h"
#include "pool.h"
#include "pool_sched.h"
#include "registry.h"
#include "server.h"
#include "stats.h"
#include "worker.h"

/* Within server_login_retry of a failed login: the failure, else NULL. */
static const struct login_failure *recent_failure(const struct pool *pool,
						  const struct login_failure *f)
{
	if (!f->failed || usec_passed(f->at, pool->reg->cfg->server_login_retry, now_usec()))
		return NULL;
	return f;
}

/* The idle server of pool that has been idle longest, or NULL. */
static struct server *oldest_idle(const struct pool *pool)
{
	struct list_node *first = list_first(&pool->servers[SV_IDLE]);
	struct list_node *last = list_last(&pool->servers[SV_IDLE]);
	struct server *a, *b;

	if (!first)
		return NULL;
	a = list_entry(first, struct server, node);
	b = list_entry(last, struct server, node);
	return b->idle_since < a->idle_since ? b : a;
}

/*
 * Closes the longest-idle server among the other pools of pool's database (same_db) or
 * user, to make room under max_db_connections or max_user_connections. False if none is
 * idle. A scan of the pools, done only at a cap.
 */
static bool evict_for(struct pool *pool, bool same_db)
{
	struct server *victim = NULL;
	struct list_node *n, *t;

	list_for_each_safe(n, t, &pool->reg->pools) {
		struct pool *p = list_entry(n, struct pool, node);
		struct server *s;

		if (p == pool || (same_db ? p->db != pool->db : p->user != pool->user))
			continue;
		s = oldest_idle(p);
		if (s && (!victim || s->idle_since < victim->idle_since))
			victim = s;
	}
	if (!victim)
		return false;
	server_close(victim, "evicted");
	return true;
}

/* Whether the pool has more servers than pool_size and the reserve allow (after a reload). */
static bool over_size(const struct pool *pool)
{
	int size = pool_size(pool);

	return size > 0 &&
	       pool_server_count(pool) > (unsigned)size + (unsigned)pool_reserve_size(pool);
}

void pool_trim(struct pool *pool)
{
	struct server *idle;

	while (over_size(pool) && (idle = oldest_idle(pool)))
		server_close(idle, "pool size reduced");
}

static bool at_cap(unsigned count, int limit)
{
	return limit > 0 && count >= (unsigned)limit;
}

/* Why a pool may not open a server now. */
enum room {
	ROOM_OK,
	ROOM_NONE,	/* no database definition, paused, or shutting down */
	ROOM_RETRY,	/* a login failed less than server_login_retry ago */
	ROOM_POOL_FULL, /* pool_size (plus the reserve, if allowed) */
	ROOM_DB_FULL,	/* max_db_connections */
	ROOM_USER_FULL, /* max_user_connections */
};

/*
 * Whether one more server may open for pool. At a database or user cap, the room of
 * another pool's idle server is taken when `evict` (someone is waiting for this server).
 */
static enum room room_for(struct pool *pool, const struct worker *w, bool reserve, bool evict)
{
	int size = pool_size(pool);
	unsigned total = pool_server_count(pool);

	if (!pool->db->def || w->stopping || control_paused(w->reg, pool->db))
		return ROOM_NONE;
	if (recent_failure(pool, &pool->failure))
		return ROOM_RETRY;
	if (size > 0 && total >= (unsigned)size + (reserve ? (unsigned)pool_reserve_size(pool) : 0))
		return ROOM_POOL_FULL;
	if (at_cap(pool->db->server_count, pool_db_limit(pool)) &&
	    !(evict && evict_for(pool, true)))
		return ROOM_DB_FULL;
	if (at_cap(pool->user->server_count, pool_user_limit(pool)) &&
	    !(evict && evict_for(pool, false)))
		return ROOM_USER_FULL;
	return ROOM_OK;
}

/* In session pooling: the first waiting client that has no server on its way, or NULL. */
static struct client *first_unserved(const struct pool *pool)
{
	struct list_node *n, *t;

	if (pool->mode != POOL_MODE_SESSION)
		return NULL;
	list_for_each_safe(n, t, &pool->clients[CL_WAITING]) {
		struct client *client = list_entry(n, struct client, node);

		if (!client->opening)
			return client;
	}
	return NULL;
}

/* Opens a server if the limits allow (for_client: it goes to that client when ready). */
static enum room launch(struct pool *pool, struct worker *w, bool reserve,
			struct client *for_client)
{
	bool waited_for = pool->clients[CL_WAITING].count || pool->clients[CL_WAIT_WELCOME].count;
	int size = pool_size(pool);
	enum room room = room_for(pool, w, reserve, waited_for || for_client);

	if (room != ROOM_OK)
		return room;
	if (reserve && size > 0 && pool_server_count(pool) >= (unsigned)size)
		log_warning("taking connection from reserve_pool for %s/%s", pool->db->name,
			    pool->user->name);
	server_launch(pool, w, NULL, for_client);
	return ROOM_OK;
}

bool pool_launch(struct pool *pool, struct worker *w, bool reserve)
{
	return launch(pool, w, reserve, first_unserved(pool)) == ROOM_OK;
}

static void link_pair(struct client *client, struct server *server)
{
	stats_client_linked(client->conn.worker, client->pool,
			    usec_since(client->request_time, now_usec()));
	server_set_state(server, SV_ACTIVE);
	client_set_state(client, CL_ACTIVE);
	client_link(client, server);
}

/*
 * In session pooling a client takes only a server whose login meant the same (a session
 * client asks for a server once: at its login, or at its first request).
 */
static bool fits(const struct server *server, const struct client *client)
{
	return !client || client->pool->mode != POOL_MODE_SESSION ||
	       server_login_matches(server, client);
}

/*
 * An idle server fit for client (NULL: for anyone). One idle longer than
 * server_check_delay is checked first (it leaves the idle list until the check query
 * answers); obsolete ones are closed on the way.
 */
static struct server *take_idle(struct pool *pool, const struct client *client)
{
	const struct config *cfg = pool->reg->cfg;
	struct list_node *n, *t;

	pool_trim(pool);
	list_for_each_safe(n, t, &pool->servers[SV_IDLE]) {
		struct server *server = list_entry(n, struct server, node);

		if (server->close_needed) {
			server_close(server, "obsolete connection");
			continue;
		}
		if (!fits(server, client))
			continue;
		if (cfg->server_check_query[0] &&
		    usec_passed(server->idle_since, cfg->server_check_delay, now_usec())) {
			server_run_maintenance(server, cfg->server_check_query);
			continue;
		}
		return server;
	}
	return NULL;
}

/*
 * A replication client gets a new server of its own, within the pool's limits and the
 * caps of its database and user (evicting idle servers to make room), and fails fast
 * while logins of the pool keep failing.
 */
static bool request_dedicated(struct pool *pool, struct client *client)
{
	static const char *const why[] = {
		[ROOM_NONE] = "",
		[ROOM_POOL_FULL] = ": pool_size reached",
		[ROOM_DB_FULL] = ": max_db_connections reached",
		[ROOM_USER_FULL] = ": max_user_connections reached",
	};
	const struct login_failure *f = recent_failure(pool, &pool->repl_failure);
	struct server *idle = oldest_idle(pool);
	int size = pool_size(pool);
	enum room room;

	if (client->dedicated)
		return true;
	if (idle && size > 0 && pool_server_count(pool) >= (unsigned)size)
		server_close(idle, "evicted");
	room = f ? ROOM_RETRY : room_for(pool, client->conn.worker, false, true);
	if (room == ROOM_RETRY) {
		f = f ? f : &pool->failure;
		client_close(client, f->sqlstate, "%s", f->message);
		return false;
	}
	if (room != ROOM_OK) {
		client_close(client, "53300", "no server connection available for replication%s",
			     why[room]);
		return false;
	}
	client->request_time = now_usec();
	server_launch(pool, client->conn.worker, client, NULL);
	return !client->conn.closed;
}

bool pool_can_serve_login(struct pool *pool, const struct client *client)
{
	const struct worker *w = client->conn.worker;
	struct list_node *n, *t;
	enum room room;

	if (control_paused(w->reg, pool->db))
		return false;
	list_for_each_safe(n, t, &pool->servers[SV_IDLE]) {
		const struct server *server = list_entry(n, struct server, node);

		if (!server->close_needed && fits(server, client))
			return true;
	}
	room = room_for(pool, w, false, false);
	return room == ROOM_OK || (room >= ROOM_POOL_FULL && oldest_idle(pool));
}

/*
 * A login (LOGIN_LINK) takes an idle server that fits it, else gets one opened for it
 * (an idle one of the pool giving up its room if need be), which goes to it and to no
 * other waiter when it is ready. Only when no room can be had does it wait in the queue.
 */
static bool request_login(struct pool *pool, struct client *client)
{
	struct worker *w = client->conn.worker;
	struct server *server = take_idle(pool, client), *idle;
	enum room room;

	client->request_time = now_usec();
	client->wait_notified = false;
	if (server) {
		link_pair(client, server);
		return true;
	}
	client_set_state(client, CL_WAITING);
	room = launch(pool, w, false, client);
	if (room >= ROOM_POOL_FULL && (idle = oldest_idle(pool))) {
		server_close(idle, "evicted");
		room = launch(pool, w, false, client);
	}
	if (room == ROOM_RETRY && !pool->servers[SV_LOGIN].count) {
		client_close(client, pool->failure.sqlstate, "%s", pool->failure.message);
		return false;
	}
	deadline_update(client);
	return true;
}

void pool_server_ready(struct server *server, struct client *opened_for)
{
	if (opened_for && opened_for->state == CL_WAITING && server->state == SV_IDLE &&
	    fits(server, opened_for))
		link_pair(opened_for, server);
	pool_schedule(server->pool, server->conn.worker);
}

bool pool_request_server(struct pool *pool, struct client *client)
{
	struct worker *w = client->conn.worker;
	struct server *server;

	if (w->shutdown == SHUTDOWN_WAIT_FOR_SERVERS) { /* no new server: weir ends with them */
		client_close(client, "08P01", "server shutting down");
		return false;
	}
	if (client->replication)
		return request_dedicated(pool, client);
	if (client->phase == LOGIN_LINK && !control_paused(w->reg, pool->db))
		return request_login(pool, client);
	server = control_paused(w->reg, pool->db) ? NULL : take_idle(pool, client);
	client->request_time = now_usec();
	client->wait_notified = false;
	if (server) {
		link_pair(client, server);
		return true;
	}
	if (pool->failure.failed && pool_server_count(pool) == pool->servers[SV_LOGIN].count &&
	    !control_paused(w->reg, pool->db)) {
		pool_launch(pool, w, false);
		if (pool->servers[SV_LOGIN].count == 0) {
			client_close(client, pool->failure.sqlstate, "%s", pool->failure.message);
			return false;
		}
	}
	client_set_state(client, CL_WAITING);
	pool_schedule(pool, w);
	if (client->state == CL_WAITING)
		deadline_update(client);
	return true;
}

/*
 * Session pooling, where a client waits only for the end of its login: in queue order,
 * each client takes an idle server with its login values, or gets one opened for it
 * (taking the room of an idle server with other values when the pool is full); a client
 * whose server is on its way is passed over. Stops at the first client that cannot be
 * served, so a pass costs O(servers being opened + 1).
 */
static void schedule_logins(struct pool *pool, struct worker *w)
{
	struct list_node *n, *t;

	list_for_each_safe(n, t, &pool->clients[CL_WAITING]) {
		struct client *client = list_entry(n, struct client, node);
		struct server *server, *idle;

		if (client->opening)
			continue;
		server = take_idle(pool, client);
		if (server) {
			link_pair(client, server);
			continue;
		}
		if (pool_launch(pool, w, false))
			continue;
		idle = oldest_idle(pool); /* none fits this client: it gives up its room */
		if (!idle || room_for(pool, w, false, false) < ROOM_POOL_FULL)
			return;
		server_close(idle, "evicted");
		if (!pool_launch(pool, w, false))
			return;
	}
}

/* Transaction and statement pooling: idle servers to the oldest waiters, then openings. */
static void schedule_fifo(struct pool *pool, struct worker *w)
{
	struct list_head *waiting = &pool->clients[CL_WAITING];
	unsigned pending;

	while (!list_empty(waiting)) {
		struct server *server = take_idle(pool, NULL);

		if (!server)
			break;
		link_pair(list_entry(list_first(waiting), struct client, node), server);
	}
	pending = pool->servers[SV_LOGIN].count + pool->servers[SV_TESTED].count +
		  pool->servers[SV_USED].count;
	for (unsigned need = waiting->count; need > pending; need--) {
		if (!pool_launch(pool, w, false))
			break;
	}
}

void pool_schedule(struct pool *pool, struct worker *w)
{
	if (control_paused(w->reg, pool->db))
		return;
	if (pool->mode == POOL_MODE_SESSION)
		schedule_logins(pool, w);
	else
		schedule_fifo(pool, w);
}
