/* SPDX-License-Identifier: ISC */
/*
 * Configuration snapshots. config_load() reads a PgBouncer-compatible INI file (section
 * [weir], with [pgbouncer] as an alias, plus [databases], [users] and [peers]) into an
 * immutable, reference-counted struct config. A reload builds a new snapshot; holders of
 * the old one keep it until they drop their reference.
 *
 * Every [weir] key is described once, in config_keys[] (config.c): its type, default,
 * whether it is reloadable and whether weir implements it. SHOW CONFIG and the reload diff
 * walk that table.
 */
#pragma once

#include "common.h"

enum pool_mode {
	POOL_MODE_SESSION,
	POOL_MODE_TRANSACTION,
	POOL_MODE_STATEMENT,
};

enum auth_type {
	AUTH_TYPE_ANY,
	AUTH_TYPE_TRUST,
	AUTH_TYPE_PLAIN,
	AUTH_TYPE_MD5,
	AUTH_TYPE_CERT,
	AUTH_TYPE_HBA,
	AUTH_TYPE_LDAP,
	AUTH_TYPE_PAM,
	AUTH_TYPE_SCRAM,
	/* HBA rule methods only (hba.h): never the value of auth_type */
	AUTH_TYPE_PEER,
	AUTH_TYPE_REJECT,
};

enum load_balance_hosts {
	LB_ROUND_ROBIN,
	LB_DISABLE,
};

/* client_tls_sslmode and server_tls_sslmode. */
enum sslmode {
	SSLMODE_DISABLE,
	SSLMODE_ALLOW,
	SSLMODE_PREFER,
	SSLMODE_REQUIRE,
	SSLMODE_VERIFY_CA,
	SSLMODE_VERIFY_FULL,
};

enum syslog_facility {
	SYSLOG_FACILITY_AUTH,
	SYSLOG_FACILITY_AUTHPRIV,
	SYSLOG_FACILITY_DAEMON,
	SYSLOG_FACILITY_USER,
	SYSLOG_FACILITY_LOCAL0,
	SYSLOG_FACILITY_LOCAL1,
	SYSLOG_FACILITY_LOCAL2,
	SYSLOG_FACILITY_LOCAL3,
	SYSLOG_FACILITY_LOCAL4,
	SYSLOG_FACILITY_LOCAL5,
	SYSLOG_FACILITY_LOCAL6,
	SYSLOG_FACILITY_LOCAL7,
};

/* The names used in configuration files and SHOW output ("session", "md5", "verify-ca"...). */
const char *pool_mode_name(enum pool_mode m);
const char *auth_type_name(enum auth_type t);
const char *load_balance_hosts_name(enum load_balance_hosts lb);
const char *sslmode_name(enum sslmode m);
const char *syslog_facility_name(enum syslog_facility f);

#define USEC_UNSET ((usec_t)-1)

/*
 * One [databases] entry. All strings are owned by the entry. host NULL means the Unix socket
 * in unix_socket_dir; otherwise it is "/dir", "@abstract", a name, an IP, or a comma list.
 */
struct db_def {
	char *name;   /* entry name; "*" for the fallback entry */
	char *dbname; /* server database; NULL = same as name (or the client's db for "*") */
	char *host;   /* NULL = Unix socket in unix_socket_dir */
	int port;     /* default 5432 */
	/* forced user and its password; NULL if absent */
	char *user, *password;
	/* NULL if absent */
	char *auth_user, *auth_query, *auth_dbname;
	/* -1 = not set */
	int pool_size, min_pool_size, reserve_pool_size;
	int pool_mode; /* enum pool_mode */
	int max_db_connections, max_db_client_connections;
	/* USEC_UNSET = not set */
	usec_t server_lifetime;
	usec_t query_wait_timeout;
	/* NULL if absent */
	char *connect_query, *client_encoding, *datestyle, *timezone, *application_name;
	int load_balance_hosts; /* enum load_balance_hosts */
	char *file;		/* where it was defined */
	int line;
};

/* One [users] entry. */
struct user_def {
	char *name; /* owned */
	/* -1 = not set; pool_mode holds an enum pool_mode */
	int pool_mode, pool_size, reserve_pool_size, max_user_connections,
	    max_user_client_connections;
	/* USEC_UNSET = not set */
	usec_t query_timeout, query_wait_timeout, idle_transaction_timeout, transaction_timeout,
	    client_idle_timeout;
};

