/* SPDX-License-Identifier: ISC */
/*
 * Asynchronous host name resolution with c-ares, driven by a worker's libevent loop, with a
 * cache: positive answers are kept for dns_max_ttl, failures for dns_nxdomain_ttl (the real
 * TTL is ignored, as PgBouncer does). Numeric addresses never reach c-ares. Callbacks always
 * fire from the event loop, never from inside dns_lookup().
 */
#pragma once

#include <sys/socket.h>

#include "common.h"
#include "list.h"

struct event_base;
struct dns;

#define DNS_MAX_ADDRS 8

struct dns_result {
	struct sockaddr_storage addrs[DNS_MAX_ADDRS];
	int naddrs;	   /* 0 on failure */
	const char *error; /* static text on failure, NULL on success */
};

typedef void (*dns_done_fn)(void *arg, const struct dns_result *res);

/* A pending request, embedded in the object that waits (a server connection). */
struct dns_request {
	struct list_node node; /* on the pending name's waiter list */
	dns_done_fn cb;
	void *arg;
	struct dns_name *name; /* borrowed; NULL when not pending */
};

struct dns *dns_create(struct event_base *base);
void dns_free(struct dns *dns);
/* Cache lifetimes, from the config snapshot; take effect for new answers. */
void dns_set_ttls(struct dns *dns, usec_t max_ttl, usec_t nxdomain_ttl);

/*
 * Starts a lookup of host (port is filled into each address). If the cache answers, *res is
 * filled and DNS_DONE is returned; otherwise DNS_PENDING and req->cb fires later exactly once
 * unless dns_cancel(req) is called first.
 */
enum dns_status {
	DNS_DONE,
	DNS_PENDING
};
enum dns_status dns_lookup(struct dns *dns, const char *host, int port, struct dns_request *req,
			   dns_done_fn cb, void *arg, struct dns_result *res);
void dns_cancel(struct dns_request *req);

/* Counts for SHOW LISTS: names cached, and lookups in flight. */
unsigned dns_names_count(const struct dns *dns);
unsigned dns_pending_count(const struct dns *dns);
/* Each cached name (SHOW DNS_HOSTS): seconds left, and its answer (NULL while querying). */
typedef void (*dns_name_fn)(void *arg, const char *host, usec_t ttl_left,
			    const struct dns_result *res);
void dns_for_each_name(const struct dns *dns, dns_name_fn fn, void *arg);
