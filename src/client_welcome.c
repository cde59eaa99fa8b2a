/* SPDX-License-Identifier: ISC */
/*
 * The end of a client's login: what it is told. AuthenticationOk, one ParameterStatus per
 * value the server reports, BackendKeyData and ReadyForQuery, built either from the pool's
 * welcome (transaction and statement pooling, when weir knows how PostgreSQL reports every
 * value the client asked for) or from the server the client was linked to for its login
 * (session pooling always; the other modes when a value is new). Tracked values are told
 * in the form PostgreSQL reports them, learned from servers into the registry's cache. In
 * session pooling the client is told its backend's real process id; the cancel key is
 * always weir's own.
 */
#include <string.h>

#include "cancel.h"
#include "client.h"
#include "config.h"
#include "deadline.h"
#include "log.h"
#include "pool.h"
#include "registry.h"
#include "server.h"
#include "stats.h"
#include "tls.h"
#include "wire.h"
#include "worker.h"

static bool use_reported_forms(struct client *client, bool welcome)
{
	struct registry *reg = client->conn.worker->reg;
	const struct pool *pool = client->pool;
	bool all = true;

	for (unsigned i = 0; i < reg->tracked.count; i++) {
		const char *v = params_get(client->params, (int)i);
		const char *rep = v ? params_cache_get(&reg->canon, (int)i, v) : NULL;

		if (rep) { /* known: the reported form replaces (and frees) what was sent */
			if (strcmp(rep, v) != 0)
				params_set(client->params, (int)i, rep);
			continue;
		}
		if (!v || !welcome)
			continue;
		/* Known if it is the welcome's own value, or a name the servers do not report. */
		if (!pool->welcome || pool->welcome_stale ||
		    (pool->defaults.v[i] && strcmp(v, pool->defaults.v[i]) != 0))
			all = false;
	}
	return all;
}

bool client_use_reported_forms(struct client *client, bool welcome)
{
	bool r;

	registry_lock(client->conn.worker->reg);
	r = use_reported_forms(client, welcome);
	registry_unlock(client->conn.worker->reg);
	return r;
}

/* Bytes the welcome can take: the ParameterStatus set plus the tracked values. */
static size_t welcome_bound(const struct client *client, uint32_t params_len,
			    const struct param_values *current)
{
	size_t n = params_len + 128;

	for (int i = 0; i < PARAMS_MAX; i++) {
		if (params_get(client->params, i))
			n += strlen(client->params->v[i]) + 64;
		if (params_get(current, i))
			n += strlen(current->v[i]) + 64;
	}
	return n;
}

/*
 * AuthenticationOk (unless it was sent already), the ParameterStatus set of a server login
 * with each tracked value replaced by the client's own, else by the server's current one
 * (current may be NULL), BackendKeyData and ReadyForQuery.
 */
static void build_welcome(const struct client *client, struct wire_builder *b,
			  const uint8_t *params, uint32_t params_len,
			  const struct param_values *current)
{
	const struct param_names *pn = &client->conn.worker->reg->tracked;
	struct wire_reader r;
	const uint8_t *body;
	const char *name, *value;
	uint32_t len;
	uint8_t type;
	int idx;

	if (client->phase != LOGIN_LINK)
		wire_auth_request(b, WIRE_AUTH_OK, NULL, 0);
	wire_reader_init(&r, params, params_len);
	while (wire_next_message(&r, &type, &body, &len)) {
		if (type != 'S' || !params_parse_status(body, len, &name, &value))
			continue;
		idx = params_index(pn, name);
		if (params_get(client->params, idx))
			value = client->params->v[idx];
		else if (params_get(current, idx))
			value = current->v[idx];
		wire_parameter_status(b, name, value);
	}
	wire_backend_key_data(b, client->cancel_pid, client->cancel_key);
	wire_ready_for_query(b, 'I');
}

static void log_login(struct client *client)
{
	char tag[256], tls[128] = "no";

	if (!client->conn.worker->reg->cfg->log_connections)
		return;
	conn_tag(&client->conn, tag, sizeof(tag));
	if (client->conn.tls)
		tls_describe(client->conn.tls, tls, sizeof(tls));
	log_msg(LOG_LVL_LOG, tag, "login attempt: db=%s user=%s tls=%s", client->db_name,
		client->user_name, tls);
}

/* Sends the welcome; pid 0 draws a process id of weir's own. False if the client closed. */
static bool send_welcome(struct client *client, const uint8_t *params, uint32_t len,
			 const struct param_values *current, uint32_t pid)
{
	struct registry *reg = client->conn.worker->reg;
	size_t cap = welcome_bound(client, len, current);
	struct wire_builder b;
	bool registered;

	registry_lock(reg);
	registered = cancel_register(&reg->cancels, &client->conn.worker->random, client, pid);
	registry_unlock(reg);
	if (!registered) {
		client_close(client, "08P01", "cannot generate a cancel key");
		return false;
	}
	wire_builder_init(&b, worker_scratch(client->conn.worker, cap), cap);
	build_welcome(client, &b, params, len, current);
	if (!wire_builder_ok(&b) || !conn_send(&client->conn, b.buf, b.len)) {
		client_close(client, NULL, "client socket error");
		return false;
	}
	client->phase = LOGIN_DONE;
	client->last_request = now_usec();
	stats_client_login(client->conn.worker, client->pool,
			   usec_since(client->login_start, client->last_request));
	log_login(client);
	return true;
}

void client_welcome(struct client *client)
{
	struct pool *pool = client->pool;
	bool sent;

	registry_lock(pool->reg); /* the pool's welcome may be replaced by another worker */
	sent = send_welcome(client, pool->welcome, pool->welcome_len, &pool->defaults, 0);
	registry_unlock(pool->reg);
	if (!sent)
		return;
	client_set_state(client, CL_ACTIVE);
	deadline_update(client);
	client_resume(client);
}

void client_welcome_from(struct client *client, const uint8_t *params, uint32_t len)
{
	if (!send_welcome(client, params, len, NULL, 0))
		return;
	client_set_state(client, CL_ACTIVE);
	deadline_update(client);
	client_resume(client);
}

/* What the server reports for each value the client asked for is its reported form. */
static void learn_forms(struct client *client, const struct server *server)
{
	struct registry *reg = client->conn.worker->reg;

	for (unsigned i = 0; i < reg->tracked.count; i++) {
		const char *v = params_get(client->params, (int)i);
		const char *rep = server->params_now.v[i];

		if (!v || !rep)
			continue;
		params_cache_put(&reg->canon, (int)i, v, rep);
		if (strcmp(v, rep) != 0)
			params_set(client->params, (int)i, rep);
	}
}

static void learn_reported_forms(struct client *client, const struct server *server)
{
	registry_lock(client->conn.worker->reg);
	learn_forms(client, server);
	registry_unlock(client->conn.worker->reg);
}

void client_finish_login(struct client *client)
{
	struct server *server = client->server;
	bool session = client->pool->mode == POOL_MODE_SESSION;

	learn_reported_forms(client, server);
	if (!send_welcome(client, server->params, server->params_len, &server->params_now,
			  session ? server->backend_pid : 0))
		return;
	deadline_update(client);
	if (!session) { /* the server did its part: back to the pool until the first request */
		pool_unlink(client, server);
		server_release(server);
	}
	client_resume(client);
}
