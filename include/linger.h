/* SPDX-License-Identifier: ISC */
/*
 * Lingering close. When weir ends a connection with an error, the peer may still be sending
 * (a large message, a pipeline): closing a socket with unread input makes the kernel send a
 * reset, and a reset can destroy the error before the peer reads it. A lingering socket
 * first writes what is still queued for it, then shuts down its sending side, and reads and
 * drops input until the peer closes, LINGER_SECONDS pass, or LINGER_MAX_BYTES were dropped;
 * only then is it closed. At most LINGER_MAX sockets linger per worker; beyond that they
 * are closed at once. Each is a small object of its own: the connection it came from is
 * freed as usual.
 */
#pragma once

#include "common.h"

struct worker;
struct iobuf;

#define LINGER_SECONDS	 5
#define LINGER_MAX_BYTES (64u << 20)
#define LINGER_MAX	 1024

/*
 * Takes over fd (no event may be registered on it any more) and out (bytes still to send
 * to the peer, or NULL; its unsent region is sent first).
 */
void linger_start(struct worker *w, int fd, struct iobuf *out);

/* Closes every lingering socket of the worker (at exit). */
void linger_close_all(struct worker *w);
