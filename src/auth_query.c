/* SPDX-License-Identifier: ISC */
/*
 * auth_query (auth_query.h): which database, user and query a lookup uses, the per-worker
 * pools of auth connections, the FIFO of lookups, the waiters coalesced on each lookup, and
 * the cache in front of them. The libpq side is auth_query_conn.c; the cache is
 * auth_query_cache.c.
 *
 * A lookup (struct aq_lookup) is one query for one name: it waits on its pool's queue,
 * then runs on one connection, and its answer goes to every login waiting on it, in the
 * order they came. A login that goes away only leaves the lookup; a queued lookup nobody
 * waits for any more is dropped, a running one finishes and fills the cache. Answers are
 * handed to waiters from the connection's callbacks, that is from the loop, never from
 * inside auth_query_lookup().
 *
 * Pools live as long as the worker; each holds copies of its names, so that a reload that
 * frees the old config leaves nothing dangling. A connection reads host, port, dbname and
 * auth_user's password from the config current when it opens.
 *
 * Entry points: auth_query_plan, auth_query_create, auth_query_free, auth_query_lookup,
 * auth_query_cancel.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "admin.h"
#include "auth_file.h"
#include "auth_query.h"
#include "auth_query_conn.h"
#include "config.h"
#include "list.h"
#include "log.h"
#include "registry.h"
#include "worker.h"

/* One (auth database entry, auth_user): its connections, queue and cache. */
struct aq_pool {
	struct list_node node;	  /* on auth_query.pools */
	struct auth_query *aq;	  /* borrowed */
	char *auth_db;		  /* owned */
	char *auth_user;	  /* owned */
	struct list_head conns;	  /* struct aq_conn, every state */
	struct list_head queue;	  /* struct aq_lookup waiting for a connection, FIFO */
	struct list_head running; /* struct aq_lookup on a connection */
	struct auth_query_cache cache;
};

struct aq_lookup {
	struct list_node node;	  /* on pool->queue or pool->running */
	struct aq_pool *pool;	  /* borrowed */
	char *query;		  /* owned */
	char *user;		  /* owned */
	struct list_head waiters; /* struct auth_query_wait, FIFO */
	bool running;
};

struct auth_query_wait {
	struct list_node node;	  /* on lookup->waiters */
	struct aq_lookup *lookup; /* borrowed */
	auth_query_done_fn done;
	void *arg;
	struct auth_query_wait **handle; /* the waiter's pointer to this */
};

struct auth_query {
	struct worker *w;	/* borrowed */
	struct list_head pools; /* struct aq_pool */
};

static const char *set(const char *s)
{
	return s && *s ? s : NULL;
}

static const struct db_def *find_entry(const struct config *cfg, const char *name)
{
	const struct db_def *def = config_find_db(cfg, name);

	return def ? def : config_find_db(cfg, "*");
}

/* The auth database part of a plan: the entry, checked as PgBouncer checks it. */
static enum auth_query_plan_result plan_auth_db(const struct registry *reg,
						struct auth_query_plan *p, char *err, size_t errlen)
{
	const struct database *db;

	if (admin_console_name(p->auth_db)) {
		snprintf(err, errlen, "cannot use the reserved \"%s\" database as an auth_dbname",
			 p->auth_db);
		return AQ_PLAN_ERROR;
	}
	p->def = find_entry(reg->cfg, p->auth_db);
	if (!p->def) {
		snprintf(err, errlen, "authentication database \"%s\" is not configured",
			 p->auth_db);
		return AQ_PLAN_ERROR;
	}
	db = registry_find_database(reg, p->auth_db);
	if (db && db->disabled) {
		snprintf(err, errlen, "authentication database \"%s\" is disabled", p->auth_db);
		return AQ_PLAN_ERROR;
	}
	p->dbname = p->def->dbname ? p->def->dbname : p->auth_db;
	return AQ_PLAN_OK;
}

enum auth_query_plan_result auth_query_plan(const struct registry *reg, const char *db_name,
					    struct auth_query_plan *p, char *err, size_t errlen)
{
	const struct config *cfg = reg->cfg;
	const struct db_def *own = find_entry(cfg, db_name);

	memset(p, 0, sizeof(*p));
	if (!own)
		return AQ_PLAN_NONE;
	p->auth_user = set(own->auth_user) ? own->auth_user : set(cfg->auth_user);
	p->query = set(own->auth_query) ? own->auth_query : set(cfg->auth_query);
	if (!p->auth_user || !p->query)
		return AQ_PLAN_NONE;
	p->auth_db = set(own->auth_dbname)   ? own->auth_dbname
		     : set(cfg->auth_dbname) ? cfg->auth_dbname
					     : db_name;
	return plan_auth_db(reg, p, err, errlen);
}

struct auth_query *auth_query_create(struct worker *w)
{
	struct auth_query *aq = xcalloc(1, sizeof(*aq));

	aq->w = w;
	list_init(&aq->pools);
	return aq;
}

static void lookup_free(struct aq_lookup *lk)
{
	ASSERT(list_empty(&lk->waiters));
	list_remove(lk->running ? &lk->pool->running : &lk->pool->queue, &lk->node);
	free(lk->query);
	free(lk->user);
	free(lk);
}

