/* SPDX-License-Identifier: ISC */
/*
 * Process operations (control.h), shared by the admin console and the signal handlers.
 * State lives where its readers are: the pause and disable flags on the database and the
 * registry (the scheduler and the login read them), suspension on each worker (the
 * connection layer reads it). Nothing here waits: the console polls the *_done() checks
 * from control_poll(), which the janitor runs.
 *
 * Entry points: the control_* functions.
 */
#include <stdio.h>

#include "admin.h"
#include "client.h"
#include "control.h"
#include "janitor.h"
#include "listener.h"
#include "log.h"
#include "pool.h"
#include "pool_sched.h"
#include "registry.h"
#include "server.h"

typedef void (*conn_fn)(struct conn *c);

static bool matches(const struct pool *pool, const struct database *db)
{
	return !db || pool->db == db;
}

bool control_paused(const struct registry *reg, const struct database *db)
{
	return reg->paused || (db && db->paused);
}

/* Released servers of paused databases are closed: that is what PAUSE waits for. */
static void close_released(struct registry *reg)
{
	struct list_node *n, *t, *sn, *st;

	list_for_each_safe(n, t, &reg->pools) {
		struct pool *pool = list_entry(n, struct pool, node);

		if (!control_paused(reg, pool->db))
			continue;
		list_for_each_safe(sn, st, &pool->servers[SV_IDLE]) {
			server_close(list_entry(sn, struct server, node), "pause mode");
		}
	}
}

static void resume_pools(struct worker *w)
{
	struct list_node *n, *t;

	list_for_each_safe(n, t, &w->reg->pools) {
		pool_schedule(list_entry(n, struct pool, node), w);
	}
}

bool control_pause(struct worker *w, struct database *db, char *err, size_t errlen)
{
	struct registry *reg = w->reg;

	if (reg->paused || reg->suspended || (db && db->paused)) {
		snprintf(err, errlen, "already suspended/paused");
		return false;
	}
	if (db)
		db->paused = true;
	else
		reg->paused = true;
	log_info("PAUSE %s", db ? db->name : "(all databases)");
	close_released(reg);
	return true;
}

bool control_pause_done(const struct registry *reg, const struct database *db)
{
	const struct list_node *n, *t;

	list_for_each_safe(n, t, &reg->pools) {
		const struct pool *pool = list_entry(n, struct pool, node);

		if (matches(pool, db) && pool_server_count(pool) > 0)
			return false;
	}
	return true;
}

/*
 * Every logged-in connection of the worker but the console's. Clients still logging in
 * are left alone: one of them may be the operator's new console session.
 */
static void for_each_conn(struct worker *w, conn_fn fn)
{
	struct list_node *n, *t, *cn, *ct;

	list_for_each_safe(n, t, &w->reg->pools) {
		struct pool *pool = list_entry(n, struct pool, node);

		for (int s = CL_WAIT_WELCOME; s < CL_CLOSED; s++)
			list_for_each_safe(cn, ct, &pool->clients[s]) {
				fn(&list_entry(cn, struct client, node)->conn);
			}
		for (int s = 0; s < SV_CLOSED; s++)
			list_for_each_safe(cn, ct, &pool->servers[s]) {
				fn(&list_entry(cn, struct server, node)->conn);
			}
	}
}

static void suspend_conn(struct conn *c)
{
	c->suspended = true;
	conn_update_events(c);
}

static void resume_conn(struct conn *c)
{
	c->suspended = false;
	conn_update_events(c);
}

static void set_suspended(struct worker *w, bool on)
{
	w->reg->suspended = on;
	w->reg->suspend_issuer = 0;
	for_each_conn(w, on ? suspend_conn : resume_conn);
}

bool control_resume(struct worker *w, struct database *db, char *err, size_t errlen)
{
	struct registry *reg = w->reg;

	if (db) {
		if (!db->paused) {
			snprintf(err, errlen, "database %s is not paused", db->name);
			return false;
		}
		db->paused = false;
	} else {
		if (w->shutdown != SHUTDOWN_NONE) {
			snprintf(err, errlen, "pooler is shutting down");
			return false;
		}
		if (!reg->paused && !reg->suspended) {
			snprintf(err, errlen, "pooler is not paused/suspended");
			return false;
		}
		reg->paused = false;
		if (reg->suspended)
			set_suspended(w, false);
	}
	log_info("RESUME %s", db ? db->name : "(all databases)");
	resume_pools(w);
	return true;
}

bool control_suspend(struct worker *w, char *err, size_t errlen)
{
	struct registry *reg = w->reg;
	struct list_node *n, *t;

	if (reg->paused || reg->suspended) {
		snprintf(err, errlen, "already suspended/paused");
		return false;
	}
	list_for_each_safe(n, t, &reg->databases) {
		if (list_entry(n, struct database, node)->paused) {
			snprintf(err, errlen, "cannot suspend with paused databases");
			return false;
		}
	}
	log_info("SUSPEND");
	set_suspended(w, true);
	return true;
}

static bool idle_buffers(const struct conn *c)
{
	return !c->out && (!c->buf || iobuf_unsent(c->buf) == 0);
}

