/* SPDX-License-Identifier: ISC */
/*
 * The admin console (admin.h): who may log in and with what rights, the welcome, the
 * command grammar, the command table, and the replies a command defers until its
 * operation has finished (PAUSE, SUSPEND, WAIT_CLOSE, SHUTDOWN WAIT_FOR_SERVERS).
 *
 * The grammar is PgBouncer's: one command per Query, `WORD [WORD] [;]` or
 * `SET WORD =|TO WORD|'string' [;]`, where WORD is an identifier or a double-quoted name.
 * Anything else is `invalid command`, SQLSTATE 08P01, and the connection stays usable.
 *
 * Entry points: the admin_* functions of admin.h except admin_show.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin.h"
#include "admin_cmd.h"
#include "cancel.h"
#include "client.h"
#include "config.h"
#include "control.h"
#include "log.h"
#include "registry.h"
#include "relay.h"
#include "stats.h"
#include "wire.h"
#include "worker.h"

#define ADMIN_QUERY_MAX 4096

const char *admin_console_name(const char *dbname)
{
	if (!dbname)
		return NULL;
	if (strcmp(dbname, "weir") == 0)
		return "weir";
	if (strcmp(dbname, "pgbouncer") == 0)
		return "pgbouncer";
	return NULL;
}

bool admin_trusted_peer(struct client *client)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (client->conn.family != AF_UNIX || !admin_console_name(client->db_name) ||
	    !admin_console_name(client->user_name))
		return false;
	if (getsockopt(client->conn.fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
	    cred.uid != geteuid())
		return false;
	client->admin = ADMIN_FULL;
	return true;
}

/* Whether name is in a comma- or space-separated list (admin_users, stats_users). */
static bool in_list(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; *p;) {
		size_t len;

		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		len = strcspn(p, ", \t");
		if (len == n && strncmp(p, name, n) == 0)
			return true;
		p += len;
	}
	return false;
}

static enum admin_role role_of(const struct client *client, const struct config *cfg)
{
	if (client->admin == ADMIN_FULL) /* the trusted Unix-socket peer */
		return ADMIN_FULL;
	if (in_list(cfg->admin_users, client->user_name))
		return ADMIN_FULL;
	if (in_list(cfg->stats_users, client->user_name))
		return ADMIN_READ;
	/* auth_type=any checked no name: anyone may look, as with PgBouncer */
	return cfg->auth_type == AUTH_TYPE_ANY ? ADMIN_READ : ADMIN_NONE;
}

static bool send_welcome(struct client *client)
{
	static const char *const params[][2] = {
		{ "server_version", "1.25.2/weir" },
		{ "client_encoding", "UTF8" },
		{ "server_encoding", "UTF8" },
		{ "DateStyle", "ISO" },
		{ "TimeZone", "GMT" },
		{ "standard_conforming_strings", "on" },
		{ "is_superuser", "on" },
	};
	struct registry *reg = client->conn.worker->reg;
	uint8_t buf[512];
	struct wire_builder b;
	bool registered;

	registry_lock(reg);
	registered = cancel_register(&reg->cancels, &client->conn.worker->random, client, 0);
	registry_unlock(reg);
	if (!registered)
		return false;
	wire_builder_init(&b, buf, sizeof(buf));
	wire_auth_request(&b, WIRE_AUTH_OK, NULL, 0);
	for (size_t i = 0; i < ARRAY_SIZE(params); i++)
		wire_parameter_status(&b, params[i][0], params[i][1]);
	wire_backend_key_data(&b, client->cancel_pid, client->cancel_key);
	wire_ready_for_query(&b, 'I');
	return wire_builder_ok(&b) && conn_send(&client->conn, buf, b.len);
}

void admin_login(struct client *client)
{
	struct worker *w = client->conn.worker;
	enum admin_role role = role_of(client, w->reg->cfg);
	const char *console = admin_console_name(client->db_name);

	if (role == ADMIN_NONE) {
		client_close(client, "08P01", "not allowed");
		return;
	}
	client_forget_login_console(client, registry_user(w->reg, client->user_name), console);
	client->admin = (uint8_t)role;
	/* the console does not count against max_client_conn */
	(void)__atomic_sub_fetch(&w->reg->nclients, 1, __ATOMIC_RELAXED);
	client_set_state(client, CL_ACTIVE);
	if (!send_welcome(client)) {
		client_close(client, NULL, "client socket error");
		return;
	}
	client->phase = LOGIN_DONE;
	stats_of_console(w)->c.client_login_count++;
	if (w->reg->cfg->log_connections)
		log_info("console login: db=%s user=%s %s", console, client->user_name,
			 role == ADMIN_FULL ? "admin" : "read-only");
}