/* Hands the answer to every waiter, oldest first, and frees the lookup. */
static void deliver(struct aq_lookup *lk, const struct auth_query_answer *a)
{
	struct list_node *n;

	while ((n = list_pop_first(&lk->waiters))) {
		struct auth_query_wait *wait = list_entry(n, struct auth_query_wait, node);
		auth_query_done_fn done = wait->done;
		void *arg = wait->arg;

		*wait->handle = NULL;
		free(wait);
		done(arg, a);
	}
	lookup_free(lk);
}

static void fail_queue(struct aq_pool *pool)
{
	static const struct auth_query_answer failed = { .outcome = AQ_FAILED };
	struct list_node *n;

	while ((n = list_first(&pool->queue)))
		deliver(list_entry(n, struct aq_lookup, node), &failed);
}

static void kick(struct aq_pool *pool);

static void close_conn(struct aq_pool *pool, struct aq_conn *c)
{
	log_msg(LOG_LVL_DEBUG, c->tag, "closing auth connection: the config changed");
	list_remove(&pool->conns, &c->node);
	aq_conn_free(c);
}

static void on_ready(struct aq_conn *c)
{
	struct aq_pool *pool = c->owner;

	if (c->retired)
		close_conn(pool, c);
	kick(pool);
}

static void on_answer(struct aq_conn *c, const struct auth_query_answer *a)
{
	struct aq_lookup *lk = c->job;
	struct aq_pool *pool = c->owner;

	c->job = NULL;
	auth_query_cache_put(&pool->cache, lk->query, lk->user, a, now_usec());
	deliver(lk, a);
	if (c->retired && !c->job)
		close_conn(pool, c);
	kick(pool);
}

/* A connection that never connected fails its pool's queue: its server is out of reach. */
static void on_closed(struct aq_conn *c, const char *reason)
{
	static const struct auth_query_answer failed = { .outcome = AQ_FAILED };
	struct aq_pool *pool = c->owner;
	struct aq_lookup *lk = c->job;
	bool connected = c->connected;

	if (connected && !lk)
		log_msg(LOG_LVL_DEBUG, c->tag, "closing auth connection: %s", reason);
	else
		log_msg(LOG_LVL_WARNING, c->tag, "auth_query connection failed: %s", reason);
	list_remove(&pool->conns, &c->node);
	aq_conn_free(c);
	if (lk)
		deliver(lk, &failed);
	if (!connected)
		fail_queue(pool);
	kick(pool);
}

static const struct aq_conn_ops conn_ops = { on_ready, on_answer, on_closed };

/* auth_user's password: a plaintext auth_file secret; libpq cannot log in with a hash. */
static const char *auth_user_password(const struct registry *reg, const char *auth_user)
{
	const struct auth_entry *e = reg->auth ? auth_file_find(reg->auth, auth_user) : NULL;

	if (!e || !*e->secret)
		return NULL;
	if (e->kind == SECRET_PLAIN)
		return e->secret;
	log_warning("auth_user \"%s\" has a hashed secret in auth_file: its connection for "
		    "auth_query logs in without a password",
		    auth_user);
	return NULL;
}

static void open_conn(struct aq_pool *pool)
{
	const struct registry *reg = pool->aq->w->reg;
	const struct db_def *def = find_entry(reg->cfg, pool->auth_db);
	char tag[128];
	struct aq_conn_params p = {
		.unix_dir = reg->cfg->unix_socket_dir,
		.dbname = pool->auth_db,
		.user = pool->auth_user,
		.password = auth_user_password(reg, pool->auth_user),
		.connect_timeout = reg->cfg->server_connect_timeout,
		.idle_timeout = reg->cfg->server_idle_timeout,
		.tag = tag,
	};
	struct aq_conn *c;

	snprintf(tag, sizeof(tag), "%s/%s", pool->auth_db, pool->auth_user);
	if (def) {
		p.host = def->host;
		p.port = def->port;
		p.dbname = def->dbname ? def->dbname : pool->auth_db;
	} else {
		p.error = "the authentication database is no longer configured";
	}
	c = aq_conn_open(pool->aq->w, &p, &conn_ops, pool);
	list_append(&pool->conns, &c->node);
}

/* Idle connections take queued lookups; more open while lookups outnumber connects. */
static void kick(struct aq_pool *pool)
{
	struct list_node *n, *t;
	unsigned live = 0, connecting = 0;

	list_for_each_safe(n, t, &pool->conns) {
		struct aq_conn *c = list_entry(n, struct aq_conn, node);
		struct list_node *q;

		if (c->state == AQC_IDLE && !c->retired && (q = list_pop_first(&pool->queue))) {
			struct aq_lookup *lk = list_entry(q, struct aq_lookup, node);

			lk->running = true;
			list_append(&pool->running, &lk->node);
			c->job = lk;
			aq_conn_query(c, lk->query, lk->user);
		}
		live += c->state != AQC_CLOSED;
		connecting += c->state == AQC_RESOLVING || c->state == AQC_CONNECTING;
	}
	for (; pool->queue.count > connecting && live < AUTH_QUERY_POOL_SIZE; live++, connecting++)
		open_conn(pool);
}

