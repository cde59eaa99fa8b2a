/* SPDX-License-Identifier: ISC */
/* Unit tests for deadline.c: which client timeout applies when, and the limits of a pool. */
#include "client.h"
#include "config.h"
#include "deadline.h"
#include "harness.h"
#include "pool.h"
#include "server.h"
#include "worker.h"

#define S USEC_PER_SEC

struct fixture {
	struct pool pool;
	struct client client;
	struct server server;
};

/* A logged-in client of a pool whose limits are all off, with no server. */
static struct fixture *fixture(void)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	f->client.pool = &f->pool;
	f->client.state = CL_ACTIVE;
	f->server.tx_status = 'I';
	f->server.ready = true;
	return f;
}

static void link_server(struct fixture *f)
{
	f->client.server = &f->server;
	f->server.client = &f->client;
}

TEST(deadline_limits_user_over_global_and_user_over_database_for_the_wait)
{
	struct config *cfg = xcalloc(1, sizeof(*cfg));
	struct user_def ud = { .query_timeout = 0,
			       .query_wait_timeout = USEC_UNSET,
			       .idle_transaction_timeout = 7 * S,
			       .transaction_timeout = USEC_UNSET,
			       .client_idle_timeout = USEC_UNSET };
	struct db_def dd = { .query_wait_timeout = 9 * S };
	struct client_limits l;

	cfg->query_timeout = 1 * S;
	cfg->transaction_timeout = 2 * S;
	cfg->client_idle_timeout = 3 * S;
	cfg->query_wait_timeout = 4 * S;
	cfg->query_wait_notify = 5 * S;
	deadline_limits(&l, cfg, NULL, NULL);
	CHECK_INT(l.v[CTO_QUERY], 1 * S);
	CHECK_INT(l.v[CTO_XACT], 2 * S);
	CHECK_INT(l.v[CTO_CLIENT_IDLE], 3 * S);
	CHECK_INT(l.v[CTO_WAIT], 4 * S);
	CHECK_INT(l.v[CTO_WAIT_NOTIFY], 5 * S);
	CHECK_INT(l.v[CTO_IDLE_XACT], 0);
	CHECK(l.any);
	deadline_limits(&l, cfg, &ud, &dd);
	CHECK_INT(l.v[CTO_QUERY], 0); /* the user's 0 switches the global value off */
	CHECK_INT(l.v[CTO_IDLE_XACT], 7 * S);
	CHECK_INT(l.v[CTO_XACT], 2 * S);
	CHECK_INT(l.v[CTO_WAIT], 9 * S); /* [databases] over global */
	ud.query_wait_timeout = 8 * S;
	deadline_limits(&l, cfg, &ud, &dd);
	CHECK_INT(l.v[CTO_WAIT], 8 * S); /* [users] over [databases] */
	free(cfg);
}

TEST(deadline_limits_all_off_files_nothing)
{
	struct config *cfg = xcalloc(1, sizeof(*cfg));
	struct client_limits l;

	deadline_limits(&l, cfg, NULL, NULL);
	CHECK(!l.any);
	free(cfg);
}

TEST(deadline_idle_client_gets_client_idle_from_its_last_request)
{
	struct fixture *f = fixture();

	for (int k = 0; k < CTO_COUNT; k++)
		f->pool.limits.v[k] = 10 * S;
	f->pool.limits.v[CTO_CLIENT_IDLE] = 30 * S;
	f->client.last_request = 100 * S;
	f->server.request_start = 1; /* stale stamps of no server: ignored */
	CHECK_INT(deadline_next(&f->client), 130 * S);
	CHECK_INT(deadline_overdue(&f->client, 130 * S - 1), CTO_NONE);
	CHECK_INT(deadline_overdue(&f->client, 130 * S), CTO_CLIENT_IDLE);
	link_server(f); /* session pooling: a server ready outside a transaction is idle too */
	CHECK_INT(deadline_next(&f->client), 130 * S);
	free(f);
}

