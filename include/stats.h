/* SPDX-License-Identifier: ISC */
/*
 * Statistics: PgBouncer's counters and weir's latency histograms, per pool.
 *
 * Each worker records what its own connections do into its own struct pool_stats (one per
 * pool it has served, allocated the first time), with plain writes at a few hook points
 * that already hold a timestamp: a client linked to a server (wait time), a ReadyForQuery
 * (query and transaction time), a server login done, a client login done. Nothing is
 * shared between workers while recording.
 *
 * Readers (SHOW STATS, SHOW LATENCY, /metrics, log_stats) go through stats_pool_snapshot(),
 * which merges the workers' figures, so every reader sees the same numbers. Every
 * stats_period, stats_rotate() closes a period: PgBouncer's averages are computed from the
 * difference with the previous period, and the period's histograms become "last period".
 */
#pragma once

#include "common.h"
#include "histogram.h"

struct pool;
struct registry;
struct worker;

enum lat_kind {
	LAT_QUERY,	  /* request sent to a server until its ReadyForQuery */
	LAT_XACT,	  /* transaction start until the server is idle again */
	LAT_WAIT,	  /* a client's wait in the queue until it is linked to a server */
	LAT_SERVER_LOGIN, /* server connect and login */
	LAT_CLIENT_LOGIN, /* accept until the ReadyForQuery of its welcome */
	LAT_KINDS
};

extern const char *const lat_kind_names[LAT_KINDS]; /* "query", "xact", "wait", ... */

/* PgBouncer's counters (SHOW STATS_TOTALS names). Times in microseconds. */
struct stat_counters {
	uint64_t server_assignment_count;
	uint64_t xact_count;
	uint64_t query_count;
	uint64_t bytes_received; /* from clients */
	uint64_t bytes_sent;	 /* to clients */
	uint64_t xact_time;
	uint64_t query_time;
	uint64_t wait_time;
	uint64_t client_parse_count;
	uint64_t server_parse_count;
	uint64_t bind_count;
	uint64_t client_login_count;
};

#define STAT_COUNTERS (sizeof(struct stat_counters) / sizeof(uint64_t))

/* What one worker recorded for one pool; written by that worker only. */
struct pool_stats {
	struct stat_counters c;
	struct histogram lat[LAT_KINDS];    /* since start */
	struct histogram period[LAT_KINDS]; /* the current stats_period so far */
};

/* Per pool, process-wide, written by stats_rotate() only. */
struct pool_period {
	struct stat_counters prev;	  /* totals at the previous period's end */
	struct stat_counters delta;	  /* what the last complete period added */
	double seconds;			  /* its length */
	struct histogram last[LAT_KINDS]; /* the last complete period */
};

/* What readers get: one pool's figures merged over every worker. */
struct pool_snapshot {
	struct stat_counters total;
	struct stat_counters period;	  /* the last complete stats_period's part of total */
	double period_seconds;		  /* its length; 0 before the first one ends */
	struct histogram lat[LAT_KINDS];  /* since start (with_latency only) */
	struct histogram last[LAT_KINDS]; /* the last complete stats_period (with_latency only) */
};

/* A pool's connections by state, as SHOW POOLS shows them. */
struct pool_state {
	unsigned cl_active, cl_waiting, cl_active_cancel_req, cl_waiting_cancel_req;
	unsigned sv_active, sv_active_cancel, sv_being_canceled, sv_idle, sv_used, sv_tested,
	    sv_login;
	usec_t maxwait; /* how long the head of the waiting queue has waited */
};

/* Counts a pool's connections (over every worker, parked); now is monotonic. */
void stats_pool_state(const struct pool *pool, usec_t now, struct pool_state *out);

/* The same for the admin console's commands (SHOW STATS' row of the console). */
void stats_console_snapshot(const struct registry *reg, struct pool_snapshot *out,
			    bool with_latency);
struct pool_stats *stats_of_console(struct worker *w);

/* The recording worker's block for pool, allocated on first use. */
struct pool_stats *stats_of(struct worker *w, struct pool *pool);

/*
 * Merges pool's figures over the registry's workers into out. Histograms are merged only
 * with_latency (they are 20 KiB; counters alone are cheap).
 */
void stats_pool_snapshot(const struct registry *reg, const struct pool *pool,
			 struct pool_snapshot *out, bool with_latency);

/* a += b, counter by counter. */
void stats_add(struct stat_counters *a, const struct stat_counters *b);
/*
 * PgBouncer's averages of a period's counters: counts and bytes per second; transaction
 * and query time per transaction and query; wait time per server assignment.
 */
void stats_averages(const struct stat_counters *period, double seconds, struct stat_counters *avg);

/*
 * Ends a stats_period of `seconds`: averages and last-period histograms of every pool,
 * and the log_stats line when enabled.
 */
void stats_rotate(struct registry *reg, double seconds);

/* Frees what the pool's statistics hold (at pool_free). */
void stats_forget_pool(struct pool *pool);

/* Hook points (called by the connection code with times it already has). */
void stats_client_linked(struct worker *w, struct pool *pool, usec_t waited);
void stats_request_done(struct worker *w, struct pool *pool, usec_t query_time, bool xact_done,
			usec_t xact_time);
void stats_bytes(struct worker *w, struct pool *pool, uint64_t received, uint64_t sent);
void stats_server_login(struct worker *w, struct pool *pool, usec_t took);
void stats_client_login(struct worker *w, struct pool *pool, usec_t took);
