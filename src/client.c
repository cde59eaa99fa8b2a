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

#include "admin.h"
#include "auth_query.h"
#include "client.h"
#include "cancel.h"
#include "config.h"
#include "deadline.h"
#include "iobuf.h"
#include "kdf.h"
#include "log.h"
#include "pool_sched.h"
#include "prepared.h"
#include "registry.h"
#include "relay.h"
#include "server.h"
#include "sock.h"
#include "stats.h"
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

	if (client->phase == LOGIN_STARTUP && client_tls_try_direct(client))
		return;
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
	bool starts = server->ready;

	if (starts) {
		usec_t now = now_usec();

		client->last_request = now;
		server->request_start = now;
		if (server->tx_status == 'I')
			server->xact_start = now;
	}
	if (type == 'Q' || type == 'S' || type == 'F')
		server->expect_rfq++;
	server->ready = false;
	if (starts)
		deadline_update(client);
}

/*
 * The message types a logged-in client may send (protocol "Message Formats"): anything
 * else is a protocol violation that PostgreSQL answers with FATAL and a close. CopyData,
 * CopyDone and CopyFail are valid outside COPY too (PostgreSQL ignores them there).
 */
static bool is_frontend_type(uint8_t type)
{
	switch (type) {
	case 'Q': /* Query */
	case 'P': /* Parse */
	case 'B': /* Bind */
	case 'E': /* Execute */
	case 'D': /* Describe */
	case 'C': /* Close */
	case 'H': /* Flush */
	case 'S': /* Sync */
	case 'F': /* FunctionCall */
	case 'd': /* CopyData */
	case 'c': /* CopyDone */
	case 'f': /* CopyFail */
		return true;
	default:
		return false;
	}
}

static enum relay_action client_on_message(struct conn *c, uint8_t type, const uint8_t *msg,
					   uint32_t total, bool complete)
{
	struct client *client = to_client(c);

	if (type == 'X') {
		client_close(client, NULL, "client close request");
		return RELAY_STOP;
	}
	if (client->admin)
		return admin_on_message(client, type, msg, total, complete);
	if (!is_frontend_type(type)) {
		client_close(client, "08P01", "invalid frontend message type %d", type);
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

static void client_on_protocol_error(struct conn *c, const char *sqlstate, const char *reason)
{
	client_close(to_client(c), sqlstate, "%s", reason);
}

static const struct conn_ops client_ops = {
	.on_data = client_on_data,
	.on_message = client_on_message,
	.on_eof = client_on_eof,
	.on_protocol_error = client_on_protocol_error,
	.on_tls_done = client_tls_done,
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
	list_node_init(&client->qnode);
	list_node_init(&client->cancel_node);
	wheel_entry_init(&client->timer);
	client->state = CL_LOGIN;
	client->login_start = now_usec();
	client->tx_status = 'I';
	list_append(&w->login_clients, &client->node);
	(void)__atomic_add_fetch(&w->reg->nclients, 1, __ATOMIC_RELAXED);
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
		if (client->admin)
			return &w->console_clients;
		return &pool_here(client->pool, w)->clients[state];
	}
}

void client_set_state(struct client *client, enum client_state state)
{
	struct registry *reg = client->conn.worker->reg;

	ASSERT(client->state != CL_CLOSED);
	ASSERT(state == CL_CLOSED || state == CL_LOGIN || client->pool || client->admin);
	registry_lock(reg);
	if (client->state == CL_WAITING && !client->admin)
		list_remove(&client->pool->queue, &client->qnode);
	list_remove(state_list(client, client->state), &client->node);
	client->state = state;
	list_append(state_list(client, state), &client->node);
	if (state == CL_WAITING && !client->admin)
		list_append(&client->pool->queue, &client->qnode);
	registry_unlock(reg);
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

/* A server that got only part of a message from this client can never be reused. */
static void unlink_server(struct client *client)
{
	struct server *server = client->server;
	bool mid_message = relay_mid_message(&client->conn);

	pool_unlink(client, server);
	if (mid_message)
		server_close(server, "client left in the middle of a message");
	else
		server_release(server);
}

static void forget_counts(struct client *client)
{
	struct worker *w = client->conn.worker;

	if (client->admin) { /* not counted once logged in to the console */
		if (client->state != CL_LOGIN)
			return;
	}
	(void)__atomic_sub_fetch(&w->reg->nclients, 1, __ATOMIC_RELAXED);
	if (client->pool) {
		stats_bytes(w, client->pool, client->conn.bytes_in, client->conn.bytes_out);
		client->pool->db->client_count--;
		client->pool->user->client_count--;
	}
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
		log_msg(LOG_LVL_LOG, tag, "closing because: %s (age=%llus)", reason,
			(unsigned long long)(usec_since(client->conn.connect_time, wall_usec()) /
					     USEC_PER_SEC));
	}
	if (sqlstate) {
		if (client->conn.worker->reg->cfg->log_pooler_errors)
			log_msg(LOG_LVL_WARNING, tag, "pooler error: %s", reason);
		(void)client_send_error(client, "FATAL", sqlstate, reason);
	}
	client->conn.closed = true;
	if (client->admin) /* may resume what it suspended: parks the others, without the lock */
		admin_forget(client);
	registry_lock(client->conn.worker->reg); /* its server, counts, queue place, cancel key */
	if (client->server)
		unlink_server(client);
	else if (client->dedicated)
		server_close(client->dedicated, "replication client disconnected");
	if (client->opening) /* the server logs in all the same, for whoever comes next */
		client->opening->opened_for = NULL;
	cancel_unregister(&client->conn.worker->reg->cancels, client);
	deadline_forget(client);
	if (client->login) {
		kdf_cancel(&client->login->kdf);
		auth_query_cancel(&client->login->lookup);
	}
	forget_counts(client);
	if (sqlstate) /* the client may still be sending: let it read the error, not a reset */
		conn_shutdown_lingering(&client->conn);
	else
		conn_shutdown(&client->conn);
	client_set_state(client, CL_CLOSED);
	registry_unlock(client->conn.worker->reg);
}

void client_cancel_and_close(struct client *client, const char *reason)
{
	struct server *server = client->server;

	if (server && !server->ready && !server->owner && !server->setting_params &&
	    !relay_mid_message(&client->conn)) {
		cancel_forward(server);
		server_drain(server);
	}
	client_close(client, "08P01", "%s", reason);
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
	deadline_update(client);
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
	if (client->phase == LOGIN_LINK) {
		client_finish_login(client);
		return;
	}
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
	if (client->phase == LOGIN_LINK) /* no SET for values whose reported form is known */
		(void)client_use_reported_forms(client, false);
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
	auth_query_cancel(&login->lookup);
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

void client_forget_login_console(struct client *client, struct user *login_user,
				 const char *console)
{
	client->login_user = login_user;
	client->user_name = login_user->name;
	client->db_name = console;
	free_login(client);
}

void client_free(struct client *client)
{
	ASSERT(!wheel_entry_filed(&client->timer));
	free(client->raw_options);
	params_free(&client->params);
	free_login(client);
	ps_client_map_free(client->conn.worker->reg->ps, client->ps);
	free(client);
}
