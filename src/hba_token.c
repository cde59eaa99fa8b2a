/* SPDX-License-Identifier: ISC */
/*
 * The tokenizer of the HBA and ident files: lines into fields, fields into tokens, quotes
 * removed in place. It gives no token a meaning (hba.c and ident.c do) and reads no file.
 *
 * Entry points: hba_split_line, hba_line_free, hba_token_is, hba_for_each_line.
 */
#include <string.h>

#include "hba_token.h"

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static char *skip_blanks(char *s)
{
	while (is_blank(*s))
		s++;
	return s;
}

static bool ends_token(char c)
{
	return c == '\0' || c == ',' || c == '#' || is_blank(c);
}

/*
 * Reads one token at s, unquoting it in place (the text only shrinks, so writing stays
 * behind reading). Returns the position of the character that ended it, which is saved in
 * *delim before the token's NUL may overwrite it; NULL on an unterminated quote.
 */
static char *read_token(char *s, struct hba_token *tok, char *delim)
{
	char *w = s;

	tok->text = s;
	tok->quoted = false;
	while (!ends_token(*s)) {
		if (*s != '"') {
			*w++ = *s++;
			continue;
		}
		tok->quoted = true;
		for (s++;; s++) {
			if (*s == '\0')
				return NULL;
			if (*s == '"' && s[1] != '"')
				break;
			if (*s == '"')
				s++;
			*w++ = *s;
		}
		s++;
	}
	*delim = *s;
	*w = '\0';
	return s;
}

static void add_token(struct hba_field *f, const struct hba_token *tok)
{
	f->tokens = xrealloc(f->tokens, (f->n + 1) * sizeof(*f->tokens));
	f->tokens[f->n++] = *tok;
}

/* Reads one field at s (not blank); returns where the line goes on, or NULL with why set. */
static char *read_field(char *s, struct hba_field *f, const char **why)
{
	for (;;) {
		struct hba_token tok;
		char delim;

		if (ends_token(*s)) {
			*why = "empty item in a comma-separated list";
			return NULL;
		}
		s = read_token(s, &tok, &delim);
		if (!s) {
			*why = "unterminated quoted string";
			return NULL;
		}
		add_token(f, &tok);
		if (delim != ',')
			return delim == '\0' || delim == '#' ? s : s + 1;
		s = skip_blanks(s + 1);
	}
}

bool hba_split_line(char *line, struct hba_line *out, const char **why)
{
	char *s = skip_blanks(line);

	out->fields = NULL;
	out->n = 0;
	while (*s && *s != '#') {
		struct hba_field f = { NULL, 0 };

		s = read_field(s, &f, why);
		out->fields = xrealloc(out->fields, (out->n + 1) * sizeof(*out->fields));
		out->fields[out->n++] = f;
		if (!s) {
			hba_line_free(out);
			return false;
		}
		/* a '#' that ended the last token was overwritten by its NUL: end of line */
		s = *s ? skip_blanks(s) : s;
	}
	return true;
}

void hba_line_free(struct hba_line *line)
{
	for (size_t i = 0; i < line->n; i++)
		free(line->fields[i].tokens);
	free(line->fields);
	line->fields = NULL;
	line->n = 0;
}

bool hba_token_is(const struct hba_token *tok, const char *word)
{
	return !tok->quoted && strcmp(tok->text, word) == 0;
}

bool hba_for_each_line(char *text, bool (*fn)(void *arg, int lineno, char *line), void *arg)
{
	bool ok = true;
	int lineno = 1;

	for (char *line = text, *nl; line; line = nl ? nl + 1 : NULL, lineno++) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		ok = fn(arg, lineno, line) && ok;
	}
	return ok;
}
