/* SPDX-License-Identifier: ISC */
/*
 * Configuration snapshots: the declarative table of [weir] keys, the loader that turns INI
 * events into a struct config, the checks that span several keys, and the snapshot's
 * lifetime (reference counting, lookups, SHOW CONFIG formatting).
 *
 * The loader owns section dispatch: [weir] and its alias [pgbouncer] set keys through the
 * table; [databases], [users] and [peers] values go to config_db.c. It remembers where each
 * key was last set, so that checks made after the whole file was read (auth_type support,
 * max_packet_size against pkt_buf) still point at a file and line. Duplicate section
 * entries are resolved at the end: the last definition wins, and each array is sorted for
 * O(log n) lookups.
 *
 * This module does not apply a snapshot (that is the reload logic's job) and never exits.
 *
 * A load reports every error it finds, not only the first: a bad value, an unknown key or a
 * bad entry is reported and the next line is read; the snapshot is only returned when there
 * was none. config_with_value() makes the snapshot of a SET with the same parser and checks
 * as a file.
 *
 * Entry points: config_load, config_load_string, config_with_value, config_check,
 * config_ref, config_unref, config_find_db, config_find_user, config_find_peer,
 * config_find_key, config_format_value, config_same_value, config_copy_value, the enum
 * name functions, and config_keys[].
 */
#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth_require.h"
#include "auth_scram.h"
#include "config.h"
#include "config_db.h"
#include "ini.h"
#include "log.h"

#define ENTRY_MSG_LEN 512
#define MAX_PKT_BUF   (1 << 30)

/* TCP_DEFER_ACCEPT exists on Linux only. */
#ifdef __linux__
#define TCP_DEFER_ACCEPT_DEFAULT "1"
#else
#define TCP_DEFER_ACCEPT_DEFAULT "0"
#endif

#define DEFAULT_AUTH_QUERY                                                                \
	"SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword END " \
	"FROM pg_authid WHERE rolname=$1 AND rolcanlogin"

/* ---- enum names (index = enum value) ---- */

static const char *const auth_type_names[] = {
	"any", "trust", "plain", "md5", "cert", "hba", "ldap", "pam", "scram-sha-256", NULL,
};
static const char *const sslmode_names[] = {
	"disable", "allow", "prefer", "require", "verify-ca", "verify-full", NULL,
};
static const char *const facility_names[] = {
	"auth",	  "authpriv", "daemon", "user",	  "local0", "local1", "local2",
	"local3", "local4",   "local5", "local6", "local7", NULL,
};

static const char *enum_name(const char *const *names, size_t n, int value)
{
	return value >= 0 && (size_t)value < n ? names[value] : "unknown";
}

const char *pool_mode_name(enum pool_mode m)
{
	return enum_name(config_pool_mode_names, (size_t)POOL_MODE_STATEMENT + 1, (int)m);
}

const char *auth_type_name(enum auth_type t)
{
	if (t == AUTH_TYPE_PEER)
		return "peer";
	if (t == AUTH_TYPE_REJECT)
		return "reject";
	return enum_name(auth_type_names, ARRAY_SIZE(auth_type_names) - 1, (int)t);
}

const char *load_balance_hosts_name(enum load_balance_hosts lb)
{
	return enum_name(config_load_balance_names, (size_t)LB_DISABLE + 1, (int)lb);
}

const char *sslmode_name(enum sslmode m)
{
	return enum_name(sslmode_names, ARRAY_SIZE(sslmode_names) - 1, (int)m);
}

const char *syslog_facility_name(enum syslog_facility f)
{
	return enum_name(facility_names, ARRAY_SIZE(facility_names) - 1, (int)f);
}

/* ---- the key table ---- */

/* Initializers must be constant expressions, hence macros; #n keeps key and field equal. */
#define K_INT(n, def, fl, lo, hi)                                                 \
	{                                                                         \
#n, CONFIG_INT, def, offsetof(struct config, n), fl, NULL, lo, hi \
	}
#define K_BOOL(n, def, fl)                                                       \
	{                                                                        \
#n, CONFIG_BOOL, def, offsetof(struct config, n), fl, NULL, 0, 1 \
	}
#define K_TIME(n, def, fl)                                                       \
	{                                                                        \
#n, CONFIG_TIME, def, offsetof(struct config, n), fl, NULL, 0, 0 \
	}
