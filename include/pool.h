/* SPDX-License-Identifier: ISC */
/*
 * A pool is one (database, server-side user) pair: the clients that use it, the server
 * connections it owns, one list per state of each, and the rules that pair them. Waiting
 * clients are served first-in first-out; idle servers are reused last-in first-out, or
 * round-robin with server_round_robin. The pool also remembers the parameters PostgreSQL
 * announced at the first login (the "welcome" sent to each client) and the last login
 * failure, so that clients fail fast for server_login_retry instead of piling up.
 */
#pragma once

#include "common.h"
#include "deadline.h"
#include "inbox.h"
#include "list.h"
#include "params.h"

struct database;
struct user;
struct client;
struct server;
struct worker;
struct registry;
struct pool_stats;
struct pool_period;

enum client_state {
	CL_LOGIN,	 /* on worker.login_clients: startup and authentication */
	CL_WAIT_WELCOME, /* authenticated, waiting for the pool's first server login */
	CL_ACTIVE,	 /* logged in, linked to a server or not */
	CL_WAITING,	 /* queued for a server */
	CL_CLOSED,	 /* on worker.doomed_clients */
	CL_STATE_COUNT
};

enum server_state {
	SV_LOGIN,  /* connecting and logging in */
	SV_IDLE,   /* ready for a client */
	SV_ACTIVE, /* linked to a client */
	SV_USED,   /* released; needs reset or check before reuse */
	SV_TESTED, /* running the reset or check query */
	SV_CLOSED, /* on worker.doomed_servers */
	SV_STATE_COUNT
};

/* A failed server login, remembered so that clients fail fast for server_login_retry. */
struct login_failure {
	bool failed; /* the last login of this kind failed */
	usec_t at;   /* monotonic time of that failure */
	char sqlstate[6];
	char *message; /* owned */
};

extern const char *const client_state_names[CL_STATE_COUNT];
extern const char *const server_state_names[SV_STATE_COUNT];

/*
 * The pool's connections on one worker. Only that worker touches them; it changes the
 * lists with the registry lock held, so that other workers may count them under the lock.
 */
struct pool_local {
	struct list_head clients[CL_STATE_COUNT]; /* CL_LOGIN and CL_CLOSED unused */
	struct list_head servers[SV_STATE_COUNT]; /* SV_CLOSED unused */
	unsigned inbound; /* lock: idle servers handed to this worker, on their way */
	bool nudged;	  /* lock: nudge is queued in the worker's inbox */
	struct pool_nudge {
		struct inbox_msg msg;
		struct pool *pool;
	} nudge;
};

struct pool {
	struct list_node node;	  /* on registry.pools */
	struct registry *reg;	  /* borrowed: for the current config */
	struct database *db;	  /* borrowed from the registry */
	struct user *user;	  /* borrowed: the server-side user */
	struct pool_local *local; /* owned: one per worker, by worker.index */
	/*
	 * Lock: the waiting clients of every worker, first come first served (client.qnode),
	 * and the servers in transit between workers (in no list, counted for the limits).
	 */
	struct list_head queue;
	unsigned moving;
	unsigned epoch;	  /* bumped by pool_retire: servers opened before are obsolete */
	uint8_t *welcome; /* owned: ParameterStatus messages for new clients */
	uint32_t welcome_len;
	struct param_values defaults; /* tracked values of logins that asked for none of them */
	bool welcome_stale; /* from a changed definition: new clients wait for a new one */
	struct login_failure failure;	   /* of the last regular server login */
	struct login_failure repl_failure; /* of the last replication server login */
	int mode; /* enum pool_mode in effect: [users] > [databases] > global */

	struct client_limits limits; /* client timeouts in effect, from the config (deadline.c) */

	/* stats.c: each worker's own figures (allocated by it on first use), and the periods */
	struct pool_stats *wstats[WEIR_MAX_WORKERS];
	struct pool_period *period;
};

/* The part of pool that belongs to worker w (which must be a complete type where used). */
#define pool_here(pool, w) (&(pool)->local[(w)->index])

struct pool *pool_create(struct registry *reg, struct database *db, struct user *user);
void pool_free(struct pool *pool);

/* Effective limits from [users], [databases] and the global settings. */
int pool_size(const struct pool *pool);
int pool_min_size(const struct pool *pool);
int pool_reserve_size(const struct pool *pool);
/* Servers of every worker, those in transit included (registry lock held). */
unsigned pool_server_count(const struct pool *pool);
/* Servers or clients of every worker in one state (registry lock held). */
unsigned pool_count_servers(const struct pool *pool, enum server_state state);
unsigned pool_count_clients(const struct pool *pool, enum client_state state);
/*
 * The pool's database definition changed: every server is closed instead of reused (idle
 * ones at once), the clients logged in so far keep the session values they were told at
 * login (the old welcome's) whatever servers they get next, and new clients wait for the
 * welcome of a server of the new definition.
 */
void pool_retire(struct pool *pool);
/* max_prepared_statements changed: each server's statement cache follows (servers.c). */
void pool_set_statement_capacity(struct pool *pool, unsigned capacity);

/* Recomputes pool->mode from the current config (at creation and after a reload). */
void pool_update_mode(struct pool *pool);
/* Recomputes pool->limits from the current config (at creation and after a reload). */
void pool_update_limits(struct pool *pool);

/* Breaks the link between a client and its server; neither is released or closed. */
void pool_unlink(struct client *client, struct server *server);

/*
 * A server of the pool logged in: its ParameterStatus set is the pool's welcome, and what
 * it reports for each tracked name its login did not ask a value of its own for (one of
 * a client's, in session pooling) is the pool's default for that name.
 */
void pool_note_login(struct pool *pool, const struct server *server);
/*
 * A server login on worker w failed: clients whose login waits for a server get the error
 * (those of other workers from their own worker).
 */
void pool_login_failed(struct pool *pool, struct worker *w, const char *sqlstate,
		       const char *message);
/* Worker w's clients whose login waits for a server get the pool's login failure. */
void pool_fail_logins(struct pool *pool, struct worker *w);
void pool_login_succeeded(struct pool *pool);
/*
 * A replication login failed or succeeded. Kept apart: a server may refuse replication
 * (pg_hba.conf) and accept everything else.
 */
void pool_replication_login_failed(struct pool *pool, const char *sqlstate, const char *message);
void pool_replication_login_succeeded(struct pool *pool);

/* The caps on servers shared by pools: of the database, of the server user (0 = none). */
int pool_db_limit(const struct pool *pool);
int pool_user_limit(const struct pool *pool);
