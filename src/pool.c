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
	free(pool->failed_message);
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

void pool_mark_close_needed(struct pool *pool)
{
	for (int st = SV_LOGIN; st < SV_CLOSED; st++) {
		struct list_node *n, *t;

		list_for_each_safe(n, t, &pool->servers[st]) {
			list_entry(n, struct server, node)->close_needed = true;
		}
	}
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
	pool->welcome = xmalloc(len ? len : 1);
	memcpy(pool->welcome, msgs, len);
	pool->welcome_len = len;
	wire_reader_init(&r, msgs, len);
	while (wire_next_message(&r, &type, &body, &blen)) {
		if (type == 'S' && params_parse_status(body, blen, &name, &value))
			params_set(&pool->defaults, params_index(&pool->reg->tracked, name), value);
	}
}

void pool_login_failed(struct pool *pool, const char *sqlstate, const char *message)
{
	pool->login_failed = true;
	pool->last_failure = now_usec();
	snprintf(pool->failed_sqlstate, sizeof(pool->failed_sqlstate), "%s", sqlstate);
	free(pool->failed_message);
	pool->failed_message = xstrdup(message);
	pool_fail_logins(pool);
}

void pool_login_succeeded(struct pool *pool)
{
	pool->login_failed = false;
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

static bool in_retry_window(const struct pool *pool)
{
	return pool->login_failed &&
	       !usec_passed(pool->last_failure, pool->reg->cfg->server_login_retry, now_usec());
}

bool pool_launch(struct pool *pool, struct worker *w, bool reserve)
{
	int size = pool_size(pool), dbmax = db_limit(pool), usermax = user_limit(pool);
	unsigned total = pool_server_count(pool);

	if (in_retry_window(pool) || !pool->db->def || w->stopping)
		return false;
	if (size > 0 && total >= (unsigned)size + (reserve ? (unsigned)pool_reserve_size(pool) : 0))
		return false;
	if (dbmax > 0 && pool->db->server_count >= (unsigned)dbmax)
		return false;
	if (usermax > 0 && pool->user->server_count >= (unsigned)usermax)
		return false;
	if (reserve && size > 0 && total >= (unsigned)size)
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

/* A replication client gets a new server of its own, within the pool's limits. */
static bool request_dedicated(struct pool *pool, struct client *client)
{
	struct worker *w = client->conn.worker;
	struct list_node *n;
	int size = pool_size(pool);

	if (client->dedicated)
		return true;
	if (size > 0 && pool_server_count(pool) >= (unsigned)size &&
	    (n = list_last(&pool->servers[SV_IDLE])))
		server_close(list_entry(n, struct server, node), "evicted");
	if (size > 0 && pool_server_count(pool) >= (unsigned)size) {
		client_close(client, "53300", "no server connection available for replication");
		return false;
	}
	client->request_time = now_usec();
	server_launch(pool, w, client);
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
	if (pool->login_failed && pool_server_count(pool) == pool->servers[SV_LOGIN].count) {
		pool_launch(pool, w, false);
		if (pool->servers[SV_LOGIN].count == 0) {
			client_close(client, pool->failed_sqlstate, "%s", pool->failed_message);
			return false;
		}
	}
	client_set_state(client, CL_WAITING);
	pool_schedule(pool, w);
	if (client->state == CL_WAITING)
		deadline_update(client);
	return true;
}

void pool_schedule(struct pool *pool, struct worker *w)
{
	struct list_head *waiting = &pool->clients[CL_WAITING];
	unsigned pending;

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
		client_close(list_entry(n, struct client, node), pool->failed_sqlstate, "%s",
			     pool->failed_message);
}
