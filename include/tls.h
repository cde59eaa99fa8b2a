/* SPDX-License-Identifier: ISC */
/*
 * TLS contexts (tls.c): one for accepting clients (client_tls_*), one for connecting to
 * PostgreSQL (server_tls_*). They are built from a config snapshot, by start-up and by
 * reload before the swap, and reference-counted: a live connection keeps the context it
 * started with, a new one takes the registry's current context. Reading and writing a TLS
 * connection is conn_io.c's; this module builds contexts and sessions and describes them.
 */
#pragma once

#include "common.h"

struct config;
struct conn;
typedef struct ssl_st SSL;
typedef struct bio_method_st BIO_METHOD;

enum tls_role {
	TLS_ACCEPT, /* weir is the TLS server: towards clients */
	TLS_CONNECT /* weir is the TLS client: towards PostgreSQL */
};

#define TLS_END_POINT_MAX 64 /* EVP_MAX_MD_SIZE */

struct tls_ctx;

/*
 * The context the config asks for: NULL with err[0] == '\0' when its sslmode is disable
 * (accept) or when nothing is needed; NULL with the reason in err when a file or a setting
 * is wrong. The result holds one reference.
 */
struct tls_ctx *tls_ctx_build(const struct config *cfg, enum tls_role role, char *err,
			      size_t errlen);
struct tls_ctx *tls_ctx_ref(struct tls_ctx *t);
void tls_ctx_unref(struct tls_ctx *t);
/* The sslmode the context was built for (enum sslmode). */
int tls_ctx_mode(const struct tls_ctx *t);

/*
 * A new session on fd, holding a reference to t until tls_session_free. For TLS_CONNECT,
 * host is the name or address the server was reached by: SNI for a name, and the
 * identity checked under verify-full.
 */
SSL *tls_session_new(struct tls_ctx *t, int fd, const char *host);
void tls_session_free(SSL *ssl);
/* The session's context's BIO_METHOD for weir's connection writes (conn_tls_attach). */
const BIO_METHOD *tls_session_wbio_method(SSL *ssl);

/* "TLSv1.3/TLS_AES_256_GCM_SHA384" into buf (SHOW CLIENTS/SERVERS `tls`, login log). */
void tls_describe(SSL *ssl, char *buf, size_t len);
/* Whether the peer negotiated ALPN "postgresql" (direct TLS requires it). */
bool tls_alpn_postgresql(SSL *ssl);
/* The verified peer certificate's CommonName into buf; false if there is none. */
bool tls_peer_common_name(SSL *ssl, char *buf, size_t len);
/*
 * tls-server-end-point channel binding data (RFC 5929): the hash of the TLS server's
 * certificate, ours when accepting, the peer's when connecting. Returns its length, 0 if
 * there is no certificate.
 */
size_t tls_end_point(SSL *ssl, enum tls_role role, uint8_t out[TLS_END_POINT_MAX]);

/* Whether two snapshots differ in a setting of role's context (server retirement). */
bool tls_settings_differ(const struct config *a, const struct config *b, enum tls_role role);
