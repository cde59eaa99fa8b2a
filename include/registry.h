/* SPDX-License-Identifier: ISC */
/*
 * Process-wide state: the current config snapshot and auth_file, and the databases, users
 * and pools built from them. Pools are shared by all workers (a connection belongs to one
 * worker, a pool to the registry), which is what keeps pool_size exact with several cores.
 */
#pragma once

#include <pthread.h>

#include "auth_scram.h"
#include "cancel.h"
#include "common.h"
#include "list.h"
#include "params.h"

struct config;
struct db_def;
struct user_def;
struct auth_file;
struct hba;
struct pool;
struct ps_registry;
struct worker;
struct pool_period;
struct tls_ctx;

struct database {
	struct list_node node; /* on registry.databases */
	char *name;	       /* owned */
	/*
	 * borrowed from registry.cfg, re-pointed on reload; never NULL. When a reload removes
	 * the entry, def stays the last definition, kept alive by removed_from, so that the
	 * clients already logged in keep working; new logins no longer find the database.
	 */
	const struct db_def *def;
	struct config *removed_from; /* owned reference while removed from the config, or NULL */
	char *auto_dbname;	     /* owned: server db name for an entry created from "*" */
	unsigned server_count;	     /* servers of all its pools, for max_db_connections */
	unsigned client_count;
	bool paused;   /* PAUSE db: no server is handed out (control.c) */
	bool disabled; /* DISABLE db: new logins are refused */
};

/* Per user-name caches that make SCRAM logins cheap. */
struct user {
	struct list_node node; /* on registry.users */
	char *name;	       /* owned */
	unsigned server_count; /* for max_user_connections */
	unsigned client_count;
	/*
	 * owned, wiped: the auth_query secret of the user's last login (a user auth_file does
	 * not know), which server logins use as they would auth_file's; NULL if none
	 */
	char *query_secret;
	int query_secret_kind; /* enum secret_kind */
	/* Keys derived once from a plaintext auth_file secret, to authenticate clients. */
	bool have_own_keys;
	struct scram_keys own_keys;
	/* From the last client SCRAM login against a verifier: enables pass-through. */
	bool have_client_key;
	uint8_t client_key[SCRAM_KEY_LEN];
	/* Keys derived from a plaintext secret for the server's salt, to log in to servers. */
	bool have_server_keys;
	struct scram_keys server_keys;
	uint8_t server_client_key[SCRAM_KEY_LEN];
};

struct registry {
	/*
	 * Guards what workers share and change as they go: the lists of databases, users and
	 * pools, the pools' shared parts and their per-worker lists, the counts of databases
	 * and users, the users' cached keys and the cancel table. Recursive: the scheduler
	 * closes and releases connections, which take it again. Not taken with one worker.
	 */
	pthread_mutex_t lock;
	unsigned worker_count;	     /* fixed at start: how many workers run */
	unsigned nclients;	     /* atomic: client connections, for max_client_conn */
	struct config *cfg;	     /* owned reference: the current snapshot */
	struct auth_file *auth;	     /* owned; may be NULL when no auth_file is set */
	struct hba *hba;	     /* owned: rules and ident maps; NULL unless auth_type = hba */
	struct tls_ctx *tls_accept;  /* owned reference: for new clients; NULL without TLS */
	struct tls_ctx *tls_connect; /* owned reference: for new servers; NULL without TLS */
	struct list_head databases;
	struct list_head users;
	struct list_head pools;
	bool paused;		     /* every database (PAUSE, KILL, SIGUSR1, SIGINT) */
	bool suspended;		     /* SUSPEND: no connection but the console's is read */
	uint32_t suspend_issuer;     /* connection id of the console client that issued it */
	uint8_t mock_secret[32];     /* per process: salts of mock SCRAM exchanges */
	struct param_names tracked;  /* tracked parameters, fixed at start */
	struct param_cache canon;    /* how PostgreSQL reports values clients ask for */
	struct cancel_table cancels; /* clients by cancel key */
	struct ps_registry *ps;	     /* owned: distinct prepared statements */
	char *conffile;		     /* owned: path for reload */
	struct worker *workers[WEIR_MAX_WORKERS]; /* borrowed: each registers at creation */
	unsigned nworkers;
	/*
	 * worker_exclusive(): one worker at a time holds `exclusive`; the others, told to
	 * park, count themselves in `parked` and wait for `park_round` to change.
	 */
	pthread_mutex_t exclusive;
	pthread_mutex_t park_lock;
	pthread_cond_t park_cond;
	unsigned parked;
	unsigned park_round;
	struct worker *exclusive_holder; /* atomic: who holds `exclusive`, or NULL */
	uint32_t last_conn_id;		 /* atomic: connection ids are unique in the process */
	/*
	 * owned, reload.c's: per config_keys[] entry, the value the config file gives a key
	 * that needs a restart, while it differs from the running one (else NULL); the array
	 * is NULL until the first such change
	 */
	char **restart_pending;
	usec_t started;			    /* wall clock: start of the process */
	usec_t stats_period_start;	    /* monotonic: of the current stats_period (stats.c) */
	struct pool_period *console_period; /* owned: the console's periods (stats.c) */
};

