/* SPDX-License-Identifier: ISC */
/*
 * The scheduler (pool_sched.h): which server a client gets, and when a new one is opened.
 * Waiting clients of every worker form one FIFO per pool (append, take the head); idle
 * servers belong to a worker, and are taken from the head of its list and released to the
 * head (LIFO) or the tail (round robin), so taking and releasing are O(1). A worker serves
 * the longest waiter with its own idle servers: one of its own clients is linked at once,
 * a client of another worker gets the server handed over (the socket moves to that worker
 * by a message, and is linked there), so a linked pair always runs on one worker. A worker
 * that needs what another holds (an idle server, room to evict) nudges that worker.
 * Everything here runs with the registry lock held. Limits are checked in one place,
 * room_for(), for regular and replication servers alike; at a cap shared with other pools,
 * the longest idle server of another pool makes room, when someone waits. Pool objects,
 * their limits and login failures are pool.c's.
 */
#include "client.h"
#include "config.h"
#include "conn.h"
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

static struct list_head *idle_list(const struct pool *pool, const struct worker *w)
{
	return &pool_here(pool, w)->servers[SV_IDLE];
}

/* The idle server of pool on w that has been idle longest, or NULL. */
static struct server *oldest_idle(const struct pool *pool, const struct worker *w)
{
	struct list_node *first = list_first(idle_list(pool, w));
	struct list_node *last = list_last(idle_list(pool, w));
	struct server *a, *b;

	if (!first)
		return NULL;
	a = list_entry(first, struct server, node);
	b = list_entry(last, struct server, node);
	return b->idle_since < a->idle_since ? b : a;
}

/*
 * Closes the longest-idle server of w among the other pools of pool's database (same_db)
 * or user, to make room under max_db_connections or max_user_connections. When w has none
 * but another worker does, that worker is nudged for pool: it evicts one of its own and
 * opens the server there. False if nothing was closed here. A scan of the pools, done only
 * at a cap.
 */
static bool evict_for(struct pool *pool, struct worker *w, bool same_db)
{
	struct server *victim = NULL;
	struct worker *elsewhere = NULL;
	struct list_node *n, *t;

	list_for_each_safe(n, t, &pool->reg->pools) {
		struct pool *p = list_entry(n, struct pool, node);
		struct server *s;

		if (p == pool || (same_db ? p->db != pool->db : p->user != pool->user))
			continue;
		s = oldest_idle(p, w);
		if (s && (!victim || s->idle_since < victim->idle_since))
			victim = s;
		for (unsigned i = 0; !s && !elsewhere && i < pool->reg->worker_count; i++)
			if (p->local[i].servers[SV_IDLE].count)
				elsewhere = pool->reg->workers[i];
	}
	if (!victim) {
		if (elsewhere)
			pool_nudge(pool, elsewhere);
		return false;
	}
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

static void trim(struct pool *pool, struct worker *w)
{
	struct server *idle;

	while (over_size(pool) && (idle = oldest_idle(pool, w)))
		server_close(idle, "pool size reduced");
}

void pool_trim(struct pool *pool, struct worker *w)
{
	registry_lock(pool->reg);
	trim(pool, w);
	registry_unlock(pool->reg);
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
static enum room room_for(struct pool *pool, struct worker *w, bool reserve, bool evict)
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
	    !(evict && evict_for(pool, w, true)))
		return ROOM_DB_FULL;
	if (at_cap(pool->user->server_count, pool_user_limit(pool)) &&
	    !(evict && evict_for(pool, w, false)))
		return ROOM_USER_FULL;
	return ROOM_OK;
}

/*
 * In session pooling: the first waiting client of w that has no server on its way, or NULL
 * (a server logs in with the values of a client of its own worker only).
 */
static struct client *first_unserved(const struct pool *pool, const struct worker *w)
{
	struct list_node *n, *t;

