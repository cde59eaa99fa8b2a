/* SPDX-License-Identifier: ISC */
/*
 * The console's SHOW table and the SHOWs about connections, pools, databases, users and
 * the process. Columns, their order and their wire types are PgBouncer's (doc/admin.md);
 * the statistics SHOWs are in admin_stats.c. Every reply streams through a rowset.
 *
 * Entry points: admin_show, and the show_* helpers of admin_show.h.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "admin_show.h"
#include "client.h"
#include "auth_file.h"
#include "config.h"
#include "config_auto.h"
#include "dns.h"
#include "iobuf.h"
#include "params.h"
#include "pool.h"
#include "prepared.h"
#include "registry.h"
#include "reload.h"
#include "server.h"
#include "stats.h"
#include "worker.h"

/* ---- helpers shared with admin_stats.c ---- */

void show_begin(struct show *sh, const struct rs_column *cols, unsigned n)
{
	rowset_begin(sh->rs, &sh->client->conn, cols, n);
}

void show_end(struct show *sh)
{
	uint8_t rfq[8];
	struct wire_builder b;

	if (!rowset_end(sh->rs, "SHOW")) {
		client_close(sh->client, NULL, "client socket error");
		return;
	}
	wire_builder_init(&b, rfq, sizeof(rfq));
	wire_ready_for_query(&b, 'I');
	if (!conn_send(&sh->client->conn, b.buf, b.len))
		client_close(sh->client, NULL, "client socket error");
}

const char *show_changeable(const struct config_key *key)
{
	return key->flags & CONFIG_RELOAD ? "yes" : "no";
}

/* A wall-clock time as PgBouncer prints it: "2026-07-10 12:00:00 UTC", local time. */
static void rs_time(struct rowset *rs, usec_t wall)
{
	char buf[64];
	time_t t = (time_t)(wall / USEC_PER_SEC);
	struct tm tm;

	if (!wall || !localtime_r(&t, &tm) ||
	    !strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S %Z", &tm)) {
		rs_null(rs);
		return;
	}
	rs_text(rs, buf);
}

/* A monotonic stamp as wall-clock time. */
static usec_t to_wall(const struct show *sh, usec_t mono)
{
	usec_t ago = usec_since(mono, sh->now);

	return mono && ago < sh->wall ? sh->wall - ago : 0;
}

static const char *db_pool_mode(const struct db_def *def)
{
	return def && def->pool_mode >= 0 ? pool_mode_name((enum pool_mode)def->pool_mode) : NULL;
}

static const char *db_load_balance(const struct db_def *def)
{
	return def && def->host && strchr(def->host, ',')
		   ? load_balance_hosts_name((enum load_balance_hosts)def->load_balance_hosts)
		   : NULL;
}

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
	rs_time(rs, c->connect_time);
	rs_time(rs, r->request_wall ? r->request_wall : c->connect_time);
	rs_int(rs, (long long)(r->waited / USEC_PER_SEC));
	rs_int(rs, (long long)(r->waited % USEC_PER_SEC));
	rs_int(rs, r->close_needed);
	rs_ptr(rs, c);
	rs_ptr(rs, r->link);
	rs_int(rs, r->remote_pid);
	rs_text(rs, "");
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
		.request_wall = to_wall(sh, client->request_time),
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
		.request_wall = to_wall(sh, server->request_start),
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

static void show_sockets_view(struct show *sh, enum socket_view view)
{
	const struct worker *w = sh->client->conn.worker;
	bool sockets = view >= VIEW_SOCKETS;
	const struct list_node *n, *t;
	static const int server_order[] = { SV_ACTIVE, SV_IDLE, SV_USED, SV_TESTED, SV_LOGIN };

	show_begin(sh, socket_cols, sockets ? ARRAY_SIZE(socket_cols) : SOCKET_COLS_BASE);
	if (view != VIEW_SERVERS) {
		list_clients(sh, &w->console_clients, view);
		if (sockets)
			list_clients(sh, &w->login_clients, view);
	}
	list_for_each_safe(n, t, &w->reg->pools) {
		const struct pool *pool = list_entry(n, struct pool, node);

		if (view != VIEW_SERVERS) {
			list_clients(sh, &pool->clients[CL_ACTIVE], view);
			list_clients(sh, &pool->clients[CL_WAITING], view);
			if (sockets)
				list_clients(sh, &pool->clients[CL_WAIT_WELCOME], view);
		}
		if (view == VIEW_CLIENTS)
			continue;
		for (size_t i = 0; i < ARRAY_SIZE(server_order); i++)
			list_servers(sh, &pool->servers[server_order[i]], view);
	}
	show_end(sh);
}

