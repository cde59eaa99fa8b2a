/* SPDX-License-Identifier: ISC */
/*
 * Ident maps (auth_ident_file), which the `map=` option of an HBA rule names: which
 * operating system (or certificate) user may log in as which database user. Format, one
 * mapping per line, in pg_ident.conf's syntax (hba_token.h):
 *
 *   map-name  system-username  database-username
 *
 * database-username may be the keyword `all` (any database user). Not supported, and load
 * errors naming the line: regular expressions (a system-username starting with '/'),
 * `+group` names, and include directives.
 */
#pragma once

#include "common.h"

struct ident; /* opaque, immutable once loaded */

/*
 * Loads a file. On error returns NULL and writes every error as "<file>:<line>: <message>"
 * into err, one per line (an unreadable file: `could not open "<file>": <reason>`). The
 * caller owns the result.
 */
MUST_CHECK struct ident *ident_load(const char *path, char *err, size_t errlen);

/* Same from text held in memory; name is used as the file name in errors. */
MUST_CHECK struct ident *ident_parse(const char *text, const char *name, char *err, size_t errlen);

/*
 * Whether map has a line mapping system_user to db_user (exact, case-sensitive names). A map
 * that no line names allows nothing; so does a NULL ident.
 */
bool ident_match(const struct ident *ident, const char *map, const char *system_user,
		 const char *db_user);

/* Number of mappings. */
size_t ident_count(const struct ident *ident);

/* Frees ident. NULL is allowed. */
void ident_free(struct ident *ident);
