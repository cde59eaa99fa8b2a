/* SPDX-License-Identifier: ISC */
/*
 * Socket and event plumbing shared by clients and servers. Each connection has one event for
 * both directions; it is re-registered only when the wanted state changes, and read interest
 * is dropped lazily, so a busy connection does not pay an epoll_ctl per packet. Writes of
 * weir's own messages go straight to the socket; only what the kernel does not take is
 * queued in `out`.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "conn.h"
#include "conn_io.h"
#include "iobuf.h"
#include "linger.h"
#include "relay.h"
#include "tls.h"
#include "worker.h"

/*
 * The events the connection's state wants registered now. A TLS write blocked on input
 * waits for EV_READ instead of EV_WRITE (which would fire at once, again and again), and
 * ciphertext kept in tls_out adds EV_WRITE. Writes never block a TLS read or handshake:
 * weir's BIO takes every byte (conn_io.c).
 */
static short wanted_events(const struct conn *c)
{
	bool peer_pending = c->peer && c->peer->buf && iobuf_unsent(c->peer->buf) > 0;
	short want = 0;

	if (c->tls_io & TLS_HANDSHAKE)
		return c->tls_out ? EV_WRITE | EV_READ : EV_READ;
	if (c->reading && !c->paused && !c->suspended)
		want |= EV_READ;
	if ((c->out != NULL && !c->corked) || peer_pending || c->connecting)
		want |= EV_WRITE;
	if ((c->tls_io & TLS_WRITE_WANTS_READ) && (want & EV_WRITE))
		want = (short)((want & ~EV_WRITE) | EV_READ);
	if (c->tls_out)
		want |= EV_WRITE;
	return want;
}

static void on_event(evutil_socket_t fd, short what, void *arg);

static void arm(struct conn *c, short want)
{
	if (want == c->armed)
		return;
	if (c->armed)
		event_del(&c->ev);
	c->armed = want;
	if (!want)
		return;
	event_assign(&c->ev, c->worker->base, c->fd, want | EV_PERSIST, on_event, c);
	event_add(&c->ev, NULL);
}

/* Decrypted bytes wait in OpenSSL: epoll will not say so, the event is made active. */
static void recheck_tls_pending(struct conn *c)
{
	if (c->tls && !c->closed && c->fd >= 0 && (c->armed & EV_READ) &&
	    (wanted_events(c) & EV_READ) && conn_tls_pending(c))
		event_active(&c->ev, EV_READ, 0);
}

static void tls_handshake_step(struct conn *c)
{
	char err[256] = "TLS handshake failed";

	switch (conn_tls_handshake(c, err, sizeof(err))) {
	case IO_AGAIN:
		arm(c, wanted_events(c));
		return;
	case IO_OK:
		c->ops->on_tls_done(c, NULL);
		break;
	default:
		c->ops->on_tls_done(c, err);
		return;
	}
	if (!c->closed && c->fd >= 0) {
		conn_update_events(c);
		recheck_tls_pending(c);
	}
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	if (c->tls_out && (what & EV_WRITE)) {
		if (conn_tls_flush(c) == IO_ERROR) {
			c->ops->on_eof(c, "write failed");
			return;
		}
		if (c->tls_out)
			what &= ~EV_WRITE; /* still full: nothing else can be written */
		conn_update_events(c);
	}
	if (c->tls_io & TLS_HANDSHAKE) {
		tls_handshake_step(c);
		return;
	}
	/* a TLS write blocked on input goes on with the event it waited for */
	if ((what & EV_READ) && (c->tls_io & TLS_WRITE_WANTS_READ))
		what |= EV_WRITE;
	if (what & EV_WRITE)
		relay_on_writable(c);
	if (!(what & EV_READ) || c->closed || c->fd < 0)
		return;
	if (wanted_events(c) & EV_READ) {
		c->ops->on_data(c);
		recheck_tls_pending(c);
	} else {
		arm(c, wanted_events(c)); /* the lazily kept read interest fired: drop it now */
	}
}

bool conn_tls_start(struct conn *c, SSL *ssl)
{
	if (!conn_tls_attach(c, ssl)) {
		tls_session_free(ssl);
		return false;
	}
	c->tls_io = TLS_HANDSHAKE;
	tls_handshake_step(c);
	return true;
}

void conn_bind_fd(struct conn *c, int fd)
{
	c->fd = fd;
	c->armed = 0;
}

