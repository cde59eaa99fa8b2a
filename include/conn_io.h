/* SPDX-License-Identifier: ISC */
/*
 * The one place weir reads from and writes to sockets (conn_io.c): every recv() and send()
 * of a connection, a lingering socket or a cancel request goes through here, so that TLS
 * can later take over these calls for the connections that use it, and nowhere else.
 */
#pragma once

#include "common.h"

struct conn;

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

/* The same on a connection, counting its bytes for the statistics. */
enum io_result conn_read(struct conn *c, void *buf, size_t len, size_t *n);
enum io_result conn_write(struct conn *c, const void *buf, size_t len, size_t *n);
