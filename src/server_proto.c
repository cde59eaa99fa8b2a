/* SPDX-License-Identifier: ISC */
/*
 * What PostgreSQL sends while a server is linked: ParameterStatus updates the tracked
 * values, ReadyForQuery decides when a server goes back to the pool (transaction and
 * statement pooling), and, when weir rewrites prepared statements, each reply is matched to
 * its request (pending.c) so that replies to weir's own requests are dropped and the
 * answers weir made up are sent in their place. Made-up answers and releases wait until
 * everything before them has reached the client (the relay's hold).
 */
#include <string.h>

#include "client.h"
#include "config.h"
#include "deadline.h"
#include "iobuf.h"
#include "log.h"
#include "prepared.h"
#include "registry.h"
#include "relay.h"
#include "server.h"
#include "stats.h"
#include "wire.h"
#include "worker.h"

static struct server *to_server(struct conn *c)
{
	return container_of(c, struct server, conn);
}

/* Messages read whole: ReadyForQuery, and small ParameterStatus and CommandComplete. */
static bool wants_whole(uint8_t type, uint32_t total, bool tracking)
{
	return type == 'Z' || (type == 'S' && total <= 65536) ||
	       (tracking && type == 'C' && total <= 1024);
}

static bool fake_at_head(struct server *server)
{
	struct pend_entry *e = pend_head(&server->pending);

	return e && e->action == PEND_FAKE;
}

static void build_fake(struct wire_builder *b, const struct pend_entry *e)
{
	switch (e->fake) {
	case FAKE_PARSE_COMPLETE:
		wire_begin(b, '1');
		wire_end(b);
		break;
	case FAKE_CLOSE_COMPLETE:
		wire_begin(b, '3');
		wire_end(b);
		break;
	default:
		wire_error(b, "ERROR", e->sqlstate, e->message ? e->message : "");
		break;
	}
}

void server_send_fakes(struct server *server)
{
	struct client *client = server->client;
	uint8_t buf[1024];
	struct wire_builder b;

	while (fake_at_head(server)) {
		if (!client) { /* draining: there is no one to answer */
			pend_pop(&server->pending);
			continue;
		}
		wire_builder_init(&b, buf, sizeof(buf));
		build_fake(&b, pend_head(&server->pending));
		pend_pop(&server->pending);
		if (!wire_builder_ok(&b) || !conn_send(&client->conn, buf, b.len)) {
			client_close(client, NULL, "client socket error");
			return;
		}
	}
}

/* DEALLOCATE ALL and DISCARD ALL drop the client's statements and the server's. */
static void note_command(struct server *server, const uint8_t *body, uint32_t len)
{
	struct ps_registry *ps = server->conn.worker->reg->ps;
	struct wire_reader r;
	const char *tag;

	wire_reader_init(&r, body, len);
	tag = wire_get_cstring(&r);
	if (!wire_reader_ok(&r))
		return;
	if (strcmp(tag, "DEALLOCATE ALL") == 0 || strcmp(tag, "DISCARD ALL") == 0) {
		ps_server_clear(ps, server->ps);
		if (server->client)
			ps_client_clear(ps, server->client->ps);
	}
}

/* Matches the reply to its request; false when the stream is out of step (closed). */
static bool track(struct server *server, uint8_t type, enum pend_verdict *v)
{
	*v = pend_on_response(&server->pending, type);
	if (*v != PV_BAD)
		return true;
	server_close(server, "server reply does not match the requests sent");
	return false;
}

/* Every request answered, outside a transaction, and no half-sent client message. */
static bool releasable(const struct server *server)
{
	return server->client && !server->owner && server->ready && server->tx_status == 'I' &&
	       server->pool->mode != POOL_MODE_SESSION && server->pending.count == 0 &&
	       !relay_mid_message(&server->client->conn);
}

/*
 * A request of the linked client is answered: one query, and one transaction when the
 * server is idle again (an autocommit statement is both), as PgBouncer counts them. The
 * client's bytes so far are counted with it. weir's own SETs are not the client's queries.
 */
static void count_request(struct server *server, char status, usec_t now)
{
	struct client *client = server->client;
	struct conn *c = &client->conn;

	stats_request_done(c->worker, server->pool, usec_since(server->request_start, now),
			   status == 'I', usec_since(server->xact_start, now));
	server->request_start = now; /* the next pipelined request's time starts here */
	if (status == 'I')
		server->xact_start = now; /* and so does its transaction's */
	stats_bytes(c->worker, server->pool, c->bytes_in, c->bytes_out);
	c->bytes_in = c->bytes_out = 0;
}