static void show_clients(struct show *sh)
{
	show_sockets_view(sh, VIEW_CLIENTS);
}

static void show_servers(struct show *sh)
{
	show_sockets_view(sh, VIEW_SERVERS);
}

static void show_sockets(struct show *sh)
{
	show_sockets_view(sh, VIEW_SOCKETS);
}

static void show_active_sockets(struct show *sh)
{
	show_sockets_view(sh, VIEW_ACTIVE_SOCKETS);
}

/* ---- SHOW POOLS ---- */

static void show_pools(struct show *sh)
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
	rs_uint(rs, w->console_clients.count);
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
		rs_text(rs, db_load_balance(pool->db->def));
	}
	show_end(sh);
}

/* ---- SHOW DATABASES, USERS, PEERS, PEER_POOLS ---- */

/* Every database weir knows, in the order SHOW lists them: the config's, then automatic. */
void show_for_each_db(struct show *sh, void (*fn)(struct show *sh, struct database *db))
{
	struct registry *reg = sh->client->conn.worker->reg;
	const struct config *cfg = reg->cfg;
	struct list_node *n, *t;

	for (size_t i = 0; i < cfg->ndbs; i++) {
		struct database *db;

		if (strcmp(cfg->dbs[i].name, "*") == 0)
			continue;
		db = registry_database(reg, cfg->dbs[i].name);
		if (db)
			fn(sh, db);
	}
	list_for_each_safe(n, t, &reg->databases) {
		struct database *db = list_entry(n, struct database, node);

		if (db->auto_dbname && !db->removed_from)
			fn(sh, db);
	}
}

static int pick(int own, int global)
{
	return own >= 0 ? own : global;
}

static void database_row(struct show *sh, struct database *db)
{
	const struct config *cfg = sh->client->conn.worker->reg->cfg;
	const struct db_def *d = db->def;
	struct rowset *rs = sh->rs;

	rs_text(rs, db->name);
	rs_text(rs, d->host);
	rs_int(rs, d->port);
	rs_text(rs, database_server_dbname(db));
	rs_text(rs, d->user);
	rs_int(rs, pick(d->pool_size, cfg->default_pool_size));
	rs_int(rs, pick(d->min_pool_size, cfg->min_pool_size));
	rs_int(rs, pick(d->reserve_pool_size, cfg->reserve_pool_size));
	rs_int(rs, (long long)((d->server_lifetime != USEC_UNSET ? d->server_lifetime
								 : cfg->server_lifetime) /
			       USEC_PER_SEC));
	rs_text(rs, db_pool_mode(d));
	rs_text(rs, db_load_balance(d));
	rs_int(rs, pick(d->max_db_connections, cfg->max_db_connections));
	rs_uint(rs, db->server_count);
	rs_int(rs, pick(d->max_db_client_connections, cfg->max_db_client_connections));
	rs_uint(rs, db->client_count);
	rs_int(rs, db->paused);
	rs_int(rs, db->disabled);
}

static void show_databases(struct show *sh)
{
	static const struct rs_column cols[] = {
		{ "name", RS_TEXT },
		{ "host", RS_TEXT },
		{ "port", RS_INT4 },
		{ "database", RS_TEXT },
		{ "force_user", RS_TEXT },
		{ "pool_size", RS_INT4 },
		{ "min_pool_size", RS_INT4 },
		{ "reserve_pool_size", RS_INT4 },
		{ "server_lifetime", RS_INT4 },
		{ "pool_mode", RS_TEXT },
		{ "load_balance_hosts", RS_TEXT },
		{ "max_connections", RS_INT4 },
		{ "current_connections", RS_INT4 },
		{ "max_client_connections", RS_INT4 },
		{ "current_client_connections", RS_INT4 },
		{ "paused", RS_INT4 },
		{ "disabled", RS_INT4 },
	};
	const struct worker *w = sh->client->conn.worker;
	struct rowset *rs = sh->rs;

	show_begin(sh, cols, ARRAY_SIZE(cols));
	/* The console, as PgBouncer lists its admin database. */
	rs_text(rs, sh->client->db_name);
	rs_null(rs);
	rs_int(rs, w->reg->cfg->listen_port);
	rs_text(rs, sh->client->db_name);
	rs_text(rs, sh->client->db_name);
	rs_int(rs, 2);
	rs_int(rs, 0);
	rs_int(rs, 0);
	rs_int(rs, 0);
	rs_text(rs, "statement");
	rs_null(rs);
	rs_int(rs, 0);
	rs_int(rs, 0);
	rs_int(rs, 0);
	rs_uint(rs, w->console_clients.count);
	rs_int(rs, 0);
	rs_int(rs, 0);
	show_for_each_db(sh, database_row);
	show_end(sh);
}

