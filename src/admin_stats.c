/* SPDX-License-Identifier: ISC */
/*
 * The console's statistics: SHOW STATS, STATS_TOTALS, STATS_AVERAGES and TOTALS with
 * PgBouncer's columns and semantics, and weir's SHOW LATENCY. Every figure comes from
 * stats_pool_snapshot() (and stats_console_snapshot() for the console's own row), the
 * function /metrics reads too. A database's row adds up its pools; its averages are
 * computed from the added-up period, as PgBouncer computes them.
 *
 * Entry points: show_stats, show_stats_totals, show_stats_averages, show_totals,
 * show_latency.
 */
#include <string.h>

#include "admin_show.h"
#include "client.h"
#include "pool.h"
#include "registry.h"
#include "stats.h"
#include "worker.h"

static const char *const stats_names[STAT_COUNTERS * 2] = {
	"total_server_assignment_count",
	"total_xact_count",
	"total_query_count",
	"total_received",
	"total_sent",
	"total_xact_time",
	"total_query_time",
	"total_wait_time",
	"total_client_parse_count",
	"total_server_parse_count",
	"total_bind_count",
	"total_client_login_count",
	"avg_server_assignment_count",
	"avg_xact_count",
	"avg_query_count",
	"avg_recv",
	"avg_sent",
	"avg_xact_time",
	"avg_query_time",
	"avg_wait_time",
	"avg_client_parse_count",
	"avg_server_parse_count",
	"avg_bind_count",
	"avg_client_login_count",
};

static const char *const totals_names[STAT_COUNTERS] = {
	"server_assignment_count",
	"xact_count",
	"query_count",
	"bytes_received",
	"bytes_sent",
	"xact_time",
	"query_time",
	"wait_time",
	"client_parse_count",
	"server_parse_count",
	"bind_count",
	"client_login_count",
};

static const char *const averages_names[STAT_COUNTERS] = {
	"server_assignment_count",
	"xact_count",
	"query_count",
	"bytes_received",
	"bytes_sent",
	"xact_time",
	"query_time",
	"wait_time",
	"avg_client_parse_count",
	"avg_server_parse_count",
	"avg_bind_count",
	"avg_client_login_count",
};

static const char *const show_totals_names[STAT_COUNTERS * 2] = {
	"total_server_assignment_count",
	"total_xact_count",
	"total_query_count",
	"total_client_bytes",
	"total_server_bytes",
	"total_xact_time",
	"total_query_time",
	"total_wait_time",
	"total_ps_client_parse_count",
	"total_ps_server_parse_count",
	"total_ps_bind_count",
	"total_client_login_count",
	"avg_server_assignment_count",
	"avg_xact_count",
	"avg_query_count",
	"avg_client_bytes",
	"avg_server_bytes",
	"avg_xact_time",
	"avg_query_time",
	"avg_wait_time",
	"avg_ps_client_parse_count",
	"avg_ps_server_parse_count",
	"avg_ps_bind_count",
	"avg_client_login_count",
};

/* One row's figures: totals since start and the last complete stats_period's part. */
struct figures {
	struct stat_counters total, period;
	double seconds;
};

static void add_snapshot(struct figures *f, const struct pool_snapshot *snap)
{
	stats_add(&f->total, &snap->total);
	stats_add(&f->period, &snap->period);
	if (snap->period_seconds > 0)
		f->seconds = snap->period_seconds;
}

static void db_figures(const struct registry *reg, const struct database *db, struct figures *f)
{
	const struct list_node *n, *t;
	struct pool_snapshot snap;

	memset(f, 0, sizeof(*f));
	list_for_each_safe(n, t, &reg->pools) {
		const struct pool *pool = list_entry(n, struct pool, node);

		if (db && pool->db != db)
			continue;
		stats_pool_snapshot(reg, pool, &snap, false);
		add_snapshot(f, &snap);
	}
}

static void console_figures(const struct registry *reg, struct figures *f)
{
	struct pool_snapshot snap;

	memset(f, 0, sizeof(*f));
	stats_console_snapshot(reg, &snap, false);
	add_snapshot(f, &snap);
}

static void rs_counters(struct rowset *rs, const struct stat_counters *c)
{
	const uint64_t *v = (const uint64_t *)c;

	for (size_t i = 0; i < STAT_COUNTERS; i++)
		rs_uint(rs, v[i]);
}

enum stats_view {
	VIEW_STATS,
	VIEW_TOTALS,
	VIEW_AVERAGES
};

static void figures_row(struct show *sh, const char *name, const struct figures *f,
			enum stats_view view)
{
	struct stat_counters avg;

	stats_averages(&f->period, f->seconds, &avg);
	rs_text(sh->rs, name);
	if (view != VIEW_AVERAGES)
		rs_counters(sh->rs, &f->total);
	if (view != VIEW_TOTALS)
		rs_counters(sh->rs, &avg);
}

static void db_stats_row(struct show *sh, struct database *db)
{
	struct figures f;

	db_figures(sh->client->conn.worker->reg, db, &f);
	figures_row(sh, db->name, &f, (enum stats_view)sh->view);
}

