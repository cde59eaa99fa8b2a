/* SPDX-License-Identifier: ISC */
/*
 * Host name resolution for server connections: one c-ares channel per worker, driven by that
 * worker's libevent loop, in front of a small cache.
 *
 * This module owns the channel, one libevent event per socket c-ares asks us to watch (told
 * through its socket-state callback), one timer for c-ares retries, and the cache. A cache entry
 * (struct dns_name) is a host and port: it holds the last answer, the requests waiting for the
 * query in flight, and an event that calls those requests from the loop. Keying on the port as
 * well as the host lets a waiter get ready-made addresses without the request carrying a port;
 * the price is one query per port of the same host, which config files keep to a handful.
 * Answers are kept for max_ttl and failures for nxdomain_ttl; the TTL in the DNS answer is
 * ignored. Expired entries nobody waits for are dropped during later lookups.
 *
 * Callbacks always run from a zero-timeout event, never from inside dns_lookup() and never
 * from inside c-ares (which answers /etc/hosts and some failures before ares_getaddrinfo()
 * returns), so a callback may start or cancel lookups freely. It must not call dns_free().
 *
 * Not here: numeric parsing beyond inet_pton(), Unix socket paths (the caller never asks),
 * choosing among the addresses (the server connection does that).
 *
 * Entry points: dns_create(), dns_lookup(), dns_cancel(), dns_free().
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include <ares.h>
#include <event2/event.h>

#include "dns.h"
#include "log.h"

#define DNS_DEFAULT_TTL (15 * USEC_PER_SEC)

/* A socket c-ares uses, and the event that watches it for c-ares. */
struct dns_sock {
	struct list_node node; /* on dns->socks */
	struct dns *dns;       /* borrowed */
	ares_socket_t fd;      /* owned by c-ares */
	struct event *ev;      /* owned */
};

enum dns_name_state {
	DNS_NAME_QUERYING, /* a query is in flight; res is not valid */
	DNS_NAME_ANSWERED, /* res holds the last answer, good until expires */
};

/* One cached host:port. */
struct dns_name {
	struct list_node node; /* on dns->names */
	struct dns *dns;       /* borrowed */
	char *host;	       /* owned */
	int port;
	enum dns_name_state state;
	bool delivering;	  /* its waiters are being called: never dropped meanwhile */
	struct dns_result res;	  /* addresses carry the port already */
	usec_t expires;		  /* monotonic */
	struct list_head waiters; /* struct dns_request */
	struct event *deliver;	  /* owned; zero-timeout event that calls the waiters */
};

struct dns {
	struct event_base *base; /* borrowed from the worker */
	ares_channel channel;	 /* owned */
	struct event *timer;	 /* owned; fires at ares_timeout() */
	struct list_head socks;	 /* struct dns_sock */
	struct list_head names;	 /* struct dns_name */
	unsigned querying;	 /* names in DNS_NAME_QUERYING */
	usec_t max_ttl;
	usec_t nxdomain_ttl;
};

static void dns_rearm_timer(struct dns *dns)
{
	struct timeval tv;
	struct timeval *next = ares_timeout(dns->channel, NULL, &tv);

	if (next)
		evtimer_add(dns->timer, next);
	else
		evtimer_del(dns->timer);
}

static void dns_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns *dns = arg;

	(void)fd;
	(void)what;
	ares_process_fd(dns->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_rearm_timer(dns);
}

static void dns_sock_cb(evutil_socket_t fd, short what, void *arg)
{
	/* ares_process_fd() may free ds through dns_sock_state_cb(): take what we need first. */
	struct dns_sock *ds = arg;
	struct dns *dns = ds->dns;

	ares_process_fd(dns->channel, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
			(what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	dns_rearm_timer(dns);
}

static struct dns_sock *dns_sock_find(struct dns *dns, ares_socket_t fd)
{
	struct list_node *pos, *tmp;

	list_for_each_safe(pos, tmp, &dns->socks) {
		struct dns_sock *ds = list_entry(pos, struct dns_sock, node);

		if (ds->fd == fd)
			return ds;
	}
	return NULL;
}

static void dns_sock_free(struct dns_sock *ds)
{
	list_remove(&ds->dns->socks, &ds->node);
	event_free(ds->ev);
	free(ds);
}

/* c-ares tells us which of its sockets to watch, and for what; (0, 0) means it closed it. */
static void dns_sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns *dns = data;
	struct dns_sock *ds = dns_sock_find(dns, fd);
	short what = (short)(EV_PERSIST | (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));

	if (!readable && !writable) {
		if (ds)
			dns_sock_free(ds);
		return;
	}
	if (ds) {
		event_free(ds->ev);
	} else {
		ds = xcalloc(1, sizeof(*ds));
		ds->dns = dns;
		ds->fd = fd;
		list_append(&dns->socks, &ds->node);
	}
	ds->ev = event_new(dns->base, fd, what, dns_sock_cb, ds);
	if (!ds->ev)
		die("dns: out of memory for an event");
	/* Should this fail, the query still ends: the timer times it out. */
	if (event_add(ds->ev, NULL) != 0)
		log_error("dns: could not watch resolver socket %d", (int)fd);
}

static void dns_deliver_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_name *name = arg;
	struct list_node *node;

	(void)fd;
	(void)what;
	/* A callback may restart the query (state goes back to QUERYING): the rest then wait. */
	name->delivering = true;
	while (name->state == DNS_NAME_ANSWERED && (node = list_pop_first(&name->waiters))) {
		struct dns_request *req = list_entry(node, struct dns_request, node);

		req->name = NULL;
		req->cb(req->arg, &name->res);
	}
	name->delivering = false;
}

