/* SPDX-License-Identifier: ISC */
/*
 * Process-wide state: the current config snapshot and auth_file, and the databases, users
 * and pools built from them. Pools are shared by all workers (a connection belongs to one
 * worker, a pool to the registry), which is what keeps pool_size exact with several cores.
 */
#pragma once

#include "auth_scram.h"
#include "cancel.h"
#include "common.h"
#include "list.h"
#include "params.h"
#include "random_pool.h"

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
	struct random_pool random;   /* nonces and cancel keys */
	struct param_names tracked;  /* tracked parameters, fixed at start */
	struct param_cache canon;    /* how PostgreSQL reports values clients ask for */
	struct cancel_table cancels; /* clients by cancel key */
	struct ps_registry *ps;	     /* owned: distinct prepared statements */
	char *conffile;		     /* owned: path for reload */
	struct worker *workers[WEIR_MAX_WORKERS]; /* borrowed: each registers at creation */
	unsigned nworkers;
	uint32_t last_conn_id; /* atomic: connection ids are unique in the process */
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

struct registry *registry_create(struct config *cfg, struct auth_file *auth, const char *conffile);
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
void registry_keep_query_secret(struct user *u, const char *secret, int kind);

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
