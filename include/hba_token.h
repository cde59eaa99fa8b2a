/* SPDX-License-Identifier: ISC */
/*
 * The line syntax that the HBA file (hba.h) and the ident map file (ident.h) share, as
 * PostgreSQL's pg_hba.conf and pg_ident.conf write it: fields separated by blanks, a field
 * may be a comma list ("a,b" or "a, b"), a name may be double-quoted ("" inside quotes
 * stands for one quote, and quoting takes a keyword's meaning away), and '#' outside quotes
 * starts a comment. Lines are split in place: tokens point into the caller's buffer.
 */
#pragma once

#include "common.h"

struct hba_token {
	char *text;  /* borrowed: into the line, unquoted */
	bool quoted; /* some part was in double quotes: never a keyword */
};

/* One field: a single token, or the items of a comma list. */
struct hba_field {
	struct hba_token *tokens; /* owned */
	size_t n;
};

struct hba_line {
	struct hba_field *fields; /* owned */
	size_t n;		  /* 0 for a blank or comment line */
};

/*
 * Splits line (NUL-terminated, modified in place) into fields. False with a message in why
 * (a static string) on an unterminated quote or an empty list item; *out is then empty.
 * Release *out with hba_line_free whatever the result.
 */
MUST_CHECK bool hba_split_line(char *line, struct hba_line *out, const char **why);

void hba_line_free(struct hba_line *line);

/* Whether tok is the unquoted keyword word. */
bool hba_token_is(const struct hba_token *tok, const char *word);

/*
 * Calls fn(arg, line_number, line) for each line of text (modified in place: each '\n' and a
 * '\r' before it become NUL). Returns false if fn did for any line; every line is read.
 */
bool hba_for_each_line(char *text, bool (*fn)(void *arg, int lineno, char *line), void *arg);
