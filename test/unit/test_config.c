/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for the config loader: defaults, the key table, value types, the [pgbouncer]
 * alias, error messages with their positions, %include, and [databases], [users] and
 * [peers] connection strings.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "auth_require.h"
#include "auth_scram.h"
#include "config.h"
#include "harness.h"
#include "log.h"
#include "reload.h"

#define ERRLEN 512

static struct config *load(const char *text, char *err)
{
	return config_load_string(text, "t.ini", err, ERRLEN);
}

/* Loads text that must fail and checks the first error. */
static void check_error(const char *text, const char *want)
{
	char err[ERRLEN];
	struct config *cfg = load(text, err);

	CHECK(cfg == NULL);
	CHECK_STR(err, want);
	config_unref(cfg);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return;
	fputs(text, f);
	fclose(f);
}

/* A file of the source tree, located from this file's own path. */
static void source_path(const char *rel, char *out, size_t len)
{
	const char *me = __FILE__, *tail = strstr(me, "test/unit/");

	snprintf(out, len, "%.*s%s", tail ? (int)(tail - me) : 0, me, rel);
}

static void format_key(const struct config *cfg, const char *name, char *buf, size_t len)
{
	const struct config_key *k = config_find_key(name);

	snprintf(buf, len, "(no key)");
	if (k)
		config_format_value(cfg, k, buf, len);
}

TEST(config_defaults_follow_pgbouncer)
{
	char err[ERRLEN];
	struct config *cfg = load("", err);

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK_INT(cfg->listen_port, 6432);
	CHECK_INT(cfg->pool_mode, POOL_MODE_SESSION);
	CHECK_INT(cfg->auth_type, AUTH_TYPE_MD5);
	CHECK_INT(cfg->default_pool_size, 20);
	CHECK_INT(cfg->max_client_conn, 100);
	CHECK_INT(cfg->unix_socket_mode, 0777);
	CHECK_INT(cfg->pkt_buf, 4096);
	CHECK_INT(cfg->max_packet_size, 2147483647);
	CHECK_INT(cfg->server_lifetime, 3600 * USEC_PER_SEC);
	CHECK_INT(cfg->reserve_pool_timeout, 5 * USEC_PER_SEC);
	CHECK_INT(cfg->query_wait_timeout, 120 * USEC_PER_SEC);
	CHECK_INT(cfg->server_tls_sslmode, SSLMODE_PREFER);
	CHECK_INT(cfg->syslog_facility, SYSLOG_FACILITY_DAEMON);
	CHECK_STR(cfg->unix_socket_dir, "/tmp");
	CHECK_STR(cfg->server_reset_query, "DISCARD ALL");
	CHECK_STR(cfg->server_check_query, "<empty>");
	CHECK_STR(cfg->logfile, "");
	CHECK_STR(cfg->conffile, "");
	CHECK(cfg->tcp_keepalive);
	CHECK(cfg->log_connections);
	CHECK(!cfg->syslog);
	CHECK_INT(cfg->verbose, 0);
	CHECK_INT(cfg->ndbs + cfg->nusers + cfg->npeers, 0);
	config_unref(cfg);
}

TEST(config_key_table_has_the_105_keys_in_show_config_order)
{
	size_t implemented = 0;

	CHECK_INT(config_nkeys, 106);
	for (size_t i = 0; i + 1 < config_nkeys; i++) {
		const char *a = config_keys[i].name, *b = config_keys[i + 1].name;
		bool pool_exception = strcmp(a, "pool_mode") == 0;

		CHECK(pool_exception || strcmp(a, b) < 0);
	}
	for (size_t i = 0; i < config_nkeys; i++)
		implemented += (config_keys[i].flags & CONFIG_IMPLEMENTED) != 0;
	CHECK_INT(implemented, 92);
	CHECK(config_find_key("service_name") == NULL);
	CHECK(config_find_key("pool_mode")->flags & CONFIG_RELOAD);
	CHECK(!(config_find_key("pkt_buf")->flags & CONFIG_RELOAD));
	CHECK(!(config_find_key("auth_ldap_options")->flags & CONFIG_IMPLEMENTED));
	CHECK(config_find_key("verbose")->default_value == NULL);
}

