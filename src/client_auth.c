/* SPDX-License-Identifier: ISC */
/*
 * Authenticating a client against auth_file (or, for a user auth_file does not know, the
 * secret auth_query finds: auth_query.h): trust, any, plain, md5 and SCRAM-SHA-256, and
 * with auth_type = hba the method of the client's HBA rule (client_hba.c picks it), which
 * adds peer, cert and reject. One dispatch (run_method) serves both.
 * A user that does not exist goes through the same exchange as one with a wrong password
 * (md5 salt, SCRAM mock keys) and fails with the same message, so names are not revealed.
 * SCRAM against a stored verifier costs HMACs only; a plaintext secret is turned into keys
 * once per user and cached. A successful SCRAM login against a verifier leaves ClientKey in
 * the user's cache, which lets weir log in to PostgreSQL without a plaintext password.
 *
 * The two derivations a client can cause, a cleartext password checked against a SCRAM
 * verifier (auth_type=plain) and the keys of a plaintext secret, run in the KDF pool
 * (kdf.h): the login waits in LOGIN_KDF, its socket unread, under client_login_timeout, and
 * goes on from the completion callback. An auth_query lookup waits the same way, in
 * LOGIN_LOOKUP (client_auth_query.c), and then authentication starts over with the secret
 * it found; a failed lookup, a user it does not find and one without a valid password all go on as an
 * unknown user does, so a client cannot tell them from a wrong password.
 *
 * The SCRAM exchange itself is client_scram.c's. Messages are refused as PostgreSQL refuses
 * them: a password message of the wrong size is an 08P01 protocol violation.
 */
#include <openssl/crypto.h>
#include <string.h>

#include "admin.h"
#include "auth_file.h"
#include "auth_md5.h"
#include "auth_scram.h"
#include "client.h"
#include "client_hba.h"
#include "config.h"
#include "hba.h"
#include "kdf.h"
#include "log.h"
#include "registry.h"
#include "tls.h"
#include "wire.h"
#include "worker.h"

#define AUTH_MSG_MAX 1088 /* a SCRAM message and its header */

void client_auth_failed(struct client *client)
{
	client_close(client, "28P01", "password authentication failed for user \"%s\"",
		     client->user_name);
}

bool client_auth_send(struct client *client, enum wire_auth_code code, const void *data, size_t len)
{
	uint8_t buf[AUTH_MSG_MAX];
	struct wire_builder b;

	wire_builder_init(&b, buf, sizeof(buf));
	wire_auth_request(&b, code, data, len);
	if (wire_builder_ok(&b) && conn_send(&client->conn, buf, b.len))
		return true;
	client_close(client, NULL, "client socket error");
	return false;
}

static void ask_md5(struct client *client)
{
	if (!random_pool_take(&client->conn.worker->random, client->login->md5_salt,
			      sizeof(client->login->md5_salt))) {
		client_close(client, "08P01", "cannot generate a salt");
		return;
	}
	if (client_auth_send(client, WIRE_AUTH_MD5, client->login->md5_salt,
			     sizeof(client->login->md5_salt)))
		client->phase = LOGIN_PASSWORD;
}

/*
 * The login's secret: auth_file's, else auth_query's. False when the login waits for
 * auth_query (client_auth_start runs again once it answers) or was closed.
 */
static bool lookup_secret(struct client *client)
{
	struct registry *reg = client->conn.worker->reg;
	const struct auth_entry *e;

	if (client->login->source != SECRET_NOT_LOOKED_UP)
		return true;
	e = reg->auth ? auth_file_find(reg->auth, client->user_name) : NULL;
	if (!e)
		return client_auth_query_secret(client);
	client->login->secret = xstrdup(e->secret);
	client->login->secret_kind = e->kind;
	client->login->source = SECRET_FROM_AUTH_FILE;
	return true;
}

static void auth_any(struct client *client)
{
	struct database *db;

	if (admin_console_name(client->db_name)) { /* rights are checked by admin_login */
		client_login_authenticated(client);
		return;
	}
	db = registry_database(client->conn.worker->reg, client->db_name);
	if (db && (!db->def || !db->def->user)) {
		log_error("auth_type=any requires forced user");
		client_close(client, "08P01", "bouncer config error");
		return;
	}
	client_login_authenticated(client);
}

static bool client_is_tls(const struct client *client)
{
	return client->conn.tls != NULL;
}

/* The CommonName of the client's verified certificate into buf. */
static bool client_cert_name(const struct client *client, char *buf, size_t len)
{
	return tls_peer_common_name(client->conn.tls, buf, len);
}

/*
 * `cert` (auth_type or HBA): the certificate's CommonName is the user's, or the rule's
 * ident map allows it.
 */
static void auth_cert(struct client *client, const char *map)
{
	const struct registry *reg = client->conn.worker->reg;
	char name[256];
	bool ok = client_is_tls(client) && client_cert_name(client, name, sizeof(name));

	if (ok && map) {
		ok = hba_map_allows(reg->hba, map, name, client->user_name);
		if (!ok)
			log_info("ident map: %s does not have a match", map);
	} else if (ok) {
		ok = strcmp(name, client->user_name) == 0;
	}
	if (ok)
		client_login_authenticated(client);
	else
		client_close(client, "28000", "certificate authentication failed for user \"%s\"",
			     client->user_name);
}

/*
 * Runs one method: auth_type's, or that of the HBA rule (then rule is not NULL). The method
 * is kept for the password message, which it decides how to read.
 */
