/* SPDX-License-Identifier: ISC */
/*
 * The Prometheus endpoint: an HTTP listener (libevent's evhttp) on a worker's loop that
 * answers GET /metrics with the text exposition format 0.0.4, and 404 to anything else.
 * It shows what SHOW STATS, SHOW POOLS, SHOW DATABASES and SHOW LISTS show, the latency
 * histograms, and process figures; statistics are read through stats_pool_snapshot() and
 * stats_pool_state() only, as the console reads them. doc/monitoring.md lists the metrics.
 *
 * A scrape is written in steps of about 64 KiB across loop iterations, the next step once
 * the previous one has reached the socket, so the pooler's loop is never held for long and
 * a slow reader never makes weir buffer more than a step.
 */
#pragma once

#include "common.h"

struct worker;
struct config;
struct metrics;

/*
 * Listens on cfg->metrics_listen_addr:cfg->metrics_port ("*" = every IPv4 address) on
 * w's loop; for metrics_port > 0. NULL, with err set, if the address cannot be bound.
 */
MUST_CHECK struct metrics *metrics_start(struct worker *w, const struct config *cfg, char *err,
					 size_t errlen);
/* Closes the listener and its connections; scrapes in progress are dropped. NULL is a no-op. */
void metrics_free(struct metrics *m);
