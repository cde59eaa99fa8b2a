/* SPDX-License-Identifier: ISC */
/*
 * The registry owns the current config snapshot, auth_file and HBA rules, and the objects
 * built from them: databases, users and pools. Databases point into the snapshot (their
 * definition); a reload re-points them, and an entry created from "*" keeps working as long
 * as "*" does.
 */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>
#include <unistd.h>

#include "auth_file.h"
#include "config.h"
#include "hba.h"
#include "log.h"
#include "pool.h"
#include "pool_sched.h"
#include "prepared.h"
#include "registry.h"
#include "tls.h"

static void create_forced_pools(struct registry *reg);
static void keep_query_secret(struct user *u, const char *secret, int kind);

unsigned registry_worker_count(const struct config *cfg)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	if (cfg->workers > 0)
		return (unsigned)cfg->workers;
	return cores < 1 ? 1 : cores > WEIR_MAX_WORKERS ? WEIR_MAX_WORKERS : (unsigned)cores;
}

struct registry *registry_create(struct config *cfg, struct auth_file *auth, const char *conffile,
				 unsigned worker_count)
{
	struct registry *reg = xcalloc(1, sizeof(*reg));
	pthread_mutexattr_t attr;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&reg->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	pthread_mutex_init(&reg->exclusive, NULL);
	pthread_mutex_init(&reg->park_lock, NULL);
	pthread_cond_init(&reg->park_cond, NULL);
	reg->worker_count = worker_count;

	reg->cfg = cfg;
	reg->auth = auth;
	reg->conffile = xstrdup(conffile);
	reg->started = wall_usec();
	if (RAND_bytes(reg->mock_secret, sizeof(reg->mock_secret)) != 1)
		die("cannot draw random bytes");
	list_init(&reg->databases);
	list_init(&reg->users);
	list_init(&reg->pools);
	params_init_names(&reg->tracked, cfg->track_extra_parameters);
	cancel_table_init(&reg->cancels);
	reg->ps = ps_registry_create();
	create_forced_pools(reg);
	return reg;
}

static void forget_user_keys(struct user *u)
{
	OPENSSL_cleanse(&u->have_own_keys, sizeof(*u) - offsetof(struct user, have_own_keys));
}

void registry_keep_query_secret(struct registry *reg, struct user *u, const char *secret, int kind)
{
	registry_lock(reg);
	keep_query_secret(u, secret, kind);
	registry_unlock(reg);
}

static void keep_query_secret(struct user *u, const char *secret, int kind)
{
	if (u->query_secret && strcmp(u->query_secret, secret) == 0)
		return;
	if (u->query_secret) {
		OPENSSL_cleanse(u->query_secret, strlen(u->query_secret));
		free(u->query_secret);
	}
	u->query_secret = xstrdup(secret);
	u->query_secret_kind = kind;
}

static void free_user(struct user *u)
{
	forget_user_keys(u);
	if (u->query_secret) {
		OPENSSL_cleanse(u->query_secret, strlen(u->query_secret));
		free(u->query_secret);
	}
	free(u->name);
	free(u);
}

void registry_free(struct registry *reg)
{
	struct list_node *n;

	while ((n = list_pop_first(&reg->pools)))
		pool_free(list_entry(n, struct pool, node));
	while ((n = list_pop_first(&reg->databases))) {
		struct database *db = list_entry(n, struct database, node);

		config_unref(db->removed_from);
		free(db->name);
		free(db->auto_dbname);
		free(db);
	}
	while ((n = list_pop_first(&reg->users)))
		free_user(list_entry(n, struct user, node));
	config_unref(reg->cfg);
	tls_ctx_unref(reg->tls_accept);
	tls_ctx_unref(reg->tls_connect);
	if (reg->auth)
		auth_file_free(reg->auth);
	hba_free(reg->hba);
	for (size_t i = 0; reg->restart_pending && i < config_nkeys; i++)
		free(reg->restart_pending[i]);
	free(reg->restart_pending);
	params_free_names(&reg->tracked);
	free(reg->console_period);
	params_cache_free(&reg->canon);
	cancel_table_free(&reg->cancels);
	ps_registry_free(reg->ps);
	free(reg->conffile);
	pthread_mutex_destroy(&reg->lock);
	pthread_mutex_destroy(&reg->exclusive);
	pthread_mutex_destroy(&reg->park_lock);
	pthread_cond_destroy(&reg->park_cond);
	free(reg);
}

static struct database *find_database(const struct registry *reg, const char *name)
{
	struct list_node *n, *t;

