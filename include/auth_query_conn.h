/* SPDX-License-Identifier: ISC */
/*
 * One libpq connection that runs auth_query, driven by a worker's libevent loop through
 * libpq's asynchronous API only: PQconnectStartParams and PQconnectPoll to connect, then
 * PQsendQueryParams, PQflush, PQconsumeInput, PQisBusy and PQgetResult, one query at a
 * time. A host name is resolved with the worker's resolver (dns.h) first and handed to
 * libpq as hostaddr, so that libpq never resolves (its getaddrinfo would block the loop).
 * What reaches PostgreSQL comes from the parameters here and nowhere else (see
 * auth_query.h for what they are).
 *
 * Its owner (auth_query.c) hears through three callbacks, each the last thing the module
 * does before returning to the loop, so that the owner may free the connection in any of
 * them: ready (connected and idle), answer (a query finished; the connection is idle again
 * and may take the next query) and closed (it failed, broke, timed out or was idle for
 * idle_timeout: the owner frees it). Callbacks
 * never run from inside aq_conn_open() or aq_conn_query(); a failure there is reported
 * from the loop.
 */
#pragma once

#include "auth_query_cache.h"
#include "common.h"
#include "dns.h"
#include "list.h"

/* How long one query may run; then the connection is closed and its lookup fails. */
#define AUTH_QUERY_TIMEOUT (5 * USEC_PER_SEC)

struct worker;
struct event;
struct pg_conn;
struct aq_conn;

enum aq_conn_state {
	AQC_RESOLVING,	/* waiting for the resolver */
	AQC_CONNECTING, /* PQconnectPoll under way */
	AQC_IDLE,	/* connected, no query */
	AQC_BUSY,	/* one query in flight */
	AQC_CLOSED,	/* gone; the closed callback is due or has run */
};

struct aq_conn_ops {
	void (*ready)(struct aq_conn *c);
	/* a (its secret) is wiped when the callback returns */
	void (*answer)(struct aq_conn *c, const struct auth_query_answer *a);
	void (*closed)(struct aq_conn *c, const char *reason);
};

/* Where and as whom to connect; every string is copied. */
struct aq_conn_params {
	const char *host;     /* name, IP, "/dir" or "@abstract"; NULL: unix_dir */
	const char *unix_dir; /* unix_socket_dir */
	int port;
	const char *dbname;
	const char *user;
	const char *password; /* plaintext, or NULL */
	usec_t connect_timeout;
	usec_t idle_timeout; /* 0: never closed for being idle */
	const char *tag;     /* for log lines, e.g. "authdb/auth_user" */
	const char *error;   /* not NULL: do not connect, close with this reason */
};

struct aq_conn {
	struct list_node node; /* on its owner's list */
	void *owner;	       /* borrowed */
	void *job;	       /* borrowed: what the owner runs on it, or NULL */
	bool retired;	       /* the owner's: made with an old config, closed once idle */
	bool connected;	       /* reached AQC_IDLE once */
	enum aq_conn_state state;
	const struct aq_conn_ops *ops;
	struct worker *w;    /* borrowed */
	struct pg_conn *pq;  /* owned */
	struct event *io;    /* owned: watches PQsocket(), re-made at each poll */
	struct event *timer; /* owned: connect, query or idle deadline; reports closes */
	struct dns_request dns;
	char *host, *unix_dir, *dbname, *user, *password; /* owned; password wiped */
	int port;
	usec_t connect_timeout, idle_timeout;
	char tag[128];
	char reason[256];		 /* why it closed */
	struct auth_query_answer answer; /* of the query in flight */
	char *secret;			 /* owned: answer.secret until it is handed over */
	bool got_result;		 /* the query's first result has been read */
	const char *asked_user;		 /* borrowed from job: whose row the query asks for */
};

/* Starts connecting. Never NULL; the outcome comes through ops. */
struct aq_conn *aq_conn_open(struct worker *w, const struct aq_conn_params *p,
			     const struct aq_conn_ops *ops, void *owner);

/*
 * Sends query with user as $1 on an AQC_IDLE connection (extended protocol, text result).
 * user is borrowed until the answer or closed callback.
 */
void aq_conn_query(struct aq_conn *c, const char *query, const char *user);

/* Closes and frees at once, without callbacks. */
void aq_conn_free(struct aq_conn *c);
