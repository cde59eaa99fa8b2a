/* SPDX-License-Identifier: ISC */
/*
 * The console's SHOWs about what weir is configured with and holds: DATABASES, USERS,
 * PEERS, PEER_POOLS, LISTS, MEM, DNS_HOSTS and DNS_ZONES, with PgBouncer's columns
 * (doc/admin.md). The console itself is listed as PgBouncer lists its admin database.
 *
 * Entry points: show_for_each_db, show_databases, show_users, show_peers, show_peer_pools,
 * show_lists, show_mem, show_dns_hosts, show_dns_zones.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "admin_show.h"
#include "auth_file.h"
#include "client.h"
#include "config.h"
#include "dns.h"
#include "iobuf.h"
#include "pool.h"
#include "prepared.h"
#include "registry.h"
#include "server.h"
#include "worker.h"

/* ---- SHOW DATABASES, USERS, PEERS, PEER_POOLS ---- */

/* Every database weir knows, in the order SHOW lists them: the config's, then automatic. */
unsigned show_for_each_db(struct show *sh, void (*fn)(struct show *sh, struct database *db))
{
	struct registry *reg = sh->client->conn.worker->reg;
	const struct config *cfg = reg->cfg;
	struct list_node *n, *t;
	unsigned count = 0;

	for (size_t i = 0; i < cfg->ndbs; i++) {
		struct database *db;

		if (strcmp(cfg->dbs[i].name, "*") == 0)
			continue;
		db = registry_database(reg, cfg->dbs[i].name);
		if (!db)
			continue;
		count++;
		if (fn)
			fn(sh, db);
	}
	list_for_each_safe(n, t, &reg->databases) {
		struct database *db = list_entry(n, struct database, node);

		if (!db->auto_dbname || db->removed_from)
			continue;
		count++;
		if (fn)
			fn(sh, db);
	}
	return count;
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
	rs_text(rs, show_db_pool_mode(d));
	rs_text(rs, show_db_load_balance(d));
	rs_int(rs, pick(d->max_db_connections, cfg->max_db_connections));
	rs_uint(rs, db->server_count);
	rs_int(rs, pick(d->max_db_client_connections, cfg->max_db_client_connections));
	rs_uint(rs, db->client_count);
	rs_int(rs, db->paused);
	rs_int(rs, db->disabled);
}

void show_databases(struct show *sh)
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

void show_users(struct show *sh)
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

void show_peers(struct show *sh)
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

void show_peer_pools(struct show *sh)
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
	struct counts c = { .clients = admin_console_count(w->reg) };
	const struct list_node *n, *t;

	list_for_each_safe(n, t, &w->reg->pools) {
		const struct pool *pool = list_entry(n, struct pool, node);

		for (int s = CL_WAIT_WELCOME; s < CL_CLOSED; s++)
			c.clients += pool_count_clients(pool, (enum client_state)s);
		c.servers += pool_server_count(pool);
	}
	return c;
}

static void name_value(struct rowset *rs, const char *name, unsigned long long v)
{
	rs_text(rs, name);
	rs_uint(rs, v);
}

void show_lists(struct show *sh)
{
	static const struct rs_column cols[] = { { "list", RS_TEXT }, { "items", RS_INT4 } };
	const struct worker *w = sh->client->conn.worker;
	const struct registry *reg = w->reg;
	struct counts c = count_connections(w);
	struct rowset *rs = sh->rs;

	show_begin(sh, cols, ARRAY_SIZE(cols));
	/* the console counts as a database, a user and a pool, as PgBouncer's does */
	name_value(rs, "databases", show_for_each_db(sh, NULL) + 1);
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

void show_mem(struct show *sh)
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

void show_dns_hosts(struct show *sh)
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

void show_dns_zones(struct show *sh)
{
	static const struct rs_column cols[] = {
		{ "zonename", RS_TEXT },
		{ "serial", RS_INT8 },
		{ "count", RS_INT4 },
	};

	show_begin(sh, cols, ARRAY_SIZE(cols)); /* dns_zone_check_period is not implemented */
	show_end(sh);
}
