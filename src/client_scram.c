/* SPDX-License-Identifier: ISC */
/*
 * The SCRAM-SHA-256 exchange of a client login (client_auth.c starts it): the mechanisms
 * offered (SCRAM-SHA-256-PLUS first over TLS, bound to weir's certificate), the keys the
 * exchange runs against (a verifier, keys cached from a plaintext secret or derived for it
 * in the KDF pool, or mock keys for a user that does not exist, so that it fails exactly
 * as a wrong password does), client-first and client-final. A successful login against a
 * verifier leaves ClientKey in the user's cache, which lets weir log in to PostgreSQL
 * without a plaintext password (SCRAM pass-through). Malformed messages, an authzid and
 * channel-binding negotiation errors are 08P01, as PostgreSQL has them.
 *
 * Entry points: client_scram_ask, client_scram_initial, client_scram_final.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>

#include "auth_file.h"
#include "auth_scram.h"
#include "client.h"
#include "config.h"
#include "kdf.h"
#include "log.h"
#include "registry.h"
#include "tls.h"
#include "wire.h"
#include "worker.h"

#define SCRAM_MSG_MAX 1024

/* Over TLS, SCRAM-SHA-256-PLUS is offered first (as PostgreSQL does), bound to our cert. */
static bool offers_plus(const struct client *client)
{
	uint8_t hash[TLS_END_POINT_MAX];

	return client->conn.tls && tls_end_point(client->conn.tls, TLS_ACCEPT, hash) > 0;
}

void client_scram_ask(struct client *client)
{
	static const char *const mechs[] = { SCRAM_MECH_PLUS, SCRAM_MECH };
	bool plus = offers_plus(client);
	uint8_t buf[128];
	struct wire_builder b;

	wire_builder_init(&b, buf, sizeof(buf));
	wire_auth_sasl_mechanisms(&b, mechs + (plus ? 0 : 1), plus ? 2 : 1);
	if (!conn_send(&client->conn, buf, b.len)) {
		client_close(client, NULL, "client socket error");
		return;
	}
	client->phase = LOGIN_SASL_INIT;
}

/*
 * Keys for a mock exchange: the salt is derived from the user name and a per-process secret,
 * so repeated attempts for a name that does not exist see a stable salt, like a real user's.
 */
static void mock_keys(struct client *client, struct scram_keys *keys)
{
	const struct registry *reg = client->conn.worker->reg;
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	memset(keys, 0, sizeof(*keys));
	HMAC(EVP_sha256(), reg->mock_secret, sizeof(reg->mock_secret),
	     (const unsigned char *)client->user_name, strlen(client->user_name), mac, &len);
	memcpy(keys->salt, mac, 16);
	keys->salt_len = 16;
	keys->iterations = (uint32_t)reg->cfg->scram_iterations;
	RAND_bytes(keys->stored_key, SCRAM_KEY_LEN);
	RAND_bytes(keys->server_key, SCRAM_KEY_LEN);
}

/* Where the keys for a SCRAM exchange come from. */
enum own_keys {
	KEYS_NONE,   /* no usable secret: a mock exchange */
	KEYS_READY,  /* a verifier, or keys cached from a plaintext secret */
	KEYS_DERIVE, /* a plaintext secret not turned into keys yet */
};

static enum own_keys scram_keys_for(struct client *client, struct scram_keys *keys)
{
	struct registry *reg = client->conn.worker->reg;
	struct user *u;
	bool ready;

	if (!client->login->secret || client->login->secret_kind == SECRET_MD5)
		return KEYS_NONE;
	if (client->login->secret_kind == SECRET_SCRAM)
		return auth_scram_parse_verifier(client->login->secret, keys) ? KEYS_READY
									      : KEYS_NONE;
	u = registry_user(reg, client->user_name);
	registry_lock(reg);
	ready = u->have_own_keys;
	if (ready)
		*keys = u->own_keys;
	registry_unlock(reg);
	return ready ? KEYS_READY : KEYS_DERIVE;
}

/* Answers client-first with server-first, against keys (NULL: a mock exchange). */
static void sasl_first_reply(struct client *client, const char *first, uint32_t len,
			     const struct scram_keys *real)
{
	uint8_t raw_nonce[SCRAM_NONCE_LEN];
	char nonce[SCRAM_NONCE_TEXT_LEN + 1];
	char out[SCRAM_MSG_MAX];
	struct scram_keys keys;
	enum scram_result res;

	if (!client->login->scram)
		client->login->scram = xcalloc(1, sizeof(*client->login->scram));
	client->login->scram->mock = real == NULL;
	if (real)
		keys = *real;
	else
		mock_keys(client, &keys);
	if (!random_pool_take(&client->conn.worker->random, raw_nonce, sizeof(raw_nonce))) {
		OPENSSL_cleanse(&keys, sizeof(keys));
		client_close(client, "08P01", "cannot generate a SCRAM nonce");
		return;
	}
	auth_scram_encode_nonce(raw_nonce, nonce);
	res = auth_scram_server_first(client->login->scram, &keys, first, len, nonce, out,
				      sizeof(out));
	OPENSSL_cleanse(&keys, sizeof(keys));
	if (res == SCRAM_AUTHZID)
		client_close(client, "08P01",
			     "client uses authorization identity, but it is not supported");
	else if (res != SCRAM_OK)
		client_close(client, "08P01", "malformed SCRAM message");
	else if (client_auth_send(client, WIRE_AUTH_SASL_CONTINUE, out, strlen(out)))
		client->phase = LOGIN_SASL_FINAL;
}