/* worker_count: the workers that will run (fixed for the process). */
struct registry *registry_create(struct config *cfg, struct auth_file *auth, const char *conffile,
				 unsigned worker_count);

/* The lock is not part of the registry's value: readers of a const registry take it too. */
static inline void registry_lock(const struct registry *reg)
{
	if (reg->worker_count > 1)
		pthread_mutex_lock((pthread_mutex_t *)&reg->lock);
}

static inline void registry_unlock(const struct registry *reg)
{
	if (reg->worker_count > 1)
		pthread_mutex_unlock((pthread_mutex_t *)&reg->lock);
}

/* The number of workers cfg asks for: workers, or one per core (at most WEIR_MAX_WORKERS). */
unsigned registry_worker_count(const struct config *cfg);
void registry_free(struct registry *reg);

/*
 * The database a client asks for: an entry of [databases], or one created from "*".
 * NULL if neither exists (an entry removed by a reload does not).
 */
struct database *registry_database(struct registry *reg, const char *name);
struct user *registry_user(struct registry *reg, const char *name);
/* The same without creating anything (SHOW): NULL if not registered yet. */
struct database *registry_find_database(const struct registry *reg, const char *name);
struct user *registry_find_user(const struct registry *reg, const char *name);
/* The pool for (database, server-side user), created on first use. */
struct pool *registry_pool(struct registry *reg, struct database *db, struct user *user);
/* A client authenticated with an auth_query secret: u's servers log in with it (copied). */
void registry_keep_query_secret(struct registry *reg, struct user *u, const char *secret, int kind);

/*
 * Swaps in a new snapshot and auth_file (both taken; auth may be the running table, which
 * is then kept). Databases are re-pointed: the servers of a changed one are retired (closed
 * when released), a removed one keeps serving its clients and takes no new ones; the
 * users' cached keys are dropped; pools take the new modes, limits and sizes (idle servers
 * over a reduced size are closed at once).
 */
void registry_apply(struct registry *reg, struct config *cfg, struct auth_file *auth);

/*
 * Builds the TLS contexts cfg asks for and makes them the ones new connections take; live
 * connections keep theirs. A context that cannot be built leaves the running one in place
 * and is reported in err (false). When the server-side settings changed from the running
 * snapshot's, the servers are retired (closed when released). Call before registry_apply.
 */
bool registry_set_tls(struct registry *reg, const struct config *cfg, char *err, size_t errlen);

/*
 * Swaps in the HBA rules (taken; NULL for none, hba may be the running ones, which are then
 * kept). Logins read them synchronously, so the old rules are freed at once.
 */
void registry_set_hba(struct registry *reg, struct hba *hba);

/* The server-side user name for a database and a client's login name. */
const char *database_server_user(const struct database *db, const char *client_user);
const char *database_server_dbname(const struct database *db);
