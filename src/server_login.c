/* SPDX-License-Identifier: ISC */
/*
 * Opening a server connection: resolving the host (c-ares through dns.c, or a Unix socket
 * directory), a non-blocking connect, the StartupMessage, and authentication to PostgreSQL
 * with cleartext, md5 or SCRAM-SHA-256. The password comes from the [databases] entry, the
 * auth_file secret (for a user auth_file does not know, the auth_query secret its last
 * client authenticated with), or SCRAM pass-through (ClientKey cached from a client's SCRAM
 * login against the same verifier). The ParameterStatus set of a successful login becomes the
 * pool's welcome for clients; a failed login is remembered so clients fail fast.
 *
 * What weir accepts from the server is checked before it answers (auth_require.h): the
 * method against server_require_auth, and, before a derivation from a plaintext password,
 * the iteration count against server_scram_max_iterations. That PBKDF2 runs in the KDF pool
 * (kdf.h) while the login waits in SLOGIN_SASL_KDF, still under server_connect_timeout.
 * Once SCRAM has started, AuthenticationOk counts only after the server's signature
 * verified, so nothing on the path can pose as the server without knowing the password.
 */
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include <openssl/crypto.h>

#include "auth_file.h"
#include "auth_md5.h"
#include "auth_require.h"
#include "auth_scram.h"
#include "client.h"
#include "config.h"
#include "kdf.h"
#include "log.h"
#include "pool_sched.h"
#include "registry.h"
#include "relay.h"
#include "server.h"
#include "sock.h"
#include "stats.h"
#include "tls.h"
#include "wire.h"
#include "worker.h"

#define AUTH_MSG_MAX  1024
#define LOGIN_MSG_MAX (1u << 20)
/* What weir keeps of a server's ParameterStatus at login (PostgreSQL's own is ~500 bytes). */
#define LOGIN_PARAMS_MAX (1u << 20)

/* PostgreSQL's errors for a startup value it does not accept (22023 and its class, 42704). */
static bool refuses_a_value(const char *sqlstate)
{
	return strncmp(sqlstate, "22", 2) == 0 || strcmp(sqlstate, "42704") == 0;
}

static void login_failed(struct server *server, const char *sqlstate, const char *message)
{
	char reason[512];

	snprintf(reason, sizeof(reason), "server login failed: %s", message);
	if (server->owner) {
		struct client *owner = server->owner;

		/* A replication login failing says nothing about the pool's other logins. */
		pool_replication_login_failed(server->pool, sqlstate, message);
		owner->dedicated = NULL; /* the client gets PostgreSQL's error, not the close's */
		server->owner = NULL;
		server_close(server, reason);
		client_close(owner, sqlstate, "%s", message);
		return;
	}
	if (server->opened_for && refuses_a_value(sqlstate)) {
		struct client *client = server->opened_for;

		/* Only the values of the client it was opened for are at fault. */
		server_close(server, reason);
		client_close(client, sqlstate, "%s", message);
		return;
	}
	pool_login_failed(server->pool, server->conn.worker, sqlstate, message);
	server_close(server, reason);
}

#define STARTUP_MAX_PARAMS (8 + PARAMS_MAX)

struct startup_list {
	const char *names[STARTUP_MAX_PARAMS];
	const char *values[STARTUP_MAX_PARAMS];
	size_t n;
};

static void add(struct startup_list *l, const char *name, const char *value)
{
	if (value && l->n < STARTUP_MAX_PARAMS) {
		l->names[l->n] = name;
		l->values[l->n++] = value;
	}
}

/* A replication server takes no SET later, so the client's values go in at the start. */
static void add_replication(struct startup_list *l, const struct server *server)
{
	const struct client *owner = server->owner;
	const struct param_names *pn = &server->conn.worker->reg->tracked;

	add(l, "replication", owner->replication == REPL_LOGICAL ? "database" : "true");
	add(l, "options", owner->raw_options);
	for (unsigned i = 0; i < pn->count; i++)
		add(l, pn->names[i], params_get(owner->params, (int)i));
}

