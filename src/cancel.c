/* SPDX-License-Identifier: ISC */
/*
 * Cancel routing. The key table is a chained hash over the clients' (pid, key), which are
 * random themselves, so lookups are O(1) whatever the number of clients.
 * A forwarded cancel is a small object of its own: a non-blocking connect to the target
 * server's address, the 16-byte CancelRequest, then waiting for PostgreSQL to close the
 * connection (or cancel_wait_timeout). Only then may the target server be reused.
 */
#include <event2/event.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin.h"
#include "cancel.h"
#include "client.h"
#include "config.h"
#include "conn_io.h"
#include "iobuf.h"
#include "log.h"
#include "registry.h"
#include "server.h"
#include "sock.h"
#include "wire.h"
#include "worker.h"

#define CANCEL_MIN_BUCKETS 64

struct cancel_req {
	struct list_node node;	    /* on target->cancels */
	struct list_node in_flight; /* on worker.cancels, so that an exit frees it */
	struct server *target;	    /* borrowed; NULL once the target is gone */
	struct event *ev;	    /* owned */
	struct worker *worker;	    /* borrowed */
	int fd;
	uint8_t pkt[16];
	bool sent;
};

static unsigned bucket_of(const struct cancel_table *t, uint32_t pid, uint32_t key)
{
	uint64_t h = ((uint64_t)pid << 32 | key) * 0x9E3779B97F4A7C15ull;

	return (unsigned)(h >> 32) & (t->nbuckets - 1);
}

static void alloc_buckets(struct cancel_table *t, unsigned n)
{
	t->buckets = xcalloc(n, sizeof(*t->buckets));
	t->nbuckets = n;
	for (unsigned i = 0; i < n; i++)
		list_init(&t->buckets[i]);
}

void cancel_table_init(struct cancel_table *t)
{
	alloc_buckets(t, CANCEL_MIN_BUCKETS);
	t->count = 0;
}

void cancel_table_free(struct cancel_table *t)
{
	free(t->buckets);
	t->buckets = NULL;
}

static void grow(struct cancel_table *t)
{
	struct list_head *old = t->buckets;
	unsigned n = t->nbuckets;

	alloc_buckets(t, n * 2);
	for (unsigned i = 0; i < n; i++) {
		struct list_node *node;

		while ((node = list_pop_first(&old[i]))) {
			struct client *c = list_entry(node, struct client, cancel_node);

			list_append(&t->buckets[bucket_of(t, c->cancel_pid, c->cancel_key)], node);
		}
	}
	free(old);
}

static struct client *find(const struct cancel_table *t, uint32_t pid, uint32_t key)
{
	struct list_node *n, *tmp;

	list_for_each_safe(n, tmp, &t->buckets[bucket_of(t, pid, key)]) {
		struct client *c = list_entry(n, struct client, cancel_node);

		if (c->cancel_pid == pid && c->cancel_key == key)
			return c;
	}
	return NULL;
}

bool cancel_register(struct cancel_table *t, struct random_pool *rnd, struct client *client,
		     uint32_t pid)
{
	do {
		if ((!pid && !random_pool_take(rnd, &client->cancel_pid, 4)) ||
		    !random_pool_take(rnd, &client->cancel_key, 4))
			return false;
		client->cancel_pid = pid ? pid : client->cancel_pid & 0x7fffffffu;
	} while (find(t, client->cancel_pid, client->cancel_key));
	if (t->count >= t->nbuckets * 2)
		grow(t);
	list_append(&t->buckets[bucket_of(t, client->cancel_pid, client->cancel_key)],
		    &client->cancel_node);
	t->count++;
	return true;
}

void cancel_unregister(struct cancel_table *t, struct client *client)
{
	if (!list_node_linked(&client->cancel_node))
		return;
	list_remove(&t->buckets[bucket_of(t, client->cancel_pid, client->cancel_key)],
		    &client->cancel_node);
	t->count--;
}

