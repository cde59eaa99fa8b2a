/* SPDX-License-Identifier: ISC */
/*
 * Connection strings of [databases], [users] and [peers], and the value parsers that the
 * whole configuration layer shares. A connection string is a space-separated list of
 * key=value pairs (blanks allowed around '='); a value may be single-quoted, with '' for a
 * quote inside it, so that "connect_query='set a=1; set b=2'" is one value. There are no
 * backslash escapes; empty values and unknown keys are errors.
 *
 * Each entry kind has a declarative field table (name, type, field offset, range); one
 * tokenizer and one applier serve all three. This module does not know where an entry came
 * from: the loader in config.c adds file and line to the messages written here.
 *
 * Entry points: config_db_parse, config_user_parse, config_peer_parse, their _copy and
 * _free functions, and config_parse_int/_bool/_time/_enum.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "config_db.h"
#include "ini.h"

#define TIME_MAX_SECONDS  1e12 /* keeps microseconds far below UINT64_MAX */
#define DEFAULT_DB_PORT	  5432
#define DEFAULT_PEER_PORT 6432
#define MAX_PEER_ID	  65535

const char *const config_pool_mode_names[] = { "session", "transaction", "statement", NULL };
const char *const config_load_balance_names[] = { "round-robin", "disable", NULL };

bool config_parse_int(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 0);
	if (end == s || *end != '\0' || errno == ERANGE || v < min || v > max)
		return false;
	*out = v;
	return true;
}

bool config_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "on", "true", "yes", NULL };
	static const char *const no[] = { "off", "false", "no", NULL };
	long long v;

	if (config_parse_enum(s, yes) >= 0) {
		*out = true;
		return true;
	}
	if (config_parse_enum(s, no) >= 0) {
		*out = false;
		return true;
	}
	if (!config_parse_int(s, LLONG_MIN, LLONG_MAX, &v))
		return false;
	*out = v != 0;
	return true;
}

bool config_parse_time(const char *s, bool allow_unset, usec_t *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v))
		return false;
	if (allow_unset && v == -1.0) {
		*out = USEC_UNSET;
		return true;
	}
	if (v < 0 || v > TIME_MAX_SECONDS)
		return false;
	*out = (usec_t)(v * (double)USEC_PER_SEC + 0.5);
	return true;
}

int config_parse_enum(const char *s, const char *const *names)
{
	for (int i = 0; names[i]; i++) {
		if (strcasecmp(s, names[i]) == 0)
			return i;
	}
	return -1;
}

/* ---- field tables ---- */

enum field_type {
	FIELD_STR,
	FIELD_INT,
	FIELD_TIME,
	FIELD_ENUM,
};

struct field {
	const char *name;
	enum field_type type;
	size_t offset;
	int min, max;		  /* FIELD_INT */
	const char *const *names; /* FIELD_ENUM */
};

/* A table initializer must be a constant expression, hence macros. */
#define F_STR(st, n)                                              \
	{                                                         \
#n, FIELD_STR, offsetof(struct st, n), 0, 0, NULL \
	}
#define F_INT(st, n, lo, hi)                                        \
	{                                                           \
#n, FIELD_INT, offsetof(struct st, n), lo, hi, NULL \
	}
#define F_TIME(st, n)                                              \
	{                                                          \
#n, FIELD_TIME, offsetof(struct st, n), 0, 0, NULL \
	}
#define F_ENUM(st, n, names)                                        \
	{                                                           \
#n, FIELD_ENUM, offsetof(struct st, n), 0, 0, names \
	}

static const struct field db_fields[] = {
	F_STR(db_def, dbname),
	F_STR(db_def, host),
	F_INT(db_def, port, 1, 65535),
	F_STR(db_def, user),
	F_STR(db_def, password),
	F_STR(db_def, auth_user),
	F_STR(db_def, auth_query),
	F_STR(db_def, auth_dbname),
	F_INT(db_def, pool_size, -1, INT_MAX),
	F_INT(db_def, min_pool_size, -1, INT_MAX),
	F_INT(db_def, reserve_pool_size, -1, INT_MAX),
	/* the old name, kept for compatibility */
	{ "reserve_pool", FIELD_INT, offsetof(struct db_def, reserve_pool_size), -1, INT_MAX,
	  NULL },
	F_STR(db_def, connect_query),
	F_ENUM(db_def, pool_mode, config_pool_mode_names),
	F_TIME(db_def, query_wait_timeout),
	F_ENUM(db_def, load_balance_hosts, config_load_balance_names),
	F_INT(db_def, max_db_connections, -1, INT_MAX),
	F_INT(db_def, max_db_client_connections, -1, INT_MAX),
	F_TIME(db_def, server_lifetime),
	F_STR(db_def, client_encoding),
	F_STR(db_def, datestyle),
	F_STR(db_def, timezone),
	F_STR(db_def, application_name),
};

