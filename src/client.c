/* SPDX-License-Identifier: ISC */
/*
 * Client connections: creation on accept, the state machine (one list per state), the
 * messages of a logged-in client, and closing. A logged-in client's first message asks its
 * pool for a server; while it waits, reading stops, so its bytes stay in the buffer until a
 * server is linked and the relay forwards them.
 */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>

#include "client.h"
#include "cancel.h"
#include "config.h"
#include "iobuf.h"
#include "kdf.h"
#include "log.h"
#include "prepared.h"
#include "registry.h"
#include "relay.h"
#include "server.h"
#include "sock.h"
#include "wire.h"
#include "worker.h"

static struct client *to_client(struct conn *c)
{
	return container_of(c, struct client, conn);
}

static void client_tag(const struct conn *c, char *buf, size_t len)
{
	const struct client *client = container_of(c, struct client, conn);
	char addr[CONN_ADDR_LEN];

	snprintf(buf, len, "C-%u %s/%s@%s:%d", c->id, client->db_name ? client->db_name : "(nodb)",
		 client->user_name ? client->user_name : "(nouser)", conn_addr(c, addr), c->port);
}

static void client_on_data(struct conn *c)
{
	struct client *client = to_client(c);

	switch (relay_read(c)) {
	case IO_EOF:
		client_close(client, NULL,
			     client->phase == LOGIN_DONE ? "client unexpected eof"
							 : "client closed during login");
		return;
	case IO_ERROR:
		client_close(client, NULL, "client socket error");
		return;
	case IO_AGAIN:
		return;
	case IO_OK:
		break;
	}
	if (client->state == CL_LOGIN)
		client_login_on_data(client);
	else if (client->state == CL_ACTIVE)
		relay_process(c);
	else
		conn_want_read(c, false);
}

void client_note_sent(struct client *client, uint8_t type)
{
	struct server *server = client->server;

	if (server->ready) {
		usec_t now = now_usec();

		client->last_request = now;
		server->request_start = now;
		if (server->tx_status == 'I')
			server->xact_start = now;
	}
	if (type == 'Q' || type == 'S' || type == 'F')
		server->expect_rfq++;
	server->ready = false;
}

static enum relay_action client_on_message(struct conn *c, uint8_t type, const uint8_t *msg,
					   uint32_t total, bool complete)
{
	struct client *client = to_client(c);

	if (type == 'X') {
		client_close(client, NULL, "client close request");
		return RELAY_STOP;
	}
	if (!client->server) {
		if (!pool_request_server(client->pool, client))
			return RELAY_STOP;
		if (!client->server) {
			conn_want_read(c, false);
			return RELAY_STOP;
		}
	}
	if (client->server->setting_params)
		return RELAY_STOP;
	if (client->server->tracking)
		return client_proto_message(client, type, msg, total, complete);
	client_note_sent(client, type);
	return RELAY_FORWARD;
}

static void client_on_eof(struct conn *c, const char *reason)
{
	client_close(to_client(c), NULL, "%s", reason);
}

static void client_on_protocol_error(struct conn *c, const char *reason)
{
	client_close(to_client(c), "08P01", "%s", reason);
}

static const struct conn_ops client_ops = {
	.on_data = client_on_data,
	.on_message = client_on_message,
	.on_eof = client_on_eof,
	.on_protocol_error = client_on_protocol_error,
	.tag = client_tag,
};

static struct sock_tcp_opts tcp_opts(const struct config *cfg)
{
	return (struct sock_tcp_opts){
		.keepalive = cfg->tcp_keepalive,
		.keepcnt = cfg->tcp_keepcnt,
		.keepidle = cfg->tcp_keepidle,
		.keepintvl = cfg->tcp_keepintvl,
		.user_timeout_ms = cfg->tcp_user_timeout,
		.socket_buffer = cfg->tcp_socket_buffer,
	};
}

void client_accept(struct worker *w, int fd, const struct sockaddr *sa, bool unix_socket)
{
	struct client *client = xcalloc(1, sizeof(*client));

	conn_init(&client->conn, w, CONN_CLIENT, &client_ops, fd);
	conn_set_addr(&client->conn, sa);
	if (!unix_socket) {
		struct sock_tcp_opts o = tcp_opts(w->reg->cfg);

		sock_tune_tcp(fd, &o);
	}
	client->login = xcalloc(1, sizeof(*client->login));
	list_node_init(&client->node);
	list_node_init(&client->cancel_node);
	client->state = CL_LOGIN;
	client->login_start = now_usec();
	client->tx_status = 'I';
	list_append(&w->login_clients, &client->node);
	w->nclients++;
	conn_want_read(&client->conn, true);
}

static struct list_head *state_list(struct client *client, enum client_state state)
{
	struct worker *w = client->conn.worker;

