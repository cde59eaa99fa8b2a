/* SPDX-License-Identifier: ISC */
/*
 * The console's command table: every command but SHOW's subcommands (admin_show.c), each
 * a thin layer over control.c or reload.c that checks its argument and replies with
 * PgBouncer's tag or error.
 *
 * Entry points: admin_find_command.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin_cmd.h"
#include "client.h"
#include "config.h"
#include "control.h"
#include "log.h"
#include "registry.h"
#include "reload.h"
#include "worker.h"

static bool admin_reload(struct worker *w, char *err, size_t errlen)
{
	return reload_run(w, err, errlen);
}

/* SET key = value: one [weir] key, checked as the file's would be, applied as a reload. */
static bool admin_set(struct worker *w, const char *key, const char *value, char *err,
		      size_t errlen)
{
	struct config *next = config_with_value(w->reg->cfg, key, value, err, errlen);
	static const char failed[] = "SET failed: ";

	if (!next)
		return false;
	if (errlen <= sizeof(failed))
		return reload_apply(w, next, NULL, NULL, 0);
	memcpy(err, failed, sizeof(failed) - 1);
	if (!reload_apply(w, next, NULL, err + sizeof(failed) - 1, errlen - sizeof(failed) + 1))
		return false;
	log_info("parameter \"%s\" set to \"%s\" from the console", key, value);
	return true;
}

/*
 * The database a command names; NULL with the error sent if it is the console itself or
 * does not exist. A name that "*" covers is registered on the fly, as PgBouncer does.
 */
static struct database *named_db(struct client *client, const struct admin_query *q,
				 const char *verb)
{
	struct database *db;

	if (admin_console_name(q->arg)) {
		admin_error(client, "08P01", "cannot %s admin db: %s", verb, q->arg);
		return NULL;
	}
	db = registry_database(client->conn.worker->reg, q->arg);
	if (!db)
		admin_error(client, "08P01", "no such database: %s", q->arg);
	return db;
}

static void cmd_show(struct client *client, const struct admin_query *q, const char *sql)
{
	if (!q->has_arg || !admin_show(client, q->arg))
		admin_error(client, "08P01", "invalid command '%s', use SHOW HELP;", sql);
}

static void cmd_pause(struct client *client, const struct admin_query *q, const char *sql)
{
	struct database *db = NULL;
	char err[128];

	(void)sql;
	if (q->has_arg && !(db = named_db(client, q, "pause")))
		return;
	if (!control_pause(client->conn.worker, db, err, sizeof(err))) {
		admin_error(client, "08P01", "%s", err);
		return;
	}
	admin_defer(client, AWAIT_PAUSE, db);
}

static void cmd_resume(struct client *client, const struct admin_query *q, const char *sql)
{
	struct database *db = NULL;
	char err[128];

	(void)sql;
	if (q->has_arg && !(db = named_db(client, q, "resume")))
		return;
	if (!control_resume(client->conn.worker, db, err, sizeof(err)))
		admin_error(client, "08P01", "%s", err);
	else
		admin_complete(client, "RESUME");
}

static void cmd_suspend(struct client *client, const struct admin_query *q, const char *sql)
{
	char err[128];

	(void)sql;
	if (q->has_arg) {
		admin_error(client, "08P01", "SUSPEND takes no argument");
		return;
	}
	if (!control_suspend(client->conn.worker, err, sizeof(err))) {
		admin_error(client, "08P01", "%s", err);
		return;
	}
	client->conn.worker->reg->suspend_issuer = client->conn.id;
	admin_defer(client, AWAIT_SUSPEND, NULL);
}

static void enable_disable(struct client *client, const struct admin_query *q, bool disable)
{
	const char *verb = disable ? "disable" : "enable";
	struct database *db;

	if (!q->has_arg) {
		admin_error(client, "08P01", "a database is required");
		return;
	}
	if (!(db = named_db(client, q, verb)))
		return;
	control_disable(db, disable);
	admin_complete(client, disable ? "DISABLE" : "ENABLE");
}

static void cmd_disable(struct client *client, const struct admin_query *q, const char *sql)
{
	(void)sql;
	enable_disable(client, q, true);
}

static void cmd_enable(struct client *client, const struct admin_query *q, const char *sql)
{
	(void)sql;
	enable_disable(client, q, false);
}

static void cmd_reconnect(struct client *client, const struct admin_query *q, const char *sql)
{
	struct database *db = NULL;

	(void)sql;
	if (q->has_arg && !(db = named_db(client, q, "reconnect")))
		return;
	control_reconnect(client->conn.worker->reg, db);
	admin_complete(client, "RECONNECT");
}

