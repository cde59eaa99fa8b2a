/* SPDX-License-Identifier: ISC */
/*
 * TLS towards clients (client_tls_sslmode): the SSLRequest upgrade, PostgreSQL 17's direct
 * TLS (the first byte is a TLS handshake record; ALPN "postgresql" is then required), and
 * the refusal of plaintext logins on TCP when TLS is required. Bytes a client sent in
 * plaintext behind its SSLRequest are refused: they were not protected by the handshake
 * and could have been injected by anyone on the path (PostgreSQL refuses them too). Unix
 * sockets never use TLS.
 *
 * Entry points: client_tls_ssl_request, client_tls_try_direct, client_tls_refuses_plain,
 * client_tls_done.
 */
#include "client.h"
#include "config.h"
#include "conn_io.h"
#include "iobuf.h"
#include "log.h"
#include "registry.h"
#include "tls.h"
#include "worker.h"

#define TLS_RECORD_HANDSHAKE 0x16

static struct tls_ctx *accept_ctx(const struct client *client)
{
	return client->conn.family == AF_UNIX ? NULL : client->conn.worker->reg->tls_accept;
}

static bool start(struct client *client, bool direct)
{
	SSL *ssl = tls_session_new(accept_ctx(client), client->conn.fd, NULL);

	if (!ssl) {
		client_close(client, NULL, "cannot create a TLS session");
		return false;
	}
	client->direct_tls = direct;
	conn_release_buf_if_empty(&client->conn);
	if (!conn_tls_start(&client->conn, ssl)) {
		client_close(client, NULL, "cannot start TLS");
		return false;
	}
	return !client->conn.closed;
}

bool client_tls_ssl_request(struct client *client)
{
	char answer = 'S';
	size_t n;

	if (client->conn.tls) {
		client_close(client, "08P01", "SSLRequest inside a TLS session");
		return false;
	}
	if (client->conn.buf && iobuf_unscanned(client->conn.buf) > 0) {
		client_close(client, "08P01", "received unencrypted data after SSL request");
		return false;
	}
	if (!accept_ctx(client))
		answer = 'N';
	/* the answer must leave before the handshake starts: one byte, on an empty socket */
	if (conn_has_output(&client->conn) || conn_write(&client->conn, &answer, 1, &n) != IO_OK ||
	    n != 1) {
		client_close(client, NULL, "client socket error");
		return false;
	}
	return answer == 'N' || start(client, false);
}

bool client_tls_try_direct(struct client *client)
{
	uint8_t first;

	if (client->tls_checked)
		return false;
	client->tls_checked = true;
	if (!accept_ctx(client) || io_peek(client->conn.fd, &first) != IO_OK ||
	    first != TLS_RECORD_HANDSHAKE)
		return false;
	(void)start(client, true);
	return true;
}

bool client_tls_refuses_plain(struct client *client)
{
	if (client->conn.tls || client->conn.family == AF_UNIX ||
	    client->conn.worker->reg->cfg->client_tls_sslmode < SSLMODE_REQUIRE)
		return false;
	client_close(client, "08P01", "SSL required");
	return true;
}

void client_tls_done(struct conn *c, const char *err)
{
	struct client *client = (struct client *)c;

	if (err) {
		client_close(client, NULL, "%s", err);
		return;
	}
	if (client->direct_tls && !tls_alpn_postgresql(c->tls)) {
		client_close(client, NULL,
			     "received direct TLS connection request without ALPN protocol "
			     "negotiation extension");
		return;
	}
	conn_want_read(c, true);
}