TEST(config_weir_and_pgbouncer_sections_set_the_same_keys)
{
	char err[ERRLEN];
	struct config *cfg = load("[pgbouncer]\nlisten_port = 7000\n[weir]\npool_mode = "
				  "transaction\n[pgbouncer]\nmax_client_conn = 5\n",
				  err);

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK_INT(cfg->listen_port, 7000);
	CHECK_INT(cfg->pool_mode, POOL_MODE_TRANSACTION);
	CHECK_INT(cfg->max_client_conn, 5);
	config_unref(cfg);
}

TEST(config_duplicate_key_last_one_wins)
{
	char err[ERRLEN];
	struct config *cfg =
	    load("[weir]\nlisten_port=1\nlogfile=/a\nlisten_port = 2\nlogfile=\n", err);

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK_INT(cfg->listen_port, 2);
	CHECK_STR(cfg->logfile, "");
	config_unref(cfg);
}

TEST(config_integers_use_base_0_so_0777_is_octal)
{
	char err[ERRLEN], buf[64];
	struct config *cfg =
	    load("[weir]\nunix_socket_mode = 0750\ntcp_socket_buffer = 0x100\n", err);

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK_INT(cfg->unix_socket_mode, 0750);
	CHECK_INT(cfg->tcp_socket_buffer, 256);
	format_key(cfg, "unix_socket_mode", buf, sizeof(buf));
	CHECK_STR(buf, "488");
	config_unref(cfg);
}

TEST(config_times_are_fractional_seconds)
{
	char err[ERRLEN], buf[64];
	struct config *cfg = load("[weir]\nserver_check_delay = 0.5\nquery_wait_timeout = 0\n"
				  "server_lifetime = 1e3\n",
				  err);

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK_INT(cfg->server_check_delay, 500000);
	CHECK_INT(cfg->query_wait_timeout, 0);
	CHECK_INT(cfg->server_lifetime, 1000 * USEC_PER_SEC);
	format_key(cfg, "server_check_delay", buf, sizeof(buf));
	CHECK_STR(buf, "0.5");
	format_key(cfg, "server_idle_timeout", buf, sizeof(buf));
	CHECK_STR(buf, "600");
	config_unref(cfg);
}

TEST(config_booleans_accept_numbers_and_words)
{
	char err[ERRLEN], buf[64];
	struct config *cfg = load("[weir]\ntcp_keepalive = off\nso_reuseport = Yes\n"
				  "tcp_defer_accept = 45\nsyslog = true\nlog_connections = 0\n",
				  err);

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK(!cfg->tcp_keepalive);
	CHECK(cfg->so_reuseport);
	CHECK(cfg->tcp_defer_accept);
	CHECK(cfg->syslog);
	CHECK(!cfg->log_connections);
	format_key(cfg, "so_reuseport", buf, sizeof(buf));
	CHECK_STR(buf, "1");
	config_unref(cfg);
	check_error("[weir]\nsyslog = maybe\n",
		    "t.ini:2: invalid value \"maybe\" for parameter syslog");
}

TEST(config_enums_are_case_insensitive_and_format_by_name)
{
	char err[ERRLEN], buf[64];
	struct config *cfg = load("[weir]\npool_mode = Transaction\nauth_type = SCRAM-SHA-256\n"
				  "syslog_facility = LOCAL3\nserver_tls_sslmode = verify-full\n",
				  err);

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK_INT(cfg->pool_mode, POOL_MODE_TRANSACTION);
	CHECK_INT(cfg->auth_type, AUTH_TYPE_SCRAM);
	CHECK_INT(cfg->syslog_facility, SYSLOG_FACILITY_LOCAL3);
	CHECK_INT(cfg->server_tls_sslmode, SSLMODE_VERIFY_FULL);
	format_key(cfg, "pool_mode", buf, sizeof(buf));
	CHECK_STR(buf, "transaction");
	CHECK_STR(pool_mode_name(POOL_MODE_STATEMENT), "statement");
	CHECK_STR(auth_type_name(AUTH_TYPE_SCRAM), "scram-sha-256");
	CHECK_STR(sslmode_name(SSLMODE_VERIFY_CA), "verify-ca");
	CHECK_STR(syslog_facility_name(SYSLOG_FACILITY_LOCAL7), "local7");
	CHECK_STR(load_balance_hosts_name(LB_DISABLE), "disable");
	config_unref(cfg);
}