static void dns_name_free(struct dns_name *name)
{
	struct list_node *node;

	while ((node = list_pop_first(&name->waiters)))
		list_entry(node, struct dns_request, node)->name = NULL;
	list_remove(&name->dns->names, &name->node);
	event_free(name->deliver);
	free(name->host);
	free(name);
}

static void dns_store_addrs(struct dns_name *name, const struct ares_addrinfo *ai)
{
	struct dns_result *res = &name->res;
	const struct ares_addrinfo_node *n;

	for (n = ai ? ai->nodes : NULL; n && res->naddrs < DNS_MAX_ADDRS; n = n->ai_next) {
		struct sockaddr_storage *ss = &res->addrs[res->naddrs];

		if (n->ai_family == AF_INET && n->ai_addrlen >= sizeof(struct sockaddr_in)) {
			memcpy(ss, n->ai_addr, sizeof(struct sockaddr_in));
			((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)name->port);
		} else if (n->ai_family == AF_INET6 &&
			   n->ai_addrlen >= sizeof(struct sockaddr_in6)) {
			memcpy(ss, n->ai_addr, sizeof(struct sockaddr_in6));
			((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)name->port);
		} else {
			continue;
		}
		res->naddrs++;
	}
}

/* Records the answer and schedules the waiters; runs inside c-ares. */
static void dns_ares_cb(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	static const struct timeval at_once = { 0, 0 };
	struct dns_name *name = arg;
	struct dns *dns = name->dns;

	(void)timeouts;

	if (status == ARES_EDESTRUCTION) {
		/* dns_free() is tearing everything down and frees name itself. */
		if (ai)
			ares_freeaddrinfo(ai);
		return;
	}
	memset(&name->res, 0, sizeof(name->res));
	if (status == ARES_SUCCESS)
		dns_store_addrs(name, ai);
	if (ai)
		ares_freeaddrinfo(ai);
	if (name->res.naddrs == 0) {
		name->res.error =
		    status == ARES_SUCCESS ? "no usable address" : ares_strerror(status);
		log_debug("dns: lookup of \"%s\" failed: %s", name->host, name->res.error);
	}
	name->expires = now_usec() + (name->res.naddrs ? dns->max_ttl : dns->nxdomain_ttl);
	name->state = DNS_NAME_ANSWERED;
	dns->querying--;
	evtimer_add(name->deliver, &at_once);
}

static void dns_name_query(struct dns_name *name)
{
	struct dns *dns = name->dns;
	struct ares_addrinfo_hints hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_protocol = IPPROTO_TCP,
	};

	name->state = DNS_NAME_QUERYING;
	dns->querying++;
	ares_getaddrinfo(dns->channel, name->host, NULL, &hints, dns_ares_cb, name);
	dns_rearm_timer(dns);
}

static bool dns_name_droppable(const struct dns_name *name, usec_t now)
{
	return name->state == DNS_NAME_ANSWERED && !name->delivering &&
	       list_empty(&name->waiters) && now >= name->expires;
}

/* Finds host:port, dropping expired entries nobody waits for on the way. */
static struct dns_name *dns_name_find(struct dns *dns, const char *host, int port)
{
	struct dns_name *found = NULL;
	struct list_node *pos, *tmp;
	usec_t now = now_usec();

	list_for_each_safe(pos, tmp, &dns->names) {
		struct dns_name *name = list_entry(pos, struct dns_name, node);

		if (!found && name->port == port && strcasecmp(name->host, host) == 0)
			found = name;
		else if (dns_name_droppable(name, now))
			dns_name_free(name);
	}
	return found;
}

static struct dns_name *dns_name_new(struct dns *dns, const char *host, int port)
{
	struct dns_name *name = xcalloc(1, sizeof(*name));