static void rs_size_text(struct rowset *rs, int v)
{
	char buf[16];

	if (v < 0) {
		rs_text(rs, "");
		return;
	}
	snprintf(buf, sizeof(buf), "%9d", v);
	rs_text(rs, buf);
}

/*
 * Every user weir knows, as PgBouncer lists them: the console's own, the registered ones
 * ([users] entries, users that logged in), then the auth_file's others. Returns how many.
 */
static size_t for_each_user(struct show *sh,
			    void (*fn)(struct show *sh, const char *name, const struct user *u))
{
	const struct registry *reg = sh->client->conn.worker->reg;
	const struct list_node *n, *t;
	size_t count = 1;

	if (fn)
		fn(sh, sh->client->db_name, NULL);
	list_for_each_safe(n, t, &reg->users) {
		const struct user *u = list_entry(n, struct user, node);

		if (fn)
			fn(sh, u->name, u);
		count++;
	}
	for (size_t i = 0; i < auth_file_count(reg->auth); i++) {
		const char *name = auth_file_entry(reg->auth, i)->name;

		if (registry_find_user(reg, name))
			continue;
		if (fn)
			fn(sh, name, NULL);
		count++;
	}
	return count;
}

static void user_row(struct show *sh, const char *name, const struct user *u)
{
	const struct config *cfg = sh->client->conn.worker->reg->cfg;
	const struct user_def *d = config_find_user(cfg, name);
	struct rowset *rs = sh->rs;

	rs_text(rs, name);
	rs_size_text(rs, d ? d->pool_size : -1);
	rs_size_text(rs, d ? d->reserve_pool_size : -1);
	rs_text(rs, d && d->pool_mode >= 0 ? pool_mode_name((enum pool_mode)d->pool_mode) : NULL);
	rs_int(rs, pick(d ? d->max_user_connections : -1, cfg->max_user_connections));
	rs_uint(rs, u ? u->server_count : 0);
	rs_int(rs, pick(d ? d->max_user_client_connections : -1, cfg->max_user_client_connections));
	rs_uint(rs, u ? u->client_count : 0);
}

static void show_users(struct show *sh)
{
	static const struct rs_column cols[] = {
		{ "name", RS_TEXT },
		{ "pool_size", RS_TEXT },
		{ "reserve_pool_size", RS_TEXT },
		{ "pool_mode", RS_TEXT },
		{ "max_user_connections", RS_INT4 },
		{ "current_connections", RS_INT4 },
		{ "max_user_client_connections", RS_INT4 },
		{ "current_client_connections", RS_INT4 },
	};

	show_begin(sh, cols, ARRAY_SIZE(cols));
	(void)for_each_user(sh, user_row);
	show_end(sh);
}

static void show_peers(struct show *sh)
{
	static const struct rs_column cols[] = {
		{ "peer_id", RS_INT4 },
		{ "host", RS_TEXT },
		{ "port", RS_INT4 },
		{ "pool_size", RS_INT4 },
	};
	const struct config *cfg = sh->client->conn.worker->reg->cfg;

	show_begin(sh, cols, ARRAY_SIZE(cols));
	for (size_t i = 0; i < cfg->npeers; i++) {
		rs_int(sh->rs, cfg->peers[i].peer_id);
		rs_text(sh->rs, cfg->peers[i].host);
		rs_int(sh->rs, cfg->peers[i].port);
		rs_int(sh->rs, cfg->peers[i].pool_size);
	}
	show_end(sh);
}

