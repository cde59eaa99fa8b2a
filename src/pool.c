/* SPDX-License-Identifier: ISC */
/*
 * Pools: lists per state, effective limits, and the scheduler that pairs waiting clients
 * with idle servers. Waiting clients form a FIFO (append, take the head); idle servers are
 * taken from the head and released to the head (LIFO) or to the tail (round-robin), so both
 * operations are O(1).
 */
#include <string.h>

#include "client.h"
#include "config.h"
#include "log.h"
#include "pool.h"
#include "registry.h"
#include "server.h"
#include "wire.h"
#include "worker.h"

const char *const client_state_names[CL_STATE_COUNT] = {
	[CL_LOGIN] = "login",	  [CL_WAIT_WELCOME] = "login", [CL_ACTIVE] = "active",
	[CL_WAITING] = "waiting", [CL_CLOSED] = "closed",
};

const char *const server_state_names[SV_STATE_COUNT] = {
	[SV_LOGIN] = "new", [SV_IDLE] = "idle",	    [SV_ACTIVE] = "active",
	[SV_USED] = "used", [SV_TESTED] = "tested", [SV_CLOSED] = "closed",
};

struct pool *pool_create(struct registry *reg, struct database *db, struct user *user)
{
	struct pool *pool = xcalloc(1, sizeof(*pool));

	pool->reg = reg;
	pool->db = db;
	pool->user = user;
	for (int i = 0; i < CL_STATE_COUNT; i++)
		list_init(&pool->clients[i]);
	for (int i = 0; i < SV_STATE_COUNT; i++)
		list_init(&pool->servers[i]);
	pool_update_mode(pool);
	pool_update_limits(pool);
	return pool;
}

void pool_free(struct pool *pool)
{
	free(pool->welcome);
	free(pool->failure.message);
	free(pool->repl_failure.message);
	params_clear(&pool->defaults);
	free(pool);
}

/* Size settings share a precedence: [users] > [databases] > global (-1 = not set). */
static int pick(int user_val, int db_val, int global_val)
{
	if (user_val >= 0)
		return user_val;
	if (db_val >= 0)
		return db_val;
	return global_val;
}

/* A client keeps the values it was told at login: the welcome's, where it set none. */
static void pin_welcome(struct pool *pool, struct client *client)
{
	for (unsigned i = 0; i < pool->reg->tracked.count; i++)
		if (!params_get(client->params, (int)i) && pool->defaults.v[i])
			params_set_lazy(&client->params, (int)i, pool->defaults.v[i]);
}

typedef void (*server_fn)(struct server *server, unsigned arg);

/* Calls fn for every server of the pool (fn may change its state, not close it). */
static void each_server(struct pool *pool, server_fn fn, unsigned arg)
{
	for (int st = SV_LOGIN; st < SV_CLOSED; st++) {
		struct list_node *n, *t;

		list_for_each_safe(n, t, &pool->servers[st]) {
			fn(list_entry(n, struct server, node), arg);
		}
	}
}

static void mark_close_needed(struct server *server, unsigned unused)
{
	(void)unused;
	server->close_needed = true;
}

void pool_retire(struct pool *pool)
{
	static const enum client_state told[] = { CL_ACTIVE, CL_WAITING };
	struct list_node *n, *t;

	each_server(pool, mark_close_needed, 0);
	for (size_t i = 0; i < ARRAY_SIZE(told); i++) {
		list_for_each_safe(n, t, &pool->clients[told[i]]) {
			pin_welcome(pool, list_entry(n, struct client, node));
		}
	}
	pool->welcome_stale = pool->welcome != NULL;
	while ((n = list_first(&pool->servers[SV_IDLE])))
		server_close(list_entry(n, struct server, node), "obsolete connection");
}

void pool_set_statement_capacity(struct pool *pool, unsigned capacity)
{
	each_server(pool, server_set_statement_capacity, capacity);
}