	if (pool->mode != POOL_MODE_SESSION)
		return NULL;
	list_for_each_safe(n, t, &pool_here(pool, w)->clients[CL_WAITING]) {
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
	bool waited_for = pool->queue.count || pool_count_clients(pool, CL_WAIT_WELCOME);
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

static bool launch_any(struct pool *pool, struct worker *w, bool reserve)
{
	return launch(pool, w, reserve, first_unserved(pool, w)) == ROOM_OK;
}

bool pool_launch(struct pool *pool, struct worker *w, bool reserve)
{
	bool ok;

	registry_lock(pool->reg);
	ok = launch_any(pool, w, reserve);
	registry_unlock(pool->reg);
	return ok;
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
static struct server *take_idle(struct pool *pool, struct worker *w, const struct client *client)
{
	const struct config *cfg = pool->reg->cfg;
	struct list_node *n, *t;

	trim(pool, w);
	list_for_each_safe(n, t, idle_list(pool, w)) {
		struct server *server = list_entry(n, struct server, node);

		if (server->close_needed) {
			server_close(server, "obsolete connection");
			continue;
		}
		if (server->leaving || !fits(server, client))
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
	struct worker *w = client->conn.worker;
	const struct login_failure *f = recent_failure(pool, &pool->repl_failure);
	struct server *idle = oldest_idle(pool, w);
	int size = pool_size(pool);
	enum room room;

	if (client->dedicated)
		return true;
	if (idle && size > 0 && pool_server_count(pool) >= (unsigned)size)
		server_close(idle, "evicted");
	room = f ? ROOM_RETRY : room_for(pool, w, false, true);
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
	server_launch(pool, w, client, NULL);
	return !client->conn.closed;
}

static bool can_serve_login(struct pool *pool, const struct client *client)
{
	struct worker *w = client->conn.worker;
	struct list_node *n, *t;
	enum room room;

	if (control_paused(w->reg, pool->db))
		return false;
	list_for_each_safe(n, t, idle_list(pool, w)) {
		const struct server *server = list_entry(n, struct server, node);

		if (!server->close_needed && fits(server, client))
			return true;
	}
	room = room_for(pool, w, false, false);
	return room == ROOM_OK || (room >= ROOM_POOL_FULL && oldest_idle(pool, w));
}

bool pool_can_serve_login(struct pool *pool, const struct client *client)
{
	bool ok;

	registry_lock(pool->reg);
	ok = can_serve_login(pool, client);
	registry_unlock(pool->reg);
	return ok;
}

/*
 * A login (LOGIN_LINK) takes an idle server that fits it, else gets one opened for it
 * (an idle one of the pool giving up its room if need be), which goes to it and to no
 * other waiter when it is ready. Only when no room can be had does it wait in the queue.
 */
static bool request_login(struct pool *pool, struct client *client)
{
	struct worker *w = client->conn.worker;
	struct server *server = take_idle(pool, w, client), *idle;
	enum room room;

	client->request_time = now_usec();
	client->wait_notified = false;
	if (server) {
		link_pair(client, server);
		return true;
	}
	client_set_state(client, CL_WAITING);
	room = launch(pool, w, false, client);
	if (room >= ROOM_POOL_FULL && (idle = oldest_idle(pool, w))) {
		server_close(idle, "evicted");
		room = launch(pool, w, false, client);
	}
	if (room == ROOM_RETRY && !pool_count_servers(pool, SV_LOGIN)) {
		client_close(client, pool->failure.sqlstate, "%s", pool->failure.message);
		return false;
	}
	deadline_update(client);
	return true;
}

/* ---- hand-overs and nudges between workers ---- */

static void schedule(struct pool *pool, struct worker *w);
static bool movable(struct server *server);

static void on_server_arrived(void *owner, struct inbox_msg *m);

/*
 * Promises server, idle on its worker, to worker `to`, where to's longest waiter takes it.
 * It leaves at the end of this loop pass (pool_send_outbound), not now: the callback that
 * released it may still be using it. No one else takes it meanwhile.
 */
static void hand_over(struct pool *pool, struct server *server, struct worker *to)
{
	server->leaving = to;
	pool_here(pool, to)->inbound++;
	list_append(&server->conn.worker->outbound, &server->out_node);
}

void pool_cancel_leaving(struct server *server)
{
	if (!server->leaving)
		return;
	pool_here(server->pool, server->leaving)->inbound--;
	list_remove(&server->conn.worker->outbound, &server->out_node);
	server->leaving = NULL;
}

/*
 * The servers promised during the pass leave: each leaves its worker's loop here and joins
 * the other's idle servers there. Counted all the way (pool.moving), so the limits stay
 * exact while they travel. One that is no longer idle, or holds a buffer, stays.
 */
void pool_send_outbound(struct worker *w)
{
	struct list_node *n;

	registry_lock(w->reg);
	while ((n = list_pop_first(&w->outbound))) {
		struct server *server = list_entry(n, struct server, out_node);
		struct pool *pool = server->pool;
		struct worker *to = server->leaving;

		server->leaving = NULL;
		if (server->state != SV_IDLE || server->client || !movable(server)) {
			pool_here(pool, to)->inbound--;
			schedule(pool, w);
			continue;
		}
		list_remove(idle_list(pool, w), &server->node);
		pool->moving++;
		conn_detach(&server->conn);
		server->conn.worker = to;
		server->move.run = on_server_arrived;
		worker_post(to, &server->move);
	}
	registry_unlock(w->reg);
}

static void on_server_arrived(void *owner, struct inbox_msg *m)
{
	struct worker *w = owner;
	struct server *server = container_of(m, struct server, move);
	struct pool *pool = server->pool;

	registry_lock(pool->reg);
	pool->moving--;
	pool_here(pool, w)->inbound--;
	if (server->epoch != pool->epoch)
		server->close_needed = true;
	server_arrived(server);
	if (w->stopping)
		server_close(server, "shutting down");
	else
		schedule(pool, w);
	registry_unlock(pool->reg);
}

static void on_nudge(void *owner, struct inbox_msg *m)
{
	struct worker *w = owner;
	struct pool *pool = container_of(m, struct pool_nudge, msg)->pool;

	registry_lock(pool->reg);
	pool_here(pool, w)->nudged = false;
	if (!w->stopping) {
		if (recent_failure(pool, &pool->failure))
			pool_fail_logins(pool, w);
		schedule(pool, w);
	}
	registry_unlock(pool->reg);
}

void pool_nudge(struct pool *pool, struct worker *w)
{
	struct pool_local *l = pool_here(pool, w);

	if (l->nudged || worker_stopping(w))
		return;
	l->nudged = true;
	l->nudge.msg.run = on_nudge;
	worker_post(w, &l->nudge.msg);
}

/*
 * Whether server may travel: it must hold no buffer of its worker's pool. An idle server
 * holds none, or an empty one (dropped here), unless it was sent data.
 */
static bool movable(struct server *server)
{
	conn_release_buf_if_empty(&server->conn);
	return !server->conn.buf && !server->conn.out && !server->conn.tls_out;
}

/*
 * Gives an idle server of w to the longest waiter that no travelling server is meant for
 * (as many of each worker's waiters are passed over as servers are on their way to it):
 * linked at once if the waiter is w's, handed over to its worker if not. False if no
 * waiter is left to serve.
 */
static bool serve_longest_waiter(struct pool *pool, struct worker *w, struct server *server)
{
	unsigned covered[WEIR_MAX_WORKERS] = { 0 };
	struct list_node *n, *t;

	list_for_each_safe(n, t, &pool->queue) {
		struct client *client = list_entry(n, struct client, qnode);
		struct worker *cw = client->conn.worker;

		if (cw == w) {
			link_pair(client, server);
			return true;
		}
		if (covered[cw->index] < pool->local[cw->index].inbound) {
			covered[cw->index]++;
			continue;
		}
		if (!fits(server, client) || !movable(server))
			continue;
		hand_over(pool, server, cw);
		return true;
	}
	return false;
}

/* Servers promised or travelling to a worker for one of its waiters. */
static unsigned inbound_total(const struct pool *pool)
{
	unsigned n = 0;

	for (unsigned i = 0; i < pool->reg->worker_count; i++)
		n += pool->local[i].inbound;
	return n;
}

/*
 * Of need waiters no server is on its way to, those that idle servers of other workers
 * can serve: those workers are nudged (a hand-over is cheaper than a new connection).
 */
static unsigned nudge_idle_holders(struct pool *pool, struct worker *w, unsigned need)
{
	unsigned served = 0;

	for (unsigned i = 0; i < pool->reg->worker_count && served < need; i++) {
		unsigned idle = pool->local[i].servers[SV_IDLE].count;

		if (i == w->index || !idle)
			continue;
		pool_nudge(pool, pool->reg->workers[i]);
		served += idle;
	}
	return served < need ? served : need;
}

/* ---- entry points ---- */

void pool_server_ready(struct server *server, struct client *opened_for)
{
	struct pool *pool = server->pool;

	registry_lock(pool->reg);
	if (opened_for && opened_for->state == CL_WAITING && server->state == SV_IDLE &&
	    fits(server, opened_for))
		link_pair(opened_for, server);
	schedule(pool, server->conn.worker);
	registry_unlock(pool->reg);
}

static bool request_server(struct pool *pool, struct client *client)
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
	server = control_paused(w->reg, pool->db) ? NULL : take_idle(pool, w, client);
	client->request_time = now_usec();
	client->wait_notified = false;
	if (server) {
		link_pair(client, server);
		return true;
	}
	if (pool->failure.failed && pool_server_count(pool) == pool_count_servers(pool, SV_LOGIN) &&
	    !control_paused(w->reg, pool->db)) {
		launch_any(pool, w, false);
		if (pool_count_servers(pool, SV_LOGIN) == 0) {
			client_close(client, pool->failure.sqlstate, "%s", pool->failure.message);
			return false;
		}
	}
	client_set_state(client, CL_WAITING);
	schedule(pool, w);
	if (client->state == CL_WAITING)
		deadline_update(client);
	return true;
}

bool pool_request_server(struct pool *pool, struct client *client)
{
	bool ok;

	registry_lock(pool->reg);
	ok = request_server(pool, client);
	registry_unlock(pool->reg);
	return ok;
}

/*
 * Session pooling, where a client waits only for the end of its login: in queue order,
 * each client of w takes an idle server with its login values, or gets one opened for it
 * (taking the room of an idle server with other values when the pool is full); a client
 * whose server is on its way is passed over. A client of another worker gets an idle
 * server of w that fits it, handed over, or else its worker is nudged while there is room
 * to open one. Stops at the first client that cannot be served, so a pass costs
 * O(servers being opened + 1).
 */
static void schedule_logins(struct pool *pool, struct worker *w)
{
	struct list_node *n, *t;

	list_for_each_safe(n, t, &pool->queue) {
		struct client *client = list_entry(n, struct client, qnode);
		struct server *server, *idle;

		if (client->opening)
			continue;
		server = take_idle(pool, w, client);
		if (client->conn.worker != w) {
			if (server && movable(server)) {
				hand_over(pool, server, client->conn.worker);
				continue;
			}
			if (room_for(pool, w, false, false) == ROOM_OK)
				pool_nudge(pool, client->conn.worker);
			return;
		}
		if (server) {
			link_pair(client, server);
			continue;
		}
		if (launch_any(pool, w, false))
			continue;
		idle = oldest_idle(pool, w); /* none fits this client: it gives up its room */
		if (!idle || room_for(pool, w, false, false) < ROOM_POOL_FULL)
			return;
		server_close(idle, "evicted");
		if (!launch_any(pool, w, false))
			return;
	}
}

/*
 * Transaction and statement pooling: w's idle servers to the oldest waiters, then the
 * openings they still need; a worker with idle servers is nudged for the rest.
 */
static void schedule_fifo(struct pool *pool, struct worker *w)
{
	unsigned pending, need;

	while (pool->queue.count) {
		struct server *server = take_idle(pool, w, NULL);

		if (!server || !serve_longest_waiter(pool, w, server))
			break;
	}
	pending = pool_count_servers(pool, SV_LOGIN) + pool_count_servers(pool, SV_TESTED) +
		  pool_count_servers(pool, SV_USED) + inbound_total(pool);
	if (pool->queue.count <= pending)
		return;
	need = pool->queue.count - pending;
	need -= nudge_idle_holders(pool, w, need);
	for (; need > 0; need--)
		if (!launch_any(pool, w, false))
			break;
}

static void schedule(struct pool *pool, struct worker *w)
{
	if (w->stopping || control_paused(w->reg, pool->db))
		return;
	if (pool->mode == POOL_MODE_SESSION)
		schedule_logins(pool, w);
	else
		schedule_fifo(pool, w);
}

void pool_schedule(struct pool *pool, struct worker *w)
{
	registry_lock(pool->reg);
	schedule(pool, w);
	registry_unlock(pool->reg);
}
