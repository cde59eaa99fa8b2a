/* SPDX-License-Identifier: ISC */
/*
 * A client login under auth_type = hba: the connection's facts (socket kind, encryption,
 * address, names, physical replication) go to hba_match(), and the outcomes that are not a
 * password exchange are settled here: no rule, a `reject` rule, `peer`.
 * Refusals are FATAL 28000 worded as PostgreSQL's (auth.c, ClientAuthentication), so that
 * tools matching "no pg_hba.conf entry" keep working.
 *
 * The peer's name comes from getpwuid_r, a lookup in the password database made on the
 * event loop as PostgreSQL's backend makes it; with a local /etc/passwd it does not block.
 *
 * Entry points: client_hba_rule, client_hba_reject, client_hba_peer.
 */
#include <arpa/inet.h>
#include <pwd.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>

#include "client.h"
#include "client_hba.h"
#include "conn.h"
#include "hba.h"
#include "log.h"
#include "registry.h"
#include "sock.h"
#include "worker.h"

#define DESCRIBE_LEN 512
#define PWBUF_LEN    4096

PRINTF_FMT(2, 3) static void note(const struct client *client, const char *fmt, ...)
{
	char tag[256], msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conn_tag(&client->conn, tag, sizeof(tag));
	log_msg(LOG_LVL_LOG, tag, "%s", msg);
}

/* `host "1.2.3.4", user "u", database "d", no encryption` as PostgreSQL has it. */
static void describe(const struct client *client, bool tls, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "[local]";
	const char *enc = tls ? "SSL encryption" : "no encryption";

	if (client->conn.family == AF_INET || client->conn.family == AF_INET6)
		inet_ntop(client->conn.family, client->conn.addr, host, sizeof(host));
	if (client->replication == REPL_PHYSICAL)
		snprintf(buf, len, "host \"%s\", user \"%s\", %s", host, client->user_name, enc);
	else
		snprintf(buf, len, "host \"%s\", user \"%s\", database \"%s\", %s", host,
			 client->user_name, client->db_name, enc);
}

const struct hba_rule *client_hba_rule(struct client *client, bool tls)
{
	const struct registry *reg = client->conn.worker->reg;
	struct hba_conn c = {
		.unix_socket = client->conn.family == AF_UNIX,
		.tls = tls,
		.replication = client->replication == REPL_PHYSICAL,
		.family = client->conn.family,
		.addr = client->conn.addr,
		.db_name = client->db_name,
		.user_name = client->user_name,
	};
	const struct hba_rule *rule = hba_match(reg->hba, &c);
	char what[DESCRIBE_LEN];

	if (rule) {
		log_debug("HBA line %d is matched", rule->line);
		return rule;
	}
	note(client, "no authentication method is found");
	describe(client, tls, what, sizeof(what));
	client_close(client, "28000", "no pg_hba.conf entry for %s%s",
		     client->replication == REPL_PHYSICAL ? "replication connection from " : "",
		     what);
	return NULL;
}

void client_hba_reject(struct client *client, const struct hba_rule *rule, bool tls)
{
	char what[DESCRIBE_LEN];

	note(client, "rejected by HBA line %d", rule->line);
	describe(client, tls, what, sizeof(what));
	client_close(client, "28000", "pg_hba.conf rejects %sconnection for %s",
		     client->replication == REPL_PHYSICAL ? "replication " : "", what);
}

/* The name of the OS user at the other end of the client's Unix socket. */
static bool peer_name(const struct client *client, char *buf, size_t len)
{
	struct passwd pw, *found = NULL;
	char *pwbuf;
	uid_t uid;
	bool ok;

	if (client->conn.family != AF_UNIX) {
		note(client, "peer authentication is only supported on Unix sockets");
		return false;
	}
	if (!sock_peer_uid(client->conn.fd, &uid)) {
		note(client, "could not get the peer credentials of the Unix socket");
		return false;
	}
	pwbuf = xmalloc(PWBUF_LEN);
	ok = getpwuid_r(uid, &pw, pwbuf, PWBUF_LEN, &found) == 0 && found &&
	     (size_t)snprintf(buf, len, "%s", pw.pw_name) < len;
	free(pwbuf);
	if (!ok)
		note(client, "could not look up local user ID %ld", (long)uid);
	return ok;
}

/* Whether the Unix peer may log in as the client's user (directly, or through map). */
static bool peer_allowed(const struct client *client, const char *map)
{
	const struct registry *reg = client->conn.worker->reg;
	char name[256];

	if (!peer_name(client, name, sizeof(name)))
		return false;
	if (map) {
		if (hba_map_allows(reg->hba, map, name, client->user_name))
			return true;
		note(client, "ident map %s cannot be matched", map);
		return false;
	}
	if (strcmp(name, client->user_name) == 0)
		return true;
	note(client, "provided user name (%s) and authenticated user name (%s) do not match",
	     client->user_name, name);
	return false;
}

void client_hba_peer(struct client *client, const char *map)
{
	/* As PgBouncer: the user must be known (auth_file), as for trust. */
	if (client->login->secret && peer_allowed(client, map))
		client_login_authenticated(client);
	else
		client_close(client, "28000", "peer authentication failed for user \"%s\"",
			     client->user_name);
}