TEST(config_unknown_parameter_names_the_section_as_written)
{
	check_error("[weir]\n\nlisten_prot = 1\n", "t.ini:3: unknown parameter: weir/listen_prot");
	check_error("[pgbouncer]\nListen_Port = 1\n",
		    "t.ini:2: unknown parameter: pgbouncer/Listen_Port");
}

TEST(config_invalid_values_are_rejected_with_position)
{
	check_error("[weir]\nlisten_port = 64k\n",
		    "t.ini:2: invalid value \"64k\" for parameter listen_port");
	check_error("[weir]\nlisten_port = 70000\n",
		    "t.ini:2: invalid value \"70000\" for parameter listen_port");
	check_error("[weir]\nlisten_port =\n",
		    "t.ini:2: invalid value \"\" for parameter listen_port");
	check_error("[weir]\ndefault_pool_size = -1\n",
		    "t.ini:2: invalid value \"-1\" for parameter default_pool_size");
	check_error("[weir]\npkt_buf = 256\n",
		    "t.ini:2: invalid value \"256\" for parameter pkt_buf");
	check_error("[weir]\nserver_lifetime = -5\n",
		    "t.ini:2: invalid value \"-5\" for parameter server_lifetime");
	check_error("[weir]\nserver_lifetime = nan\n",
		    "t.ini:2: invalid value \"nan\" for parameter server_lifetime");
	check_error("[weir]\npool_mode = sessions\n",
		    "t.ini:2: invalid value \"sessions\" for parameter pool_mode");
	check_error("[weir]\nunix_socket_mode = 0778\n",
		    "t.ini:2: invalid value \"0778\" for parameter unix_socket_mode");
}

TEST(config_server_auth_requirements_default_to_any_method_and_100000_iterations)
{
	char err[ERRLEN], buf[64];
	struct config *cfg = load("", err);

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK_STR(cfg->server_require_auth, "");
	CHECK_INT(cfg->server_require_auth_allowed, AUTH_REQUIRE_ANY);
	CHECK_INT(cfg->server_scram_max_iterations, 100000);
	CHECK(config_find_key("server_require_auth")->flags & CONFIG_RELOAD);
	CHECK(config_find_key("server_scram_max_iterations")->flags & CONFIG_RELOAD);
	config_unref(cfg);
	cfg = load("[weir]\nserver_require_auth = !password, !md5\n"
		   "server_scram_max_iterations = 10000000\n",
		   err);
	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK_INT(cfg->server_require_auth_allowed,
		  (1u << AUTH_METHOD_NONE) | (1u << AUTH_METHOD_SCRAM));
	CHECK_INT(cfg->server_scram_max_iterations, SCRAM_MAX_ITERATIONS);
	format_key(cfg, "server_require_auth", buf, sizeof(buf));
	CHECK_STR(buf, "!password, !md5");
	config_unref(cfg);
}

TEST(config_server_auth_requirements_are_checked_at_their_line)
{
	check_error("[weir]\n\nserver_require_auth = password,!md5\n",
		    "t.ini:3: invalid value \"password,!md5\" for parameter server_require_auth: "
		    "negated and plain methods cannot be mixed");
	check_error("[weir]\nserver_require_auth = gss\n",
		    "t.ini:2: invalid value \"gss\" for parameter server_require_auth: unknown "
		    "method \"gss\" (weir knows password, md5, scram-sha-256, none)");
	check_error(
	    "[weir]\nserver_scram_max_iterations = 10000001\n",
	    "t.ini:2: invalid value \"10000001\" for parameter server_scram_max_iterations");
	check_error("[weir]\nserver_scram_max_iterations = 0\n",
		    "t.ini:2: invalid value \"0\" for parameter server_scram_max_iterations");
	/* weir cannot derive more than SCRAM_MAX_ITERATIONS for its own verifiers either */
	check_error("[weir]\nscram_iterations = 10000001\n",
		    "t.ini:2: invalid value \"10000001\" for parameter scram_iterations");
}

TEST(config_max_packet_size_must_hold_a_packet_buffer)
{
	check_error("[weir]\nmax_packet_size = 1000\n",
		    "t.ini:2: max_packet_size (1000) must not be smaller than pkt_buf (4096)");
	check_error("[weir]\nmax_packet_size = 8192\n\npkt_buf = 16384\n",
		    "t.ini:2: max_packet_size (8192) must not be smaller than pkt_buf (16384)");
}

