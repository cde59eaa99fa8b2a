/* SPDX-License-Identifier: ISC */
/*
 * The startup phase of a client: SSLRequest (client_tls.c), GSSENCRequest (answered 'N'),
 * CancelRequest, and the StartupMessage with its parameters and `options`. Only protocol
 * 3.0 is spoken; a newer minor version or `_pq_.` options get one NegotiateProtocolVersion
 * and the login continues at 3.0. Then authentication starts
 * (client_auth.c), and once it succeeds the client joins its pool.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "admin.h"
#include "cancel.h"
#include "client.h"
#include "config.h"
#include "iobuf.h"
#include "log.h"
#include "pool.h"
#include "pool_sched.h"
#include "registry.h"
#include "relay.h"
#include "server.h"
#include "wire.h"
#include "worker.h"

#define MAX_USERNAME 128
#define MAX_DBNAME   64
#define MAX_PQ_OPTS  16

static int tracked_index(const struct client *client, const char *name)
{
	return params_index(&client->conn.worker->reg->tracked, name);
}

/* ignore_startup_parameters: a comma and/or space separated list; empty items match nothing. */
static bool is_ignored(const struct config *cfg, const char *name)
{
	const char *p = cfg->ignore_startup_parameters;
	size_t n = strlen(name);

	while (*p) {
		size_t len;

		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		len = strcspn(p, ", \t");
		if (len > 0 && len == n && strncasecmp(p, name, n) == 0)
			return true;
		p += len;
	}
	return false;
}

/*
 * One "-c key=value" / "--key=value" item of `options`, with backslash escapes as in
 * PostgreSQL's pg_split_opts. NULL at the end of opts; *dangling is set when the item ends
 * in a backslash that escapes nothing.
 */
static const char *next_option(const char *p, char *out, size_t cap, bool *dangling)
{
	size_t n = 0;

	while (isspace((unsigned char)*p))
		p++;
	if (!*p)
		return NULL;
	while (*p && !isspace((unsigned char)*p)) {
		if (*p == '\\' && !*++p) {
			*dangling = true;
			break;
		}
		if (n + 1 < cap)
			out[n++] = *p;
		p++;
	}
	out[n] = '\0';
	return p;
}

static bool apply_option(struct client *client, char *kv)
{
	const struct config *cfg = client->conn.worker->reg->cfg;
	char *eq = strchr(kv, '=');

	*eq = '\0';
	if (!*kv) {
		client_close(client, "08P01", "invalid startup parameter in options: empty name");
		return false;
	}
	for (char *d = kv; *d; d++)
		if (*d == '-')
			*d = '_';
	if (tracked_index(client, kv) >= 0)
		params_set_lazy(&client->params, tracked_index(client, kv), eq + 1);
	else if (!is_ignored(cfg, kv) && !is_ignored(cfg, "options")) {
		client_close(client, "08P01", "unsupported startup parameter in options: %s", kv);
		return false;
	}
	return true;
}

static bool bad_options(struct client *client)
{
	if (is_ignored(client->conn.worker->reg->cfg, "options"))
		return true;
	client_close(client, "08P01",
		     "unsupported options startup parameter: only "
		     "'-c config=val' and '--config=val' are allowed");
	return false;
}

/* item has room for all of opts, so that no value is ever cut short. */
static bool parse_options_into(struct client *client, const char *opts, char *item, size_t cap)
{
	const char *p = opts;
	bool dangling = false;

	while ((p = next_option(p, item, cap, &dangling))) {
		char *kv = item + 2;

		if (strcmp(item, "-c") == 0 && !dangling) {
			p = next_option(p, item, cap, &dangling);
			if (!p)
				return bad_options(client);
			kv = item;
		}
		if (dangling) {
			client_close(client, "08P01",
				     "invalid startup parameter in options: trailing backslash");
			return false;
		}
		if (kv != item && strncmp(item, "-c", 2) != 0 && strncmp(item, "--", 2) != 0)
			return bad_options(client);
		if (!strchr(kv, '='))
			return bad_options(client);
		if (!apply_option(client, kv))
			return false;
	}
	return true;
}

static bool parse_options(struct client *client, const char *opts)
{
	size_t cap = strlen(opts) + 3; /* an item is at most all of opts */
	char *item = xmalloc(cap);
	bool ok = parse_options_into(client, opts, item, cap);

	free(item);
	return ok;
}