TEST(deadline_busy_client_gets_query_and_transaction_not_idle)
{
	struct fixture *f = fixture();

	f->pool.limits.v[CTO_CLIENT_IDLE] = 1 * S;
	f->pool.limits.v[CTO_QUERY] = 5 * S;
	f->pool.limits.v[CTO_XACT] = 8 * S;
	link_server(f);
	f->client.last_request = f->server.request_start = 200 * S;
	f->server.xact_start = 196 * S;
	f->server.ready = false;
	CHECK_INT(deadline_next(&f->client), 204 * S); /* the transaction's, earlier */
	CHECK_INT(deadline_overdue(&f->client, 203 * S), CTO_NONE);
	CHECK_INT(deadline_overdue(&f->client, 204 * S), CTO_XACT);
	/* both passed: query_timeout is checked first, as before */
	CHECK_INT(deadline_overdue(&f->client, 206 * S), CTO_QUERY);
	free(f);
}

TEST(deadline_idle_in_transaction_gets_idle_transaction_and_transaction)
{
	struct fixture *f = fixture();

	f->pool.limits.v[CTO_QUERY] = 1 * S;
	f->pool.limits.v[CTO_IDLE_XACT] = 3 * S;
	f->pool.limits.v[CTO_XACT] = 60 * S;
	link_server(f);
	f->server.tx_status = 'T';
	f->server.request_start = 10 * S; /* the finished request's: no query timeout now */
	f->server.xact_start = 10 * S;
	f->server.ready_since = 40 * S;
	CHECK_INT(deadline_next(&f->client), 43 * S);
	CHECK_INT(deadline_overdue(&f->client, 42 * S), CTO_NONE);
	CHECK_INT(deadline_overdue(&f->client, 43 * S), CTO_IDLE_XACT);
	f->server.tx_status = 'E'; /* a failed transaction is still one */
	CHECK_INT(deadline_overdue(&f->client, 43 * S), CTO_IDLE_XACT);
	free(f);
}

TEST(deadline_queued_client_gets_one_notice_then_the_wait_timeout)
{
	struct fixture *f = fixture();

	f->pool.limits.v[CTO_CLIENT_IDLE] = 1 * S;
	f->pool.limits.v[CTO_WAIT_NOTIFY] = 2 * S;
	f->pool.limits.v[CTO_WAIT] = 5 * S;
	f->client.state = CL_WAITING;
	f->client.request_time = 50 * S;
	CHECK_INT(deadline_next(&f->client), 52 * S + 1); /* strictly longer than the limit */
	CHECK_INT(deadline_overdue(&f->client, 52 * S), CTO_NONE);
	CHECK_INT(deadline_overdue(&f->client, 52 * S + 1), CTO_WAIT_NOTIFY);
	f->client.wait_notified = true;
	CHECK_INT(deadline_next(&f->client), 55 * S);
	CHECK_INT(deadline_overdue(&f->client, 54 * S), CTO_NONE);
	CHECK_INT(deadline_overdue(&f->client, 55 * S), CTO_WAIT);
	free(f);
}

TEST(deadline_none_while_the_tracked_parameters_are_set)
{
	struct fixture *f = fixture();

	for (int k = 0; k < CTO_COUNT; k++)
		f->pool.limits.v[k] = 1 * S;
	link_server(f);
	f->server.ready = false;
	f->server.setting_params = true; /* the server's stamps are its previous client's */
	CHECK_INT(deadline_next(&f->client), DEADLINE_NEVER);
	CHECK_INT(deadline_overdue(&f->client, 1000 * S), CTO_NONE);
	free(f);
}

TEST(deadline_stamps_later_than_now_are_not_due)
{
	struct fixture *f = fixture();

	f->pool.limits.v[CTO_QUERY] = 1;
	link_server(f);
	f->server.ready = false;
	f->server.request_start = 500 * S; /* stamped after the pass read now = 400 s */
	CHECK_INT(deadline_overdue(&f->client, 400 * S), CTO_NONE);
	CHECK(deadline_next(&f->client) > 400 * S);
	free(f);
}

