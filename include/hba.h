/* SPDX-License-Identifier: ISC */
/*
 * HBA rules (auth_hba_file, used with auth_type = hba): which authentication method a
 * connection gets, from where it comes, the database and the user it asks for. The syntax
 * is pg_hba.conf's (hba_token.h for quoting, lists and comments), one rule per line:
 *
 *   local      DATABASE USER                METHOD [map=NAME]
 *   host       DATABASE USER ADDRESS [MASK] METHOD [map=NAME]
 *   hostssl    ...same as host
 *   hostnossl  ...same as host
 *
 * DATABASE: `all`, `replication`, `sameuser`, a name, `@file`, or a comma list of these.
 * USER: `all`, a name, `@file`, or a comma list. A quoted name is never a keyword. An
 * `@file` holds names separated by blanks, commas or newlines, with `#` comments; a
 * relative path is taken from the HBA file's directory.
 * ADDRESS: `all`, or an IPv4/IPv6 address with `/prefix`, or an address followed by a MASK
 * field. An IPv4 rule also matches an IPv4-mapped IPv6 client address.
 * METHOD: trust, reject, password, md5, scram-sha-256, cert, peer; `map=` only with cert
 * and peer.
 *
 * Refused with an error naming the line: other record types, samerole/samegroup, +group,
 * samehost/samenet, host names, other methods and options, nested @file.
 *
 * Matching is PostgreSQL's: the first rule that matches decides. A physical replication
 * connection is matched only by `replication` in DATABASE; `all` and names never match it,
 * and `replication` matches nothing else (a logical replication connection is matched as a
 * connection to its database).
 */
#pragma once

#include "common.h"

struct ident;

enum hba_conn_type {
	HBA_LOCAL,
	HBA_HOST,
	HBA_HOSTSSL,
	HBA_HOSTNOSSL,
};

enum hba_name_kind {
	HBA_NAME_LITERAL,
	HBA_NAME_ALL,
	HBA_NAME_SAMEUSER,    /* DATABASE only */
	HBA_NAME_REPLICATION, /* DATABASE only */
};

struct hba_name {
	enum hba_name_kind kind;
	char *text; /* owned; NULL unless HBA_NAME_LITERAL */
};

struct hba_names {
	struct hba_name *v; /* owned */
	size_t n;
};

struct hba_rule {
	int line; /* in the HBA file, for logs */
	enum hba_conn_type type;
	struct hba_names db;
	struct hba_names user;
	bool any_addr; /* `all`, and every `local` rule */
	int family;    /* AF_INET or AF_INET6 unless any_addr */
	uint8_t addr[16];
	uint8_t mask[16];
	int method; /* enum auth_type: TRUST, REJECT, PLAIN, MD5, SCRAM, CERT or PEER */
	char *map;  /* owned: the map= option, or NULL */
};

struct hba; /* opaque, immutable once loaded */

/* What a connection presents to the rules. */
struct hba_conn {
	bool unix_socket;
	bool tls;
	bool replication;      /* physical replication (replication=true) */
	int family;	       /* AF_INET or AF_INET6 for TCP */
	const uint8_t *addr;   /* borrowed: 4 or 16 bytes for family */
	const char *db_name;   /* borrowed: as the client asked */
	const char *user_name; /* borrowed: as the client sent */
};

/*
 * Loads the HBA file at path and, when ident_path is neither NULL nor "", the ident maps
 * (ident.h) that its map= options name. On error returns NULL and writes every error of
 * both files as "<file>:<line>: <message>" into err, one per line. The caller owns the
 * result.
 */
MUST_CHECK struct hba *hba_load(const char *path, const char *ident_path, char *err, size_t errlen);

/*
 * Same from text held in memory, without ident maps; name is used as the file name in
 * errors, and its directory is where a relative @file is looked for.
 */
MUST_CHECK struct hba *hba_parse(const char *text, const char *name, char *err, size_t errlen);

/* The first rule that matches c, or NULL (the connection is to be refused). Borrowed. */
const struct hba_rule *hba_match(const struct hba *hba, const struct hba_conn *c);

/* Whether the ident map `map` of the loaded maps lets system_user log in as db_user. */
bool hba_map_allows(const struct hba *hba, const char *map, const char *system_user,
		    const char *db_user);

size_t hba_count(const struct hba *hba);
/* The i-th rule in file order (i < hba_count). */
const struct hba_rule *hba_rule_at(const struct hba *hba, size_t i);

/* Frees hba and its ident maps. NULL is allowed. */
void hba_free(struct hba *hba);
