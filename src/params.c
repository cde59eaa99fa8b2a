/* SPDX-License-Identifier: ISC */
/*
 * Tracked parameters: the name list, per-connection value sets, and the SET query that
 * makes a server's values match a client's. Values are compared exactly as PostgreSQL
 * reports them; because a server's ParameterStatus after a SET also updates the client's
 * value, a value PostgreSQL canonicalises (DateStyle "ISO" becomes "ISO, MDY") is sent once,
 * not on every link.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "params.h"
#include "wire.h"

static const char *const always_tracked[] = {
	"client_encoding",  "DateStyle", "TimeZone", "standard_conforming_strings",
	"application_name",
};

static void add_name(struct param_names *pn, const char *name, size_t len)
{
	char buf[64];

	if (len == 0 || len >= sizeof(buf) || pn->count == PARAMS_MAX)
		return;
	memcpy(buf, name, len);
	buf[len] = '\0';
	if (params_index(pn, buf) >= 0)
		return;
	pn->names[pn->count++] = xstrdup(buf);
}

void params_init_names(struct param_names *pn, const char *extra)
{
	const char *p = extra ? extra : "";

	pn->count = 0;
	for (size_t i = 0; i < ARRAY_SIZE(always_tracked); i++)
		add_name(pn, always_tracked[i], strlen(always_tracked[i]));
	while (*p) {
		size_t n;

		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		n = strcspn(p, ", \t");
		add_name(pn, p, n);
		p += n;
	}
}

void params_free_names(struct param_names *pn)
{
	for (unsigned i = 0; i < pn->count; i++)
		free(pn->names[i]);
	pn->count = 0;
}

int params_index(const struct param_names *pn, const char *name)
{
	for (unsigned i = 0; i < pn->count; i++)
		if (strcasecmp(pn->names[i], name) == 0)
			return (int)i;
	return -1;
}

void params_set(struct param_values *pv, int idx, const char *value)
{
	if (idx < 0 || idx >= PARAMS_MAX)
		return;
	if (pv->v[idx] && value && strcmp(pv->v[idx], value) == 0)
		return;
	free(pv->v[idx]);
	pv->v[idx] = value ? xstrdup(value) : NULL;
}

void params_set_lazy(struct param_values **pvp, int idx, const char *value)
{
	if (idx < 0 || idx >= PARAMS_MAX)
		return;
	if (!*pvp)
		*pvp = xcalloc(1, sizeof(**pvp));
	params_set(*pvp, idx, value);
}

bool params_same_value(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

const char *params_get(const struct param_values *pv, int idx)
{
	return pv && idx >= 0 && idx < PARAMS_MAX ? pv->v[idx] : NULL;
}

void params_free(struct param_values **pvp)
{
	if (!*pvp)
		return;
	params_clear(*pvp);
	free(*pvp);
	*pvp = NULL;
}

void params_clear(struct param_values *pv)
{
	for (int i = 0; i < PARAMS_MAX; i++) {
		free(pv->v[i]);
		pv->v[i] = NULL;
	}
}

void params_cache_free(struct param_cache *c)
{
	for (int i = 0; i < PARAMS_MAX; i++)
		for (int j = 0; j < PARAMS_CACHE_WAYS; j++) {
			free(c->e[i][j].raw);
			free(c->e[i][j].reported);
			c->e[i][j].raw = c->e[i][j].reported = NULL;
		}
}

const char *params_cache_get(const struct param_cache *c, int idx, const char *raw)
{
	if (idx < 0 || idx >= PARAMS_MAX)
		return NULL;
	for (int j = 0; j < PARAMS_CACHE_WAYS; j++) {
		const struct param_canon *e = &c->e[idx][j];

		if (e->raw && strcmp(e->raw, raw) == 0)
			return e->reported;
	}
	return NULL;
}

void params_cache_put(struct param_cache *c, int idx, const char *raw, const char *reported)
{
	struct param_canon *e;

	if (idx < 0 || idx >= PARAMS_MAX || params_cache_get(c, idx, raw))
		return;
	e = &c->e[idx][c->next[idx]];
	c->next[idx] = (uint8_t)((c->next[idx] + 1) % PARAMS_CACHE_WAYS);
	free(e->raw);
	free(e->reported);
	e->raw = xstrdup(raw);
	e->reported = xstrdup(reported);
}

/* Appends s to out at *pos; false if it does not fit. */
static bool append(char *out, size_t cap, size_t *pos, const char *s, size_t n)
{
	if (n >= cap - *pos)
		return false;
	memcpy(out + *pos, s, n);
	*pos += n;
	out[*pos] = '\0';
	return true;
}

/* SET name=E'value'; with quotes and backslashes escaped, whatever the server's settings. */
static bool append_set(char *out, size_t cap, size_t *pos, const char *name, const char *value)
{
	bool ok = append(out, cap, pos, "SET ", 4) && append(out, cap, pos, name, strlen(name)) &&
		  append(out, cap, pos, "=E'", 3);

	for (const char *c = value; ok && *c; c++) {
		if (*c == '\'' || *c == '\\')
			ok = append(out, cap, pos, c, 1);
		ok = ok && append(out, cap, pos, c, 1);
	}
	return ok && append(out, cap, pos, "';", 2);
}

size_t params_set_bound(const struct param_names *pn, const struct param_values *want,
			const struct param_values *dflt)
{
	size_t n = 1;

	for (unsigned i = 0; i < pn->count; i++) {
		const char *w = params_get(want, (int)i) ? want->v[i] : dflt->v[i];

		if (w) /* SET name=E'...'; with every character possibly escaped */
			n += strlen(pn->names[i]) + 2 * strlen(w) + 10;
	}
	return n;
}

int params_build_set(const struct param_names *pn, const struct param_values *want,
		     const struct param_values *dflt, const struct param_values *have, char *out,
		     size_t cap)
{
	size_t pos = 0;

	if (cap == 0)
		return -1;
	out[0] = '\0';
	for (unsigned i = 0; i < pn->count; i++) {
		const char *w = params_get(want, (int)i) ? want->v[i] : dflt->v[i];

		if (!w || (have->v[i] && strcmp(w, have->v[i]) == 0))
			continue;
		if (!append_set(out, cap, &pos, pn->names[i], w))
			return -1;
	}
	return (int)pos;
}

bool params_parse_status(const uint8_t *body, uint32_t len, const char **name, const char **value)
{
	struct wire_reader r;

	wire_reader_init(&r, body, len);
	*name = wire_get_cstring(&r);
	*value = wire_get_cstring(&r);
	return wire_reader_ok(&r) && wire_remaining(&r) == 0;
}