static const struct field user_fields[] = {
	F_ENUM(user_def, pool_mode, config_pool_mode_names),
	F_INT(user_def, pool_size, -1, INT_MAX),
	F_INT(user_def, reserve_pool_size, -1, INT_MAX),
	F_INT(user_def, max_user_connections, -1, INT_MAX),
	F_INT(user_def, max_user_client_connections, -1, INT_MAX),
	F_TIME(user_def, query_timeout),
	F_TIME(user_def, query_wait_timeout),
	F_TIME(user_def, idle_transaction_timeout),
	F_TIME(user_def, transaction_timeout),
	F_TIME(user_def, client_idle_timeout),
};

static const struct field peer_fields[] = {
	F_STR(peer_def, host),
	F_INT(peer_def, port, 1, 65535),
	F_INT(peer_def, pool_size, -1, INT_MAX),
};

struct field_set {
	const struct field *fields;
	size_t n;
	const char *what; /* "connection" or "user", as in the error messages */
};

static const struct field_set db_set = { db_fields, ARRAY_SIZE(db_fields), "connection" };
static const struct field_set user_set = { user_fields, ARRAY_SIZE(user_fields), "user" };
static const struct field_set peer_set = { peer_fields, ARRAY_SIZE(peer_fields), "connection" };

static void free_string(char **p)
{
	if (!*p)
		return;
	OPENSSL_cleanse(*p, strlen(*p));
	free(*p);
	*p = NULL;
}

static bool store_field(const struct field *f, void *dst, const char *value)
{
	long long n;
	usec_t t;
	int e;

	switch (f->type) {
	case FIELD_STR:
		free_string(dst);
		*(char **)dst = xstrdup(value);
		return true;
	case FIELD_INT:
		if (!config_parse_int(value, f->min, f->max, &n))
			return false;
		*(int *)dst = (int)n;
		return true;
	case FIELD_TIME:
		if (!config_parse_time(value, true, &t))
			return false;
		*(usec_t *)dst = t;
		return true;
	case FIELD_ENUM:
		e = config_parse_enum(value, f->names);
		if (e < 0)
			return false;
		*(int *)dst = e;
		return true;
	}
	return false;
}

/* Gives dst (a bitwise copy of src) strings of its own. */
static void copy_fields(const struct field_set *set, void *dst)
{
	for (size_t i = 0; i < set->n; i++) {
		char **p = (char **)((char *)dst + set->fields[i].offset);

		if (set->fields[i].type == FIELD_STR && *p)
			*p = xstrdup(*p);
	}
}

static void free_fields(const struct field_set *set, void *base)
{
	for (size_t i = 0; i < set->n; i++) {
		if (set->fields[i].type == FIELD_STR)
			free_string((char **)((char *)base + set->fields[i].offset));
	}
}

/* ---- tokenizer ---- */

enum pair_result {
	PAIR_OK,
	PAIR_END,
	PAIR_ERROR,
};

struct pair {
	char *key;
	char *value;
};

static char *skip_space(char *s)
{
	while (*s && isspace((unsigned char)*s))
		s++;
	return s;
}

static bool is_param_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* Reads the value at p into pr->value; returns where the next pair may start, or NULL. */
static char *read_value(char *p, struct pair *pr, char *msg, size_t msglen)
{
	char *end, *content_end;

	pr->value = p;
	if (*p != '\'') {
		while (*p && !isspace((unsigned char)*p))
			p++;
		if (*p)
			*p++ = '\0';
		return p;
	}
	end = ini_unquote(p, &content_end);
	if (end) {
		*content_end = '\0';
		pr->value = p + 1;
	}
	if (!end)
		snprintf(msg, msglen, "unterminated quoted value for parameter %s", pr->key);
	else if (*end && !isspace((unsigned char)*end))
		snprintf(msg, msglen, "syntax error after quoted value for parameter %s", pr->key);
	else
		return end;
	return NULL;
}

/* Cuts the next key=value out of *cur, in place. Messages never quote values: they may be
 * passwords. */
static enum pair_result next_pair(char **cur, struct pair *pr, char *msg, size_t msglen)
{
	char *p = skip_space(*cur), *kend;

	if (*p == '\0')
		return PAIR_END;
	pr->key = p;
	while (is_param_char(*p))
		p++;
	if (p == pr->key) {
		snprintf(msg, msglen, "syntax error in connection string at \"%c\"", *p);
		return PAIR_ERROR;
	}
	kend = p;
	p = skip_space(p);
	if (*p != '=') {
		*kend = '\0';
		snprintf(msg, msglen, "syntax error in connection string: no \"=\" after %s",
			 pr->key);
		return PAIR_ERROR;
	}
	p = skip_space(p + 1);
	*kend = '\0';
	*cur = read_value(p, pr, msg, msglen);
	if (!*cur)
		return PAIR_ERROR;
	if (*pr->value == '\0') {
		snprintf(msg, msglen, "empty value for parameter %s", pr->key);
		return PAIR_ERROR;
	}
	return PAIR_OK;
}

