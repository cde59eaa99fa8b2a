/* SPDX-License-Identifier: ISC */
/*
 * The auth_file parser. Owns the userlist.txt line syntax, the classification of secrets
 * (plaintext, md5 verifier, SCRAM-SHA-256 verifier) and the sorted lookup table built from
 * them. It does not authenticate anyone (auth.c and friends do) and does not decide when
 * the file is re-read (reload).
 *
 * The text is parsed in place in one buffer; secrets are copied into their entries and the
 * buffer is wiped before it is freed, as are the secrets when the table is freed.
 *
 * Entry points: auth_file_load, auth_file_parse, auth_file_find, auth_file_count,
 * auth_file_free.
 */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth_file.h"
#include "auth_md5.h"
#include "auth_scram.h"
#include "ini.h"

#define SCRAM_PREFIX "SCRAM-SHA-256$"

struct auth_file {
	struct auth_entry *entries; /* owned; sorted by name, names unique */
	size_t n;
};

/* Where parsing is, for error messages (written with ini_error). */
struct af_parser {
	struct ini_handler h; /* only err and errlen are used */
	struct ini_pos pos;
};

/* An entry with its position in the file, so that sorting can keep the last duplicate. */
struct seq_entry {
	struct auth_entry e;
	size_t seq;
};

static void free_entry(struct auth_entry *e)
{
	if (e->secret) {
		OPENSSL_cleanse(e->secret, strlen(e->secret));
		free(e->secret);
	}
	free(e->name);
	e->name = e->secret = NULL;
}

static char *skip_blank(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* Unquotes the field starting at s (on the quote) in place; returns the position after the
 * closing quote, or NULL if it is not closed on this line. */
static char *read_field(char *s)
{
	char *r = s + 1, *w = s;

	for (;;) {
		if (*r == '\0')
			return NULL;
		if (*r == '"' && r[1] == '"') {
			*w++ = '"';
			r += 2;
		} else if (*r == '"') {
			*w = '\0';
			return r + 1;
		} else {
			*w++ = *r++;
		}
	}
}

bool auth_file_secret_kind(const char *secret, enum secret_kind *kind)
{
	struct scram_keys keys;

	if (strncmp(secret, SCRAM_PREFIX, strlen(SCRAM_PREFIX)) == 0) {
		if (!auth_scram_parse_verifier(secret, &keys))
			return false;
		OPENSSL_cleanse(&keys, sizeof(keys));
		*kind = SECRET_SCRAM;
	} else if (auth_md5_is_verifier(secret)) {
		*kind = SECRET_MD5;
	} else {
		*kind = SECRET_PLAIN;
	}
	return true;
}

static bool classify(const struct af_parser *p, struct auth_entry *e)
{
	if (!auth_file_secret_kind(e->secret, &e->kind)) {
		ini_error(&p->h, &p->pos, "invalid SCRAM-SHA-256 secret for user \"%s\"", e->name);
		return false;
	}
	return true;
}

/* Parses one line that is neither blank nor a comment into *e. */
static bool parse_entry(const struct af_parser *p, char *s, struct auth_entry *e)
{
	char *user = s, *secret, *end;

	if (*s != '"') {
		ini_error(&p->h, &p->pos, "syntax error: expected \"user\" \"secret\"");
		return false;
	}
	end = read_field(user);
	if (!end) {
		ini_error(&p->h, &p->pos, "syntax error: unterminated quoted user name");
		return false;
	}
	secret = skip_blank(end);
	if (*secret != '"') {
		ini_error(&p->h, &p->pos,
			  "syntax error: expected a quoted secret after user \"%s\"", user);
		return false;
	}
	if (!read_field(secret)) {
		ini_error(&p->h, &p->pos,
			  "syntax error: unterminated quoted secret for user \"%s\"", user);
		return false;
	}
	if (*user == '\0') {
		ini_error(&p->h, &p->pos, "empty user name");
		return false;
	}
	*e = (struct auth_entry){ xstrdup(user), xstrdup(secret), SECRET_PLAIN };
	return classify(p, e);
}

static bool add_line(struct af_parser *p, char *line, struct seq_entry **arr, size_t *n,
		     size_t *cap)
{
	char *s = skip_blank(line);
	struct auth_entry e = { 0 };

	if (*s == '\0' || *s == '\r' || *s == ';' || *s == '#')
		return true;
	if (!parse_entry(p, s, &e)) {
		free_entry(&e);
		return false;
	}
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*arr = xrealloc(*arr, *cap * sizeof(**arr));
	}
	(*arr)[*n] = (struct seq_entry){ e, *n };
	(*n)++;
	return true;
}

