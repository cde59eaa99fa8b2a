/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for the INI tokenizer: every event is recorded as text ("[sect]" for a
 * section, "key=value@line;" for a key) so each case compares one string.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "ini.h"

struct recorder {
	char events[2048];
	const char *stop_at_key; /* on_key fails for this key */
};

static void append(struct recorder *r, const char *text)
{
	size_t n = strlen(r->events);

	snprintf(r->events + n, sizeof(r->events) - n, "%s", text);
}

static bool rec_section(const struct ini_handler *h, const struct ini_pos *pos, const char *name)
{
	char buf[256];

	(void)pos;
	snprintf(buf, sizeof(buf), "[%s]", name);
	append(h->arg, buf);
	return true;
}

static bool rec_key(const struct ini_handler *h, const struct ini_pos *pos, const char *key,
		    const char *value)
{
	struct recorder *r = h->arg;
	char buf[512];

	if (r->stop_at_key && strcmp(key, r->stop_at_key) == 0) {
		ini_error(h, pos, "stopped at %s", key);
		return false;
	}
	snprintf(buf, sizeof(buf), "%s=%s@%s:%d;", key, value, pos->file, pos->line);
	append(r, buf);
	return true;
}

/* Parses text named "t.ini"; returns the parse result, events in r, error in err. */
static bool parse(const char *text, struct recorder *r, char *err, size_t errlen)
{
	struct ini_handler h = { rec_section, rec_key, r, err, errlen };

	r->events[0] = '\0';
	err[0] = '\0';
	return ini_parse_string(text, "t.ini", &h);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return;
	fputs(text, f);
	fclose(f);
}

static int count_keys(const char *events)
{
	int n = 0;

	for (const char *p = events; (p = strstr(p, "k=v@")) != NULL; p++)
		n++;
	return n;
}

TEST(ini_sections_keys_comments_and_whitespace)
{
	struct recorder r = { 0 };
	char err[256];

	CHECK(parse("; comment\n"
		    "  # indented comment\n"
		    "\n"
		    "  [weir]  \n"
		    "\tlisten_port   =   6432   \n"
		    "a.b*c-d_1=x\n"
		    "[databases]\n",
		    &r, err, sizeof(err)));
	CHECK_STR(r.events, "[weir]listen_port=6432@t.ini:5;a.b*c-d_1=x@t.ini:6;[databases]");
}

TEST(ini_semicolon_and_hash_inside_a_value_are_not_comments)
{
	struct recorder r = { 0 };
	char err[256];

	CHECK(parse("[s]\nq = select 1; # not a comment\n", &r, err, sizeof(err)));
	CHECK_STR(r.events, "[s]q=select 1; # not a comment@t.ini:2;");
}

TEST(ini_empty_value_and_crlf_line_endings)
{
	struct recorder r = { 0 };
	char err[256];

	CHECK(parse("[s]\r\nempty =\r\nk = v\r\n", &r, err, sizeof(err)));
	CHECK_STR(r.events, "[s]empty=@t.ini:2;k=v@t.ini:3;");
}

TEST(ini_quoted_key_with_spaces_and_escaped_quote)
{
	struct recorder r = { 0 };
	char err[256];

	CHECK(parse("[s]\n'my db' = a\n'it''s'=b\n'' = c\n", &r, err, sizeof(err)) == false);
	CHECK_STR(r.events, "[s]my db=a@t.ini:2;it's=b@t.ini:3;");
	CHECK_STR(err, "t.ini:4: syntax error: empty key");
}

TEST(ini_utf8_bom_is_skipped)
{
	struct recorder r = { 0 };
	char err[256];

	CHECK(parse("\xEF\xBB\xBF[s]\nk=v\n", &r, err, sizeof(err)));
	CHECK_STR(r.events, "[s]k=v@t.ini:2;");
}

TEST(ini_syntax_errors_report_file_and_line)
{
	static const struct {
		const char *text, *err;
	} cases[] = {
		{ "[s]\n[broken\n", "t.ini:2: syntax error: missing \"]\" in section header" },
		{ "[s] x\n", "t.ini:1: syntax error: unexpected text after section header" },
		{ "\n\n[]\n", "t.ini:3: syntax error: empty section name" },
		{ "[s]\nk v\n", "t.ini:2: syntax error: expected \"=\" after key" },
		{ "[s]\n$k = v\n",
		  "t.ini:2: syntax error: invalid character \"$\" at start of key" },
		{ "[s]\n'open = v\n", "t.ini:2: syntax error: unterminated quoted key" },
		{ "%inclued x\n", "t.ini:1: syntax error: unknown directive \"%inclued x\"" },
		{ "[s]\n%include   \n", "t.ini:2: syntax error: %include needs a file name" },
	};
	struct recorder r = { 0 };
	char err[256];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		CHECK(!parse(cases[i].text, &r, err, sizeof(err)));
		CHECK_STR(err, cases[i].err);
	}
}