static bool apply_pair(const struct field_set *set, void *base, const struct pair *pr, char *msg,
		       size_t msglen)
{
	const struct field *f = NULL;

	for (size_t i = 0; i < set->n && !f; i++) {
		if (strcmp(set->fields[i].name, pr->key) == 0)
			f = &set->fields[i];
	}
	if (!f) {
		snprintf(msg, msglen, "unrecognized %s parameter: %s", set->what, pr->key);
		return false;
	}
	if (!store_field(f, (char *)base + f->offset, pr->value)) {
		snprintf(msg, msglen, "invalid value \"%s\" for %s parameter %s", pr->value,
			 set->what, pr->key);
		return false;
	}
	return true;
}

static bool parse_connstr(const struct field_set *set, void *base, const char *value, char *msg,
			  size_t msglen)
{
	size_t len = strlen(value);
	char *copy = xstrndup(value, len), *cur = copy;
	enum pair_result r;
	struct pair pr;
	bool ok = true;

	while (ok && (r = next_pair(&cur, &pr, msg, msglen)) != PAIR_END)
		ok = r == PAIR_OK && apply_pair(set, base, &pr, msg, msglen);
	OPENSSL_cleanse(copy, len);
	free(copy);
	return ok;
}

/* ---- entries ---- */

bool config_db_parse(const char *name, const char *value, struct db_def *out, char *msg,
		     size_t msglen)
{
	*out = (struct db_def){
		.name = xstrdup(name),
		.port = DEFAULT_DB_PORT,
		.pool_size = -1,
		.min_pool_size = -1,
		.reserve_pool_size = -1,
		.pool_mode = -1,
		.max_db_connections = -1,
		.max_db_client_connections = -1,
		.server_lifetime = USEC_UNSET,
		.query_wait_timeout = USEC_UNSET,
		.load_balance_hosts = LB_ROUND_ROBIN,
	};
	return parse_connstr(&db_set, out, value, msg, msglen);
}

bool config_user_parse(const char *name, const char *value, struct user_def *out, char *msg,
		       size_t msglen)
{
	*out = (struct user_def){
		.name = xstrdup(name),
		.pool_mode = -1,
		.pool_size = -1,
		.reserve_pool_size = -1,
		.max_user_connections = -1,
		.max_user_client_connections = -1,
		.query_timeout = USEC_UNSET,
		.query_wait_timeout = USEC_UNSET,
		.idle_transaction_timeout = USEC_UNSET,
		.transaction_timeout = USEC_UNSET,
		.client_idle_timeout = USEC_UNSET,
	};
	return parse_connstr(&user_set, out, value, msg, msglen);
}

static bool all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return false;
	}
	return true;
}

bool config_peer_parse(const char *id, const char *value, struct peer_def *out, char *msg,
		       size_t msglen)
{
	long long n = 0;

	*out = (struct peer_def){ .port = DEFAULT_PEER_PORT, .pool_size = -1 };
	if (!all_digits(id) || !config_parse_int(id, 1, MAX_PEER_ID, &n)) {
		snprintf(msg, msglen, "invalid peer id \"%s\": must be a number from 1 to %d", id,
			 MAX_PEER_ID);
		return false;
	}
	out->peer_id = (int)n;
	if (!parse_connstr(&peer_set, out, value, msg, msglen))
		return false;
	if (!out->host) {
		snprintf(msg, msglen, "host was not provided for peer %d", out->peer_id);
		return false;
	}
	return true;
}

void config_db_copy(struct db_def *dst, const struct db_def *src)
{
	*dst = *src;
	copy_fields(&db_set, dst);
	dst->name = xstrdup(src->name);
	dst->file = src->file ? xstrdup(src->file) : NULL;
}

void config_user_copy(struct user_def *dst, const struct user_def *src)
{
	*dst = *src;
	dst->name = xstrdup(src->name);
}

void config_peer_copy(struct peer_def *dst, const struct peer_def *src)
{
	*dst = *src;
	copy_fields(&peer_set, dst);
}

void config_db_free(struct db_def *db)
{
	free_fields(&db_set, db);
	free(db->name);
	free(db->file);
	db->name = db->file = NULL;
}

void config_user_free(struct user_def *u)
{
	free(u->name);
	u->name = NULL;
}

void config_peer_free(struct peer_def *p)
{
	free_fields(&peer_set, p);
}

const char *config_first_host(const char *hosts, char *buf, size_t len)
{
	snprintf(buf, len, "%.*s", hosts ? (int)strcspn(hosts, ",") : 0, hosts ? hosts : "");
	return buf;
}