/* ReadyForQuery: false when the server was closed (statement mode, fast close). */
static bool on_ready(struct server *server, char status)
{
	const struct config *cfg = server->conn.worker->reg->cfg;
	int mode = server->owner ? POOL_MODE_SESSION : server->pool->mode;
	usec_t now = now_usec();

	if (server->client && !server->owner && !server->setting_params)
		count_request(server, status, now);
	server->tx_status = status;
	if (server->expect_rfq)
		server->expect_rfq--;
	server->ready = server->expect_rfq == 0;
	if (!server->ready || !server->client)
		return true;
	server->ready_since = now;
	server->client->tx_status = status;
	deadline_update(server->client);
	if (mode == POOL_MODE_SESSION && server->close_needed && status == 'I' &&
	    cfg->server_fast_close) {
		server_close(server, "server_fast_close");
		return false;
	}
	if (mode == POOL_MODE_STATEMENT && status != 'I') {
		server_close(server, "transaction blocks not allowed in statement pooling mode");
		return false;
	}
	return true;
}

static bool replacing(struct server *server)
{
	struct pend_entry *e = pend_head(&server->pending);

	return e && e->action == PEND_REPLACE;
}

/*
 * The error of a request weir sent to fail: the client gets the error PostgreSQL would
 * have given for its own request instead, once everything before it has been sent.
 */
static enum relay_action replace_error(struct server *server)
{
	struct pend_entry *e = pend_head(&server->pending);
	enum pend_verdict v;
	uint8_t buf[512];
	struct wire_builder b;

	if (server->conn.buf && iobuf_unsent(server->conn.buf) > 0)
		return RELAY_FLUSH_FIRST;
	wire_builder_init(&b, buf, sizeof(buf));
	build_fake(&b, e); /* a replaced request's entry holds its error (FAKE_ERROR) */
	if (!track(server, 'E', &v))
		return RELAY_STOP;
	if (server->client &&
	    (!wire_builder_ok(&b) || !conn_send(&server->client->conn, buf, b.len))) {
		client_close(server->client, NULL, "client socket error");
		return RELAY_STOP;
	}
	return RELAY_CONSUME;
}

static bool deallocating(struct server *server)
{
	struct pend_entry *e = pend_head(&server->pending);

	return e && e->action == PEND_DEALLOCATE;
}

/*
 * The stand-in for a client's SQL DEALLOCATE (client_proto.c) has run: only now is the
 * client's name dropped, and the client gets PostgreSQL's tag instead of the stand-in's.
 */
static enum relay_action finish_deallocate(struct server *server)
{
	struct pend_entry *e = pend_head(&server->pending);
	struct client *client = server->client;
	enum pend_verdict v;
	struct wire_builder b;
	uint8_t buf[32];

	if (server->conn.buf && iobuf_unsent(server->conn.buf) > 0)
		return RELAY_FLUSH_FIRST;
	if (client)
		(void)ps_client_remove(server->conn.worker->reg->ps, client->ps, e->message);
	e->action = PEND_FORWARD;
	if (!track(server, 'C', &v))
		return RELAY_STOP;
	wire_builder_init(&b, buf, sizeof(buf));
	wire_command_complete(&b, "DEALLOCATE");
	if (client && !conn_send(&client->conn, b.buf, b.len)) {
		client_close(client, NULL, "client socket error");
		return RELAY_STOP;
	}
	return RELAY_CONSUME;
}

enum relay_action server_on_message(struct conn *c, uint8_t type, const uint8_t *msg,
				    uint32_t total, bool complete)
{
	struct server *server = to_server(c);
	enum pend_verdict v = PV_FORWARD;

	if (type == 'Z' && total != 6) {
		c->ops->on_protocol_error(c, "08P01", "invalid ReadyForQuery from server");
		return RELAY_STOP;
	}
	if (!complete && wants_whole(type, total, server->tracking))
		return RELAY_NEED_ALL;
	if (server->tracking && type == 'E' && replacing(server))
		return replace_error(server);
	if (server->tracking && type == 'C' && deallocating(server))
		return finish_deallocate(server);
	if (server->tracking && !track(server, type, &v))
		return RELAY_STOP;
	if (v == PV_DROP)
		return RELAY_CONSUME;
	if (type == 'S' && complete)
		server_note_param(server, msg + 5, total - 5);
	else if (type == 'C' && complete && server->tracking)
		note_command(server, msg + 5, total - 5);
	else if (type == 'Z' && !on_ready(server, (char)msg[5]))
		return RELAY_STOP;
	if (fake_at_head(server) || releasable(server))
		c->hold = true;
	return server->client ? RELAY_FORWARD : RELAY_CONSUME; /* unlinked: draining */
}

/*
 * Everything approved reached the client: send made-up answers now at the head, then, in
 * transaction or statement pooling, give the server back and let the client go on.
 */
bool server_on_flushed(struct conn *c)
{
	struct server *server = to_server(c);
	struct client *client = server->client;

	server_send_fakes(server);
	if (c->closed || !releasable(server))
		return !c->closed;
	pool_unlink(client, server);
	server_release(server);
	if (!client->conn.closed)
		client_resume(client);
	return false;
}