/* The value a database entry gives a tracked name at login, or NULL. */
static const char *entry_value(const struct db_def *def, const char *name)
{
	if (!def)
		return NULL;
	if (strcasecmp(name, "client_encoding") == 0)
		return def->client_encoding;
	if (strcasecmp(name, "DateStyle") == 0)
		return def->datestyle;
	if (strcasecmp(name, "TimeZone") == 0)
		return def->timezone;
	if (strcasecmp(name, "application_name") == 0)
		return def->application_name;
	return NULL;
}

const char *server_login_value(const struct pool *pool, const struct client *client, int idx)
{
	const char *v = client ? params_get(client->params, idx) : NULL;
	const char *rep;

	if (!v)
		v = entry_value(pool->db->def, pool->reg->tracked.names[idx]);
	rep = v ? params_cache_get(&pool->reg->canon, idx, v) : NULL;
	return rep ? rep : v;
}

static bool send_startup(struct server *server)
{
	const struct param_names *pn = &server->conn.worker->reg->tracked;
	struct startup_list l = { .n = 0 };
	struct wire_builder b;
	size_t cap = 64;

	add(&l, "user", server->pool->user->name);
	add(&l, "database", database_server_dbname(server->pool->db));
	if (server->owner)
		add_replication(&l, server);
	else
		for (unsigned i = 0; i < pn->count; i++)
			add(&l, pn->names[i], server->login.v[i]);
	for (size_t i = 0; i < l.n; i++)
		cap += strlen(l.names[i]) + strlen(l.values[i]) + 2;
	wire_builder_init(&b, worker_scratch(server->conn.worker, cap), cap);
	wire_startup(&b, l.names, l.values, l.n);
	return wire_builder_ok(&b) && conn_send(&server->conn, b.buf, b.len);
}

static void connect_to(struct server *server, const struct sockaddr *sa, socklen_t len)
{
	struct worker *w = server->conn.worker;
	const struct config *cfg = w->reg->cfg;
	char err[256];
	bool in_progress = false;
	int fd = sock_connect(sa, len, &in_progress, err, sizeof(err));

	if (fd < 0) {
		login_failed(server, "08006", err);
		return;
	}
	conn_bind_fd(&server->conn, fd);
	conn_set_addr(&server->conn, sa);
	memcpy(&server->addr, sa, len);
	server->addr_len = len;
	if (sa->sa_family != AF_UNIX) {
		struct sock_tcp_opts o = { .keepalive = cfg->tcp_keepalive,
					   .keepcnt = cfg->tcp_keepcnt,
					   .keepidle = cfg->tcp_keepidle,
					   .keepintvl = cfg->tcp_keepintvl,
					   .user_timeout_ms = cfg->tcp_user_timeout,
					   .socket_buffer = cfg->tcp_socket_buffer };

		sock_tune_tcp(fd, &o);
	}
	server->conn.connecting = in_progress;
	conn_want_read(&server->conn, true);
	if (!server_tls_begin(server))
		server_login_send_startup(server);
}

void server_login_send_startup(struct server *server)
{
	server->phase = SLOGIN_AUTH;
	if (!send_startup(server)) {
		login_failed(server, "08006", "cannot send the startup packet");
		return;
	}
	conn_want_read(&server->conn, true);
}

void server_login_fail(struct server *server, const char *sqlstate, const char *message)
{
	login_failed(server, sqlstate, message);
}

static void on_resolved(void *arg, const struct dns_result *res)
{
	struct server *server = arg;

	if (res->naddrs == 0) {
		login_failed(server, "08006", res->error ? res->error : "could not resolve host");
		return;
	}
	connect_to(server, (const struct sockaddr *)&res->addrs[0],
		   res->addrs[0].ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						       : sizeof(struct sockaddr_in));
}

void server_login_start(struct server *server)
{
	struct worker *w = server->conn.worker;
	const struct db_def *def = server->pool->db->def;
	const char *host = def->host;
	struct dns_result res;
	char first[256];
	int port = def->port > 0 ? def->port : 5432;

	if (!host || host[0] == '/' || host[0] == '@') {
		struct sockaddr_un sun;
		socklen_t len;

		if (!sock_connect_unix_path(host ? host : w->reg->cfg->unix_socket_dir, port, &sun,
					    &len)) {
			login_failed(server, "08006", "unix socket path too long");
			return;
		}
		connect_to(server, (const struct sockaddr *)&sun, len);
		return;
	}
	server->phase = SLOGIN_RESOLVING;
	if (dns_lookup(w->dns, config_first_host(host, first, sizeof(first)), port, &server->dns,
		       on_resolved, server, &res) == DNS_DONE)
		on_resolved(server, &res);
}