	switch (state) {
	case CL_LOGIN:
		return &w->login_clients;
	case CL_CLOSED:
		return &w->doomed_clients;
	default:
		return &client->pool->clients[state];
	}
}

void client_set_state(struct client *client, enum client_state state)
{
	ASSERT(client->state != CL_CLOSED);
	ASSERT(state == CL_CLOSED || state == CL_LOGIN || client->pool);
	list_remove(state_list(client, client->state), &client->node);
	client->state = state;
	list_append(state_list(client, state), &client->node);
}

bool client_send_error(struct client *client, const char *severity, const char *sqlstate,
		       const char *message)
{
	uint8_t buf[1024];
	struct wire_builder b;

	wire_builder_init(&b, buf, sizeof(buf));
	wire_error(&b, severity, sqlstate, message);
	if (!wire_builder_ok(&b)) {
		wire_builder_init(&b, buf, sizeof(buf));
		wire_error(&b, severity, sqlstate, "error message too long");
	}
	return conn_send(&client->conn, buf, b.len);
}

void client_send_notice(struct client *client, const char *message)
{
	uint8_t buf[512];
	struct wire_builder b;

	wire_builder_init(&b, buf, sizeof(buf));
	wire_notice(&b, message);
	if (wire_builder_ok(&b) && !conn_send(&client->conn, buf, b.len))
		log_debug("cannot send a notice to client %u", client->conn.id);
}

static void unlink_server(struct client *client)
{
	struct server *server = client->server;

	pool_unlink(client, server);
	server_release(server);
}

static void forget_counts(struct client *client)
{
	struct worker *w = client->conn.worker;

	w->nclients--;
	if (client->pool) {
		client->pool->db->client_count--;
		client->pool->user->client_count--;
	}
}

/*
 * Reads and drops what the client already sent, so that closing the socket sends FIN, not
 * RST, and the client gets to read the error it was just sent.
 */
static void discard_input(struct conn *c)
{
	uint8_t junk[4096];

	for (int i = 0; i < 16; i++)
		if (c->fd < 0 || recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT) <= 0)
			break;
}

void client_close(struct client *client, const char *sqlstate, const char *fmt, ...)
{
	char reason[512], tag[256];
	va_list ap;

	if (client->conn.closed)
		return;
	/* A quiet disconnect (Terminate, log_disconnections=0) formats nothing. */
	if (client->conn.worker->reg->cfg->log_disconnections || sqlstate) {
		va_start(ap, fmt);
		vsnprintf(reason, sizeof(reason), fmt, ap);
		va_end(ap);
		conn_tag(&client->conn, tag, sizeof(tag));
		log_msg(
		    LOG_LVL_LOG, tag, "closing because: %s (age=%llus)", reason,
		    (unsigned long long)((wall_usec() - client->conn.connect_time) / USEC_PER_SEC));
	}
	if (sqlstate) {
		if (client->conn.worker->reg->cfg->log_pooler_errors)
			log_msg(LOG_LVL_WARNING, tag, "pooler error: %s", reason);
		(void)client_send_error(client, "FATAL", sqlstate, reason);
		discard_input(&client->conn);
	}
	client->conn.closed = true;
	if (client->server)
		unlink_server(client);
	else if (client->dedicated)
		server_close(client->dedicated, "replication client disconnected");
	cancel_unregister(&client->conn.worker->reg->cancels, client);
	if (client->login)
		kdf_cancel(&client->login->kdf);
	forget_counts(client);
	conn_shutdown(&client->conn);
	client_set_state(client, CL_CLOSED);
}

/* Bytes the welcome can take: the pool's set plus the client's own values. */
static size_t welcome_bound(const struct client *client, uint32_t params_len)
{
	size_t n = params_len + 128;

	for (int i = 0; i < PARAMS_MAX; i++)
		if (params_get(client->params, i))
			n += strlen(client->params->v[i]) + 64;
	return n;
}

/*
 * AuthenticationOk, the pool's ParameterStatus set with the client's own tracked values in
 * place of the server's, BackendKeyData and ReadyForQuery.
 */
static void build_welcome(struct client *client, struct wire_builder *b, const uint8_t *params,
			  uint32_t params_len)
{
	const struct param_names *pn = &client->conn.worker->reg->tracked;
	struct wire_reader r;
	const uint8_t *body;
	const char *name, *value;
	uint32_t len;
	uint8_t type;
	int idx;

	wire_auth_request(b, WIRE_AUTH_OK, NULL, 0);
	wire_reader_init(&r, params, params_len);
	while (wire_next_message(&r, &type, &body, &len)) {
		if (type != 'S' || !params_parse_status(body, len, &name, &value))
			continue;
		idx = params_index(pn, name);
		if (params_get(client->params, idx))
			value = client->params->v[idx];
		wire_parameter_status(b, name, value);
	}
	wire_backend_key_data(b, client->cancel_pid, client->cancel_key);
	wire_ready_for_query(b, 'I');
}

