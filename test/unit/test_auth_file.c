/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for the auth_file parser: the three kinds of secret, quoting, comments,
 * duplicates, and error positions.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "auth_file.h"
#include "auth_scram.h"
#include "harness.h"

#define ERRLEN 256

/* md5("bob-secret" + "bob"), and a verifier of "carol-secret" built with Python's hashlib */
#define BOB_MD5 "md50b9789f4aeea4f6c7edf16192882e9aa"
#define CAROL_SCRAM                                     \
	"SCRAM-SHA-256$4096:oFeYWqEChir0BaBfOHHTUA==$"  \
	"Y0jdBtNYpGD8mmaY6tWIn7N5H1Odj7sfycAYi4Pkxrw=:" \
	"NONCjtsrgq5T5PNv0+KWHa54Y+YPJMO33C1KrTSP/1o="

static struct auth_file *parse(const char *text, char *err)
{
	return auth_file_parse(text, "users.txt", err, ERRLEN);
}

static void check_error(const char *text, const char *want)
{
	char err[ERRLEN];
	struct auth_file *af = parse(text, err);

	CHECK(af == NULL);
	CHECK_STR(err, want);
	auth_file_free(af);
}

static void check_entry(const struct auth_file *af, const char *user, const char *secret,
			enum secret_kind kind)
{
	const struct auth_entry *e = auth_file_find(af, user);

	CHECK(e != NULL);
	if (!e)
		return;
	CHECK_STR(e->name, user);
	CHECK_STR(e->secret, secret);
	CHECK_INT(e->kind, kind);
}

TEST(auth_file_three_kinds_of_secret)
{
	char err[ERRLEN];
	struct auth_file *af = parse("\"alice\" \"alice-secret\"\n"
				     "\"bob\" \"" BOB_MD5 "\"\n"
				     "\"carol\" \"" CAROL_SCRAM "\"\n",
				     err);

	CHECK(af != NULL);
	CHECK_INT(auth_file_count(af), 3);
	check_entry(af, "alice", "alice-secret", SECRET_PLAIN);
	check_entry(af, "bob", BOB_MD5, SECRET_MD5);
	check_entry(af, "carol", CAROL_SCRAM, SECRET_SCRAM);
	CHECK(auth_file_find(af, "dave") == NULL);
	CHECK(auth_file_find(af, "Alice") == NULL);
	auth_file_free(af);
}

TEST(auth_file_scram_secret_matches_its_password)
{
	struct scram_keys stored, derived;

	CHECK(auth_scram_parse_verifier(CAROL_SCRAM, &stored));
	CHECK(auth_scram_keys_from_password("carol-secret", stored.salt, stored.salt_len,
					    stored.iterations, &derived, NULL));
	CHECK(memcmp(stored.stored_key, derived.stored_key, SCRAM_KEY_LEN) == 0);
	CHECK(memcmp(stored.server_key, derived.server_key, SCRAM_KEY_LEN) == 0);
}

TEST(auth_file_md5_lookalikes_are_plaintext)
{
	char err[ERRLEN];
	struct auth_file *af = parse("\"a\" \"md50B9789F4AEEA4F6C7EDF16192882E9AA\"\n"
				     "\"b\" \"md5abc\"\n"
				     "\"c\" \"SCRAM-SHA-1$x\"\n"
				     "\"d\" \"\"\n",
				     err);

	CHECK(af != NULL);
	check_entry(af, "a", "md50B9789F4AEEA4F6C7EDF16192882E9AA", SECRET_PLAIN);
	check_entry(af, "b", "md5abc", SECRET_PLAIN);
	check_entry(af, "c", "SCRAM-SHA-1$x", SECRET_PLAIN);
	check_entry(af, "d", "", SECRET_PLAIN);
	auth_file_free(af);
}

TEST(auth_file_doubled_quotes_comments_and_trailing_fields)
{
	char err[ERRLEN];
	struct auth_file *af = parse("; a comment\n"
				     "# another\n"
				     "\n"
				     "   \"say \"\"hi\"\"\"\t\"pa\"\"ss\" \"extra\" ignored\r\n"
				     "\"sp ace\" \"p w ; # x\"\n",
				     err);

	CHECK(af != NULL);
	CHECK_INT(auth_file_count(af), 2);
	check_entry(af, "say \"hi\"", "pa\"ss", SECRET_PLAIN);
	check_entry(af, "sp ace", "p w ; # x", SECRET_PLAIN);
	auth_file_free(af);
}

