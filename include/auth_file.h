/* SPDX-License-Identifier: ISC */
/*
 * The auth_file (userlist.txt): user names and their secrets, loaded into an immutable,
 * sorted table. Format, one user per line:
 *
 *   "user" "secret" [anything else is ignored]
 *
 * Fields are double-quoted, "" inside a field stands for one quote; lines starting with ';'
 * or '#' are comments; blank lines are fine. A secret is an md5 verifier ("md5" + 32 hex
 * digits), a SCRAM-SHA-256 verifier ("SCRAM-SHA-256$<iter>:<salt>$<stored>:<server>", which
 * must be well formed), or else a plaintext password. When a user appears twice, the last
 * line wins.
 */
#pragma once

#include "common.h"

enum secret_kind {
	SECRET_PLAIN,
	SECRET_MD5,
	SECRET_SCRAM,
};

struct auth_entry {
	char *name;   /* owned */
	char *secret; /* owned; wiped on free */
	enum secret_kind kind;
};

struct auth_file; /* opaque */

/*
 * Loads a file. On error returns NULL and writes every error as "<file>:<line>: <message>"
 * into err, one per line (an unreadable file: `could not open "<file>": <reason>`). The
 * caller owns the result.
 */
MUST_CHECK struct auth_file *auth_file_load(const char *path, char *err, size_t errlen);

/* Same from text held in memory; name is used as the file name in errors. */
MUST_CHECK struct auth_file *auth_file_parse(const char *text, const char *name, char *err,
					     size_t errlen);

/* The entry for user (exact, case-sensitive), or NULL. O(log n). Borrowed from af. */
const struct auth_entry *auth_file_find(const struct auth_file *af, const char *user);

/*
 * The kind of a secret, by the rules above: a SCRAM verifier, an md5 verifier, or else a
 * plaintext password. False for a "SCRAM-SHA-256$" secret that is not a well-formed
 * verifier. auth_query's results are classified by the same rules.
 */
MUST_CHECK bool auth_file_secret_kind(const char *secret, enum secret_kind *kind);

/* Number of distinct users. */
size_t auth_file_count(const struct auth_file *af);
/* The i-th user, in name order (i < auth_file_count). */
const struct auth_entry *auth_file_entry(const struct auth_file *af, size_t i);

/* Frees af, wiping every secret first. NULL is allowed. */
void auth_file_free(struct auth_file *af);
