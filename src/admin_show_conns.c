/* SPDX-License-Identifier: ISC */
/*
 * The console's SHOWs about connections: CLIENTS, SERVERS, SOCKETS, ACTIVE_SOCKETS and
 * POOLS, with PgBouncer's columns (doc/admin.md). Pool figures come from
 * stats_pool_state(), which /metrics reads too.
 *
 * Entry points: show_clients, show_servers, show_sockets, show_active_sockets, show_pools.
 */
#include <stdio.h>
#include <sys/socket.h>

#include "admin_show.h"
#include "client.h"
#include "config.h"
#include "iobuf.h"
#include "params.h"
#include "pool.h"
#include "prepared.h"
#include "registry.h"
#include "server.h"
#include "stats.h"
#include "tls.h"
#include "worker.h"

/* ---- SHOW CLIENTS, SERVERS, SOCKETS, ACTIVE_SOCKETS ---- */

static const struct rs_column socket_cols[] = {
	{ "type", RS_TEXT },
	{ "user", RS_TEXT },
	{ "database", RS_TEXT },
	{ "replication", RS_TEXT },
	{ "state", RS_TEXT },
	{ "addr", RS_TEXT },
	{ "port", RS_INT4 },
	{ "local_addr", RS_TEXT },
	{ "local_port", RS_INT4 },
	{ "connect_time", RS_TEXT },
	{ "request_time", RS_TEXT },
	{ "wait", RS_INT4 },
	{ "wait_us", RS_INT4 },
	{ "close_needed", RS_INT4 },
	{ "ptr", RS_TEXT },
	{ "link", RS_TEXT },
	{ "remote_pid", RS_INT4 },
	{ "tls", RS_TEXT },
	{ "application_name", RS_TEXT },
	{ "prepared_statements", RS_INT4 },
	{ "id", RS_INT4 },
	{ "recv_pos", RS_INT4 },
	{ "pkt_pos", RS_INT4 },
	{ "pkt_remain", RS_INT4 },
	{ "send_pos", RS_INT4 },
	{ "send_remain", RS_INT4 },
	{ "pkt_avail", RS_INT4 },
	{ "send_avail", RS_INT4 },
};

#define SOCKET_COLS_BASE 21

enum socket_view {
	VIEW_CLIENTS,
	VIEW_SERVERS,
	VIEW_SOCKETS,
	VIEW_ACTIVE_SOCKETS,
};

/* What one row of SHOW CLIENTS/SERVERS/SOCKETS says about a connection. */
struct socket_row {
	const struct conn *conn;
	char type; /* 'C' or 'S' */
	const char *user, *database, *state, *app_name;
	uint8_t replication;
	usec_t request_wall;
	usec_t waited; /* 0 unless waiting */
	bool close_needed;
	const void *link;
	uint32_t remote_pid;
	size_t prepared;
};

static const char *const replication_names[] = { "none", "physical", "logical" };

static void rs_local_addr(struct rowset *rs, const struct conn *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char buf[CONN_ADDR_LEN];
	struct conn tmp = { .family = AF_UNIX };

	if (c->fd < 0 || getsockname(c->fd, (struct sockaddr *)&ss, &len) != 0) {
		rs_null(rs);
		rs_int(rs, 0);
		return;
	}
	conn_set_addr(&tmp, (struct sockaddr *)&ss);
	rs_text(rs, conn_addr(&tmp, buf));
	rs_int(rs, tmp.port);
}

static void rs_ptr(struct rowset *rs, const void *p)
{
	char buf[32];

	if (!p) {
		rs_text(rs, "");
		return;
	}
	snprintf(buf, sizeof(buf), "%p", p);
	rs_text(rs, buf);
}

/* The `tls` column: "TLSv1.3/TLS_AES_256_GCM_SHA384", empty for a plain socket. */
static void rs_tls(struct rowset *rs, const struct conn *c)
{
	char buf[128] = "";

	if (c->tls && !(c->tls_io & TLS_HANDSHAKE))
		tls_describe(c->tls, buf, sizeof(buf));
	rs_text(rs, buf);
}