/* What the server user logs in with. */
struct server_creds {
	const char *password; /* plaintext */
	const char *md5;      /* md5 verifier */
	const char *scram;    /* SCRAM verifier, usable with a cached ClientKey */
};

static struct server_creds find_creds(const struct server *server)
{
	const struct registry *reg = server->conn.worker->reg;
	const struct db_def *def = server->pool->db->def;
	const struct user *u = server->pool->user;
	const struct auth_entry *e;
	struct server_creds c = { NULL, NULL, NULL };
	const char *secret;
	int kind;

	if (def->user && def->password) {
		c.password = def->password;
		return c;
	}
	e = reg->auth ? auth_file_find(reg->auth, u->name) : NULL;
	secret = e ? e->secret : u->query_secret;
	kind = e ? (int)e->kind : u->query_secret_kind;
	if (!secret)
		return c;
	if (kind == SECRET_PLAIN)
		c.password = secret;
	else if (kind == SECRET_MD5)
		c.md5 = secret;
	else if (u->have_client_key)
		c.scram = secret;
	return c;
}

static bool send_msg(struct server *server, struct wire_builder *b)
{
	if (wire_builder_ok(b) && conn_send(&server->conn, b->buf, b->len))
		return true;
	server_close(server, "cannot send authentication message");
	return false;
}

/* server_require_auth: false when the login was failed for asking for method m. */
static bool method_allowed(struct server *server, enum auth_method m)
{
	const struct config *cfg = server->conn.worker->reg->cfg;
	char msg[512];

	if (auth_require_check(cfg->server_require_auth_allowed, cfg->server_require_auth, m, msg,
			       sizeof(msg)))
		return true;
	login_failed(server, "28000", msg);
	return false;
}

static void answer_password(struct server *server, enum wire_auth_code code, struct wire_reader *r)
{
	struct server_creds c = find_creds(server);
	char md5[MD5_PASSWD_LEN + 1];
	const uint8_t *salt;
	uint8_t buf[AUTH_MSG_MAX];
	struct wire_builder b;

	if (!method_allowed(server,
			    code == WIRE_AUTH_CLEARTEXT ? AUTH_METHOD_PASSWORD : AUTH_METHOD_MD5))
		return;
	wire_builder_init(&b, buf, sizeof(buf));
	if (code == WIRE_AUTH_CLEARTEXT) {
		if (!c.password) {
			login_failed(server, "28P01", "no plaintext password for the server user");
			return;
		}
		wire_password(&b, c.password);
	} else {
		salt = wire_get_bytes(r, 4);
		if (!salt || (!c.password && !c.md5)) {
			login_failed(server, "28P01", "no md5 password for the server user");
			return;
		}
		auth_md5_response(server->pool->user->name, c.password ? c.password : c.md5, salt,
				  md5);
		wire_password(&b, md5);
		OPENSSL_cleanse(md5, sizeof(md5));
	}
	if (send_msg(server, &b))
		server->phase = SLOGIN_PASSWORD;
	OPENSSL_cleanse(buf, sizeof(buf));
}

/*
 * Over TLS, channel binding to the server's certificate when it offers -PLUS; 'y' when it
 * does not (weir could bind, and says so, as libpq does). False: no binding.
 */
static bool bind_channel(struct server *server, bool offered)
{
	uint8_t hash[TLS_END_POINT_MAX];
	size_t n =
	    server->conn.tls && offered ? tls_end_point(server->conn.tls, TLS_CONNECT, hash) : 0;

	if (n > 0 && auth_scram_client_bind(&server->scram, 'p', hash, n)) {
		log_debug("server SCRAM login with channel binding (" SCRAM_CBIND_TYPE ")");
		return true;
	}
	if (!auth_scram_client_bind(&server->scram, server->conn.tls ? 'y' : 'n', NULL, 0))
		log_debug("no channel binding");
	return false;
}

