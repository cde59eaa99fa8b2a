/* SPDX-License-Identifier: ISC */
/*
 * The console's SHOW table, the helpers its SHOW modules share, and the SHOWs about the
 * process itself (CONFIG, STATE, VERSION, FDS, HELP, and the parameters drivers ask for).
 * Columns, their order and their wire types are PgBouncer's (doc/admin.md); connections
 * are in admin_show_conns.c, configured objects in admin_show_objs.c, statistics in
 * admin_stats.c. Every reply streams through a rowset.
 *
 * Entry points: admin_show, and the show_* helpers of admin_show.h.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "admin_show.h"
#include "client.h"
#include "config.h"
#include "config_auto.h"
#include "registry.h"
#include "reload.h"
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
void show_time(struct rowset *rs, usec_t wall)
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
usec_t show_to_wall(const struct show *sh, usec_t mono)
{
	usec_t ago = usec_since(mono, sh->now);

	return mono && ago < sh->wall ? sh->wall - ago : 0;
}

const char *show_db_pool_mode(const struct db_def *def)
{
	return def && def->pool_mode >= 0 ? pool_mode_name((enum pool_mode)def->pool_mode) : NULL;
}

const char *show_db_load_balance(const struct db_def *def)
{
	return def && def->host && strchr(def->host, ',')
		   ? load_balance_hosts_name((enum load_balance_hosts)def->load_balance_hosts)
		   : NULL;
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

bool admin_show(struct client *client, const char *name)
{
	struct show sh = { .client = client, .now = now_usec(), .wall = wall_usec() };
	bool found;

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
