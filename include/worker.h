/* SPDX-License-Identifier: ISC */
/*
 * One event loop and everything that belongs to it: the libevent base, the buffer pool, the
 * DNS resolver, the inbox where its key derivations come back, auth_query's connections,
 * clients still logging in, objects waiting to be freed, and the periodic janitor timer. weir runs one worker today;
 * nothing here is global, so later there can be one per core.
 */
#pragma once

#include "common.h"
#include "iobuf.h"
#include "list.h"
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
	struct event *janitor;	    /* owned */
	unsigned nclients;	    /* client connections, for max_client_conn */
	unsigned index;		    /* in registry.workers: its slot in per-worker arrays (stats) */
	uint8_t *scratch;	    /* owned: room to build rewritten messages */
	size_t scratch_cap;
	bool stopping;
	enum worker_shutdown shutdown;

	struct pool_stats *console_stats; /* owned: the console's commands (stats.c) */
	struct wheel deadlines; /* clients' timeouts (deadline.c), one slot per janitor period */
};

/* kdf: the process-wide pool of key derivation threads, which the worker submits to. */
struct worker *worker_create(struct registry *reg, struct kdf_pool *kdf);
void worker_free(struct worker *w);

/* Runs the loop until worker_stop(). Frees closed objects after each iteration. */
void worker_run(struct worker *w);
void worker_stop(struct worker *w);

/* A buffer of at least size bytes, valid until the next call. */
uint8_t *worker_scratch(struct worker *w, size_t size);

/* Next connection id: one counter for clients and servers of every worker (SHOW's id). */
uint32_t worker_next_id(struct worker *w);
