/* SPDX-License-Identifier: ISC */
/*
 * A logged-in client's extended-protocol messages when weir rewrites prepared statements
 * (transaction and statement pooling with max_prepared_statements > 0). A named Parse is
 * recorded in the client's map and sent to the server under the statement's weir-wide name
 * only if that server does not have it yet; Bind, Describe and Close of a named statement
 * are rewritten, and a Parse is injected first when the server lacks the statement. Every
 * request is recorded in the server's queue (pending.c) so its replies can be matched.
 * Errors PostgreSQL would give (42P05, 26000) are made up by weir and the rest of the batch
 * is skipped up to Sync, as PostgreSQL does; the connection stays usable.
 */
#include <stdarg.h>
#include <string.h>

#include "client.h"
#include "config.h"
#include "iobuf.h"
#include "log.h"
#include "pending.h"
#include "prepared.h"
#include "registry.h"
#include "server.h"
#include "sqlcmd.h"
#include "stats.h"
#include "wire.h"
#include "worker.h"

static struct ps_registry *registry_ps(const struct client *client)
{
	return client->conn.worker->reg->ps;
}

/* Sends bytes weir built to the client's server; false (server closed) on failure. */
static bool send_to_server(struct server *server, const struct wire_builder *b)
{
	if (wire_builder_ok(b) && conn_send(&server->conn, b->buf, b->len))
		return true;
	server_close(server, "cannot send a rewritten message");
	return false;
}

/* Made-up answers at the head go out now unless the server's replies are still in flight. */
static void kick_fakes(struct server *server)
{
	if (server->conn.buf && iobuf_unsent(server->conn.buf) > 0)
		server->conn.hold = true;
	else
		server_send_fakes(server);
}

/* A statement name weir never creates: a Bind to it fails on the server. */
#define NO_SUCH_STATEMENT "WEIR_ERROR"

static enum relay_action fail_request(struct client *client, const char *sqlstate, const char *fmt,
				      ...) PRINTF_FMT(3, 4);

/*
 * Answers a request with the error PostgreSQL would give. The server is sent a Bind that
 * fails, so that it, too, skips to Sync and aborts an open transaction; weir replaces that
 * error's text with this one.
 */
static enum relay_action fail_request(struct client *client, const char *sqlstate, const char *fmt,
				      ...)
{
	struct server *server = client->server;
	struct wire_builder b;
	uint8_t buf[64];
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	wire_builder_init(&b, buf, sizeof(buf));
	wire_begin(&b, 'B');
	wire_put_cstring(&b, "");
	wire_put_cstring(&b, NO_SUCH_STATEMENT);
	wire_put_u16(&b, 0);
	wire_put_u16(&b, 0);
	wire_put_u16(&b, 0);
	wire_end(&b);
	if (!send_to_server(server, &b))
		return RELAY_STOP;
	client_note_sent(client, 'B');
	pend_push_replace(&server->pending, 'B', sqlstate, msg);
	return RELAY_CONSUME;
}

static bool send_close(struct client *client, struct server *server, struct ps_stmt *evicted)
{
	struct wire_builder b;
	uint8_t buf[64];

	wire_builder_init(&b, buf, sizeof(buf));
	ps_build_close(&b, evicted);
	ps_stmt_unref(registry_ps(client), evicted);
	if (!send_to_server(server, &b))
		return false;
	pend_push(&server->pending, 'C', PEND_DROP, NULL);
	return true;
}

/* Parse under the weir-wide name; the reply goes to the client or is dropped (injected). */
static bool send_parse(struct client *client, struct server *server, struct ps_stmt *stmt,
		       enum pend_action action)
{
	const struct config *cfg = client->conn.worker->reg->cfg;
	size_t size = ps_build_parse_size(stmt);
	struct ps_stmt *evicted = NULL;
	struct wire_builder b;
	bool ok;

	wire_builder_init(&b, worker_scratch(client->conn.worker, size), size);
	ps_build_parse(&b, stmt);
	ok = send_to_server(server, &b);
	if (!ok)
		return false;
	client_note_sent(client, 'P');
	stats_of(client->conn.worker, client->pool)->c.server_parse_count++;
	ps_stmt_ref(stmt);
	pend_push(&server->pending, 'P', action, stmt);
	if (!server->ps)
		server->ps = ps_server_set_create((unsigned)cfg->max_prepared_statements);
	ps_server_add(server->ps, stmt, &evicted);
	return !evicted || send_close(client, server, evicted);
}

static bool ensure_prepared(struct client *client, struct server *server, struct ps_stmt *stmt)
{
	if (server->ps && ps_server_has(server->ps, stmt))
		return true;
	return send_parse(client, server, stmt, PEND_DROP);
}

static enum relay_action bad_message(struct client *client, const char *what)
{
	client_close(client, "08P01", "invalid %s message", what);
	return RELAY_STOP;
}

static enum relay_action forward(struct client *client, uint8_t type)
{
	pend_push(&client->server->pending, type, PEND_FORWARD, NULL);
	client_note_sent(client, type);
	return RELAY_FORWARD;
}

