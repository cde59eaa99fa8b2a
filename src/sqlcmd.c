/* SPDX-License-Identifier: ISC */
/*
 * Recognising DEALLOCATE in SQL text (sqlcmd.h). A lexer over (pointer, length) with a
 * cursor; it follows PostgreSQL's scanner (scan.l) for the tokens DEALLOCATE can contain:
 * whitespace, comments, keywords, identifiers. Its only output is "this is exactly one
 * DEALLOCATE of <name>" (or of ALL); an unterminated comment or quote, an identifier too
 * long to keep, U&"..." escapes, or a second statement all make it "something else".
 */
#include <string.h>

#include "sqlcmd.h"

struct lexer {
	const char *p;
	size_t len; /* up to the first NUL */
	size_t pos;
	bool complete;	/* the whole text is there */
	bool truncated; /* ran out of text (matters only when !complete: more may come) */
};

enum token {
	TOK_END,  /* no more text */
	TOK_WORD, /* keyword or unquoted identifier, folded to lower case */
	TOK_QUOTED /* double-quoted identifier */,
	TOK_SEMI,  /* ; */
	TOK_OTHER, /* anything else, or a token that could not be read */
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (c & 0x80);
}

static bool ident_cont(char c)
{
	return ident_start(c) || (c >= '0' && c <= '9') || c == '$';
}

static bool at(const struct lexer *lx, size_t off, char c)
{
	return lx->pos + off < lx->len && lx->p[lx->pos + off] == c;
}

/* Skips a nested block comment that starts at pos; false if it does not end. */
static bool skip_block_comment(struct lexer *lx)
{
	unsigned depth = 0;

	while (lx->pos < lx->len) {
		if (at(lx, 0, '/') && at(lx, 1, '*')) {
			depth++;
			lx->pos += 2;
		} else if (at(lx, 0, '*') && at(lx, 1, '/')) {
			lx->pos += 2;
			if (--depth == 0)
				return true;
		} else {
			lx->pos++;
		}
	}
	lx->truncated = true;
	return false;
}

/* Skips blanks and comments; false on an unterminated block comment. */
static bool skip_blanks(struct lexer *lx)
{
	for (;;) {
		while (lx->pos < lx->len && is_space(lx->p[lx->pos]))
			lx->pos++;
		if (at(lx, 0, '-') && at(lx, 1, '-')) {
			while (lx->pos < lx->len && lx->p[lx->pos] != '\n')
				lx->pos++;
		} else if (at(lx, 0, '/') && at(lx, 1, '*')) {
			if (!skip_block_comment(lx))
				return false;
		} else {
			bool last = lx->pos + 1 == lx->len;

			/* At the end, or at a last "-" or "/" that may start a comment. */
			if (!lx->complete &&
			    (lx->pos == lx->len || (last && (at(lx, 0, '-') || at(lx, 0, '/')))))
				lx->truncated = true;
			return true;
		}
	}
}

/* An unquoted word, ASCII letters folded to lower case as PostgreSQL does. */
static enum token read_word(struct lexer *lx, char *out)
{
	size_t n = 0;

	while (lx->pos < lx->len && ident_cont(lx->p[lx->pos])) {
		char c = lx->p[lx->pos++];

		if (n + 1 >= SQLCMD_NAME_MAX)
			return TOK_OTHER; /* PostgreSQL would truncate it: leave it to PostgreSQL */
		out[n++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	out[n] = '\0';
	if (lx->pos == lx->len && !lx->complete)
		lx->truncated = true;
	return TOK_WORD;
}

/* A double-quoted identifier whose opening quote is at pos; "" stands for one quote. */
static enum token read_quoted(struct lexer *lx, char *out)
{
	size_t n = 0;

	lx->pos++;
	while (lx->pos < lx->len) {
		char c = lx->p[lx->pos++];

		if (c == '"' && !at(lx, 0, '"')) {
			out[n] = '\0';
			return n > 0 ? TOK_QUOTED : TOK_OTHER; /* "" is not a name */
		}
		if (c == '"')
			lx->pos++;
		if (n + 1 >= SQLCMD_NAME_MAX)
			return TOK_OTHER;
		out[n++] = c;
	}
	lx->truncated = true;
	return TOK_OTHER;
}

static enum token next_token(struct lexer *lx, char *out)
{
	char c;

	if (!skip_blanks(lx))
		return TOK_OTHER;
	if (lx->pos >= lx->len)
		return TOK_END;
	c = lx->p[lx->pos];
	if (c == ';') {
		lx->pos++;
		return TOK_SEMI;
	}
	if (c == '"')
		return read_quoted(lx, out);
	if (ident_start(c) && !((c == 'u' || c == 'U') && at(lx, 1, '&')))
		return read_word(lx, out);
	return TOK_OTHER;
}

/*
 * Only blanks, comments and at most one ';' may follow the statement. A word after it
 * settles the answer whatever text is still to come.
 */
static bool at_statement_end(struct lexer *lx)
{
	char junk[SQLCMD_NAME_MAX];
	enum token t = next_token(lx, junk);

	if (t == TOK_SEMI)
		t = next_token(lx, junk);
	if (t == TOK_END)
		return true;
	if (t != TOK_OTHER)
		lx->truncated = false;
	return false;
}

/* What follows DEALLOCATE: [PREPARE] name or ALL, and the end of the statement. */
static enum sqlcmd_kind classify_rest(struct lexer *lx, char name[SQLCMD_NAME_MAX])
{
	char word[SQLCMD_NAME_MAX], after[SQLCMD_NAME_MAX];
	enum token t = next_token(lx, word);

	if (t == TOK_WORD && strcmp(word, "prepare") == 0) {
		/* PREPARE is unreserved: "DEALLOCATE prepare" deallocates a statement so named. */
		size_t mark = lx->pos;
		enum token t2 = next_token(lx, after);

		if (t2 == TOK_WORD || t2 == TOK_QUOTED) {
			t = t2;
			memcpy(word, after, sizeof(word));
		} else {
			lx->pos = mark;
		}
	}
	if (t != TOK_WORD && t != TOK_QUOTED)
		return SQLCMD_OTHER;
	if (!at_statement_end(lx))
		return SQLCMD_OTHER;
	if (t == TOK_WORD && strcmp(word, "all") == 0) /* ALL is reserved; "all" is a name */
		return SQLCMD_DEALLOCATE_ALL;
	memcpy(name, word, SQLCMD_NAME_MAX);
	return SQLCMD_DEALLOCATE;
}

enum sqlcmd_kind sqlcmd_deallocate(const char *text, size_t len, bool complete,
				   char name[SQLCMD_NAME_MAX])
{
	static const char keyword[] = "deallocate";
	const char *nul = memchr(text, '\0', len);
	struct lexer lx = { text, nul ? (size_t)(nul - text) : len, 0, complete || nul, false };
	char word[SQLCMD_NAME_MAX];
	enum token t = next_token(&lx, word);
	enum sqlcmd_kind kind;

	if (lx.truncated && !lx.complete) /* what came so far may still grow into DEALLOCATE */
		return t == TOK_END || t == TOK_OTHER ||
			       (t == TOK_WORD && strncmp(word, keyword, strlen(word)) == 0)
			   ? SQLCMD_MAYBE
			   : SQLCMD_OTHER;
	if (t != TOK_WORD || strcmp(word, keyword) != 0)
		return SQLCMD_OTHER;
	kind = classify_rest(&lx, name);
	return lx.truncated && !lx.complete ? SQLCMD_MAYBE : kind;
}
