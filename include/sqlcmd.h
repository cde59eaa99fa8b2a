/* SPDX-License-Identifier: ISC */
/*
 * The few SQL commands weir must recognise in a client's SQL text: today `DEALLOCATE`,
 * whose statement names are the client's protocol-level names that weir maps to its own
 * in transaction pooling. A small lexer with PostgreSQL's rules for what these commands
 * contain: blanks, `--` and nested `/ * * /` comments, case-insensitive keywords, unquoted
 * identifiers (folded to lower case) and double-quoted ones (`""` inside). Anything it does
 * not fully understand is "something else", which weir passes on untouched. Pure logic.
 */
#pragma once

#include "common.h"

/* PostgreSQL's NAMEDATALEN: identifiers are at most 63 bytes. */
#define SQLCMD_NAME_MAX 64

enum sqlcmd_kind {
	SQLCMD_OTHER,	       /* not one of the commands below */
	SQLCMD_MAYBE,	       /* a prefix that may still become one: read more */
	SQLCMD_DEALLOCATE,     /* DEALLOCATE [PREPARE] name */
	SQLCMD_DEALLOCATE_ALL, /* DEALLOCATE [PREPARE] ALL */
};

/*
 * Whether text is exactly one DEALLOCATE statement (an optional `;` and blanks or comments
 * after it). text holds len bytes and need not be NUL-terminated; a NUL ends it. When
 * complete is false, text is only the start of the SQL and the answer may be SQLCMD_MAYBE.
 * For SQLCMD_DEALLOCATE, name receives the statement name as PostgreSQL would resolve it.
 */
enum sqlcmd_kind sqlcmd_deallocate(const char *text, size_t len, bool complete,
				   char name[SQLCMD_NAME_MAX]);
