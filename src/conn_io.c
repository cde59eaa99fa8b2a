/* SPDX-License-Identifier: ISC */
/*
 * Socket reads and writes (conn_io.h): the only callers of recv() and send() in weir.
 *
 * Entry points: io_recv, io_send, conn_read, conn_write.
 */
#include <errno.h>
#include <sys/socket.h>

#include "conn.h"
#include "conn_io.h"

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

enum io_result conn_read(struct conn *c, void *buf, size_t len, size_t *n)
{
	enum io_result r = io_recv(c->fd, buf, len, n);

	c->bytes_in += *n;
	return r;
}

enum io_result conn_write(struct conn *c, const void *buf, size_t len, size_t *n)
{
	enum io_result r = io_send(c->fd, buf, len, n);

	c->bytes_out += *n;
	return r;
}
