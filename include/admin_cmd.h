/* SPDX-License-Identifier: ISC */
/*
 * What the console's modules share inside: a parsed command, the command table
 * (admin_cmd.c) and the deferred reply. Not for the rest of weir (see admin.h).
 */
#pragma once

#include "admin.h"
#include "common.h"

struct database;

/* One parsed console command: `cmd [arg]` or `SET arg = value`. */
struct admin_query {
	char cmd[16]; /* lower case */
	char arg[64]; /* as written, quotes removed */
	char value[256];
	bool has_arg;
};

struct admin_command {
	const char *name;
	bool needs_admin; /* false: stats users may run it too */
	void (*run)(struct client *client, const struct admin_query *q, const char *sql);
};

/* PgBouncer's grammar; false if sql is not a command of that shape. */
bool admin_parse(const char *sql, struct admin_query *q);
const struct admin_command *admin_find_command(const char *name);

/* The reply comes when the operation is over (admin_poll); reading stops until then. */
void admin_defer(struct client *client, enum admin_wait what, struct database *db);
