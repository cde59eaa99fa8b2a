/* SPDX-License-Identifier: ISC */
/*
 * Tests for auth_query's pure parts: the answer cache (lifetimes, negative answers,
 * failures not cached, replacement, the size bound, wiping on clear) and the plan that says
 * which auth_user, query and database a client's lookup uses, with the errors for a
 * reserved, unconfigured or disabled auth database.
 */
#include <string.h>

#include "auth_query.h"
#include "auth_query_cache.h"
#include "config.h"
#include "harness.h"
#include "registry.h"

#define T0 (1000 * USEC_PER_SEC)

static const struct auth_query_answer found = { AQ_FOUND, "md5aaaabbbbccccddddeeeeffff00001111",
						SECRET_MD5 };
static const struct auth_query_answer unknown = { AQ_UNKNOWN, NULL, SECRET_PLAIN };
static const struct auth_query_answer failed = { AQ_FAILED, NULL, SECRET_PLAIN };

TEST(auth_query_cache_keeps_a_found_secret_for_its_lifetime)
{
	struct auth_query_cache c;
	struct auth_query_answer a;

	auth_query_cache_init(&c);
	auth_query_cache_put(&c, "q", "alice", &found, T0);
	CHECK(auth_query_cache_get(&c, "q", "alice", T0 + AUTH_QUERY_CACHE_TTL - 1, &a));
	CHECK_INT(a.outcome, AQ_FOUND);
	CHECK_STR(a.secret, found.secret);
	CHECK_INT(a.kind, SECRET_MD5);
	CHECK(a.secret != found.secret); /* a copy */
	CHECK(!auth_query_cache_get(&c, "q", "alice", T0 + AUTH_QUERY_CACHE_TTL, &a));
	CHECK_INT(c.entries.count, 0); /* the expired entry went on the way */
	auth_query_cache_clear(&c);
}

TEST(auth_query_cache_keys_on_query_and_user)
{
	struct auth_query_cache c;
	struct auth_query_answer a;

	auth_query_cache_init(&c);
	auth_query_cache_put(&c, "q1", "alice", &found, T0);
	CHECK(!auth_query_cache_get(&c, "q2", "alice", T0, &a));
	CHECK(!auth_query_cache_get(&c, "q1", "bob", T0, &a));
	CHECK(auth_query_cache_get(&c, "q1", "alice", T0, &a));
	auth_query_cache_clear(&c);
	CHECK_INT(c.entries.count, 0);
}

TEST(auth_query_cache_keeps_unknown_users_shorter_and_never_failures)
{
	struct auth_query_cache c;
	struct auth_query_answer a;

	CHECK(AUTH_QUERY_CACHE_NEG_TTL <= AUTH_QUERY_CACHE_TTL);
	auth_query_cache_init(&c);
	auth_query_cache_put(&c, "q", "ghost", &unknown, T0);
	CHECK(auth_query_cache_get(&c, "q", "ghost", T0 + AUTH_QUERY_CACHE_NEG_TTL - 1, &a));
	CHECK_INT(a.outcome, AQ_UNKNOWN);
	CHECK(a.secret == NULL);
	CHECK(!auth_query_cache_get(&c, "q", "ghost", T0 + AUTH_QUERY_CACHE_NEG_TTL, &a));
	auth_query_cache_put(&c, "q", "down", &failed, T0);
	CHECK(!auth_query_cache_get(&c, "q", "down", T0, &a));
	CHECK_INT(c.entries.count, 0);
	auth_query_cache_clear(&c);
}

TEST(auth_query_cache_failure_drops_an_earlier_answer)
{
	struct auth_query_cache c;
	struct auth_query_answer a;

	auth_query_cache_init(&c);
	auth_query_cache_put(&c, "q", "alice", &found, T0);
	auth_query_cache_put(&c, "q", "alice", &failed, T0 + 1);
	CHECK(!auth_query_cache_get(&c, "q", "alice", T0 + 2, &a));
	auth_query_cache_put(&c, "q", "alice", &found, T0);
	auth_query_cache_put(&c, "q", "alice", &unknown, T0 + 1);
	CHECK(auth_query_cache_get(&c, "q", "alice", T0 + 2, &a));
	CHECK_INT(a.outcome, AQ_UNKNOWN);
	CHECK_INT(c.entries.count, 1);
	auth_query_cache_clear(&c);
}

TEST(auth_query_cache_is_bounded_and_drops_the_oldest)
{
	struct auth_query_cache c;
	struct auth_query_answer a;
	char name[32];

	auth_query_cache_init(&c);
	for (int i = 0; i < AUTH_QUERY_CACHE_MAX + 10; i++) {
		snprintf(name, sizeof(name), "user%d", i);
		auth_query_cache_put(&c, "q", name, &found, T0 + (usec_t)i);
	}
	CHECK_INT(c.entries.count, AUTH_QUERY_CACHE_MAX);
	CHECK(!auth_query_cache_get(&c, "q", "user0", T0 + 20, &a));
	CHECK(auth_query_cache_get(&c, "q", "user10", T0 + 20, &a));
	snprintf(name, sizeof(name), "user%d", AUTH_QUERY_CACHE_MAX + 9);
	CHECK(auth_query_cache_get(&c, "q", name, T0 + 20, &a));
	auth_query_cache_expire(&c, T0 + AUTH_QUERY_CACHE_TTL + AUTH_QUERY_CACHE_MAX + 10);
	CHECK_INT(c.entries.count, 0);
	auth_query_cache_clear(&c);
}

