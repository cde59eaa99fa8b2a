/* SPDX-License-Identifier: ISC */
/*
 * SCRAM-SHA-256 (RFC 5802, RFC 7677) in both roles: weir as the server that clients
 * authenticate to, and weir as the client that logs in to PostgreSQL. Pure logic over byte
 * strings; no sockets. Key derivation is split in two: PBKDF2 (auth_scram_salted_password,
 * the only expensive call and the only one safe on another thread, see kdf.h) and the keys
 * from its result (auth_scram_keys_from_salted, HMACs on the loop's thread), so a login
 * against cached keys costs HMACs only. Channel binding: tls-server-end-point (RFC 5929)
 * in both roles, when the caller gives the certificate hash (auth_scram_*_bind).
 */
#pragma once

#include "common.h"

#define SCRAM_KEY_LEN	     32
#define SCRAM_MAX_SALT_LEN   64
#define SCRAM_NONCE_LEN	     24 /* random bytes before base64 */
#define SCRAM_NONCE_TEXT_LEN 32 /* SCRAM_NONCE_LEN bytes in base64 */
#define SCRAM_MECH	     "SCRAM-SHA-256"
#define SCRAM_MECH_PLUS	     "SCRAM-SHA-256-PLUS"
#define SCRAM_CBIND_TYPE     "tls-server-end-point"
#define SCRAM_CBIND_MAX	     64 /* a certificate hash: EVP_MAX_MD_SIZE */

/*
 * The most PBKDF2 iterations weir ever derives, and the most a verifier may hold: about 5 s
 * of one core. server_scram_max_iterations, the limit for servers, can be at most this.
 */
#define SCRAM_MAX_ITERATIONS 10000000u

/* The verifier PostgreSQL stores: SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>. */
struct scram_keys {
	uint8_t stored_key[SCRAM_KEY_LEN];
	uint8_t server_key[SCRAM_KEY_LEN];
	uint8_t salt[SCRAM_MAX_SALT_LEN];
	size_t salt_len;
	uint32_t iterations;
};

/* What PBKDF2 needs besides the password. */
struct scram_kdf_params {
	uint8_t salt[SCRAM_MAX_SALT_LEN];
	size_t salt_len;
	uint32_t iterations;
};

/* Parses a verifier string. False if it is not a well-formed SCRAM-SHA-256 verifier. */
MUST_CHECK bool auth_scram_parse_verifier(const char *secret, struct scram_keys *out);

/*
 * SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, iterations), the expensive half of a
 * key derivation. Thread-safe: it uses no state of this module, so kdf.c runs it on its
 * threads. False for a salt of 0 or more than SCRAM_MAX_SALT_LEN bytes, or iterations not in
 * 1..SCRAM_MAX_ITERATIONS.
 */
MUST_CHECK bool auth_scram_salted_password(const char *password, const uint8_t *salt,
					   size_t salt_len, uint32_t iterations,
					   uint8_t out[SCRAM_KEY_LEN]);

/*
 * The cheap half: StoredKey and ServerKey (and ClientKey into client_key, unless NULL) from
 * a salted password, with salt and iterations recorded in out. Event loop thread only.
 */
MUST_CHECK bool auth_scram_keys_from_salted(const uint8_t salted[SCRAM_KEY_LEN],
					    const uint8_t *salt, size_t salt_len,
					    uint32_t iterations, struct scram_keys *out,
					    uint8_t client_key[SCRAM_KEY_LEN]);

/*
 * Both halves at once, on the calling thread (the tests, and the vectors). client_key may be
 * NULL; when given it receives ClientKey, which weir needs to log in to a server.
 */
MUST_CHECK bool auth_scram_keys_from_password(const char *password, const uint8_t *salt,
					      size_t salt_len, uint32_t iterations,
					      struct scram_keys *out,
					      uint8_t client_key[SCRAM_KEY_LEN]);

enum scram_result {
	SCRAM_OK,	 /* step done; the output message is ready */
	SCRAM_BAD_PROOF, /* the peer's proof or signature is wrong: authentication failed */
	SCRAM_MALFORMED, /* the peer's message is not valid SCRAM: protocol violation */
	SCRAM_AUTHZID, /* client-first names an authorization identity: refused, as by PostgreSQL */
};

/* weir as SCRAM server (authenticating a client). Zero-initialise before first use. */
struct scram_server {
	struct scram_keys keys;
	char *client_first_bare;	   /* owned */
	char *server_first;		   /* owned */
	char *nonce;			   /* owned: client nonce + server nonce */
	uint8_t client_key[SCRAM_KEY_LEN]; /* recovered from the proof, valid after finish OK */
	bool mock;	    /* unknown user: run the exchange and always fail at the proof */
	bool cbind_offered; /* SCRAM-SHA-256-PLUS was offered: a 'y' flag is a downgrade */
	bool plus;	    /* the client chose SCRAM-SHA-256-PLUS: it must bind */
	uint8_t cbind_len;
	uint8_t cbind[SCRAM_CBIND_MAX]; /* our certificate's hash, for "c=" */
};

