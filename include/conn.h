/* SPDX-License-Identifier: ISC */
/*
 * The connection core shared by clients and servers: the socket, its two libevent events,
 * the I/O buffer for data in flight, the output queue for weir's own messages, and the link
 * to the peer. struct client and struct server embed a struct conn; per-kind behaviour comes
 * from the conn_ops table their module installs. Reading, inspecting and forwarding live in
 * relay.c; this module owns the socket and event plumbing.
 */
#pragma once

#include <event2/event_struct.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "common.h"
#include "list.h"

struct conn;
struct worker;
struct iobuf;
typedef struct ssl_st SSL;

/* conn.tls_io: what a TLS read or write is blocked on, beyond its own direction. */
enum {
	TLS_HANDSHAKE = 1,	  /* conn_tls_start: the handshake runs; no reads or writes */
	TLS_WRITE_WANTS_READ = 2, /* a write needs the socket readable */
};

enum conn_kind {
	CONN_CLIENT,
	CONN_SERVER
};

/* What the relay does with a message whose header it has just read. */
enum relay_action {
	RELAY_FORWARD,	   /* pass it on to the peer (streamed if it is larger than the buffer) */
	RELAY_NEED_ALL,	   /* call again once the whole message is in the buffer */
	RELAY_CONSUME,	   /* the message was handled; drop it (only for complete messages) */
	RELAY_STOP,	   /* stop scanning: the state changed or the connection is closing */
	RELAY_FLUSH_FIRST, /* send what was approved before it, then call again for it */
};

struct conn_ops {
	/* Socket readable and data appended to the buffer (or EOF/error already handled). */
	void (*on_data)(struct conn *c);
	/*
	 * A message starts at msg (type byte first); total is its full size including the type
	 * byte; complete says whether all of it is in the buffer.
	 */
	enum relay_action (*on_message)(struct conn *c, uint8_t type, const uint8_t *msg,
					uint32_t total, bool complete);
	/* Reading or writing failed, or EOF; reason is a static text. */
	void (*on_eof)(struct conn *c, const char *reason);
	/*
	 * The peer broke the protocol (bad length, oversized message: 08P01) or a message could
	 * not be held (53200); reason is a static text.
	 */
	void (*on_protocol_error)(struct conn *c, const char *sqlstate, const char *reason);
	/* A non-blocking connect finished; err is 0 or an errno value. NULL for clients. */
	void (*on_connected)(struct conn *c, int err);
	/*
	 * The connection set `hold` while scanning: everything approved is now sent, and
	 * scanning stopped there. Returns true to go on scanning. NULL for kinds that never
	 * hold.
	 */
	bool (*on_flushed)(struct conn *c); /* true: go on scanning */
	/*
	 * The TLS handshake begun by conn_tls_start ended: err is NULL on success, else a
	 * static or short-lived reason (the connection is still open; the callee closes it).
	 */
	void (*on_tls_done)(struct conn *c, const char *err);
	/* Writes the log tag ("C-12 db/user@addr:port") into buf. */
	void (*tag)(const struct conn *c, char *buf, size_t len);
};

struct conn {
	int fd;
	uint32_t id;
	enum conn_kind kind;
	const struct conn_ops *ops;
	struct worker *worker; /* borrowed: the worker that owns this connection */
	struct event ev;       /* one event for both directions: less memory per connection */
	short armed;	       /* EV_READ | EV_WRITE currently registered */
	bool reading;	       /* the state wants input; backpressure may still pause it */
	bool paused;	       /* reading paused because the peer cannot take more */
	bool closed;	       /* close requested; freed after the loop iteration */
	bool connecting;       /* non-blocking connect in progress: queue, do not write */
	bool processing;       /* inside relay_process(): guards against re-entry */
	bool hold;	       /* scan no further until approved bytes are sent (on_flushed) */
	bool corked;	       /* conn_send queues without writing until conn_uncork() */
	bool suspended;	       /* SUSPEND: not read until RESUME (control.c) */
	uint8_t tls_io;	       /* TLS_* flags above */
	SSL *tls;	       /* owned: the TLS session, or NULL for a plain socket */
	struct iobuf *tls_out; /* owned: ciphertext the socket did not take yet, or NULL */
	struct iobuf *buf;     /* owned: data received from this socket, NULL when idle */
	struct iobuf *out;     /* owned: weir's own bytes for this socket, NULL when empty */
	struct conn *peer;     /* borrowed: the linked connection, or NULL */
	uint32_t pkt_remain;   /* bytes of the current message still to stream to the peer */
	uint32_t pkt_skip;     /* bytes of the current message still to discard */
	uint8_t addr[16];      /* peer address: IPv4 in the first 4 bytes, or IPv6 */
	uint8_t family;	       /* AF_INET, AF_INET6, or AF_UNIX */
	uint16_t port;
	usec_t connect_time; /* wall clock */
	uint64_t bytes_in;   /* received since last counted in the statistics */
	uint64_t bytes_out;  /* sent since last counted */
};

void conn_init(struct conn *c, struct worker *w, enum conn_kind kind, const struct conn_ops *ops,
	       int fd);
/* Sets the address fields from a socket address. */
void conn_set_addr(struct conn *c, const struct sockaddr *sa);
/* (Re)binds the events to c->fd after the fd changed (a server connect). */
void conn_bind_fd(struct conn *c, int fd);

/* Whether the state wants input. Applied lazily: events are re-armed only on change. */
void conn_want_read(struct conn *c, bool on);
void conn_update_events(struct conn *c);

/*
 * Queues weir's own bytes for the socket, writing at once when nothing is queued. False when
 * the socket failed (the caller closes the connection).
 */
MUST_CHECK bool conn_send(struct conn *c, const void *data, size_t len);
bool conn_has_output(const struct conn *c);

/*
 * Cork: conn_send only queues, so that messages built by separate steps (a SASL final and
 * the welcome after it) leave in one write. Uncork writes what was queued; the connection
 * may be closed afterwards if that write failed.
 */
void conn_cork(struct conn *c);
void conn_uncork(struct conn *c);

/* Drops the buffer if it holds nothing, so idle connections hold no memory. */
void conn_release_buf_if_empty(struct conn *c);

/*
 * Takes the connection out of its worker's loop, so that it can move to another worker
 * (which then sets conn.worker and calls conn_update_events). It must hold no buffer.
 */
void conn_detach(struct conn *c);

/* Removes events, closes the socket, frees buffers. The object itself stays. */
void conn_shutdown(struct conn *c);
/*
 * Like conn_shutdown, but the socket lingers (linger.h): what is queued for it is still
 * sent, and input is read and dropped until the peer closes, so that it reads the error it
 * was just sent instead of a reset.
 */
void conn_shutdown_lingering(struct conn *c);

void conn_tag(const struct conn *c, char *buf, size_t len);

/*
 * Starts TLS on the connection's socket with the session ssl (taken): the handshake runs
 * from the connection's events, nothing is read or written for the owner meanwhile, and
 * ops->on_tls_done reports the end. Anything in the buffer is the caller's to check first.
 * False (ssl freed) if the session cannot be attached.
 */
bool conn_tls_start(struct conn *c, SSL *ssl);

/* The peer address as text ("127.0.0.1", "::1", "unix") into buf. */
#define CONN_ADDR_LEN 46
const char *conn_addr(const struct conn *c, char buf[CONN_ADDR_LEN]);