static void show_peer_pools(struct show *sh)
{
	static const struct rs_column cols[] = {
		{ "peer_id", RS_INT4 },
		{ "cl_active_cancel_req", RS_INT4 },
		{ "cl_waiting_cancel_req", RS_INT4 },
		{ "sv_active_cancel", RS_INT4 },
		{ "sv_login", RS_INT4 },
	};

	show_begin(sh, cols, ARRAY_SIZE(cols)); /* weir does not forward cancels to peers yet */
	show_end(sh);
}

/* ---- SHOW LISTS, MEM ---- */

struct counts {
	unsigned clients, servers;
};

static struct counts count_connections(const struct worker *w)
{
	struct counts c = { .clients = w->console_clients.count };
	const struct list_node *n, *t;

	list_for_each_safe(n, t, &w->reg->pools) {
		const struct pool *pool = list_entry(n, struct pool, node);

		for (int s = CL_WAIT_WELCOME; s < CL_CLOSED; s++)
			c.clients += pool->clients[s].count;
		c.servers += pool_server_count(pool);
	}
	return c;
}

static void name_value(struct rowset *rs, const char *name, unsigned long long v)
{
	rs_text(rs, name);
	rs_uint(rs, v);
}

static void count_one(struct show *sh, struct database *db)
{
	(void)db;
	sh->view++;
}

static unsigned count_databases(struct show *sh)
{
	sh->view = 0;
	show_for_each_db(sh, count_one);
	return (unsigned)sh->view;
}

static void show_lists(struct show *sh)
{
	static const struct rs_column cols[] = { { "list", RS_TEXT }, { "items", RS_INT4 } };
	const struct worker *w = sh->client->conn.worker;
	const struct registry *reg = w->reg;
	struct counts c = count_connections(w);
	struct rowset *rs = sh->rs;

	show_begin(sh, cols, ARRAY_SIZE(cols));
	/* the console counts as a database, a user and a pool, as PgBouncer's does */
	name_value(rs, "databases", count_databases(sh) + 1);
	name_value(rs, "users", for_each_user(sh, NULL));
	name_value(rs, "peers", reg->cfg->npeers);
	name_value(rs, "pools", reg->pools.count + 1);
	name_value(rs, "peer_pools", 0);
	name_value(rs, "free_clients", 0);
	name_value(rs, "used_clients", c.clients + w->login_clients.count);
	name_value(rs, "login_clients", w->login_clients.count);
	name_value(rs, "free_servers", 0);
	name_value(rs, "used_servers", c.servers);
	name_value(rs, "dns_names", dns_names_count(w->dns));
	name_value(rs, "dns_zones", 0);
	name_value(rs, "dns_queries", dns_pending_count(w->dns));
	name_value(rs, "dns_pending", dns_pending_count(w->dns));
	show_end(sh);
}

static void mem_row(struct rowset *rs, const char *name, size_t size, unsigned used, unsigned free_)
{
	rs_text(rs, name);
	rs_uint(rs, size);
	rs_uint(rs, used);
	rs_uint(rs, free_);
	rs_uint(rs, (unsigned long long)size * (used + free_));
}

static void show_mem(struct show *sh)
{
	static const struct rs_column cols[] = {
		{ "name", RS_TEXT }, { "size", RS_INT4 },     { "used", RS_INT4 },
		{ "free", RS_INT4 }, { "memtotal", RS_INT4 },
	};
	const struct worker *w = sh->client->conn.worker;
	const struct registry *reg = w->reg;
	struct counts c = count_connections(w);
	struct rowset *rs = sh->rs;

	show_begin(sh, cols, ARRAY_SIZE(cols));
	mem_row(rs, "user_cache", sizeof(struct user), reg->users.count, 0);
	mem_row(rs, "db_cache", sizeof(struct database), reg->databases.count, 0);
	mem_row(rs, "pool_cache", sizeof(struct pool), reg->pools.count, 0);
	mem_row(rs, "server_cache", sizeof(struct server), c.servers, 0);
	mem_row(rs, "client_cache", sizeof(struct client), c.clients + w->login_clients.count, 0);
	mem_row(rs, "iobuf_cache", sizeof(struct iobuf) + w->bufs.size, w->bufs.in_use,
		w->bufs.free.count);
	mem_row(rs, "server_prepared_statement_cache", 0, (unsigned)ps_registry_count(reg->ps), 0);
	show_end(sh);
}