static struct aq_pool *find_pool(struct auth_query *aq, const char *auth_db, const char *auth_user)
{
	struct list_node *n, *t;
	struct aq_pool *pool;

	list_for_each_safe(n, t, &aq->pools) {
		pool = list_entry(n, struct aq_pool, node);
		if (strcmp(pool->auth_db, auth_db) == 0 && strcmp(pool->auth_user, auth_user) == 0)
			return pool;
	}
	pool = xcalloc(1, sizeof(*pool));
	pool->aq = aq;
	pool->auth_db = xstrdup(auth_db);
	pool->auth_user = xstrdup(auth_user);
	list_init(&pool->conns);
	list_init(&pool->queue);
	list_init(&pool->running);
	auth_query_cache_init(&pool->cache);
	list_append(&aq->pools, &pool->node);
	return pool;
}

static struct aq_lookup *find_lookup(const struct list_head *list, const char *query,
				     const char *user)
{
	struct list_node *n, *t;

	list_for_each_safe(n, t, list) {
		struct aq_lookup *lk = list_entry(n, struct aq_lookup, node);

		if (strcmp(lk->user, user) == 0 && strcmp(lk->query, query) == 0)
			return lk;
	}
	return NULL;
}

/* The lookup of (query, user) in flight or queued, or a new one at the end of the queue. */
static struct aq_lookup *lookup_for(struct aq_pool *pool, const char *query, const char *user)
{
	struct aq_lookup *lk = find_lookup(&pool->running, query, user);

	if (!lk)
		lk = find_lookup(&pool->queue, query, user);
	if (lk)
		return lk;
	lk = xcalloc(1, sizeof(*lk));
	lk->pool = pool;
	lk->query = xstrdup(query);
	lk->user = xstrdup(user);
	list_init(&lk->waiters);
	list_append(&pool->queue, &lk->node);
	return lk;
}

enum auth_query_status auth_query_lookup(struct auth_query *aq, const char *db_name,
					 const char *user, auth_query_done_fn done, void *arg,
					 struct auth_query_wait **handle,
					 struct auth_query_answer *a, char *err, size_t errlen)
{
	struct auth_query_plan p;
	struct aq_pool *pool;
	struct auth_query_wait *wait;

	switch (auth_query_plan(aq->w->reg, db_name, &p, err, errlen)) {
	case AQ_PLAN_NONE:
		return AQ_NOT_USED;
	case AQ_PLAN_ERROR:
		return AQ_REFUSED;
	case AQ_PLAN_OK:
		break;
	}
	pool = find_pool(aq, p.auth_db, p.auth_user);
	if (auth_query_cache_get(&pool->cache, p.query, user, now_usec(), a))
		return AQ_DONE;
	wait = xcalloc(1, sizeof(*wait));
	wait->lookup = lookup_for(pool, p.query, user);
	wait->done = done;
	wait->arg = arg;
	wait->handle = handle;
	list_append(&wait->lookup->waiters, &wait->node);
	*handle = wait;
	kick(pool);
	return AQ_PENDING;
}

void auth_query_cancel(struct auth_query_wait **handle)
{
	struct auth_query_wait *wait = *handle;
	struct aq_lookup *lk;

	if (!wait)
		return;
	lk = wait->lookup;
	list_remove(&lk->waiters, &wait->node);
	free(wait);
	*handle = NULL;
	if (list_empty(&lk->waiters) && !lk->running)
		lookup_free(lk);
}

/*
 * After a reload: the cache is dropped, idle connections close now and the others once
 * their query is over, so that new connections use the new host, port and password.
 */
void auth_query_reload(struct auth_query *aq)
{
	struct list_node *pn, *pt, *n, *t;

	list_for_each_safe(pn, pt, &aq->pools) {
		struct aq_pool *pool = list_entry(pn, struct aq_pool, node);

		auth_query_cache_clear(&pool->cache);
		list_for_each_safe(n, t, &pool->conns) {
			struct aq_conn *c = list_entry(n, struct aq_conn, node);

			c->retired = true;
			if (c->state == AQC_IDLE)
				close_conn(pool, c);
		}
		kick(pool);
	}
}

static void pool_free(struct aq_pool *pool)
{
	struct list_node *n;

	while ((n = list_pop_first(&pool->conns)))
		aq_conn_free(list_entry(n, struct aq_conn, node));
	while ((n = list_first(&pool->running)))
		lookup_free(list_entry(n, struct aq_lookup, node));
	while ((n = list_first(&pool->queue)))
		lookup_free(list_entry(n, struct aq_lookup, node));
	auth_query_cache_clear(&pool->cache);
	free(pool->auth_db);
	free(pool->auth_user);
	free(pool);
}

void auth_query_free(struct auth_query *aq)
{
	struct list_node *n;

	if (!aq)
		return;
	while ((n = list_pop_first(&aq->pools)))
		pool_free(list_entry(n, struct aq_pool, node));
	free(aq);
}