TEST(auth_file_duplicate_user_last_wins)
{
	char err[ERRLEN];
	struct auth_file *af =
	    parse("\"u\" \"one\"\n\"v\" \"x\"\n\"u\" \"two\"\n\"u\" \"three\"\n", err);

	CHECK(af != NULL);
	CHECK_INT(auth_file_count(af), 2);
	check_entry(af, "u", "three", SECRET_PLAIN);
	check_entry(af, "v", "x", SECRET_PLAIN);
	auth_file_free(af);
}

TEST(auth_file_malformed_scram_secret_fails_at_its_line)
{
	check_error("\"a\" \"x\"\n\"b\" \"SCRAM-SHA-256$4096:c2FsdA==$bad\"\n",
		    "users.txt:2: invalid SCRAM-SHA-256 secret for user \"b\"");
	check_error("\n\n\"c\" \"SCRAM-SHA-256$0:oFeYWqEChir0BaBfOHHTUA==$"
		    "Y0jdBtNYpGD8mmaY6tWIn7N5H1Odj7sfycAYi4Pkxrw=:"
		    "NONCjtsrgq5T5PNv0+KWHa54Y+YPJMO33C1KrTSP/1o=\"\n",
		    "users.txt:3: invalid SCRAM-SHA-256 secret for user \"c\"");
}

TEST(auth_file_syntax_errors_report_file_and_line)
{
	check_error("\"a\" \"x\"\nb \"y\"\n",
		    "users.txt:2: syntax error: expected \"user\" \"secret\"");
	check_error("\"a\n", "users.txt:1: syntax error: unterminated quoted user name");
	check_error("; c\n\"a\"\n",
		    "users.txt:2: syntax error: expected a quoted secret after user \"a\"");
	check_error("\"a\" secret\n",
		    "users.txt:1: syntax error: expected a quoted secret after user \"a\"");
	check_error("\"a\" \"sec\n",
		    "users.txt:1: syntax error: unterminated quoted secret for user \"a\"");
	check_error("\"\" \"x\"\n", "users.txt:1: empty user name");
}

TEST(auth_file_empty_text_has_no_users)
{
	char err[ERRLEN];
	struct auth_file *af = parse("", err);

	CHECK(af != NULL);
	CHECK_INT(auth_file_count(af), 0);
	CHECK(auth_file_find(af, "a") == NULL);
	auth_file_free(af);
}

TEST(auth_file_load_reads_a_file_and_reports_a_missing_one)
{
	char path[64], err[ERRLEN], want[128];
	struct auth_file *af;
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/weir-userlist-%d.txt", (int)getpid());
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs("\"u\" \"" BOB_MD5 "\"\n\"bad\n", f);
	fclose(f);
	af = auth_file_load(path, err, sizeof(err));
	CHECK(af == NULL);
	snprintf(want, sizeof(want), "%s:2: syntax error: unterminated quoted user name", path);
	CHECK_STR(err, want);
	f = fopen(path, "w");
	if (f) {
		fputs("\"u\" \"" BOB_MD5 "\"\n", f);
		fclose(f);
	}
	af = auth_file_load(path, err, sizeof(err));
	CHECK(af != NULL);
	check_entry(af, "u", BOB_MD5, SECRET_MD5);
	auth_file_free(af);
	unlink(path);
	CHECK(auth_file_load(path, err, sizeof(err)) == NULL);
	snprintf(want, sizeof(want), "could not open \"%s\": No such file or directory", path);
	CHECK_STR(err, want);
}

TEST(auth_file_example_userlist_loads)
{
	const char *me = __FILE__, *tail = strstr(me, "test/unit/");
	char path[512], err[ERRLEN];
	struct auth_file *af;

	snprintf(path, sizeof(path), "%.*setc/userlist.txt", tail ? (int)(tail - me) : 0, me);
	af = auth_file_load(path, err, sizeof(err));
	if (!af)
		printf("#   %s\n", err);
	CHECK(af != NULL);
	CHECK_INT(auth_file_count(af), 3);
	CHECK(auth_file_find(af, "alice") && auth_file_find(af, "alice")->kind == SECRET_PLAIN);
	CHECK(auth_file_find(af, "bob") && auth_file_find(af, "bob")->kind == SECRET_MD5);
	CHECK(auth_file_find(af, "carol") && auth_file_find(af, "carol")->kind == SECRET_SCRAM);
	auth_file_free(af);
}