/* ---- SHOW DNS_HOSTS, DNS_ZONES ---- */

static void dns_host_row(void *arg, const char *host, usec_t ttl, const struct dns_result *res)
{
	struct rowset *rs = arg;
	char addrs[512] = "", one[CONN_ADDR_LEN];
	size_t len = 0;

	for (int i = 0; res && i < res->naddrs && len + CONN_ADDR_LEN + 2 < sizeof(addrs); i++) {
		struct conn tmp = { .family = AF_UNIX };

		conn_set_addr(&tmp, (const struct sockaddr *)&res->addrs[i]);
		len += (size_t)snprintf(addrs + len, sizeof(addrs) - len, "%s%s", i ? "," : "",
					conn_addr(&tmp, one));
	}
	rs_text(rs, host);
	rs_uint(rs, ttl);
	rs_text(rs, addrs);
}

static void show_dns_hosts(struct show *sh)
{
	static const struct rs_column cols[] = {
		{ "hostname", RS_TEXT },
		{ "ttl", RS_INT8 },
		{ "addrs", RS_TEXT },
	};

	show_begin(sh, cols, ARRAY_SIZE(cols));
	dns_for_each_name(sh->client->conn.worker->dns, dns_host_row, sh->rs);
	show_end(sh);
}

static void show_dns_zones(struct show *sh)
{
	static const struct rs_column cols[] = {
		{ "zonename", RS_TEXT },
		{ "serial", RS_INT8 },
		{ "count", RS_INT4 },
	};

	show_begin(sh, cols, ARRAY_SIZE(cols)); /* dns_zone_check_period is not implemented */
	show_end(sh);
}

/* ---- SHOW CONFIG, STATE, VERSION, FDS, HELP ---- */

static void show_config(struct show *sh)
{
	static const struct rs_column cols[] = {
		{ "key", RS_TEXT },
		{ "value", RS_TEXT },
		{ "default", RS_TEXT },
		{ "changeable", RS_TEXT },
	};
	const struct registry *reg = sh->client->conn.worker->reg;
	char value[1024], changeable[1100];

	show_begin(sh, cols, ARRAY_SIZE(cols));
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];
		const char *pending = reload_pending_value(reg, k);

		/* value is what runs; a file value waiting for a restart is told apart */
		config_format_value(reg->cfg, k, value, sizeof(value));
		snprintf(changeable, sizeof(changeable), "%s", show_changeable(k));
		if (pending)
			snprintf(changeable, sizeof(changeable), "no (restart needed for \"%s\")",
				 pending);
		rs_text(sh->rs, k->name);
		rs_text(sh->rs, value);
		rs_text(sh->rs, k->default_value);
		rs_text(sh->rs, changeable);
	}
	show_end(sh);
}

static void show_state(struct show *sh)
{
	static const struct rs_column cols[] = { { "key", RS_TEXT }, { "value", RS_TEXT } };
	const struct registry *reg = sh->client->conn.worker->reg;

	show_begin(sh, cols, ARRAY_SIZE(cols));
	rs_text(sh->rs, "active");
	rs_text(sh->rs, !reg->paused && !reg->suspended ? "yes" : "no");
	rs_text(sh->rs, "paused");
	rs_text(sh->rs, reg->paused ? "yes" : "no");
	rs_text(sh->rs, "suspended");
	rs_text(sh->rs, reg->suspended ? "yes" : "no");
	show_end(sh);
}

static void show_version(struct show *sh)
{
	static const struct rs_column cols[] = { { "version", RS_TEXT } };

	show_begin(sh, cols, ARRAY_SIZE(cols));
	rs_text(sh->rs, "weir " PACKAGE_VERSION);
	show_end(sh);
}