static void sasl_start(struct server *server, struct wire_reader *r)
{
	char out[AUTH_MSG_MAX];
	uint8_t buf[AUTH_MSG_MAX + 64];
	struct wire_builder b;
	bool offered = false, plus = false;
	const char *mech;

	if (!method_allowed(server, AUTH_METHOD_SCRAM))
		return;
	while ((mech = wire_get_cstring(r)) && *mech) {
		offered |= strcmp(mech, SCRAM_MECH) == 0;
		plus |= strcmp(mech, SCRAM_MECH_PLUS) == 0;
	}
	if (!offered && !(plus && server->conn.tls)) {
		login_failed(server, "28000", "server offers no supported SASL mechanism");
		return;
	}
	plus = bind_channel(server, plus);
	if (!auth_scram_client_first(&server->scram, NULL, out, sizeof(out))) {
		login_failed(server, "28000", "cannot start SCRAM");
		return;
	}
	wire_builder_init(&b, buf, sizeof(buf));
	wire_sasl_initial_response(&b, plus ? SCRAM_MECH_PLUS : SCRAM_MECH, out, strlen(out));
	if (send_msg(server, &b))
		server->phase = SLOGIN_SASL_FIRST;
}

static void send_client_final(struct server *server, const char *final)
{
	uint8_t buf[AUTH_MSG_MAX + 64];
	struct wire_builder b;

	wire_builder_init(&b, buf, sizeof(buf));
	wire_sasl_response(&b, final, strlen(final));
	if (send_msg(server, &b))
		server->phase = SLOGIN_SASL_FINAL;
}

/* The salted password came back from the KDF pool: keys (HMACs, here) and client-final. */
static void on_salted(void *arg, const struct kdf_result *res)
{
	struct server *server = arg;
	const struct scram_kdf_params *p = &res->params;
	uint8_t ckey[SCRAM_KEY_LEN];
	struct scram_keys keys;
	char out[AUTH_MSG_MAX];

	if (!res->ok ||
	    !auth_scram_keys_from_salted(res->salted, p->salt, p->salt_len, p->iterations, &keys,
					 ckey) ||
	    auth_scram_client_proof(&server->scram, &keys, ckey, out, sizeof(out)) != SCRAM_OK)
		login_failed(server, "28000", "cannot derive SCRAM keys for the server");
	else
		send_client_final(server, out);
	OPENSSL_cleanse(&keys, sizeof(keys));
	OPENSSL_cleanse(ckey, sizeof(ckey));
}

/* A plaintext password: PBKDF2 over the server's salt, in the KDF pool if weir allows it. */
static void sasl_derive(struct server *server, const char *password, const char *data, size_t len)
{
	const struct config *cfg = server->conn.worker->reg->cfg;
	struct scram_kdf_params params;
	char msg[256];

	if (auth_scram_client_read_first(&server->scram, data, len, &params) != SCRAM_OK) {
		login_failed(server, "08P01", "malformed SCRAM message from the server");
		return;
	}
	if (!auth_require_iterations(params.iterations, (uint32_t)cfg->server_scram_max_iterations,
				     msg, sizeof(msg))) {
		login_failed(server, "28000", msg);
		return;
	}
	server->phase = SLOGIN_SASL_KDF;
	kdf_submit(server->conn.worker->kdf, KDF_FOR_SERVER, password, &params, on_salted, server,
		   &server->kdf);
	OPENSSL_cleanse(&params, sizeof(params));
}

/* SCRAM pass-through: the keys of auth_file's verifier and the ClientKey of a client login. */
static void sasl_pass_through(struct server *server, const char *verifier, const char *data,
			      size_t len)
{
	struct scram_keys keys;
	struct scram_client_creds creds = { .keys = &keys,
					    .client_key = server->pool->user->client_key };
	char out[AUTH_MSG_MAX];
	enum scram_result res;

	if (!verifier || !auth_scram_parse_verifier(verifier, &keys)) {
		login_failed(server, "28P01", "no password or SCRAM keys for the server user");
		return;
	}
	res = auth_scram_client_final(&server->scram, &creds, data, len, out, sizeof(out));
	OPENSSL_cleanse(&keys, sizeof(keys));
	if (res != SCRAM_OK) {
		login_failed(server, "28P01", "SCRAM authentication to the server failed");
		return;
	}
	send_client_final(server, out);
}