#define K_STR(n, def, fl)                                                          \
	{                                                                          \
#n, CONFIG_STRING, def, offsetof(struct config, n), fl, NULL, 0, 0 \
	}
#define K_ENUM(n, def, fl, names)                                                 \
	{                                                                         \
#n, CONFIG_ENUM, def, offsetof(struct config, n), fl, names, 0, 0 \
	}

#define RL CONFIG_RELOAD
#define IM CONFIG_IMPLEMENTED

/* SHOW CONFIG order: alphabetical, except that pool_mode precedes pool_idle_timeout. */
const struct config_key config_keys[] = {
	K_STR(admin_users, "", RL | IM),
	K_BOOL(application_name_add_host, "0", RL),
	K_STR(auth_dbname, "", RL | IM),
	K_STR(auth_file, "", RL | IM),
	K_STR(auth_hba_file, "", RL | IM),
	K_STR(auth_ident_file, "", RL | IM),
	K_STR(auth_ldap_options, "", RL),
	K_STR(auth_query, DEFAULT_AUTH_QUERY, RL | IM),
	K_ENUM(auth_type, "md5", RL | IM, auth_type_names),
	K_STR(auth_user, "", RL | IM),
	K_TIME(autodb_idle_timeout, "3600.0", RL),
	K_TIME(cancel_wait_timeout, "10.0", RL | IM),
	K_TIME(client_idle_timeout, "0.0", RL | IM),
	K_TIME(client_login_timeout, "60.0", RL | IM),
	K_STR(client_tls13_ciphers, "", RL | IM),
	K_STR(client_tls_ca_file, "", RL | IM),
	K_STR(client_tls_cert_file, "", RL | IM),
	K_STR(client_tls_ciphers, "default", RL | IM),
	K_STR(client_tls_dheparams, "auto", RL | IM),
	K_STR(client_tls_ecdhcurve, "auto", RL | IM),
	K_STR(client_tls_key_file, "", RL | IM),
	K_STR(client_tls_protocols, "secure", RL | IM),
	K_ENUM(client_tls_sslmode, "disable", RL | IM, sslmode_names),
	K_STR(conffile, NULL, RL | IM),
	K_INT(default_pool_size, "20", RL | IM, 0, INT_MAX),
	K_BOOL(disable_pqexec, "0", 0),
	K_TIME(dns_max_ttl, "15.0", RL | IM),
	K_TIME(dns_nxdomain_ttl, "15.0", RL | IM),
	K_TIME(dns_zone_check_period, "0.0", RL),
	K_TIME(idle_transaction_timeout, "0.0", RL | IM),
	K_STR(ignore_startup_parameters, "", RL | IM),
	K_STR(job_name, "pgbouncer", 0),
	K_STR(listen_addr, "", IM),
	K_INT(listen_backlog, "128", IM, 0, INT_MAX),
	K_INT(listen_port, "6432", IM, 1, 65535),
	K_BOOL(log_connections, "1", RL | IM),
	K_BOOL(log_disconnections, "1", RL | IM),
	K_BOOL(log_pooler_errors, "1", RL | IM),
	K_BOOL(log_stats, "1", RL | IM),
	K_STR(logfile, "", RL | IM),
	K_STR(login_notify_message, "", RL),
	K_INT(max_client_conn, "100", RL | IM, 0, INT_MAX),
	K_INT(max_db_client_connections, "0", RL, 0, INT_MAX),
	K_INT(max_db_connections, "0", RL | IM, 0, INT_MAX),
	K_INT(max_inspected_packet_size, "67108864", RL | IM, 1, INT_MAX),
	K_INT(max_packet_size, "2147483647", RL | IM, 1, INT_MAX),
	K_INT(max_prepared_statements, "200", RL | IM, 0, INT_MAX),
	K_INT(max_user_client_connections, "0", RL, 0, INT_MAX),
	K_INT(max_user_connections, "0", RL | IM, 0, INT_MAX),
	K_STR(metrics_listen_addr, "127.0.0.1", IM),
	K_INT(metrics_port, "0", IM, 0, 65535),
	K_INT(min_pool_size, "0", RL | IM, 0, INT_MAX),
	K_INT(peer_id, "0", RL, 0, 16383),
	K_STR(pidfile, "", IM),
	K_INT(pkt_buf, "4096", IM, 512, MAX_PKT_BUF),
	K_ENUM(pool_mode, "session", RL | IM, config_pool_mode_names),
	K_TIME(pool_idle_timeout, "0", RL),
	K_TIME(query_timeout, "0.0", RL | IM),
	K_TIME(query_wait_notify, "5", RL | IM),
	K_TIME(query_wait_timeout, "120.0", RL | IM),
	K_INT(reserve_pool_size, "0", RL | IM, 0, INT_MAX),
	K_TIME(reserve_pool_timeout, "5.0", RL | IM),
	K_STR(resolv_conf, "", 0),
	K_INT(sbuf_loopcnt, "5", RL, 0, INT_MAX),
	K_INT(scram_iterations, "4096", RL | IM, 1, SCRAM_MAX_ITERATIONS),
	K_TIME(server_check_delay, "30.0", RL | IM),
	K_STR(server_check_query, "<empty>", RL | IM),
	K_TIME(server_connect_timeout, "15.0", RL | IM),
	K_BOOL(server_fast_close, "0", RL | IM),
	K_TIME(server_idle_timeout, "600.0", RL | IM),
	K_TIME(server_lifetime, "3600.0", RL | IM),
	K_TIME(server_login_retry, "15.0", RL | IM),
	K_STR(server_require_auth, "", RL | IM),
	K_STR(server_reset_query, "DISCARD ALL", RL | IM),
	K_BOOL(server_reset_query_always, "0", RL | IM),
	K_BOOL(server_round_robin, "0", RL | IM),
	K_INT(server_scram_max_iterations, "100000", RL | IM, 1, SCRAM_MAX_ITERATIONS),
	K_STR(server_tls13_ciphers, "", RL | IM),
	K_STR(server_tls_ca_file, "", RL | IM),
	K_STR(server_tls_cert_file, "", RL | IM),
	K_STR(server_tls_ciphers, "default", RL | IM),
	K_STR(server_tls_key_file, "", RL | IM),
	K_STR(server_tls_protocols, "secure", RL | IM),
	K_ENUM(server_tls_sslmode, "prefer", RL | IM, sslmode_names),
	K_BOOL(so_reuseport, "0", IM),
	K_INT(stats_period, "60", RL | IM, 1, INT_MAX),
	K_STR(stats_users, "", RL | IM),
	K_TIME(suspend_timeout, "10", RL),
	K_BOOL(syslog, "0", RL | IM),
	K_ENUM(syslog_facility, "daemon", RL | IM, facility_names),
	K_STR(syslog_ident, "pgbouncer", RL | IM),
	K_BOOL(tcp_defer_accept, TCP_DEFER_ACCEPT_DEFAULT, RL | IM),
	K_BOOL(tcp_keepalive, "1", RL | IM),
	K_INT(tcp_keepcnt, "0", RL | IM, 0, INT_MAX),
	K_INT(tcp_keepidle, "0", RL | IM, 0, INT_MAX),
	K_INT(tcp_keepintvl, "0", RL | IM, 0, INT_MAX),
	K_INT(tcp_socket_buffer, "0", RL | IM, 0, INT_MAX),
	K_INT(tcp_user_timeout, "0", RL | IM, 0, INT_MAX),
	K_STR(track_extra_parameters, "IntervalStyle", IM),
	K_TIME(transaction_timeout, "0.0", RL | IM),
	K_STR(unix_socket_dir, "/tmp", IM),
	K_STR(unix_socket_group, "", IM),
	K_INT(unix_socket_mode, "0777", IM, 0, 07777),
	K_STR(user, "", IM),
	K_INT(verbose, NULL, RL | IM, 0, INT_MAX),
	K_INT(workers, "1", IM, 0, WEIR_MAX_WORKERS),
};

