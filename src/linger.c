/* SPDX-License-Identifier: ISC */
/*
 * Lingering close (see linger.h): a closed connection's socket, kept just long enough for
 * the peer to read the last error. Owns the sockets handed to it and their queued output;
 * knows nothing of clients or servers. Entry points: linger_start, linger_close_all.
 */
#include <event2/event.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn_io.h"
#include "iobuf.h"
#include "linger.h"
#include "list.h"
#include "worker.h"

struct linger_sock {
	struct list_node node; /* on worker.lingering */
	struct worker *worker; /* borrowed */
	struct event *ev;      /* owned */
	struct iobuf *out;     /* owned: bytes still to send; NULL once sent */
	int fd;
	uint32_t dropped; /* bytes of input read and dropped */
	bool shut;	  /* our side is shut down: the peer has seen end of stream */
	usec_t deadline;  /* monotonic */
};

static void finish(struct linger_sock *l)
{
	list_remove(&l->worker->lingering, &l->node);
	event_free(l->ev);
	if (l->out)
		iobuf_put(&l->worker->bufs, l->out);
	close(l->fd);
	free(l);
}

static void on_event(evutil_socket_t fd, short what, void *arg);

/* Waits for the socket again (writable while output is left), within the deadline. */
static void rearm(struct linger_sock *l)
{
	usec_t now = now_usec(), left = l->deadline > now ? l->deadline - now : 0;
	struct timeval tv = { (time_t)(left / USEC_PER_SEC), (suseconds_t)(left % USEC_PER_SEC) };

	event_assign(l->ev, l->worker->base, l->fd, EV_READ | (l->out ? EV_WRITE : 0), on_event, l);
	event_add(l->ev, &tv);
}

/* Sends queued output; true while the socket is usable. */
static bool flush_out(struct linger_sock *l)
{
	while (l->out && iobuf_unsent(l->out) > 0) {
		size_t n;
		enum io_result r =
		    io_send(l->fd, l->out->data + l->out->send_pos, iobuf_unsent(l->out), &n);

		if (r != IO_OK)
			return r == IO_AGAIN;
		l->out->send_pos += (uint32_t)n;
	}
	if (l->out) {
		iobuf_put(&l->worker->bufs, l->out);
		l->out = NULL;
	}
	if (!l->shut) { /* everything said: the peer sees the end of the stream */
		(void)shutdown(l->fd, SHUT_WR);
		l->shut = true;
	}
	return true;
}

/*
 * Reads and drops what the peer sends, a bounded amount per wake-up so that a fast sender
 * cannot hold the loop; true while the peer has not closed and may go on.
 */
static bool drain_in(struct linger_sock *l)
{
	uint8_t junk[16384];

	for (int reads = 0; reads < 16;) {
		size_t n;
		enum io_result r = io_recv(l->fd, junk, sizeof(junk), &n);

		if (r == IO_OK) {
			l->dropped += (uint32_t)n;
			if (l->dropped >= LINGER_MAX_BYTES)
				return false;
			reads++;
			continue;
		}
		return r == IO_AGAIN;
	}
	return true;
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
	struct linger_sock *l = arg;

	(void)fd;
	if ((what & EV_TIMEOUT) || !flush_out(l) || !drain_in(l) || now_usec() >= l->deadline) {
		finish(l);
		return;
	}
	rearm(l);
}

void linger_start(struct worker *w, int fd, struct iobuf *out)
{
	struct linger_sock *l;

	if (w->lingering.count >= LINGER_MAX) {
		if (out)
			iobuf_put(&w->bufs, out);
		close(fd);
		return;
	}
	l = xcalloc(1, sizeof(*l));
	l->worker = w;
	l->fd = fd;
	l->out = out;
	l->deadline = now_usec() + LINGER_SECONDS * USEC_PER_SEC;
	l->ev = event_new(w->base, -1, 0, on_event, l);
	list_append(&w->lingering, &l->node);
	if (!flush_out(l) || !drain_in(l)) {
		finish(l);
		return;
	}
	rearm(l);
}

void linger_close_all(struct worker *w)
{
	struct list_node *n;

	while ((n = list_first(&w->lingering)))
		finish(list_entry(n, struct linger_sock, node));
}
