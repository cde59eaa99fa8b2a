/* SPDX-License-Identifier: ISC */
/*
 * The janitor: a periodic timer per worker that enforces time limits: the client timeouts
 * whose deadline has come in the worker's wheel (deadline.c), client_login_timeout,
 * server_connect_timeout, server_lifetime and server_idle_timeout; it grows pools to
 * min_pool_size and into the reserve, retries server connections for waiting clients after
 * server_login_retry, and finishes a graceful shutdown. janitor_start() also sets up the
 * worker's deadline wheel, janitor_stop() frees it.
 */
#pragma once

struct worker;

void janitor_start(struct worker *w);
void janitor_stop(struct worker *w);
/* One pass now (also used by tests and after signals). */
void janitor_run(struct worker *w);
