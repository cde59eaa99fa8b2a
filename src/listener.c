/* SPDX-License-Identifier: ISC */
/*
 * Listeners: sockets from sock.c, accept on the first worker's loop, admission to client.c
 * on the worker whose turn it is (worker_accept).
 * Accepting loops a bounded number of times per wake-up so one busy listener cannot starve
 * the relay.
 */
#include <errno.h>
#include <event2/event.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "config.h"
#include "list.h"
#include "listener.h"
#include "log.h"
#include "sock.h"
#include "worker.h"

#define ACCEPTS_PER_WAKEUP 64

struct listener {
	struct list_node node; /* on worker.listeners */
	struct worker *worker; /* borrowed */
	int fd;
	bool unix_socket;
	struct event *ev;     /* owned */
	struct event *resume; /* owned: re-enables accepting after fd exhaustion */
};

static void pause_accepting(struct listener *l)
{
	const struct timeval one_second = { 1, 0 };

	log_warning("accept() failed: %s; pausing new connections for 1s", strerror(errno));
	event_del(l->ev);
	event_add(l->resume, &one_second);
}

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;

	for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
		struct sockaddr_storage sa;
		socklen_t len = sizeof(sa);
		int cfd = sock_accept(l->fd, &sa, &len);

		if (cfd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				pause_accepting(l);
			return;
		}
		if (l->unix_socket)
			sa.ss_family = AF_UNIX;
		worker_accept(l->worker, cfd, &sa, l->unix_socket);
	}
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;

	event_add(l->ev, NULL);
}

static void add_listener(struct worker *w, int fd, bool unix_socket)
{
	struct listener *l = xcalloc(1, sizeof(*l));

	l->worker = w;
	l->fd = fd;
	l->unix_socket = unix_socket;
	l->ev = event_new(w->base, fd, EV_READ | EV_PERSIST, on_accept, l);
	l->resume = evtimer_new(w->base, on_resume, l);
	event_add(l->ev, NULL);
	list_append(&w->listeners, &l->node);
}

static bool open_tcp(struct worker *w, const struct config *cfg, const char *addr, char *err,
		     size_t errlen)
{
	int fd = sock_listen_tcp(addr, cfg->listen_port, cfg->listen_backlog, cfg->so_reuseport,
				 cfg->tcp_defer_accept, err, errlen);

	if (fd < 0)
		return false;
	add_listener(w, fd, false);
	log_info("listening on %s:%d", addr, cfg->listen_port);
	return true;
}

static bool open_tcp_list(struct worker *w, const struct config *cfg, char *err, size_t errlen)
{
	const char *p = cfg->listen_addr;

	while (*p) {
		char addr[256];
		size_t n;

		p += strspn(p, ", \t");
		n = strcspn(p, ", \t");
		if (!n)
			break;
		snprintf(addr, sizeof(addr), "%.*s", (int)n, p);
		p += n;
		if (strcmp(addr, "*") == 0) {
			if (!open_tcp(w, cfg, "0.0.0.0", err, errlen))
				return false;
			if (!open_tcp(w, cfg, "::", err, errlen))
				log_warning("cannot listen on IPv6: %s", err);
		} else if (!open_tcp(w, cfg, addr, err, errlen)) {
			return false;
		}
	}
	return true;
}

bool listener_open_all(struct worker *w, const struct config *cfg, char *err, size_t errlen)
{
	int fd;

	if (!open_tcp_list(w, cfg, err, errlen))
		return false;
	if (cfg->unix_socket_dir[0]) {
		fd = sock_listen_unix(cfg->unix_socket_dir, cfg->listen_port, cfg->listen_backlog,
				      cfg->unix_socket_mode, cfg->unix_socket_group, err, errlen);
		if (fd < 0)
			return false;
		add_listener(w, fd, true);
		log_info("listening on %s/.s.PGSQL.%d", cfg->unix_socket_dir, cfg->listen_port);
	}
	return true;
}

static void close_listener(struct worker *w, struct listener *l)
{
	list_remove(&w->listeners, &l->node);
	event_free(l->ev);
	event_free(l->resume);
	close(l->fd);
	free(l);
}

void listener_close_tcp(struct worker *w)
{
	struct list_node *n, *t;

	list_for_each_safe(n, t, &w->listeners) {
		struct listener *l = list_entry(n, struct listener, node);

		if (!l->unix_socket)
			close_listener(w, l);
	}
}

void listener_close_all(struct worker *w)
{
	struct list_node *n, *t;

	list_for_each_safe(n, t, &w->listeners) {
		close_listener(w, list_entry(n, struct listener, node));
	}
}