bool control_suspend_done(const struct worker *w)
{
	const struct list_node *n, *t, *cn, *ct;

	list_for_each_safe(n, t, &w->reg->pools) {
		const struct pool *pool = list_entry(n, struct pool, node);

		for (int s = CL_WAIT_WELCOME; s < CL_CLOSED; s++)
			list_for_each_safe(cn, ct, &pool->clients[s]) {
				if (!idle_buffers(&list_entry(cn, struct client, node)->conn))
					return false;
			}
		for (int s = 0; s < SV_CLOSED; s++)
			list_for_each_safe(cn, ct, &pool->servers[s]) {
				if (!idle_buffers(&list_entry(cn, struct server, node)->conn))
					return false;
			}
	}
	return true;
}

void control_disable(struct database *db, bool disabled)
{
	db->disabled = disabled;
	log_info("%s %s", disabled ? "DISABLE" : "ENABLE", db->name);
}

void control_reconnect(struct registry *reg, struct database *db)
{
	struct list_node *n, *t, *sn, *st;

	list_for_each_safe(n, t, &reg->pools) {
		struct pool *pool = list_entry(n, struct pool, node);

		if (!matches(pool, db))
			continue;
		for (int s = 0; s < SV_CLOSED; s++)
			list_for_each_safe(sn, st, &pool->servers[s]) {
				list_entry(sn, struct server, node)->close_needed = true;
			}
		list_for_each_safe(sn, st, &pool->servers[SV_IDLE]) {
			server_close(list_entry(sn, struct server, node), "reconnect requested");
		}
	}
	log_info("RECONNECT %s", db ? db->name : "(all databases)");
}

bool control_wait_close_done(const struct registry *reg, const struct database *db)
{
	const struct list_node *n, *t, *sn, *st;

	list_for_each_safe(n, t, &reg->pools) {
		const struct pool *pool = list_entry(n, struct pool, node);

		if (!matches(pool, db))
			continue;
		for (int s = 0; s < SV_CLOSED; s++)
			list_for_each_safe(sn, st, &pool->servers[s]) {
				if (list_entry(sn, struct server, node)->close_needed)
					return false;
			}
	}
	return true;
}

void control_kill(struct worker *w, struct database *db)
{
	struct list_node *n, *t, *cn, *ct;

	if (db)
		db->paused = true;
	else
		w->reg->paused = true;
	log_info("KILL %s", db ? db->name : "(all databases)");
	list_for_each_safe(n, t, &w->reg->pools) {
		struct pool *pool = list_entry(n, struct pool, node);

		if (!matches(pool, db))
			continue;
		for (int s = CL_WAIT_WELCOME; s < CL_CLOSED; s++)
			while ((cn = list_first(&pool->clients[s])))
				client_close(list_entry(cn, struct client, node), "08P01",
					     "database killed by admin (KILL)");
		for (int s = 0; s < SV_CLOSED; s++)
			list_for_each_safe(cn, ct, &pool->servers[s]) {
				server_close(list_entry(cn, struct server, node),
					     "database killed");
			}
	}
}

static struct client *find_in(struct list_head *list, uint32_t id)
{
	struct list_node *n, *t;

	list_for_each_safe(n, t, list) {
		struct client *client = list_entry(n, struct client, node);

		if (client->conn.id == id)
			return client;
	}
	return NULL;
}

bool control_kill_client(struct worker *w, uint32_t id)
{
	struct client *client = find_in(&w->console_clients, id);
	struct list_node *n, *t;

	if (!client)
		client = find_in(&w->login_clients, id);
	list_for_each_safe(n, t, &w->reg->pools) {
		struct pool *pool = list_entry(n, struct pool, node);

		for (int s = CL_WAIT_WELCOME; s < CL_CLOSED && !client; s++)
			client = find_in(&pool->clients[s], id);
		if (client)
			break;
	}
	if (!client)
		return false;
	client_close(client, "08P01", "admin forced disconnect");
	return true;
}

/* SHUTDOWN WAIT_FOR_SERVERS: clients queued for a server will not get one. */
static void close_waiting(struct registry *reg)
{
	static const enum client_state queued[] = { CL_WAIT_WELCOME, CL_WAITING };
	struct list_node *n, *t, *cn;

	list_for_each_safe(n, t, &reg->pools) {
		struct pool *pool = list_entry(n, struct pool, node);

		for (size_t i = 0; i < ARRAY_SIZE(queued); i++)
			while ((cn = list_first(&pool->clients[queued[i]])))
				client_close(list_entry(cn, struct client, node), "08P01",
					     "server shutting down");
	}
}

void control_shutdown(struct worker *w, enum worker_shutdown mode, const char *why)
{
	if (w->shutdown != SHUTDOWN_NONE || w->reg->suspended) {
		log_info("got %s %s, exiting now", why,
			 w->reg->suspended ? "while suspended" : "during shutdown");
		worker_stop(w);
		return;
	}
	log_info("got %s, shutting down once %s", why,
		 mode == SHUTDOWN_WAIT_FOR_CLIENTS ? "clients have left" : "servers are released");
	w->shutdown = mode;
	if (mode == SHUTDOWN_WAIT_FOR_SERVERS) {
		w->reg->paused = true;
		close_waiting(w->reg);
	}
	listener_close_tcp(w);
	janitor_run(w);
}

void control_exit(struct worker *w, const char *why)
{
	log_info("%s, exiting now", why);
	worker_stop(w);
}

void control_poll(struct worker *w)
{
	close_released(w->reg);
	if (w->console_waits)
		admin_poll(w);
}
