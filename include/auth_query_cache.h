/* SPDX-License-Identifier: ISC */
/*
 * The short-lived cache of auth_query answers: (query, user name) -> what the query said,
 * kept AUTH_QUERY_CACHE_TTL when the user exists and AUTH_QUERY_CACHE_NEG_TTL when it does
 * not, so that a burst of logins of one user costs one query and a password changed in
 * PostgreSQL is seen within seconds. Failures (no connection, a query error) are never
 * cached. One cache serves one pool of auth connections (one auth database and auth_user),
 * hence the query text in the key: two [databases] entries may share the pool with
 * different queries. At most AUTH_QUERY_CACHE_MAX entries; the oldest goes first. Pure
 * logic: time is passed in, nothing here does I/O.
 */
#pragma once

#include "auth_file.h"
#include "common.h"
#include "list.h"

#define AUTH_QUERY_CACHE_TTL	 (5 * USEC_PER_SEC)
#define AUTH_QUERY_CACHE_NEG_TTL (2 * USEC_PER_SEC)
#define AUTH_QUERY_CACHE_MAX	 512

/* What a lookup found out. */
enum auth_query_outcome {
	AQ_FOUND,	/* one row with a password: secret and kind are set */
	AQ_NO_PASSWORD, /* one row, NULL password: the user exists and cannot log in */
	AQ_UNKNOWN,	/* no row */
	AQ_FAILED,	/* no answer, a query error, more than one row, a malformed verifier */
};

struct auth_query_answer {
	enum auth_query_outcome outcome;
	const char *secret; /* AQ_FOUND only; borrowed from whoever hands the answer over */
	enum secret_kind kind;
};

struct auth_query_cache_entry {
	struct list_node node; /* on the cache, oldest first */
	char *query;	       /* owned */
	char *user;	       /* owned */
	enum auth_query_outcome outcome;
	char *secret; /* owned, wiped on free; NULL unless AQ_FOUND */
	enum secret_kind kind;
	usec_t expires; /* monotonic */
};

struct auth_query_cache {
	struct list_head entries;
};

void auth_query_cache_init(struct auth_query_cache *c);
/* Drops every entry, wiping secrets. */
void auth_query_cache_clear(struct auth_query_cache *c);

/*
 * Remembers an answer (copied) from now on, replacing an older one for the same key.
 * AQ_FAILED is not remembered; an earlier answer for the key is dropped instead.
 */
void auth_query_cache_put(struct auth_query_cache *c, const char *query, const char *user,
			  const struct auth_query_answer *a, usec_t now);

/* The answer for the key if one is still fresh at now (*a borrows the entry's secret). */
MUST_CHECK bool auth_query_cache_get(struct auth_query_cache *c, const char *query,
				     const char *user, usec_t now, struct auth_query_answer *a);

/* Drops what has expired at now. */
void auth_query_cache_expire(struct auth_query_cache *c, usec_t now);
