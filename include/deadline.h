/* SPDX-License-Identifier: ISC */
/*
 * Client deadlines: which client timeout applies to a logged-in client in its current
 * state and when it falls due, and the client's one entry in its worker's timing wheel
 * (wheel.h), filed at a lower bound of that time. The hot path only ever moves an entry
 * earlier (deadline_update(), O(1), nothing when the pool has no client timeout); when an
 * entry comes due the janitor asks deadline_pop_due() for the clients whose timeout has
 * really passed, and each other client is filed again at its real next deadline.
 */
#pragma once

#include "common.h"

struct client;
struct worker;
struct registry;
struct config;
struct user_def;
struct db_def;

/* The client timeouts, in the order they are checked when several have passed. */
enum client_timeout {
	CTO_CLIENT_IDLE, /* client_idle_timeout: no request started that long, while idle */
	CTO_QUERY,	 /* query_timeout: the request sent to the server has run that long */
	CTO_XACT,      /* transaction_timeout: the transaction (or request) has lasted that long */
	CTO_IDLE_XACT, /* idle_transaction_timeout: idle inside a transaction that long */
	CTO_WAIT_NOTIFY, /* query_wait_notify: queued longer: one NOTICE per wait */
	CTO_WAIT,	 /* query_wait_timeout: queued for a server that long */
	CTO_COUNT,
	CTO_NONE = CTO_COUNT,
};

/* No deadline. */
#define DEADLINE_NEVER UINT64_MAX

/* A pool's client limits (0 = off), cached in the pool at creation and at each reload. */
struct client_limits {
	usec_t v[CTO_COUNT];
	bool any; /* some limit is on: only then are the pool's clients filed */
};

/*
 * The limits of a pool from the config: [users] over the global value, and for
 * query_wait_timeout [users] over [databases] over the global value. ud and dd may be NULL.
 */
void deadline_limits(struct client_limits *l, const struct config *cfg, const struct user_def *ud,
		     const struct db_def *dd);

/* The client's earliest deadline in its current state, or DEADLINE_NEVER. Pure. */
usec_t deadline_next(const struct client *client);
/* The first timeout (in enum order) that has passed at now, or CTO_NONE. Pure. */
enum client_timeout deadline_overdue(const struct client *client, usec_t now);

/*
 * A state change that can bring the client's deadline earlier: a request sent to the
 * server, a ReadyForQuery, queued for a server, logged in, taken out of the queue. Moves
 * the client's entry earlier if needed, never later. O(1); nothing for a pool without
 * client timeouts.
 */
void deadline_update(struct client *client);
/* The client is closing: its entry leaves the wheel. */
void deadline_forget(struct client *client);
/*
 * After a reload changed the limits: files every client at its deadline now, in its own
 * worker's wheel (the other workers are parked).
 */
void deadline_refile_all(struct registry *reg);

/*
 * The janitor's pass at now: deadline_expire() collects the entries due, then each
 * deadline_pop_due() returns one client whose timeout `kind` has passed (its entry is off
 * the wheel: deadline_update() files it again if the action leaves it open), re-filing on
 * the way the clients whose entry came due before their real deadline. NULL when done.
 */
void deadline_expire(struct worker *w, usec_t now);
struct client *deadline_pop_due(struct worker *w, usec_t now, enum client_timeout *kind);