/* ---- replies ---- */

static void send_or_close(struct client *client, const struct wire_builder *b)
{
	if (!wire_builder_ok(b) || !conn_send(&client->conn, b->buf, b->len))
		client_close(client, NULL, "client socket error");
}

static void append_ready(struct wire_builder *b)
{
	wire_ready_for_query(b, 'I');
}

void admin_error_detail(struct client *client, const char *sqlstate, const char *message,
			const char *detail)
{
	uint8_t buf[8192];
	struct wire_builder b;

	wire_builder_init(&b, buf, sizeof(buf));
	wire_report(&b, 'E', "ERROR", sqlstate, message, detail);
	if (!wire_builder_ok(&b)) {
		wire_builder_init(&b, buf, sizeof(buf));
		wire_report(&b, 'E', "ERROR", sqlstate, message, NULL);
	}
	append_ready(&b);
	send_or_close(client, &b);
}

void admin_error(struct client *client, const char *sqlstate, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	admin_error_detail(client, sqlstate, msg, NULL);
}

void admin_notice(struct client *client, const char *message, const char *detail)
{
	uint8_t buf[4096];
	struct wire_builder b;

	wire_builder_init(&b, buf, sizeof(buf));
	wire_report(&b, 'N', "NOTICE", "00000", message, detail);
	send_or_close(client, &b);
}

void admin_complete(struct client *client, const char *tag)
{
	uint8_t buf[600];
	struct wire_builder b;

	wire_builder_init(&b, buf, sizeof(buf));
	wire_command_complete(&b, tag);
	append_ready(&b);
	send_or_close(client, &b);
}

/* ---- the grammar ---- */

/*
 * One WORD at *pp into out (cap bytes): an identifier (letters, digits, _) or a quoted
 * name with "" for a quote. False if there is none or it is too long.
 */
static bool take_word(const char **pp, char *out, size_t cap)
{
	const char *p = *pp;
	size_t n = 0;

	if (*p == '"') {
		for (p++;; p++) {
			if (*p == '\0')
				return false;
			if (*p == '"' && p[1] != '"')
				break;
			if (*p == '"')
				p++;
			if (n + 1 >= cap)
				return false;
			out[n++] = *p;
		}
		p++;
		if (n == 0)
			return false;
	} else {
		while (isalnum((unsigned char)*p) || *p == '_') {
			if (n + 1 >= cap)
				return false;
			out[n++] = *p++;
		}
		if (n == 0)
			return false;
	}
	out[n] = '\0';
	*pp = p;
	return true;
}

/* A 'string' with '' for a quote. */
static bool take_string(const char **pp, char *out, size_t cap)
{
	const char *p = *pp + 1;
	size_t n = 0;

	for (;; p++) {
		if (*p == '\0')
			return false;
		if (*p == '\'' && p[1] != '\'')
			break;
		if (*p == '\'')
			p++;
		if (n + 1 >= cap)
			return false;
		out[n++] = *p;
	}
	out[n] = '\0';
	*pp = p + 1;
	return true;
}

static const char *skip_space(const char *p)
{
	while (isspace((unsigned char)*p))
		p++;
	return p;
}

/* The end of a command: spaces, at most one ';', spaces. */
static bool at_end(const char *p)
{
	p = skip_space(p);
	if (*p == ';')
		p = skip_space(p + 1);
	return *p == '\0';
}

static bool parse_set(const char *p, struct admin_query *q)
{
	p = skip_space(p);
	if (!take_word(&p, q->arg, sizeof(q->arg)))
		return false;
	p = skip_space(p);
	if (*p == '=')
		p++;
	else if (strncasecmp(p, "to", 2) == 0 && !isalnum((unsigned char)p[2]) && p[2] != '_')
		p += 2;
	else
		return false;
	p = skip_space(p);
	if (*p == '\'' ? !take_string(&p, q->value, sizeof(q->value))
		       : !take_word(&p, q->value, sizeof(q->value)))
		return false;
	q->has_arg = true;
	return at_end(p);
}

