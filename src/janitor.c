/* SPDX-License-Identifier: ISC */
/*
 * Periodic maintenance. Lists are kept in time order where it matters (login clients and
 * waiting clients are appended as they arrive), so each check looks at list heads only and
 * a pass costs O(pools + expired objects), not O(connections).
 */
#include <event2/event.h>

#include "client.h"
#include "config.h"
#include "janitor.h"
#include "log.h"
#include "registry.h"
#include "server.h"
#include "worker.h"

#define JANITOR_PERIOD_USEC 200000

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

static usec_t wait_timeout(const struct pool *pool, const struct config *cfg)
{
	const struct db_def *dd = pool->db->def;
	const struct user_def *ud = config_find_user(cfg, pool->user->name);

	if (ud && ud->query_wait_timeout != USEC_UNSET)
		return ud->query_wait_timeout;
	if (dd && dd->query_wait_timeout != USEC_UNSET)
		return dd->query_wait_timeout;
	return cfg->query_wait_timeout;
}

static void check_waiting(struct pool *pool, struct worker *w, usec_t now)
{
	const struct config *cfg = w->reg->cfg;
	struct list_head *waiting = &pool->clients[CL_WAITING];
	usec_t limit = wait_timeout(pool, cfg);
	struct list_node *n;

	while ((n = list_first(waiting))) {
		struct client *client = list_entry(n, struct client, node);

		if (!expired(client->request_time, limit, now))
			break;
		client_close(client, "08P01", "query_wait_timeout");
	}
	if ((n = list_first(waiting)) && pool_reserve_size(pool) > 0 &&
	    expired(list_entry(n, struct client, node)->request_time, cfg->reserve_pool_timeout,
		    now))
		pool_launch(pool, w, true);
	if (!list_empty(waiting))
		pool_schedule(pool, w);
}

/* The request timeouts of a pool: [users] overrides the global value. */
struct request_limits {
	usec_t query, idle_xact, xact, client_idle;
};

static usec_t user_or_global(usec_t user_val, usec_t global_val)
{
	return user_val != USEC_UNSET ? user_val : global_val;
}

static struct request_limits request_limits(const struct pool *pool, const struct config *cfg)
{
	const struct user_def *ud = config_find_user(cfg, pool->user->name);
	struct request_limits l = { cfg->query_timeout, cfg->idle_transaction_timeout,
				    cfg->transaction_timeout, cfg->client_idle_timeout };

	if (ud) {
		l.query = user_or_global(ud->query_timeout, l.query);
		l.idle_xact = user_or_global(ud->idle_transaction_timeout, l.idle_xact);
		l.xact = user_or_global(ud->transaction_timeout, l.xact);
		l.client_idle = user_or_global(ud->client_idle_timeout, l.client_idle);
	}
	return l;
}

/* Which limit, if any, a logged-in client has run past. */
static const char *overdue(const struct client *client, const struct request_limits *l, usec_t now)
{
	const struct server *s = client->server;
	bool idle = !s || (s->ready && s->tx_status == 'I');

	if (idle)
		return expired(client->last_request, l->client_idle, now) ? "client_idle_timeout"
									  : NULL;
	if (!s->ready && expired(s->request_start, l->query, now))
		return "query timeout";
	if (expired(s->xact_start, l->xact, now))
		return "transaction timeout";
	if (s->ready && expired(s->ready_since, l->idle_xact, now))
		return "idle transaction timeout";
	return NULL;
}

static void check_active(struct pool *pool, const struct config *cfg, usec_t now)
{
	struct request_limits l = request_limits(pool, cfg);
	struct list_node *n, *t;

	if (!l.query && !l.idle_xact && !l.xact && !l.client_idle)
		return;
	list_for_each_safe(n, t, &pool->clients[CL_ACTIVE]) {
		struct client *client = list_entry(n, struct client, node);
		const char *why = overdue(client, &l, now);

		if (why)
			client_close(client, "08P01", "%s", why);
	}
}

/* NOTICE once to clients queued longer than query_wait_notify (oldest first). */
static void notify_waiting(struct pool *pool, const struct config *cfg, usec_t now)
{
	struct list_node *n, *t;

	if (!cfg->query_wait_notify)
		return;
	list_for_each_safe(n, t, &pool->clients[CL_WAITING]) {
		struct client *client = list_entry(n, struct client, node);

		if (!expired(client->request_time, cfg->query_wait_notify + 1, now))
			break;
		if (!client->wait_notified) {
			client->wait_notified = true;
			client_send_notice(client, "No server connection available in postgres "
						   "backend, client being queued");
		}
	}
}

static usec_t lifetime(const struct pool *pool, const struct config *cfg)
{
	const struct db_def *dd = pool->db->def;

	return dd && dd->server_lifetime != USEC_UNSET ? dd->server_lifetime : cfg->server_lifetime;
}

static void check_servers(struct pool *pool, const struct config *cfg, usec_t now)
{
	struct list_node *n, *t;
	usec_t life = lifetime(pool, cfg);

	list_for_each_safe(n, t, &pool->servers[SV_LOGIN]) {
		struct server *server = list_entry(n, struct server, node);

		if (expired(server->login_start, cfg->server_connect_timeout, now)) {
			pool_login_failed(pool, "08006", "server connect timeout");
			server_close(server, "connect timeout");
		}
	}
	list_for_each_safe(n, t, &pool->servers[SV_IDLE]) {
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
	bool wanted = (pool->db->def && pool->db->def->user) ||
		      pool->clients[CL_ACTIVE].count + pool->clients[CL_WAITING].count > 0;

	while (wanted && min > 0 && (int)pool_server_count(pool) < min)
		if (!pool_launch(pool, w, false))
			break;
}

static bool servers_in_use(const struct registry *reg)
{
	struct list_node *n, *t;

	list_for_each_safe(n, t, &reg->pools) {
		const struct pool *pool = list_entry(n, struct pool, node);

		if (pool->servers[SV_ACTIVE].count || pool->servers[SV_TESTED].count)
			return true;
	}
	return false;
}

static void check_shutdown(struct worker *w)
{
	if (w->shutdown == SHUTDOWN_WAIT_FOR_CLIENTS && w->nclients == 0) {
		log_info("no clients left, shutting down");
		worker_stop(w);
	} else if (w->shutdown == SHUTDOWN_WAIT_FOR_SERVERS && !servers_in_use(w->reg)) {
		log_info("no servers in use, shutting down");
		worker_stop(w);
	}
}

void janitor_run(struct worker *w)
{
	const struct config *cfg = w->reg->cfg;
	usec_t now = now_usec();
	struct list_node *n, *t;

	check_logins(&w->login_clients, cfg->client_login_timeout, now);
	list_for_each_safe(n, t, &w->reg->pools) {
		struct pool *pool = list_entry(n, struct pool, node);

		check_logins(&pool->clients[CL_WAIT_WELCOME], cfg->client_login_timeout, now);
		notify_waiting(pool, cfg, now);
		check_waiting(pool, w, now);
		check_active(pool, cfg, now);
		check_servers(pool, cfg, now);
		fill_min_pool(pool, w);
	}
	check_shutdown(w);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	janitor_run(arg);
}

void janitor_start(struct worker *w)
{
	const struct timeval period = { 0, JANITOR_PERIOD_USEC };

	w->janitor = event_new(w->base, -1, EV_PERSIST, on_tick, w);
	event_add(w->janitor, &period);
}

void janitor_stop(struct worker *w)
{
	if (w->janitor)
		event_free(w->janitor);
	w->janitor = NULL;
}