TEST(config_unimplemented_auth_types_fail_at_their_line)
{
	check_error("[weir]\nauth_type = pam\n",
		    "t.ini:2: auth_type \"pam\" is not implemented yet");
	check_error("[weir]\nauth_type = trust\nauth_type = LDAP\n",
		    "t.ini:3: auth_type \"ldap\" is not implemented yet");
	check_error("[weir]\nauth_type = hba\n", "t.ini:2: auth_type \"hba\" needs auth_hba_file");
	check_error("[weir]\nauth_type = kerberos\n",
		    "t.ini:2: invalid value \"kerberos\" for parameter auth_type");
}

static int count_in_file(const char *path, const char *needle)
{
	char buf[8192];
	size_t n;
	int count = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	for (const char *p = buf; (p = strstr(p, needle)) != NULL; p++)
		count++;
	return count;
}

TEST(config_unimplemented_key_warns_once_and_still_loads)
{
	const struct log_settings quiet = { .logfile = "", .quiet = true };
	char logpath[64], err[ERRLEN];
	struct log_settings to_file = quiet;
	struct config *cfg;

	snprintf(logpath, sizeof(logpath), "/tmp/weir-cfg-log-%d.txt", (int)getpid());
	unlink(logpath);
	to_file.logfile = logpath;
	CHECK(log_configure(&to_file));
	cfg = load(
	    "[weir]\nauth_ldap_options = alice\nauth_ldap_options = bob\nsbuf_loopcnt = 30\n", err);
	CHECK(log_configure(&quiet));
	CHECK(cfg != NULL);
	if (cfg)
		CHECK_STR(cfg->auth_ldap_options, "bob");
	CHECK_INT(count_in_file(logpath, "is not implemented yet"), 2);
	CHECK_INT(count_in_file(logpath,
				"t.ini:2: parameter \"auth_ldap_options\" is not implemented yet, "
				"its value is ignored"),
		  1);
	config_unref(cfg);
	unlink(logpath);
}

TEST(config_unknown_section_and_key_outside_section_fail)
{
	check_error("[weir]\n[PgBouncer]\n", "t.ini:2: unknown section \"PgBouncer\"");
	check_error("listen_port = 1\n",
		    "t.ini:1: parameter \"listen_port\" is outside of any section");
}

TEST(config_databases_connection_string_fields)
{
	char err[ERRLEN];
	struct config *cfg =
	    load("[databases]\n"
		 "app = host=db1,db2 port = 5433 dbname=appdb user=u password=p pool_size=7 "
		 "min_pool_size=1 reserve_pool=2 pool_mode=statement max_db_connections=9 "
		 "max_db_client_connections=11 server_lifetime=60 query_wait_timeout=-1 "
		 "load_balance_hosts=disable client_encoding=UTF8 datestyle=ISO timezone=UTC "
		 "application_name=weirapp auth_user=au auth_dbname=adb "
		 "auth_query='SELECT usename, passwd FROM pg_shadow WHERE usename=$1'\n",
		 err);
	const struct db_def *db;

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	db = config_find_db(cfg, "app");
	CHECK(db != NULL);
	if (db) {
		CHECK_STR(db->host, "db1,db2");
		CHECK_INT(db->port, 5433);
		CHECK_STR(db->dbname, "appdb");
		CHECK_STR(db->user, "u");
		CHECK_STR(db->password, "p");
		CHECK_INT(db->pool_size, 7);
		CHECK_INT(db->min_pool_size, 1);
		CHECK_INT(db->reserve_pool_size, 2);
		CHECK_INT(db->pool_mode, POOL_MODE_STATEMENT);
		CHECK_INT(db->max_db_connections, 9);
		CHECK_INT(db->max_db_client_connections, 11);
		CHECK_INT(db->server_lifetime, 60 * USEC_PER_SEC);
		CHECK(db->query_wait_timeout == USEC_UNSET);
		CHECK_INT(db->load_balance_hosts, LB_DISABLE);
		CHECK_STR(db->client_encoding, "UTF8");
		CHECK_STR(db->datestyle, "ISO");
		CHECK_STR(db->timezone, "UTC");
		CHECK_STR(db->application_name, "weirapp");
		CHECK_STR(db->auth_user, "au");
		CHECK_STR(db->auth_dbname, "adb");
		CHECK_STR(db->auth_query, "SELECT usename, passwd FROM pg_shadow WHERE usename=$1");
		CHECK_STR(db->file, "t.ini");
		CHECK_INT(db->line, 2);
	}
	config_unref(cfg);
}