/* Whether the client's copy of its secret is still auth_file's (no reload in between). */
static bool secret_is_current(const struct client *client)
{
	const struct registry *reg = client->conn.worker->reg;
	const struct auth_entry *e =
	    reg->auth ? auth_file_find(reg->auth, client->user_name) : NULL;

	return e && e->kind == SECRET_PLAIN && strcmp(e->secret, client->login->secret) == 0;
}

/* The plaintext secret's salted form is back: keys, cached for the user, and server-first. */
static void on_own_keys(void *arg, const struct kdf_result *res)
{
	struct client *client = arg;
	struct client_login *login = client->login;
	struct registry *reg = client->conn.worker->reg;
	struct user *u = registry_user(reg, client->user_name);
	const struct scram_kdf_params *p = &res->params;
	struct scram_keys keys;
	bool have;

	registry_lock(reg);
	have = u->have_own_keys;
	/* Another login of the user may have finished first: one salt per user. */
	if (have)
		keys = u->own_keys;
	else
		have = res->ok && auth_scram_keys_from_salted(res->salted, p->salt, p->salt_len,
							      p->iterations, &keys, NULL);
	if (have && !u->have_own_keys && secret_is_current(client)) {
		u->own_keys = keys;
		u->have_own_keys = true;
	}
	registry_unlock(reg);
	client->phase = LOGIN_SASL_INIT;
	sasl_first_reply(client, login->sasl_first, login->sasl_first_len, have ? &keys : NULL);
	OPENSSL_cleanse(&keys, sizeof(keys));
	free(login->sasl_first);
	login->sasl_first = NULL;
	if (!client->conn.closed)
		client_login_resume(client);
}

/* Keys for a plaintext secret: PBKDF2 with a fresh salt; client-first waits meanwhile. */
static void derive_own_keys(struct client *client, const uint8_t *first, uint32_t len)
{
	const struct config *cfg = client->conn.worker->reg->cfg;
	struct client_login *login = client->login;
	struct scram_kdf_params params = { .salt_len = 16 };

	if (!random_pool_take(&client->conn.worker->random, params.salt, params.salt_len)) {
		client_close(client, "08P01", "cannot generate a salt");
		return;
	}
	params.iterations = (uint32_t)cfg->scram_iterations;
	login->sasl_first = xmalloc(len ? len : 1);
	memcpy(login->sasl_first, first, len);
	login->sasl_first_len = len;
	client_auth_wait_for_kdf(client, login->secret, &params, on_own_keys);
}

/* The exchange learns what channel binding it may see (offers_plus) and was chosen. */
static void bind_channel(struct client *client, bool plus)
{
	uint8_t hash[TLS_END_POINT_MAX];
	size_t n = client->conn.tls ? tls_end_point(client->conn.tls, TLS_ACCEPT, hash) : 0;

	if (!client->login->scram)
		client->login->scram = xcalloc(1, sizeof(*client->login->scram));
	auth_scram_server_bind(client->login->scram, hash, n, plus);
}

void client_scram_initial(struct client *client, const uint8_t *body, uint32_t len)
{
	struct wire_reader r;
	const char *mech;
	const uint8_t *data;
	uint32_t dlen;
	struct scram_keys keys;

	wire_reader_init(&r, body, len);
	mech = wire_get_cstring(&r);
	dlen = wire_get_u32(&r);
	data = wire_get_bytes(&r, dlen);
	if (!wire_reader_ok(&r) || !(strcmp(mech, SCRAM_MECH) == 0 ||
				     (strcmp(mech, SCRAM_MECH_PLUS) == 0 && offers_plus(client)))) {
		client_close(client, "08P01", "invalid SASL initial response");
		return;
	}
	if (wire_remaining(&r) != 0) {
		/* What PostgreSQL's pq_getmsgend() says about bytes after the SASL data. */
		client_close(client, "08P01", "invalid message format");
		return;
	}
	bind_channel(client, strcmp(mech, SCRAM_MECH_PLUS) == 0);
	switch (scram_keys_for(client, &keys)) {
	case KEYS_NONE:
		sasl_first_reply(client, (const char *)data, dlen, NULL);
		break;
	case KEYS_READY:
		sasl_first_reply(client, (const char *)data, dlen, &keys);
		break;
	case KEYS_DERIVE:
		derive_own_keys(client, data, dlen);
		break;
	}
	OPENSSL_cleanse(&keys, sizeof(keys));
}

static void remember_client_key(struct client *client)
{
	struct user *u;

	if (client->login->secret_kind != SECRET_SCRAM)
		return;
	u = registry_user(client->conn.worker->reg, client->user_name);
	registry_lock(client->conn.worker->reg);
	memcpy(u->client_key, client->login->scram->client_key, SCRAM_KEY_LEN);
	u->have_client_key = true;
	registry_unlock(client->conn.worker->reg);
}

void client_scram_final(struct client *client, const uint8_t *body, uint32_t len)
{
	char out[SCRAM_MSG_MAX];

	switch (auth_scram_server_final(client->login->scram, (const char *)body, len, out,
					sizeof(out))) {
	case SCRAM_OK:
		remember_client_key(client);
		client_forget_scram(client);
		/* The SASL final leaves with the welcome, if that is ready now. */
		conn_cork(&client->conn);
		if (client_auth_send(client, WIRE_AUTH_SASL_FINAL, out, strlen(out)))
			client_login_authenticated(client);
		conn_uncork(&client->conn);
		return;
	case SCRAM_BAD_PROOF:
		client_auth_failed(client);
		return;
	case SCRAM_MALFORMED:
	case SCRAM_AUTHZID:
		client_close(client, "08P01", "malformed SCRAM message");
		return;
	}
}
