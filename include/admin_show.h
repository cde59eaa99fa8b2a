/* SPDX-License-Identifier: ISC */
/*
 * What the console's SHOW modules share (admin_show*.c, admin_stats.c): one SHOW in
 * progress, the table entry type, and the helpers both use. Not for the rest of weir.
 */
#pragma once

#include "admin.h"
#include "common.h"
#include "rowset.h"

struct client;
struct database;
struct config_key;
struct db_def;

/* One SHOW being answered. */
struct show {
	struct client *client; /* borrowed: the console client asking */
	struct rowset *rs;     /* owned by admin_show() for the call */
	usec_t now;	       /* monotonic, read once for the whole reply */
	usec_t wall;	       /* wall clock at the same moment */
	int view;	       /* a handler's variant, for its callbacks (admin_stats.c) */
};

struct show_entry {
	const char *name;
	bool needs_admin;
	void (*run)(struct show *sh);
};

/* RowDescription; then rows; then show_end() sends CommandComplete and ReadyForQuery. */
void show_begin(struct show *sh, const struct rs_column *cols, unsigned n);
void show_end(struct show *sh);

/*
 * The databases SHOW DATABASES and SHOW STATS list, in their order (not the console), each
 * given to fn (which may be NULL); returns how many there are.
 */
unsigned show_for_each_db(struct show *sh, void (*fn)(struct show *sh, struct database *db));

/* SHOW CONFIG's `changeable` column for a key. */
const char *show_changeable(const struct config_key *key);

/* A wall-clock time as PgBouncer prints it ("2026-07-10 12:00:00 UTC"); 0 sends NULL. */
void show_time(struct rowset *rs, usec_t wall);
/* A monotonic stamp of this reply's moment as wall-clock time (0 for 0). */
usec_t show_to_wall(const struct show *sh, usec_t mono);
/* SHOW DATABASES / POOLS: an entry's own pool_mode, and load_balance_hosts for host lists. */
const char *show_db_pool_mode(const struct db_def *def);
const char *show_db_load_balance(const struct db_def *def);

/* Connections (admin_show_conns.c). */
void show_clients(struct show *sh);
void show_servers(struct show *sh);
void show_sockets(struct show *sh);
void show_active_sockets(struct show *sh);
void show_pools(struct show *sh);

/* What weir is configured with and holds (admin_show_objs.c). */
void show_databases(struct show *sh);
void show_users(struct show *sh);
void show_peers(struct show *sh);
void show_peer_pools(struct show *sh);
void show_lists(struct show *sh);
void show_mem(struct show *sh);
void show_dns_hosts(struct show *sh);
void show_dns_zones(struct show *sh);

/* The statistics SHOWs (admin_stats.c). */
void show_stats(struct show *sh);
void show_stats_totals(struct show *sh);
void show_stats_averages(struct show *sh);
void show_totals(struct show *sh);
void show_latency(struct show *sh);