static void cmd_kill(struct client *client, const struct admin_query *q, const char *sql)
{
	struct registry *reg = client->conn.worker->reg;
	struct database *db = NULL;

	(void)sql;
	if (q->has_arg && !(db = named_db(client, q, "kill")))
		return;
	if (reg->paused || reg->suspended || (db && db->paused)) {
		admin_error(client, "08P01", "already suspended/paused");
		return;
	}
	control_kill(client->conn.worker, db);
	admin_complete(client, "KILL");
}

static void cmd_kill_client(struct client *client, const struct admin_query *q, const char *sql)
{
	char *end;
	unsigned long id;

	(void)sql;
	id = q->has_arg ? strtoul(q->arg, &end, 10) : 0;
	if (!q->has_arg || *end != '\0' || id == 0 || id > UINT32_MAX) {
		admin_error(client, "08P01", "invalid client pointer supplied");
		return;
	}
	if (!control_kill_client(client->conn.worker, (uint32_t)id)) {
		admin_error(client, "08P01", "client not found");
		return;
	}
	admin_complete(client, "KILL_CLIENT");
}

static void cmd_wait_close(struct client *client, const struct admin_query *q, const char *sql)
{
	struct database *db = NULL;

	(void)sql;
	if (q->has_arg && !(db = named_db(client, q, "wait in")))
		return;
	admin_defer(client, AWAIT_WAIT_CLOSE, db);
}

static void cmd_reload(struct client *client, const struct admin_query *q, const char *sql)
{
	char err[4096];

	(void)sql;
	if (q->has_arg) {
		admin_error(client, "08P01", "RELOAD takes no argument");
		return;
	}
	log_info("RELOAD command issued");
	if (!admin_reload(client->conn.worker, err, sizeof(err))) {
		admin_error_detail(client, "F0000",
				   "RELOAD failed, see logs for additional details", err);
		return;
	}
	admin_complete(client, "RELOAD");
}

static void cmd_shutdown(struct client *client, const struct admin_query *q, const char *sql)
{
	struct worker *w = client->conn.worker;

	(void)sql;
	if (!q->has_arg) {
		control_exit(w, "SHUTDOWN command issued");
		client_close(client, NULL, "shutdown");
		return;
	}
	if (strcasecmp(q->arg, "wait_for_servers") == 0) {
		control_shutdown(w, SHUTDOWN_WAIT_FOR_SERVERS, "SHUTDOWN WAIT_FOR_SERVERS");
		admin_complete(client, "SHUTDOWN");
	} else if (strcasecmp(q->arg, "wait_for_clients") == 0) {
		control_shutdown(w, SHUTDOWN_WAIT_FOR_CLIENTS, "SHUTDOWN WAIT_FOR_CLIENTS");
		admin_complete(client, "SHUTDOWN");
	} else {
		admin_error(client, "08P01", "invalid SHUTDOWN mode: %s", q->arg);
	}
}

/* Session settings drivers send at login: accepted and ignored, as PgBouncer does. */
static bool is_fake_param(const char *name)
{
	static const char *const fake[] = {
		"client_encoding",
		"default_transaction_isolation",
		"standard_conforming_strings",
		"datestyle",
		"timezone",
		"application_name",
		"extra_float_digits",
		"search_path",
		"intervalstyle",
	};

	for (size_t i = 0; i < ARRAY_SIZE(fake); i++)
		if (strcasecmp(name, fake[i]) == 0)
			return true;
	return false;
}

static void cmd_set(struct client *client, const struct admin_query *q, const char *sql)
{
	struct worker *w = client->conn.worker;
	char err[1024], tag[400];

	if (!q->has_arg) {
		admin_error(client, "08P01", "invalid command '%s', use SHOW HELP;", sql);
		return;
	}
	if (is_fake_param(q->arg)) {
		admin_notice(client, "SET ignored", NULL);
		if (!client->conn.closed)
			admin_complete(client, "SET");
		return;
	}
	if (client->admin != ADMIN_FULL) {
		admin_error(client, "08P01", "admin access needed");
		return;
	}
	if (!admin_set(w, q->arg, q->value, err, sizeof(err))) {
		admin_error(client, "08P01", "%s", err);
		return;
	}
	snprintf(tag, sizeof(tag), "SET %s=%s", q->arg, q->value);
	admin_complete(client, tag);
}

static const struct admin_command commands[] = {
	{ "show", false, cmd_show },
	{ "select", false, cmd_show },
	{ "set", false, cmd_set }, /* checks rights itself: the fake SETs are for everyone */
	{ "pause", true, cmd_pause },
	{ "resume", true, cmd_resume },
	{ "suspend", true, cmd_suspend },
	{ "disable", true, cmd_disable },
	{ "enable", true, cmd_enable },
	{ "reconnect", true, cmd_reconnect },
	{ "kill", true, cmd_kill },
	{ "kill_client", true, cmd_kill_client },
	{ "wait_close", true, cmd_wait_close },
	{ "reload", true, cmd_reload },
	{ "shutdown", true, cmd_shutdown },
};

const struct admin_command *admin_find_command(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}