const size_t config_nkeys = ARRAY_SIZE(config_keys);

const struct config_key *config_find_key(const char *name)
{
	for (size_t i = 0; i < config_nkeys; i++) {
		if (strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	}
	return NULL;
}

static void *field_of(const struct config *cfg, const struct config_key *key)
{
	return (char *)cfg + key->offset;
}

static void replace_string(char **dst, const char *value)
{
	if (*dst) {
		OPENSSL_cleanse(*dst, strlen(*dst));
		free(*dst);
	}
	*dst = xstrdup(value);
}

/* Parses value into cfg's field for key. False if the value is not valid for the key. */
static bool set_value(struct config *cfg, const struct config_key *key, const char *value)
{
	void *dst = field_of(cfg, key);
	long long n;
	usec_t t;
	int e;

	switch (key->type) {
	case CONFIG_INT:
		if (!config_parse_int(value, key->min, key->max, &n))
			return false;
		*(int *)dst = (int)n;
		return true;
	case CONFIG_BOOL:
		return config_parse_bool(value, dst);
	case CONFIG_TIME:
		if (!config_parse_time(value, false, &t))
			return false;
		*(usec_t *)dst = t;
		return true;
	case CONFIG_STRING:
		replace_string(dst, value);
		return true;
	case CONFIG_ENUM:
		e = config_parse_enum(value, key->enum_values);
		if (e < 0)
			return false;
		*(int *)dst = e;
		return true;
	}
	return false;
}

void config_format_value(const struct config *cfg, const struct config_key *key, char *buf,
			 size_t len)
{
	const void *p = field_of(cfg, key);
	const char *const *names = key->enum_values;

	switch (key->type) {
	case CONFIG_INT:
		snprintf(buf, len, "%d", *(const int *)p);
		return;
	case CONFIG_BOOL:
		snprintf(buf, len, "%d", *(const bool *)p ? 1 : 0);
		return;
	case CONFIG_TIME:
		snprintf(buf, len, "%g", (double)*(const usec_t *)p / (double)USEC_PER_SEC);
		return;
	case CONFIG_STRING:
		snprintf(buf, len, "%s", *(char *const *)p);
		return;
	case CONFIG_ENUM:
		snprintf(buf, len, "%s", names[*(const int *)p]);
		return;
	}
	snprintf(buf, len, "?");
}

/* ---- snapshot lifetime ---- */

static struct config *config_new(void)
{
	struct config *cfg = xcalloc(1, sizeof(*cfg));
	bool ok;

	cfg->refcount = 1;
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];

		if (k->default_value)
			ok = set_value(cfg, k, k->default_value);
		else if (k->type == CONFIG_STRING)
			ok = set_value(cfg, k, "");
		else
			ok = true;
		ASSERT(ok);
		(void)ok;
	}
	return cfg;
}