	name->dns = dns;
	name->host = xstrdup(host);
	name->port = port;
	name->state = DNS_NAME_ANSWERED; /* with expires = 0: stale, so the caller queries */
	list_init(&name->waiters);
	name->deliver = evtimer_new(dns->base, dns_deliver_cb, name);
	if (!name->deliver)
		die("dns: out of memory for an event");
	list_append(&dns->names, &name->node);
	return name;
}

/* Answers IPv4 and IPv6 literals without the resolver; false if host is not one. */
static bool dns_numeric(const char *host, int port, struct dns_result *res)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&res->addrs[0];
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&res->addrs[0];
	struct in_addr a4;
	struct in6_addr a6;

	memset(res, 0, sizeof(*res));
	if (inet_pton(AF_INET, host, &a4) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_addr = a4;
		sin->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, host, &a6) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = a6;
		sin6->sin6_port = htons((uint16_t)port);
	} else {
		return false;
	}
	res->naddrs = 1;
	return true;
}

enum dns_status dns_lookup(struct dns *dns, const char *host, int port, struct dns_request *req,
			   dns_done_fn cb, void *arg, struct dns_result *res)
{
	struct dns_name *name;

	ASSERT(req->name == NULL);
	if (dns_numeric(host, port, res))
		return DNS_DONE;
	name = dns_name_find(dns, host, port);
	if (!name)
		name = dns_name_new(dns, host, port);
	if (name->state == DNS_NAME_ANSWERED && now_usec() < name->expires) {
		*res = name->res;
		return DNS_DONE;
	}
	req->cb = cb;
	req->arg = arg;
	req->name = name;
	list_append(&name->waiters, &req->node);
	if (name->state == DNS_NAME_ANSWERED)
		dns_name_query(name);
	return DNS_PENDING;
}

void dns_cancel(struct dns_request *req)
{
	if (!req->name)
		return;
	list_remove(&req->name->waiters, &req->node);
	req->name = NULL;
}

struct dns *dns_create(struct event_base *base)
{
	struct ares_options opts = { .sock_state_cb = dns_sock_state_cb };
	struct dns *dns;
	int rc;

	rc = ares_library_init(ARES_LIB_INIT_ALL);
	if (rc != ARES_SUCCESS) {
		log_error("dns: could not initialise c-ares: %s", ares_strerror(rc));
		return NULL;
	}
	dns = xcalloc(1, sizeof(*dns));
	opts.sock_state_cb_data = dns;
	rc = ares_init_options(&dns->channel, &opts, ARES_OPT_SOCK_STATE_CB);
	if (rc != ARES_SUCCESS) {
		log_error("dns: could not create a resolver channel: %s", ares_strerror(rc));
		free(dns);
		ares_library_cleanup();
		return NULL;
	}
	dns->base = base;
	dns->timer = evtimer_new(base, dns_timer_cb, dns);
	if (!dns->timer)
		die("dns: out of memory for an event");
	list_init(&dns->socks);
	list_init(&dns->names);
	dns->max_ttl = DNS_DEFAULT_TTL;
	dns->nxdomain_ttl = DNS_DEFAULT_TTL;
	return dns;
}

void dns_free(struct dns *dns)
{
	struct list_node *pos, *tmp;

	if (!dns)
		return;
	/* Queries end with ARES_EDESTRUCTION (ignored) and sockets are closed through the
	 * socket-state callback, which frees their events; the first loop is a safety net. */
	ares_destroy(dns->channel);
	list_for_each_safe(pos, tmp, &dns->socks)
		dns_sock_free(list_entry(pos, struct dns_sock, node));
	list_for_each_safe(pos, tmp, &dns->names)
		dns_name_free(list_entry(pos, struct dns_name, node));
	event_free(dns->timer);
	free(dns);
	ares_library_cleanup();
}

void dns_set_ttls(struct dns *dns, usec_t max_ttl, usec_t nxdomain_ttl)
{
	dns->max_ttl = max_ttl;
	dns->nxdomain_ttl = nxdomain_ttl;
}

unsigned dns_names_count(const struct dns *dns)
{
	return dns->names.count;
}

void dns_for_each_name(const struct dns *dns, dns_name_fn fn, void *arg)
{
	const struct list_node *n, *t;
	usec_t now = now_usec();

	list_for_each_safe(n, t, &dns->names) {
		const struct dns_name *name = list_entry(n, struct dns_name, node);
		bool answered = name->state == DNS_NAME_ANSWERED;
		usec_t left = answered && name->expires > now ? name->expires - now : 0;

		fn(arg, name->host, left / USEC_PER_SEC, answered ? &name->res : NULL);
	}
}

unsigned dns_pending_count(const struct dns *dns)
{
	return dns->querying;
}
