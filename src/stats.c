/* SPDX-License-Identifier: ISC */
/*
 * Statistics (stats.h): recording at the hook points, the snapshot every reader uses, and
 * the end of a stats_period (PgBouncer's averages, the last period's histograms, the
 * log_stats line).
 *
 * Entry points: stats_of, stats_pool_snapshot, stats_add, stats_rotate, stats_forget_pool,
 * and the stats_* hooks.
 */
#include <inttypes.h>
#include <string.h>

#include "client.h"
#include "config.h"
#include "log.h"
#include "pool.h"
#include "registry.h"
#include "server.h"
#include "stats.h"
#include "worker.h"

const char *const lat_kind_names[LAT_KINDS] = {
	"query", "xact", "wait", "server_login", "client_login",
};

struct pool_stats *stats_of(struct worker *w, struct pool *pool)
{
	struct pool_stats **slot = &pool->wstats[w->index];

	if (UNLIKELY(!*slot))
		*slot = xcalloc(1, sizeof(**slot));
	return *slot;
}

void stats_add(struct stat_counters *a, const struct stat_counters *b)
{
	uint64_t *x = (uint64_t *)a;
	const uint64_t *y = (const uint64_t *)b;

	for (size_t i = 0; i < STAT_COUNTERS; i++)
		x[i] += y[i];
}

/* Merges one worker's figures per slot (NULL where a worker recorded nothing). */
static void snapshot_of(struct pool_stats *const *ws, unsigned n, const struct pool_period *p,
			struct pool_snapshot *out, bool with_latency)
{
	memset(&out->total, 0, sizeof(out->total));
	memset(&out->period, 0, sizeof(out->period));
	out->period_seconds = 0;
	if (with_latency)
		for (int k = 0; k < LAT_KINDS; k++) {
			hist_reset(&out->lat[k]);
			hist_reset(&out->last[k]);
		}
	for (unsigned i = 0; i < n; i++) {
		if (!ws[i])
			continue;
		stats_add(&out->total, &ws[i]->c);
		if (with_latency)
			for (int k = 0; k < LAT_KINDS; k++)
				hist_merge(&out->lat[k], &ws[i]->lat[k]);
	}
	if (!p)
		return;
	out->period = p->delta;
	out->period_seconds = p->seconds;
	if (with_latency)
		for (int k = 0; k < LAT_KINDS; k++)
			hist_merge(&out->last[k], &p->last[k]);
}

void stats_pool_snapshot(const struct registry *reg, const struct pool *pool,
			 struct pool_snapshot *out, bool with_latency)
{
	snapshot_of(pool->wstats, reg->nworkers, pool->period, out, with_latency);
}

/* The console's blocks of every worker, in the shape of a pool's. */
static void console_slots(const struct registry *reg, struct pool_stats **ws)
{
	for (unsigned i = 0; i < reg->nworkers; i++)
		ws[i] = reg->workers[i]->console_stats;
}

void stats_console_snapshot(const struct registry *reg, struct pool_snapshot *out,
			    bool with_latency)
{
	struct pool_stats *ws[WEIR_MAX_WORKERS];

	console_slots(reg, ws);
	snapshot_of(ws, reg->nworkers, reg->console_period, out, with_latency);
}

struct pool_stats *stats_of_console(struct worker *w)
{
	if (UNLIKELY(!w->console_stats))
		w->console_stats = xcalloc(1, sizeof(*w->console_stats));
	return w->console_stats;
}

static uint64_t ratio(uint64_t num, uint64_t den)
{
	return den ? num / den : 0;
}

void stats_averages(const struct stat_counters *period, double seconds, struct stat_counters *avg)
{
	const uint64_t *d = (const uint64_t *)period;
	uint64_t *a = (uint64_t *)avg;

	for (size_t i = 0; i < STAT_COUNTERS; i++)
		a[i] = seconds > 0 ? (uint64_t)((double)d[i] / seconds) : 0;
	avg->xact_time = ratio(period->xact_time, period->xact_count);
	avg->query_time = ratio(period->query_time, period->query_count);
	avg->wait_time = ratio(period->wait_time, period->server_assignment_count);
}

/*
 * Closes the period of one set of per-worker blocks (a pool's or the console's); adds
 * what it added to sum (for log_stats).
 */
static void rotate(struct pool_stats *const *ws, unsigned n, struct pool_period **pp,
		   double seconds, struct stat_counters *sum)
{
	struct pool_snapshot snap;
	struct pool_period *p = *pp;
	uint64_t *d, *c, *prev;

	snapshot_of(ws, n, p, &snap, false);
	if (!p) {
		bool recorded = false;

		for (unsigned i = 0; i < n; i++)
			recorded |= ws[i] != NULL;
		if (!recorded)
			return;
		p = *pp = xcalloc(1, sizeof(*p));
	}
	d = (uint64_t *)&p->delta;
	c = (uint64_t *)&snap.total;
	prev = (uint64_t *)&p->prev;
	for (size_t i = 0; i < STAT_COUNTERS; i++)
		d[i] = c[i] >= prev[i] ? c[i] - prev[i] : 0;
	stats_add(sum, &p->delta);
	p->prev = snap.total;
	p->seconds = seconds;
	for (int k = 0; k < LAT_KINDS; k++) {
		hist_reset(&p->last[k]);
		for (unsigned i = 0; i < n; i++) {
			if (!ws[i])
				continue;
			hist_merge(&p->last[k], &ws[i]->period[k]);
			hist_reset(&ws[i]->period[k]);
		}
	}
}