/* One [peers] entry. */
struct peer_def {
	int peer_id;
	char *host;    /* owned; never NULL */
	int port;      /* default 6432 */
	int pool_size; /* default: default_pool_size */
};

/*
 * A configuration snapshot. Every [weir] key has the field of the same name. Strings are
 * owned and never NULL ("" when not set); times are in microseconds.
 */
struct config {
	int refcount;

	/* general */
	char *logfile;
	char *pidfile;
	char *listen_addr;
	int listen_port;
	char *unix_socket_dir;
	int unix_socket_mode;
	char *unix_socket_group;
	char *user;
	int pool_mode; /* enum pool_mode */
	int max_client_conn;
	int default_pool_size;
	int min_pool_size;
	int reserve_pool_size;
	usec_t reserve_pool_timeout;
	int max_db_connections;
	int max_db_client_connections;
	int max_user_connections;
	int max_user_client_connections;
	bool server_round_robin;
	char *track_extra_parameters;
	char *ignore_startup_parameters;
	int peer_id;
	bool disable_pqexec;
	bool application_name_add_host;
	char *conffile;
	char *job_name;
	int stats_period;
	int max_prepared_statements;
	int scram_iterations;

	/* authentication */
	int auth_type; /* enum auth_type */
	char *auth_hba_file;
	char *auth_ident_file;
	char *auth_file;
	char *auth_user;
	char *auth_query;
	char *auth_dbname;
	char *auth_ldap_options;
	/* what weir accepts from servers' authentication (weir's own keys) */
	char *server_require_auth;
	unsigned server_require_auth_allowed; /* not a key: the parsed list, AUTH_REQUIRE_* */
	int server_scram_max_iterations;

	/* logging */
	bool syslog;
	char *syslog_ident;
	int syslog_facility; /* enum syslog_facility */
	bool log_connections;
	bool log_disconnections;
	bool log_pooler_errors;
	bool log_stats;
	int verbose;
	int workers; /* event loop threads; 0: one per core, at most WEIR_MAX_WORKERS */

	/* console access */
	char *admin_users;
	char *stats_users;

	/* the Prometheus endpoint (weir's own; off while metrics_port is 0) */
	char *metrics_listen_addr;
	int metrics_port;

	/* connection sanity checks, timeouts */
	char *server_reset_query;
	bool server_reset_query_always;
	usec_t server_check_delay;
	char *server_check_query;
	bool server_fast_close;
	usec_t server_lifetime;
	usec_t server_idle_timeout;
	usec_t server_connect_timeout;
	usec_t server_login_retry;
	usec_t client_login_timeout;
	usec_t autodb_idle_timeout;
	usec_t pool_idle_timeout;
	usec_t dns_max_ttl;
	usec_t dns_nxdomain_ttl;
	usec_t dns_zone_check_period;
	char *resolv_conf;
	usec_t query_wait_notify;
	char *login_notify_message;

	/* TLS */
	int client_tls_sslmode; /* enum sslmode */
	char *client_tls_key_file;
	char *client_tls_cert_file;
	char *client_tls_ca_file;
	char *client_tls_protocols;
	char *client_tls_ciphers;
	char *client_tls13_ciphers;
	char *client_tls_ecdhcurve;
	char *client_tls_dheparams;
	int server_tls_sslmode; /* enum sslmode */
	char *server_tls_ca_file;
	char *server_tls_key_file;
	char *server_tls_cert_file;
	char *server_tls_protocols;
	char *server_tls_ciphers;
	char *server_tls13_ciphers;

	/* dangerous timeouts */
	usec_t query_timeout;
	usec_t query_wait_timeout;
	usec_t cancel_wait_timeout;
	usec_t client_idle_timeout;
	usec_t idle_transaction_timeout;
	usec_t transaction_timeout;
	usec_t suspend_timeout;

	/* low-level network settings */
	int pkt_buf;
	int max_packet_size;
	int max_inspected_packet_size; /* weir reads such a message whole (Parse, Bind) */
	int listen_backlog;
	int sbuf_loopcnt;
	bool so_reuseport;
	bool tcp_defer_accept;
	int tcp_socket_buffer;
	bool tcp_keepalive;
	int tcp_keepcnt;
	int tcp_keepidle;
	int tcp_keepintvl;
	int tcp_user_timeout; /* milliseconds */

	/* sections, each sorted (names by strcmp, peers by id) with duplicates resolved */
	struct db_def *dbs;
	size_t ndbs;
	struct user_def *users;
	size_t nusers;
	struct peer_def *peers;
	size_t npeers;
};