void conn_init(struct conn *c, struct worker *w, enum conn_kind kind, const struct conn_ops *ops,
	       int fd)
{
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	c->ops = ops;
	c->worker = w;
	c->id = worker_next_id(w);
	c->connect_time = wall_usec();
	c->fd = -1;
	c->family = AF_UNIX;
	if (fd >= 0)
		conn_bind_fd(c, fd);
}

void conn_set_addr(struct conn *c, const struct sockaddr *sa)
{
	c->family = AF_UNIX;
	c->port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		memcpy(c->addr, &in->sin_addr, 4);
		c->port = ntohs(in->sin_port);
		c->family = AF_INET;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		memcpy(c->addr, &in6->sin6_addr, 16);
		c->port = ntohs(in6->sin6_port);
		c->family = AF_INET6;
	}
}

const char *conn_addr(const struct conn *c, char buf[CONN_ADDR_LEN])
{
	if (c->family == AF_UNIX || !inet_ntop(c->family, c->addr, buf, CONN_ADDR_LEN))
		return "unix";
	return buf;
}

void conn_want_read(struct conn *c, bool on)
{
	c->reading = on;
	conn_update_events(c);
}

void conn_update_events(struct conn *c)
{
	short want;

	if (c->fd < 0 || c->closed)
		return;
	want = wanted_events(c);
	/*
	 * Read interest that is no longer wanted stays registered: a client waiting for a server
	 * usually sends nothing meanwhile, and dropping and re-adding it would cost two
	 * epoll_ctl calls per wait. If it does fire, on_event drops it then.
	 */
	if (want != (c->armed & ~EV_READ))
		arm(c, want);
	recheck_tls_pending(c);
}

bool conn_has_output(const struct conn *c)
{
	return c->out != NULL;
}

static bool queue_output(struct conn *c, const uint8_t *data, size_t len)
{
	if (!iobuf_append(&c->worker->bufs, &c->out, data, len))
		return false;
	conn_update_events(c);
	return true;
}

bool conn_send(struct conn *c, const void *data, size_t len)
{
	size_t n = 0;

	if (c->closed || c->fd < 0)
		return false;
	if (!c->out && !c->connecting && !c->corked) {
		if (conn_write(c, data, len, &n) == IO_ERROR)
			return false;
		if (n == len)
			return true;
	}
	return queue_output(c, (const uint8_t *)data + n, len - n);
}

void conn_cork(struct conn *c)
{
	c->corked = true;
}

void conn_uncork(struct conn *c)
{
	c->corked = false;
	if (c->out && !c->closed && c->fd >= 0)
		relay_on_writable(c);
}

void conn_release_buf_if_empty(struct conn *c)
{
	if (c->buf && iobuf_is_empty(c->buf) && c->pkt_remain == 0) {
		iobuf_put(&c->worker->bufs, c->buf);
		c->buf = NULL;
	}
}

void conn_detach(struct conn *c)
{
	ASSERT(!c->buf && !c->out && !c->tls_out);
	if (c->armed)
		event_del(&c->ev);
	c->armed = 0;
}

void conn_shutdown(struct conn *c)
{
	if (c->corked && c->out && c->fd >= 0) { /* a last message, an error say: best effort */
		size_t n;

		(void)conn_write(c, c->out->data + c->out->send_pos, iobuf_unsent(c->out), &n);
	}
	c->corked = false;
	conn_tls_close(c);
	if (c->fd >= 0) {
		if (c->armed)
			event_del(&c->ev);
		c->armed = 0;
		close(c->fd);
		c->fd = -1;
	}
	if (c->buf)
		iobuf_put(&c->worker->bufs, c->buf);
	if (c->out)
		iobuf_put(&c->worker->bufs, c->out);
	c->buf = c->out = NULL;
}

void conn_shutdown_lingering(struct conn *c)
{
	if (c->tls && c->out && c->fd >= 0) {
		/* a TLS socket cannot linger in plain text: its last message goes now or never */
		size_t n;

		(void)conn_write(c, c->out->data + c->out->send_pos, iobuf_unsent(c->out), &n);
	}
	if (c->fd >= 0 && !c->tls) {
		if (c->armed)
			event_del(&c->ev);
		c->armed = 0;
		linger_start(c->worker, c->fd, c->out);
		c->fd = -1;
		c->out = NULL;
	}
	c->corked = false;
	conn_shutdown(c);
}

void conn_tag(const struct conn *c, char *buf, size_t len)
{
	c->ops->tag(c, buf, len);
}
