/* SPDX-License-Identifier: ISC */
/*
 * A server connection to PostgreSQL: its state, its pool, and what it learned at login
 * (ParameterStatus set, backend key). server.c owns the object's life and its messages
 * once logged in; server_login.c connecting, the startup packet and authentication.
 */
#pragma once

#include "auth_scram.h"
#include "common.h"
#include "inbox.h"
#include "conn.h"
#include "dns.h"
#include "list.h"
#include "params.h"
#include "pending.h"
#include "pool.h"

struct worker;
struct client;
struct ps_server_set;
struct kdf_job;

/*
 * Sub-phases of SV_LOGIN. Once SCRAM has started, the server can only move it on one step
 * at a time, and AuthenticationOk is accepted only in SLOGIN_SASL_DONE: after a SASLFinal
 * whose signature proved that the server knows the password.
 */
enum server_login_phase {
	SLOGIN_RESOLVING,
	SLOGIN_CONNECTING,
	SLOGIN_TLS_ANSWER,    /* SSLRequest sent; 'S' or 'N' expected (server_tls.c) */
	SLOGIN_TLS_HANDSHAKE, /* the TLS handshake runs */
	SLOGIN_AUTH,	      /* startup sent; no authentication request yet */
	SLOGIN_PASSWORD,      /* cleartext or md5 password sent; AuthenticationOk expected */
	SLOGIN_SASL_FIRST,    /* SCRAM client-first sent; SASLContinue expected */
	SLOGIN_SASL_KDF,      /* deriving the salted password in the KDF pool (kdf.h) */
	SLOGIN_SASL_FINAL,    /* client-final sent; SASLFinal expected */
	SLOGIN_SASL_DONE,     /* the server's signature verified; AuthenticationOk expected */
	SLOGIN_PARAMS,	      /* authenticated, collecting ParameterStatus until ReadyForQuery */
};

struct server {
	struct conn conn;
	enum server_state state;
	struct list_node node;	/* on the list of its state in its pool, on its worker */
	struct inbox_msg move;	/* posted to the worker it is handed over to (pool_sched.c) */
	struct worker *leaving; /* registry lock: handed over to it at the end of the loop pass */
	struct list_node out_node; /* on worker.outbound while leaving */
	unsigned epoch;		   /* pool.epoch when it was opened: older ones are obsolete */
	struct pool *pool;	   /* borrowed */
	struct client *client;	   /* borrowed: linked client or NULL */
	enum server_login_phase phase;
	struct dns_request dns;
	struct scram_client scram;
	struct kdf_job *kdf; /* owned: its PBKDF2 in the KDF pool (SLOGIN_SASL_KDF), or NULL */
	uint8_t *params;     /* owned: ParameterStatus messages received at login */
	uint32_t params_len;
	struct param_values login;	/* tracked values its StartupMessage asked for */
	struct param_values params_now; /* tracked values as PostgreSQL last reported them */
	bool setting_params;		/* a SET for the linked client's values is running */
	struct login_failure set_error; /* that SET failed: the client gets this error */
	struct client *opened_for;	/* borrowed: the client whose login values it has, while
					   it logs in for that client (session pooling) */
	struct sockaddr_storage addr;	/* where it is connected, for cancel requests */
	socklen_t addr_len;
	struct list_head cancels;  /* cancel requests in flight for it (cancel.c) */
	bool tracking;		   /* matching replies to requests (prepared statements) */
	struct client *owner;	   /* borrowed: the replication client it is dedicated to */
	struct pend_queue pending; /* requests still owed a reply, when tracking */
	struct ps_server_set *ps;  /* owned: statements prepared on it; NULL until the first */
	uint32_t backend_pid;
	uint32_t backend_key;
	char tx_status;	     /* from the last ReadyForQuery */
	bool ready;	     /* every request answered by a ReadyForQuery */
	unsigned expect_rfq; /* Query, Sync and FunctionCall messages not yet answered */
	bool close_needed;
	bool draining;	      /* unlinked, dropping the replies to its last client's requests */
	usec_t drain_since;   /* monotonic: when it began draining */
	usec_t login_start;   /* monotonic */
	usec_t request_start; /* monotonic: when it last went from ready to busy */
	usec_t xact_start;    /* monotonic: when the current transaction began */
	usec_t ready_since;   /* monotonic: last ReadyForQuery */
	usec_t idle_since;    /* monotonic: when it last became idle */
	usec_t created;	      /* monotonic */
};

