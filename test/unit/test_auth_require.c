/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for auth_require.c: the server_require_auth parser (libpq's require_auth
 * syntax: plain or negated lists, no mixing, no repeats, weir's four methods), the method
 * check and its message, and the SCRAM iteration cap.
 */
#include <string.h>

#include "auth_require.h"
#include "harness.h"

#define BIT(m) (1u << (m))

static unsigned parse_ok(const char *value)
{
	unsigned allowed = 12345;
	char err[256] = "";

	if (!auth_require_parse(value, &allowed, err, sizeof(err)))
		harness_fail(__FILE__, __LINE__, err);
	return allowed;
}

static void parse_fails(const char *value, const char *want)
{
	unsigned allowed = 12345;
	char err[256] = "";

	CHECK(!auth_require_parse(value, &allowed, err, sizeof(err)));
	CHECK_STR(err, want);
	CHECK_INT(allowed, 12345);
}

TEST(require_auth_empty_allows_every_method)
{
	CHECK_INT(parse_ok(""), AUTH_REQUIRE_ANY);
	CHECK_INT(parse_ok("   "), AUTH_REQUIRE_ANY);
	CHECK_INT(AUTH_REQUIRE_ANY, BIT(AUTH_METHOD_NONE) | BIT(AUTH_METHOD_PASSWORD) |
					BIT(AUTH_METHOD_MD5) | BIT(AUTH_METHOD_SCRAM));
}

TEST(require_auth_plain_list_allows_only_those)
{
	CHECK_INT(parse_ok("scram-sha-256"), BIT(AUTH_METHOD_SCRAM));
	CHECK_INT(parse_ok("password,md5"), BIT(AUTH_METHOD_PASSWORD) | BIT(AUTH_METHOD_MD5));
	CHECK_INT(parse_ok("none"), BIT(AUTH_METHOD_NONE));
	/* blanks around names and any case, as weir's other enum values */
	CHECK_INT(parse_ok(" SCRAM-SHA-256 , None\t"),
		  BIT(AUTH_METHOD_SCRAM) | BIT(AUTH_METHOD_NONE));
}

TEST(require_auth_negated_list_allows_all_others)
{
	CHECK_INT(parse_ok("!password,!md5"), BIT(AUTH_METHOD_NONE) | BIT(AUTH_METHOD_SCRAM));
	CHECK_INT(parse_ok("!none"),
		  BIT(AUTH_METHOD_PASSWORD) | BIT(AUTH_METHOD_MD5) | BIT(AUTH_METHOD_SCRAM));
	CHECK_INT(parse_ok(" !md5 "), AUTH_REQUIRE_ANY & ~BIT(AUTH_METHOD_MD5));
	CHECK_INT(parse_ok("!none,!password,!md5,!scram-sha-256"), 0);
}

TEST(require_auth_rejects_what_libpq_rejects)
{
	parse_fails("password,!md5", "negated and plain methods cannot be mixed");
	parse_fails("!md5,password", "negated and plain methods cannot be mixed");
	parse_fails("md5,md5", "method \"md5\" is listed twice");
	parse_fails("!md5,!MD5", "method \"md5\" is listed twice");
	parse_fails("md5,", "empty method in the list");
	parse_fails(",md5", "empty method in the list");
	parse_fails("md5,,none", "empty method in the list");
	parse_fails("!", "empty method in the list");
	parse_fails("! md5",
		    "unknown method \" md5\" (weir knows password, md5, scram-sha-256, none)");
	parse_fails(
	    "md5 scram-sha-256",
	    "unknown method \"md5 scram-sha-256\" (weir knows password, md5, scram-sha-256, "
	    "none)");
}

TEST(require_auth_refuses_methods_weir_cannot_do)
{
	parse_fails("gss",
		    "unknown method \"gss\" (weir knows password, md5, scram-sha-256, none)");
	parse_fails("!sspi",
		    "unknown method \"sspi\" (weir knows password, md5, scram-sha-256, none)");
	parse_fails("scram-sha-256-plus", "unknown method \"scram-sha-256-plus\" (weir knows "
					  "password, md5, scram-sha-256, none)");
}

TEST(require_auth_check_names_the_method_and_the_setting)
{
	unsigned allowed = parse_ok("!password,!md5");
	char msg[512] = "";

	CHECK(auth_require_check(allowed, "!password,!md5", AUTH_METHOD_SCRAM, msg, sizeof(msg)));
	CHECK(auth_require_check(allowed, "!password,!md5", AUTH_METHOD_NONE, msg, sizeof(msg)));
	CHECK_STR(msg, "");
	CHECK(
	    !auth_require_check(allowed, "!password,!md5", AUTH_METHOD_PASSWORD, msg, sizeof(msg)));
	CHECK_STR(msg, "server asked for authentication method \"password\" (a cleartext "
		       "password), which server_require_auth \"!password,!md5\" does not allow");
	CHECK(!auth_require_check(allowed, "!password,!md5", AUTH_METHOD_MD5, msg, sizeof(msg)));
	CHECK_STR(msg, "server asked for authentication method \"md5\" (an md5 password), which "
		       "server_require_auth \"!password,!md5\" does not allow");
	allowed = parse_ok("scram-sha-256");
	CHECK(!auth_require_check(allowed, "scram-sha-256", AUTH_METHOD_NONE, msg, sizeof(msg)));
	CHECK_STR(msg, "server asked for authentication method \"none\" (no password), which "
		       "server_require_auth \"scram-sha-256\" does not allow");
	CHECK(auth_require_check(AUTH_REQUIRE_ANY, "", AUTH_METHOD_PASSWORD, msg, sizeof(msg)));
}

TEST(require_auth_method_names_are_libpqs)
{
	CHECK_STR(auth_method_name(AUTH_METHOD_NONE), "none");
	CHECK_STR(auth_method_name(AUTH_METHOD_PASSWORD), "password");
	CHECK_STR(auth_method_name(AUTH_METHOD_MD5), "md5");
	CHECK_STR(auth_method_name(AUTH_METHOD_SCRAM), "scram-sha-256");
	CHECK_STR(auth_method_name(AUTH_METHOD_COUNT), "unknown");
}

TEST(require_auth_iteration_cap_is_inclusive_and_names_both_values)
{
	char msg[256] = "";

	CHECK(auth_require_iterations(4096, 100000, msg, sizeof(msg)));
	CHECK(auth_require_iterations(100000, 100000, msg, sizeof(msg)));
	CHECK_STR(msg, "");
	CHECK(!auth_require_iterations(100001, 100000, msg, sizeof(msg)));
	CHECK_STR(msg, "server asked for 100001 SCRAM iterations, more than "
		       "server_scram_max_iterations (100000)");
	CHECK(!auth_require_iterations(UINT32_MAX, 10000000, msg, sizeof(msg)));
	CHECK_STR(msg, "server asked for 4294967295 SCRAM iterations, more than "
		       "server_scram_max_iterations (10000000)");
}