	list_for_each_safe(n, t, &reg->databases) {
		struct database *db = list_entry(n, struct database, node);

		if (strcmp(db->name, name) == 0)
			return db;
	}
	return NULL;
}

struct database *registry_find_database(const struct registry *reg, const char *name)
{
	struct database *db;

	registry_lock(reg);
	db = find_database(reg, name);
	registry_unlock(reg);
	return db;
}

static struct database *get_database(struct registry *reg, const char *name)
{
	struct database *db = find_database(reg, name);
	const struct db_def *def;
	bool is_auto = false;

	if (db)
		return db->removed_from ? NULL : db;
	def = config_find_db(reg->cfg, name);
	if (!def) {
		def = config_find_db(reg->cfg, "*");
		is_auto = true;
	}
	if (!def)
		return NULL;
	db = xcalloc(1, sizeof(*db));
	db->name = xstrdup(name);
	db->def = def;
	if (is_auto) {
		db->auto_dbname = xstrdup(name);
		log_info("registered new auto-database: %s", name);
	}
	list_append(&reg->databases, &db->node);
	return db;
}

struct database *registry_database(struct registry *reg, const char *name)
{
	struct database *db;

	registry_lock(reg);
	db = get_database(reg, name);
	registry_unlock(reg);
	return db;
}

static struct user *find_user(const struct registry *reg, const char *name)
{
	struct list_node *n, *t;

	list_for_each_safe(n, t, &reg->users) {
		struct user *u = list_entry(n, struct user, node);

		if (strcmp(u->name, name) == 0)
			return u;
	}
	return NULL;
}

struct user *registry_find_user(const struct registry *reg, const char *name)
{
	struct user *u;

	registry_lock(reg);
	u = find_user(reg, name);
	registry_unlock(reg);
	return u;
}

struct user *registry_user(struct registry *reg, const char *name)
{
	struct user *u;

	registry_lock(reg);
	u = find_user(reg, name);
	if (!u) {
		u = xcalloc(1, sizeof(*u));
		u->name = xstrdup(name);
		list_append(&reg->users, &u->node);
	}
	registry_unlock(reg);
	return u;
}

static struct pool *get_pool(struct registry *reg, struct database *db, struct user *user)
{
	struct list_node *n, *t;
	struct pool *pool;

	list_for_each_safe(n, t, &reg->pools) {
		pool = list_entry(n, struct pool, node);
		if (pool->db == db && pool->user == user)
			return pool;
	}
	pool = pool_create(reg, db, user);
	list_append(&reg->pools, &pool->node);
	return pool;
}

struct pool *registry_pool(struct registry *reg, struct database *db, struct user *user)
{
	struct pool *pool;

	registry_lock(reg);
	pool = get_pool(reg, db, user);
	registry_unlock(reg);
	return pool;
}

/*
 * The pool of a [databases] entry with a forced user and a min_pool_size exists from the
 * start (or from the reload that adds it), so that the janitor keeps its servers open
 * before any client comes, as PgBouncer 1.21 does. Pools without a forced user are made
 * by their first client.
 */
/*
 * Every [databases] and [users] entry is registered as soon as it is configured, as
 * PgBouncer does, so that SHOW DATABASES, USERS and LISTS list them before anyone logs in;
 * pools of forced-user entries with min_pool_size are created too.
 */
static void create_forced_pools(struct registry *reg)
{
	const struct config *cfg = reg->cfg;

	for (size_t i = 0; i < cfg->nusers; i++)
		(void)registry_user(reg, cfg->users[i].name);
	for (size_t i = 0; i < cfg->ndbs; i++) {
		const struct db_def *d = &cfg->dbs[i];
		int min = d->min_pool_size >= 0 ? d->min_pool_size : cfg->min_pool_size;
		struct database *db;

		if (strcmp(d->name, "*") == 0 || !(db = registry_database(reg, d->name)))
			continue;
		if (d->user && min > 0)
			(void)registry_pool(reg, db, registry_user(reg, d->user));
	}
}

/* Whether servers made from old are no longer what new describes. */
static bool db_def_changed(const struct db_def *old, const struct db_def *new)
{
	return !old || !new || !params_same_value(old->host, new->host) || old->port != new->port ||
	       !params_same_value(old->dbname, new->dbname) ||
	       !params_same_value(old->user, new->user) ||
	       !params_same_value(old->password, new->password) ||
	       !params_same_value(old->connect_query, new->connect_query) ||
	       !params_same_value(old->client_encoding, new->client_encoding) ||
	       !params_same_value(old->datestyle, new->datestyle) ||
	       !params_same_value(old->timezone, new->timezone) ||
	       !params_same_value(old->application_name, new->application_name);
}

