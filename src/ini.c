/* SPDX-License-Identifier: ISC */
/*
 * INI tokenizer. Owns the line-level syntax of configuration files: comments, section
 * headers, quoted and unquoted keys, values, %include and its nesting limit, and the
 * positions ("file:line") that every error carries. It does not own the meaning of
 * sections or keys (config.c) nor connection strings (config_db.c).
 *
 * Each file is read into one mutable buffer that is cut into lines and tokens in place, so
 * the key and value handed to a callback point into that buffer; the buffer is wiped before
 * it is freed because values may be passwords.
 *
 * Entry points: ini_parse_file, ini_parse_string, ini_error, ini_read_file, ini_free_text.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ini.h"

#define UTF8_BOM     "\xEF\xBB\xBF"
#define INCLUDE_WORD "%include"

struct ini_parser {
	const struct ini_handler *h;
	int depth; /* current %include nesting; 0 for the top-level file */
};

static bool parse_text(struct ini_parser *p, char *text, const char *name);

void ini_error(const struct ini_handler *h, const struct ini_pos *pos, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!h->err || h->errlen == 0)
		return;
	n = snprintf(h->err, h->errlen, "%s:%d: ", pos->file, pos->line);
	if (n < 0 || (size_t)n >= h->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(h->err + n, h->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static void plain_error(const struct ini_handler *h, const char *path, int errnum)
{
	if (h->err && h->errlen)
		snprintf(h->err, h->errlen, "could not open \"%s\": %s", path, strerror(errnum));
}

/* Moves the buffer to a larger one, wiping the old copy (it may hold secrets). */
static char *grow_buffer(char *buf, size_t len, size_t newcap)
{
	char *bigger = xmalloc(newcap);

	memcpy(bigger, buf, len);
	ini_free_text(buf, len);
	return bigger;
}

char *ini_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 4096, used = 0, n;
	char *buf;
	int err;

	if (!f)
		return NULL;
	buf = xmalloc(cap);
	do {
		if (cap - used < 2) {
			buf = grow_buffer(buf, used, cap * 2);
			cap *= 2;
		}
		n = fread(buf + used, 1, cap - used - 1, f);
		used += n;
	} while (n > 0);
	if (ferror(f)) {
		err = errno ? errno : EIO;
		fclose(f);
		ini_free_text(buf, used);
		errno = err;
		return NULL;
	}
	fclose(f);
	buf[used] = '\0';
	*len = used;
	return buf;
}

void ini_free_text(char *text, size_t len)
{
	if (!text)
		return;
	OPENSSL_cleanse(text, len);
	free(text);
}

static char *skip_space(char *s)
{
	while (*s && isspace((unsigned char)*s))
		s++;
	return s;
}

static void trim_right(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
}

static bool is_key_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '*' || c == '-';
}

static bool parse_section(struct ini_parser *p, const struct ini_pos *pos, char *s)
{
	char *end = strchr(s, ']');

	if (!end) {
		ini_error(p->h, pos, "syntax error: missing \"]\" in section header");
		return false;
	}
	if (end[1] != '\0') {
		ini_error(p->h, pos, "syntax error: unexpected text after section header");
		return false;
	}
	*end = '\0';
	if (s[1] == '\0') {
		ini_error(p->h, pos, "syntax error: empty section name");
		return false;
	}
	return p->h->on_section(p->h, pos, s + 1);
}

static bool include_file(struct ini_parser *p, const struct ini_pos *pos, const char *path)
{
	size_t len = 0;
	char *text;
	bool ok;

	if (p->depth >= INI_MAX_INCLUDE_DEPTH) {
		ini_error(p->h, pos, "too many nested %%include directives (at most %d)",
			  INI_MAX_INCLUDE_DEPTH);
		return false;
	}
	text = ini_read_file(path, &len);
	if (!text) {
		ini_error(p->h, pos, "could not open \"%s\": %s", path, strerror(errno));
		return false;
	}
	p->depth++;
	ok = parse_text(p, text, path);
	p->depth--;
	ini_free_text(text, len);
	return ok;
}

