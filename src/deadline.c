/* SPDX-License-Identifier: ISC */
/*
 * Client deadlines (deadline.h). A client's deadline is computed from the stamps its state
 * already keeps (when it was queued, its last request, its server's request, transaction
 * and ReadyForQuery stamps) and the pool's cached limits; nothing is stored per timeout.
 * The wheel entry only holds a lower bound: every change that can make a deadline earlier
 * calls deadline_update(), and a change that makes it later costs nothing until the entry
 * comes due, when the client is filed again at its real next deadline. Deadlines are sums
 * (stamp + limit, saturating) compared with now, so a stamp later than the `now` of a pass
 * is simply not due. What happens when a timeout fires is the janitor's business.
 */
#include "client.h"
#include "config.h"
#include "deadline.h"
#include "pool.h"
#include "registry.h"
#include "server.h"
#include "wheel.h"
#include "worker.h"

static usec_t pick(usec_t user_val, usec_t db_val, usec_t global_val)
{
	if (user_val != USEC_UNSET)
		return user_val;
	return db_val != USEC_UNSET ? db_val : global_val;
}

void deadline_limits(struct client_limits *l, const struct config *cfg, const struct user_def *ud,
		     const struct db_def *dd)
{
	const struct user_def none = { .query_timeout = USEC_UNSET,
				       .query_wait_timeout = USEC_UNSET,
				       .idle_transaction_timeout = USEC_UNSET,
				       .transaction_timeout = USEC_UNSET,
				       .client_idle_timeout = USEC_UNSET };

	if (!ud)
		ud = &none;
	l->v[CTO_CLIENT_IDLE] = pick(ud->client_idle_timeout, USEC_UNSET, cfg->client_idle_timeout);
	l->v[CTO_QUERY] = pick(ud->query_timeout, USEC_UNSET, cfg->query_timeout);
	l->v[CTO_XACT] = pick(ud->transaction_timeout, USEC_UNSET, cfg->transaction_timeout);
	l->v[CTO_IDLE_XACT] =
	    pick(ud->idle_transaction_timeout, USEC_UNSET, cfg->idle_transaction_timeout);
	l->v[CTO_WAIT_NOTIFY] = cfg->query_wait_notify;
	l->v[CTO_WAIT] = pick(ud->query_wait_timeout, dd ? dd->query_wait_timeout : USEC_UNSET,
			      cfg->query_wait_timeout);
	l->any = false;
	for (int k = 0; k < CTO_COUNT; k++)
		l->any |= l->v[k] > 0;
}

/* stamp + limit; DEADLINE_NEVER for a limit that is off or a sum past the clock's range. */
static usec_t after(usec_t stamp, usec_t limit)
{
	return limit && stamp < DEADLINE_NEVER - limit ? stamp + limit : DEADLINE_NEVER;
}

/* A queued client: the NOTICE once it has waited longer than query_wait_notify, the close. */
static void waiting_deadlines(const struct client *client, const usec_t *lim, usec_t *d)
{
	d[CTO_WAIT] = after(client->request_time, lim[CTO_WAIT]);
	if (!client->wait_notified && lim[CTO_WAIT_NOTIFY])
		d[CTO_WAIT_NOTIFY] = after(client->request_time, lim[CTO_WAIT_NOTIFY] + 1);
}

/*
 * Each timeout's deadline in the client's current state, DEADLINE_NEVER where it does not
 * apply. Idle means no server, or a server ready outside a transaction (session pooling).
 * While the SET of its tracked parameters runs, a request has not been sent yet: its
 * clocks start in client_note_sent(), which calls deadline_update().
 */
static void deadlines(const struct client *client, usec_t d[CTO_COUNT])
{
	const usec_t *lim = client->pool->limits.v;
	const struct server *s = client->server;

	for (int k = 0; k < CTO_COUNT; k++)
		d[k] = DEADLINE_NEVER;
	if (client->state == CL_WAITING)
		waiting_deadlines(client, lim, d);
	if (client->state != CL_ACTIVE)
		return;
	if (!s || (s->ready && s->tx_status == 'I')) {
		d[CTO_CLIENT_IDLE] = after(client->last_request, lim[CTO_CLIENT_IDLE]);
		return;
	}
	if (s->setting_params)
		return;
	if (s->owner && !s->ready)
		return; /* a replication stream is one request as long as it streams: no limit */
	if (!s->ready)
		d[CTO_QUERY] = after(s->request_start, lim[CTO_QUERY]);
	d[CTO_XACT] = after(s->xact_start, lim[CTO_XACT]);
	if (s->ready)
		d[CTO_IDLE_XACT] = after(s->ready_since, lim[CTO_IDLE_XACT]);
}

usec_t deadline_next(const struct client *client)
{
	usec_t d[CTO_COUNT], next = DEADLINE_NEVER;

	deadlines(client, d);
	for (int k = 0; k < CTO_COUNT; k++)
		if (d[k] < next)
			next = d[k];
	return next;
}

enum client_timeout deadline_overdue(const struct client *client, usec_t now)
{
	usec_t d[CTO_COUNT];

	deadlines(client, d);
	for (int k = 0; k < CTO_COUNT; k++)
		if (d[k] <= now)
			return (enum client_timeout)k;
	return CTO_NONE;
}

void deadline_update(struct client *client)
{
	usec_t due;

	if (!client->pool->limits.any)
		return;
	due = deadline_next(client);
	if (due != DEADLINE_NEVER)
		(void)wheel_lower(&client->conn.worker->deadlines, &client->timer, due);
}

void deadline_forget(struct client *client)
{
	wheel_remove(&client->conn.worker->deadlines, &client->timer);
}

/* Files the client at its real next deadline, or nowhere. */
static void refile(struct client *client)
{
	struct wheel *w = &client->conn.worker->deadlines;
	usec_t due = client->pool->limits.any ? deadline_next(client) : DEADLINE_NEVER;

	wheel_remove(w, &client->timer);
	if (due != DEADLINE_NEVER)
		wheel_add(w, &client->timer, due);
}

static void refile_list(struct worker *w, struct list_head *list)
{
	struct list_node *n, *t;

	list_for_each_safe(n, t, list) {
		struct client *client = list_entry(n, struct client, node);

		if (client->conn.worker == w)
			refile(client);
	}
}

void deadline_refile_all(struct registry *reg)
{
	struct list_node *n, *t;

	list_for_each_safe(n, t, &reg->pools) {
		struct pool *pool = list_entry(n, struct pool, node);

		for (unsigned i = 0; i < reg->nworkers; i++) {
			struct worker *w = reg->workers[i];

			refile_list(w, &pool_here(pool, w)->clients[CL_ACTIVE]);
			refile_list(w, &pool_here(pool, w)->clients[CL_WAITING]);
		}
	}
}

void deadline_expire(struct worker *w, usec_t now)
{
	wheel_expire(&w->deadlines, now);
}

struct client *deadline_pop_due(struct worker *w, usec_t now, enum client_timeout *kind)
{
	struct wheel_entry *e;

	while ((e = wheel_pop_fired(&w->deadlines))) {
		struct client *client = container_of(e, struct client, timer);

		*kind = deadline_overdue(client, now);
		if (*kind != CTO_NONE)
			return client;
		refile(client);
	}
	return NULL;
}
