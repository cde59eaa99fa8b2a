/* SPDX-License-Identifier: ISC */
/*
 * What the console's SHOW modules share (admin_show.c, admin_stats.c): one SHOW in
 * progress, the table entry type, and the helpers both use. Not for the rest of weir.
 */
#pragma once

#include "admin.h"
#include "common.h"
#include "rowset.h"

struct client;
struct database;
struct config_key;

/* One SHOW being answered. */
struct show {
	struct client *client; /* borrowed: the console client asking */
	struct rowset *rs;     /* owned by admin_show() for the call */
	usec_t now;	       /* monotonic, read once for the whole reply */
	usec_t wall;	       /* wall clock at the same moment */
	int view;	       /* a handler's variant, for callbacks (admin_stats.c) */
};

struct show_entry {
	const char *name;
	bool needs_admin;
	void (*run)(struct show *sh);
};

/* RowDescription; then rows; then show_end() sends CommandComplete and ReadyForQuery. */
void show_begin(struct show *sh, const struct rs_column *cols, unsigned n);
void show_end(struct show *sh);

/* The databases SHOW DATABASES and SHOW STATS list, in their order (not the console). */
void show_for_each_db(struct show *sh, void (*fn)(struct show *sh, struct database *db));

/* SHOW CONFIG's `changeable` column for a key. */
const char *show_changeable(const struct config_key *key);

/* The statistics SHOWs (admin_stats.c). */
void show_stats(struct show *sh);
void show_stats_totals(struct show *sh);
void show_stats_averages(struct show *sh);
void show_totals(struct show *sh);
void show_latency(struct show *sh);
