/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for auth_md5.c: verifier recognition, verifier computation against known
 * values (one produced by PostgreSQL 15 itself), the salted wire response and its check.
 */
#include <string.h>

#include "auth_md5.h"
#include "harness.h"

static const uint8_t salt1234[4] = { 1, 2, 3, 4 };

TEST(md5_verifier_known_value)
{
	char out[MD5_PASSWD_LEN + 1];

	auth_md5_verifier("admin", "1234", out);
	CHECK_STR(out, "md545f2603610af569b6155c45067268c6b");
}

TEST(md5_verifier_matches_postgres15)
{
	char out[MD5_PASSWD_LEN + 1];

	/* CREATE ROLE weirmd5 PASSWORD 'Tr0ub4dor&3' with password_encryption = md5 */
	auth_md5_verifier("weirmd5", "Tr0ub4dor&3", out);
	CHECK_STR(out, "md5ead61e3991545cfbd25d0d53272783d7");
}

TEST(md5_is_verifier_accepts_only_the_exact_shape)
{
	CHECK(auth_md5_is_verifier("md545f2603610af569b6155c45067268c6b"));
	CHECK(!auth_md5_is_verifier(NULL));
	CHECK(!auth_md5_is_verifier(""));
	CHECK(!auth_md5_is_verifier("md5"));
	CHECK(!auth_md5_is_verifier("md545f2603610af569b6155c45067268c6"));   /* 31 digits */
	CHECK(!auth_md5_is_verifier("md545f2603610af569b6155c45067268c6bb")); /* 33 digits */
	CHECK(!auth_md5_is_verifier("md545F2603610AF569B6155C45067268C6B"));  /* uppercase */
	CHECK(!auth_md5_is_verifier("md545f2603610af569b6155c45067268c6g"));
	CHECK(!auth_md5_is_verifier("MD545f2603610af569b6155c45067268c6b"));
	CHECK(!auth_md5_is_verifier("SCRAM-SHA-256$4096:abc$def:ghi"));
	CHECK(!auth_md5_is_verifier("1234"));
}

TEST(md5_response_known_value)
{
	char out[MD5_PASSWD_LEN + 1];

	auth_md5_response("admin", "1234", salt1234, out);
	CHECK_STR(out, "md53db460fcab3fd3a6df7db145a8d8253b");
}

TEST(md5_response_same_from_password_and_verifier)
{
	char from_pw[MD5_PASSWD_LEN + 1], from_verifier[MD5_PASSWD_LEN + 1];

	auth_md5_response("admin", "1234", salt1234, from_pw);
	/* With a verifier the user name is not needed again: it is already in the hash. */
	auth_md5_response("admin", "md545f2603610af569b6155c45067268c6b", salt1234, from_verifier);
	CHECK_STR(from_pw, from_verifier);
}

TEST(md5_check_accepts_right_response)
{
	CHECK(auth_md5_check("admin", "1234", salt1234, "md53db460fcab3fd3a6df7db145a8d8253b"));
	CHECK(auth_md5_check("admin", "md545f2603610af569b6155c45067268c6b", salt1234,
			     "md53db460fcab3fd3a6df7db145a8d8253b"));
}

TEST(md5_check_rejects_wrong_responses)
{
	static const uint8_t other_salt[4] = { 4, 3, 2, 1 };

	CHECK(!auth_md5_check("admin", "12345", salt1234, "md53db460fcab3fd3a6df7db145a8d8253b"));
	CHECK(!auth_md5_check("admin", "1234", other_salt, "md53db460fcab3fd3a6df7db145a8d8253b"));
	CHECK(!auth_md5_check("root", "1234", salt1234, "md53db460fcab3fd3a6df7db145a8d8253b"));
	CHECK(!auth_md5_check("admin", "1234", salt1234, "md53db460fcab3fd3a6df7db145a8d8253"));
	CHECK(!auth_md5_check("admin", "1234", salt1234, "md53db460fcab3fd3a6df7db145a8d8253bX"));
	CHECK(!auth_md5_check("admin", "1234", salt1234, ""));
	CHECK(!auth_md5_check("admin", "1234", salt1234, NULL));
}