/* Servers of a changed database are closed when next released (or idle). */
static void retire_servers(struct registry *reg, const struct database *db)
{
	struct list_node *n, *t;

	log_info("database \"%s\" configuration changed: its servers will be replaced", db->name);
	list_for_each_safe(n, t, &reg->pools) {
		struct pool *pool = list_entry(n, struct pool, node);

		if (pool->db == db)
			pool_retire(pool);
	}
}

/* One role's context: replaced only by one that could be built. */
static bool swap_tls(struct tls_ctx **slot, const struct config *cfg, enum tls_role role, char *err,
		     size_t errlen)
{
	struct tls_ctx *t = tls_ctx_build(cfg, role, err, errlen);

	if (!t && err[0])
		return false;
	tls_ctx_unref(*slot);
	*slot = t;
	return true;
}

bool registry_set_tls(struct registry *reg, const struct config *cfg, char *err, size_t errlen)
{
	char why[512];
	bool ok = true;

	err[0] = '\0';
	if (!swap_tls(&reg->tls_accept, cfg, TLS_ACCEPT, why, sizeof(why))) {
		snprintf(err, errlen, "client TLS: %s", why);
		ok = false;
	}
	if (!swap_tls(&reg->tls_connect, cfg, TLS_CONNECT, why, sizeof(why))) {
		snprintf(err + strlen(err), errlen - strlen(err), "%sserver TLS: %s",
			 ok ? "" : "; ", why);
		return false;
	}
	if (reg->cfg && reg->cfg != cfg && tls_settings_differ(reg->cfg, cfg, TLS_CONNECT)) {
		struct list_node *n, *t;

		log_info("server TLS settings changed: servers will be replaced");
		list_for_each_safe(n, t, &reg->pools)
			pool_retire(list_entry(n, struct pool, node));
	}
	return ok;
}

/*
 * A database gone from the new config keeps its definition from the old one (reg->cfg,
 * pinned), so that the clients it has keep working as before; PgBouncer-style logins of
 * new clients get "no such database". Adding it back re-points it as any change would.
 */
static void repoint_database(struct registry *reg, struct database *db, const struct config *cfg)
{
	const struct db_def *old = db->def, *def;

	def = config_find_db(cfg, db->auto_dbname ? "*" : db->name);
	if (!def) {
		if (!db->removed_from) {
			log_warning("database \"%s\" was removed from the config: its clients "
				    "keep their connections, new logins are refused",
				    db->name);
			db->removed_from = config_ref(reg->cfg);
		}
		return;
	}
	db->def = def;
	if (db_def_changed(old, def))
		retire_servers(reg, db);
	if (db->removed_from) {
		log_info("database \"%s\" is back in the config", db->name);
		config_unref(db->removed_from);
		db->removed_from = NULL;
	}
}

void registry_apply(struct registry *reg, struct config *cfg, struct auth_file *auth)
{
	struct list_node *n, *t;

	list_for_each_safe(n, t, &reg->databases) {
		repoint_database(reg, list_entry(n, struct database, node), cfg);
	}
	list_for_each_safe(n, t, &reg->users) {
		forget_user_keys(list_entry(n, struct user, node));
	}
	config_unref(reg->cfg);
	reg->cfg = cfg;
	if (reg->auth != auth)
		auth_file_free(reg->auth);
	reg->auth = auth;
	list_for_each_safe(n, t, &reg->pools) {
		struct pool *pool = list_entry(n, struct pool, node);

		pool_update_mode(pool);
		pool_update_limits(pool);
		pool_set_statement_capacity(pool, (unsigned)cfg->max_prepared_statements);
		for (unsigned i = 0; i < reg->nworkers; i++) /* the others are parked */
			pool_trim(pool, reg->workers[i]);
	}
	create_forced_pools(reg);
}

void registry_set_hba(struct registry *reg, struct hba *hba)
{
	if (reg->hba != hba)
		hba_free(reg->hba);
	reg->hba = hba;
}

const char *database_server_user(const struct database *db, const char *client_user)
{
	return db->def && db->def->user ? db->def->user : client_user;
}

const char *database_server_dbname(const struct database *db)
{
	if (db->def && db->def->dbname)
		return db->def->dbname;
	return db->auto_dbname ? db->auto_dbname : db->name;
}
