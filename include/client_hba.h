/* SPDX-License-Identifier: ISC */
/*
 * The HBA side of a client login with auth_type = hba: which rule of the registry's HBA
 * rules applies to the client, the refusals worded as PostgreSQL words them, and whether
 * the operating system user at the other end of a Unix socket may log in as the client's
 * user. Running the rule's method is client_auth.c's.
 */
#pragma once

#include "common.h"

struct client;
struct hba_rule;

/*
 * The first rule that matches the client (tls: whether its connection is encrypted), or
 * NULL after the client was closed with FATAL 28000 `no pg_hba.conf entry for host ...`.
 * Borrowed from the registry's rules: valid until the next reload, so use it at once.
 */
const struct hba_rule *client_hba_rule(struct client *client, bool tls);

/* A `reject` rule matched: closes the client with FATAL 28000 `pg_hba.conf rejects ...`. */
void client_hba_reject(struct client *client, const struct hba_rule *rule, bool tls);

/*
 * Whether the client's Unix-socket peer may log in as the client's user: the peer's user
 * name (SO_PEERCRED, then the password database) equals it, or the ident map `map` (when
 * not NULL) maps one to the other. False on TCP and when the peer is unknown; why is logged.
 */
bool client_hba_peer_ok(const struct client *client, const char *map);
