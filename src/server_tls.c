/* SPDX-License-Identifier: ISC */
/*
 * TLS towards PostgreSQL (server_tls_sslmode): an SSLRequest before the StartupMessage on
 * TCP, then the handshake with the host name the server was reached by (SNI, and the
 * identity verify-full checks). Modes: disable sends none; allow and prefer take TLS when
 * offered and go on in plaintext when refused (as PgBouncer, allow asks too); require and
 * the verify modes fail the login on 'N'. Bytes behind the 'S' answer came before the
 * handshake and are refused (an injection on the path would be read as the server's).
 *
 * Entry points: server_tls_begin, server_tls_on_answer, server_tls_done, server_tls_session.
 */
#include <string.h>

#include "config.h"
#include "conn_io.h"
#include "iobuf.h"
#include "log.h"
#include "registry.h"
#include "relay.h"
#include "server.h"
#include "tls.h"
#include "wire.h"
#include "worker.h"

bool server_tls_begin(struct server *server)
{
	struct tls_ctx *t = server->conn.worker->reg->tls_connect;
	uint8_t req[8];
	struct wire_builder b;

	if (!t || server->addr.ss_family == AF_UNIX)
		return false;
	wire_builder_init(&b, req, sizeof(req));
	wire_put_u32(&b, 8);
	wire_put_u32(&b, WIRE_SSL_CODE);
	server->phase = SLOGIN_TLS_ANSWER;
	if (!conn_send(&server->conn, req, sizeof(req)))
		server_login_fail(server, "08006", "cannot send the SSL request");
	return true;
}

SSL *server_tls_session(const struct server *server, int fd)
{
	struct tls_ctx *t = server->conn.worker->reg->tls_connect;
	char host[256];

	/* the name or address the server was reached by, for SNI and verify-full */
	config_first_host(server->pool->db->def->host, host, sizeof(host));
	return t ? tls_session_new(t, fd, host) : NULL;
}

static void start_handshake(struct server *server)
{
	SSL *ssl = server_tls_session(server, server->conn.fd);

	if (!ssl) {
		server_login_fail(server, "08006", "cannot create a TLS session");
		return;
	}
	server->phase = SLOGIN_TLS_HANDSHAKE;
	conn_want_read(&server->conn, false);
	if (!conn_tls_start(&server->conn, ssl))
		server_login_fail(server, "08006", "cannot start TLS");
}

void server_tls_on_answer(struct server *server)
{
	struct iobuf *b = server->conn.buf;
	uint8_t answer;

	if (!b || iobuf_unscanned(b) == 0)
		return;
	answer = b->data[b->scan_pos];
	relay_consume(&server->conn, 1);
	if (answer == 'S' && iobuf_unscanned(b) > 0) {
		server_login_fail(server, "08P01", "received unencrypted data after SSL response");
		return;
	}
	conn_release_buf_if_empty(&server->conn);
	if (answer == 'S') {
		start_handshake(server);
		return;
	}
	if (answer != 'N') {
		server_login_fail(server, "08P01", "invalid answer to the SSL request");
		return;
	}
	if (server->conn.worker->reg->cfg->server_tls_sslmode >= SSLMODE_REQUIRE) {
		server_login_fail(server, "08006",
				  "server does not support TLS, but it is required");
		return;
	}
	server_login_send_startup(server);
}

void server_tls_done(struct conn *c, const char *err)
{
	struct server *server = (struct server *)c;
	char desc[128];

	if (err) {
		server_login_fail(server, "08006", err);
		return;
	}
	tls_describe(c->tls, desc, sizeof(desc));
	log_debug("server TLS established: %s", desc);
	server_login_send_startup(server);
}
