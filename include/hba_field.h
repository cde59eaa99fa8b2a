/* SPDX-License-Identifier: ISC */
/*
 * The parse state of an HBA file and the readers of its value fields (hba_field.c), shared
 * by hba.c, which reads the rest of each line. Not for other modules: they use hba.h.
 */
#pragma once

#include <limits.h>

#include "common.h"
#include "hba.h"
#include "hba_token.h"
#include "ini.h"

struct hba_parser {
	struct ini_handler h; /* only err and errlen are used */
	struct ini_pos pos;   /* the line being parsed */
	char dir[PATH_MAX];   /* the HBA file's directory with its '/', or "" */
	struct hba *hba;      /* the rules so far */
};

/* Reports "<file>:<line>: <message>" at pos; returns false, for `return hba_bad(...)`. */
bool hba_bad(const struct hba_parser *p, const struct ini_pos *pos, const char *fmt, ...)
    PRINTF_FMT(3, 4);

/* The one token of a single-valued field, or NULL after reporting a list (`what` names it). */
const struct hba_token *hba_single(const struct hba_parser *p, const struct hba_field *f,
				   const char *what);

/*
 * Appends the names and keywords of a DATABASE (is_db) or USER field to names, reading the
 * @files it names (relative to p->dir). False after reporting the first error.
 */
bool hba_parse_names(struct hba_parser *p, const struct hba_field *f, bool is_db,
		     struct hba_names *names);

/*
 * Reads ADDRESS from field *next of l (and MASK after it when the address has no /prefix)
 * into r's any_addr, family, addr (masked) and mask; *next moves past what was read. False
 * after reporting an error.
 */
bool hba_parse_addr(const struct hba_parser *p, const struct hba_line *l, size_t *next,
		    struct hba_rule *r);

void hba_free_names(struct hba_names *names);
