/* SPDX-License-Identifier: ISC */
/*
 * Protocol-level named prepared statements in transaction and statement pooling
 * (max_prepared_statements). A client's statement names must survive moving between server
 * connections, so each distinct statement (query text + parameter type OIDs) gets a
 * process-wide id and a server-side name "WEIR_<id>" (id in decimal, from 1, never reused).
 * Each client keeps a map from its own names to those statements; each server connection
 * keeps the set of statements prepared on it as an LRU bounded by max_prepared_statements.
 *
 * Pure logic: no sockets, no event loop, no logging. The relay parses client messages with
 * ps_parse_*, keeps the maps in step, and sends what ps_build_* / ps_rewrite_bind produce.
 * Not thread-safe: a registry and everything attached to it belong to one worker.
 *
 * Reference rules: a struct ps_stmt lives while anyone holds a reference. ps_intern() returns
 * one for the caller; a client map and a server set each hold one reference per entry;
 * ps_stmt_unref() of the last reference frees the statement and its id is never handed out
 * again.
 */
#pragma once

#include "common.h"

struct wire_builder;

/* Longest server-side name, NUL included ("WEIR_" + 20 decimal digits + NUL). */
#define PS_SERVER_NAME_MAX 32

/* Longest query text accepted from a Parse: PostgreSQL's own limit for a message (1 GiB). */
#define PS_MAX_QUERY_LEN ((size_t)0x3fffffff)

struct ps_registry;
struct ps_stmt;
struct ps_client_map;
struct ps_server_set;

/*
 * Registry of distinct statements, keyed by query text and parameter type OIDs with a keyed
 * hash seeded from RAND_bytes (so clients cannot flood a bucket). Created at start-up; dies
 * if the random generator fails.
 */
struct ps_registry *ps_registry_create(void);
/*
 * Frees the registry. Free every client map and server set first: statements still
 * referenced are freed here too, and later unrefs of them would be use-after-free.
 */
void ps_registry_free(struct ps_registry *r);
/* Number of distinct statements alive (for SHOW). */
size_t ps_registry_count(const struct ps_registry *r);

/*
 * A Parse body (after the type byte and length), parsed. Pointers are into the body and
 * valid while it is; types holds ntypes big-endian int32 OIDs (4 * ntypes bytes, unaligned).
 * An empty name is the unnamed statement, which the relay passes through untouched.
 */
struct ps_parse {
	const char *name;
	const char *query;
	size_t query_len; /* strlen(query), at most PS_MAX_QUERY_LEN */
	uint16_t ntypes;
	const uint8_t *types;
};

/*
 * Parses a Parse body: name, query, int16 count, that many OIDs, nothing after. False on a
 * malformed body (truncated, a string without NUL, a count larger than the body, trailing
 * bytes, a query longer than PS_MAX_QUERY_LEN); *out is then unspecified.
 */
MUST_CHECK bool ps_parse_parse(const uint8_t *body, uint32_t len, struct ps_parse *out);
/*
 * The first two fields of a Bind body: portal name and statement name (pointers into the
 * body). The rest is not checked here; the server checks it. False if either string is
 * missing its NUL.
 */
MUST_CHECK bool ps_parse_bind_names(const uint8_t *body, uint32_t len, const char **portal,
				    const char **stmt);
/*
 * A Describe or Close body: kind byte then name, nothing after. False on a malformed body or
 * a kind other than 'S' (statement) or 'P' (portal).
 */
MUST_CHECK bool ps_parse_target(const uint8_t *body, uint32_t len, char *kind, const char **name);

/*
 * Returns the statement for p's query and types, creating it (with a fresh id) if no live
 * statement has them, and takes a reference for the caller. The query and types are copied
 * once into the statement, so p's packet may go away afterwards; p->name is ignored. p must
 * come from a successful ps_parse_parse() (or respect its limits).
 */
struct ps_stmt *ps_intern(struct ps_registry *r, const struct ps_parse *p);
void ps_stmt_ref(struct ps_stmt *s);
/* Drops one reference; the last one removes s from r and frees it. */
void ps_stmt_unref(struct ps_registry *r, struct ps_stmt *s);
/* "WEIR_<id>", the name the statement has on every server; valid while s is. */
const char *ps_stmt_server_name(const struct ps_stmt *s);
uint64_t ps_stmt_id(const struct ps_stmt *s);
/* The copied query text (NUL-terminated) and its length, for logs. */
const char *ps_stmt_query(const struct ps_stmt *s);
size_t ps_stmt_query_len(const struct ps_stmt *s);

/*
 * Per-client map from the client's statement names (any length, compared exactly) to
 * statements. Creating one is cheap (a few words, no table until the first add), so every
 * client may have one. r is borrowed for the hash seed and must outlive the map. The
 * functions that only read or remove also accept a NULL map (an empty one), so the relay may
 * create it lazily at the client's first named Parse.
 */
struct ps_client_map *ps_client_map_create(struct ps_registry *r);
/* Drops every entry's reference and frees m (NULL is fine). */
void ps_client_map_free(struct ps_registry *r, struct ps_client_map *m);
/*
 * Maps name to s, taking a reference of its own (the caller keeps its reference). False,
 * changing nothing, if name is already mapped: the caller answers 42P05.
 */