TEST(deadline_huge_limit_saturates_to_never)
{
	struct fixture *f = fixture();

	f->pool.limits.v[CTO_CLIENT_IDLE] = UINT64_MAX - 5;
	f->client.last_request = 100 * S;
	CHECK_INT(deadline_next(&f->client), DEADLINE_NEVER);
	CHECK_INT(deadline_overdue(&f->client, UINT64_MAX - 1), CTO_NONE);
	free(f);
}

TEST(deadline_none_before_login_is_done)
{
	struct fixture *f = fixture();

	for (int k = 0; k < CTO_COUNT; k++)
		f->pool.limits.v[k] = 1;
	f->client.state = CL_WAIT_WELCOME;
	CHECK_INT(deadline_next(&f->client), DEADLINE_NEVER);
	free(f);
}

/* A worker with only its deadline wheel, for the filing tests. */
static struct worker *wheel_worker(usec_t now)
{
	struct worker *w = xcalloc(1, sizeof(*w));

	wheel_init(&w->deadlines, 16, S / 5, now);
	return w;
}

static void free_worker(struct worker *w)
{
	wheel_free(&w->deadlines);
	free(w);
}

TEST(deadline_update_files_earlier_never_later)
{
	struct fixture *f = fixture();
	struct worker *w = wheel_worker(100 * S);

	f->client.conn.worker = w;
	wheel_entry_init(&f->client.timer);
	f->pool.limits.v[CTO_CLIENT_IDLE] = 60 * S;
	f->pool.limits.v[CTO_QUERY] = 5 * S;
	f->pool.limits.any = true;
	f->client.last_request = 100 * S;
	deadline_update(&f->client); /* idle: filed at its idle deadline */
	CHECK_INT(f->client.timer.due, 160 * S);
	link_server(f);
	f->server.ready = false;
	f->client.last_request = f->server.request_start = 101 * S;
	deadline_update(&f->client); /* a request started: its query deadline is earlier */
	CHECK_INT(f->client.timer.due, 106 * S);
	f->server.ready = true; /* answered: idle again, the deadline is later */
	deadline_update(&f->client);
	CHECK_INT(f->client.timer.due, 106 * S); /* left where it was: a lower bound */
	deadline_forget(&f->client);
	CHECK(!wheel_entry_filed(&f->client.timer));
	CHECK_INT(w->deadlines.count, 0);
	free_worker(w);
	free(f);
}

TEST(deadline_pop_due_refiles_an_early_entry_and_returns_a_passed_one)
{
	struct fixture *f = fixture();
	struct worker *w = wheel_worker(100 * S);
	enum client_timeout kind;

	f->client.conn.worker = w;
	wheel_entry_init(&f->client.timer);
	f->pool.limits.v[CTO_CLIENT_IDLE] = 60 * S;
	f->pool.limits.v[CTO_QUERY] = 5 * S;
	f->pool.limits.any = true;
	link_server(f);
	f->server.ready = false;
	f->client.last_request = f->server.request_start = 100 * S;
	deadline_update(&f->client);
	f->server.ready = true; /* the query finished in time */
	deadline_expire(w, 105 * S);
	CHECK(deadline_pop_due(w, 105 * S, &kind) == NULL);
	CHECK_INT(f->client.timer.due, 160 * S); /* filed again at the idle deadline */
	deadline_expire(w, 160 * S);
	CHECK(deadline_pop_due(w, 160 * S, &kind) == &f->client);
	CHECK_INT(kind, CTO_CLIENT_IDLE);
	CHECK(!wheel_entry_filed(&f->client.timer));
	free_worker(w);
	free(f);
}

TEST(deadline_update_does_nothing_for_a_pool_without_client_timeouts)
{
	struct fixture *f = fixture();
	struct worker *w = wheel_worker(0);

	f->client.conn.worker = w;
	wheel_entry_init(&f->client.timer);
	deadline_update(&f->client);
	CHECK(!wheel_entry_filed(&f->client.timer));
	free_worker(w);
	free(f);
}
