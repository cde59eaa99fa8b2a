/* SPDX-License-Identifier: ISC */
/*
 * Tracked session parameters: client_encoding, DateStyle, TimeZone,
 * standard_conforming_strings, application_name, plus track_extra_parameters. A client's
 * values (from its startup packet, `options`, and ParameterStatus its server sends while
 * linked) are re-applied with SET when it is linked to a server whose values differ, so the
 * client sees the session it asked for whichever server it gets.
 */
#pragma once

#include "common.h"

#define PARAMS_MAX 16

/* The names tracked by this process, fixed at start (track_extra_parameters). */
struct param_names {
	char *names[PARAMS_MAX]; /* owned */
	unsigned count;
};

/* Values indexed like param_names; NULL = not known / not set. */
struct param_values {
	char *v[PARAMS_MAX]; /* owned */
};

void params_init_names(struct param_names *pn, const char *extra);
void params_free_names(struct param_names *pn);
/* Index of name (case-insensitive), or -1. */
int params_index(const struct param_names *pn, const char *name);

void params_set(struct param_values *pv, int idx, const char *value);
/* Sets a value in *pvp, allocating the set on first use (most clients never need one). */
void params_set_lazy(struct param_values **pvp, int idx, const char *value);
/* Whether two values (NULL = not set) are the same: both unset, or equal strings. */
bool params_same_value(const char *a, const char *b);

/* A value of a set that may not exist yet. */
const char *params_get(const struct param_values *pv, int idx);
/* Clears and frees a lazily allocated set. */
void params_free(struct param_values **pvp);
void params_clear(struct param_values *pv);

/*
 * How PostgreSQL reports the values clients ask for (client_encoding=utf8 is reported as
 * UTF8, TimeZone=europe/paris as Europe/Paris), learned from servers that applied them: a
 * few entries per tracked name, the oldest replaced first. Lets a login be welcomed with
 * the reported forms without asking a server each time.
 */
#define PARAMS_CACHE_WAYS 16

struct param_canon {
	char *raw;	/* owned: as a client sent it */
	char *reported; /* owned: as PostgreSQL reported it after applying it */
};

struct param_cache {
	struct param_canon e[PARAMS_MAX][PARAMS_CACHE_WAYS];
	uint8_t next[PARAMS_MAX]; /* the entry to replace next */
};

void params_cache_free(struct param_cache *c);
/* The reported form of raw for name idx, or NULL if not known. */
const char *params_cache_get(const struct param_cache *c, int idx, const char *raw);
void params_cache_put(struct param_cache *c, int idx, const char *raw, const char *reported);

/*
 * Builds one simple query that makes `have` match `want` (falling back to `dflt` where the
 * client set nothing): "SET a=E'v';SET b=E'w';". Returns its length, 0 when nothing differs,
 * or -1 when it does not fit into cap.
 */
/* want may be NULL (the client set nothing). */
int params_build_set(const struct param_names *pn, const struct param_values *want,
		     const struct param_values *dflt, const struct param_values *have, char *out,
		     size_t cap);

/*
 * Parses a ParameterStatus body into name and value pointers (inside body). False on a
 * malformed body.
 */
/* Bytes (NUL included) that params_build_set() needs at most for want over dflt. */
size_t params_set_bound(const struct param_names *pn, const struct param_values *want,
			const struct param_values *dflt);

MUST_CHECK bool params_parse_status(const uint8_t *body, uint32_t len, const char **name,
				    const char **value);
