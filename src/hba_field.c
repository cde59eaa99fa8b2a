/* SPDX-License-Identifier: ISC */
/*
 * The value fields of an HBA line: DATABASE and USER names with their keywords and @file
 * lists, and ADDRESS with its /prefix or MASK field. hba.c reads the rest of the line (type,
 * method, options) and keeps the rules; both report errors through hba_bad at the line
 * being parsed, an @file's own errors at the @file's line.
 *
 * Entry points: hba_bad, hba_single, hba_parse_names, hba_parse_addr, hba_free_names.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>

#include "hba_field.h"
#include "ini.h"

#define MSG_LEN 512

/* Names read from an @file, with where they come from for errors. */
struct include_ctx {
	struct hba_parser *p;
	struct ini_pos pos;
	bool is_db;
	struct hba_names *names;
};

bool hba_bad(const struct hba_parser *p, const struct ini_pos *pos, const char *fmt, ...)
{
	char msg[MSG_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ini_error(&p->h, pos, "%s", msg);
	return false;
}

void hba_free_names(struct hba_names *names)
{
	for (size_t i = 0; i < names->n; i++)
		free(names->v[i].text);
	free(names->v);
	names->v = NULL;
	names->n = 0;
}

/* The one token of a single-valued field, or NULL after reporting a list. */
const struct hba_token *hba_single(const struct hba_parser *p, const struct hba_field *f,
				   const char *what)
{
	if (f->n == 1)
		return &f->tokens[0];
	hba_bad(p, &p->pos, "multiple values in %s", what);
	return NULL;
}

static void push_name(struct hba_names *names, enum hba_name_kind kind, const char *text)
{
	names->v = xrealloc(names->v, (names->n + 1) * sizeof(*names->v));
	names->v[names->n++] = (struct hba_name){ kind, text ? xstrdup(text) : NULL };
}

/* One name or keyword of a DATABASE or USER field (not an @file). */
static bool add_name(const struct hba_parser *p, const struct ini_pos *pos,
		     const struct hba_token *tok, bool is_db, struct hba_names *names)
{
	if (hba_token_is(tok, "all"))
		push_name(names, HBA_NAME_ALL, NULL);
	else if (is_db && hba_token_is(tok, "sameuser"))
		push_name(names, HBA_NAME_SAMEUSER, NULL);
	else if (is_db && hba_token_is(tok, "replication"))
		push_name(names, HBA_NAME_REPLICATION, NULL);
	else if (is_db && (hba_token_is(tok, "samerole") || hba_token_is(tok, "samegroup")))
		return hba_bad(p, pos, "\"%s\" is not supported", tok->text);
	else if (!is_db && !tok->quoted && tok->text[0] == '+')
		return hba_bad(p, pos, "+group names are not supported: \"%s\"", tok->text);
	else
		push_name(names, HBA_NAME_LITERAL, tok->text);
	return true;
}

static bool include_line(void *arg, int lineno, char *text)
{
	struct include_ctx *c = arg;
	struct hba_line l;
	const char *why = NULL;
	bool ok = hba_split_line(text, &l, &why);

	c->pos.line = lineno;
	if (!ok)
		hba_bad(c->p, &c->pos, "%s", why);
	for (size_t i = 0; ok && i < l.n; i++) {
		for (size_t j = 0; ok && j < l.fields[i].n; j++) {
			const struct hba_token *tok = &l.fields[i].tokens[j];

			if (!tok->quoted && tok->text[0] == '@')
				ok = hba_bad(c->p, &c->pos, "nested @file is not supported: \"%s\"",
					     tok->text);
			else
				ok = add_name(c->p, &c->pos, tok, c->is_db, c->names);
		}
	}
	hba_line_free(&l);
	return ok;
}

/* The names of an @file; errors in it are reported at its own lines. */
static bool include_names(struct hba_parser *p, const char *file, bool is_db,
			  struct hba_names *names)
{
	char path[PATH_MAX];
	struct include_ctx c = { p, { path, 0 }, is_db, names };
	size_t len = 0;
	char *text;
	bool ok;

	if (!*file)
		return hba_bad(p, &p->pos, "empty file name after \"@\"");
	if ((size_t)snprintf(path, sizeof(path), "%s%s", file[0] == '/' ? "" : p->dir, file) >=
	    sizeof(path))
		return hba_bad(p, &p->pos, "file name too long: \"@%s\"", file);
	text = ini_read_file(path, &len);
	if (!text)
		return hba_bad(p, &p->pos, "could not open \"%s\": %s", path, strerror(errno));
	ok = hba_for_each_line(text, include_line, &c);
	ini_free_text(text, len);
	return ok;
}

bool hba_parse_names(struct hba_parser *p, const struct hba_field *f, bool is_db,
		     struct hba_names *names)
{
	for (size_t i = 0; i < f->n; i++) {
		const struct hba_token *tok = &f->tokens[i];
		bool ok = !tok->quoted && tok->text[0] == '@'
			      ? include_names(p, tok->text + 1, is_db, names)
			      : add_name(p, &p->pos, tok, is_db, names);

		if (!ok)
			return false;
	}
	return true;
}

/* An IPv4 or IPv6 literal into out (16 bytes); its family, or 0 if it is neither. */
static int parse_ip(const char *text, uint8_t *out)
{
	memset(out, 0, 16);
	if (inet_pton(AF_INET, text, out) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, text, out) == 1)
		return AF_INET6;
	return 0;
}