static void socket_row(struct show *sh, const struct socket_row *r, bool with_buffers)
{
	struct rowset *rs = sh->rs;
	const struct conn *c = r->conn;
	const struct iobuf *b = c->buf;
	char addr[CONN_ADDR_LEN], type[2] = { r->type, '\0' };

	rs_text(rs, type);
	rs_text(rs, r->user ? r->user : "(nouser)");
	rs_text(rs, r->database ? r->database : "(nodb)");
	rs_text(rs, replication_names[r->replication < 3 ? r->replication : 0]);
	rs_text(rs, r->state);
	rs_text(rs, conn_addr(c, addr));
	rs_int(rs, c->port);
	rs_local_addr(rs, c);
	show_time(rs, c->connect_time);
	show_time(rs, r->request_wall ? r->request_wall : c->connect_time);
	rs_int(rs, (long long)(r->waited / USEC_PER_SEC));
	rs_int(rs, (long long)(r->waited % USEC_PER_SEC));
	rs_int(rs, r->close_needed);
	rs_ptr(rs, c);
	rs_ptr(rs, r->link);
	rs_int(rs, r->remote_pid);
	rs_tls(rs, c);
	rs_text(rs, r->app_name ? r->app_name : "");
	rs_int(rs, (long long)r->prepared);
	rs_int(rs, c->id);
	if (!with_buffers)
		return;
	rs_int(rs, b ? b->recv_pos : 0);
	rs_int(rs, b ? b->scan_pos : 0);
	rs_int(rs, c->pkt_remain);
	rs_int(rs, b ? b->send_pos : 0);
	rs_int(rs, 0);
	rs_int(rs, b ? iobuf_unscanned(b) : 0);
	rs_int(rs, b ? iobuf_unsent(b) : 0);
}

static const char *client_state_text(const struct client *client, bool sockets)
{
	switch (client->state) {
	case CL_LOGIN:
	case CL_WAIT_WELCOME:
		return "cl_login";
	case CL_WAITING:
		return sockets ? "cl_waiting" : "waiting";
	default:
		if (sockets)
			return "cl_active";
		return client->server ? "active" : "idle";
	}
}

static void client_row(struct show *sh, const struct client *client, enum socket_view view)
{
	const struct registry *reg = sh->client->conn.worker->reg;
	bool sockets = view >= VIEW_SOCKETS;
	int app = params_index(&reg->tracked, "application_name");
	struct socket_row r = {
		.conn = &client->conn,
		.type = 'C',
		.user = client->user_name,
		.database = client->db_name,
		.state = client_state_text(client, sockets),
		.app_name = params_get(client->params, app),
		.replication = client->replication,
		.request_wall = show_to_wall(sh, client->request_time),
		.waited =
		    client->state == CL_WAITING ? usec_since(client->request_time, sh->now) : 0,
		.link = client->server,
		.prepared = ps_client_count(client->ps),
	};

	if (view == VIEW_ACTIVE_SOCKETS && !client->conn.buf && !client->conn.out)
		return;
	socket_row(sh, &r, sockets);
}

static const char *const server_states[SV_STATE_COUNT][2] = {
	[SV_LOGIN] = { "new", "sv_login" },	 [SV_IDLE] = { "idle", "sv_idle" },
	[SV_ACTIVE] = { "active", "sv_active" }, [SV_USED] = { "used", "sv_used" },
	[SV_TESTED] = { "tested", "sv_tested" }, [SV_CLOSED] = { "closed", "sv_closed" },
};

static void server_row(struct show *sh, const struct server *server, enum socket_view view)
{
	const struct registry *reg = sh->client->conn.worker->reg;
	bool sockets = view >= VIEW_SOCKETS;
	int app = params_index(&reg->tracked, "application_name");
	const char *state = server_states[server->state][sockets];
	struct socket_row r = {
		.conn = &server->conn,
		.type = 'S',
		.user = server->pool->user->name,
		.database = server->pool->db->name,
		.state = !sockets && server->cancels.count ? "being_canceled" : state,
		.app_name = params_get(&server->params_now, app),
		.replication = server->owner ? server->owner->replication : 0,
		.request_wall = show_to_wall(sh, server->request_start),
		.close_needed = server->close_needed,
		.link = server->client,
		.remote_pid = server->backend_pid,
		.prepared = server->ps ? ps_server_count(server->ps) : 0,
	};

	if (view == VIEW_ACTIVE_SOCKETS && !server->conn.buf && !server->conn.out)
		return;
	socket_row(sh, &r, sockets);
}

static void list_clients(struct show *sh, const struct list_head *list, enum socket_view view)
{
	const struct list_node *n, *t;

	list_for_each_safe(n, t, list) {
		client_row(sh, list_entry(n, struct client, node), view);
	}
}

static void list_servers(struct show *sh, const struct list_head *list, enum socket_view view)
{
	const struct list_node *n, *t;

	list_for_each_safe(n, t, list) {
		server_row(sh, list_entry(n, struct server, node), view);
	}
}