static void config_free(struct config *cfg)
{
	for (size_t i = 0; i < config_nkeys; i++) {
		char **s = field_of(cfg, &config_keys[i]);

		if (config_keys[i].type == CONFIG_STRING && *s) {
			OPENSSL_cleanse(*s, strlen(*s));
			free(*s);
		}
	}
	for (size_t i = 0; i < cfg->ndbs; i++)
		config_db_free(&cfg->dbs[i]);
	for (size_t i = 0; i < cfg->nusers; i++)
		config_user_free(&cfg->users[i]);
	for (size_t i = 0; i < cfg->npeers; i++)
		config_peer_free(&cfg->peers[i]);
	free(cfg->dbs);
	free(cfg->users);
	free(cfg->peers);
	free(cfg);
}

struct config *config_ref(struct config *cfg)
{
	__atomic_add_fetch(&cfg->refcount, 1, __ATOMIC_RELAXED);
	return cfg;
}

void config_unref(struct config *cfg)
{
	if (cfg && __atomic_sub_fetch(&cfg->refcount, 1, __ATOMIC_ACQ_REL) == 0)
		config_free(cfg);
}

/* A deep copy of src with one reference: SET builds its snapshot from the running one. */
static struct config *config_copy(const struct config *src)
{
	struct config *cfg = xmalloc(sizeof(*cfg));

	*cfg = *src;
	cfg->refcount = 1;
	for (size_t i = 0; i < config_nkeys; i++) {
		char **str = field_of(cfg, &config_keys[i]);

		if (config_keys[i].type == CONFIG_STRING)
			*str = xstrdup(*str);
	}
	cfg->dbs = xcalloc(src->ndbs ? src->ndbs : 1, sizeof(*cfg->dbs));
	for (size_t i = 0; i < src->ndbs; i++)
		config_db_copy(&cfg->dbs[i], &src->dbs[i]);
	cfg->users = xcalloc(src->nusers ? src->nusers : 1, sizeof(*cfg->users));
	for (size_t i = 0; i < src->nusers; i++)
		config_user_copy(&cfg->users[i], &src->users[i]);
	cfg->peers = xcalloc(src->npeers ? src->npeers : 1, sizeof(*cfg->peers));
	for (size_t i = 0; i < src->npeers; i++)
		config_peer_copy(&cfg->peers[i], &src->peers[i]);
	return cfg;
}

/* The size of a field that is not a string. */
static size_t value_size(const struct config_key *key)
{
	switch (key->type) {
	case CONFIG_BOOL:
		return sizeof(bool);
	case CONFIG_TIME:
		return sizeof(usec_t);
	default:
		return sizeof(int);
	}
}