void pool_update_mode(struct pool *pool)
{
	const struct config *cfg = pool->reg->cfg;
	const struct user_def *ud = config_find_user(cfg, pool->user->name);
	const struct db_def *dd = pool->db->def;

	pool->mode = pick(ud ? ud->pool_mode : -1, dd ? dd->pool_mode : -1, cfg->pool_mode);
}

void pool_update_limits(struct pool *pool)
{
	const struct config *cfg = pool->reg->cfg;

	deadline_limits(&pool->limits, cfg, config_find_user(cfg, pool->user->name), pool->db->def);
}

void pool_unlink(struct client *client, struct server *server)
{
	client->server = NULL;
	server->client = NULL;
	client->conn.peer = NULL;
	server->conn.peer = NULL;
	server->conn.paused = false;
	client->conn.paused = false;
}

int pool_size(const struct pool *pool)
{
	const struct config *cfg = pool->reg->cfg;
	const struct user_def *ud = config_find_user(cfg, pool->user->name);
	const struct db_def *dd = pool->db->def;

	return pick(ud ? ud->pool_size : -1, dd ? dd->pool_size : -1, cfg->default_pool_size);
}

int pool_min_size(const struct pool *pool)
{
	const struct db_def *dd = pool->db->def;

	return pick(-1, dd ? dd->min_pool_size : -1, pool->reg->cfg->min_pool_size);
}

int pool_reserve_size(const struct pool *pool)
{
	const struct config *cfg = pool->reg->cfg;
	const struct user_def *ud = config_find_user(cfg, pool->user->name);
	const struct db_def *dd = pool->db->def;

	return pick(ud ? ud->reserve_pool_size : -1, dd ? dd->reserve_pool_size : -1,
		    cfg->reserve_pool_size);
}

unsigned pool_server_count(const struct pool *pool)
{
	unsigned n = 0;

	for (int i = 0; i < SV_CLOSED; i++)
		n += pool->servers[i].count;
	return n;
}

void pool_set_welcome(struct pool *pool, const uint8_t *msgs, uint32_t len)
{
	struct wire_reader r;
	const uint8_t *body;
	const char *name, *value;
	uint32_t blen;
	uint8_t type;

	free(pool->welcome);
	pool->welcome_stale = false;
	pool->welcome = xmalloc(len ? len : 1);
	memcpy(pool->welcome, msgs, len);
	pool->welcome_len = len;
	wire_reader_init(&r, msgs, len);
	while (wire_next_message(&r, &type, &body, &blen)) {
		if (type == 'S' && params_parse_status(body, blen, &name, &value))
			params_set(&pool->defaults, params_index(&pool->reg->tracked, name), value);
	}
}

static void note_failure(struct login_failure *f, const char *sqlstate, const char *message)
{
	f->failed = true;
	f->at = now_usec();
	snprintf(f->sqlstate, sizeof(f->sqlstate), "%s", sqlstate);
	free(f->message);
	f->message = xstrdup(message);
}

void pool_login_failed(struct pool *pool, const char *sqlstate, const char *message)
{
	note_failure(&pool->failure, sqlstate, message);
	pool_fail_logins(pool);
}

void pool_login_succeeded(struct pool *pool)
{
	pool->failure.failed = false;
}

void pool_replication_login_failed(struct pool *pool, const char *sqlstate, const char *message)
{
	note_failure(&pool->repl_failure, sqlstate, message);
}

void pool_replication_login_succeeded(struct pool *pool)
{
	pool->repl_failure.failed = false;
}

static int db_limit(const struct pool *pool)
{
	const struct db_def *dd = pool->db->def;

	return pick(-1, dd ? dd->max_db_connections : -1, pool->reg->cfg->max_db_connections);
}

static int user_limit(const struct pool *pool)
{
	const struct config *cfg = pool->reg->cfg;
	const struct user_def *ud = config_find_user(cfg, pool->user->name);

	return pick(ud ? ud->max_user_connections : -1, -1, cfg->max_user_connections);
}

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

static bool at_cap(unsigned count, int limit)
{
	return limit > 0 && count >= (unsigned)limit;
}