static const char *message_name(uint8_t type)
{
	switch (type) {
	case 'P':
		return "Parse";
	case 'B':
		return "Bind";
	case 'D':
		return "Describe";
	case 'Q':
		return "Query";
	case 'E':
		return "Execute";
	default:
		return "Close";
	}
}

/* weir must read the message whole; what it holds is bounded by max_inspected_packet_size. */
static enum relay_action need_whole(struct client *client, uint8_t type, uint32_t total)
{
	int limit = client->conn.worker->reg->cfg->max_inspected_packet_size;

	if (total <= (uint32_t)limit)
		return RELAY_NEED_ALL;
	client_close(client, "54000",
		     "%s message of %u bytes is larger than max_inspected_packet_size (%d)",
		     message_name(type), total, limit);
	return RELAY_STOP;
}

/*
 * SQL DEALLOCATE of one of the client's statements: its names are weir's, not the server's,
 * so what the server runs instead is a statement without effect that PostgreSQL treats as
 * it treats DEALLOCATE (refused with 25P02 in an aborted transaction). Its CommandComplete
 * is replaced by "DEALLOCATE" and the name dropped (server_proto.c) only once PostgreSQL has
 * run it; the statement stays prepared on the server, as after Close. A DEALLOCATE of any
 * other name goes to PostgreSQL as it is, which answers it itself.
 */
#define DEALLOCATE_STANDIN "UNLISTEN \"weir: DEALLOCATE\""

/* The client's statement a DEALLOCATE in text names, into name; false if it is not one. */
static bool deallocates_own(struct client *client, const char *text, size_t len,
			    char name[SQLCMD_NAME_MAX])
{
	return sqlcmd_deallocate(text, len, true, name) == SQLCMD_DEALLOCATE &&
	       ps_client_find(client->ps, name);
}

static enum relay_action on_query(struct client *client, const uint8_t *msg, uint32_t total,
				  bool complete)
{
	struct server *server = client->server;
	uint32_t avail = complete ? total : iobuf_unscanned(client->conn.buf);
	char name[SQLCMD_NAME_MAX];
	enum sqlcmd_kind kind;
	struct wire_builder b;
	uint8_t buf[64];

	if (!client->ps) /* no statement of its own: nothing it could deallocate */
		return forward(client, 'Q');
	kind = sqlcmd_deallocate((const char *)msg + 5, avail - 5, complete, name);
	if (kind == SQLCMD_MAYBE)
		return need_whole(client, 'Q', total);
	if (kind != SQLCMD_DEALLOCATE || !ps_client_find(client->ps, name))
		return forward(client, 'Q');
	if (iobuf_unsent(client->conn.buf) > 0)
		return RELAY_FLUSH_FIRST;
	wire_builder_init(&b, buf, sizeof(buf));
	wire_query(&b, DEALLOCATE_STANDIN);
	if (!send_to_server(server, &b))
		return RELAY_STOP;
	client_note_sent(client, 'Q');
	pend_push_dealloc(&server->pending, 'Q', name);
	return RELAY_CONSUME;
}

/* The unnamed statement passes through, unless it is a DEALLOCATE of the client's own. */
static enum relay_action on_unnamed_parse(struct client *client, const struct ps_parse *p)
{
	struct server *server = client->server;
	char name[SQLCMD_NAME_MAX];
	struct wire_builder b;
	uint8_t buf[64];

	if (!client->ps || p->ntypes || !deallocates_own(client, p->query, p->query_len, name)) {
		ps_client_parse_unnamed(client->ps, NULL);
		return forward(client, 'P');
	}
	if (iobuf_unsent(client->conn.buf) > 0)
		return RELAY_FLUSH_FIRST;
	wire_builder_init(&b, buf, sizeof(buf));
	wire_begin(&b, 'P');
	wire_put_cstring(&b, "");
	wire_put_cstring(&b, DEALLOCATE_STANDIN);
	wire_put_u16(&b, 0);
	wire_end(&b);
	if (!send_to_server(server, &b))
		return RELAY_STOP;
	forward(client, 'P');
	ps_client_parse_unnamed(client->ps, name);
	return RELAY_CONSUME;
}

/* An Execute of the unnamed portal bound to a DEALLOCATE of the client's own. */
static enum relay_action on_execute(struct client *client, const uint8_t *msg, uint32_t total,
				    bool complete)
{
	const char *name = ps_client_execute_unnamed(client->ps);

	if (!name)
		return forward(client, 'E');
	if (!complete)
		return need_whole(client, 'E', total);
	if (total < 6 || msg[5] != '\0') /* a named portal */
		return forward(client, 'E');
	client_note_sent(client, 'E');
	pend_push_dealloc(&client->server->pending, 'E', name);
	return RELAY_FORWARD;
}

static enum relay_action on_parse(struct client *client, const uint8_t *msg, uint32_t total)
{
	struct server *server = client->server;
	struct ps_parse p;
	struct ps_stmt *stmt;
	bool ok = true;