bool config_same_value(const struct config *a, const struct config *b, const struct config_key *key)
{
	const void *pa = field_of(a, key), *pb = field_of(b, key);

	if (key->type == CONFIG_STRING)
		return strcmp(*(char *const *)pa, *(char *const *)pb) == 0;
	return memcmp(pa, pb, value_size(key)) == 0;
}

void config_copy_value(struct config *cfg, const struct config *src, const struct config_key *key)
{
	if (key->type == CONFIG_STRING)
		replace_string(field_of(cfg, key), *(char *const *)field_of(src, key));
	else
		memcpy(field_of(cfg, key), field_of(src, key), value_size(key));
}

/* ---- lookups ---- */

static int db_cmp(const void *name, const void *elem)
{
	return strcmp(name, ((const struct db_def *)elem)->name);
}

static int user_cmp(const void *name, const void *elem)
{
	return strcmp(name, ((const struct user_def *)elem)->name);
}

static int peer_cmp(const void *id, const void *elem)
{
	int a = *(const int *)id, b = ((const struct peer_def *)elem)->peer_id;

	return (a > b) - (a < b);
}

const struct db_def *config_find_db(const struct config *cfg, const char *name)
{
	if (cfg->ndbs == 0)
		return NULL;
	return bsearch(name, cfg->dbs, cfg->ndbs, sizeof(*cfg->dbs), db_cmp);
}

const struct user_def *config_find_user(const struct config *cfg, const char *name)
{
	if (cfg->nusers == 0)
		return NULL;
	return bsearch(name, cfg->users, cfg->nusers, sizeof(*cfg->users), user_cmp);
}

const struct peer_def *config_find_peer(const struct config *cfg, int peer_id)
{
	if (cfg->npeers == 0)
		return NULL;
	return bsearch(&peer_id, cfg->peers, cfg->npeers, sizeof(*cfg->peers), peer_cmp);
}

/* ---- sorting entries; the last definition of a name wins ---- */

struct sort_item {
	const char *name; /* NULL: order by id */
	int id;
	size_t seq; /* position in definition order */
};

typedef void (*drop_fn)(void *elem);

static int item_key_cmp(const struct sort_item *a, const struct sort_item *b)
{
	if (a->name)
		return strcmp(a->name, b->name);
	return (a->id > b->id) - (a->id < b->id);
}

static int item_cmp(const void *pa, const void *pb)
{
	const struct sort_item *a = pa, *b = pb;
	int c = item_key_cmp(a, b);

	return c ? c : (a->seq > b->seq) - (a->seq < b->seq);
}

/*
 * Sorts the n elements of base (each size bytes; items[i] describes element i) and drops,
 * with drop(), every element that a later one with the same key replaces. Returns the new
 * count.
 */
static size_t sort_unique(void *base, size_t n, size_t size, struct sort_item *items, drop_fn drop)
{
	char *sorted, *elem;
	size_t out = 0;

	if (n < 2)
		return n;
	for (size_t i = 0; i < n; i++)
		items[i].seq = i;
	qsort(items, n, sizeof(*items), item_cmp);
	sorted = xmalloc(n * size);
	for (size_t i = 0; i < n; i++) {
		elem = (char *)base + items[i].seq * size;
		if (i + 1 < n && item_key_cmp(&items[i], &items[i + 1]) == 0) {
			drop(elem);
			continue;
		}
		memcpy(sorted + out++ * size, elem, size);
	}
	memcpy(base, sorted, out * size);
	free(sorted);
	return out;
}

static void drop_db(void *elem)
{
	config_db_free(elem);
}

static void drop_user(void *elem)
{
	config_user_free(elem);
}

static void drop_peer(void *elem)
{
	config_peer_free(elem);
}

static void sort_sections(struct config *cfg)
{
	size_t most = cfg->ndbs > cfg->nusers ? cfg->ndbs : cfg->nusers;
	struct sort_item *items;

	most = most > cfg->npeers ? most : cfg->npeers;
	items = xcalloc(most ? most : 1, sizeof(*items));
	for (size_t i = 0; i < cfg->ndbs; i++)
		items[i] = (struct sort_item){ .name = cfg->dbs[i].name };
	cfg->ndbs = sort_unique(cfg->dbs, cfg->ndbs, sizeof(*cfg->dbs), items, drop_db);
	for (size_t i = 0; i < cfg->nusers; i++)
		items[i] = (struct sort_item){ .name = cfg->users[i].name };
	cfg->nusers = sort_unique(cfg->users, cfg->nusers, sizeof(*cfg->users), items, drop_user);
	for (size_t i = 0; i < cfg->npeers; i++)
		items[i] = (struct sort_item){ .id = cfg->peers[i].peer_id };
	cfg->npeers = sort_unique(cfg->peers, cfg->npeers, sizeof(*cfg->peers), items, drop_peer);
	free(items);
}

