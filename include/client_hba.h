/* SPDX-License-Identifier: ISC */
/*
 * The HBA side of a client login with auth_type = hba: which rule of the registry's HBA
 * rules applies to the client, the refusals worded as PostgreSQL words them, and `peer`.
 * client_auth.c runs the other methods.
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
 * HBA `peer`: the client logs in if it is on the Unix socket, known in auth_file, and its
 * peer's OS user name (SO_PEERCRED, then the password database) is the client's user name
 * or, with map not NULL, the ident map lets it log in as that user. Otherwise it is closed
 * with FATAL 28000 `peer authentication failed for user "u"`, and why is logged.
 */
void client_hba_peer(struct client *client, const char *map);