static void log_login(struct client *client)
{
	char tag[256];

	if (!client->conn.worker->reg->cfg->log_connections)
		return;
	conn_tag(&client->conn, tag, sizeof(tag));
	log_msg(LOG_LVL_LOG, tag, "login attempt: db=%s user=%s tls=no", client->db_name,
		client->user_name);
}

void client_welcome(struct client *client)
{
	client_welcome_from(client, client->pool->welcome, client->pool->welcome_len);
}

void client_welcome_from(struct client *client, const uint8_t *params, uint32_t len)
{
	size_t cap = welcome_bound(client, len);
	struct wire_builder b;

	if (!cancel_register(&client->conn.worker->reg->cancels, &client->conn.worker->reg->random,
			     client)) {
		client_close(client, "08P01", "cannot generate a cancel key");
		return;
	}
	wire_builder_init(&b, worker_scratch(client->conn.worker, cap), cap);
	build_welcome(client, &b, params, len);
	if (!wire_builder_ok(&b) || !conn_send(&client->conn, b.buf, b.len)) {
		client_close(client, NULL, "client socket error");
		return;
	}
	client->phase = LOGIN_DONE;
	client->last_request = now_usec();
	client_set_state(client, CL_ACTIVE);
	log_login(client);
	conn_want_read(&client->conn, true);
	client_resume(client);
}

/* Requests (Query, Sync, FunctionCall) in the unscanned bytes; -1 if a message is partial. */
static int pending_requests(const struct client *client)
{
	const struct iobuf *b = client->conn.buf;
	struct wire_reader r;
	const uint8_t *body;
	uint32_t len;
	uint8_t type;
	int n = 0;

	if (!b || client->conn.pkt_remain)
		return b ? -1 : 0;
	wire_reader_init(&r, b->data + b->scan_pos, iobuf_unscanned(b));
	while (wire_next_message(&r, &type, &body, &len))
		n += type == 'Q' || type == 'S' || type == 'F';
	return wire_reader_ok(&r) ? n : -1;
}

void client_cancel_wait(struct client *client)
{
	int n = pending_requests(client);
	uint8_t rfq[8];
	struct wire_builder b;

	if (n < 0)
		return;
	if (client->conn.buf) {
		client->conn.buf->scan_pos = client->conn.buf->send_pos =
		    client->conn.buf->recv_pos;
		conn_release_buf_if_empty(&client->conn);
	}
	client_set_state(client, CL_ACTIVE);
	wire_builder_init(&b, rfq, sizeof(rfq));
	wire_ready_for_query(&b, 'I');
	(void)client_send_error(client, "ERROR", "57014",
				"canceling statement due to user request");
	for (int i = 0; i < n; i++)
		if (!conn_send(&client->conn, rfq, b.len))
			break;
	conn_want_read(&client->conn, true);
}

void client_resume(struct client *client)
{
	conn_want_read(&client->conn, true);
	if (client->conn.buf && iobuf_unscanned(client->conn.buf) > 0)
		relay_process(&client->conn);
}

void client_link(struct client *client, struct server *server)
{
	client->server = server;
	server->client = client;
	client->conn.peer = &server->conn;
	server->conn.peer = &client->conn;
	server->tracking = !server->owner && client->pool->mode != POOL_MODE_SESSION &&
			   client->conn.worker->reg->cfg->max_prepared_statements > 0;
	conn_want_read(&server->conn, true);
	if (server_sync_params(server)) {
		conn_want_read(&client->conn, false);
		return;
	}
	client_resume(client);
}

void client_forget_scram(struct client *client)
{
	struct client_login *login = client->login;

	if (!login || !login->scram)
		return;
	auth_scram_server_reset(login->scram);
	free(login->scram);
	login->scram = NULL;
}

static void free_login(struct client *client)
{
	struct client_login *login = client->login;

	if (!login)
		return;
	client_forget_scram(client);
	kdf_cancel(&login->kdf);
	free(login->sasl_first);
	if (login->secret) {
		OPENSSL_cleanse(login->secret, strlen(login->secret));
		free(login->secret);
	}
	free(login->user_name);
	free(login->db_name);
	OPENSSL_cleanse(login, sizeof(*login));
	free(login);
	client->login = NULL;
}

void client_forget_login(struct client *client, struct user *login_user, struct database *db)
{
	client->login_user = login_user;
	client->db = db;
	client->user_name = login_user->name;
	client->db_name = db->name;
	free_login(client);
}

void client_free(struct client *client)
{
	free(client->raw_options);
	params_free(&client->params);
	free_login(client);
	ps_client_map_free(client->conn.worker->reg->ps, client->ps);
	free(client);
}
