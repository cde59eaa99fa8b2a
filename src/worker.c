/* SPDX-License-Identifier: ISC */
/*
 * The worker: one libevent loop and what it owns. Closed clients and servers are parked on
 * the doomed lists and freed after the loop iteration that closed them, so no callback ever
 * touches a freed object. The janitor timer (janitor.c) runs from here, and key derivations
 * come back through the worker's KDF inbox (kdf.c).
 */
#include <event2/event.h>

#include "admin.h"
#include "auth_query.h"
#include "cancel.h"
#include "client.h"
#include "config.h"
#include "dns.h"
#include "janitor.h"
#include "kdf.h"
#include "linger.h"
#include "listener.h"
#include "log.h"
#include "pool.h"
#include "pool_sched.h"
#include "registry.h"
#include "server.h"
#include "worker.h"

struct worker *worker_create(struct registry *reg, struct kdf_pool *kdf)
{
	struct worker *w = xcalloc(1, sizeof(*w));
	struct event_config *ec = event_config_new();

	event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
	event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	w->base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (!w->base)
		die("cannot create the event loop");
	w->reg = reg;
	if (reg->nworkers == WEIR_MAX_WORKERS)
		die("too many workers");
	w->index = reg->nworkers;
	reg->workers[reg->nworkers++] = w;
	iobuf_pool_init(&w->bufs, (uint32_t)reg->cfg->pkt_buf);
	w->dns = dns_create(w->base);
	if (!w->dns)
		die("cannot initialise the DNS resolver");
	dns_set_ttls(w->dns, reg->cfg->dns_max_ttl, reg->cfg->dns_nxdomain_ttl);
	w->kdf = kdf_inbox_create(kdf, w->base);
	if (!w->kdf)
		die("cannot create the key derivation inbox");
	w->auth_query = auth_query_create(w);
	list_init(&w->listeners);
	list_init(&w->login_clients);
	list_init(&w->console_clients);
	list_init(&w->doomed_clients);
	list_init(&w->doomed_servers);
	list_init(&w->lingering);
	list_init(&w->cancels);
	janitor_start(w);
	return w;
}

/*
 * Frees what the iteration closed. A closed server's room goes at once to clients of its
 * pool that wait (rescheduling may close more servers, which this loop frees too).
 */
static void free_doomed(struct worker *w)
{
	struct list_node *n;

	while ((n = list_pop_first(&w->doomed_clients)))
		client_free(list_entry(n, struct client, node));
	while ((n = list_pop_first(&w->doomed_servers))) {
		struct server *server = list_entry(n, struct server, node);
		struct pool *pool = server->pool;

		server_free(server);
		if (w->console_waits)
			admin_poll(w);
		if (!w->stopping &&
		    (pool->clients[CL_WAITING].count || pool->clients[CL_WAIT_WELCOME].count))
			pool_schedule(pool, w);
	}
}

void worker_run(struct worker *w)
{
	while (!w->stopping) {
		if (event_base_loop(w->base, EVLOOP_ONCE) < 0)
			die("event loop failed");
		free_doomed(w);
	}
}

void worker_stop(struct worker *w)
{
	w->stopping = true;
	event_base_loopbreak(w->base);
}

uint8_t *worker_scratch(struct worker *w, size_t size)
{
	if (size > w->scratch_cap) {
		free(w->scratch);
		w->scratch = xmalloc(size);
		w->scratch_cap = size;
	}
	return w->scratch;
}

uint32_t worker_next_id(struct worker *w)
{
	return __atomic_add_fetch(&w->reg->last_conn_id, 1, __ATOMIC_RELAXED);
}

static void close_clients(struct list_head *list)
{
	struct list_node *n;

	while ((n = list_first(list)))
		client_close(list_entry(n, struct client, node), NULL, "shutting down");
}

static void close_servers(struct list_head *list)
{
	struct list_node *n;

	while ((n = list_first(list)))
		server_close(list_entry(n, struct server, node), "shutting down");
}

/* Closes every connection of this worker (at exit, so that nothing leaks). */
static void close_all(struct worker *w)
{
	struct list_node *n, *t;

	close_clients(&w->login_clients);
	close_clients(&w->console_clients);
	list_for_each_safe(n, t, &w->reg->pools) {
		struct pool *pool = list_entry(n, struct pool, node);

		for (int i = CL_WAIT_WELCOME; i < CL_CLOSED; i++)
			close_clients(&pool->clients[i]);
		for (int i = SV_LOGIN; i < SV_CLOSED; i++)
			close_servers(&pool->servers[i]);
	}
}

void worker_free(struct worker *w)
{
	w->stopping = true;
	close_all(w);
	free_doomed(w);
	listener_close_all(w);
	linger_close_all(w);
	cancel_free_all(w);
	janitor_stop(w);
	auth_query_free(w->auth_query); /* every lookup was cancelled when its client closed */
	kdf_inbox_free(w->kdf); /* every derivation was cancelled when its connection closed */
	dns_free(w->dns);
	iobuf_pool_destroy(&w->bufs);
	free(w->scratch);
	free(w->console_stats);
	event_base_free(w->base);
	free(w);
}