static void show_stats_view(struct show *sh, enum stats_view view)
{
	struct rs_column cols[1 + STAT_COUNTERS * 2] = { { "database", RS_TEXT } };
	unsigned n = 1;
	struct figures f;

	for (size_t i = 0; i < STAT_COUNTERS * 2; i++) {
		const char *name = view == VIEW_STATS ? stats_names[i]
				   : view == VIEW_TOTALS
				       ? (i < STAT_COUNTERS ? totals_names[i] : NULL)
				   : i < STAT_COUNTERS ? averages_names[i]
						       : NULL;

		if (name)
			cols[n++] = (struct rs_column){ name, RS_NUMERIC };
	}
	show_begin(sh, cols, n);
	sh->view = view;
	console_figures(sh->client->conn.worker->reg, &f);
	figures_row(sh, sh->client->db_name, &f, view);
	show_for_each_db(sh, db_stats_row);
	show_end(sh);
}

void show_stats(struct show *sh)
{
	show_stats_view(sh, VIEW_STATS);
}

void show_stats_totals(struct show *sh)
{
	show_stats_view(sh, VIEW_TOTALS);
}

void show_stats_averages(struct show *sh)
{
	show_stats_view(sh, VIEW_AVERAGES);
}

void show_totals(struct show *sh)
{
	static const struct rs_column cols[] = { { "name", RS_TEXT }, { "value", RS_NUMERIC } };
	const struct registry *reg = sh->client->conn.worker->reg;
	struct figures all, console;
	struct stat_counters avg;
	const uint64_t *t = (const uint64_t *)&all.total, *a = (const uint64_t *)&avg;

	db_figures(reg, NULL, &all);
	console_figures(reg, &console);
	stats_add(&all.total, &console.total);
	stats_add(&all.period, &console.period);
	if (!all.seconds)
		all.seconds = console.seconds;
	stats_averages(&all.period, all.seconds, &avg);
	show_begin(sh, cols, ARRAY_SIZE(cols));
	for (size_t i = 0; i < STAT_COUNTERS * 2; i++) {
		rs_text(sh->rs, show_totals_names[i]);
		rs_uint(sh->rs, i < STAT_COUNTERS ? t[i] : a[i - STAT_COUNTERS]);
	}
	show_end(sh);
}

/* ---- SHOW LATENCY ---- */

static const double quantiles[] = { 0.50, 0.90, 0.95, 0.99, 0.999 };

static void latency_row(struct show *sh, const char *db, const char *user, int kind,
			const char *period, const struct histogram *h)
{
	struct rowset *rs = sh->rs;

	rs_text(rs, db);
	rs_text(rs, user);
	rs_text(rs, lat_kind_names[kind]);
	rs_text(rs, period);
	rs_uint(rs, h->count);
	rs_uint(rs, h->count ? h->sum / h->count : 0);
	for (size_t i = 0; i < ARRAY_SIZE(quantiles); i++)
		rs_uint(rs, hist_quantile(h, quantiles[i]));
	rs_uint(rs, h->max);
}

static void latency_rows(struct show *sh, const char *db, const char *user,
			 const struct pool_snapshot *snap)
{
	for (int k = 0; k < LAT_KINDS; k++) {
		latency_row(sh, db, user, k, "last", &snap->last[k]);
		latency_row(sh, db, user, k, "total", &snap->lat[k]);
	}
}

static void merge_snapshot(struct pool_snapshot *into, const struct pool_snapshot *from)
{
	for (int k = 0; k < LAT_KINDS; k++) {
		hist_merge(&into->lat[k], &from->lat[k]);
		hist_merge(&into->last[k], &from->last[k]);
	}
}

/* A database's merged row (user NULL), then one row set per pool of it. */
static void db_latency(struct show *sh, struct database *db)
{
	const struct registry *reg = sh->client->conn.worker->reg;
	struct pool_snapshot *sum = xcalloc(2, sizeof(*sum)), *snap = sum + 1;
	const struct list_node *n, *t;

	list_for_each_safe(n, t, &reg->pools) {
		const struct pool *pool = list_entry(n, struct pool, node);

		if (pool->db != db)
			continue;
		stats_pool_snapshot(reg, pool, snap, true);
		merge_snapshot(sum, snap);
	}
	latency_rows(sh, db->name, NULL, sum);
	list_for_each_safe(n, t, &reg->pools) {
		const struct pool *pool = list_entry(n, struct pool, node);

		if (pool->db != db)
			continue;
		stats_pool_snapshot(reg, pool, snap, true);
		latency_rows(sh, db->name, pool->user->name, snap);
	}
	free(sum);
}

void show_latency(struct show *sh)
{
	static const struct rs_column cols[] = {
		{ "database", RS_TEXT }, { "user", RS_TEXT },	  { "kind", RS_TEXT },
		{ "period", RS_TEXT },	 { "count", RS_INT8 },	  { "mean_us", RS_INT8 },
		{ "p50_us", RS_INT8 },	 { "p90_us", RS_INT8 },	  { "p95_us", RS_INT8 },
		{ "p99_us", RS_INT8 },	 { "p99_9_us", RS_INT8 }, { "max_us", RS_INT8 },
	};

	show_begin(sh, cols, ARRAY_SIZE(cols));
	show_for_each_db(sh, db_latency);
	show_end(sh);
}
