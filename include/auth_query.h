/* SPDX-License-Identifier: ISC */
/*
 * auth_query: finding the secret of a user that is not in auth_file by asking PostgreSQL.
 * When auth_user is set (on the client's [databases] entry, else globally), auth_query
 * (the entry's, else the global one) runs with $1 = the user name, as auth_user, in the
 * database of the auth_dbname entry (the entry's, else the global one, else the client's
 * own entry); host, port and dbname come from that entry (the first host of a list),
 * auth_user's password from auth_file (plaintext; none if PostgreSQL trusts it).
 *
 * Each worker keeps, per (auth database entry, auth_user), a pool of at most
 * AUTH_QUERY_POOL_SIZE libpq connections (auth_query_conn.h): idle ones are reused and
 * closed after server_idle_timeout; lookups wait in FIFO order when all are busy, and a
 * lookup of a name already asked for joins the query in flight. Answers are cached for a
 * few seconds (auth_query_cache.h). A connection that cannot connect fails every lookup
 * waiting in its pool; one that times out (server_connect_timeout to connect,
 * AUTH_QUERY_TIMEOUT per query) or breaks fails the lookup it runs.
 */
#pragma once

#include "auth_query_cache.h"
#include "common.h"

#define AUTH_QUERY_POOL_SIZE 2

struct worker;
struct registry;
struct config;
struct db_def;
struct auth_query;
struct auth_query_wait;

/* Where a lookup for a client's database runs; strings are borrowed from the config. */
struct auth_query_plan {
	const char *auth_user;
	const char *query;
	const char *auth_db;	  /* the [databases] entry name */
	const struct db_def *def; /* of auth_db: its own, or "*" */
	const char *dbname;	  /* database the auth connection logs in to */
};

enum auth_query_plan_result {
	AQ_PLAN_NONE,  /* no auth_user applies (or the client's database has no entry) */
	AQ_PLAN_ERROR, /* err holds what the client is told */
	AQ_PLAN_OK,
};

/*
 * Works out the plan for a client of db_name under reg's config: on a reserved (console),
 * unconfigured or DISABLEd auth database AQ_PLAN_ERROR, with the message PgBouncer gives.
 */
enum auth_query_plan_result auth_query_plan(const struct registry *reg, const char *db_name,
					    struct auth_query_plan *p, char *err, size_t errlen);

/* Called with the answer of a pending lookup, from the loop; a borrows until it returns. */
typedef void (*auth_query_done_fn)(void *arg, const struct auth_query_answer *a);

enum auth_query_status {
	AQ_NOT_USED, /* auth_query does not apply: the user is unknown */
	AQ_REFUSED,  /* a configuration error, in err: the login is refused with it */
	AQ_DONE,     /* the cache answered: *a is set (its secret valid until the next call) */
	AQ_PENDING,  /* done(arg, answer) runs later, once, unless auth_query_cancel() first */
};

struct auth_query *auth_query_create(struct worker *w);
/* Closes every auth connection; every lookup must have been cancelled or answered. */
void auth_query_free(struct auth_query *aq);

/*
 * Looks up user for a client of db_name. When AQ_PENDING, *handle is the wait and is set
 * back to NULL just before done runs; the waiter must cancel it if it goes away first.
 */
enum auth_query_status auth_query_lookup(struct auth_query *aq, const char *db_name,
					 const char *user, auth_query_done_fn done, void *arg,
					 struct auth_query_wait **handle,
					 struct auth_query_answer *a, char *err, size_t errlen);

/*
 * The config was reloaded: cached answers are dropped; idle auth connections close now,
 * busy and connecting ones once their query is over, so that new ones use the new config.
 */
void auth_query_reload(struct auth_query *aq);

/* When *handle is not NULL, its done is never called, and *handle becomes NULL. */
void auth_query_cancel(struct auth_query_wait **handle);
