/* SPDX-License-Identifier: ISC */
/* Unit tests for sqlcmd.c: recognising DEALLOCATE in SQL text as PostgreSQL parses it. */
#include <string.h>

#include "harness.h"
#include "sqlcmd.h"

static enum sqlcmd_kind whole(const char *sql, char name[SQLCMD_NAME_MAX])
{
	return sqlcmd_deallocate(sql, strlen(sql), true, name);
}

static enum sqlcmd_kind prefix(const char *sql)
{
	char name[SQLCMD_NAME_MAX];

	return sqlcmd_deallocate(sql, strlen(sql), false, name);
}

TEST(sqlcmd_deallocate_forms_give_the_name_postgresql_resolves)
{
	static const struct {
		const char *sql, *name;
	} cases[] = {
		{ "DEALLOCATE s1", "s1" },
		{ "deallocate PREPARE S1;", "s1" },
		{ "  DEALLOCATE\n\"S1\"  ", "S1" },
		{ "/* a /* nested */ one */ DEALLOCATE -- comment\n _pg3_0 ; -- tail", "_pg3_0" },
		{ "DEALLOCATE \"with \"\"quote\"\"\"", "with \"quote\"" },
		{ "DEALLOCATE prepare", "prepare" },
		{ "DEALLOCATE PREPARE prepare", "prepare" },
		{ "DEALLOCATE \"ALL\"", "ALL" },
		{ "DEALLOCATE a$1", "a$1" },
	};
	char name[SQLCMD_NAME_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(name, 0, sizeof(name));
		CHECK_INT(whole(cases[i].sql, name), SQLCMD_DEALLOCATE);
		CHECK_STR(name, cases[i].name);
	}
}

TEST(sqlcmd_deallocate_all)
{
	char name[SQLCMD_NAME_MAX];

	CHECK_INT(whole("DEALLOCATE ALL", name), SQLCMD_DEALLOCATE_ALL);
	CHECK_INT(whole("deallocate prepare all;", name), SQLCMD_DEALLOCATE_ALL);
}

TEST(sqlcmd_other_statements_and_malformed_ones_are_left_alone)
{
	static const char *const others[] = {
		"SELECT 1",
		"DEALLOCATE",
		"DEALLOCATE ;",
		"DEALLOCATE a b",
		"DEALLOCATE a; SELECT 1",
		"DEALLOCATE a;;",
		"DEALLOCATE \"\"",
		"DEALLOCATE \"unterminated",
		"DEALLOCATE /* unterminated",
		"DEALLOCATE U&\"d\\0061t\"",
		"DEALLOCATE 1abc",
		"DEALLOCATEs1",
		"DEALLOCATE "
		"a23456789012345678901234567890123456789012345678901234567890123456",
		"\"DEALLOCATE\" s1",
		"",
	};
	char name[SQLCMD_NAME_MAX];

	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		CHECK_INT(whole(others[i], name), SQLCMD_OTHER);
}

TEST(sqlcmd_text_stops_at_a_nul)
{
	static const char sql[] = "DEALLOCATE s1\0 trailing junk";
	char name[SQLCMD_NAME_MAX];

	CHECK_INT(sqlcmd_deallocate(sql, sizeof(sql) - 1, false, name), SQLCMD_DEALLOCATE);
	CHECK_STR(name, "s1");
}

TEST(sqlcmd_prefix_says_maybe_only_while_a_deallocate_is_possible)
{
	CHECK_INT(prefix(""), SQLCMD_MAYBE);
	CHECK_INT(prefix("   "), SQLCMD_MAYBE);
	CHECK_INT(prefix("dealloc"), SQLCMD_MAYBE);
	CHECK_INT(prefix("DEALLOCATE"), SQLCMD_MAYBE);
	CHECK_INT(prefix("DEALLOCATE s1"), SQLCMD_MAYBE);
	CHECK_INT(prefix("/* long comment"), SQLCMD_MAYBE);
	CHECK_INT(prefix("-"), SQLCMD_MAYBE);
	CHECK_INT(prefix("SELECT 1 FROM very_long_tab"), SQLCMD_OTHER);
	CHECK_INT(prefix("SELEC"), SQLCMD_OTHER);
	CHECK_INT(prefix("DEALLOCATE a b"), SQLCMD_OTHER);
}