/*
 * Channel binding for the exchange, before server_first: data is the TLS server
 * certificate's hash when weir offered SCRAM-SHA-256-PLUS (len 0: not offered), plus
 * whether the client chose that mechanism. A hash over SCRAM_CBIND_MAX counts as none.
 */
void auth_scram_server_bind(struct scram_server *st, const uint8_t *data, size_t len, bool plus);

/* A server nonce (printable, NUL-terminated) from SCRAM_NONCE_LEN random bytes. */
void auth_scram_encode_nonce(const uint8_t raw[SCRAM_NONCE_LEN],
			     char out[SCRAM_NONCE_TEXT_LEN + 1]);

/*
 * Handles client-first-message and writes server-first-message (NUL-terminated) into out.
 * server_nonce comes from auth_scram_encode_nonce (tests pass the RFC's); when NULL,
 * random bytes are drawn here. SCRAM_AUTHZID when the gs2 header carries an authzid.
 */
enum scram_result auth_scram_server_first(struct scram_server *st, const struct scram_keys *keys,
					  const char *client_first, size_t len,
					  const char *server_nonce, char *out, size_t outcap);
/* Handles client-final-message; on SCRAM_OK writes server-final-message ("v=...") to out. */
enum scram_result auth_scram_server_final(struct scram_server *st, const char *client_final,
					  size_t len, char *out, size_t outcap);
/* Frees owned strings and wipes key material. */
void auth_scram_server_reset(struct scram_server *st);

/* weir as SCRAM client (logging in to PostgreSQL). Zero-initialise before first use. */
struct scram_client {
	char *client_nonce;	 /* owned */
	char *client_first_bare; /* owned */
	char *server_first;	 /* owned */
	uint8_t server_signature[SCRAM_KEY_LEN];
	bool signature_ready; /* client-final was built: server_signature is what to expect */
	char cbind_flag;      /* gs2 flag: 'n' (or 0), 'y' or 'p' */
	uint8_t cbind_len;
	uint8_t cbind[SCRAM_CBIND_MAX]; /* the server certificate's hash, with 'p' */
};

/*
 * Channel binding, before client_first: 'p' with the server certificate's hash (the server
 * offered SCRAM-SHA-256-PLUS over TLS), 'y' (weir could bind, the server did not offer
 * it), or 'n'. False for a bad flag or length.
 */
MUST_CHECK bool auth_scram_client_bind(struct scram_client *st, char flag, const uint8_t *data,
				       size_t len);

/*
 * Writes client-first-message (with gs2 header "n,,", "y,," or "p=tls-server-end-point,,")
 * into out. client_nonce is NULL in
 * production; tests pass the RFC's.
 */
MUST_CHECK bool auth_scram_client_first(struct scram_client *st, const char *client_nonce,
					char *out, size_t outcap);

/*
 * The client-final step in two parts, so that the PBKDF2 between them can run elsewhere:
 * read_first checks server-first-message (our nonce extended, a salt, an iteration count of
 * 1..UINT32_MAX: the caller decides whether it pays for that many) and keeps it, and tells
 * what the derivation needs; proof writes client-final-message from the keys and keeps the
 * ServerSignature that auth_scram_client_verify expects.
 */
enum scram_result auth_scram_client_read_first(struct scram_client *st, const char *server_first,
					       size_t len, struct scram_kdf_params *params);
enum scram_result auth_scram_client_proof(struct scram_client *st, const struct scram_keys *keys,
					  const uint8_t client_key[SCRAM_KEY_LEN], char *out,
					  size_t outcap);

/*
 * Both parts at once: handles server-first-message and writes client-final-message.
 * Credentials are either a password (PBKDF2 over the server's salt, on this thread) or the
 * keys of a cached verifier plus ClientKey (SCRAM pass-through); with keys, the server's
 * salt and iteration count must equal the verifier's or SCRAM_BAD_PROOF is returned.
 */
struct scram_client_creds {
	const char *password;	       /* or NULL */
	const struct scram_keys *keys; /* with client_key, when password is NULL */
	const uint8_t *client_key;     /* SCRAM_KEY_LEN bytes */
};
enum scram_result auth_scram_client_final(struct scram_client *st,
					  const struct scram_client_creds *creds,
					  const char *server_first, size_t len, char *out,
					  size_t outcap);
/* Checks server-final-message's signature; SCRAM_MALFORMED before client-final was built. */
enum scram_result auth_scram_client_verify(struct scram_client *st, const char *server_final,
					   size_t len);
void auth_scram_client_reset(struct scram_client *st);

/* Frees the calling thread's hashing context (a worker thread, as it ends). */
void auth_scram_thread_end(void);
