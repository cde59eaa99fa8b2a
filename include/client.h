/* SPDX-License-Identifier: ISC */
/*
 * A client connection: its state, its pool once it has logged in, its startup parameters,
 * and its link to a server. client.c owns the object's life (accept, state changes, close,
 * free) and its messages once logged in; client_login.c the startup packet; client_auth.c
 * the password exchange; client_auth_query.c the wait for auth_query.
 */
#pragma once

#include "auth_scram.h"
#include "common.h"
#include "conn.h"
#include "kdf.h"
#include "list.h"
#include "params.h"
#include "pool.h"
#include "wheel.h"
#include "wire.h"

struct worker;
struct server;
struct database;
struct user;
struct auth_entry;
struct ps_client_map;
struct kdf_job;
struct auth_query_wait;

/* Where a login's secret came from. */
enum secret_source {
	SECRET_NOT_LOOKED_UP,
	SECRET_FROM_AUTH_FILE,
	SECRET_FROM_QUERY,
	SECRET_FROM_NOWHERE, /* looked up, none: a mock exchange, then a refusal */
};

/* Sub-phases of CL_LOGIN. */
enum client_login_phase {
	LOGIN_STARTUP,	  /* waiting for SSLRequest/StartupMessage/CancelRequest */
	LOGIN_PASSWORD,	  /* sent a cleartext or md5 request */
	LOGIN_SASL_INIT,  /* sent AuthenticationSASL */
	LOGIN_SASL_FINAL, /* sent SASLContinue */
	LOGIN_KDF,	  /* waiting for the KDF pool (kdf.h); the socket is not read meanwhile */
	LOGIN_LOOKUP,	  /* waiting for auth_query (auth_query.h); the socket is not read */
	LOGIN_LINK,	  /* authenticated; the welcome comes from the server it is linked to */
	LOGIN_DONE,
};

/*
 * What only login needs, freed once the client is logged in: an idle session keeps no
 * secret and no copy of its names.
 */
struct client_login {
	char *user_name; /* owned: as sent */
	char *db_name;	 /* owned: as sent, or the user name */
	char *secret;	 /* owned copy of the auth_file or auth_query secret; NULL: unknown */
	int secret_kind; /* enum secret_kind of secret */
	uint8_t method;	 /* enum auth_type: auth_type, or the method of the HBA rule */
	uint8_t source;	 /* enum secret_source */
	struct auth_query_wait *lookup; /* owned: the auth_query LOGIN_LOOKUP waits for, or NULL */
	uint8_t md5_salt[4];
	struct scram_server *scram; /* owned: the SCRAM exchange, only while it runs */
	struct kdf_job *kdf;	    /* owned: the derivation LOGIN_KDF waits for, or NULL */
	char *sasl_first;	    /* owned: client-first-message kept while keys are derived */
	uint32_t sasl_first_len;
};

/* A replication connection (startup parameter `replication`). */
enum replication_mode {
	REPL_NONE,
	REPL_PHYSICAL,
	REPL_LOGICAL
};

struct client {
	struct conn conn;
	enum client_state state;
	struct list_node node;	      /* on the list of its state */
	struct list_node qnode;	      /* registry lock: in pool.queue while CL_WAITING */
	struct list_node cancel_node; /* in registry.cancels once logged in */
	struct wheel_entry timer;     /* in worker.deadlines while a timeout may apply */
	struct pool *pool;	      /* borrowed; NULL before login, and on the console */
	/*
	 * Borrowed; NULL if the database does not exist. A console client has none: there it
	 * is the database its deferred command waits for (admin.c).
	 */
	struct database *db;
	struct user *login_user; /* borrowed: the user the client authenticated as */
	struct server *server;	 /* borrowed: linked server or NULL */
	enum client_login_phase phase;
	/* Borrowed: from `login` while it runs, then from login_user and db (the registry's). */
	const char *user_name;
	const char *db_name;
	struct client_login *login;  /* owned: NULL once logged in */
	struct param_values *params; /* owned: tracked values it asked for; NULL = none */
	uint32_t cancel_pid;
	uint32_t cancel_key;
	usec_t request_time;	  /* monotonic: when it last asked for a server */
	usec_t login_start;	  /* monotonic */
	usec_t last_request;	  /* monotonic: start of its last request */
	bool wait_notified;	  /* got the query_wait_notify NOTICE for this wait */
	bool tls_checked;	  /* its first bytes were looked at for direct TLS */
	bool direct_tls;	  /* began with a TLS handshake, not an SSLRequest */
	uint8_t replication;	  /* enum replication_mode */
	char *raw_options;	  /* owned: `options` as sent, passed on for replication */
	struct server *dedicated; /* borrowed: its replication server while that logs in */
	struct server *opening;	  /* borrowed: a server logging in with its values for it */
	struct ps_client_map *ps; /* owned: its named prepared statements; NULL until one */
	char tx_status;		  /* from the last ReadyForQuery: 'I', 'T' or 'E' */
	uint8_t admin;		  /* enum admin_role: ADMIN_NONE unless on the console */
	uint8_t admin_wait;	  /* enum admin_wait: the console reply it waits for */
};

/* Accepted socket: creates the client in CL_LOGIN on worker w. */
void client_accept(struct worker *w, int fd, const struct sockaddr *sa, bool unix_socket);