static void sasl_continue(struct server *server, struct wire_reader *r)
{
	struct server_creds c = find_creds(server);
	size_t len = wire_remaining(r);
	const char *data = (const char *)wire_get_bytes(r, len);

	if (c.password)
		sasl_derive(server, c.password, data, len);
	else
		sasl_pass_through(server, c.scram, data, len);
}

static void sasl_final(struct server *server, struct wire_reader *r)
{
	size_t len = wire_remaining(r);
	const uint8_t *data = wire_get_bytes(r, len);

	switch (auth_scram_client_verify(&server->scram, (const char *)data, len)) {
	case SCRAM_OK:
		server->phase = SLOGIN_SASL_DONE;
		return;
	case SCRAM_BAD_PROOF:
		login_failed(server, "28P01", "invalid SCRAM signature from the server");
		return;
	default:
		login_failed(server, "08P01", "malformed SCRAM SASLFinal from the server");
		return;
	}
}

/* AuthenticationOk: with SCRAM, only after the server's signature verified. */
static void auth_ok(struct server *server)
{
	switch (server->phase) {
	case SLOGIN_AUTH:
		if (!method_allowed(server, AUTH_METHOD_NONE))
			return;
		break;
	case SLOGIN_PASSWORD:
	case SLOGIN_SASL_DONE:
		break;
	case SLOGIN_SASL_FIRST:
	case SLOGIN_SASL_KDF:
	case SLOGIN_SASL_FINAL:
		login_failed(server, "08P01",
			     "server sent AuthenticationOk before completing SCRAM authentication "
			     "(no SASLFinal with its signature)");
		return;
	default:
		login_failed(server, "08P01", "unexpected AuthenticationOk from the server");
		return;
	}
	server->phase = SLOGIN_PARAMS;
}

/* The phase in which each authentication request may come. */
static bool request_expected(const struct server *server, uint32_t code)
{
	switch (code) {
	case WIRE_AUTH_CLEARTEXT:
	case WIRE_AUTH_MD5:
	case WIRE_AUTH_SASL:
		return server->phase == SLOGIN_AUTH;
	case WIRE_AUTH_SASL_CONTINUE:
		return server->phase == SLOGIN_SASL_FIRST;
	case WIRE_AUTH_SASL_FINAL:
		return server->phase == SLOGIN_SASL_FINAL;
	default:
		return true;
	}
}

static void handle_auth(struct server *server, struct wire_reader *r)
{
	uint32_t code = wire_get_u32(r);
	char msg[128];

	if (!request_expected(server, code)) {
		snprintf(msg, sizeof(msg), "unexpected authentication request %u from the server",
			 code);
		login_failed(server, "08P01", msg);
		return;
	}
	/* The user's secrets and cached keys are shared with logins on other workers. */
	registry_lock(server->pool->reg);
	switch (code) {
	case WIRE_AUTH_OK:
		auth_ok(server);
		break;
	case WIRE_AUTH_CLEARTEXT:
	case WIRE_AUTH_MD5:
		answer_password(server, code, r);
		break;
	case WIRE_AUTH_SASL:
		sasl_start(server, r);
		break;
	case WIRE_AUTH_SASL_CONTINUE:
		sasl_continue(server, r);
		break;
	case WIRE_AUTH_SASL_FINAL:
		sasl_final(server, r);
		break;
	default:
		login_failed(server, "28000", "unsupported authentication method from the server");
		break;
	}
	registry_unlock(server->pool->reg);
}

static void handle_error(struct server *server, const uint8_t *body, uint32_t len)
{
	struct wire_error_fields f;

	if (!wire_parse_error(body, len, &f) || !f.message) {
		login_failed(server, "08P01", "malformed error from the server");
		return;
	}
	login_failed(server, f.sqlstate ? f.sqlstate : "08P01", f.message);
}