/*
 * Starts a new server connection for pool on worker w (state SV_LOGIN). With an owner it
 * is a replication connection dedicated to that client: linked to it once logged in, and
 * closed when it leaves. With a `for_client` (owner NULL) it logs in with that client's
 * tracked values instead of the database entry's, and serves any client whose startup
 * values are the same (session pooling): the client is remembered until the login ends.
 */
struct server *server_launch(struct pool *pool, struct worker *w, struct client *owner,
			     struct client *for_client);
/*
 * An idle server handed over by another worker reached its new one (server.conn.worker):
 * it joins that worker's idle servers and its loop. Registry lock held.
 */
void server_arrived(struct server *server);

/*
 * What a login for client asks for tracked name idx: the client's value, else the
 * database entry's (client may be NULL: the entry's), in the form PostgreSQL reports it
 * when that is known.
 */
const char *server_login_value(const struct pool *pool, const struct client *client, int idx);
/* Whether the server logged in with the tracked values this client's login asks for. */
bool server_login_matches(const struct server *server, const struct client *client);

/* The only function that changes a server's state (and its list). */
void server_set_state(struct server *server, enum server_state state);

/* Closes the server; logs "closing because: <reason>". A linked client is closed too. */
void server_close(struct server *server, const char *reason);

/* The client is done with the server: reset it for reuse, or close it if it is not clean. */
void server_release(struct server *server);

/*
 * Its client is leaving while complete requests of it run (their cancel is under way):
 * once unlinked, the server stays out of the pool, drops the replies, and is released
 * when every request is answered and its cancels are done. The janitor closes it if that
 * takes longer than cancel_wait_timeout. Call before the client's server_release().
 */
void server_drain(struct server *server);

/* Sends a query (reset or check) on an unlinked server; state SV_TESTED until ReadyForQuery. */
void server_run_maintenance(struct server *server, const char *sql);

/*
 * Makes the server's tracked parameters match its linked client's. Returns true when a SET
 * was sent: the client's traffic waits and client_resume() is called once it is done.
 */
bool server_sync_params(struct server *server);

/*
 * max_prepared_statements changed: the statement cache takes the new capacity; what is
 * over it is deallocated on the server at once if it is idle, else when it is released.
 */
void server_set_statement_capacity(struct server *server, unsigned capacity);

void server_free(struct server *server);

/* Messages while linked (server_proto.c), installed in the server's conn_ops. */
enum relay_action server_on_message(struct conn *c, uint8_t type, const uint8_t *msg,
				    uint32_t total, bool complete);
bool server_on_flushed(struct conn *c);
/* Sends the answers weir made up that are now at the head of the queue, in order. */
void server_send_fakes(struct server *server);
/* A ParameterStatus from the server: its value, and the linked client's wish, changed. */
void server_note_param(struct server *server, const uint8_t *body, uint32_t len);

/* Login phase (server_login.c). */
void server_login_start(struct server *server);
void server_login_on_data(struct server *server);
/* Sends the StartupMessage (phase SLOGIN_AUTH); on failure the login fails. */
void server_login_send_startup(struct server *server);
/* Fails the login: the pool (or the client it was opened for) learns why; closes server. */
void server_login_fail(struct server *server, const char *sqlstate, const char *message);

/*
 * TLS (server_tls.c): begin sends the SSLRequest if server TLS applies (false: it does
 * not, send the startup); on_answer reads the 'S' or 'N'; done is conn_ops.on_tls_done.
 */
bool server_tls_begin(struct server *server);
void server_tls_on_answer(struct server *server);
void server_tls_done(struct conn *c, const char *err);
/* A TLS session to the server's host on fd (its cancel requests); NULL without server TLS. */
SSL *server_tls_session(const struct server *server, int fd);