static bool is_true(const char *v)
{
	return strcasecmp(v, "true") == 0 || strcasecmp(v, "on") == 0 ||
	       strcasecmp(v, "yes") == 0 || strcmp(v, "1") == 0;
}

static bool is_false(const char *v)
{
	return strcasecmp(v, "false") == 0 || strcasecmp(v, "off") == 0 ||
	       strcasecmp(v, "no") == 0 || strcmp(v, "0") == 0;
}

struct startup {
	const char *pq_opts[MAX_PQ_OPTS];
	size_t npq;
};

static bool take_param(struct client *client, struct startup *st, const char *name,
		       const char *value)
{
	const struct config *cfg = client->conn.worker->reg->cfg;

	if (strcmp(name, "user") == 0) {
		free(client->login->user_name);
		client->user_name = client->login->user_name = xstrdup(value);
	} else if (strcmp(name, "database") == 0) {
		free(client->login->db_name);
		client->db_name = client->login->db_name = xstrdup(value);
	} else if (strcmp(name, "options") == 0) {
		free(client->raw_options);
		client->raw_options = xstrdup(value);
		return client->replication || parse_options(client, value);
	} else if (strncmp(name, "_pq_.", 5) == 0) {
		if (st->npq < MAX_PQ_OPTS)
			st->pq_opts[st->npq++] = name;
	} else if (tracked_index(client, name) >= 0) {
		params_set_lazy(&client->params, tracked_index(client, name), value);
	} else if (strcmp(name, "replication") != 0 && !is_ignored(cfg, name)) {
		client_close(client, "08P01", "unsupported startup parameter: %s", name);
		return false;
	}
	return true;
}

/* `replication` decides how the rest is read (options pass through), so it is read first. */
static bool find_replication(struct client *client, struct wire_reader r)
{
	const char *name, *value;

	while ((name = wire_get_cstring(&r)) && *name && (value = wire_get_cstring(&r))) {
		if (strcmp(name, "replication") != 0)
			continue;
		if (strcasecmp(value, "database") == 0)
			client->replication = REPL_LOGICAL;
		else if (is_true(value))
			client->replication = REPL_PHYSICAL;
		else if (!is_false(value)) {
			client_close(client, "08P01",
				     "invalid value for parameter \"replication\": \"%s\"", value);
			return false;
		}
	}
	return true;
}

static bool parse_startup(struct client *client, struct wire_reader *r, struct startup *st)
{
	if (!find_replication(client, *r))
		return false;
	for (;;) {
		const char *name = wire_get_cstring(r), *value;

		if (!wire_reader_ok(r))
			break;
		if (!*name) {
			if (wire_remaining(r) == 0)
				return true;
			break;
		}
		value = wire_get_cstring(r);
		if (!wire_reader_ok(r))
			break;
		if (!take_param(client, st, name, value))
			return false;
	}
	client_close(client, "08P01",
		     "invalid startup packet layout: expected terminator as last byte");
	return false;
}

static bool check_names(struct client *client)
{
	if (!client->user_name || !*client->user_name) {
		client_close(client, "08P01", "no username supplied");
		return false;
	}
	if (strlen(client->user_name) >= MAX_USERNAME) {
		client_close(client, "08P01", "username too long");
		return false;
	}
	if (!client->db_name || !*client->db_name) {
		free(client->login->db_name);
		client->db_name = client->login->db_name = xstrdup(client->user_name);
	}
	if (strlen(client->db_name) >= MAX_DBNAME) {
		client_close(client, "08P01", "database name too long");
		return false;
	}
	return true;
}

static bool negotiate(struct client *client, uint32_t minor, const struct startup *st)
{
	uint8_t buf[1024];
	struct wire_builder b;

	if (minor == 0 && st->npq == 0)
		return true;
	wire_builder_init(&b, buf, sizeof(buf));
	wire_negotiate_protocol(&b, WIRE_PROTO_V3, st->pq_opts, st->npq);
	if (wire_builder_ok(&b) && conn_send(&client->conn, buf, b.len))
		return true;
	client_close(client, NULL, "client socket error");
	return false;
}