TEST(config_database_defaults_and_fallback_entry)
{
	char err[ERRLEN];
	struct config *cfg = load("[databases]\n* = host=fallback\nplain =\n", err);
	const struct db_def *db;

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	db = config_find_db(cfg, "plain");
	CHECK(db != NULL);
	if (db) {
		CHECK(db->host == NULL && db->dbname == NULL && db->user == NULL);
		CHECK_INT(db->port, 5432);
		CHECK_INT(db->pool_size, -1);
		CHECK_INT(db->pool_mode, -1);
		CHECK(db->server_lifetime == USEC_UNSET);
		CHECK_INT(db->load_balance_hosts, LB_ROUND_ROBIN);
	}
	db = config_find_db(cfg, "*");
	CHECK(db != NULL && strcmp(db->host, "fallback") == 0);
	CHECK(config_find_db(cfg, "other") == NULL);
	config_unref(cfg);
}

TEST(config_connstr_quoting_keeps_semicolons_and_equals)
{
	char err[ERRLEN];
	struct config *cfg = load("[databases]\n"
				  "q = connect_query='set a=1; set b=2' host=h\n"
				  "e = password='it''s ''x''' application_name = 'a b'\n",
				  err);
	const struct db_def *q, *e;

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	q = config_find_db(cfg, "q");
	e = config_find_db(cfg, "e");
	CHECK(q != NULL && e != NULL);
	if (q && e) {
		CHECK_STR(q->connect_query, "set a=1; set b=2");
		CHECK_STR(q->host, "h");
		CHECK_STR(e->password, "it's 'x'");
		CHECK_STR(e->application_name, "a b");
	}
	config_unref(cfg);
}

TEST(config_connstr_errors_report_the_entry_line)
{
	check_error("[databases]\na = host=h\nb = host=h bogus=1\n",
		    "t.ini:3: unrecognized connection parameter: bogus");
	check_error("[databases]\nb = port=1 host=\n", "t.ini:2: empty value for parameter host");
	check_error("[databases]\nb = host=''\n", "t.ini:2: empty value for parameter host");
	check_error("[databases]\nb = connect_query='select 1\n",
		    "t.ini:2: unterminated quoted value for parameter connect_query");
	check_error("[databases]\nb = host='h'x\n",
		    "t.ini:2: syntax error after quoted value for parameter host");
	check_error("[databases]\nb = host h\n",
		    "t.ini:2: syntax error in connection string: no \"=\" after host");
	check_error("[databases]\nb = port=99999\n",
		    "t.ini:2: invalid value \"99999\" for connection parameter port");
	check_error("[databases]\nb = pool_mode=fast\n",
		    "t.ini:2: invalid value \"fast\" for connection parameter pool_mode");
}

TEST(config_reserved_database_names_are_rejected)
{
	check_error("[databases]\npgbouncer = host=h\n",
		    "t.ini:2: database name \"pgbouncer\" is reserved");
	check_error("[databases]\n\nweir = host=h\n",
		    "t.ini:3: database name \"weir\" is reserved");
}

TEST(config_duplicate_databases_last_wins_and_are_sorted)
{
	char err[ERRLEN];
	struct config *cfg = load("[databases]\nzz = port=1\naa = port=2\nzz = port=3\n"
				  "[weir]\nlisten_port = 1000\n[databases]\nmm = port=4\n",
				  err);

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK_INT(cfg->ndbs, 3);
	if (cfg->ndbs == 3) {
		CHECK_STR(cfg->dbs[0].name, "aa");
		CHECK_STR(cfg->dbs[1].name, "mm");
		CHECK_STR(cfg->dbs[2].name, "zz");
		CHECK_INT(cfg->dbs[2].port, 3);
		CHECK_INT(cfg->dbs[2].line, 4);
	}
	CHECK_INT(cfg->listen_port, 1000);
	config_unref(cfg);
}

