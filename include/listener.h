/* SPDX-License-Identifier: ISC */
/*
 * Listening sockets: TCP on each listen_addr (or all addresses for "*") and the Unix socket
 * in unix_socket_dir, accepted on a worker's loop. When the process runs out of file
 * descriptors, accepting pauses for a second instead of spinning.
 */
#pragma once

#include "common.h"

struct worker;
struct config;

/* Opens every configured listener on w. False (with err set) if one cannot be opened. */
MUST_CHECK bool listener_open_all(struct worker *w, const struct config *cfg, char *err,
				  size_t errlen);
/* Stops accepting TCP connections (shutdown); the Unix socket stays. */
void listener_close_tcp(struct worker *w);
void listener_close_all(struct worker *w);