static void handle_startup(struct client *client, struct wire_reader *r, uint32_t code)
{
	struct worker *w = client->conn.worker;
	struct startup st = { .npq = 0 };

	if (!parse_startup(client, r, &st) || !check_names(client))
		return;
	if (!negotiate(client, code & 0xffff, &st))
		return;
	if (__atomic_load_n(&w->reg->nclients, __ATOMIC_RELAXED) >
		(unsigned)w->reg->cfg->max_client_conn &&
	    !admin_console_name(client->db_name)) {
		client_close(client, "53300", "no more connections allowed (max_client_conn)");
		return;
	}
	client_auth_start(client);
}

static bool answer_byte(struct client *client, char c)
{
	if (conn_send(&client->conn, &c, 1))
		return true;
	client_close(client, NULL, "client socket error");
	return false;
}

/* Handles one complete untyped packet; false when the client was closed. */
static bool handle_untyped(struct client *client, const uint8_t *pkt, uint32_t len)
{
	struct wire_reader r;
	uint32_t code;

	wire_reader_init(&r, pkt + 4, len - 4);
	code = wire_get_u32(&r);
	if (code == WIRE_SSL_CODE)
		return client_tls_ssl_request(client) && !client->conn.tls;
	if (code == WIRE_GSSENC_CODE)
		return answer_byte(client, 'N');
	if (code == WIRE_CANCEL_CODE) {
		uint32_t pid = wire_get_u32(&r), key = wire_get_u32(&r);

		if (len == 16)
			cancel_handle(client->conn.worker, pid, key);
		client_close(client, NULL, len == 16 ? "cancel request" : "invalid cancel request");
		return false;
	}
	if (client_tls_refuses_plain(client))
		return false;
	if ((code >> 16) != 3) {
		client_close(client, "08P01",
			     (code >> 16) == 2 ? "old V2 protocol not supported"
					       : "unsupported protocol version");
		return false;
	}
	handle_startup(client, &r, code);
	return false;
}

static void login_untyped(struct client *client)
{
	for (;;) {
		struct iobuf *b = client->conn.buf;
		uint32_t len;
		bool more;

		switch (wire_untyped_header(b->data + b->scan_pos, iobuf_unscanned(b),
					    WIRE_MAX_STARTUP_LEN, &len)) {
		case WIRE_HDR_NEED_MORE:
			return;
		case WIRE_HDR_BAD:
			client_close(client, "08P01", "invalid startup packet");
			return;
		case WIRE_HDR_OK:
			break;
		}
		if (iobuf_unscanned(b) < len) {
			if (!iobuf_reserve(&client->conn.worker->bufs, &client->conn.buf, len,
					   WIRE_MAX_STARTUP_LEN))
				client_close(client, "08P01", "invalid startup packet");
			return;
		}
		relay_consume(&client->conn, len);
		more = handle_untyped(client, b->data + b->scan_pos - len, len);
		if (client->conn.closed)
			return;
		conn_release_buf_if_empty(&client->conn);
		if (!more || !client->conn.buf)
			return;
	}
}

/*
 * While authenticating, a client may send its password or SASL responses ('p') and
 * Terminate ('X'), nothing else (as PostgreSQL). The type byte is judged as soon as it is
 * here: an untyped packet, say a second StartupMessage, read as a typed message has type
 * 0 and a length of kilobytes made of its own length and version bytes, which would
 * otherwise be waited for.
 */
static bool expected_during_auth(struct client *client)
{
	const struct iobuf *b = client->conn.buf;
	uint8_t type;

	if (!b || iobuf_unscanned(b) == 0)
		return true;
	type = b->data[b->scan_pos];
	if (type == 'p' || type == 'X')
		return true;
	if (isprint(type))
		client_close(client, "08P01", "expected a password message, got '%c'", type);
	else
		client_close(client, "08P01", "expected a password message, got type byte 0x%02x",
			     type);
	return false;
}

static void login_typed(struct client *client)
{
	while (!client->conn.closed && client->phase != LOGIN_DONE && client->phase != LOGIN_KDF &&
	       client->phase != LOGIN_LOOKUP && client->state == CL_LOGIN) {
		const uint8_t *msg;
		uint32_t total;
		int r;

		if (!expected_during_auth(client))
			return;
		r = relay_next_message(&client->conn, 65536, &msg, &total);
		if (r == 0)
			return;
		if (r < 0) {
			client_close(client, "08P01", "invalid packet during authentication");
			return;
		}
		if (msg[0] == 'X') {
			client_close(client, NULL, "client close request");
			return;
		}
		relay_consume(&client->conn, total);
		client_auth_on_message(client, msg[0], msg + 5, total - 5);
		if (!client->conn.closed)
			conn_release_buf_if_empty(&client->conn);
	}
}