/* ---- the loader ---- */

enum section {
	SECTION_NONE,
	SECTION_MAIN,
	SECTION_DATABASES,
	SECTION_USERS,
	SECTION_PEERS,
	SECTION_UNKNOWN, /* reported at its header; its keys are skipped without more errors */
};

struct key_pos {
	const char *file; /* borrowed from loader.files; NULL = never set */
	int line;
};

struct loader {
	struct config *cfg; /* owned until returned */
	const struct ini_handler *h;
	enum section section;
	const char *main_name; /* "weir" or "pgbouncer", as the section was written */
	struct key_pos *pos;   /* owned; one per config_keys[] entry */
	char **files;	       /* owned: names of files seen, for pos */
	size_t nfiles;
	size_t dbcap, usercap, peercap;
};

static const char *intern_file(struct loader *ld, const char *file)
{
	for (size_t i = 0; i < ld->nfiles; i++) {
		if (strcmp(ld->files[i], file) == 0)
			return ld->files[i];
	}
	ld->files = xrealloc(ld->files, (ld->nfiles + 1) * sizeof(*ld->files));
	ld->files[ld->nfiles] = xstrdup(file);
	return ld->files[ld->nfiles++];
}

static void *grow_array(void *arr, size_t n, size_t *cap, size_t size)
{
	if (n < *cap)
		return arr;
	*cap = *cap ? *cap * 2 : 16;
	return xrealloc(arr, *cap * size);
}

static bool on_section(const struct ini_handler *h, const struct ini_pos *pos, const char *name)
{
	static const struct {
		const char *name;
		enum section section;
	} sections[] = {
		{ "weir", SECTION_MAIN },	    { "pgbouncer", SECTION_MAIN },
		{ "databases", SECTION_DATABASES }, { "users", SECTION_USERS },
		{ "peers", SECTION_PEERS },
	};
	struct loader *ld = h->arg;

	for (size_t i = 0; i < ARRAY_SIZE(sections); i++) {
		if (strcmp(name, sections[i].name) == 0) {
			ld->section = sections[i].section;
			ld->main_name = sections[i].name;
			return true;
		}
	}
	ld->section = SECTION_UNKNOWN;
	ini_error(h, pos, "unknown section \"%s\"", name);
	return false;
}

static bool set_main_key(struct loader *ld, const struct ini_pos *pos, const char *key,
			 const char *value)
{
	const struct config_key *k = config_find_key(key);
	size_t i;

	if (!k) {
		ini_error(ld->h, pos, "unknown parameter: %s/%s", ld->main_name, key);
		return false;
	}
	if (!set_value(ld->cfg, k, value)) {
		ini_error(ld->h, pos, "invalid value \"%s\" for parameter %s", value, key);
		return false;
	}
	i = (size_t)(k - config_keys);
	if (!(k->flags & CONFIG_IMPLEMENTED) && !ld->pos[i].file)
		log_warning("%s:%d: parameter \"%s\" is not implemented yet, its value is ignored",
			    pos->file, pos->line, key);
	ld->pos[i] = (struct key_pos){ intern_file(ld, pos->file), pos->line };
	return true;
}

static bool add_db(struct loader *ld, const struct ini_pos *pos, const char *name,
		   const char *value)
{
	struct config *cfg = ld->cfg;
	char msg[ENTRY_MSG_LEN];
	struct db_def db;

	if (strcmp(name, "pgbouncer") == 0 || strcmp(name, "weir") == 0) {
		ini_error(ld->h, pos, "database name \"%s\" is reserved", name);
		return false;
	}
	if (!config_db_parse(name, value, &db, msg, sizeof(msg))) {
		config_db_free(&db);
		ini_error(ld->h, pos, "%s", msg);
		return false;
	}
	db.file = xstrdup(pos->file);
	db.line = pos->line;
	cfg->dbs = grow_array(cfg->dbs, cfg->ndbs, &ld->dbcap, sizeof(*cfg->dbs));
	cfg->dbs[cfg->ndbs++] = db;
	return true;
}

