/* SPDX-License-Identifier: ISC */
/*
 * An auth_query connection (auth_query_conn.h): libpq's asynchronous API on the worker's
 * loop. Connecting follows libpq's documented loop: after PQconnectStartParams, act as if
 * PQconnectPoll had answered PGRES_POLLING_WRITING, wait for what each answer asks on
 * PQsocket() (which may be a new socket after each poll, when libpq tries another address
 * or retries without SSL), and poll again. A query goes out with PQsendQueryParams and
 * PQflush until the output is flushed (waiting for write and read readiness meanwhile), and
 * replies are read with PQconsumeInput until PQisBusy says PQgetResult will not block.
 * Nothing here blocks: no PQexec, no PQconnectdb, no name resolution inside libpq.
 *
 * The startup packet holds only: user (auth_user), database, application_name
 * weir_auth_query, and empty options; the client's startup parameters never get here. TLS
 * follows server_tls_* (libpq's handshake is driven by PQconnectPoll too, so it does not
 * block); GSS encryption is off. One timer serves the connect deadline (covering resolution too), the
 * query deadline (AUTH_QUERY_TIMEOUT) and the idle deadline, and reports closes from the
 * loop, so that no callback runs inside a call from the owner.
 *
 * Entry points: aq_conn_open, aq_conn_query, aq_conn_free.
 */
#include <arpa/inet.h>
#include <string.h>

#include <event2/event.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "auth_query_conn.h"
#include "config.h"
#include "log.h"
#include "registry.h"
#include "worker.h"

static void io_cb(evutil_socket_t fd, short what, void *arg);
static void timer_cb(evutil_socket_t fd, short what, void *arg);

static void arm_timer(struct aq_conn *c, usec_t after)
{
	struct timeval tv = { .tv_sec = (time_t)(after / USEC_PER_SEC),
			      .tv_usec = (suseconds_t)(after % USEC_PER_SEC) };

	evtimer_del(c->timer);
	if (after > 0 || c->state == AQC_CLOSED)
		evtimer_add(c->timer, &tv);
}

static void stop_io(struct aq_conn *c)
{
	if (c->io) {
		event_free(c->io);
		c->io = NULL;
	}
}

/* Waits for what on the connection's current socket. */
static bool watch(struct aq_conn *c, short what)
{
	stop_io(c);
	c->io = event_new(c->w->base, PQsocket(c->pq), what, io_cb, c);
	return c->io && event_add(c->io, NULL) == 0;
}

static void wipe_answer(struct aq_conn *c)
{
	if (c->secret) {
		OPENSSL_cleanse(c->secret, strlen(c->secret));
		free(c->secret);
		c->secret = NULL;
	}
	c->answer = (struct auth_query_answer){ .outcome = AQ_FAILED };
}

/* Everything but the object: the closed callback is reported from the timer. */
static void fail(struct aq_conn *c, const char *reason)
{
	size_t n = strcspn(reason, "\n");

	snprintf(c->reason, sizeof(c->reason), "%.*s", (int)n, reason);
	stop_io(c);
	dns_cancel(&c->dns);
	if (c->pq) {
		PQfinish(c->pq);
		c->pq = NULL;
	}
	wipe_answer(c);
	c->state = AQC_CLOSED;
	arm_timer(c, 0);
}

static void report_closed(struct aq_conn *c)
{
	c->ops->closed(c, c->reason);
}

static void quiet_notice(void *arg, const char *message)
{
	struct aq_conn *c = arg;

	log_msg(LOG_LVL_DEBUG, c->tag, "notice on the auth connection: %.*s",
		(int)strcspn(message, "\n"), message);
}

/*
 * The auth connection carries verifiers: it uses TLS as the servers do (server_tls_*),
 * never on a Unix socket. allow asks for TLS as weir's own server connections do.
 */
static const char *libpq_sslmode(const struct aq_conn *c, const struct config *cfg)
{
	if (!c->host || cfg->server_tls_sslmode == SSLMODE_DISABLE)
		return "disable";
	if (cfg->server_tls_sslmode == SSLMODE_ALLOW)
		return "prefer";
	return sslmode_name(cfg->server_tls_sslmode);
}

static const char *or_null(const char *s)
{
	return s && *s ? s : NULL;
}

