/* SPDX-License-Identifier: ISC */
/*
 * The one place weir reads from and writes to sockets (conn_io.c): every recv() and send()
 * of a connection, a lingering socket or a cancel request goes through here, and so does
 * every OpenSSL read, write and handshake of the connections that use TLS.
 */
#pragma once

#include "common.h"

struct conn;
typedef struct ssl_st SSL;

enum io_result {
	IO_OK,	  /* some bytes moved (*n of them) */
	IO_AGAIN, /* the socket cannot move any now */
	IO_EOF,	  /* the peer closed (reads only) */
	IO_ERROR
};

/* One read into buf of at most len bytes; EINTR is retried. */
enum io_result io_recv(int fd, void *buf, size_t len, size_t *n);
/* One write of at most len bytes (*n may be less); EINTR is retried, SIGPIPE never raised. */
enum io_result io_send(int fd, const void *buf, size_t len, size_t *n);

/* The first byte waiting on the socket, left there (direct TLS detection). */
enum io_result io_peek(int fd, uint8_t *byte);

/*
 * The same through a TLS session on a bare socket (cancel requests): *wants_write /
 * *wants_read say that an IO_AGAIN waits for the other direction.
 */
enum io_result io_tls_recv(SSL *ssl, void *buf, size_t len, size_t *n, bool *wants_write);
enum io_result io_tls_send(SSL *ssl, const void *buf, size_t len, size_t *n, bool *wants_read);
/* One handshake step: IO_OK, IO_AGAIN (*wants_write: for EV_WRITE), IO_ERROR with err. */
enum io_result io_tls_handshake(SSL *ssl, bool *wants_write, char *err, size_t errlen);
/* close_notify if established (never waits), then the session is freed. NULL is a no-op. */
void io_tls_close(SSL *ssl, bool established);

/*
 * The same on a connection, through its TLS session if it has one, counting its bytes for
 * the statistics. Writes may be retried from a moved buffer holding the same bytes.
 */
enum io_result conn_read(struct conn *c, void *buf, size_t len, size_t *n);
enum io_result conn_write(struct conn *c, const void *buf, size_t len, size_t *n);

/*
 * weir's write BIO for connections (tls.c makes the BIO_METHOD of each context from
 * these): ciphertext goes to the socket at once, what it does not take to conn.tls_out.
 */
typedef struct bio_st BIO;
int conn_io_wbio_write(BIO *bio, const char *data, int len);
long conn_io_wbio_ctrl(BIO *bio, int cmd, long num, void *ptr);

/*
 * Makes ssl the connection's session, writing through weir's BIO (conn_io.c). False if
 * the BIO cannot be made (the caller frees ssl).
 */
MUST_CHECK bool conn_tls_attach(struct conn *c, SSL *ssl);
/* Sends ciphertext kept in conn.tls_out: IO_OK once none is left, IO_AGAIN, IO_ERROR. */
enum io_result conn_tls_flush(struct conn *c);
/*
 * One step of the TLS handshake: IO_OK when done, IO_AGAIN (c->tls_io says which event to
 * wait for), or IO_ERROR with the reason in err.
 */
enum io_result conn_tls_handshake(struct conn *c, char *err, size_t errlen);
/* Whether OpenSSL holds decrypted bytes not yet read: epoll will not report them. */
bool conn_tls_pending(const struct conn *c);
/* Sends close_notify if the session is up (never waits) and frees the session. */
void conn_tls_close(struct conn *c);
