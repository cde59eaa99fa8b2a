/* SPDX-License-Identifier: ISC */
/*
 * The ident map file parser and its lookup. Owns the mapping lines of auth_ident_file; does
 * not know which HBA rule names a map (hba.c) nor whose name is checked against it
 * (client_auth.c: a Unix peer's OS user, a certificate's name).
 *
 * Maps are few and looked up once per login: a list in file order is enough.
 *
 * Entry points: ident_load, ident_parse, ident_match, ident_count, ident_free.
 */
#include <errno.h>
#include <string.h>

#include "hba_token.h"
#include "ident.h"
#include "ini.h"

struct ident_entry {
	char *map;     /* owned */
	char *system;  /* owned */
	char *db_user; /* owned; NULL for the keyword `all` */
};

struct ident {
	struct ident_entry *entries; /* owned, in file order */
	size_t n;
};

struct ident_parser {
	struct ini_handler h; /* only err and errlen are used */
	struct ini_pos pos;
	struct ident *ident;
};

static void free_entries(struct ident *ident)
{
	for (size_t i = 0; i < ident->n; i++) {
		free(ident->entries[i].map);
		free(ident->entries[i].system);
		free(ident->entries[i].db_user);
	}
	free(ident->entries);
	ident->entries = NULL;
	ident->n = 0;
}

static bool is_include(const struct hba_token *tok)
{
	return hba_token_is(tok, "include") || hba_token_is(tok, "include_if_exists") ||
	       hba_token_is(tok, "include_dir");
}

/* Why the three fields of a line cannot make a mapping, or NULL if they can. */
static const char *check_fields(const struct hba_line *l)
{
	if (l->n >= 1 && l->fields[0].n == 1 && is_include(&l->fields[0].tokens[0]))
		return "include directives are not supported";
	if (l->n != 3)
		return "syntax error: expected map-name system-username database-username";
	for (size_t i = 0; i < 3; i++) {
		if (l->fields[i].n != 1)
			return "syntax error: a field holds a comma-separated list";
	}
	if (!l->fields[1].tokens[0].quoted && l->fields[1].tokens[0].text[0] == '/')
		return "regular expressions are not supported";
	if (!l->fields[2].tokens[0].quoted && l->fields[2].tokens[0].text[0] == '+')
		return "+group names are not supported";
	return NULL;
}

static void add_entry(struct ident *ident, const struct hba_line *l)
{
	const struct hba_token *db = &l->fields[2].tokens[0];
	struct ident_entry e = {
		.map = xstrdup(l->fields[0].tokens[0].text),
		.system = xstrdup(l->fields[1].tokens[0].text),
		.db_user = hba_token_is(db, "all") ? NULL : xstrdup(db->text),
	};

	ident->entries = xrealloc(ident->entries, (ident->n + 1) * sizeof(*ident->entries));
	ident->entries[ident->n++] = e;
}

static bool parse_line(void *arg, int lineno, char *text)
{
	struct ident_parser *p = arg;
	struct hba_line l;
	const char *why = NULL;
	bool ok;

	p->pos.line = lineno;
	ok = hba_split_line(text, &l, &why);
	if (ok && l.n > 0)
		why = check_fields(&l);
	ok = ok && why == NULL;
	if (!ok)
		ini_error(&p->h, &p->pos, "%s", why);
	else if (l.n > 0)
		add_entry(p->ident, &l);
	hba_line_free(&l);
	return ok;
}

static struct ident *parse_buffer(char *text, const char *name, char *err, size_t errlen)
{
	struct ident_parser p = { .h = { .err = err, .errlen = errlen }, .pos = { name, 1 } };

	if (err && errlen)
		err[0] = '\0';
	p.ident = xcalloc(1, sizeof(*p.ident));
	if (hba_for_each_line(text, parse_line, &p))
		return p.ident;
	ident_free(p.ident);
	return NULL;
}

struct ident *ident_parse(const char *text, const char *name, char *err, size_t errlen)
{
	char *copy = xstrdup(text);
	struct ident *ident = parse_buffer(copy, name, err, errlen);

	free(copy);
	return ident;
}

struct ident *ident_load(const char *path, char *err, size_t errlen)
{
	size_t len = 0;
	char *text = ini_read_file(path, &len);
	struct ident *ident;

	if (!text) {
		if (err && errlen)
			snprintf(err, errlen, "could not open \"%s\": %s", path, strerror(errno));
		return NULL;
	}
	ident = parse_buffer(text, path, err, errlen);
	ini_free_text(text, len);
	return ident;
}

bool ident_match(const struct ident *ident, const char *map, const char *system_user,
		 const char *db_user)
{
	for (size_t i = 0; ident && i < ident->n; i++) {
		const struct ident_entry *e = &ident->entries[i];

		if (strcmp(e->map, map) == 0 && strcmp(e->system, system_user) == 0 &&
		    (!e->db_user || strcmp(e->db_user, db_user) == 0))
			return true;
	}
	return false;
}

size_t ident_count(const struct ident *ident)
{
	return ident ? ident->n : 0;
}

void ident_free(struct ident *ident)
{
	if (!ident)
		return;
	free_entries(ident);
	free(ident);
}