	if (!ps_parse_parse(msg + 5, total - 5, &p))
		return bad_message(client, "Parse");
	if (!*p.name)
		return on_unnamed_parse(client, &p);
	if (iobuf_unsent(client->conn.buf) > 0)
		return RELAY_FLUSH_FIRST;
	if (ps_client_find(client->ps, p.name))
		return fail_request(client, "42P05", "prepared statement \"%s\" already exists",
				    p.name);
	stats_of(client->conn.worker, client->pool)->c.client_parse_count++;
	stmt = ps_intern(registry_ps(client), &p);
	if (!client->ps)
		client->ps = ps_client_map_create(registry_ps(client));
	if (!ps_client_add(client->ps, p.name, stmt))
		log_debug("prepared statement \"%s\" could not be recorded", p.name);
	if (server->ps && ps_server_has(server->ps, stmt)) {
		pend_push_fake(&server->pending, 'P', FAKE_PARSE_COMPLETE, NULL, NULL);
		kick_fakes(server);
	} else {
		ok = send_parse(client, server, stmt, PEND_FORWARD);
	}
	ps_stmt_unref(registry_ps(client), stmt);
	return ok ? RELAY_CONSUME : RELAY_STOP;
}

static struct ps_stmt *known_statement(struct client *client, const char *name)
{
	return ps_client_find(client->ps, name);
}

static enum relay_action on_bind(struct client *client, const uint8_t *msg, uint32_t total)
{
	struct server *server = client->server;
	const char *portal, *name;
	struct ps_stmt *stmt;
	struct wire_builder b;
	size_t cap = total + 64;

	if (!ps_parse_bind_names(msg + 5, total - 5, &portal, &name))
		return bad_message(client, "Bind");
	if (!*portal)
		ps_client_bind_unnamed(client->ps, !*name);
	if (!*name)
		return forward(client, 'B');
	if (iobuf_unsent(client->conn.buf) > 0)
		return RELAY_FLUSH_FIRST;
	stmt = known_statement(client, name);
	if (!stmt)
		return fail_request(client, "26000", "prepared statement \"%s\" does not exist",
				    name);
	stats_of(client->conn.worker, client->pool)->c.bind_count++;
	if (!ensure_prepared(client, server, stmt))
		return RELAY_STOP;
	wire_builder_init(&b, worker_scratch(client->conn.worker, cap), cap);
	if (!ps_rewrite_bind(&b, msg + 5, total - 5, stmt))
		return bad_message(client, "Bind");
	if (!send_to_server(server, &b))
		return RELAY_STOP;
	forward(client, 'B');
	return RELAY_CONSUME;
}

/* Close 'S' of a named statement: forgotten by the client, kept on the server for reuse. */
static enum relay_action on_close_statement(struct client *client, const char *name)
{
	ps_client_remove(registry_ps(client), client->ps, name);
	pend_push_fake(&client->server->pending, 'C', FAKE_CLOSE_COMPLETE, NULL, NULL);
	kick_fakes(client->server);
	return RELAY_CONSUME;
}

static enum relay_action on_describe(struct client *client, const char *name)
{
	struct server *server = client->server;
	struct ps_stmt *stmt = known_statement(client, name);
	struct wire_builder b;
	uint8_t buf[64];

	if (!stmt)
		return fail_request(client, "26000", "prepared statement \"%s\" does not exist",
				    name);
	if (!ensure_prepared(client, server, stmt))
		return RELAY_STOP;
	wire_builder_init(&b, buf, sizeof(buf));
	ps_build_describe(&b, stmt);
	if (!send_to_server(server, &b))
		return RELAY_STOP;
	forward(client, 'D');
	return RELAY_CONSUME;
}

static enum relay_action on_target(struct client *client, uint8_t type, const uint8_t *msg,
				   uint32_t total)
{
	const char *name;
	char kind;

	if (!ps_parse_target(msg + 5, total - 5, &kind, &name))
		return bad_message(client, type == 'D' ? "Describe" : "Close");
	if (kind != 'S' || !*name)
		return forward(client, type);
	if (iobuf_unsent(client->conn.buf) > 0)
		return RELAY_FLUSH_FIRST;
	return type == 'D' ? on_describe(client, name) : on_close_statement(client, name);
}

static bool needs_rewrite_check(uint8_t type)
{
	return type == 'P' || type == 'B' || type == 'D' || type == 'C';
}

enum relay_action client_proto_message(struct client *client, uint8_t type, const uint8_t *msg,
				       uint32_t total, bool complete)
{
	if (type == 'Q')
		return on_query(client, msg, total, complete);
	if (type == 'E')
		return on_execute(client, msg, total, complete);
	if (!needs_rewrite_check(type)) {
		if (type == 'S' || type == 'F')
			return forward(client, type);
		return RELAY_FORWARD;
	}
	if (!complete)
		return need_whole(client, type, total);
	if (type == 'D' || type == 'C')
		return on_target(client, type, msg, total);
	return type == 'P' ? on_parse(client, msg, total) : on_bind(client, msg, total);
}