static void start_libpq(struct aq_conn *c, const char *hostaddr)
{
	const struct config *cfg = c->w->reg->cfg;
	char port[16];
	/*
	 * options is one blank: libpq treats "" as unset and would take PGOPTIONS instead.
	 * A NULL value (no password, a TLS file not set) makes libpq ignore its key.
	 */
	const char *keys[] = {
		"host",	       "hostaddr",	   "port",    "dbname",	    "user",
		"options",     "application_name", "sslmode", "gssencmode", "password",
		"sslrootcert", "sslcert",	   "sslkey",  NULL
	};
	const char *values[] = { c->host ? c->host : c->unix_dir,
				 hostaddr,
				 port,
				 c->dbname,
				 c->user,
				 " ",
				 "weir_auth_query",
				 libpq_sslmode(c, cfg),
				 "disable",
				 c->password,
				 or_null(cfg->server_tls_ca_file),
				 or_null(cfg->server_tls_cert_file),
				 or_null(cfg->server_tls_key_file),
				 NULL };

	snprintf(port, sizeof(port), "%d", c->port);
	c->pq = PQconnectStartParams(keys, values, 0);
	if (!c->pq) {
		fail(c, "out of memory for the auth connection");
		return;
	}
	PQsetNoticeProcessor(c->pq, quiet_notice, c);
	if (PQstatus(c->pq) == CONNECTION_BAD || PQsetnonblocking(c->pq, 1) != 0) {
		fail(c, PQerrorMessage(c->pq));
		return;
	}
	c->state = AQC_CONNECTING;
	if (!watch(c, EV_WRITE))
		fail(c, "cannot watch the auth connection's socket");
}

static void on_resolved(void *arg, const struct dns_result *res)
{
	struct aq_conn *c = arg;
	const struct sockaddr_storage *ss = &res->addrs[0];
	char addr[INET6_ADDRSTRLEN];
	const void *raw = ss->ss_family == AF_INET6
			      ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
			      : (const void *)&((const struct sockaddr_in *)ss)->sin_addr;

	if (res->naddrs == 0 || !inet_ntop(ss->ss_family, raw, addr, sizeof(addr))) {
		fail(c, res->error ? res->error : "could not resolve host");
		return;
	}
	start_libpq(c, addr);
}

static bool is_socket_path(const char *host)
{
	return !host || host[0] == '/' || host[0] == '@';
}