static bool add_user(struct loader *ld, const struct ini_pos *pos, const char *name,
		     const char *value)
{
	struct config *cfg = ld->cfg;
	char msg[ENTRY_MSG_LEN];
	struct user_def u;

	if (!config_user_parse(name, value, &u, msg, sizeof(msg))) {
		config_user_free(&u);
		ini_error(ld->h, pos, "%s", msg);
		return false;
	}
	cfg->users = grow_array(cfg->users, cfg->nusers, &ld->usercap, sizeof(*cfg->users));
	cfg->users[cfg->nusers++] = u;
	return true;
}

static bool add_peer(struct loader *ld, const struct ini_pos *pos, const char *id,
		     const char *value)
{
	struct config *cfg = ld->cfg;
	char msg[ENTRY_MSG_LEN];
	struct peer_def p;

	if (!config_peer_parse(id, value, &p, msg, sizeof(msg))) {
		config_peer_free(&p);
		ini_error(ld->h, pos, "%s", msg);
		return false;
	}
	cfg->peers = grow_array(cfg->peers, cfg->npeers, &ld->peercap, sizeof(*cfg->peers));
	cfg->peers[cfg->npeers++] = p;
	return true;
}

static bool on_key(const struct ini_handler *h, const struct ini_pos *pos, const char *key,
		   const char *value)
{
	struct loader *ld = h->arg;

	switch (ld->section) {
	case SECTION_MAIN:
		return set_main_key(ld, pos, key, value);
	case SECTION_DATABASES:
		return add_db(ld, pos, key, value);
	case SECTION_USERS:
		return add_user(ld, pos, key, value);
	case SECTION_PEERS:
		return add_peer(ld, pos, key, value);
	case SECTION_UNKNOWN:
		return true;
	case SECTION_NONE:
		break;
	}
	ini_error(h, pos, "parameter \"%s\" is outside of any section", key);
	return false;
}

/* ---- checks that span keys, after the whole file was read or a SET ---- */

/*
 * A check writes why cfg breaks it into msg (without position) and returns false. The
 * loader reports it at the line of the first of keys[] that the file set (keys[0]'s
 * "(default)" position when none was).
 */
struct cross_check {
	bool (*fn)(struct config *cfg, char *msg, size_t len);
	const char *keys[2]; /* a NULL second key: only one */
};

static bool check_auth_type(struct config *cfg, char *msg, size_t len)
{
	switch (cfg->auth_type) {
	case AUTH_TYPE_ANY:
	case AUTH_TYPE_TRUST:
	case AUTH_TYPE_PLAIN:
	case AUTH_TYPE_MD5:
	case AUTH_TYPE_SCRAM:
	case AUTH_TYPE_CERT:
		return true;
	case AUTH_TYPE_HBA:
		if (cfg->auth_hba_file[0])
			return true;
		snprintf(msg, len, "auth_type \"hba\" needs auth_hba_file");
		return false;
	default:
		break;
	}
	snprintf(msg, len, "auth_type \"%s\" is not implemented yet",
		 auth_type_name(cfg->auth_type));
	return false;
}

static bool check_packet_sizes(struct config *cfg, char *msg, size_t len)
{
	if (cfg->max_packet_size >= cfg->pkt_buf)
		return true;
	snprintf(msg, len, "max_packet_size (%d) must not be smaller than pkt_buf (%d)",
		 cfg->max_packet_size, cfg->pkt_buf);
	return false;
}

/* server_require_auth is a string in the table; its list is parsed here, once. */
static bool check_require_auth(struct config *cfg, char *msg, size_t len)
{
	char why[160];

	if (auth_require_parse(cfg->server_require_auth, &cfg->server_require_auth_allowed, why,
			       sizeof(why)))
		return true;
	snprintf(msg, len, "invalid value \"%s\" for parameter server_require_auth: %s",
		 cfg->server_require_auth, why);
	return false;
}

static const struct cross_check cross_checks[] = {
	{ check_auth_type, { "auth_type", "auth_hba_file" } },
	{ check_packet_sizes, { "max_packet_size", "pkt_buf" } },
	{ check_require_auth, { "server_require_auth", NULL } },
};

static const struct key_pos *pos_of(const struct loader *ld, const char *key)
{
	return &ld->pos[config_find_key(key) - config_keys];
}