static void show_fds(struct show *sh)
{
	static const struct rs_column cols[] = {
		{ "fd", RS_INT4 },
		{ "task", RS_TEXT },
		{ "user", RS_TEXT },
		{ "database", RS_TEXT },
		{ "addr", RS_TEXT },
		{ "port", RS_INT4 },
		{ "cancel", RS_INT8 },
		{ "link", RS_INT4 },
		{ "client_encoding", RS_TEXT },
		{ "std_strings", RS_TEXT },
		{ "datestyle", RS_TEXT },
		{ "timezone", RS_TEXT },
		{ "password", RS_TEXT },
		{ "scram_client_key", RS_BYTEA },
		{ "scram_server_key", RS_BYTEA },
	};

	admin_notice(sh->client, "weir does not support online restart: SHOW FDS lists nothing",
		     NULL);
	show_begin(sh, cols, ARRAY_SIZE(cols));
	show_end(sh);
}

static void show_help(struct show *sh)
{
	admin_notice(sh->client, "Console usage",
		     "\n\tSHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION"
		     "\n\tSHOW PEERS|PEER_POOLS"
		     "\n\tSHOW FDS|SOCKETS|ACTIVE_SOCKETS|LISTS|MEM|STATE"
		     "\n\tSHOW DNS_HOSTS|DNS_ZONES"
		     "\n\tSHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS"
		     "\n\tSHOW LATENCY (weir)"
		     "\n\tSET key = arg"
		     "\n\tRELOAD"
		     "\n\tPAUSE [<db>]"
		     "\n\tRESUME [<db>]"
		     "\n\tDISABLE <db>"
		     "\n\tENABLE <db>"
		     "\n\tRECONNECT [<db>]"
		     "\n\tKILL [<db>]"
		     "\n\tKILL_CLIENT <client_id>"
		     "\n\tSUSPEND"
		     "\n\tSHUTDOWN"
		     "\n\tSHUTDOWN WAIT_FOR_SERVERS|WAIT_FOR_CLIENTS"
		     "\n\tWAIT_CLOSE [<db>]");
	if (!sh->client->conn.closed)
		admin_complete(sh->client, "SHOW");
}

/* ---- the fake parameters drivers ask for ---- */

static bool show_fake(struct show *sh, const char *name)
{
	static const char *const fakes[][2] = {
		{ "client_encoding", "UTF-8" },
		{ "default_transaction_isolation", "read committed" },
		{ "standard_conforming_strings", "on" },
		{ "datestyle", "ISO" },
		{ "timezone", "GMT" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(fakes); i++) {
		struct rs_column col = { fakes[i][0], RS_TEXT };

		if (strcasecmp(name, fakes[i][0]) != 0)
			continue;
		show_begin(sh, &col, 1);
		rs_text(sh->rs, fakes[i][1]);
		show_end(sh);
		return true;
	}
	return false;
}

/* ---- the table ---- */

static const struct show_entry shows[] = {
	{ "help", false, show_help },
	{ "stats", false, show_stats },
	{ "stats_totals", false, show_stats_totals },
	{ "stats_averages", false, show_stats_averages },
	{ "totals", false, show_totals },
	{ "latency", false, show_latency },
	{ "pools", false, show_pools },
	{ "clients", false, show_clients },
	{ "servers", false, show_servers },
	{ "sockets", false, show_sockets },
	{ "active_sockets", false, show_active_sockets },
	{ "databases", false, show_databases },
	{ "users", false, show_users },
	{ "peers", false, show_peers },
	{ "peer_pools", false, show_peer_pools },
	{ "lists", false, show_lists },
	{ "mem", false, show_mem },
	{ "dns_hosts", false, show_dns_hosts },
	{ "dns_zones", false, show_dns_zones },
	{ "config", false, show_config },
	{ "state", false, show_state },
	{ "version", false, show_version },
	{ "fds", true, show_fds },
};

bool admin_show(struct client *client, const char *name, const char *arg)
{
	struct show sh = { .client = client, .now = now_usec(), .wall = wall_usec() };
	bool found;

	(void)arg;
	for (size_t i = 0; i < ARRAY_SIZE(shows); i++) {
		if (strcasecmp(name, shows[i].name) != 0)
			continue;
		if (shows[i].needs_admin && client->admin != ADMIN_FULL) {
			admin_error(client, "08P01", "admin access needed");
			return true;
		}
		sh.rs = xmalloc(sizeof(*sh.rs));
		shows[i].run(&sh);
		free(sh.rs);
		return true;
	}
	sh.rs = xmalloc(sizeof(*sh.rs));
	found = show_fake(&sh, name);
	free(sh.rs);
	return found;
}