static bool parse_directive(struct ini_parser *p, const struct ini_pos *pos, char *s)
{
	size_t n = strlen(INCLUDE_WORD);
	char *path;

	if (strncmp(s, INCLUDE_WORD, n) != 0 || (s[n] && !isspace((unsigned char)s[n]))) {
		ini_error(p->h, pos, "syntax error: unknown directive \"%s\"", s);
		return false;
	}
	path = skip_space(s + n);
	if (*path == '\0') {
		ini_error(p->h, pos, "syntax error: %%include needs a file name");
		return false;
	}
	return include_file(p, pos, path);
}

char *ini_unquote(char *s, char **content_end)
{
	char *r = s + 1, *w = s + 1;

	for (;;) {
		if (*r == '\0')
			return NULL;
		if (*r == '\'' && r[1] == '\'') {
			*w++ = '\'';
			r += 2;
		} else if (*r == '\'') {
			*content_end = w;
			return r + 1;
		} else {
			*w++ = *r++;
		}
	}
}

static char *read_key(struct ini_parser *p, const struct ini_pos *pos, char *s, char **kend)
{
	char *r;

	if (*s == '\'') {
		r = ini_unquote(s, kend);
		if (!r)
			ini_error(p->h, pos, "syntax error: unterminated quoted key");
		return r;
	}
	for (r = s; is_key_char(*r); r++)
		;
	if (r == s) {
		ini_error(p->h, pos, "syntax error: invalid character \"%c\" at start of key", *s);
		return NULL;
	}
	*kend = r;
	return r;
}

static bool parse_key_value(struct ini_parser *p, const struct ini_pos *pos, char *s)
{
	char *kend = NULL, *r, *key = *s == '\'' ? s + 1 : s;

	r = read_key(p, pos, s, &kend);
	if (!r)
		return false;
	r = skip_space(r);
	if (*r != '=') {
		ini_error(p->h, pos, "syntax error: expected \"=\" after key");
		return false;
	}
	*kend = '\0';
	if (*key == '\0') {
		ini_error(p->h, pos, "syntax error: empty key");
		return false;
	}
	return p->h->on_key(p->h, pos, key, skip_space(r + 1));
}

static bool parse_line(struct ini_parser *p, const struct ini_pos *pos, char *line)
{
	char *s = skip_space(line);

	trim_right(s);
	switch (*s) {
	case '\0':
	case ';':
	case '#':
		return true;
	case '[':
		return parse_section(p, pos, s);
	case '%':
		return parse_directive(p, pos, s);
	default:
		return parse_key_value(p, pos, s);
	}
}

static bool parse_text(struct ini_parser *p, char *text, const char *name)
{
	struct ini_pos pos = { name, 1 };
	char *line = text, *nl;

	if (strncmp(line, UTF8_BOM, strlen(UTF8_BOM)) == 0)
		line += strlen(UTF8_BOM);
	for (; line; line = nl ? nl + 1 : NULL, pos.line++) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (!parse_line(p, &pos, line))
			return false;
	}
	return true;
}

bool ini_parse_string(const char *text, const char *name, const struct ini_handler *h)
{
	struct ini_parser p = { h, 0 };
	size_t len = strlen(text);
	char *copy = xstrndup(text, len);
	bool ok = parse_text(&p, copy, name);

	ini_free_text(copy, len);
	return ok;
}

bool ini_parse_file(const char *path, const struct ini_handler *h)
{
	struct ini_parser p = { h, 0 };
	size_t len = 0;
	char *text = ini_read_file(path, &len);
	bool ok;

	if (!text) {
		plain_error(h, path, errno);
		return false;
	}
	ok = parse_text(&p, text, path);
	ini_free_text(text, len);
	return ok;
}
