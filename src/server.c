/* SPDX-License-Identifier: ISC */
/*
 * Server connections once logged in: the state machine (one list per state in the pool),
 * relaying PostgreSQL's messages to the linked client, the reset and check queries run
 * between clients, release, and closing. Login lives in server_login.c.
 */
#include <stdarg.h>
#include <sys/socket.h>
#include <string.h>

#include "cancel.h"
#include "client.h"
#include "config.h"
#include "conn_io.h"
#include "iobuf.h"
#include "kdf.h"
#include "log.h"
#include "pool_sched.h"
#include "prepared.h"
#include "registry.h"
#include "relay.h"
#include "server.h"
#include "wire.h"
#include "worker.h"

static struct server *to_server(struct conn *c)
{
	return container_of(c, struct server, conn);
}

static void server_tag(const struct conn *c, char *buf, size_t len)
{
	const struct server *s = container_of(c, struct server, conn);
	char addr[CONN_ADDR_LEN];

	snprintf(buf, len, "S-%u %s/%s@%s:%d", c->id, s->pool->db->name, s->pool->user->name,
		 conn_addr(c, addr), c->port);
}

static struct list_head *state_list(const struct server *server, enum server_state state)
{
	return &pool_here(server->pool, server->conn.worker)->servers[state];
}

static void enter_state(struct server *server, enum server_state state)
{
	struct worker *w = server->conn.worker;

	server->state = state;
	if (state == SV_CLOSED) {
		list_append(&w->doomed_servers, &server->node);
		return;
	}
	if (state == SV_IDLE) {
		server->idle_since = now_usec();
		if (w->reg->cfg->server_round_robin)
			list_append(state_list(server, state), &server->node);
		else
			list_prepend(state_list(server, state), &server->node);
		return;
	}
	list_append(state_list(server, state), &server->node);
}

void server_set_state(struct server *server, enum server_state state)
{
	struct registry *reg = server->pool->reg;

	ASSERT(server->state != SV_CLOSED);
	registry_lock(reg);
	list_remove(state_list(server, server->state), &server->node);
	enter_state(server, state);
	registry_unlock(reg);
}

void server_arrived(struct server *server)
{
	usec_t since = server->idle_since;

	enter_state(server, SV_IDLE);
	server->idle_since = since; /* idle all the way */
	conn_update_events(&server->conn);
}

/* A ParameterStatus while linked: the server's value, and the client's wish, changed. */
void server_note_param(struct server *server, const uint8_t *body, uint32_t len)
{
	const char *name, *value;
	int idx;

	if (!params_parse_status(body, len, &name, &value))
		return;
	idx = params_index(&server->conn.worker->reg->tracked, name);
	if (idx < 0)
		return;
	params_set(&server->params_now, idx, value);
	/* During its login a client's values are what it asked for: compared when it ends. */
	if (server->client && server->client->phase != LOGIN_LINK)
		params_set_lazy(&server->client->params, idx, value);
}

/* Maintenance replies (reset or check query): consumed until ReadyForQuery. */
static void on_maintenance_data(struct server *server)
{
	const uint8_t *msg;
	uint32_t total;
	int r;

	while ((r = relay_next_message(&server->conn, 65536, &msg, &total)) == 1) {
		uint8_t type = msg[0];

		relay_consume(&server->conn, total);
		if (type == 'E') {
			server_close(server, "server reset or check query failed");
			return;
		}
		if (type == 'S')
			server_note_param(server, msg + 5, total - 5);
		if (type == 'Z' && server->expect_rfq > 1) {
			server->expect_rfq--;
			continue;
		}
		if (type == 'Z') {
			server->expect_rfq = 0;
			server->ready = true;
			server->tx_status = total == 6 ? (char)msg[5] : 'E';
			server_set_state(server, server->tx_status == 'I' ? SV_IDLE : SV_USED);
			if (server->state != SV_IDLE) {
				server_close(server, "server not idle after reset");
				return;
			}
			if (iobuf_unscanned(server->conn.buf) > 0) {
				server_close(server, "unexpected data after reset");
				return;
			}
			conn_release_buf_if_empty(&server->conn);
			pool_schedule(server->pool, server->conn.worker);
			return;
		}
	}
	if (r < 0)
		server_close(server, "invalid packet from server");
	else
		conn_release_buf_if_empty(&server->conn);
}

/*
 * PostgreSQL refused a value of the client's: the client gets its error once the SET has
 * ended (the server itself is fine: the SETs ran in one implicit transaction).
 */
