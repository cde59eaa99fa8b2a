/* SPDX-License-Identifier: ISC */
/*
 * Inside the configuration layer: the value parsers shared by config.c and config_db.c,
 * and the parsers of [databases], [users] and [peers] values (connection strings such as
 * "host=db1 port=5433 connect_query='set a=1; set b=2'"). Other modules read the resulting
 * struct db_def / user_def / peer_def from the snapshot and do not need this header.
 *
 * The entry parsers write a message without position into msg (the loader adds
 * "<file>:<line>: ") and return false on the first problem; they never exit.
 */
#pragma once

#include "config.h"

/* Integer: strtol base 0 (so 0777 is octal), whole string, within [min, max]. */
MUST_CHECK bool config_parse_int(const char *s, long long min, long long max, long long *out);
/* Boolean: any integer (non-zero = true) or on/off, true/false, yes/no (any case). */
MUST_CHECK bool config_parse_bool(const char *s, bool *out);
/* Time in seconds (strtod, fractional allowed) into microseconds; never negative, except
 * that "-1" gives USEC_UNSET when allow_unset. */
MUST_CHECK bool config_parse_time(const char *s, bool allow_unset, usec_t *out);
/* Index of s in a NULL-terminated name list (case-insensitive), or -1. */
int config_parse_enum(const char *s, const char *const *names);

/* NULL-terminated name lists, index = enum value. */
extern const char *const config_pool_mode_names[];
extern const char *const config_load_balance_names[];

/* Parses a [databases] value for entry name into *out (initialised here; release it with
 * config_db_free even on failure). file and line are left for the caller. */
MUST_CHECK bool config_db_parse(const char *name, const char *value, struct db_def *out, char *msg,
				size_t msglen);
/* Parses a [users] value. */
MUST_CHECK bool config_user_parse(const char *name, const char *value, struct user_def *out,
				  char *msg, size_t msglen);
/* Parses a [peers] entry: id is the key (1..65535), value the connection string. pool_size
 * is left -1 when absent (the loader puts default_pool_size there). */
MUST_CHECK bool config_peer_parse(const char *id, const char *value, struct peer_def *out,
				  char *msg, size_t msglen);

/* Deep copies: dst gets its own strings (dst is overwritten, not freed first). */
void config_db_copy(struct db_def *dst, const struct db_def *src);
void config_user_copy(struct user_def *dst, const struct user_def *src);
void config_peer_copy(struct peer_def *dst, const struct peer_def *src);

/* Free an entry's strings (passwords are wiped first); the struct itself is not freed. */
void config_db_free(struct db_def *db);
void config_user_free(struct user_def *u);
void config_peer_free(struct peer_def *p);
