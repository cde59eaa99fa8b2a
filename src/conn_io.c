/* SPDX-License-Identifier: ISC */
/*
 * Socket reads and writes (conn_io.h): the only callers of recv() and send() in weir, and of
 * OpenSSL's reads, writes and handshakes.
 *
 * A TLS connection writes through a BIO of weir's own: it sends the ciphertext at once and
 * keeps what the kernel did not take in conn.tls_out, so that SSL_write never blocks
 * half-way. A blocked SSL_write would leave a record pending that only a retry with the
 * same bytes may finish; with two writers on a connection (its own queue and the peer's
 * relayed bytes) the next write could come from the other one. conn_write instead reports
 * IO_AGAIN while ciphertext waits, exactly as a full socket would. A TLS operation that
 * OpenSSL still blocks on the other direction records it in conn.tls_io, so that conn.c
 * arms the event that lets it go on.
 *
 * Entry points: io_recv, io_send, io_peek, io_tls_*, conn_read, conn_write, conn_tls_attach,
 * conn_tls_flush, conn_tls_handshake, conn_tls_pending, conn_tls_close.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include "conn.h"
#include "conn_io.h"
#include "iobuf.h"
#include "log.h"
#include "tls.h"
#include "worker.h"

static enum io_result failed(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK ? IO_AGAIN : IO_ERROR;
}

enum io_result io_recv(int fd, void *buf, size_t len, size_t *n)
{
	ssize_t got;

	*n = 0;
	do {
		got = recv(fd, buf, len, 0);
	} while (got < 0 && errno == EINTR);
	if (got > 0) {
		*n = (size_t)got;
		return IO_OK;
	}
	return got == 0 ? IO_EOF : failed();
}

enum io_result io_send(int fd, const void *buf, size_t len, size_t *n)
{
	ssize_t put;

	*n = 0;
	do {
		put = send(fd, buf, len, MSG_NOSIGNAL);
	} while (put < 0 && errno == EINTR);
	if (put >= 0) {
		*n = (size_t)put;
		return IO_OK;
	}
	return failed();
}

enum io_result io_peek(int fd, uint8_t *byte)
{
	ssize_t got;

	do {
		got = recv(fd, byte, 1, MSG_PEEK);
	} while (got < 0 && errno == EINTR);
	if (got > 0)
		return IO_OK;
	return got == 0 ? IO_EOF : failed();
}

/* What an OpenSSL call's failure means; *other_way: it is blocked the other way. */
static enum io_result tls_failed(SSL *ssl, int ret, int other_way, bool *blocked)
{
	int err = SSL_get_error(ssl, ret);

	*blocked = err == other_way;
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
		return IO_AGAIN;
	if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && errno == 0))
		return IO_EOF;
	if (err == SSL_ERROR_SSL) {
		char reason[160];

		ERR_error_string_n(ERR_peek_last_error(), reason, sizeof(reason));
		log_debug("TLS error: %s", reason);
	}
	ERR_clear_error();
	return IO_ERROR;
}

enum io_result io_tls_recv(SSL *ssl, void *buf, size_t len, size_t *n, bool *wants_write)
{
	int ret;

	*n = 0;
	*wants_write = false;
	ERR_clear_error();
	errno = 0;
	ret = SSL_read_ex(ssl, buf, len, n);
	return ret == 1 ? IO_OK : tls_failed(ssl, ret, SSL_ERROR_WANT_WRITE, wants_write);
}

enum io_result io_tls_send(SSL *ssl, const void *buf, size_t len, size_t *n, bool *wants_read)
{
	int ret;

	*n = 0;
	*wants_read = false;
	if (len == 0)
		return IO_OK;
	ERR_clear_error();
	errno = 0;
	ret = SSL_write_ex(ssl, buf, len, n);
	return ret == 1 ? IO_OK : tls_failed(ssl, ret, SSL_ERROR_WANT_READ, wants_read);
}

enum io_result io_tls_handshake(SSL *ssl, bool *wants_write, char *err, size_t errlen)
{
	int ret, e;

	*wants_write = false;
	ERR_clear_error();
	errno = 0;
	ret = SSL_do_handshake(ssl);
	if (ret == 1)
		return IO_OK;
	e = SSL_get_error(ssl, ret);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		*wants_write = e == SSL_ERROR_WANT_WRITE;
		return IO_AGAIN;
	}
	if (e == SSL_ERROR_SSL) {
		long v = SSL_get_verify_result(ssl);
		char reason[160];

		ERR_error_string_n(ERR_peek_last_error(), reason, sizeof(reason));
		if (v != X509_V_OK)
			snprintf(err, errlen, "TLS handshake failed: certificate verify failed: %s",
				 X509_verify_cert_error_string(v));
		else
			snprintf(err, errlen, "TLS handshake failed: %s", reason);
	} else {
		snprintf(err, errlen, "TLS handshake failed: %s",
			 errno ? strerror(errno) : "connection closed");
	}
	ERR_clear_error();
	return IO_ERROR;
}

