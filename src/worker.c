/* SPDX-License-Identifier: ISC */
/*
 * The worker: one libevent loop and what it owns. Closed clients and servers are parked on
 * the doomed lists and freed after the loop iteration that closed them, so no callback ever
 * touches a freed object. The janitor timer (janitor.c) runs from here, key derivations
 * come back through the worker's KDF inbox (kdf.c), and other workers' messages through its
 * own inbox (inbox.c).
 *
 * Parking (worker_exclusive): the initiator posts a park message to every other worker and
 * waits until all of them count themselves parked; each waits, inside that message's
 * handler (so between two of its callbacks, holding no lock), until the initiator bumps
 * park_round. Initiators take `exclusive` one at a time; one that waits for it drains its
 * own inbox meanwhile, so that it parks for the one that holds it.
 */
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "auth_scram.h"
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
	random_pool_init(&w->random);
	if (!inbox_init(&w->inbox, w->base, w))
		die("cannot create the worker's inbox: %s", strerror(errno));
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
	list_init(&w->outbound);
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
		if (!w->stopping)
			pool_schedule(pool, w); /* its room goes to whoever waits, on any worker */
	}
}

void worker_run(struct worker *w)
{
	while (!w->stopping) {
		if (event_base_loop(w->base, EVLOOP_ONCE) < 0)
			die("event loop failed");
		if (w->outbound.count)
			pool_send_outbound(w);
		free_doomed(w);
	}
}

void worker_stop(struct worker *w)
{
	__atomic_store_n(&w->stopping, true, __ATOMIC_RELAXED);
	event_base_loopbreak(w->base);
}

bool worker_stopping(const struct worker *w)
{
	return __atomic_load_n(&w->stopping, __ATOMIC_RELAXED);
}

void worker_post(struct worker *to, struct inbox_msg *m)
{
	inbox_post(&to->inbox, m);
}

static void *thread_main(void *arg)
{
	struct worker *w = arg;

	worker_run(w);
	auth_scram_thread_end();
	return NULL;
}

void worker_start_thread(struct worker *w)
{
	sigset_t all, old;
	int err;

	/* Signals go to the first worker's thread, whose loop handles them. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = pthread_create(&w->thread, NULL, thread_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		die("cannot start worker %u: %s", w->index, strerror(err));
	w->threaded = true;
}

static void on_stop(void *owner, struct inbox_msg *m)
{
	(void)m;
	worker_stop(owner);
}

void worker_stop_all(struct registry *reg)
{
	bool more;

	for (unsigned i = 0; i < reg->nworkers; i++) {
		struct worker *w = reg->workers[i];

		if (!w->threaded)
			continue;
		w->stop_msg.run = on_stop;
		worker_post(w, &w->stop_msg);
	}
	for (unsigned i = 0; i < reg->nworkers; i++)
		if (reg->workers[i]->threaded)
			pthread_join(reg->workers[i]->thread, NULL);
	for (unsigned i = 0; i < reg->nworkers; i++)
		reg->workers[i]->stopping = true;
	do { /* a message may post another: until every inbox is empty */
		more = false;
		for (unsigned i = 0; i < reg->nworkers; i++)
			more |= inbox_drain(&reg->workers[i]->inbox);
	} while (more);
}

/* ---- parking ---- */

static void on_park(void *owner, struct inbox_msg *m)
{
	struct registry *reg = ((struct worker *)owner)->reg;
	unsigned round;

	(void)m;
	pthread_mutex_lock(&reg->park_lock);
	round = reg->park_round;
	reg->parked++;
	pthread_cond_broadcast(&reg->park_cond);
	while (reg->park_round == round)
		pthread_cond_wait(&reg->park_cond, &reg->park_lock);
	pthread_mutex_unlock(&reg->park_lock);
}

void worker_exclusive(struct worker *w, void (*fn)(struct worker *w, void *arg), void *arg)
{
	struct registry *reg = w->reg;

	if (reg->nworkers == 1 || __atomic_load_n(&reg->exclusive_holder, __ATOMIC_RELAXED) == w) {
		fn(w, arg); /* alone, or already holding the others parked */
		return;
	}
	while (pthread_mutex_trylock(&reg->exclusive) != 0) {
		(void)inbox_drain(&w->inbox); /* parks here if the holder asks */
		inbox_wait(&w->inbox, 1);
	}
	__atomic_store_n(&reg->exclusive_holder, w, __ATOMIC_RELAXED);
	pthread_mutex_lock(&reg->park_lock);
	reg->parked = 0;
	pthread_mutex_unlock(&reg->park_lock);
	for (unsigned i = 0; i < reg->nworkers; i++) {
		struct worker *o = reg->workers[i];

		if (o == w)
			continue;
		o->park_msg.run = on_park;
		worker_post(o, &o->park_msg);
	}
	pthread_mutex_lock(&reg->park_lock);
	while (reg->parked < reg->nworkers - 1)
		pthread_cond_wait(&reg->park_cond, &reg->park_lock);
	pthread_mutex_unlock(&reg->park_lock);
	fn(w, arg);
	pthread_mutex_lock(&reg->park_lock);
	reg->park_round++;
	pthread_cond_broadcast(&reg->park_cond);
	pthread_mutex_unlock(&reg->park_lock);
	__atomic_store_n(&reg->exclusive_holder, NULL, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&reg->exclusive);
}

/* ---- accepting ---- */

struct accepted {
	struct inbox_msg msg;
	int fd;
	bool unix_socket;
	struct sockaddr_storage sa;
};

static void on_accepted(void *owner, struct inbox_msg *m)
{
	struct accepted *a = container_of(m, struct accepted, msg);
	struct worker *w = owner;

	if (w->stopping)
		close(a->fd);
	else
		client_accept(w, a->fd, (struct sockaddr *)&a->sa, a->unix_socket);
	free(a);
}

void worker_accept(struct worker *w, int fd, const struct sockaddr_storage *sa, bool unix_socket)
{
	struct registry *reg = w->reg;
	struct worker *to = reg->workers[w->next_accept++ % reg->nworkers];
	struct accepted *a;

	if (to == w) {
		client_accept(w, fd, (const struct sockaddr *)sa, unix_socket);
		return;
	}
	a = xmalloc(sizeof(*a));
	a->msg.run = on_accepted;
	a->fd = fd;
	a->unix_socket = unix_socket;
	a->sa = *sa;
	worker_post(to, &a->msg);
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
		struct pool_local *here = pool_here(list_entry(n, struct pool, node), w);

		for (int i = CL_WAIT_WELCOME; i < CL_CLOSED; i++)
			close_clients(&here->clients[i]);
		for (int i = SV_LOGIN; i < SV_CLOSED; i++)
			close_servers(&here->servers[i]);
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
	inbox_destroy(&w->inbox);
	iobuf_pool_destroy(&w->bufs);
	free(w->scratch);
	free(w->console_stats);
	event_base_free(w->base);
	free(w);
}