TEST(config_users_section)
{
	char err[ERRLEN];
	struct config *cfg = load("[users]\nalice = pool_mode=transaction max_user_connections=3 "
				  "query_timeout=2.5 client_idle_timeout=60\nbob = pool_size=4\n",
				  err);
	const struct user_def *u;

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	u = config_find_user(cfg, "alice");
	CHECK(u != NULL);
	if (u) {
		CHECK_INT(u->pool_mode, POOL_MODE_TRANSACTION);
		CHECK_INT(u->max_user_connections, 3);
		CHECK_INT(u->pool_size, -1);
		CHECK_INT(u->query_timeout, 2500000);
		CHECK_INT(u->client_idle_timeout, 60 * USEC_PER_SEC);
		CHECK(u->transaction_timeout == USEC_UNSET);
	}
	u = config_find_user(cfg, "bob");
	CHECK(u != NULL && u->pool_size == 4);
	CHECK(config_find_user(cfg, "carol") == NULL);
	config_unref(cfg);
	check_error("[users]\nalice = host=x\n", "t.ini:2: unrecognized user parameter: host");
	check_error("[users]\nalice = pool_size=many\n",
		    "t.ini:2: invalid value \"many\" for user parameter pool_size");
}

TEST(config_peers_section)
{
	char err[ERRLEN];
	struct config *cfg =
	    load("[peers]\n2 = host=/tmp port=6433\n1 = host=10.0.0.1 pool_size=3\n"
		 "[weir]\ndefault_pool_size = 9\n",
		 err);
	const struct peer_def *p;

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK_INT(cfg->npeers, 2);
	p = config_find_peer(cfg, 1);
	CHECK(p != NULL && p->pool_size == 3 && p->port == 6432);
	p = config_find_peer(cfg, 2);
	CHECK(p != NULL && p->pool_size == 9 && p->port == 6433);
	if (p)
		CHECK_STR(p->host, "/tmp");
	config_unref(cfg);
	check_error("[peers]\n3 = port=1\n", "t.ini:2: host was not provided for peer 3");
	check_error("[peers]\n0 = host=h\n",
		    "t.ini:2: invalid peer id \"0\": must be a number from 1 to 65535");
	check_error("[peers]\nx = host=h\n",
		    "t.ini:2: invalid peer id \"x\": must be a number from 1 to 65535");
	check_error("[peers]\n1 = host=h dbname=x\n",
		    "t.ini:2: unrecognized connection parameter: dbname");
}

TEST(config_include_files_and_error_positions)
{
	char inc[64], text[256], want[256], err[ERRLEN];
	struct config *cfg;

	snprintf(inc, sizeof(inc), "/tmp/weir-cfg-inc-%d.ini", (int)getpid());
	write_file(inc, "listen_port = 7777\n[databases]\nfromfile = port=6000\n");
	snprintf(text, sizeof(text), "[weir]\n%%include %s\n[weir]\npool_mode = transaction\n",
		 inc);
	cfg = load(text, err);
	CHECK(cfg != NULL);
	if (cfg) {
		CHECK_INT(cfg->listen_port, 7777);
		CHECK_INT(cfg->pool_mode, POOL_MODE_TRANSACTION);
		CHECK(config_find_db(cfg, "fromfile") != NULL);
		CHECK_STR(config_find_db(cfg, "fromfile")->file, inc);
	}
	config_unref(cfg);
	write_file(inc, "[weir]\n\nnope = 1\n");
	snprintf(want, sizeof(want), "%s:3: unknown parameter: weir/nope", inc);
	check_error(text, want);
	unlink(inc);
	snprintf(want, sizeof(want), "t.ini:2: could not open \"%s\": No such file or directory",
		 inc);
	check_error(text, want);
}

TEST(config_load_from_file_sets_conffile)
{
	char path[64], err[ERRLEN], want[128];
	struct config *cfg;

	snprintf(path, sizeof(path), "/tmp/weir-cfg-file-%d.ini", (int)getpid());
	write_file(path, "[weir]\nlisten_port = 6543\n");
	cfg = config_load(path, err, sizeof(err));
	CHECK(cfg != NULL);
	if (cfg) {
		CHECK_STR(cfg->conffile, path);
		CHECK_INT(cfg->listen_port, 6543);
		CHECK(config_ref(cfg) == cfg);
		CHECK_INT(cfg->refcount, 2);
		config_unref(cfg);
		CHECK_INT(cfg->refcount, 1);
	}
	config_unref(cfg);
	unlink(path);
	CHECK(config_load(path, err, sizeof(err)) == NULL);
	snprintf(want, sizeof(want), "could not open \"%s\": No such file or directory", path);
	CHECK_STR(err, want);
}