TEST(ini_callback_failure_is_reported_and_the_parse_goes_on)
{
	struct recorder r = { .stop_at_key = "b" };
	char err[256];

	CHECK(!parse("[s]\na=1\nb=2\nc=3\nb=4\n", &r, err, sizeof(err)));
	CHECK_STR(r.events, "[s]a=1@t.ini:2;c=3@t.ini:4;");
	CHECK_STR(err, "t.ini:3: stopped at b\nt.ini:5: stopped at b");
}

TEST(ini_every_syntax_error_is_reported_in_order)
{
	struct recorder r = { 0 };
	char err[512];

	CHECK(!parse("[s]\ngarbage\nk = v\n[broken\n%include /nonexistent/x.ini\nz = 1\n", &r, err,
		     sizeof(err)));
	CHECK_STR(r.events, "[s]k=v@t.ini:3;z=1@t.ini:6;");
	CHECK_STR(err, "t.ini:2: syntax error: expected \"=\" after key\n"
		       "t.ini:4: syntax error: missing \"]\" in section header\n"
		       "t.ini:5: could not open \"/nonexistent/x.ini\": No such file or directory");
}

TEST(ini_error_list_too_long_for_the_buffer_ends_with_dots)
{
	struct recorder r = { 0 };
	char err[40];

	CHECK(!parse("[s]\nbad1\nbad2\nbad3\n", &r, err, sizeof(err)));
	CHECK_INT(strlen(err), sizeof(err) - 1);
	CHECK_STR(err, "t.ini:2: syntax error: expected \"=\" ...");
	CHECK(!parse("[s]\nbad1\n", &r, err, 12));
	CHECK_STR(err, "t.ini:2:...");
}

TEST(ini_include_parses_the_file_in_place)
{
	char inc[64], text[256], err[256];
	struct recorder r = { 0 };

	snprintf(inc, sizeof(inc), "/tmp/weir-ini-inc-%d.ini", (int)getpid());
	write_file(inc, "x = 1\n[other]\ny = 2\n");
	snprintf(text, sizeof(text), "[s]\n  %%include %s\nz = 3\n", inc);
	CHECK(parse(text, &r, err, sizeof(err)));
	snprintf(text, sizeof(text), "[s]x=1@%s:1;[other]y=2@%s:3;z=3@t.ini:3;", inc, inc);
	CHECK_STR(r.events, text);
	unlink(inc);
}

TEST(ini_error_inside_an_included_file_names_that_file)
{
	char inc[64], text[256], want[256], err[256];
	struct recorder r = { 0 };

	snprintf(inc, sizeof(inc), "/tmp/weir-ini-bad-%d.ini", (int)getpid());
	write_file(inc, "ok = 1\n\nbad line\n");
	snprintf(text, sizeof(text), "[s]\n%%include %s\n", inc);
	CHECK(!parse(text, &r, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:3: syntax error: expected \"=\" after key", inc);
	CHECK_STR(err, want);
	unlink(inc);
}

TEST(ini_missing_include_is_reported_at_the_include_line)
{
	struct recorder r = { 0 };
	char err[256];

	CHECK(!parse("[s]\n\n%include /nonexistent/weir.ini\n", &r, err, sizeof(err)));
	CHECK_STR(err,
		  "t.ini:3: could not open \"/nonexistent/weir.ini\": No such file or directory");
}

TEST(ini_include_nesting_is_limited)
{
	char path[64], text[128], err[256];
	struct recorder r = { 0 };

	snprintf(path, sizeof(path), "/tmp/weir-ini-loop-%d.ini", (int)getpid());
	snprintf(text, sizeof(text), "k = v\n%%include %s\n", path);
	write_file(path, text);
	CHECK(!parse(text, &r, err, sizeof(err)));
	CHECK(strstr(err, "too many nested %include directives (at most 10)") != NULL);
	CHECK(strncmp(err, path, strlen(path)) == 0);
	/* the top-level text plus ten nested levels were read */
	CHECK_INT(count_keys(r.events), INI_MAX_INCLUDE_DEPTH + 1);
	unlink(path);
}

TEST(ini_parse_file_reads_a_file_and_reports_a_missing_one)
{
	char path[64], want[128], err[256];
	struct recorder r = { 0 };
	struct ini_handler h = { rec_section, rec_key, &r, err, sizeof(err) };

	snprintf(path, sizeof(path), "/tmp/weir-ini-file-%d.ini", (int)getpid());
	write_file(path, "[a]\nk = v");
	CHECK(ini_parse_file(path, &h));
	snprintf(want, sizeof(want), "[a]k=v@%s:2;", path);
	CHECK_STR(r.events, want);
	unlink(path);
	CHECK(!ini_parse_file(path, &h));
	snprintf(want, sizeof(want), "could not open \"%s\": No such file or directory", path);
	CHECK_STR(err, want);
}