/* Why a pool may not open a server now. */
enum room {
	ROOM_OK,
	ROOM_NONE,	/* no database definition, or shutting down */
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

	if (!pool->db->def || w->stopping)
		return ROOM_NONE;
	if (recent_failure(pool, &pool->failure))
		return ROOM_RETRY;
	if (size > 0 && total >= (unsigned)size + (reserve ? (unsigned)pool_reserve_size(pool) : 0))
		return ROOM_POOL_FULL;
	if (at_cap(pool->db->server_count, db_limit(pool)) && !(evict && evict_for(pool, true)))
		return ROOM_DB_FULL;
	if (at_cap(pool->user->server_count, user_limit(pool)) &&
	    !(evict && evict_for(pool, false)))
		return ROOM_USER_FULL;
	return ROOM_OK;
}

bool pool_launch(struct pool *pool, struct worker *w, bool reserve)
{
	bool waited_for = pool->clients[CL_WAITING].count || pool->clients[CL_WAIT_WELCOME].count;
	int size = pool_size(pool);

	if (room_for(pool, w, reserve, waited_for) != ROOM_OK)
		return false;
	if (reserve && size > 0 && pool_server_count(pool) >= (unsigned)size)
		log_warning("taking connection from reserve_pool for %s/%s", pool->db->name,
			    pool->user->name);
	server_launch(pool, w, NULL);
	return true;
}

static void link_pair(struct client *client, struct server *server)
{
	server_set_state(server, SV_ACTIVE);
	client_set_state(client, CL_ACTIVE);
	client_link(client, server);
}

/*
 * An idle server fit for a client. One idle longer than server_check_delay is checked
 * first (it leaves the idle list until the check query answers).
 */
static struct server *take_idle(struct pool *pool)
{
	const struct config *cfg = pool->reg->cfg;
	struct list_node *n;

	while ((n = list_first(&pool->servers[SV_IDLE]))) {
		struct server *server = list_entry(n, struct server, node);

		if (server->close_needed) {
			server_close(server, "obsolete connection");
			continue;
		}
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
	server_launch(pool, client->conn.worker, client);
	return !client->conn.closed;
}

bool pool_request_server(struct pool *pool, struct client *client)
{
	struct worker *w = client->conn.worker;
	struct server *server;

	if (client->replication)
		return request_dedicated(pool, client);
	server = w->reg->paused ? NULL : take_idle(pool);
	client->request_time = now_usec();
	client->wait_notified = false;
	if (server) {
		link_pair(client, server);
		return true;
	}
	if (pool->failure.failed && pool_server_count(pool) == pool->servers[SV_LOGIN].count) {
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

/* Clients wait for a welcome that no login under way will bring. */
static bool welcome_needed(const struct pool *pool)
{
	struct list_node *n, *t;

	if ((pool->welcome && !pool->welcome_stale) || list_empty(&pool->clients[CL_WAIT_WELCOME]))
		return false;
	list_for_each_safe(n, t, &pool->servers[SV_LOGIN]) {
		const struct server *s = list_entry(n, struct server, node);

		if (!s->owner && !s->close_needed)
			return false;
	}
	return true;
}

void pool_schedule(struct pool *pool, struct worker *w)
{
	struct list_head *waiting = &pool->clients[CL_WAITING];
	unsigned pending;

	if (welcome_needed(pool))
		(void)pool_launch(pool, w, false);
	if (w->reg->paused)
		return;
	while (!list_empty(waiting)) {
		struct server *server = take_idle(pool);

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

void pool_finish_logins(struct pool *pool)
{
	struct list_node *n;

	while ((n = list_first(&pool->clients[CL_WAIT_WELCOME])))
		client_welcome(list_entry(n, struct client, node));
}

void pool_fail_logins(struct pool *pool)
{
	struct list_node *n;

	while ((n = list_first(&pool->clients[CL_WAIT_WELCOME])))
		client_close(list_entry(n, struct client, node), pool->failure.sqlstate, "%s",
			     pool->failure.message);
}
