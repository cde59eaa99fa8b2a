/* SPDX-License-Identifier: ISC */
/*
 * Process operations, the same for the admin console and for signals: pause and resume
 * (per database, or every database), suspend, disable and enable, reconnect, kill, and the
 * shutdown modes. The functions that can fail return false with the error (the console
 * sends it as is) in err; the ones whose end comes later (PAUSE, SUSPEND, WAIT_CLOSE) have
 * a *_done() check that the console polls for its deferred reply.
 *
 * A paused database hands out no servers: waiting clients stay queued, and each server is
 * closed once it is released (PgBouncer's PAUSE, used around a PostgreSQL restart). A
 * process-wide pause is the same for every database.
 */
#pragma once

#include "common.h"
#include "worker.h"

struct database;
struct registry;

/* db NULL: every database. */
bool control_pause(struct worker *w, struct database *db, char *err, size_t errlen);
bool control_pause_done(const struct registry *reg, const struct database *db);
bool control_resume(struct worker *w, struct database *db, char *err, size_t errlen);

/* Stops reading every connection but the console's; done when their buffers are empty. */
bool control_suspend(struct worker *w, char *err, size_t errlen);
bool control_suspend_done(const struct worker *w);

/* New logins to db are refused while it is disabled. */
void control_disable(struct database *db, bool disabled);

/* Every server of db (NULL: all) is closed when it is next released. */
void control_reconnect(struct registry *reg, struct database *db);
/* No server of db (NULL: any) is still to be closed for a RECONNECT or a reload. */
bool control_wait_close_done(const struct registry *reg, const struct database *db);

/* Closes every client and server of db (NULL: all); db stays paused until RESUME. */
void control_kill(struct worker *w, struct database *db);
/* Closes the client with this connection id (and its server); false if there is none. */
bool control_kill_client(struct worker *w, uint32_t id);

/* SIGINT (WAIT_FOR_SERVERS), SIGTERM (WAIT_FOR_CLIENTS); a second request exits at once. */
void control_shutdown(struct worker *w, enum worker_shutdown mode, const char *why);
/* SHUTDOWN from the console and SIGQUIT: exit now. */
void control_exit(struct worker *w, const char *why);

/*
 * A janitor pass, and after servers were freed: closes released servers of paused
 * databases and completes the console's deferred replies.
 */
void control_poll(struct worker *w);

/* Whether the pool's database is paused (by itself or process-wide). */
bool control_paused(const struct registry *reg, const struct database *db);