static int seq_cmp(const void *pa, const void *pb)
{
	const struct seq_entry *a = pa, *b = pb;
	int c = strcmp(a->e.name, b->e.name);

	return c ? c : (a->seq > b->seq) - (a->seq < b->seq);
}

/* Sorts the parsed entries by name, keeps the last of each name, and builds the table. */
static struct auth_file *build(struct seq_entry *arr, size_t n)
{
	struct auth_file *af = xcalloc(1, sizeof(*af));

	if (n > 1)
		qsort(arr, n, sizeof(*arr), seq_cmp);
	af->entries = xcalloc(n ? n : 1, sizeof(*af->entries));
	for (size_t i = 0; i < n; i++) {
		if (i + 1 < n && strcmp(arr[i].e.name, arr[i + 1].e.name) == 0)
			free_entry(&arr[i].e);
		else
			af->entries[af->n++] = arr[i].e;
	}
	return af;
}

static struct auth_file *parse_buffer(char *text, const char *name, char *err, size_t errlen)
{
	struct af_parser p = { .h = { .err = err, .errlen = errlen }, .pos = { name, 1 } };
	struct seq_entry *arr = NULL;
	size_t n = 0, cap = 0;
	struct auth_file *af = NULL;
	char *line = text, *nl;
	bool ok = true;

	/* a bad line does not end the parse: every one is reported */
	for (; line; line = nl ? nl + 1 : NULL, p.pos.line++) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		ok = add_line(&p, line, &arr, &n, &cap) && ok;
	}
	if (ok)
		af = build(arr, n);
	for (size_t i = 0; !ok && i < n; i++)
		free_entry(&arr[i].e);
	free(arr);
	return af;
}

struct auth_file *auth_file_parse(const char *text, const char *name, char *err, size_t errlen)
{
	size_t len = strlen(text);
	char *copy = xstrndup(text, len);
	struct auth_file *af;

	if (err && errlen)
		err[0] = '\0';
	af = parse_buffer(copy, name, err, errlen);
	ini_free_text(copy, len);
	return af;
}

struct auth_file *auth_file_load(const char *path, char *err, size_t errlen)
{
	size_t len = 0;
	char *text = ini_read_file(path, &len);
	struct auth_file *af;

	if (!text) {
		if (err && errlen)
			snprintf(err, errlen, "could not open \"%s\": %s", path, strerror(errno));
		return NULL;
	}
	if (err && errlen)
		err[0] = '\0';
	af = parse_buffer(text, path, err, errlen);
	ini_free_text(text, len);
	return af;
}

static int find_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct auth_entry *)elem)->name);
}

const struct auth_entry *auth_file_find(const struct auth_file *af, const char *user)
{
	if (!af || af->n == 0)
		return NULL;
	return bsearch(user, af->entries, af->n, sizeof(*af->entries), find_cmp);
}

size_t auth_file_count(const struct auth_file *af)
{
	return af ? af->n : 0;
}

const struct auth_entry *auth_file_entry(const struct auth_file *af, size_t i)
{
	return &af->entries[i];
}

void auth_file_free(struct auth_file *af)
{
	if (!af)
		return;
	for (size_t i = 0; i < af->n; i++)
		free_entry(&af->entries[i]);
	free(af->entries);
	free(af);
}