static void params_failed(struct server *server, const uint8_t *body, uint32_t len)
{
	struct login_failure *e = &server->set_error;
	struct wire_error_fields f;

	if (!wire_parse_error(body, len, &f) || !f.message)
		f.message = "malformed error from the server";
	e->failed = true;
	snprintf(e->sqlstate, sizeof(e->sqlstate), "%s", f.sqlstate ? f.sqlstate : "08P01");
	free(e->message);
	e->message = xstrdup(f.message);
}

/* The SET answered: let the client's traffic through, then relay anything already read. */
static void params_done(struct server *server)
{
	struct client *client = server->client;

	server->setting_params = false;
	server->expect_rfq = 0;
	server->ready = true;
	if (client && server->set_error.failed) {
		server->set_error.failed = false;
		client_close(client, server->set_error.sqlstate, "%s", server->set_error.message);
		return;
	}
	if (client)
		client_resume(client);
	if (!server->conn.closed && server->conn.buf && iobuf_unscanned(server->conn.buf) > 0)
		relay_process(&server->conn);
	else if (!server->conn.closed)
		conn_release_buf_if_empty(&server->conn);
}

/* Replies to the SET of server_sync_params(): consumed; ParameterStatus noted. */
static void on_params_data(struct server *server)
{
	const uint8_t *msg;
	uint32_t total;
	int r;

	while ((r = relay_next_message(&server->conn, 65536, &msg, &total)) == 1) {
		relay_consume(&server->conn, total);
		if (msg[0] == 'E')
			params_failed(server, msg + 5, total - 5);
		if (msg[0] == 'S')
			server_note_param(server, msg + 5, total - 5);
		if (msg[0] == 'Z') {
			params_done(server);
			return;
		}
	}
	if (r < 0)
		server_close(server, "invalid packet from server");
	else
		conn_release_buf_if_empty(&server->conn);
}

bool server_sync_params(struct server *server)
{
	const struct registry *reg = server->conn.worker->reg;
	const struct param_values *want = server->client->params, *dflt = &server->pool->defaults;
	struct wire_builder b;
	size_t bound;
	uint8_t *buf;
	char *sql;
	int n;

	if (server->owner)
		return false; /* a walsender takes no SET: its values went into the startup packet */
	/* The Query message first, the SQL it is built from after it, in one scratch buffer. */
	bound = params_set_bound(&reg->tracked, want, dflt);
	buf = worker_scratch(server->conn.worker, 2 * bound + 8);
	sql = (char *)buf + bound + 8;
	n = params_build_set(&reg->tracked, want, dflt, &server->params_now, sql, bound);
	if (n == 0)
		return false;
	wire_builder_init(&b, buf, bound + 8);
	wire_query(&b, sql);
	if (n < 0 || !wire_builder_ok(&b) || !conn_send(&server->conn, buf, b.len)) {
		server_close(server, "cannot send the parameters");
		return true;
	}
	server->setting_params = true;
	server->expect_rfq = 1;
	server->ready = false;
	return true;
}

static void drain_progress(struct server *server);

static void server_on_data(struct conn *c)
{
	struct server *server = to_server(c);

	switch (relay_read(c)) {
	case IO_EOF:
		server_close(server, "server conn crashed?");
		return;
	case IO_ERROR:
		server_close(server, "server socket error");
		return;
	case IO_AGAIN:
		return;
	case IO_OK:
		break;
	}
	switch (server->state) {
	case SV_LOGIN:
		server_login_on_data(server);
		return;
	case SV_ACTIVE:
		if (server->setting_params)
			on_params_data(server);
		else
			relay_process(c);
		return;
	case SV_TESTED:
		on_maintenance_data(server);
		return;
	case SV_USED:
		if (server->draining) {
			drain_progress(server);
			return;
		}
		server_close(server, "server sent data while idle");
		return;
	default:
		server_close(server, "server sent data while idle");
		return;
	}
}

static void server_on_eof(struct conn *c, const char *reason)
{
	server_close(to_server(c), reason);
}

static void server_on_connected(struct conn *c, int err)
{
	char reason[160];

	if (!err)
		return;
	snprintf(reason, sizeof(reason), "connect failed: %s", strerror(err));
	pool_login_failed(to_server(c)->pool, c->worker, "08006", reason);
	server_close(to_server(c), reason);
}

static void server_on_protocol_error(struct conn *c, const char *sqlstate, const char *reason)
{
	(void)sqlstate;
	server_close(to_server(c), reason);
}

static const struct conn_ops server_ops = {
	.on_data = server_on_data,
	.on_message = server_on_message,
	.on_eof = server_on_eof,
	.on_protocol_error = server_on_protocol_error,
	.on_connected = server_on_connected,
	.on_flushed = server_on_flushed,
	.on_tls_done = server_tls_done,
	.tag = server_tag,
};

