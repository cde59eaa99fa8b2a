/* SPDX-License-Identifier: ISC */
/* Unit tests for the console's grammar (admin_parse in admin.c): PgBouncer's shapes only. */
#include <string.h>

#include "admin_cmd.h"
#include "harness.h"

TEST(admin_parse_accepts_a_word_and_an_argument)
{
	static const struct {
		const char *sql, *cmd, *arg;
	} cases[] = {
		{ "SHOW POOLS", "show", "POOLS" },
		{ "  show   pools ;  ", "show", "pools" },
		{ "PAUSE", "pause", "" },
		{ "pause;", "pause", "" },
		{ "PAUSE \"My Db\"", "pause", "My Db" },
		{ "PAUSE \"say \"\"hi\"\"\"", "pause", "say \"hi\"" },
		{ "KILL_CLIENT 42", "kill_client", "42" },
		{ "select version", "select", "version" },
		{ "RESUME\tapp\n", "resume", "app" },
	};
	struct admin_query q;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK(admin_parse(cases[i].sql, &q));
		CHECK_STR(q.cmd, cases[i].cmd);
		CHECK_STR(q.arg, cases[i].arg);
		CHECK_INT(q.has_arg, cases[i].arg[0] != '\0');
	}
}

TEST(admin_parse_set_takes_equals_or_to_and_a_word_or_a_string)
{
	static const struct {
		const char *sql, *key, *value;
	} cases[] = {
		{ "SET default_pool_size = 5", "default_pool_size", "5" },
		{ "set default_pool_size=5;", "default_pool_size", "5" },
		{ "SET pool_mode TO 'transaction'", "pool_mode", "transaction" },
		{ "SET server_reset_query = 'DISCARD ALL'", "server_reset_query", "DISCARD ALL" },
		{ "SET x = 'it''s'", "x", "it's" },
		{ "SET client_encoding TO \"UTF8\"", "client_encoding", "UTF8" },
	};
	struct admin_query q;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK(admin_parse(cases[i].sql, &q));
		CHECK_STR(q.cmd, "set");
		CHECK_STR(q.arg, cases[i].key);
		CHECK_STR(q.value, cases[i].value);
	}
}

TEST(admin_parse_refuses_everything_else)
{
	static const char *const bad[] = {
		"",
		";",
		"SHOW POOLS POOLS",
		"SHOW POOLS; SHOW STATS",
		"SHOW POOLS;;",
		"SELECT 1 + 1",
		"SHOW 'pools'",
		"SHOW \"\"",
		"SHOW \"unterminated",
		"SET x",
		"SET = 1",
		"SET x = 'unterminated",
		"SET x == 1",
		"SET x TOO 1",
		"SETx = 1",
		"PAUSE-app",
		"SHOW pöols",
		"SHOW_ALL_THE_THINGS_NOW", /* a command word of more than 15 characters */
		"PAUSE aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 64 */
	};
	struct admin_query q;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(!admin_parse(bad[i], &q));
}

TEST(admin_parse_limits_are_pgbouncers)
{
	char value[300];
	struct admin_query q;

	CHECK(admin_parse("KILL_CLIENT_ABC", &q)); /* 15 characters */
	CHECK(admin_parse("PAUSE aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &q));
	memset(value, 'v', sizeof(value));
	memcpy(value, "SET k = '", 9);
	value[9 + 255] = '\'';
	value[9 + 256] = '\0';
	CHECK(admin_parse(value, &q)); /* a value of 255 characters */
	value[9 + 256] = 'v';
	value[9 + 257] = '\'';
	value[9 + 258] = '\0';
	CHECK(!admin_parse(value, &q));
}