MUST_CHECK bool ps_client_add(struct ps_client_map *m, const char *name, struct ps_stmt *s);
/* The statement mapped to name, or NULL (borrowed: valid while the entry is). */
struct ps_stmt *ps_client_find(const struct ps_client_map *m, const char *name);
/* Unmaps name and drops the map's reference (Close 'S'). False if name was not mapped. */
bool ps_client_remove(struct ps_registry *r, struct ps_client_map *m, const char *name);
/* Unmaps everything (DEALLOCATE ALL / DISCARD ALL); frees the table, keeps m usable. */
void ps_client_clear(struct ps_registry *r, struct ps_client_map *m);
size_t ps_client_count(const struct ps_client_map *m);

/*
 * A SQL DEALLOCATE sent the way libpq's PQexecParams sends it: Parse of the unnamed
 * statement, Bind of the unnamed portal, Execute. The map remembers which client name the
 * unnamed statement, and then the unnamed portal, would deallocate, so that the Execute
 * can be recognised. m may be NULL (then nothing is remembered).
 */
/* A Parse of the unnamed statement: a DEALLOCATE of name (copied), or not one (NULL). */
void ps_client_parse_unnamed(struct ps_client_map *m, const char *dealloc_name);
/* A Bind to the unnamed portal, from the unnamed statement or from a named one. */
void ps_client_bind_unnamed(struct ps_client_map *m, bool from_unnamed_statement);
/* An Execute of the unnamed portal: the name it deallocates (borrowed, valid until the next
 * call on m), or NULL. */
const char *ps_client_execute_unnamed(struct ps_client_map *m);

/*
 * Per-server set of the statements prepared on that connection, least recently used first.
 * capacity is max_prepared_statements; 0 is taken as 1 (a relay with the feature off does
 * not create sets).
 */
struct ps_server_set *ps_server_set_create(unsigned capacity);
/* Drops every entry's reference and frees s (NULL is fine). Sends nothing. */
void ps_server_set_free(struct ps_registry *r, struct ps_server_set *s);
/* True if st is prepared on the server; if so it becomes the most recently used. */
bool ps_server_has(struct ps_server_set *s, const struct ps_stmt *st);
/*
 * Records st as prepared on the server (the caller has sent, or is sending, its Parse) as
 * the most recently used, taking a reference of its own. If st was already there it is only
 * refreshed and *evicted is NULL. Otherwise, if the set is now over capacity, the least
 * recently used statement is removed and stored in *evicted with the set's reference handed
 * to the caller, who sends Close for it (after this Parse, in order) and then unrefs it;
 * else *evicted is NULL. st itself is never the one evicted. At most one is evicted per
 * call (only a capacity shrink leaves more excess; see ps_server_pop_excess()).
 */
void ps_server_add(struct ps_server_set *s, struct ps_stmt *st, struct ps_stmt **evicted);
/* Removes st if present (its Parse failed on the server) and drops the reference. s may be NULL. */
void ps_server_forget(struct ps_registry *r, struct ps_server_set *s, const struct ps_stmt *st);
/* Removes everything (DISCARD ALL or DEALLOCATE ALL ran on the server). Sends nothing; s may be NULL. */
void ps_server_clear(struct ps_registry *r, struct ps_server_set *s);
/*
 * Changes the capacity (max_prepared_statements reloaded; 0 is taken as 1). Shrinking evicts
 * nothing by itself: call ps_server_pop_excess() until it returns NULL.
 */
void ps_server_set_capacity(struct ps_server_set *s, unsigned capacity);
/*
 * While the set holds more than its capacity, removes the least recently used statement and
 * returns it with the set's reference (the caller sends Close, then unrefs); else NULL.
 */
struct ps_stmt *ps_server_pop_excess(struct ps_server_set *s);
size_t ps_server_count(const struct ps_server_set *s);

/*
 * Message builders. They append one whole message to b; if it does not fit, b's sticky
 * overflow flag is set (check wire_builder_ok()).
 */
/* Bytes ps_build_parse() appends for s (type byte and length included). */
size_t ps_build_parse_size(const struct ps_stmt *s);
/* Parse with the server name, the query and the parameter types. */
void ps_build_parse(struct wire_builder *b, const struct ps_stmt *s);
/*
 * The same Bind with the statement name replaced by s's server name; the portal name and
 * everything after the statement name are copied byte for byte. The message is at most
 * len + 5 + PS_SERVER_NAME_MAX bytes. False, appending nothing, if the body is malformed
 * (as for ps_parse_bind_names()).
 */
MUST_CHECK bool ps_rewrite_bind(struct wire_builder *b, const uint8_t *body, uint32_t len,
				const struct ps_stmt *s);
/* Describe 'S' of s's server name. */
void ps_build_describe(struct wire_builder *b, const struct ps_stmt *s);
/* Close 'S' of s's server name. */
void ps_build_close(struct wire_builder *b, const struct ps_stmt *s);