void stats_rotate(struct registry *reg, double seconds)
{
	struct pool_stats *console[WEIR_MAX_WORKERS];
	struct stat_counters delta, avg;
	struct list_node *n, *t;

	memset(&delta, 0, sizeof(delta));
	list_for_each_safe(n, t, &reg->pools) {
		struct pool *pool = list_entry(n, struct pool, node);

		rotate(pool->wstats, reg->nworkers, &pool->period, seconds, &delta);
	}
	console_slots(reg, console);
	rotate(console, reg->nworkers, &reg->console_period, seconds, &delta);
	if (!reg->cfg->log_stats)
		return;
	stats_averages(&delta, seconds, &avg);
	log_info("stats: %" PRIu64 " xacts/s, %" PRIu64 " queries/s, %" PRIu64
		 " client parses/s, %" PRIu64 " server parses/s, %" PRIu64 " binds/s, in %" PRIu64
		 " B/s, out %" PRIu64 " B/s, xact %" PRIu64 " us, query %" PRIu64
		 " us, wait %" PRIu64 " us",
		 avg.xact_count, avg.query_count, avg.client_parse_count, avg.server_parse_count,
		 avg.bind_count, avg.bytes_received, avg.bytes_sent, avg.xact_time, avg.query_time,
		 avg.wait_time);
}

void stats_forget_pool(struct pool *pool)
{
	for (unsigned i = 0; i < WEIR_MAX_WORKERS; i++) {
		free(pool->wstats[i]);
		pool->wstats[i] = NULL;
	}
	free(pool->period);
	pool->period = NULL;
}

/* Servers of one worker's part of the pool whose cancel request is in flight. */
static void count_cancels(const struct pool_local *l, struct pool_state *out)
{
	const struct list_node *n, *t;

	list_for_each_safe(n, t, &l->servers[SV_ACTIVE]) {
		if (list_entry(n, struct server, node)->cancels.count) {
			out->sv_being_canceled++;
			out->sv_active--;
		}
	}
	list_for_each_safe(n, t, &l->servers[SV_USED]) {
		/* a server released while its cancel is in flight waits in SV_USED */
		if (list_entry(n, struct server, node)->cancels.count) {
			out->sv_being_canceled++;
			out->sv_used--;
		}
	}
}

void stats_pool_state(const struct pool *pool, usec_t now, struct pool_state *out)
{
	const struct list_node *head = list_first(&pool->queue);

	memset(out, 0, sizeof(*out));
	out->cl_active = pool_count_clients(pool, CL_ACTIVE);
	out->cl_waiting = pool->queue.count;
	out->sv_idle = pool_count_servers(pool, SV_IDLE);
	out->sv_used = pool_count_servers(pool, SV_USED);
	out->sv_tested = pool_count_servers(pool, SV_TESTED);
	out->sv_login = pool_count_servers(pool, SV_LOGIN);
	out->sv_active = pool_count_servers(pool, SV_ACTIVE);
	for (unsigned w = 0; w < pool->reg->worker_count; w++)
		count_cancels(&pool->local[w], out);
	if (head)
		out->maxwait =
		    usec_since(list_entry(head, struct client, qnode)->request_time, now);
}

static void record(struct pool_stats *s, enum lat_kind k, usec_t v)
{
	hist_record(&s->lat[k], v);
	hist_record(&s->period[k], v);
}

void stats_client_linked(struct worker *w, struct pool *pool, usec_t waited)
{
	struct pool_stats *s = stats_of(w, pool);

	s->c.server_assignment_count++;
	s->c.wait_time += waited;
	record(s, LAT_WAIT, waited);
}

void stats_request_done(struct worker *w, struct pool *pool, usec_t query_time, bool xact_done,
			usec_t xact_time)
{
	struct pool_stats *s = stats_of(w, pool);

	s->c.query_count++;
	s->c.query_time += query_time;
	record(s, LAT_QUERY, query_time);
	if (!xact_done)
		return;
	s->c.xact_count++;
	s->c.xact_time += xact_time;
	record(s, LAT_XACT, xact_time);
}

void stats_bytes(struct worker *w, struct pool *pool, uint64_t received, uint64_t sent)
{
	struct pool_stats *s = stats_of(w, pool);

	s->c.bytes_received += received;
	s->c.bytes_sent += sent;
}

void stats_server_login(struct worker *w, struct pool *pool, usec_t took)
{
	record(stats_of(w, pool), LAT_SERVER_LOGIN, took);
}

void stats_client_login(struct worker *w, struct pool *pool, usec_t took)
{
	struct pool_stats *s = stats_of(w, pool);

	s->c.client_login_count++;
	record(s, LAT_CLIENT_LOGIN, took);
}
