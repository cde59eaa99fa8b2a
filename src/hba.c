/* SPDX-License-Identifier: ISC */
/*
 * The HBA file parser and the rule matcher. Owns the rules loaded from auth_hba_file and the
 * ident maps that come with them; the line syntax is hba_token.c's, the DATABASE, USER and
 * ADDRESS fields hba_field.c's, the map lookups ident.c's. It touches no socket: what a connection presents comes in a struct hba_conn,
 * and running the chosen method is the login's business (client_auth.c).
 *
 * As for auth_file, a load reports every bad line and fails whole, so a reload with a
 * broken file keeps the running rules.
 *
 * Entry points: hba_load, hba_parse, hba_match, hba_map_allows, hba_count, hba_rule_at,
 * hba_free.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "hba.h"
#include "hba_field.h"
#include "hba_token.h"
#include "ident.h"
#include "ini.h"

#define MSG_LEN 512

struct hba {
	struct hba_rule *rules; /* owned, in file order */
	size_t n;
	struct ident *ident; /* owned; NULL without auth_ident_file */
};

static const struct {
	const char *name;
	int method; /* enum auth_type */
} methods[] = {
	{ "trust", AUTH_TYPE_TRUST },	      { "reject", AUTH_TYPE_REJECT },
	{ "password", AUTH_TYPE_PLAIN },      { "md5", AUTH_TYPE_MD5 },
	{ "scram-sha-256", AUTH_TYPE_SCRAM }, { "cert", AUTH_TYPE_CERT },
	{ "peer", AUTH_TYPE_PEER },
};

/* PostgreSQL's methods that weir does not run: named as unsupported, not as unknown. */
static const char *const unsupported_methods[] = {
	"ident", "gss", "sspi", "pam", "ldap", "radius", "bsd", "any",
};

static void free_rule(struct hba_rule *r)
{
	hba_free_names(&r->db);
	hba_free_names(&r->user);
	free(r->map);
	r->map = NULL;
}

static bool parse_type(const struct hba_parser *p, const struct hba_field *f, struct hba_rule *r)
{
	static const char *const names[] = { "local", "host", "hostssl", "hostnossl" };
	const struct hba_token *tok = hba_single(p, f, "connection type");

	if (!tok)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (strcmp(tok->text, names[i]) == 0) {
			r->type = (enum hba_conn_type)i;
			return true;
		}
	}
	if (strcmp(tok->text, "hostgssenc") == 0 || strcmp(tok->text, "hostnogssenc") == 0)
		return hba_bad(p, &p->pos, "connection type \"%s\" is not supported", tok->text);
	return hba_bad(p, &p->pos, "invalid connection type \"%s\"", tok->text);
}

static bool parse_method(const struct hba_parser *p, const struct hba_field *f, struct hba_rule *r)
{
	const struct hba_token *tok = hba_single(p, f, "authentication method");

	if (!tok)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(methods); i++) {
		if (strcmp(tok->text, methods[i].name) == 0) {
			r->method = methods[i].method;
			return true;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(unsupported_methods); i++) {
		if (strcmp(tok->text, unsupported_methods[i]) == 0)
			return hba_bad(p, &p->pos, "authentication method \"%s\" is not supported",
				       tok->text);
	}
	return hba_bad(p, &p->pos, "invalid authentication method \"%s\"", tok->text);
}

static bool parse_options(const struct hba_parser *p, const struct hba_line *l, size_t from,
			  struct hba_rule *r)
{
	for (size_t i = from; i < l->n; i++) {
		const struct hba_token *tok = hba_single(p, &l->fields[i], "authentication option");
		const char *eq = tok ? strchr(tok->text, '=') : NULL;

		if (!tok)
			return false;
		if (!eq)
			return hba_bad(p, &p->pos,
				       "authentication option not in name=value format: \"%s\"",
				       tok->text);
		if (eq - tok->text != 3 || strncmp(tok->text, "map", 3) != 0)
			return hba_bad(p, &p->pos,
				       "authentication option \"%.*s\" is not supported",
				       (int)(eq - tok->text), tok->text);
		if (r->method != AUTH_TYPE_CERT && r->method != AUTH_TYPE_PEER)
			return hba_bad(
			    p, &p->pos,
			    "authentication option \"map\" is only valid for cert and peer");
		if (!eq[1])
			return hba_bad(p, &p->pos, "empty map name");
		free(r->map);
		r->map = xstrdup(eq + 1);
	}
	return true;
}

static bool build_rule(struct hba_parser *p, const struct hba_line *l, struct hba_rule *r)
{
	size_t next = 3;

	if (!parse_type(p, &l->fields[0], r))
		return false;
	if (l->n < 2)
		return hba_bad(p, &p->pos, "end of line before database specification");
	if (!hba_parse_names(p, &l->fields[1], true, &r->db))
		return false;
	if (l->n < 3)
		return hba_bad(p, &p->pos, "end of line before role specification");
	if (!hba_parse_names(p, &l->fields[2], false, &r->user))
		return false;
	if (r->type == HBA_LOCAL)
		r->any_addr = true;
	else if (!hba_parse_addr(p, l, &next, r))
		return false;
	if (next >= l->n)
		return hba_bad(p, &p->pos, "end of line before authentication method");
	if (!parse_method(p, &l->fields[next], r))
		return false;
	return parse_options(p, l, next + 1, r);
}