static void report_check(const struct loader *ld, const struct cross_check *c, const char *msg)
{
	const struct key_pos *kp = pos_of(ld, c->keys[0]);
	struct ini_pos pos;

	if (!kp->file && c->keys[1] && pos_of(ld, c->keys[1])->file)
		kp = pos_of(ld, c->keys[1]);
	pos = (struct ini_pos){ kp->file ? kp->file : "(default)", kp->line };
	ini_error(ld->h, &pos, "%s", msg);
}

/* Runs every check (each failure is reported); false if one failed. */
static bool check_all(struct loader *ld)
{
	char msg[ENTRY_MSG_LEN];
	bool ok = true;

	for (size_t i = 0; i < ARRAY_SIZE(cross_checks); i++) {
		if (cross_checks[i].fn(ld->cfg, msg, sizeof(msg)))
			continue;
		report_check(ld, &cross_checks[i], msg);
		ok = false;
	}
	return ok;
}

static void finish(struct loader *ld, const char *path)
{
	struct config *cfg = ld->cfg;

	if (path && cfg->conffile[0] == '\0')
		replace_string(&cfg->conffile, path);
	sort_sections(cfg);
	for (size_t i = 0; i < cfg->npeers; i++) {
		if (cfg->peers[i].pool_size < 0)
			cfg->peers[i].pool_size = cfg->default_pool_size;
	}
}

static void loader_init(struct loader *ld, struct ini_handler *h, char *err, size_t errlen)
{
	*ld = (struct loader){ .section = SECTION_NONE, .main_name = "weir", .h = h };
	*h = (struct ini_handler){ on_section, on_key, ld, err, errlen };
	if (err && errlen)
		err[0] = '\0';
	ld->cfg = config_new();
	ld->pos = xcalloc(config_nkeys, sizeof(*ld->pos));
}

/*
 * Runs the checks that span keys (after a failed parse too: every error is reported),
 * frees the loader, and returns the snapshot, or NULL if anything was wrong.
 */
static struct config *loader_done(struct loader *ld, bool ok, const char *path)
{
	ok = check_all(ld) && ok;
	if (ok)
		finish(ld, path);
	for (size_t i = 0; i < ld->nfiles; i++)
		free(ld->files[i]);
	free(ld->files);
	free(ld->pos);
	if (!ok) {
		config_unref(ld->cfg);
		return NULL;
	}
	return ld->cfg;
}

struct config *config_load(const char *path, char *err, size_t errlen)
{
	struct loader ld;
	struct ini_handler h;

	loader_init(&ld, &h, err, errlen);
	return loader_done(&ld, ini_parse_file(path, &h), path);
}

struct config *config_load_string(const char *text, const char *name, char *err, size_t errlen)
{
	struct loader ld;
	struct ini_handler h;

	loader_init(&ld, &h, err, errlen);
	return loader_done(&ld, ini_parse_string(text, name, &h), NULL);
}

static void warn_unimplemented(const struct config_key *k)
{
	if (!(k->flags & CONFIG_IMPLEMENTED))
		log_warning("parameter \"%s\" is not implemented yet, its value is ignored",
			    k->name);
}

/* The first cross-key check that cfg fails, into msg; true if none does. */
static bool checks_pass(struct config *cfg, char *msg, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(cross_checks); i++) {
		if (!cross_checks[i].fn(cfg, msg, len))
			return false;
	}
	return true;
}

bool config_check(struct config *cfg, char *err, size_t errlen)
{
	char msg[ENTRY_MSG_LEN];

	if (checks_pass(cfg, msg, sizeof(msg)))
		return true;
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
	return false;
}

struct config *config_with_value(const struct config *cfg, const char *key, const char *value,
				 char *err, size_t errlen)
{
	const struct config_key *k = config_find_key(key);
	char msg[ENTRY_MSG_LEN];
	struct config *next;

	if (!k) {
		snprintf(msg, sizeof(msg), "unknown parameter: %s", key);
		next = NULL;
	} else {
		next = config_copy(cfg);
		if (!set_value(next, k, value))
			snprintf(msg, sizeof(msg), "invalid value \"%s\" for parameter %s", value,
				 key);
		else if (checks_pass(next, msg, sizeof(msg))) {
			warn_unimplemented(k);
			return next;
		}
	}
	config_unref(next);
	if (err && errlen)
		snprintf(err, errlen, "SET failed: %s", msg);
	return NULL;
}
