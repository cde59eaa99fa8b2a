/* SPDX-License-Identifier: ISC */
/*
 * One event loop and everything that belongs to it: the libevent base, the buffer pool, the
 * DNS resolver, the inbox where its key derivations come back, auth_query's connections,
 * clients still logging in, objects waiting to be freed, and the periodic janitor timer.
 * With workers = N, N of them run, each on its own thread (the first on the main thread);
 * they share the registry's pools and talk to each other only through their inboxes
 * (worker_post): a worker never touches another's connections, except with that worker
 * parked (worker_exclusive).
 */
#pragma once

#include <pthread.h>
#include <sys/socket.h>

#include "common.h"
#include "inbox.h"
#include "iobuf.h"
#include "list.h"
#include "random_pool.h"
#include "wheel.h"

struct event_base;
struct event;
struct registry;
struct dns;
struct kdf_pool;
struct kdf_inbox;
struct auth_query;
struct pool_stats;

/* How the process is shutting down (SIGINT / SIGTERM / admin SHUTDOWN). */
enum worker_shutdown {
	SHUTDOWN_NONE,
	SHUTDOWN_WAIT_FOR_SERVERS, /* pause; exit when no server is in use */
	SHUTDOWN_WAIT_FOR_CLIENTS, /* exit when the last client has left */
};

struct worker {
	struct event_base *base; /* owned */
	struct registry *reg;	 /* borrowed: process-wide databases, users and pools */
	struct iobuf_pool bufs;
	struct random_pool random;	  /* nonces, salts and cancel keys */
	struct inbox inbox;		  /* messages from other workers (worker_post) */
	struct dns *dns;		  /* owned */
	struct kdf_inbox *kdf;		  /* owned: its derivations come back here */
	struct auth_query *auth_query;	  /* owned: auth_query's connections and cache */
	struct list_head listeners;	  /* owned: struct listener */
	struct list_head login_clients;	  /* clients before authentication finished */
	struct list_head console_clients; /* logged in to the admin console (admin.c) */
	unsigned console_waits;		  /* of them, those waiting for a deferred reply */
	struct list_head doomed_clients;  /* closed; freed after the loop iteration */
	struct list_head doomed_servers;
	struct list_head lingering; /* owned: sockets closing after an error (linger.c) */
	struct list_head cancels;   /* owned: cancel requests in flight (cancel.c) */
	struct list_head outbound;  /* idle servers to hand over after this loop pass */
	struct event *janitor;	    /* owned */
	unsigned index;		    /* in registry.workers: its slot in per-worker arrays (stats) */
	uint8_t *scratch;	    /* owned: room to build rewritten messages */
	size_t scratch_cap;
	bool stopping; /* atomic: read by other workers before they post */
	enum worker_shutdown shutdown;
	pthread_t thread;	   /* for workers but the first */
	bool threaded;		   /* runs on a thread of its own */
	unsigned next_accept;	   /* round robin of accepted sockets (first worker) */
	struct inbox_msg park_msg; /* worker_exclusive: park until released */
	struct inbox_msg stop_msg; /* worker_stop_all */

	struct pool_stats *console_stats; /* owned: the console's commands (stats.c) */
	struct wheel deadlines; /* clients' timeouts (deadline.c), one slot per janitor period */
};

/* kdf: the process-wide pool of key derivation threads, which the worker submits to. */
struct worker *worker_create(struct registry *reg, struct kdf_pool *kdf);
void worker_free(struct worker *w);

/* Runs the loop until worker_stop(). Frees closed objects after each iteration. */
void worker_run(struct worker *w);
void worker_stop(struct worker *w);
/* Runs w's loop on a thread of its own (every worker but the first). */
void worker_start_thread(struct worker *w);
/*
 * The first worker's loop has ended: the others are told to stop and joined, and then
 * every worker's inbox is emptied (servers still travelling are closed where they land).
 * After this the process is one thread again, and the workers can be freed.
 */
void worker_stop_all(struct registry *reg);

/* Any thread: m->run(to, m) runs on worker to's loop. */
void worker_post(struct worker *to, struct inbox_msg *m);
/* Whether w has stopped or is stopping (any thread). */
bool worker_stopping(const struct worker *w);

/*
 * Runs fn(w, arg) with every other worker parked between two of its callbacks, so that fn
 * may read and change what they own: a reload, a console command, the end of a stats
 * period. While w waits for its turn it is itself parkable. Call it without the registry
 * lock held. With one worker it just calls fn.
 */
void worker_exclusive(struct worker *w, void (*fn)(struct worker *w, void *arg), void *arg);

/*
 * A socket accepted by a listener of w: admitted on the next worker in turn (posted to it,
 * or at once when that is w).
 */
void worker_accept(struct worker *w, int fd, const struct sockaddr_storage *sa, bool unix_socket);

/* A buffer of at least size bytes, valid until the next call. */
uint8_t *worker_scratch(struct worker *w, size_t size);

/* Next connection id: one counter for clients and servers of every worker (SHOW's id). */
uint32_t worker_next_id(struct worker *w);