/* Queue entries hold a reference to the statement their Parse prepares. */
static void pending_release(void *arg, void *stmt)
{
	struct server *server = arg;

	ps_stmt_unref(server->conn.worker->reg->ps, stmt);
}

/* A Parse that failed or was skipped: the statement is not on the server after all. */
static void pending_failed(void *arg, void *stmt)
{
	struct server *server = arg;

	ps_server_forget(server->conn.worker->reg->ps, server->ps, stmt);
}

static const struct pend_hooks pending_hooks = {
	.release = pending_release,
	.failed = pending_failed,
};

bool server_login_matches(const struct server *server, const struct client *client)
{
	for (unsigned i = 0; i < server->conn.worker->reg->tracked.count; i++)
		if (!params_same_value(server_login_value(server->pool, client, (int)i),
				       server->login.v[i]))
			return false;
	return true;
}

struct server *server_launch(struct pool *pool, struct worker *w, struct client *owner,
			     struct client *for_client)
{
	struct server *server = xcalloc(1, sizeof(*server));

	server->owner = owner;
	if (owner)
		owner->dedicated = server;
	/* In session pooling it logs in with the values of the client it is opened for. */
	for (unsigned i = 0; i < w->reg->tracked.count; i++)
		params_set(&server->login, (int)i,
			   server_login_value(
			       pool, pool->mode == POOL_MODE_SESSION ? for_client : NULL, (int)i));
	if (for_client) {
		server->opened_for = for_client;
		for_client->opening = server;
	}

	conn_init(&server->conn, w, CONN_SERVER, &server_ops, -1);
	list_node_init(&server->node);
	list_node_init(&server->out_node);
	list_node_init(&server->dns.node);
	list_init(&server->cancels);
	pend_init(&server->pending, &pending_hooks);
	server->pending.hooks.arg = server;
	server->pool = pool;
	server->state = SV_LOGIN;
	server->created = server->login_start = now_usec();
	server->epoch = pool->epoch;
	registry_lock(pool->reg);
	list_append(&pool_here(pool, w)->servers[SV_LOGIN], &server->node);
	pool->db->server_count++;
	pool->user->server_count++;
	registry_unlock(pool->reg);
	server_login_start(server);
	return server;
}

static void unlink_client(struct server *server, const char *reason)
{
	struct client *client = server->client;

	pool_unlink(client, server);
	client_close(client, "08P01", "%s", reason);
}

static void close_now(struct server *server, const char *reason);

void server_close(struct server *server, const char *reason)
{
	if (server->conn.closed)
		return;
	server->conn.closed = true;
	registry_lock(server->pool->reg);
	close_now(server, reason);
	registry_unlock(server->pool->reg);
}

/* Registry lock held: its client, its counts and its place in the pool are shared. */
static void close_now(struct server *server, const char *reason)
{
	char tag[256];
	static const uint8_t terminate[5] = { 'X', 0, 0, 0, 4 };

	pool_cancel_leaving(server);
	conn_tag(&server->conn, tag, sizeof(tag));
	log_msg(LOG_LVL_LOG, tag, "closing because: %s (age=%llus)", reason,
		(unsigned long long)(usec_since(server->created, now_usec()) / USEC_PER_SEC));
	if (server->client)
		unlink_client(server, reason);
	else if (server->owner)
		client_close(server->owner, "08P01", "%s", reason);
	if (server->opened_for)
		server->opened_for->opening = NULL;
	if (server->state == SV_LOGIN && server->phase == SLOGIN_RESOLVING)
		dns_cancel(&server->dns);
	cancel_detach_server(server);
	kdf_cancel(&server->kdf);
	if (server->state != SV_LOGIN && server->conn.fd >= 0 && !server->conn.out) {
		size_t n;

		(void)conn_write(&server->conn, terminate, sizeof(terminate), &n);
	}
	server->pool->db->server_count--;
	server->pool->user->server_count--;
	conn_shutdown(&server->conn);
	auth_scram_client_reset(&server->scram);
	server_set_state(server, SV_CLOSED);
}

void server_run_maintenance(struct server *server, const char *sql)
{
	size_t cap = strlen(sql) + 8;
	struct wire_builder b;

	wire_builder_init(&b, worker_scratch(server->conn.worker, cap), cap);
	wire_query(&b, strcmp(sql, "<empty>") == 0 ? "" : sql);
	server->ready = false;
	server->expect_rfq++;
	if (server->state != SV_TESTED)
		server_set_state(server, SV_TESTED);
	if (!wire_builder_ok(&b) || !conn_send(&server->conn, b.buf, b.len)) {
		server_close(server, "cannot send the reset or check query");
		return;
	}
	conn_want_read(&server->conn, true);
}