static char *copy(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

struct aq_conn *aq_conn_open(struct worker *w, const struct aq_conn_params *p,
			     const struct aq_conn_ops *ops, void *owner)
{
	struct aq_conn *c = xcalloc(1, sizeof(*c));
	struct dns_result res;
	char first[256];

	list_node_init(&c->node);
	c->w = w;
	c->ops = ops;
	c->owner = owner;
	c->port = p->port > 0 ? p->port : 5432;
	c->dbname = copy(p->dbname);
	c->user = copy(p->user);
	c->password = copy(p->password);
	c->unix_dir = copy(p->unix_dir);
	c->connect_timeout = p->connect_timeout;
	c->idle_timeout = p->idle_timeout;
	snprintf(c->tag, sizeof(c->tag), "A-%u %s", worker_next_id(w), p->tag);
	c->timer = evtimer_new(w->base, timer_cb, c);
	if (!c->timer)
		die("cannot create a timer");
	wipe_answer(c);
	/* host lists: the first host serves auth_query */
	c->host = p->host ? xstrdup(config_first_host(p->host, first, sizeof(first))) : NULL;
	c->state = AQC_RESOLVING;
	arm_timer(c, c->connect_timeout);
	if (p->error)
		fail(c, p->error);
	else if (is_socket_path(c->host))
		start_libpq(c, NULL);
	else if (dns_lookup(w->dns, c->host, c->port, &c->dns, on_resolved, c, &res) == DNS_DONE)
		on_resolved(c, &res);
	return c;
}

static void connected(struct aq_conn *c)
{
	c->state = AQC_IDLE;
	c->connected = true;
	arm_timer(c, c->idle_timeout);
	if (!watch(c, EV_READ)) {
		fail(c, "cannot watch the auth connection's socket");
		return;
	}
	log_msg(LOG_LVL_DEBUG, c->tag, "auth connection ready");
	c->ops->ready(c);
}

static void poll_connect(struct aq_conn *c)
{
	switch (PQconnectPoll(c->pq)) {
	case PGRES_POLLING_READING:
		if (!watch(c, EV_READ))
			fail(c, "cannot watch the auth connection's socket");
		return;
	case PGRES_POLLING_WRITING:
		if (!watch(c, EV_WRITE))
			fail(c, "cannot watch the auth connection's socket");
		return;
	case PGRES_POLLING_OK:
		connected(c);
		return;
	default:
		fail(c, PQerrorMessage(c->pq));
		return;
	}
}

/* The one row auth_query returns: (name, password). */
static void take_tuples(struct aq_conn *c, const PGresult *r)
{
	const char *secret;
	enum secret_kind kind;

	if (PQntuples(r) == 0) {
		c->answer.outcome = AQ_UNKNOWN;
		return;
	}
	if (PQntuples(r) > 1 || PQnfields(r) < 2) {
		log_msg(LOG_LVL_WARNING, c->tag,
			"auth_query returned %d rows of %d columns for user \"%s\": expected one "
			"row (name, password)",
			PQntuples(r), PQnfields(r), c->asked_user);
		return;
	}
	secret = PQgetvalue(r, 0, 1);
	if (PQgetisnull(r, 0, 1) || !*secret) {
		c->answer.outcome = AQ_NO_PASSWORD;
		return;
	}
	if (!auth_file_secret_kind(secret, &kind)) {
		log_msg(LOG_LVL_WARNING, c->tag,
			"auth_query returned an invalid SCRAM-SHA-256 secret for user \"%s\"",
			c->asked_user);
		return;
	}
	c->secret = xstrdup(secret);
	c->answer = (struct auth_query_answer){ AQ_FOUND, c->secret, kind };
}

static void take_result(struct aq_conn *c, PGresult *r)
{
	if (c->got_result) { /* one statement gives one result; anything more is not looked at */
		PQclear(r);
		return;
	}
	c->got_result = true;
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		take_tuples(c, r);
	else
		log_msg(LOG_LVL_WARNING, c->tag, "auth_query failed for user \"%s\": %.*s",
			c->asked_user, (int)strcspn(PQresultErrorMessage(r), "\n"),
			PQresultErrorMessage(r));
	PQclear(r);
}

/* The query is over: the answer goes to the owner, and the connection is idle again. */
static void query_done(struct aq_conn *c)
{
	struct auth_query_answer a;
	char *secret;

	if (PQstatus(c->pq) != CONNECTION_OK || PQtransactionStatus(c->pq) != PQTRANS_IDLE) {
		fail(c, "the auth connection is not idle after the query");
		return;
	}
	c->state = AQC_IDLE;
	c->asked_user = NULL;
	arm_timer(c, c->idle_timeout);
	if (!watch(c, EV_READ)) {
		fail(c, "cannot watch the auth connection's socket");
		return;
	}
	/* The owner may free c or run the next query on it: the answer leaves c first. */
	a = c->answer;
	secret = c->secret;
	c->secret = NULL;
	wipe_answer(c);
	c->ops->answer(c, &a);
	if (secret) {
		OPENSSL_cleanse(secret, strlen(secret));
		free(secret);
	}
}

static void poll_query(struct aq_conn *c, short what)
{
	int flushed;

	if ((what & EV_READ) && !PQconsumeInput(c->pq)) {
		fail(c, PQerrorMessage(c->pq));
		return;
	}
	flushed = PQflush(c->pq);
	if (flushed < 0) {
		fail(c, PQerrorMessage(c->pq));
		return;
	}
	while (flushed == 0 && !PQisBusy(c->pq)) {
		PGresult *r = PQgetResult(c->pq);

		if (!r) {
			query_done(c);
			return;
		}
		take_result(c, r);
	}
	if (!watch(c, (short)(EV_READ | (flushed ? EV_WRITE : 0))))
		fail(c, "cannot watch the auth connection's socket");
}

/* An idle connection is read only to notice that the server went away. */
static void poll_idle(struct aq_conn *c)
{
	if (!PQconsumeInput(c->pq) || PQstatus(c->pq) != CONNECTION_OK) {
		fail(c, "the server closed the auth connection");
		return;
	}
	if (!watch(c, EV_READ))
		fail(c, "cannot watch the auth connection's socket");
}

static void io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct aq_conn *c = arg;

	(void)fd;
	switch (c->state) {
	case AQC_CONNECTING:
		poll_connect(c);
		break;
	case AQC_BUSY:
		poll_query(c, what);
		break;
	case AQC_IDLE:
		poll_idle(c);
		break;
	default:
		break;
	}
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct aq_conn *c = arg;

	(void)fd;
	(void)what;
	switch (c->state) {
	case AQC_RESOLVING:
	case AQC_CONNECTING:
		fail(c, "timeout while connecting (server_connect_timeout)");
		break;
	case AQC_BUSY:
		fail(c, "auth_query timeout");
		break;
	case AQC_IDLE:
		fail(c, "idle auth connection (server_idle_timeout)");
		break;
	case AQC_CLOSED:
		break;
	}
	evtimer_del(c->timer);
	report_closed(c);
}

void aq_conn_query(struct aq_conn *c, const char *query, const char *user)
{
	const char *params[1] = { user };

	ASSERT(c->state == AQC_IDLE);
	wipe_answer(c);
	c->got_result = false;
	c->asked_user = user;
	c->state = AQC_BUSY;
	arm_timer(c, AUTH_QUERY_TIMEOUT);
	if (!PQsendQueryParams(c->pq, query, 1, NULL, params, NULL, NULL, 0)) {
		fail(c, PQerrorMessage(c->pq));
		return;
	}
	/* The reply is read in io_cb, never here: poll_query() first runs from the loop. */
	if (!watch(c, EV_READ | EV_WRITE))
		fail(c, "cannot watch the auth connection's socket");
}

void aq_conn_free(struct aq_conn *c)
{
	stop_io(c);
	dns_cancel(&c->dns);
	if (c->pq)
		PQfinish(c->pq);
	event_free(c->timer);
	wipe_answer(c);
	if (c->password) {
		OPENSSL_cleanse(c->password, strlen(c->password));
		free(c->password);
	}
	free(c->host);
	free(c->unix_dir);
	free(c->dbname);
	free(c->user);
	free(c);
}