void io_tls_close(SSL *ssl, bool established)
{
	if (!ssl)
		return;
	ERR_clear_error();
	if (established)
		(void)SSL_shutdown(ssl); /* close_notify, best effort: never waits */
	ERR_clear_error();
	tls_session_free(ssl);
}

/* The most plaintext one conn_write hands to OpenSSL: a few records of ciphertext at most. */
#define TLS_WRITE_CHUNK (64u * 1024)

/* Ciphertext the socket did not take, kept in conn.tls_out (a buffer of the worker's pool). */
static bool keep_ciphertext(struct conn *c, const uint8_t *data, size_t len)
{
	return iobuf_append(&c->worker->bufs, &c->tls_out, data, len);
}

int conn_io_wbio_write(BIO *bio, const char *data, int len)
{
	struct conn *c = BIO_get_data(bio);
	size_t n = 0;

	BIO_clear_retry_flags(bio);
	if (len <= 0)
		return 0;
	if (!c->tls_out && io_send(c->fd, data, (size_t)len, &n) == IO_ERROR)
		return -1;
	if (n < (size_t)len && !keep_ciphertext(c, (const uint8_t *)data + n, (size_t)len - n))
		return -1;
	return len;
}

long conn_io_wbio_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
	(void)bio;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

bool conn_tls_attach(struct conn *c, SSL *ssl)
{
	BIO *w = BIO_new(tls_session_wbio_method(ssl));

	if (!w)
		return false;
	BIO_set_data(w, c);
	BIO_set_init(w, 1);
	SSL_set0_wbio(ssl, w);
	c->tls = ssl;
	return true;
}

enum io_result conn_tls_flush(struct conn *c)
{
	struct iobuf *b = c->tls_out;

	while (b && iobuf_unsent(b) > 0) {
		size_t n;
		enum io_result r = io_send(c->fd, b->data + b->send_pos, iobuf_unsent(b), &n);

		if (r != IO_OK)
			return r;
		b->send_pos += (uint32_t)n;
	}
	if (b) {
		iobuf_put(&c->worker->bufs, b);
		c->tls_out = NULL;
	}
	return IO_OK;
}

/* A TLS operation blocked the other way: conn.c arms the event it waits for. */
static void note_blocked(struct conn *c, bool blocked, uint8_t flag)
{
	c->tls_io &= (uint8_t)~flag;
	if (blocked) {
		c->tls_io |= flag;
		conn_update_events(c);
	}
}

enum io_result conn_read(struct conn *c, void *buf, size_t len, size_t *n)
{
	enum io_result r;

	if (c->tls) {
		bool blocked;

		/* weir's BIO never blocks a write, so a read is never blocked on one */
		r = io_tls_recv(c->tls, buf, len, n, &blocked);
		if (c->tls_out) /* an alert or a key update answer waits to be sent */
			conn_update_events(c);
	} else {
		r = io_recv(c->fd, buf, len, n);
	}
	c->bytes_in += *n;
	return r;
}

enum io_result conn_write(struct conn *c, const void *buf, size_t len, size_t *n)
{
	enum io_result r;

	if (c->tls) {
		bool blocked;

		*n = 0;
		if (conn_tls_flush(c) != IO_OK)
			return c->tls_out ? IO_AGAIN : IO_ERROR;
		r = io_tls_send(c->tls, buf, len < TLS_WRITE_CHUNK ? len : TLS_WRITE_CHUNK, n,
				&blocked);
		note_blocked(c, blocked, TLS_WRITE_WANTS_READ);
		if (c->tls_out)
			conn_update_events(c);
	} else {
		r = io_send(c->fd, buf, len, n);
	}
	c->bytes_out += *n;
	return r;
}

enum io_result conn_tls_handshake(struct conn *c, char *err, size_t errlen)
{
	bool wants_write; /* never: weir's BIO does not block writes (tls_out) */
	enum io_result r = io_tls_handshake(c->tls, &wants_write, err, errlen);

	if (r == IO_OK)
		c->tls_io &= (uint8_t)~TLS_HANDSHAKE;
	return r;
}

bool conn_tls_pending(const struct conn *c)
{
	return c->tls && SSL_pending(c->tls) > 0;
}

void conn_tls_close(struct conn *c)
{
	io_tls_close(c->tls, c->tls && !(c->tls_io & TLS_HANDSHAKE));
	if (c->tls_out) {
		(void)conn_tls_flush(c); /* the last message and close_notify: best effort */
		if (c->tls_out)
			iobuf_put(&c->worker->bufs, c->tls_out);
	}
	c->tls = NULL;
	c->tls_out = NULL;
	c->tls_io = 0;
}
