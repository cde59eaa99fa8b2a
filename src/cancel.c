/* SPDX-License-Identifier: ISC */
/*
 * Cancel routing. The key table is a chained hash over the clients' (pid, key), which are
 * random themselves, so lookups are O(1) whatever the number of clients.
 * A forwarded cancel is a small object of its own: a non-blocking connect to the target
 * server's address, the 16-byte CancelRequest, then waiting for PostgreSQL to close the
 * connection (or cancel_wait_timeout). Only then may the target server be reused. When the
 * target server talks TLS, so does its cancel: SSLRequest, handshake, then the request,
 * so that the key never crosses the network in plaintext.
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

enum cancel_step {
	STEP_CONNECT,	 /* connect in progress */
	STEP_SSL_ANSWER, /* SSLRequest sent, 'S' expected */
	STEP_HANDSHAKE,
	STEP_SEND,    /* the request goes (again, after a blocked TLS write) */
	STEP_WAIT_EOF /* sent: PostgreSQL closes once it has read it */
};

struct cancel_req {
	struct list_node node;	    /* on target->cancels */
	struct list_node in_flight; /* on worker.cancels, so that an exit frees it */
	struct server *target;	    /* borrowed; NULL once the target is gone */
	struct event *ev;	    /* owned */
	struct worker *worker;	    /* borrowed */
	int fd;
	uint8_t pkt[16];
	enum cancel_step step;
	SSL *tls; /* owned: when the target server uses TLS */
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
	io_tls_close(req->tls, req->step == STEP_WAIT_EOF);
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

/* The request itself, in plaintext or through TLS. */
static bool send_request(struct cancel_req *req)
{
	enum io_result r;
	bool other_way = false;
	size_t n;

	if (req->tls)
		r = io_tls_send(req->tls, req->pkt, sizeof(req->pkt), &n, &other_way);
	else
		r = io_send(req->fd, req->pkt, sizeof(req->pkt), &n);
	if (r == IO_AGAIN) {
		req->step = STEP_SEND;
		arm(req, other_way ? EV_READ : EV_WRITE);
		return true;
	}
	if (r != IO_OK || n != sizeof(req->pkt))
		return false;
	req->step = STEP_WAIT_EOF;
	arm(req, EV_READ);
	return true;
}

static bool after_connect(struct cancel_req *req)
{
	uint8_t ssl_req[8];
	struct wire_builder b;
	size_t n;

	if (sock_connect_error(req->fd) != 0)
		return false;
	if (!req->tls)
		return send_request(req);
	wire_builder_init(&b, ssl_req, sizeof(ssl_req));
	wire_put_u32(&b, 8);
	wire_put_u32(&b, WIRE_SSL_CODE);
	if (io_send(req->fd, ssl_req, sizeof(ssl_req), &n) != IO_OK || n != sizeof(ssl_req))
		return false;
	req->step = STEP_SSL_ANSWER;
	arm(req, EV_READ);
	return true;
}

static bool handshake(struct cancel_req *req)
{
	char err[256];
	bool wants_write;

	switch (io_tls_handshake(req->tls, &wants_write, err, sizeof(err))) {
	case IO_OK:
		return send_request(req);
	case IO_AGAIN:
		req->step = STEP_HANDSHAKE;
		arm(req, wants_write ? EV_WRITE : EV_READ);
		return true;
	default:
		log_warning("cannot forward cancel request: %s", err);
		return false;
	}
}

/* One step of the request; false when it is over (sent and closed, or failed). */
static bool step(struct cancel_req *req)
{
	uint8_t junk[64];
	enum io_result r;
	bool other_way;
	size_t n;

	switch (req->step) {
	case STEP_CONNECT:
		return after_connect(req);
	case STEP_SSL_ANSWER:
		if (io_recv(req->fd, junk, 1, &n) == IO_AGAIN)
			return true;
		if (n != 1 || junk[0] != 'S') {
			log_warning("cannot forward cancel request: the server refused TLS");
			return false;
		}
		return handshake(req);
	case STEP_HANDSHAKE:
		return handshake(req);
	case STEP_SEND:
		return send_request(req);
	case STEP_WAIT_EOF:
		break;
	}
	/* the server closes when it has read the request: wait while the socket is open */
	r = req->tls ? io_tls_recv(req->tls, junk, sizeof(junk), &n, &other_way)
		     : io_recv(req->fd, junk, sizeof(junk), &n);
	return r == IO_OK || r == IO_AGAIN;
}

static void on_req_event(evutil_socket_t fd, short what, void *arg)
{
	struct cancel_req *req = arg;

	(void)fd;
	if (what & EV_TIMEOUT) {
		log_warning("cancel request timed out (cancel_wait_timeout)");
		req_done(req);
		return;
	}
	if (!step(req))
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
	if (server->conn.tls && !(req->tls = server_tls_session(server, req->fd))) {
		log_warning("cannot forward cancel request: no TLS session");
		close(req->fd);
		free(req);
		return;
	}
	req->target = server;
	req->worker = w;
	list_append(&server->cancels, &req->node);
	list_append(&w->cancels, &req->in_flight);
	arm(req, EV_WRITE);
}

/* A cancel request for a client of another worker, run on that worker. */
struct cancel_post {
	struct inbox_msg msg;
	uint32_t pid, key;
};

static void on_cancel_post(void *owner, struct inbox_msg *m)
{
	struct cancel_post *p = container_of(m, struct cancel_post, msg);

	cancel_handle(owner, p->pid, p->key);
	free(p);
}

/* Registry lock held: the client cannot leave while the request is acted on. */
static void handle(struct worker *w, uint32_t pid, uint32_t key)
{
	struct client *client = find(&w->reg->cancels, pid, key);
	struct cancel_post *p;

	if (!client) {
		log_info("failed cancel request: unknown key");
		return;
	}
	if (client->conn.worker != w) { /* only its own worker touches a client */
		p = xcalloc(1, sizeof(*p));
		p->msg.run = on_cancel_post;
		p->pid = pid;
		p->key = key;
		worker_post(client->conn.worker, &p->msg);
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

void cancel_handle(struct worker *w, uint32_t pid, uint32_t key)
{
	struct client *client;
	bool console;

	registry_lock(w->reg);
	client = find(&w->reg->cancels, pid, key);
	console = client && client->admin && client->conn.worker == w;
	if (!console)
		handle(w, pid, key);
	registry_unlock(w->reg);
	if (console) /* w's own client stays; resuming parks the others, without the lock */
		admin_cancel(client);
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