/* The only function that changes a client's state (and its list). */
void client_set_state(struct client *client, enum client_state state);

/*
 * Sends an ErrorResponse (FATAL with sqlstate, when sqlstate is not NULL) and closes the
 * client; logs "closing because: <reason>". Unlinks its server, which is released or
 * closed as its state requires.
 */
void client_close(struct client *client, const char *sqlstate, const char *fmt, ...)
    PRINTF_FMT(3, 4);

/*
 * A request of the client has run too long (query_timeout): PostgreSQL is asked to cancel
 * it, the client is closed with FATAL 08P01 reason, and its server drains the replies and
 * goes back to the pool instead of being closed. A client whose server cannot be drained
 * (replication, a half-sent message, a SET under way) is closed as client_close() does.
 */
void client_cancel_and_close(struct client *client, const char *reason);

/* Sends a non-fatal ErrorResponse + nothing else (the caller decides what follows). */
bool client_send_error(struct client *client, const char *severity, const char *sqlstate,
		       const char *message);

/* Sends a NoticeResponse (severity NOTICE). */
void client_send_notice(struct client *client, const char *message);

/* Finishes login: AuthenticationOk, welcome, BackendKeyData, ReadyForQuery. */
void client_welcome(struct client *client);
/*
 * The client's tracked values become the forms PostgreSQL reports for them where weir knows
 * those (the registry's cache; the pool's welcome with `welcome`). False if a value the
 * servers report is still unknown: a server must apply it before the client is told.
 */
bool client_use_reported_forms(struct client *client, bool welcome);
/* The same with the ParameterStatus set of a given server login (replication). */
void client_welcome_from(struct client *client, const uint8_t *params, uint32_t len);
/*
 * The server linked to a client in LOGIN_LINK has the client's values: the client is told
 * them as that server reports them (and, in session pooling, its real process id). In
 * transaction and statement pooling the server then goes back to the pool.
 */
void client_finish_login(struct client *client);

/*
 * A cancel request for a client queued for a server: it leaves the queue and its pending
 * requests are answered with 57014, as PostgreSQL answers a canceled query.
 */
void client_cancel_wait(struct client *client);

/* Relays what the client sent while it had no usable server. */
void client_resume(struct client *client);

/* The pool linked a server to this client: resume relaying. */
void client_link(struct client *client, struct server *server);

/* Ends a SCRAM exchange: wipes and frees its state. */
void client_forget_scram(struct client *client);
/* Login is over: names now come from the registry; the login state is wiped and freed. */
void client_forget_login(struct client *client, struct user *login_user, struct database *db);
/* The same for a console login: console is the name it asked for ("weir", "pgbouncer"). */
void client_forget_login_console(struct client *client, struct user *login_user,
				 const char *console);

void client_free(struct client *client);

/* A request went to the server: start its clocks and count the replies owed. */
void client_note_sent(struct client *client, uint8_t type);

/* Messages when prepared statements are rewritten (client_proto.c). */
enum relay_action client_proto_message(struct client *client, uint8_t type, const uint8_t *msg,
				       uint32_t total, bool complete);

/*
 * TLS (client_tls.c). ssl_request answers an SSLRequest ('S' and the handshake, or 'N');
 * try_direct starts TLS when the first byte is a handshake record (true: the bytes are
 * TLS's); refuses_plain closes a plaintext TCP login under client_tls_sslmode >= require;
 * done is the conn_ops.on_tls_done of clients. False / true: the client was closed.
 */
bool client_tls_ssl_request(struct client *client);
bool client_tls_try_direct(struct client *client);
bool client_tls_refuses_plain(struct client *client);
void client_tls_done(struct conn *c, const char *err);

/* Login-phase handlers (client_login.c, client_auth.c). */
void client_login_on_data(struct client *client);
void client_auth_start(struct client *client);
void client_auth_on_message(struct client *client, uint8_t type, const uint8_t *body, uint32_t len);
/* What client_auth.c shares with client_scram.c. */
void client_auth_failed(struct client *client); /* 28P01, as for a wrong password */
/* An authentication request; false when the client was closed. */
bool client_auth_send(struct client *client, enum wire_auth_code code, const void *data,
		      size_t len);
/* Hands PBKDF2 to the KDF pool (LOGIN_KDF, socket unread); done continues the login. */
void client_auth_wait_for_kdf(struct client *client, const char *password,
			      const struct scram_kdf_params *params, kdf_done_fn done);

/* The SCRAM exchange (client_scram.c): the mechanisms, client-first, client-final. */
void client_scram_ask(struct client *client);
void client_scram_initial(struct client *client, const uint8_t *body, uint32_t len);
void client_scram_final(struct client *client, const uint8_t *body, uint32_t len);
/*
 * The secret of a user auth_file does not know, from auth_query when it applies
 * (client_auth_query.c). True when the login can go on now (client->login->source is set);
 * false when it waits in LOGIN_LOOKUP (client_auth_start runs again with the answer) or was
 * closed (an auth database error).
 */
bool client_auth_query_secret(struct client *client);
/* A wait for the KDF pool is over: read the socket again, and what it already holds. */
void client_login_resume(struct client *client);
/* Authentication succeeded: pick the pool and finish or wait for a welcome. */
void client_login_authenticated(struct client *client);