static void run_method(struct client *client, int method, const struct hba_rule *rule)
{
	client->login->method = (uint8_t)method;
	switch (method) {
	case AUTH_TYPE_ANY:
		auth_any(client);
		return;
	case AUTH_TYPE_TRUST:
		if (client->login->secret)
			client_login_authenticated(client);
		else
			client_close(client, "28000", "\"trust\" authentication failed");
		return;
	case AUTH_TYPE_PLAIN:
		if (client_auth_send(client, WIRE_AUTH_CLEARTEXT, NULL, 0))
			client->phase = LOGIN_PASSWORD;
		return;
	case AUTH_TYPE_MD5:
		if (client->login->secret && client->login->secret_kind == SECRET_SCRAM)
			client_scram_ask(client);
		else
			ask_md5(client);
		return;
	case AUTH_TYPE_SCRAM:
		client_scram_ask(client);
		return;
	case AUTH_TYPE_CERT:
		auth_cert(client, rule ? rule->map : NULL);
		return;
	case AUTH_TYPE_PEER:
		client_hba_peer(client, rule ? rule->map : NULL);
		return;
	case AUTH_TYPE_REJECT:
		client_hba_reject(client, rule, client_is_tls(client));
		return;
	default:
		client_close(client, "08P01", "unsupported auth_type");
		return;
	}
}

void client_auth_start(struct client *client)
{
	const struct config *cfg = client->conn.worker->reg->cfg;
	const struct hba_rule *rule = NULL;

	if (admin_trusted_peer(client)) {
		client_login_authenticated(client);
		return;
	}
	if (!lookup_secret(client))
		return;
	if (cfg->auth_type == AUTH_TYPE_HBA) {
		rule = client_hba_rule(client, client_is_tls(client));
		if (!rule)
			return;
	}
	run_method(client, rule ? rule->method : cfg->auth_type, rule);
}

/* A cleartext password against a plaintext or md5 secret. */
static bool check_cleartext(struct client *client, const char *password)
{
	char md5[MD5_PASSWD_LEN + 1];
	bool ok = false;

	switch (client->login->secret_kind) {
	case SECRET_PLAIN:
		ok = strlen(password) == strlen(client->login->secret) &&
		     CRYPTO_memcmp(password, client->login->secret, strlen(password)) == 0;
		break;
	case SECRET_MD5:
		auth_md5_verifier(client->user_name, password, md5);
		ok = CRYPTO_memcmp(md5, client->login->secret, MD5_PASSWD_LEN + 1) == 0;
		OPENSSL_cleanse(md5, sizeof(md5));
		break;
	}
	return ok;
}

static void password_checked(struct client *client, bool ok)
{
	if (ok)
		client_login_authenticated(client);
	else
		client_auth_failed(client);
}

void client_auth_wait_for_kdf(struct client *client, const char *password,
			      const struct scram_kdf_params *params, kdf_done_fn done)
{
	client->phase = LOGIN_KDF;
	conn_want_read(&client->conn, false);
	kdf_submit(client->conn.worker->kdf, KDF_FOR_CLIENT, password, params, done, client,
		   &client->login->kdf);
}

/* The cleartext password's salted form is back: keys here, compared with the verifier's. */
static void on_cleartext_salted(void *arg, const struct kdf_result *res)
{
	struct client *client = arg;
	const struct scram_kdf_params *p = &res->params;
	struct scram_keys stored, derived;
	bool ok;

	ok = res->ok && auth_scram_parse_verifier(client->login->secret, &stored) &&
	     auth_scram_keys_from_salted(res->salted, p->salt, p->salt_len, p->iterations, &derived,
					 NULL) &&
	     CRYPTO_memcmp(stored.stored_key, derived.stored_key, SCRAM_KEY_LEN) == 0 &&
	     CRYPTO_memcmp(stored.server_key, derived.server_key, SCRAM_KEY_LEN) == 0;
	OPENSSL_cleanse(&stored, sizeof(stored));
	OPENSSL_cleanse(&derived, sizeof(derived));
	client->phase = LOGIN_PASSWORD;
	password_checked(client, ok);
}

/* A cleartext password against a SCRAM verifier: PBKDF2 with the verifier's salt. */
static void check_cleartext_scram(struct client *client, const char *password)
{
	struct scram_kdf_params params;
	struct scram_keys stored;

	if (!auth_scram_parse_verifier(client->login->secret, &stored)) {
		client_auth_failed(client);
		return;
	}
	memcpy(params.salt, stored.salt, stored.salt_len);
	params.salt_len = stored.salt_len;
	params.iterations = stored.iterations;
	OPENSSL_cleanse(&stored, sizeof(stored));
	client_auth_wait_for_kdf(client, password, &params, on_cleartext_salted);
}

static void on_password(struct client *client, const uint8_t *body, uint32_t len)
{
	struct wire_reader r;
	const char *password;

	wire_reader_init(&r, body, len);
	password = wire_get_cstring(&r);
	if (!wire_reader_ok(&r) || wire_remaining(&r) != 0) { /* PostgreSQL's words for both */
		client_close(client, "08P01", "invalid password packet size");
		return;
	}
	if (!client->login->secret)
		password_checked(client, false);
	else if (client->login->method != AUTH_TYPE_PLAIN)
		password_checked(client, auth_md5_check(client->user_name, client->login->secret,
							client->login->md5_salt, password));
	else if (client->login->secret_kind == SECRET_SCRAM)
		check_cleartext_scram(client, password);
	else
		password_checked(client, check_cleartext(client, password));
}

void client_auth_on_message(struct client *client, uint8_t type, const uint8_t *body, uint32_t len)
{
	switch (client->phase) {
	case LOGIN_PASSWORD:
		on_password(client, body, len);
		return;
	case LOGIN_SASL_INIT:
		client_scram_initial(client, body, len);
		return;
	case LOGIN_SASL_FINAL:
		client_scram_final(client, body, len);
		return;
	default:
		client_close(client, "08P01", "unexpected password message");
		return;
	}
}
