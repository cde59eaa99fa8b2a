/* SPDX-License-Identifier: ISC */
/*
 * INI tokenizer: turns a configuration file into a stream of "section" and "key = value"
 * events, following %include directives. It knows nothing about which sections or keys
 * exist; config.c gives them meaning. Syntax (compatible with PgBouncer's files):
 *
 *   - leading whitespace on every line is skipped; trailing whitespace is trimmed;
 *   - a line starting with ';' or '#' is a comment (not when these appear later in a line);
 *   - "[name]" opens a section (name taken verbatim, case-sensitive);
 *   - "%include <file>" parses another file in place (path relative to the CWD, nesting at
 *     most INI_MAX_INCLUDE_DEPTH);
 *   - "key = value": key is [A-Za-z0-9_.*-]+ or enclosed in single quotes ('' inside quotes
 *     stands for one quote); blanks around '='; the value runs to the end of the line and
 *     may be empty.
 */
#pragma once

#include "common.h"

#define INI_MAX_INCLUDE_DEPTH 10

/* Where an event comes from. file is borrowed: valid only during the callback. */
struct ini_pos {
	const char *file;
	int line; /* 1-based */
};

struct ini_handler;

/*
 * Callbacks. They return false when the event is in error, after reporting it with
 * ini_error(); the parse then goes on with the next line and ends in failure.
 */
typedef bool (*ini_section_fn)(const struct ini_handler *h, const struct ini_pos *pos,
			       const char *name);
typedef bool (*ini_key_fn)(const struct ini_handler *h, const struct ini_pos *pos, const char *key,
			   const char *value);

struct ini_handler {
	ini_section_fn on_section;
	ini_key_fn on_key;
	void *arg; /* borrowed: the callbacks' state */
	/*
	 * borrowed; emptied when a parse starts, then every error is appended, one
	 * "<file>:<line>: <message>" per line joined by '\n'; a list cut for lack of room
	 * ends with "..."
	 */
	char *err;
	size_t errlen;
};

/*
 * Unquotes a single-quoted string starting at s (on the quote), turning '' into ' in place.
 * The content starts at s + 1 and ends at *content_end (where the caller may put a NUL).
 * Returns the position after the closing quote, or NULL if there is none.
 */
char *ini_unquote(char *s, char **content_end);

/*
 * Parses a file. Every line is read even after errors; false if there was any: a syntax
 * error, a callback failure, a missing or too deeply nested %include (reported at the
 * %include line), or an unreadable top-level file (`could not open "<path>": <reason>`,
 * without a position, and nothing is parsed).
 */
MUST_CHECK bool ini_parse_file(const char *path, const struct ini_handler *h);

/* Parses text held in memory; name stands for the file name in positions and errors. */
MUST_CHECK bool ini_parse_string(const char *text, const char *name, const struct ini_handler *h);

/* Appends "<file>:<line>: <message>" to the list in h->err (see struct ini_handler). */
void ini_error(const struct ini_handler *h, const struct ini_pos *pos, const char *fmt, ...)
    PRINTF_FMT(3, 4);

/*
 * Reads a whole file into a NUL-terminated buffer (owned by the caller; release it with
 * ini_free_text because it may hold secrets). *len receives the length without the NUL.
 * NULL with errno set if the file cannot be read.
 */
MUST_CHECK char *ini_read_file(const char *path, size_t *len);

/* Wipes the first len bytes of text, then frees it. NULL is allowed. */
void ini_free_text(char *text, size_t len);