static int family_bits(int family)
{
	return family == AF_INET ? 32 : 128;
}

static bool prefix_mask(const char *text, int family, uint8_t *mask)
{
	char *end;
	long bits;

	errno = 0;
	bits = strtol(text, &end, 10);
	if (!*text || *end || errno || bits < 0 || bits > family_bits(family) || *text == '-' ||
	    *text == '+')
		return false;
	memset(mask, 0, 16);
	for (long i = 0; i < bits; i++)
		mask[i / 8] |= (uint8_t)(0x80 >> (i % 8));
	return true;
}

/* ADDRESS with a /prefix, or an address whose MASK is the next field (then *next moves on). */
static bool parse_cidr(const struct hba_parser *p, const struct hba_line *l, size_t *next,
		       const char *text, struct hba_rule *r)
{
	const char *slash = strchr(text, '/');
	const struct hba_token *mtok;
	char ip[64];
	int family;

	if (snprintf(ip, sizeof(ip), "%.*s", slash ? (int)(slash - text) : (int)strlen(text),
		     text) >= (int)sizeof(ip) ||
	    !(r->family = parse_ip(ip, r->addr))) {
		if (slash || strspn(text, "0123456789abcdefABCDEF.:") == strlen(text))
			return hba_bad(p, &p->pos, "invalid IP address \"%s\"", text);
		return hba_bad(p, &p->pos, "host names are not supported: \"%s\"", text);
	}
	if (slash) {
		if (!prefix_mask(slash + 1, r->family, r->mask))
			return hba_bad(p, &p->pos, "invalid CIDR mask in address \"%s\"", text);
		return true;
	}
	if (*next >= l->n)
		return hba_bad(p, &p->pos, "end of line before netmask specification");
	if (!(mtok = hba_single(p, &l->fields[(*next)++], "IP mask")))
		return false;
	family = parse_ip(mtok->text, r->mask);
	if (!family)
		return hba_bad(p, &p->pos, "invalid IP mask \"%s\"", mtok->text);
	if (family != r->family)
		return hba_bad(p, &p->pos, "IP address and mask do not match: \"%s %s\"", text,
			       mtok->text);
	return true;
}

bool hba_parse_addr(const struct hba_parser *p, const struct hba_line *l, size_t *next,
		    struct hba_rule *r)
{
	const struct hba_token *tok;

	if (*next >= l->n)
		return hba_bad(p, &p->pos, "end of line before IP address specification");
	if (!(tok = hba_single(p, &l->fields[(*next)++], "IP address")))
		return false;
	if (hba_token_is(tok, "all")) {
		r->any_addr = true;
		return true;
	}
	if (hba_token_is(tok, "samehost") || hba_token_is(tok, "samenet"))
		return hba_bad(p, &p->pos, "\"%s\" is not supported", tok->text);
	if (!parse_cidr(p, l, next, tok->text, r))
		return false;
	for (int i = 0; i < 16; i++)
		r->addr[i] &= r->mask[i];
	return true;
}