/*
 * Loads and validates a whole config. Every error is reported, not only the first: a bad
 * value, an unknown key, a garbage line or a bad [databases]/[users]/[peers] entry is
 * reported and the load goes on with the next line; a missing %include file is an error at
 * the %include line. err receives them all as "<file>:<line>: <message>" joined by '\n'
 * (an unreadable top-level file has no position); when err is too small the list is cut
 * and ends with "...". Any error means NULL: never a partial config. Keys that are valid
 * but not implemented are accepted, with one warning per key per load. Never exits, never
 * leaks on error. The returned snapshot has one reference.
 */
MUST_CHECK struct config *config_load(const char *path, char *err, size_t errlen);

/* Same from a string; name is used as the file name in errors; %include paths are relative
 * to the CWD; conffile defaults to "". */
MUST_CHECK struct config *config_load_string(const char *text, const char *name, char *err,
					     size_t errlen);

/*
 * The admin console's SET: a new snapshot (one reference) equal to cfg but with the [weir]
 * key set to value, parsed and checked exactly as a config file line would be (same
 * parser, ranges and checks that span keys). cfg is not changed. NULL on an unknown key
 * or a bad value, with `SET failed: <reason>` in err (may be NULL), e.g. `SET failed:
 * invalid value "x" for parameter pool_mode`.
 */
MUST_CHECK struct config *config_with_value(const struct config *cfg, const char *key,
					    const char *value, char *err, size_t errlen);

/*
 * Runs the checks that span keys (max_packet_size against pkt_buf, ...) on a snapshot not
 * yet shared (it may complete derived fields). False with the first failure, without
 * position, in err (may be NULL).
 */
MUST_CHECK bool config_check(struct config *cfg, char *err, size_t errlen);

/* Takes a reference; returns cfg. Thread-safe (atomic counter). */
struct config *config_ref(struct config *cfg);
/* Drops a reference; frees at 0, wiping password strings. NULL is allowed. */
void config_unref(struct config *cfg);

/*
 * The host weir connects to for a `host=` value that may be a comma-separated list: the
 * first one, into buf (empty for NULL). Returns buf.
 */
const char *config_first_host(const char *hosts, char *buf, size_t len);

/* Exact-name lookups (O(log n)); NULL if absent. config_find_db does not fall back to "*". */
const struct db_def *config_find_db(const struct config *cfg, const char *name);
const struct user_def *config_find_user(const struct config *cfg, const char *name);
const struct peer_def *config_find_peer(const struct config *cfg, int peer_id);

/* The declarative key table, in SHOW CONFIG order. */
enum config_type {
	CONFIG_INT,    /* int field; strtol base 0 */
	CONFIG_BOOL,   /* bool field; 0/1 (any integer), on/off, true/false, yes/no */
	CONFIG_TIME,   /* usec_t field; seconds, fractional allowed */
	CONFIG_STRING, /* char * field, never NULL */
	CONFIG_ENUM,   /* int field holding an index into enum_values */
};

struct config_key {
	const char *name;
	int type;		   /* enum config_type */
	const char *default_value; /* as SHOW CONFIG prints it; NULL for verbose */
	size_t offset;		   /* of the field in struct config */
	unsigned flags;		   /* CONFIG_RELOAD, CONFIG_IMPLEMENTED */
	const void *enum_values;   /* CONFIG_ENUM: NULL-terminated const char *[], index = value */
	long long min, max;	   /* CONFIG_INT: accepted range */
};

#define CONFIG_RELOAD	   1u /* changeable without restart */
#define CONFIG_IMPLEMENTED 2u /* weir implements it; otherwise a warning is logged when set */

extern const struct config_key config_keys[];
extern const size_t config_nkeys;

/* The key called name, or NULL. */
const struct config_key *config_find_key(const char *name);

/* Whether key has the same value in a and b. */
bool config_same_value(const struct config *a, const struct config *b,
		       const struct config_key *key);
/* Gives cfg, a snapshot not yet shared, src's value of key (strings are copied). */
void config_copy_value(struct config *cfg, const struct config *src, const struct config_key *key);

/* Formats a key's current value as SHOW CONFIG would (times as %g seconds, ints and bools
 * as decimal, enums by name). */
void config_format_value(const struct config *cfg, const struct config_key *key, char *buf,
			 size_t len);
