/* SPDX-License-Identifier: ISC */
/*
 * The auth_query answer cache (auth_query_cache.h): a list, oldest entry first, searched
 * from the front. It stays small (a few seconds of distinct names, AUTH_QUERY_CACHE_MAX at
 * most), so a walk costs less than a hash table would to maintain. Entries do not expire in
 * list order (two lifetimes), so expiry walks the whole list.
 *
 * Entry points: auth_query_cache_init, _clear, _put, _get, _expire.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "auth_query_cache.h"

static void entry_free(struct auth_query_cache *c, struct auth_query_cache_entry *e)
{
	list_remove(&c->entries, &e->node);
	if (e->secret) {
		OPENSSL_cleanse(e->secret, strlen(e->secret));
		free(e->secret);
	}
	free(e->query);
	free(e->user);
	free(e);
}

static struct auth_query_cache_entry *find(const struct auth_query_cache *c, const char *query,
					   const char *user)
{
	struct list_node *n, *t;

	list_for_each_safe(n, t, &c->entries) {
		struct auth_query_cache_entry *e =
		    list_entry(n, struct auth_query_cache_entry, node);

		if (strcmp(e->user, user) == 0 && strcmp(e->query, query) == 0)
			return e;
	}
	return NULL;
}

void auth_query_cache_init(struct auth_query_cache *c)
{
	list_init(&c->entries);
}

void auth_query_cache_clear(struct auth_query_cache *c)
{
	struct list_node *n;

	while ((n = list_first(&c->entries)))
		entry_free(c, list_entry(n, struct auth_query_cache_entry, node));
}

void auth_query_cache_expire(struct auth_query_cache *c, usec_t now)
{
	struct list_node *n, *t;

	list_for_each_safe(n, t, &c->entries) {
		struct auth_query_cache_entry *e =
		    list_entry(n, struct auth_query_cache_entry, node);

		if (e->expires <= now)
			entry_free(c, e);
	}
}

void auth_query_cache_put(struct auth_query_cache *c, const char *query, const char *user,
			  const struct auth_query_answer *a, usec_t now)
{
	struct auth_query_cache_entry *e = find(c, query, user);
	struct list_node *oldest;

	if (e)
		entry_free(c, e);
	if (a->outcome == AQ_FAILED)
		return;
	auth_query_cache_expire(c, now);
	if (c->entries.count >= AUTH_QUERY_CACHE_MAX && (oldest = list_first(&c->entries)))
		entry_free(c, list_entry(oldest, struct auth_query_cache_entry, node));
	e = xcalloc(1, sizeof(*e));
	e->query = xstrdup(query);
	e->user = xstrdup(user);
	e->outcome = a->outcome;
	e->kind = a->kind;
	if (a->outcome == AQ_FOUND)
		e->secret = xstrdup(a->secret);
	e->expires =
	    now + (a->outcome == AQ_UNKNOWN ? AUTH_QUERY_CACHE_NEG_TTL : AUTH_QUERY_CACHE_TTL);
	list_append(&c->entries, &e->node);
}

bool auth_query_cache_get(struct auth_query_cache *c, const char *query, const char *user,
			  usec_t now, struct auth_query_answer *a)
{
	struct auth_query_cache_entry *e = find(c, query, user);

	if (!e)
		return false;
	if (e->expires <= now) {
		entry_free(c, e);
		return false;
	}
	a->outcome = e->outcome;
	a->secret = e->secret;
	a->kind = e->kind;
	return true;
}