TEST(config_explicit_conffile_is_kept)
{
	char path[64], err[ERRLEN];
	struct config *cfg;

	snprintf(path, sizeof(path), "/tmp/weir-cfg-conf-%d.ini", (int)getpid());
	write_file(path, "[weir]\nconffile = /etc/weir/other.ini\n");
	cfg = config_load(path, err, sizeof(err));
	CHECK(cfg != NULL);
	if (cfg)
		CHECK_STR(cfg->conffile, "/etc/weir/other.ini");
	config_unref(cfg);
	unlink(path);
}

TEST(config_example_file_loads)
{
	char path[512], err[ERRLEN];
	struct config *cfg;

	source_path("etc/weir.ini", path, sizeof(path));
	cfg = config_load(path, err, sizeof(err));
	if (!cfg)
		printf("#   %s\n", err);
	CHECK(cfg != NULL);
	if (cfg) {
		CHECK(cfg->ndbs > 0);
		CHECK(config_find_db(cfg, "*") != NULL);
	}
	config_unref(cfg);
}

TEST(config_every_error_of_a_file_is_reported_with_its_line)
{
	char err[ERRLEN];
	struct config *cfg = load("[weir]\n"
				  "pool_mode = fast\n"
				  "listen_port = 6000\n"
				  "no_such_key = 1\n"
				  "this is garbage\n"
				  "max_packet_size = 100\n"
				  "[databases]\n"
				  "good = host=h\n"
				  "bad = host=h bogus=1\n"
				  "[nowhere]\n"
				  "ignored = 1\n"
				  "[weir]\n"
				  "default_pool_size = many\n",
				  err);

	CHECK(cfg == NULL);
	CHECK_STR(err, "t.ini:2: invalid value \"fast\" for parameter pool_mode\n"
		       "t.ini:4: unknown parameter: weir/no_such_key\n"
		       "t.ini:5: syntax error: expected \"=\" after key\n"
		       "t.ini:9: unrecognized connection parameter: bogus\n"
		       "t.ini:10: unknown section \"nowhere\"\n"
		       "t.ini:13: invalid value \"many\" for parameter default_pool_size\n"
		       "t.ini:6: max_packet_size (100) must not be smaller than pkt_buf (4096)");
	config_unref(cfg);
}

TEST(config_missing_include_is_an_error_at_its_line_and_the_rest_is_still_read)
{
	char err[ERRLEN];
	struct config *cfg =
	    load("[weir]\n%include /nonexistent/weir-extra.ini\nlisten_port = x\n", err);

	CHECK(cfg == NULL);
	CHECK_STR(err, "t.ini:2: could not open \"/nonexistent/weir-extra.ini\": No such file or "
		       "directory\n"
		       "t.ini:3: invalid value \"x\" for parameter listen_port");
}

TEST(config_error_list_is_cut_with_dots_when_err_is_small)
{
	char err[48];
	struct config *cfg = config_load_string("[weir]\nlisten_port = a\nlisten_port = b\n",
						"t.ini", err, sizeof(err));

	CHECK(cfg == NULL);
	CHECK_INT(strlen(err), sizeof(err) - 1);
	CHECK_STR(err, "t.ini:2: invalid value \"a\" for parameter lis...");
}

TEST(config_with_value_sets_one_key_in_a_new_snapshot)
{
	char err[ERRLEN];
	struct config *cfg =
	    load("[weir]\npool_mode = session\nauth_file = /etc/u.txt\n[databases]\n"
		 "app = host=h password=secret connect_query='select 1'\n[users]\nu = pool_size=3\n"
		 "[peers]\n1 = host=p\n",
		 err);
	struct config *next;

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	next = config_with_value(cfg, "pool_mode", "transaction", err, sizeof(err));
	CHECK(next != NULL && next != cfg);
	CHECK_INT(cfg->pool_mode, POOL_MODE_SESSION);
	if (next) {
		CHECK_INT(next->pool_mode, POOL_MODE_TRANSACTION);
		CHECK_INT(next->refcount, 1);
		CHECK(next->auth_file != cfg->auth_file);
		CHECK(next->dbs != cfg->dbs && next->dbs[0].password != cfg->dbs[0].password);
	}
	config_unref(cfg); /* the copy owns everything it holds */
	if (next) {
		CHECK_STR(next->auth_file, "/etc/u.txt");
		CHECK_STR(config_find_db(next, "app")->password, "secret");
		CHECK_STR(config_find_db(next, "app")->connect_query, "select 1");
		CHECK_STR(config_find_db(next, "app")->file, "t.ini");
		CHECK_INT(config_find_user(next, "u")->pool_size, 3);
		CHECK_STR(config_find_peer(next, 1)->host, "p");
	}
	config_unref(next);
}