void client_login_on_data(struct client *client)
{
	if (client->phase == LOGIN_STARTUP)
		login_untyped(client);
	if (!client->conn.closed && client->phase != LOGIN_STARTUP && client->state == CL_LOGIN)
		login_typed(client);
}

static bool send_auth_ok(struct client *client)
{
	uint8_t buf[16];
	struct wire_builder b;

	wire_builder_init(&b, buf, sizeof(buf));
	wire_auth_request(&b, WIRE_AUTH_OK, NULL, 0);
	if (conn_send(&client->conn, b.buf, b.len))
		return true;
	client_close(client, NULL, "client socket error");
	return false;
}

void client_login_resume(struct client *client)
{
	conn_want_read(&client->conn, true);
	if (client->conn.buf && iobuf_unscanned(client->conn.buf) > 0)
		login_typed(client);
}

/*
 * In transaction and statement pooling the pool's welcome serves when weir knows how
 * PostgreSQL reports every value the client asked for. Otherwise, and in session pooling,
 * the client is linked to a server first and told what that server reports
 * (client_finish_login), with its backend's process id in session pooling; but only if
 * that does not mean waiting for a server in use: then the pool's welcome serves, and the
 * link comes with the first request (doc/pooling.md).
 */
static void finish_login(struct client *client, struct pool *pool)
{
	bool welcome = pool->welcome && !pool->welcome_stale;

	if (welcome && pool->mode != POOL_MODE_SESSION && client_use_reported_forms(client, true)) {
		client_welcome(client);
		return;
	}
	if (welcome && !pool_can_serve_login(pool, client)) {
		(void)client_use_reported_forms(client, false);
		client_welcome(client);
		return;
	}
	client->phase = LOGIN_LINK;
	/*
	 * As PostgreSQL does, AuthenticationOk first and the rest once the session is set up:
	 * a NOTICE that the client is queued is then legal while it waits (libpq refuses one
	 * before AuthenticationOk).
	 */
	if (!send_auth_ok(client))
		return;
	if (!pool_request_server(pool, client))
		log_debug("client could not get a server to finish its login");
}

void client_login_authenticated(struct client *client)
{
	struct registry *reg = client->conn.worker->reg;
	struct database *db;
	struct pool *pool;

	if (admin_console_name(client->db_name)) {
		admin_login(client);
		return;
	}
	if (client->conn.worker->shutdown != SHUTDOWN_NONE) {
		/* only the console's Unix socket stays open for logins while shutting down */
		client_close(client, "08P01", "server shutting down");
		return;
	}
	db = registry_database(reg, client->db_name);
	if (!db) {
		client_close(client, "3D000", "no such database: %s", client->db_name);
		return;
	}
	if (db->disabled) {
		client_close(client, "08P01", "database \"%s\" is disabled", db->name);
		return;
	}
	if (client->login->source == SECRET_FROM_QUERY)
		registry_keep_query_secret(reg, registry_user(reg, client->user_name),
					   client->login->secret, client->login->secret_kind);
	pool =
	    registry_pool(reg, db, registry_user(reg, database_server_user(db, client->user_name)));
	/*
	 * With auth_type=any the name sent was not checked against anything: the client is
	 * known by the database's forced user, so that made-up names create no user entries.
	 * Without a forced user the pool's user is the client's own: no second lookup.
	 */
	client_forget_login(client,
			    reg->cfg->auth_type == AUTH_TYPE_ANY ||
				    strcmp(pool->user->name, client->user_name) == 0
				? pool->user
				: registry_user(reg, client->user_name),
			    db);
	client->pool = pool;
	registry_lock(reg);
	db->client_count++;
	pool->user->client_count++;
	registry_unlock(reg);
	conn_want_read(&client->conn, false);
	if (client->replication) {
		/* Its welcome comes from its own replication server's login. */
		client->phase = LOGIN_DONE;
		client_set_state(client, CL_WAIT_WELCOME);
		if (!pool_request_server(pool, client))
			log_debug("replication client could not get a server");
		return;
	}
	finish_login(client, pool);
}