bool admin_parse(const char *sql, struct admin_query *q)
{
	const char *p = skip_space(sql);

	memset(q, 0, sizeof(*q));
	if (!take_word(&p, q->cmd, sizeof(q->cmd)))
		return false;
	for (char *c = q->cmd; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	if (strcmp(q->cmd, "set") == 0)
		return isspace((unsigned char)*p) && parse_set(p, q);
	if (at_end(p))
		return true;
	if (!isspace((unsigned char)*p))
		return false;
	p = skip_space(p);
	if (!take_word(&p, q->arg, sizeof(q->arg)))
		return false;
	q->has_arg = true;
	return at_end(p);
}

/* ---- dispatch ---- */

struct console_run {
	struct client *client;
	const struct admin_command *cmd;
	const struct admin_query *q;
	const char *sql;
};

static void run_command(struct worker *w, void *arg)
{
	struct console_run *r = arg;

	(void)w;
	r->cmd->run(r->client, r->q, r->sql);
}

/*
 * Every command runs with the other workers parked: SHOW reads their connections and
 * figures, the others change them (KILL, PAUSE, RELOAD...), as from one thread.
 */
static void run_parked(struct client *client, const struct admin_command *cmd,
		       const struct admin_query *q, const char *sql)
{
	struct console_run r = { client, cmd, q, sql };

	worker_exclusive(client->conn.worker, run_command, &r);
}

static void run_query(struct client *client, const char *sql)
{
	struct worker *w = client->conn.worker;
	struct pool_stats *s = stats_of_console(w);
	struct admin_query q;
	const struct admin_command *cmd;

	s->c.query_count++;
	s->c.xact_count++;
	if (!admin_parse(sql, &q)) {
		admin_error(client, "08P01", "invalid command '%s', use SHOW HELP;", sql);
		return;
	}
	cmd = admin_find_command(q.cmd);
	if (!cmd) {
		admin_error(client, "08P01", "invalid command '%s', use SHOW HELP;", sql);
		return;
	}
	if (cmd->needs_admin && client->admin != ADMIN_FULL) {
		admin_error(client, "08P01", "admin access needed");
		return;
	}
	run_parked(client, cmd, &q, sql);
}

static void count_bytes(struct client *client)
{
	struct pool_stats *s = stats_of_console(client->conn.worker);

	s->c.bytes_received += client->conn.bytes_in;
	s->c.bytes_sent += client->conn.bytes_out;
	client->conn.bytes_in = client->conn.bytes_out = 0;
}

enum relay_action admin_on_message(struct client *client, uint8_t type, const uint8_t *msg,
				   uint32_t total, bool complete)
{
	char sql[ADMIN_QUERY_MAX];
	uint32_t len;

	if (client->admin_wait != AWAIT_NONE) { /* the next command waits for the reply */
		conn_want_read(&client->conn, false);
		return RELAY_STOP;
	}
	if (type != 'Q') {
		client_close(client, "08P01",
			     type && strchr("PBDECSH", type)
				 ? "extended query protocol not supported by "
				   "admin console"
				 : "unsupported packet type for admin console: %c",
			     type);
		return RELAY_STOP;
	}
	if (total - 5 >= ADMIN_QUERY_MAX) {
		client_close(client, "08P01", "admin command too long");
		return RELAY_STOP;
	}
	if (!complete)
		return RELAY_NEED_ALL;
	len = total - 5;
	if (len == 0 || msg[total - 1] != '\0' || memchr(msg + 5, '\0', len - 1)) {
		client_close(client, "08P01", "invalid Query message");
		return RELAY_STOP;
	}
	memcpy(sql, msg + 5, len);
	run_query(client, sql);
	if (client->conn.closed) /* SHUTDOWN, KILL_CLIENT of itself, a failed send */
		return RELAY_STOP;
	count_bytes(client);
	return RELAY_CONSUME;
}

unsigned admin_console_count(const struct registry *reg)
{
	unsigned n = 0;

	for (unsigned i = 0; i < reg->nworkers; i++)
		n += reg->workers[i]->console_clients.count;
	return n;
}

/* ---- deferred replies ---- */

void admin_defer(struct client *client, enum admin_wait what, struct database *db)
{
	client->admin_wait = (uint8_t)what;
	client->db = db; /* a console client has no database of its own: the one it waits for */
	client->conn.worker->console_waits++;
	admin_poll(client->conn.worker);
}

static bool wait_done(const struct client *client)
{
	const struct worker *w = client->conn.worker;

	switch (client->admin_wait) {
	case AWAIT_PAUSE:
		return control_pause_done(w->reg, client->db);
	case AWAIT_SUSPEND:
		return control_suspend_done(w);
	case AWAIT_WAIT_CLOSE:
		return control_wait_close_done(w->reg, client->db);
	default:
		return true;
	}
}

static const char *wait_tag(enum admin_wait what)
{
	switch (what) {
	case AWAIT_PAUSE:
		return "PAUSE";
	case AWAIT_SUSPEND:
		return "SUSPEND";
	default:
		return "WAIT_CLOSE";
	}
}

/* The reply was sent: the commands the client sent meanwhile run now. */
static void read_again(struct client *client)
{
	if (client->conn.closed)
		return;
	conn_want_read(&client->conn, true);
	if (client->conn.buf && iobuf_unscanned(client->conn.buf) > 0)
		relay_process(&client->conn);
}

static bool still_paused(const struct client *client, const struct database *db)
{
	return control_paused(client->conn.worker->reg, db);
}

static void end_wait(struct client *client)
{
	client->conn.worker->console_waits--;
	client->admin_wait = AWAIT_NONE;
	client->db = NULL;
}

static void poll_parked(struct worker *w, void *arg)
{
	struct list_node *n, *t;

	(void)arg;
	list_for_each_safe(n, t, &w->console_clients) {
		struct client *client = list_entry(n, struct client, node);
		enum admin_wait what = (enum admin_wait)client->admin_wait;
		struct database *db = client->db;

		if (what == AWAIT_NONE ||
		    (!wait_done(client) && !(what == AWAIT_PAUSE && !still_paused(client, db))))
			continue;
		end_wait(client);
		if (what == AWAIT_PAUSE && !still_paused(client, db))
			admin_error(client, "08P01", "PAUSE was undone by RESUME");
		else
			admin_complete(client, wait_tag(what));
		read_again(client);
	}
}

/* What a deferred reply waits for is read over every worker, parked. */
void admin_poll(struct worker *w)
{
	worker_exclusive(w, poll_parked, NULL);
}

/*
 * Ctrl-C during a blocking PAUSE or SUSPEND: what it stopped starts again and the command
 * fails as a canceled statement. Otherwise a cancel from the console resumes a pooler that
 * is paused or suspended as a whole, as PgBouncer does.
 */
void admin_cancel(struct client *client)
{
	struct worker *w = client->conn.worker;
	enum admin_wait what = (enum admin_wait)client->admin_wait;
	struct database *db = client->db;
	char err[128];
	bool resume = w->shutdown == SHUTDOWN_NONE && (w->reg->paused || w->reg->suspended);

	if (what == AWAIT_PAUSE || what == AWAIT_SUSPEND || what == AWAIT_WAIT_CLOSE) {
		end_wait(client);
		resume = what != AWAIT_WAIT_CLOSE && w->shutdown == SHUTDOWN_NONE;
		admin_error(client, "57014", "canceling statement due to user request");
		read_again(client);
	} else {
		db = NULL;
	}
	if (!resume)
		return;
	log_info("cancel request for console client: resuming");
	if (!control_resume(w, what == AWAIT_PAUSE ? db : NULL, err, sizeof(err)))
		log_info("cannot resume: %s", err);
}

void admin_forget(struct client *client)
{
	struct worker *w = client->conn.worker;
	char err[128];

	if (client->admin_wait != AWAIT_NONE)
		end_wait(client);
	if (w->reg->suspended && w->reg->suspend_issuer == client->conn.id) {
		log_info("the console client that issued SUSPEND left: resuming");
		if (!control_resume(w, NULL, err, sizeof(err)))
			log_info("cannot resume: %s", err);
	}
}
