/* SPDX-License-Identifier: ISC */
/*
 * Pools: one list per client and server state, the effective limits from [users],
 * [databases] and the global settings, the welcome of the pool's logins, login failures
 * (so that clients fail fast), and what a reload changes for a pool's servers. Which
 * server a client gets, and when one is opened, is pool_sched.c's.
 */
#include <string.h>

#include "client.h"
#include "config.h"
#include "log.h"
#include "pool.h"
#include "pool_sched.h"
#include "registry.h"
#include "server.h"
#include "stats.h"
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
	pool->local = xcalloc(reg->worker_count, sizeof(*pool->local));
	for (unsigned w = 0; w < reg->worker_count; w++) {
		struct pool_local *l = &pool->local[w];

		for (int i = 0; i < CL_STATE_COUNT; i++)
			list_init(&l->clients[i]);
		for (int i = 0; i < SV_STATE_COUNT; i++)
			list_init(&l->servers[i]);
		l->nudge.pool = pool;
	}
	list_init(&pool->queue);
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
	stats_forget_pool(pool);
	free(pool->local);
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

/*
 * Calls fn for every server of the pool on every worker (fn may change its state, not
 * close it). Only while the other workers are parked (a reload).
 */
static void each_server(struct pool *pool, server_fn fn, unsigned arg)
{
	for (unsigned w = 0; w < pool->reg->worker_count; w++)
		for (int st = SV_LOGIN; st < SV_CLOSED; st++) {
			struct list_node *n, *t;

			list_for_each_safe(n, t, &pool->local[w].servers[st]) {
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
	for (unsigned w = 0; w < pool->reg->worker_count; w++) {
		struct pool_local *l = &pool->local[w];

		for (size_t i = 0; i < ARRAY_SIZE(told); i++) {
			list_for_each_safe(n, t, &l->clients[told[i]]) {
				pin_welcome(pool, list_entry(n, struct client, node));
			}
		}
		while ((n = list_first(&l->servers[SV_IDLE])))
			server_close(list_entry(n, struct server, node), "obsolete connection");
	}
	pool->welcome_stale = pool->welcome != NULL;
	pool->epoch++; /* for servers travelling between workers, which no list holds now */
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
	unsigned n = pool->moving;

	for (unsigned w = 0; w < pool->reg->worker_count; w++)
		for (int i = 0; i < SV_CLOSED; i++)
			n += pool->local[w].servers[i].count;
	return n;
}

unsigned pool_count_servers(const struct pool *pool, enum server_state state)
{
	unsigned n = 0;

	for (unsigned w = 0; w < pool->reg->worker_count; w++)
		n += pool->local[w].servers[state].count;
	return n;
}

unsigned pool_count_clients(const struct pool *pool, enum client_state state)
{
	unsigned n = 0;

	for (unsigned w = 0; w < pool->reg->worker_count; w++)
		n += pool->local[w].clients[state].count;
	return n;
}

void pool_note_login(struct pool *pool, const struct server *server)
{
	const struct param_names *pn = &pool->reg->tracked;

	registry_lock(pool->reg);
	free(pool->welcome);
	pool->welcome_stale = false;
	pool->welcome = xmalloc(server->params_len ? server->params_len : 1);
	memcpy(pool->welcome, server->params, server->params_len);
	pool->welcome_len = server->params_len;
	/* A value the login asked for of its own says nothing about the default. */
	for (unsigned i = 0; i < pn->count; i++)
		if (params_same_value(server_login_value(pool, NULL, (int)i), server->login.v[i]))
			params_set(&pool->defaults, (int)i, server->params_now.v[i]);
	registry_unlock(pool->reg);
}

static void note_failure(struct login_failure *f, const char *sqlstate, const char *message)
{
	f->failed = true;
	f->at = now_usec();
	snprintf(f->sqlstate, sizeof(f->sqlstate), "%s", sqlstate);
	free(f->message);
	f->message = xstrdup(message);
}

void pool_fail_logins(struct pool *pool, struct worker *w)
{
	struct list_node *n, *t;

	list_for_each_safe(n, t, &pool_here(pool, w)->clients[CL_WAITING]) {
		struct client *client = list_entry(n, struct client, node);

		if (client->phase == LOGIN_LINK)
			client_close(client, pool->failure.sqlstate, "%s", pool->failure.message);
	}
}

/*
 * Clients whose login waits for a server get the error: no server of the pool can log in.
 * Those of other workers get it from their own worker, nudged.
 */
void pool_login_failed(struct pool *pool, struct worker *w, const char *sqlstate,
		       const char *message)
{
	registry_lock(pool->reg);
	note_failure(&pool->failure, sqlstate, message);
	pool_fail_logins(pool, w);
	for (unsigned i = 0; i < pool->reg->worker_count; i++)
		if (i != w->index && pool->local[i].clients[CL_WAITING].count)
			pool_nudge(pool, pool->reg->workers[i]);
	registry_unlock(pool->reg);
}

void pool_login_succeeded(struct pool *pool)
{
	registry_lock(pool->reg);
	pool->failure.failed = false;
	registry_unlock(pool->reg);
}

void pool_replication_login_failed(struct pool *pool, const char *sqlstate, const char *message)
{
	registry_lock(pool->reg);
	note_failure(&pool->repl_failure, sqlstate, message);
	registry_unlock(pool->reg);
}

void pool_replication_login_succeeded(struct pool *pool)
{
	registry_lock(pool->reg);
	pool->repl_failure.failed = false;
	registry_unlock(pool->reg);
}

int pool_db_limit(const struct pool *pool)
{
	const struct db_def *dd = pool->db->def;

	return pick(-1, dd ? dd->max_db_connections : -1, pool->reg->cfg->max_db_connections);
}

int pool_user_limit(const struct pool *pool)
{
	const struct config *cfg = pool->reg->cfg;
	const struct user_def *ud = config_find_user(cfg, pool->user->name);

	return pick(ud ? ud->max_user_connections : -1, -1, cfg->max_user_connections);
}