static bool parse_line(void *arg, int lineno, char *text)
{
	struct hba_parser *p = arg;
	struct hba *hba = p->hba;
	struct hba_rule r = { .line = lineno };
	struct hba_line l;
	const char *why = NULL;
	bool ok;

	p->pos.line = lineno;
	if (!hba_split_line(text, &l, &why))
		return hba_bad(p, &p->pos, "%s", why);
	ok = l.n == 0 || build_rule(p, &l, &r);
	if (ok && l.n > 0) {
		hba->rules = xrealloc(hba->rules, (hba->n + 1) * sizeof(*hba->rules));
		hba->rules[hba->n++] = r;
	} else {
		free_rule(&r);
	}
	hba_line_free(&l);
	return ok;
}

static struct hba *parse_buffer(char *text, const char *name, char *err, size_t errlen)
{
	struct hba_parser p = { .h = { .err = err, .errlen = errlen }, .pos = { name, 1 } };
	const char *slash = strrchr(name, '/');

	if (err && errlen)
		err[0] = '\0';
	if (slash && (size_t)(slash - name + 1) < sizeof(p.dir))
		memcpy(p.dir, name, (size_t)(slash - name + 1));
	p.hba = xcalloc(1, sizeof(*p.hba));
	if (hba_for_each_line(text, parse_line, &p))
		return p.hba;
	hba_free(p.hba);
	return NULL;
}

struct hba *hba_parse(const char *text, const char *name, char *err, size_t errlen)
{
	char *copy = xstrdup(text);
	struct hba *hba = parse_buffer(copy, name, err, errlen);

	free(copy);
	return hba;
}

/* Appends the error list more to the one in err (see struct ini_handler). */
static void append_errors(char *err, size_t errlen, const char *more)
{
	size_t used;

	if (!err || errlen == 0 || !*more)
		return;
	used = strlen(err);
	snprintf(err + used, errlen - used, "%s%s", used ? "\n" : "", more);
}

struct hba *hba_load(const char *path, const char *ident_path, char *err, size_t errlen)
{
	size_t len = 0;
	char *text = ini_read_file(path, &len);
	char ierr[4 * MSG_LEN];
	struct hba *hba;
	struct ident *ident;

	if (!text) {
		if (err && errlen)
			snprintf(err, errlen, "could not open \"%s\": %s", path, strerror(errno));
		return NULL;
	}
	hba = parse_buffer(text, path, err, errlen);
	ini_free_text(text, len);
	if (!ident_path || !*ident_path)
		return hba;
	ident = ident_load(ident_path, ierr, sizeof(ierr));
	if (hba && ident) {
		hba->ident = ident;
		return hba;
	}
	if (!ident)
		append_errors(err, errlen, ierr);
	hba_free(hba);
	ident_free(ident);
	return NULL;
}

static bool type_matches(const struct hba_rule *r, const struct hba_conn *c)
{
	switch (r->type) {
	case HBA_LOCAL:
		return c->unix_socket;
	case HBA_HOST:
		return !c->unix_socket;
	case HBA_HOSTSSL:
		return !c->unix_socket && c->tls;
	case HBA_HOSTNOSSL:
		return !c->unix_socket && !c->tls;
	}
	return false;
}

static bool addr_matches(const struct hba_rule *r, const struct hba_conn *c)
{
	static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const uint8_t *addr = c->addr;
	int n = 16;

	if (r->any_addr)
		return true;
	if (r->family == AF_INET && c->family == AF_INET6 && memcmp(addr, v4_mapped, 12) == 0)
		addr += 12;
	else if (r->family != c->family)
		return false;
	if (r->family == AF_INET)
		n = 4;
	for (int i = 0; i < n; i++) {
		if ((addr[i] & r->mask[i]) != r->addr[i])
			return false;
	}
	return true;
}

static bool db_matches(const struct hba_names *names, const struct hba_conn *c)
{
	for (size_t i = 0; i < names->n; i++) {
		const struct hba_name *nm = &names->v[i];

		if (nm->kind == HBA_NAME_REPLICATION) {
			if (c->replication)
				return true;
		} else if (c->replication) {
			continue;
		} else if (nm->kind == HBA_NAME_ALL ||
			   (nm->kind == HBA_NAME_SAMEUSER &&
			    strcmp(c->db_name, c->user_name) == 0) ||
			   (nm->kind == HBA_NAME_LITERAL && strcmp(nm->text, c->db_name) == 0)) {
			return true;
		}
	}
	return false;
}

static bool user_matches(const struct hba_names *names, const char *user)
{
	for (size_t i = 0; i < names->n; i++) {
		if (names->v[i].kind == HBA_NAME_ALL || strcmp(names->v[i].text, user) == 0)
			return true;
	}
	return false;
}

const struct hba_rule *hba_match(const struct hba *hba, const struct hba_conn *c)
{
	for (size_t i = 0; hba && i < hba->n; i++) {
		const struct hba_rule *r = &hba->rules[i];

		if (type_matches(r, c) && (c->unix_socket || addr_matches(r, c)) &&
		    db_matches(&r->db, c) && user_matches(&r->user, c->user_name))
			return r;
	}
	return NULL;
}

bool hba_map_allows(const struct hba *hba, const char *map, const char *system_user,
		    const char *db_user)
{
	return hba && ident_match(hba->ident, map, system_user, db_user);
}

size_t hba_count(const struct hba *hba)
{
	return hba ? hba->n : 0;
}

const struct hba_rule *hba_rule_at(const struct hba *hba, size_t i)
{
	return &hba->rules[i];
}

void hba_free(struct hba *hba)
{
	if (!hba)
		return;
	for (size_t i = 0; i < hba->n; i++)
		free_rule(&hba->rules[i]);
	free(hba->rules);
	ident_free(hba->ident);
	free(hba);
}