/* One worker's connections of a pool, in SHOW's order. */
static void list_local(struct show *sh, const struct pool_local *l, enum socket_view view)
{
	static const int server_order[] = { SV_ACTIVE, SV_IDLE, SV_USED, SV_TESTED, SV_LOGIN };

	if (view != VIEW_SERVERS) {
		list_clients(sh, &l->clients[CL_ACTIVE], view);
		list_clients(sh, &l->clients[CL_WAITING], view);
		if (view >= VIEW_SOCKETS)
			list_clients(sh, &l->clients[CL_WAIT_WELCOME], view);
	}
	if (view == VIEW_CLIENTS)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(server_order); i++)
		list_servers(sh, &l->servers[server_order[i]], view);
}

static void show_sockets_view(struct show *sh, enum socket_view view)
{
	const struct registry *reg = sh->client->conn.worker->reg;
	bool sockets = view >= VIEW_SOCKETS;
	const struct list_node *n, *t;

	show_begin(sh, socket_cols, sockets ? ARRAY_SIZE(socket_cols) : SOCKET_COLS_BASE);
	for (unsigned i = 0; i < reg->nworkers && view != VIEW_SERVERS; i++) {
		list_clients(sh, &reg->workers[i]->console_clients, view);
		if (sockets)
			list_clients(sh, &reg->workers[i]->login_clients, view);
	}
	list_for_each_safe(n, t, &reg->pools) {
		const struct pool *pool = list_entry(n, struct pool, node);

		for (unsigned i = 0; i < reg->worker_count; i++) /* the other workers are parked */
			list_local(sh, &pool->local[i], view);
	}
	show_end(sh);
}

void show_clients(struct show *sh)
{
	show_sockets_view(sh, VIEW_CLIENTS);
}

void show_servers(struct show *sh)
{
	show_sockets_view(sh, VIEW_SERVERS);
}

void show_sockets(struct show *sh)
{
	show_sockets_view(sh, VIEW_SOCKETS);
}

void show_active_sockets(struct show *sh)
{
	show_sockets_view(sh, VIEW_ACTIVE_SOCKETS);
}

/* ---- SHOW POOLS ---- */

void show_pools(struct show *sh)
{
	static const struct rs_column cols[] = {
		{ "database", RS_TEXT },
		{ "user", RS_TEXT },
		{ "cl_active", RS_INT4 },
		{ "cl_waiting", RS_INT4 },
		{ "cl_active_cancel_req", RS_INT4 },
		{ "cl_waiting_cancel_req", RS_INT4 },
		{ "sv_active", RS_INT4 },
		{ "sv_active_cancel", RS_INT4 },
		{ "sv_being_canceled", RS_INT4 },
		{ "sv_idle", RS_INT4 },
		{ "sv_used", RS_INT4 },
		{ "sv_tested", RS_INT4 },
		{ "sv_login", RS_INT4 },
		{ "maxwait", RS_INT4 },
		{ "maxwait_us", RS_INT4 },
		{ "pool_mode", RS_TEXT },
		{ "load_balance_hosts", RS_TEXT },
	};
	const struct worker *w = sh->client->conn.worker;
	const struct list_node *n, *t;
	struct rowset *rs = sh->rs;

	show_begin(sh, cols, ARRAY_SIZE(cols));
	/* The console's own pool, as PgBouncer lists its admin pool. */
	rs_text(rs, sh->client->db_name);
	rs_text(rs, sh->client->db_name);
	rs_uint(rs, admin_console_count(w->reg));
	for (int i = 0; i < 12; i++)
		rs_int(rs, 0);
	rs_text(rs, "statement");
	rs_null(rs);
	list_for_each_safe(n, t, &w->reg->pools) {
		const struct pool *pool = list_entry(n, struct pool, node);
		struct pool_state st;

		stats_pool_state(pool, sh->now, &st);
		rs_text(rs, pool->db->name);
		rs_text(rs, pool->user->name);
		rs_uint(rs, st.cl_active);
		rs_uint(rs, st.cl_waiting);
		rs_uint(rs, st.cl_active_cancel_req);
		rs_uint(rs, st.cl_waiting_cancel_req);
		rs_uint(rs, st.sv_active);
		rs_uint(rs, st.sv_active_cancel);
		rs_uint(rs, st.sv_being_canceled);
		rs_uint(rs, st.sv_idle);
		rs_uint(rs, st.sv_used);
		rs_uint(rs, st.sv_tested);
		rs_uint(rs, st.sv_login);
		rs_uint(rs, st.maxwait / USEC_PER_SEC);
		rs_uint(rs, st.maxwait % USEC_PER_SEC);
		rs_text(rs, pool_mode_name((enum pool_mode)pool->mode));
		rs_text(rs, show_db_load_balance(pool->db->def));
	}
	show_end(sh);
}
