/* SPDX-License-Identifier: ISC */
/*
 * INI tokenizer. Owns the line-level syntax of configuration files: comments, section
 * headers, quoted and unquoted keys, values, %include and its nesting limit, and the
 * positions ("file:line") that every error carries. It does not own the meaning of
 * sections or keys (config.c) nor connection strings (config_db.c).
 *
 * A parse does not stop at an error: the line is reported and skipped, and the next one is
 * read, so that one look at the errors shows everything wrong with a file (as an operator
 * fixing a config for a reload needs). Errors are appended to the handler's buffer, one
 * "file:line: message" per line.
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
	int depth;   /* current %include nesting; 0 for the top-level file */
	bool failed; /* an error was reported: the parse goes on, its result is false */
};

static void parse_text(struct ini_parser *p, char *text, const char *name);

/*
 * Appends text to the error list in buf (size bytes, NUL-terminated), one error per line.
 * What does not fit is cut and the list then ends with "...", so that a reader can tell;
 * later errors only keep that mark.
 */
static void append_error(char *buf, size_t size, const char *text)
{
	size_t used = strnlen(buf, size - 1), room = size - 1 - used;
	size_t len = strlen(text), sep = used ? 1 : 0;

	if (sep + len <= room) {
		if (sep)
			buf[used++] = '\n';
		memcpy(buf + used, text, len + 1);
		return;
	}
	if (sep && room) {
		buf[used++] = '\n';
		room--;
	}
	memcpy(buf + used, text, room);
	buf[size - 1] = '\0';
	if (size > 3)
		memcpy(buf + size - 4, "...", 3);
}

void ini_error(const struct ini_handler *h, const struct ini_pos *pos, const char *fmt, ...)
{
	va_list ap;
	int head, body;
	char *msg;

	if (!h->err || h->errlen == 0)
		return;
	head = snprintf(NULL, 0, "%s:%d: ", pos->file, pos->line);
	va_start(ap, fmt);
	body = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (head < 0 || body < 0)
		return;
	msg = xmalloc((size_t)head + (size_t)body + 1);
	snprintf(msg, (size_t)head + 1, "%s:%d: ", pos->file, pos->line);
	va_start(ap, fmt);
	vsnprintf(msg + head, (size_t)body + 1, fmt, ap);
	va_end(ap);
	append_error(h->err, h->errlen, msg);
	free(msg);
}

static void clear_errors(const struct ini_handler *h)
{
	if (h->err && h->errlen)
		h->err[0] = '\0';
}

static void plain_error(const struct ini_handler *h, const char *path, int errnum)
{
	char msg[1024];

	if (!h->err || h->errlen == 0)
		return;
	snprintf(msg, sizeof(msg), "could not open \"%s\": %s", path, strerror(errnum));
	append_error(h->err, h->errlen, msg);
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
	parse_text(p, text, path);
	p->depth--;
	ini_free_text(text, len);
	return true;
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

/* Every line is parsed, whatever errors came before: each one is reported. */
static void parse_text(struct ini_parser *p, char *text, const char *name)
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
			p->failed = true;
	}
}

bool ini_parse_string(const char *text, const char *name, const struct ini_handler *h)
{
	struct ini_parser p = { h, 0, false };
	size_t len = strlen(text);
	char *copy;

	clear_errors(h);
	copy = xstrndup(text, len);

	parse_text(&p, copy, name);
	ini_free_text(copy, len);
	return !p.failed;
}

bool ini_parse_file(const char *path, const struct ini_handler *h)
{
	struct ini_parser p = { h, 0, false };
	size_t len = 0;
	char *text;

	clear_errors(h);
	text = ini_read_file(path, &len);
	if (!text) {
		plain_error(h, path, errno);
		return false;
	}
	parse_text(&p, text, path);
	ini_free_text(text, len);
	return !p.failed;
}