static void keep_param(struct server *server, const uint8_t *msg, uint32_t total)
{
	const char *name, *value;

	if (total > LOGIN_PARAMS_MAX - server->params_len) {
		login_failed(server, "08P01", "the server sent more than 1 MB of ParameterStatus");
		return;
	}
	server->params = xrealloc(server->params, server->params_len + total);
	memcpy(server->params + server->params_len, msg, total);
	server->params_len += total;
	if (params_parse_status(msg + 5, total - 5, &name, &value))
		params_set(&server->params_now,
			   params_index(&server->conn.worker->reg->tracked, name), value);
}

/* A replication server goes straight to the client it was opened for. */
static void hand_to_owner(struct server *server)
{
	struct client *owner = server->owner;

	owner->dedicated = NULL;
	pool_replication_login_succeeded(server->pool);
	if (owner->state == CL_WAIT_WELCOME)
		client_welcome_from(owner, server->params, server->params_len);
	if (owner->conn.closed) {
		server_close(server, "replication client disconnected");
		return;
	}
	server_set_state(server, SV_ACTIVE);
	client_link(owner, server);
}

/*
 * The values the login asked for, as PostgreSQL reported them, are the server's login
 * values from now on (and go to the registry's cache), so that clients are matched to
 * servers by what their logins mean, not by how they were spelled.
 */
static void learn_forms(struct server *server)
{
	struct registry *reg = server->conn.worker->reg;

	for (unsigned i = 0; i < reg->tracked.count; i++) {
		const char *raw = server->login.v[i], *rep = server->params_now.v[i];

		if (!raw || !rep)
			continue;
		params_cache_put(&reg->canon, (int)i, raw, rep);
		params_set(&server->login, (int)i, rep);
	}
}

static void learn_login_forms(struct server *server)
{
	registry_lock(server->conn.worker->reg);
	learn_forms(server);
	registry_unlock(server->conn.worker->reg);
}

static void login_done(struct server *server, char status)
{
	struct pool *pool = server->pool;
	struct client *opened_for;
	char tag[256];

	server->tx_status = status;
	server->ready = true;
	auth_scram_client_reset(&server->scram);
	if (server->owner) {
		hand_to_owner(server);
		return;
	}
	pool_login_succeeded(pool);
	stats_server_login(server->conn.worker, pool, usec_since(server->login_start, now_usec()));
	conn_tag(&server->conn, tag, sizeof(tag));
	log_msg(LOG_LVL_LOG, tag, "new connection to server");
	registry_lock(pool->reg);
	if ((opened_for = server->opened_for))
		opened_for->opening = NULL;
	server->opened_for = NULL;
	/*
	 * The pool's welcome comes from logins with the database entry's values only, and not
	 * from one begun before the entry changed.
	 */
	learn_login_forms(server);
	if (!server->close_needed)
		pool_note_login(pool, server);
	server_set_state(server, SV_IDLE);
	pool_server_ready(server, opened_for);
	registry_unlock(pool->reg);
}

static void handle_message(struct server *server, const uint8_t *msg, uint32_t total)
{
	struct wire_reader r;

	wire_reader_init(&r, msg + 5, total - 5);
	switch (msg[0]) {
	case 'R':
		handle_auth(server, &r);
		break;
	case 'E':
		handle_error(server, msg + 5, total - 5);
		break;
	case 'S':
		keep_param(server, msg, total);
		break;
	case 'K':
		server->backend_pid = wire_get_u32(&r);
		server->backend_key = wire_get_u32(&r);
		break;
	case 'Z':
		login_done(server, total == 6 ? (char)msg[5] : 'I');
		break;
	case 'N':
	case 'v':
		break;
	default:
		login_failed(server, "08P01", "unexpected message from the server during login");
		break;
	}
}

void server_login_on_data(struct server *server)
{
	const uint8_t *msg;
	uint32_t total;
	int r;

	if (server->phase == SLOGIN_TLS_ANSWER) {
		server_tls_on_answer(server);
		return;
	}
	while (server->state == SV_LOGIN && !server->conn.closed &&
	       (r = relay_next_message(&server->conn, LOGIN_MSG_MAX, &msg, &total)) != 0) {
		if (r < 0) {
			login_failed(server, "08P01",
				     "invalid packet from the server during login");
			return;
		}
		relay_consume(&server->conn, total);
		handle_message(server, msg, total);
	}
	if (!server->conn.closed)
		conn_release_buf_if_empty(&server->conn);
}