static void req_done(struct cancel_req *req)
{
	struct server *target = req->target;

	event_free(req->ev);
	close(req->fd);
	list_remove(&req->worker->cancels, &req->in_flight);
	if (target) {
		list_remove(&target->cancels, &req->node);
		if (list_empty(&target->cancels) && target->state == SV_USED)
			server_release(target);
	}
	free(req);
}

static void on_req_event(evutil_socket_t fd, short what, void *arg);

/* (Re)arms the request's event for `what`, bounded by cancel_wait_timeout. */
static void arm(struct cancel_req *req, short what)
{
	const struct config *cfg = req->worker->reg->cfg;
	struct timeval tv = { (time_t)(cfg->cancel_wait_timeout / USEC_PER_SEC),
			      (suseconds_t)(cfg->cancel_wait_timeout % USEC_PER_SEC) };

	if (req->ev)
		event_free(req->ev);
	req->ev = event_new(req->worker->base, req->fd, what | EV_PERSIST, on_req_event, req);
	event_add(req->ev, cfg->cancel_wait_timeout ? &tv : NULL);
}

static void on_req_event(evutil_socket_t fd, short what, void *arg)
{
	struct cancel_req *req = arg;
	uint8_t junk[64];
	size_t n;

	if (what & EV_TIMEOUT) {
		log_warning("cancel request timed out (cancel_wait_timeout)");
		req_done(req);
		return;
	}
	if (!req->sent) {
		if (sock_connect_error(fd) != 0 ||
		    io_send(fd, req->pkt, sizeof(req->pkt), &n) != IO_OK || n != sizeof(req->pkt)) {
			req_done(req);
			return;
		}
		req->sent = true;
		arm(req, EV_READ);
		return;
	}
	switch (io_recv(fd, junk, sizeof(junk), &n)) {
	case IO_OK:
	case IO_AGAIN:
		return; /* the server closes when it has read the request */
	default:
		break;
	}
	req_done(req);
}

/* The ready-made CancelRequest for the target server's real key. */
static void build_packet(struct cancel_req *req, const struct server *server)
{
	struct wire_builder b;

	wire_builder_init(&b, req->pkt, sizeof(req->pkt));
	wire_cancel_request(&b, server->backend_pid, server->backend_key);
}

void cancel_forward(struct server *server)
{
	struct worker *w = server->conn.worker;
	struct cancel_req *req = xcalloc(1, sizeof(*req));
	char err[256];
	bool in_progress;

	build_packet(req, server);
	req->fd = sock_connect((const struct sockaddr *)&server->addr, server->addr_len,
			       &in_progress, err, sizeof(err));
	if (req->fd < 0) {
		log_warning("cannot forward cancel request: %s", err);
		free(req);
		return;
	}
	req->target = server;
	req->worker = w;
	list_append(&server->cancels, &req->node);
	list_append(&w->cancels, &req->in_flight);
	arm(req, EV_WRITE);
}

void cancel_handle(struct worker *w, uint32_t pid, uint32_t key)
{
	struct client *client = find(&w->reg->cancels, pid, key);

	if (!client) {
		log_info("failed cancel request: unknown key");
		return;
	}
	if (client->admin) {
		admin_cancel(client);
		return;
	}
	if (client->state == CL_WAITING) {
		client_cancel_wait(client);
		return;
	}
	if (!client->server || client->server->ready) {
		log_debug("cancel request for idle client");
		return;
	}
	cancel_forward(client->server);
}

void cancel_free_all(struct worker *w)
{
	struct list_node *n;

	while ((n = list_first(&w->cancels))) {
		struct cancel_req *req = list_entry(n, struct cancel_req, in_flight);

		req->target = NULL;
		req_done(req);
	}
}

void cancel_detach_server(struct server *server)
{
	struct list_node *n;

	while ((n = list_pop_first(&server->cancels)))
		list_entry(n, struct cancel_req, node)->target = NULL;
}