/* Every request answered and nothing half-sent: the server can be reused (after ROLLBACK). */
static bool server_is_settled(const struct server *server)
{
	const struct iobuf *b = server->conn.buf;

	return server->ready && server->expect_rfq == 0 && server->conn.pkt_remain == 0 &&
	       server->conn.pkt_skip == 0 && !server->setting_params &&
	       server->pending.count == 0 && (!b || iobuf_unscanned(b) == 0);
}

void server_drain(struct server *server)
{
	server->draining = true;
	server->drain_since = now_usec();
}

/* Replies that were on their way to the client it no longer has are dropped. */
static void drop_output(struct server *server)
{
	struct conn *c = &server->conn;

	c->pkt_skip += c->pkt_remain;
	c->pkt_remain = 0;
	if (c->buf)
		c->buf->send_pos = c->buf->scan_pos;
}

/* Drops what has arrived (server_on_message consumes all while unlinked); released when done. */
static void drain_progress(struct server *server)
{
	if (server->conn.buf && iobuf_unscanned(server->conn.buf) > 0 &&
	    !relay_process(&server->conn))
		return;
	server_send_fakes(server); /* made-up answers at the head go nowhere now */
	if (server->conn.closed || !server_is_settled(server))
		return;
	server->draining = false;
	server_release(server);
}

static bool wants_reset(const struct server *server, const struct config *cfg)
{
	return cfg->server_reset_query[0] &&
	       (server->pool->mode == POOL_MODE_SESSION || cfg->server_reset_query_always);
}

/*
 * Deallocates, with one maintenance query, the least recently used statements beyond the
 * cache's capacity (it was lowered by a reload). Only for an unlinked server.
 */
static void trim_statements(struct server *server)
{
	struct ps_registry *reg = server->conn.worker->reg->ps;
	size_t len = 0, cap = 0;
	struct ps_stmt *st;
	char *sql = NULL;

	while (server->ps && (st = ps_server_pop_excess(server->ps))) {
		const char *name = ps_stmt_server_name(st);

		if (len + strlen(name) + 16 > cap) {
			cap = cap ? cap * 2 : 1024;
			sql = xrealloc(sql, cap);
		}
		len += (size_t)snprintf(sql + len, cap - len, "DEALLOCATE %s;", name);
		ps_stmt_unref(reg, st);
	}
	if (sql)
		server_run_maintenance(server, sql);
	free(sql);
}

void server_set_statement_capacity(struct server *server, unsigned capacity)
{
	if (!server->ps)
		return;
	ps_server_set_capacity(server->ps, capacity);
	if (server->state == SV_IDLE)
		trim_statements(server);
}

void server_release(struct server *server)
{
	const struct config *cfg = server->conn.worker->reg->cfg;

	if (server->conn.closed)
		return;
	if (server->owner) {
		server_close(server, "replication client disconnected");
		return;
	}
	if (server->draining) {
		drop_output(server);
		if (server->state != SV_USED)
			server_set_state(server, SV_USED);
		conn_want_read(&server->conn, true);
		drain_progress(server);
		return;
	}
	if (!server_is_settled(server)) {
		server_close(server, "client disconnect while server was not ready");
		return;
	}
	if (server->conn.buf) {
		server->conn.buf->send_pos = server->conn.buf->scan_pos;
		conn_release_buf_if_empty(&server->conn);
	}
	conn_update_events(&server->conn);
	if (!list_empty(&server->cancels)) {
		if (server->state != SV_USED)
			server_set_state(server, SV_USED);
		return;
	}
	if (server->close_needed) {
		server_close(server, "obsolete connection");
		return;
	}
	if (server->tx_status != 'I')
		server_run_maintenance(server, "ROLLBACK");
	if (!server->conn.closed && wants_reset(server, cfg)) {
		ps_server_clear(server->conn.worker->reg->ps, server->ps);
		server_run_maintenance(server, cfg->server_reset_query);
	}
	if (!server->conn.closed)
		trim_statements(server);
	if (server->conn.closed || server->state == SV_TESTED)
		return;
	server_set_state(server, SV_IDLE);
	pool_schedule(server->pool, server->conn.worker);
}

void server_free(struct server *server)
{
	pend_free(&server->pending);
	ps_server_set_free(server->conn.worker->reg->ps, server->ps);
	params_clear(&server->params_now);
	params_clear(&server->login);
	free(server->set_error.message);
	free(server->params);
	free(server);
}
