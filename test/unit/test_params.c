/* SPDX-License-Identifier: ISC */
/* Unit tests for params.c: tracked names, value sets and the SET query builder. */
#include <string.h>

#include "harness.h"
#include "params.h"

TEST(params_names_include_defaults_and_extras)
{
	struct param_names pn;

	params_init_names(&pn, "IntervalStyle, search_path ,,intervalstyle");
	CHECK_INT(pn.count, 7);
	CHECK(params_index(&pn, "timezone") >= 0);
	CHECK(params_index(&pn, "DATESTYLE") >= 0);
	CHECK(params_index(&pn, "search_path") >= 0);
	CHECK_INT(params_index(&pn, "IntervalStyle"), params_index(&pn, "INTERVALSTYLE"));
	CHECK_INT(params_index(&pn, "work_mem"), -1);
	params_free_names(&pn);
}

TEST(params_set_builds_nothing_when_values_match)
{
	struct param_names pn;
	struct param_values want = { { 0 } }, dflt = { { 0 } }, have = { { 0 } };
	char out[256];

	params_init_names(&pn, "");
	params_set(&want, params_index(&pn, "TimeZone"), "UTC");
	params_set(&have, params_index(&pn, "TimeZone"), "UTC");
	CHECK_INT(params_build_set(&pn, &want, &dflt, &have, out, sizeof(out)), 0);
	CHECK_STR(out, "");
	params_clear(&want);
	params_clear(&have);
	params_free_names(&pn);
}

TEST(params_set_uses_client_value_then_default)
{
	struct param_names pn;
	struct param_values want = { { 0 } }, dflt = { { 0 } }, have = { { 0 } };
	char out[256];
	int n;

	params_init_names(&pn, "");
	params_set(&want, params_index(&pn, "TimeZone"), "Asia/Tokyo");
	params_set(&dflt, params_index(&pn, "application_name"), "");
	params_set(&have, params_index(&pn, "application_name"), "psql");
	n = params_build_set(&pn, &want, &dflt, &have, out, sizeof(out));
	CHECK_STR(out, "SET TimeZone=E'Asia/Tokyo';SET application_name=E'';");
	CHECK_INT(n, (int)strlen(out));
	params_clear(&want);
	params_clear(&dflt);
	params_clear(&have);
	params_free_names(&pn);
}

TEST(params_set_escapes_quotes_and_backslashes)
{
	struct param_names pn;
	struct param_values want = { { 0 } }, dflt = { { 0 } }, have = { { 0 } };
	char out[256];

	params_init_names(&pn, "");
	params_set(&want, params_index(&pn, "application_name"), "it's a \\ test");
	CHECK(params_build_set(&pn, &want, &dflt, &have, out, sizeof(out)) > 0);
	CHECK_STR(out, "SET application_name=E'it''s a \\\\ test';");
	params_clear(&want);
	params_free_names(&pn);
}

TEST(params_set_reports_overflow)
{
	struct param_names pn;
	struct param_values want = { { 0 } }, dflt = { { 0 } }, have = { { 0 } };
	char out[16];

	params_init_names(&pn, "");
	params_set(&want, params_index(&pn, "TimeZone"), "America/Argentina/Buenos_Aires");
	CHECK_INT(params_build_set(&pn, &want, &dflt, &have, out, sizeof(out)), -1);
	params_clear(&want);
	params_free_names(&pn);
}

TEST(params_set_bound_fits_the_worst_case_escaping)
{
	struct param_names pn;
	struct param_values want = { { 0 } }, dflt = { { 0 } }, have = { { 0 } };
	char value[300], out[2048];
	size_t bound;

	memset(value, '\'', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	params_init_names(&pn, "");
	params_set(&want, params_index(&pn, "application_name"), value);
	params_set(&dflt, params_index(&pn, "TimeZone"), "UTC");
	bound = params_set_bound(&pn, &want, &dflt);
	CHECK(bound <= sizeof(out));
	CHECK(params_build_set(&pn, &want, &dflt, &have, out, bound) > 0);
	CHECK_INT(strlen(out) + 1 <= bound, 1);
	params_clear(&want);
	params_clear(&dflt);
	params_free_names(&pn);
}

TEST(params_parse_status_checks_layout)
{
	static const uint8_t good[] = "TimeZone\0UTC";
	static const uint8_t missing_nul[] = { 'T', 'Z', 0, 'U' };
	const char *name = NULL, *value = NULL;

	CHECK(params_parse_status(good, sizeof(good), &name, &value));
	CHECK_STR(name, "TimeZone");
	CHECK_STR(value, "UTC");
	CHECK(!params_parse_status(missing_nul, sizeof(missing_nul), &name, &value));
	CHECK(!params_parse_status(good, sizeof(good) - 5, &name, &value));
}

TEST(params_cache_remembers_reported_forms_and_replaces_the_oldest)
{
	struct param_cache c = { 0 };
	char raw[32], rep[32];

	CHECK(params_cache_get(&c, 0, "utf8") == NULL);
	params_cache_put(&c, 0, "utf8", "UTF8");
	CHECK_STR(params_cache_get(&c, 0, "utf8"), "UTF8");
	CHECK(params_cache_get(&c, 1, "utf8") == NULL); /* per name */
	params_cache_put(&c, 0, "utf8", "other");	/* known: kept as it was */
	CHECK_STR(params_cache_get(&c, 0, "utf8"), "UTF8");
	for (int i = 0; i < PARAMS_CACHE_WAYS; i++) {
		snprintf(raw, sizeof(raw), "v%d", i);
		snprintf(rep, sizeof(rep), "V%d", i);
		params_cache_put(&c, 0, raw, rep);
	}
	CHECK(params_cache_get(&c, 0, "utf8") == NULL); /* the oldest went first */
	CHECK_STR(params_cache_get(&c, 0, "v0"), "V0");
	CHECK_STR(params_cache_get(&c, 0, "v15"), "V15");
	CHECK(params_cache_get(&c, -1, "x") == NULL);
	params_cache_free(&c);
}
