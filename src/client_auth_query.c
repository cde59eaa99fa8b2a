/* SPDX-License-Identifier: ISC */
/*
 * The client side of auth_query (auth_query.h): a login whose user auth_file does not know
 * asks for its secret and waits in LOGIN_LOOKUP, socket unread, under client_login_timeout
 * (a client that closes meanwhile cancels its wait in client_close). The answer becomes the
 * login's secret exactly as an auth_file entry would, and authentication starts over
 * (client_auth_start). No row, a NULL password and a failed lookup all leave the login
 * without a secret: it goes through the mock exchange of an unknown user and gets 28P01.
 *
 * Entry point: client_auth_query_secret (client.h).
 */
#include "admin.h"
#include "auth_query.h"
#include "client.h"
#include "config.h"
#include "log.h"
#include "registry.h"
#include "worker.h"

/* What auth_query said becomes the login's secret, as if auth_file had held it. */
static void take_answer(struct client *client, const struct auth_query_answer *a)
{
	struct client_login *login = client->login;

	login->source = SECRET_FROM_NOWHERE;
	switch (a->outcome) {
	case AQ_FOUND:
		login->secret = xstrdup(a->secret);
		login->secret_kind = (int)a->kind;
		login->source = SECRET_FROM_QUERY;
		return;
	case AQ_NO_PASSWORD:
		log_info("user \"%s\" has no valid password (auth_query)", client->user_name);
		return;
	case AQ_UNKNOWN:
		log_info("no such user: %s", client->user_name);
		return;
	case AQ_FAILED: /* logged by auth_query: the login fails as with a wrong password */
		return;
	}
}

/* The lookup is over: authentication starts again, now with the secret known. */
static void on_looked_up(void *arg, const struct auth_query_answer *a)
{
	struct client *client = arg;

	take_answer(client, a);
	client->phase = LOGIN_STARTUP;
	client_auth_start(client);
	if (!client->conn.closed && client->state == CL_LOGIN &&
	    (client->phase == LOGIN_PASSWORD || client->phase == LOGIN_SASL_INIT))
		client_login_resume(client);
}

bool client_auth_query_secret(struct client *client)
{
	struct worker *w = client->conn.worker;
	struct auth_query_answer a;
	char err[256];

	if (w->reg->cfg->auth_type == AUTH_TYPE_ANY || admin_console_name(client->db_name)) {
		take_answer(client, &(struct auth_query_answer){ .outcome = AQ_UNKNOWN });
		return true;
	}
	switch (auth_query_lookup(w->auth_query, client->db_name, client->user_name, on_looked_up,
				  client, &client->login->lookup, &a, err, sizeof(err))) {
	case AQ_NOT_USED:
		take_answer(client, &(struct auth_query_answer){ .outcome = AQ_UNKNOWN });
		return true;
	case AQ_REFUSED:
		client_close(client, "08P01", "%s", err);
		return false;
	case AQ_DONE:
		take_answer(client, &a);
		return true;
	case AQ_PENDING:
		break;
	}
	client->phase = LOGIN_LOOKUP;
	conn_want_read(&client->conn, false);
	return false;
}