/* ---- plans ---- */

static struct registry *registry_from(const char *ini)
{
	char err[1024] = "";
	struct config *cfg = config_load_string(ini, "t.ini", err, sizeof(err));

	if (!cfg) {
		harness_fail(__FILE__, __LINE__, err);
		return NULL;
	}
	return registry_create(cfg, NULL, "t.ini", 1);
}

static const char *plan_ini =
    "[weir]\n"
    "auth_user = global_au\n"
    "auth_query = SELECT 'global'\n"
    "[databases]\n"
    "app = host=127.0.0.1 port=5433 dbname=appdb\n"
    "own = host=h1,h2 auth_user=own_au auth_query='SELECT ''own''' auth_dbname=authdb\n"
    "authdb = host=/tmp port=5434 dbname=realauth\n"
    "reserved = host=x auth_dbname=pgbouncer\n"
    "reserved2 = host=x auth_dbname=weir\n"
    "missing = host=x auth_dbname=nowhere\n";

TEST(auth_query_plan_defaults_to_the_global_keys_and_the_clients_entry)
{
	struct registry *reg = registry_from(plan_ini);
	struct auth_query_plan p;
	char err[256] = "";

	if (!reg)
		return;
	CHECK_INT(auth_query_plan(reg, "app", &p, err, sizeof(err)), AQ_PLAN_OK);
	CHECK_STR(p.auth_user, "global_au");
	CHECK_STR(p.query, "SELECT 'global'");
	CHECK_STR(p.auth_db, "app");
	CHECK_STR(p.dbname, "appdb");
	CHECK_INT(p.def->port, 5433);
	/* a database without an entry (and no "*"): auth_query does not apply */
	CHECK_INT(auth_query_plan(reg, "nosuchdb", &p, err, sizeof(err)), AQ_PLAN_NONE);
	registry_free(reg);
}

TEST(auth_query_plan_per_database_keys_win)
{
	struct registry *reg = registry_from(plan_ini);
	struct auth_query_plan p;
	char err[256] = "";

	if (!reg)
		return;
	CHECK_INT(auth_query_plan(reg, "own", &p, err, sizeof(err)), AQ_PLAN_OK);
	CHECK_STR(p.auth_user, "own_au");
	CHECK_STR(p.query, "SELECT 'own'");
	CHECK_STR(p.auth_db, "authdb");
	CHECK_STR(p.dbname, "realauth");
	CHECK_STR(p.def->host, "/tmp");
	registry_free(reg);
}

TEST(auth_query_plan_errors_name_the_auth_database)
{
	struct registry *reg = registry_from(plan_ini);
	struct auth_query_plan p;
	char err[256] = "";

	if (!reg)
		return;
	CHECK_INT(auth_query_plan(reg, "reserved", &p, err, sizeof(err)), AQ_PLAN_ERROR);
	CHECK_STR(err, "cannot use the reserved \"pgbouncer\" database as an auth_dbname");
	CHECK_INT(auth_query_plan(reg, "reserved2", &p, err, sizeof(err)), AQ_PLAN_ERROR);
	CHECK_STR(err, "cannot use the reserved \"weir\" database as an auth_dbname");
	CHECK_INT(auth_query_plan(reg, "missing", &p, err, sizeof(err)), AQ_PLAN_ERROR);
	CHECK_STR(err, "authentication database \"nowhere\" is not configured");
	registry_database(reg, "authdb")->disabled = true;
	CHECK_INT(auth_query_plan(reg, "own", &p, err, sizeof(err)), AQ_PLAN_ERROR);
	CHECK_STR(err, "authentication database \"authdb\" is disabled");
	registry_free(reg);
}

TEST(auth_query_plan_without_auth_user_is_not_used)
{
	struct registry *reg = registry_from("[databases]\napp = host=x\n");
	struct auth_query_plan p;
	char err[256] = "";

	if (!reg)
		return;
	CHECK_INT(auth_query_plan(reg, "app", &p, err, sizeof(err)), AQ_PLAN_NONE);
	registry_free(reg);
}

TEST(auth_query_plan_uses_the_fallback_entry_for_other_databases)
{
	struct registry *reg =
	    registry_from("[weir]\nauth_user = au\n[databases]\n* = host=10.0.0.1 port=6000\n");
	struct auth_query_plan p;
	char err[256] = "";

	if (!reg)
		return;
	CHECK_INT(auth_query_plan(reg, "somedb", &p, err, sizeof(err)), AQ_PLAN_OK);
	CHECK_STR(p.auth_db, "somedb");
	CHECK_STR(p.dbname, "somedb");
	CHECK_STR(p.def->host, "10.0.0.1");
	CHECK(strstr(p.query, "pg_authid") != NULL); /* the default query */
	registry_free(reg);
}
