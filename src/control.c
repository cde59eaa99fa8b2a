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
#include "worker.h"

typedef void (*conn_fn)(struct conn *c);

static bool matches(const struct pool *pool, const struct database *db)
{
	return !db || pool->db == db;
}

bool control_paused(const struct registry *reg, const struct database *db)
{
	return reg->paused || (db && db->paused);
}

/*
 * Released servers of paused databases are closed: that is what PAUSE waits for. Those of
 * worker `only`, or (NULL) of every worker, when the others are parked.
 */
static void close_released(struct registry *reg, const struct worker *only)
{
	struct list_node *n, *t, *sn, *st;

	list_for_each_safe(n, t, &reg->pools) {
		struct pool *pool = list_entry(n, struct pool, node);

		if (!control_paused(reg, pool->db))
			continue;
		for (unsigned i = 0; i < reg->worker_count; i++) {
			if (only && only->index != i)
				continue;
			list_for_each_safe(sn, st, &pool->local[i].servers[SV_IDLE]) {
				server_close(list_entry(sn, struct server, node), "pause mode");
			}
		}
	}
}

/* Every worker serves its waiting clients again (they are parked: the call is theirs). */
static void resume_pools(struct registry *reg)
{
	struct list_node *n, *t;

	list_for_each_safe(n, t, &reg->pools) {
		for (unsigned i = 0; i < reg->nworkers; i++)
			pool_schedule(list_entry(n, struct pool, node), reg->workers[i]);
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
	close_released(reg, NULL);
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

typedef void (*pool_local_fn)(struct pool_local *l, void *arg);

/* fn for each worker's part of each pool of db (NULL: all), with the other workers parked. */
static void each_local(struct registry *reg, const struct database *db, pool_local_fn fn, void *arg)
{
	struct list_node *n, *t;

	list_for_each_safe(n, t, &reg->pools) {
		struct pool *pool = list_entry(n, struct pool, node);

		if (!matches(pool, db))
			continue;
		for (unsigned i = 0; i < reg->worker_count; i++)
			fn(&pool->local[i], arg);
	}
}

static void local_conns(struct pool_local *l, void *arg)
{
	conn_fn fn = *(conn_fn *)arg;
	struct list_node *cn, *ct;

	for (int s = CL_WAIT_WELCOME; s < CL_CLOSED; s++)
		list_for_each_safe(cn, ct, &l->clients[s]) {
			fn(&list_entry(cn, struct client, node)->conn);
		}
	for (int s = 0; s < SV_CLOSED; s++)
		list_for_each_safe(cn, ct, &l->servers[s]) {
			fn(&list_entry(cn, struct server, node)->conn);
		}
}

/*
 * Every logged-in connection of every worker but the console's. Clients still logging in
 * are left alone: one of them may be the operator's new console session.
 */
static void for_each_conn(struct registry *reg, conn_fn fn)
{
	each_local(reg, NULL, local_conns, &fn);
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
	for_each_conn(w->reg, on ? suspend_conn : resume_conn);
}

struct resume_args {
	struct database *db;
	char *err;
	size_t errlen;
	bool ok;
};

static bool resume(struct worker *w, struct database *db, char *err, size_t errlen);

static void resume_parked(struct worker *w, void *arg)
{
	struct resume_args *a = arg;

	a->ok = resume(w, a->db, a->err, a->errlen);
}

/* Also from a console client that leaves or cancels: the others are parked here. */
bool control_resume(struct worker *w, struct database *db, char *err, size_t errlen)
{
	struct resume_args a = { db, err, errlen, false };

	worker_exclusive(w, resume_parked, &a);
	return a.ok;
}

static bool resume(struct worker *w, struct database *db, char *err, size_t errlen)
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
	resume_pools(reg);
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

static void local_flushed(struct pool_local *l, void *arg)
{
	bool *flushed = arg;
	const struct list_node *cn, *ct;

	for (int s = CL_WAIT_WELCOME; s < CL_CLOSED && *flushed; s++)
		list_for_each_safe(cn, ct, &l->clients[s]) {
			if (!idle_buffers(&list_entry(cn, struct client, node)->conn))
				*flushed = false;
		}
	for (int s = 0; s < SV_CLOSED && *flushed; s++)
		list_for_each_safe(cn, ct, &l->servers[s]) {
			if (!idle_buffers(&list_entry(cn, struct server, node)->conn))
				*flushed = false;
		}
}

bool control_suspend_done(const struct worker *w)
{
	bool flushed = true;

	each_local(w->reg, NULL, local_flushed, &flushed);
	return flushed;
}

void control_disable(struct database *db, bool disabled)
{
	db->disabled = disabled;
	log_info("%s %s", disabled ? "DISABLE" : "ENABLE", db->name);
}

static void local_reconnect(struct pool_local *l, void *arg)
{
	struct list_node *sn, *st;

	(void)arg;
	for (int s = 0; s < SV_CLOSED; s++)
		list_for_each_safe(sn, st, &l->servers[s]) {
			list_entry(sn, struct server, node)->close_needed = true;
		}
	list_for_each_safe(sn, st, &l->servers[SV_IDLE]) {
		server_close(list_entry(sn, struct server, node), "reconnect requested");
	}
}

void control_reconnect(struct registry *reg, struct database *db)
{
	struct list_node *n, *t;

	each_local(reg, db, local_reconnect, NULL);
	list_for_each_safe(n, t, &reg->pools) { /* and those travelling between workers */
		struct pool *pool = list_entry(n, struct pool, node);

		if (matches(pool, db))
			pool->epoch++;
	}
	log_info("RECONNECT %s", db ? db->name : "(all databases)");
}

static void local_unclosed(struct pool_local *l, void *arg)
{
	bool *done = arg;
	const struct list_node *sn, *st;

	for (int s = 0; s < SV_CLOSED && *done; s++)
		list_for_each_safe(sn, st, &l->servers[s]) {
			if (list_entry(sn, struct server, node)->close_needed)
				*done = false;
		}
}

bool control_wait_close_done(const struct registry *reg, const struct database *db)
{
	bool done = true;

	each_local((struct registry *)reg, db, local_unclosed, &done);
	return done;
}

static void local_kill(struct pool_local *l, void *arg)
{
	struct list_node *cn, *ct;

	(void)arg;
	for (int s = CL_WAIT_WELCOME; s < CL_CLOSED; s++)
		while ((cn = list_first(&l->clients[s])))
			client_close(list_entry(cn, struct client, node), "08P01",
				     "database killed by admin (KILL)");
	for (int s = 0; s < SV_CLOSED; s++)
		list_for_each_safe(cn, ct, &l->servers[s]) {
			server_close(list_entry(cn, struct server, node), "database killed");
		}
}

void control_kill(struct worker *w, struct database *db)
{
	if (db)
		db->paused = true;
	else
		w->reg->paused = true;
	log_info("KILL %s", db ? db->name : "(all databases)");
	each_local(w->reg, db, local_kill, NULL);
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

/* The client with connection id `id` on any worker (they are parked), or NULL. */
static struct client *find_client(struct registry *reg, uint32_t id)
{
	struct client *client = NULL;
	struct list_node *n, *t;

	for (unsigned i = 0; i < reg->nworkers && !client; i++) {
		client = find_in(&reg->workers[i]->console_clients, id);
		if (!client)
			client = find_in(&reg->workers[i]->login_clients, id);
	}
	list_for_each_safe(n, t, &reg->pools) {
		struct pool *pool = list_entry(n, struct pool, node);

		for (unsigned i = 0; i < reg->worker_count && !client; i++)
			for (int s = CL_WAIT_WELCOME; s < CL_CLOSED && !client; s++)
				client = find_in(&pool->local[i].clients[s], id);
	}
	return client;
}

bool control_kill_client(struct worker *w, uint32_t id)
{
	struct client *client = find_client(w->reg, id);

	if (!client)
		return false;
	client_close(client, "08P01", "admin forced disconnect");
	return true;
}

static void local_close_waiting(struct pool_local *l, void *arg)
{
	static const enum client_state queued[] = { CL_WAIT_WELCOME, CL_WAITING };
	struct list_node *cn;

	(void)arg;
	for (size_t i = 0; i < ARRAY_SIZE(queued); i++)
		while ((cn = list_first(&l->clients[queued[i]])))
			client_close(list_entry(cn, struct client, node), "08P01",
				     "server shutting down");
}

/*
 * The first worker's loop is the process's: when it ends, the others are stopped
 * (worker_stop_all). The others are parked when this runs on another worker.
 */
static struct worker *first_worker(const struct worker *w)
{
	return w->reg->workers[0];
}

void control_shutdown(struct worker *w, enum worker_shutdown mode, const char *why)
{
	struct registry *reg = w->reg;

	if (w->shutdown != SHUTDOWN_NONE || reg->suspended) {
		log_info("got %s %s, exiting now", why,
			 reg->suspended ? "while suspended" : "during shutdown");
		worker_stop(first_worker(w));
		return;
	}
	log_info("got %s, shutting down once %s", why,
		 mode == SHUTDOWN_WAIT_FOR_CLIENTS ? "clients have left" : "servers are released");
	for (unsigned i = 0; i < reg->nworkers; i++)
		reg->workers[i]->shutdown = mode;
	/* SHUTDOWN WAIT_FOR_SERVERS: clients queued for a server will not get one. */
	if (mode == SHUTDOWN_WAIT_FOR_SERVERS) {
		reg->paused = true;
		each_local(reg, NULL, local_close_waiting, NULL);
	}
	listener_close_tcp(first_worker(w));
	janitor_run(first_worker(w));
}

void control_exit(struct worker *w, const char *why)
{
	log_info("%s, exiting now", why);
	worker_stop(first_worker(w));
}

void control_poll(struct worker *w)
{
	registry_lock(w->reg);
	close_released(w->reg, w);
	registry_unlock(w->reg);
	if (w->console_waits)
		admin_poll(w);
}
