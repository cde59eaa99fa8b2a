/* SPDX-License-Identifier: ISC */
/*
 * The admin console: the database `weir` (and its alias `pgbouncer`). A console client is
 * a client that logged in to it; it has no pool and never touches one: it lives on its
 * worker's console_clients list, speaks the simple query protocol only, and each Query is
 * one command from the command table (admin.c) or a SHOW from the SHOW table
 * (admin_show.c, admin_stats.c). Who may do what follows PgBouncer (doc/admin.md): users in
 * admin_users everything, users in stats_users the read-only commands, the user named like
 * the console over a Unix socket from the process's own UID everything without a password.
 */
#pragma once

#include "common.h"
#include "conn.h"

struct client;
struct registry;
struct worker;
struct rowset;

enum admin_role {
	ADMIN_NONE, /* not a console client */
	ADMIN_READ, /* SHOW only (stats_users, and anyone with auth_type=any) */
	ADMIN_FULL, /* every command */
};

/* A reply the console owes once an operation has finished (control.h's *_done()). */
enum admin_wait {
	AWAIT_NONE,
	AWAIT_PAUSE,
	AWAIT_SUSPEND,
	AWAIT_WAIT_CLOSE,
};

/* The console's name as the client asked for it ("weir" or "pgbouncer"), or NULL. */
const char *admin_console_name(const char *dbname);

/*
 * Before authentication: the same-UID Unix-socket login of the user named like the
 * console, which needs no password. Marks the client as a full admin.
 */
bool admin_trusted_peer(struct client *client);

/* Authentication succeeded for a console login: its rights, and the welcome; or FATAL. */
void admin_login(struct client *client);

/* A message of a console client. */
enum relay_action admin_on_message(struct client *client, uint8_t type, const uint8_t *msg,
				   uint32_t total, bool complete);

/* A CancelRequest with a console client's key: a blocking PAUSE or SUSPEND is resumed. */
void admin_cancel(struct client *client);

/* A console client is closing: a SUSPEND it issued is undone. */
void admin_forget(struct client *client);

/* Sends the deferred replies whose operation has finished (control_poll). */
void admin_poll(struct worker *w);

/* Shared by the command and SHOW modules: replies and errors of a console command. */
void admin_error(struct client *client, const char *sqlstate, const char *fmt, ...)
    PRINTF_FMT(3, 4);
void admin_error_detail(struct client *client, const char *sqlstate, const char *message,
			const char *detail);
void admin_notice(struct client *client, const char *message, const char *detail);
void admin_complete(struct client *client, const char *tag);

/*
 * SHOW name (admin_show.c): false when there is no such SHOW. The client's role decides
 * whether an admin-only one may run. The reply (rows or error) is sent.
 */
bool admin_show(struct client *client, const char *name);

/* Clients logged in to the console on every worker (the others parked). */
unsigned admin_console_count(const struct registry *reg);