TEST(config_with_value_checks_the_value_as_the_file_would)
{
	char err[ERRLEN];
	struct config *cfg = load("[weir]\nmax_packet_size = 8192\n", err), *next;

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK(config_with_value(cfg, "pool_mode", "x", err, sizeof(err)) == NULL);
	CHECK_STR(err, "SET failed: invalid value \"x\" for parameter pool_mode");
	CHECK(config_with_value(cfg, "listen_port", "70000", err, sizeof(err)) == NULL);
	CHECK_STR(err, "SET failed: invalid value \"70000\" for parameter listen_port");
	CHECK(config_with_value(cfg, "no_such_key", "1", err, sizeof(err)) == NULL);
	CHECK_STR(err, "SET failed: unknown parameter: no_such_key");
	CHECK(config_with_value(cfg, "pkt_buf", "16384", err, sizeof(err)) == NULL);
	CHECK_STR(err, "SET failed: max_packet_size (8192) must not be smaller than pkt_buf "
		       "(16384)");
	CHECK(config_with_value(cfg, "auth_type", "pam", NULL, 0) == NULL);
	next = config_with_value(cfg, "server_require_auth", "!md5", err, sizeof(err));
	CHECK(next != NULL);
	if (next)
		CHECK_INT(next->server_require_auth_allowed,
			  AUTH_REQUIRE_ANY & ~(1u << AUTH_METHOD_MD5));
	CHECK_INT(cfg->server_require_auth_allowed, AUTH_REQUIRE_ANY);
	CHECK_INT(cfg->pkt_buf, 4096);
	config_unref(next);
	config_unref(cfg);
}

TEST(config_restart_keys_keep_their_running_value)
{
	char err[ERRLEN], *wanted[200];
	struct config *running = load("[weir]\nlisten_port = 6000\npkt_buf = 4096\n", err);
	struct config *next = load("[weir]\nlisten_port = 7000\npkt_buf = 8192\n"
				   "default_pool_size = 3\nunix_socket_dir = /run/x\n",
				   err);
	size_t port = (size_t)(config_find_key("listen_port") - config_keys);
	size_t dir = (size_t)(config_find_key("unix_socket_dir") - config_keys);
	size_t pool = (size_t)(config_find_key("default_pool_size") - config_keys);

	CHECK(config_nkeys <= ARRAY_SIZE(wanted));
	CHECK(running != NULL && next != NULL);
	if (!running || !next)
		return;
	CHECK_INT(reload_keep_restart_values(next, running, wanted), 3);
	CHECK_STR(wanted[port], "7000");
	CHECK_STR(wanted[dir], "/run/x");
	CHECK(wanted[pool] == NULL);
	CHECK_INT(next->listen_port, 6000);
	CHECK_INT(next->pkt_buf, 4096);
	CHECK_STR(next->unix_socket_dir, "/tmp");
	CHECK_INT(next->default_pool_size, 3); /* reloadable: the file's value */
	for (size_t i = 0; i < config_nkeys; i++)
		free(wanted[i]);
	CHECK_INT(reload_keep_restart_values(next, running, wanted), 0);
	config_unref(next);
	config_unref(running);
}

TEST(config_check_finds_a_broken_pair_of_keys)
{
	char err[ERRLEN];
	struct config *cfg = load("[weir]\nmax_packet_size = 4096\n", err);

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK(config_check(cfg, err, sizeof(err)));
	cfg->pkt_buf = 8192; /* not yet shared: as reload does with a restart key */
	CHECK(!config_check(cfg, err, sizeof(err)));
	CHECK_STR(err, "max_packet_size (4096) must not be smaller than pkt_buf (8192)");
	config_unref(cfg);
}
