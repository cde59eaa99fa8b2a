/* SPDX-License-Identifier: ISC */
/*
 * TLS contexts and sessions (tls.h). A context is built whole from one config snapshot or
 * not at all, so that a broken certificate never replaces a working context. Sessions
 * release OpenSSL's buffers while idle (SSL_MODE_RELEASE_BUFFERS), take partial writes
 * from a buffer that may move between retries, never renegotiate and use no session
 * tickets or cache: a pooler's clients reconnect to get a fresh server, not a resumed
 * session.
 *
 * Entry points: tls_ctx_build, tls_ctx_ref, tls_ctx_unref, tls_session_new,
 * tls_session_free, tls_session_wbio_method, tls_describe, tls_alpn_postgresql,
 * tls_peer_common_name, tls_end_point, tls_settings_differ.
 */
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "conn_io.h"
#include "tls.h"

static const unsigned char alpn_postgresql[] = "\012postgresql"; /* length-prefixed */
#define ALPN_NAME     "postgresql"
#define ALPN_NAME_LEN 10

struct tls_ctx {
	SSL_CTX *ctx;
	BIO_METHOD *wbio; /* weir's write BIO for connections (conn_io.c) */
	unsigned refs;	  /* atomic */
	int mode;	  /* enum sslmode */
	enum tls_role role;
	bool verify_name; /* TLS_CONNECT with verify-full: check the host name */
};

/* The keys of one role, so that both are built by the same code. */
struct tls_settings {
	int mode;
	const char *key_file, *cert_file, *ca_file;
	const char *protocols, *ciphers, *ciphers13;
	const char *ecdhcurve, *dheparams; /* TLS_ACCEPT only */
};

static struct tls_settings settings_of(const struct config *cfg, enum tls_role role)
{
	if (role == TLS_ACCEPT)
		return (struct tls_settings){
			cfg->client_tls_sslmode,   cfg->client_tls_key_file,
			cfg->client_tls_cert_file, cfg->client_tls_ca_file,
			cfg->client_tls_protocols, cfg->client_tls_ciphers,
			cfg->client_tls13_ciphers, cfg->client_tls_ecdhcurve,
			cfg->client_tls_dheparams,
		};
	return (struct tls_settings){
		cfg->server_tls_sslmode,
		cfg->server_tls_key_file,
		cfg->server_tls_cert_file,
		cfg->server_tls_ca_file,
		cfg->server_tls_protocols,
		cfg->server_tls_ciphers,
		cfg->server_tls13_ciphers,
		"auto",
		"auto",
	};
}

static bool same(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

bool tls_settings_differ(const struct config *a, const struct config *b, enum tls_role role)
{
	struct tls_settings x = settings_of(a, role), y = settings_of(b, role);

	return x.mode != y.mode || !same(x.key_file, y.key_file) ||
	       !same(x.cert_file, y.cert_file) || !same(x.ca_file, y.ca_file) ||
	       !same(x.protocols, y.protocols) || !same(x.ciphers, y.ciphers) ||
	       !same(x.ciphers13, y.ciphers13) || !same(x.ecdhcurve, y.ecdhcurve) ||
	       !same(x.dheparams, y.dheparams);
}

/* The last OpenSSL error after what, into err. */
static bool fail(char *err, size_t len, const char *what, const char *arg)
{
	unsigned long e = ERR_get_error();
	char reason[256] = "";

	if (e)
		ERR_error_string_n(e, reason, sizeof(reason));
	ERR_clear_error();
	snprintf(err, len, "%s%s%s%s%s", what, arg ? " \"" : "", arg ? arg : "", arg ? "\"" : "",
		 reason[0] ? ": " : "");
	if (reason[0])
		snprintf(err + strlen(err), len - strlen(err), "%s", reason);
	return false;
}

/* One protocol name's bit: 0 tlsv1.0 .. 3 tlsv1.3; -1 if unknown. */
static int protocol_bit(const char *name, size_t n)
{
	static const char *const names[] = { "tlsv1.0", "tlsv1.1", "tlsv1.2", "tlsv1.3" };

	for (int i = 0; i < 4; i++)
		if (strlen(names[i]) == n && strncasecmp(name, names[i], n) == 0)
			return i;
	return -1;
}

/* *_tls_protocols as a set of bits; false if a name is unknown. */
static bool parse_protocols(const char *list, unsigned *set)
{
	*set = 0;
	for (const char *p = list; *p;) {
		size_t n;
		int bit;

		p += strspn(p, ", \t");
		n = strcspn(p, ", \t");
		if (n == 0)
			break;
		if ((n == 3 && strncasecmp(p, "all", 3) == 0) ||
		    (n == 6 && strncasecmp(p, "legacy", 6) == 0))
			*set |= 0xf;
		else if (n == 6 && strncasecmp(p, "secure", 6) == 0)
			*set |= 0xc;
		else if ((bit = protocol_bit(p, n)) >= 0)
			*set |= 1u << bit;
		else
			return false;
		p += n;
	}
	return *set != 0;
}

static bool set_protocols(SSL_CTX *ctx, const char *list, char *err, size_t len)
{
	static const long no_opts[] = { SSL_OP_NO_TLSv1, SSL_OP_NO_TLSv1_1, SSL_OP_NO_TLSv1_2,
					SSL_OP_NO_TLSv1_3 };
	unsigned set;

	if (!parse_protocols(list, &set)) {
		snprintf(err, len, "invalid TLS protocols \"%s\"", list);
		return false;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
	for (int i = 0; i < 4; i++)
		if (!(set & (1u << i)))
			SSL_CTX_set_options(ctx, (uint64_t)no_opts[i]);
	return true;
}

static bool is_default_ciphers(const char *c)
{
	return !c || !*c || strcasecmp(c, "default") == 0 || strcasecmp(c, "secure") == 0 ||
	       strcasecmp(c, "fast") == 0 || strcasecmp(c, "normal") == 0;
}

static bool set_ciphers(SSL_CTX *ctx, const struct tls_settings *s, char *err, size_t len)
{
	if (!is_default_ciphers(s->ciphers) &&
	    !SSL_CTX_set_cipher_list(ctx, strcasecmp(s->ciphers, "all") == 0 ? "ALL" : s->ciphers))
		return fail(err, len, "invalid TLS ciphers", s->ciphers);
	if (s->ciphers13 && *s->ciphers13 && !SSL_CTX_set_ciphersuites(ctx, s->ciphers13))
		return fail(err, len, "failed to set the TLSv1.3 cipher suites", s->ciphers13);
	return true;
}

static bool set_key_exchange(SSL_CTX *ctx, const struct tls_settings *s, char *err, size_t len)
{
	if (strcasecmp(s->ecdhcurve, "auto") != 0 && strcasecmp(s->ecdhcurve, "none") != 0 &&
	    !SSL_CTX_set1_groups_list(ctx, s->ecdhcurve))
		return fail(err, len, "invalid client_tls_ecdhcurve", s->ecdhcurve);
	if (strcasecmp(s->dheparams, "none") == 0)
		return true;
	if (strcasecmp(s->dheparams, "auto") != 0 && strcasecmp(s->dheparams, "legacy") != 0) {
		snprintf(err, len, "invalid client_tls_dheparams \"%s\"", s->dheparams);
		return false;
	}
	SSL_CTX_set_dh_auto(ctx, 1); /* "legacy" too: OpenSSL 3 picks a safe size */
	return true;
}

static bool load_cert(SSL_CTX *ctx, const struct tls_settings *s, char *err, size_t len)
{
	bool have_cert = s->cert_file && *s->cert_file, have_key = s->key_file && *s->key_file;

	if (have_cert != have_key) {
		snprintf(err, len, "%s_tls_key_file and %s_tls_cert_file must be set together",
			 s->dheparams ? "client" : "server", s->dheparams ? "client" : "server");
		return false;
	}
	if (!have_cert)
		return true;
	if (SSL_CTX_use_certificate_chain_file(ctx, s->cert_file) != 1)
		return fail(err, len, "cannot load certificate", s->cert_file);
	if (SSL_CTX_use_PrivateKey_file(ctx, s->key_file, SSL_FILETYPE_PEM) != 1)
		return fail(err, len, "cannot load private key", s->key_file);
	if (SSL_CTX_check_private_key(ctx) != 1)
		return fail(err, len, "private key does not match the certificate", s->key_file);
	return true;
}

/* ALPN: "postgresql" or nothing; a client offering only other protocols is refused. */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	for (unsigned i = 0; i < inlen; i += 1u + in[i]) {
		if (in[i] == ALPN_NAME_LEN && i + 1u + ALPN_NAME_LEN <= inlen &&
		    memcmp(in + i + 1, ALPN_NAME, ALPN_NAME_LEN) == 0) {
			*out = in + i + 1;
			*outlen = ALPN_NAME_LEN;
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static bool setup_accept(struct tls_ctx *t, const struct tls_settings *s, char *err, size_t len)
{
	SSL_CTX *ctx = t->ctx;

	if (!s->cert_file || !*s->cert_file) {
		snprintf(err, len,
			 "client_tls_sslmode=%s needs client_tls_key_file and client_tls_cert_file",
			 sslmode_name(s->mode));
		return false;
	}
	if (!set_key_exchange(ctx, s, err, len))
		return false;
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
	if (s->ca_file && *s->ca_file) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(s->ca_file);

		if (!names || SSL_CTX_load_verify_locations(ctx, s->ca_file, NULL) != 1) {
			sk_X509_NAME_pop_free(names, X509_NAME_free);
			return fail(err, len, "cannot load client_tls_ca_file", s->ca_file);
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		/* a certificate is asked for (auth by cert); verify-ca/full demand one */
		SSL_CTX_set_verify(
		    ctx,
		    SSL_VERIFY_PEER |
			(s->mode >= SSLMODE_VERIFY_CA ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
		    NULL);
	} else if (s->mode >= SSLMODE_VERIFY_CA) {
		snprintf(err, len, "client_tls_sslmode=%s needs client_tls_ca_file",
			 sslmode_name(s->mode));
		return false;
	}
	return true;
}

static bool setup_connect(struct tls_ctx *t, const struct tls_settings *s, char *err, size_t len)
{
	SSL_CTX *ctx = t->ctx;

	if (SSL_CTX_set_alpn_protos(ctx, alpn_postgresql, sizeof(alpn_postgresql) - 1) != 0)
		return fail(err, len, "cannot set ALPN", NULL);
	if (s->ca_file && *s->ca_file) {
		if (SSL_CTX_load_verify_locations(ctx, s->ca_file, NULL) != 1)
			return fail(err, len, "cannot load server_tls_ca_file", s->ca_file);
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		return fail(err, len, "cannot load the system's CA certificates", NULL);
	}
	SSL_CTX_set_verify(ctx, s->mode >= SSLMODE_VERIFY_CA ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
			   NULL);
	t->verify_name = s->mode == SSLMODE_VERIFY_FULL;
	return true;
}

static bool setup(struct tls_ctx *t, const struct tls_settings *s, char *err, size_t len)
{
	SSL_CTX *ctx = t->ctx;

	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
				     SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				  SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (!set_protocols(ctx, s->protocols, err, len) || !set_ciphers(ctx, s, err, len) ||
	    !load_cert(ctx, s, err, len))
		return false;
	return t->role == TLS_ACCEPT ? setup_accept(t, s, err, len) : setup_connect(t, s, err, len);
}

struct tls_ctx *tls_ctx_build(const struct config *cfg, enum tls_role role, char *err,
			      size_t errlen)
{
	struct tls_settings s = settings_of(cfg, role);
	struct tls_ctx *t;

	err[0] = '\0';
	if (s.mode == SSLMODE_DISABLE)
		return NULL;
	if (role == TLS_CONNECT)
		s.ecdhcurve = s.dheparams = NULL;
	t = xcalloc(1, sizeof(*t));
	t->refs = 1;
	t->mode = s.mode;
	t->role = role;
	ERR_clear_error();
	t->ctx = SSL_CTX_new(role == TLS_ACCEPT ? TLS_server_method() : TLS_client_method());
	t->wbio = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "weir-conn");
	if (!t->ctx || !t->wbio || BIO_meth_set_write(t->wbio, conn_io_wbio_write) != 1 ||
	    BIO_meth_set_ctrl(t->wbio, conn_io_wbio_ctrl) != 1)
		fail(err, errlen, "cannot create a TLS context", NULL);
	else if (setup(t, &s, err, errlen))
		return t;
	tls_ctx_unref(t);
	return NULL;
}

struct tls_ctx *tls_ctx_ref(struct tls_ctx *t)
{
	if (t)
		__atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
	return t;
}

void tls_ctx_unref(struct tls_ctx *t)
{
	if (!t || __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	SSL_CTX_free(t->ctx);
	BIO_meth_free(t->wbio);
	free(t);
}

int tls_ctx_mode(const struct tls_ctx *t)
{
	return t ? t->mode : SSLMODE_DISABLE;
}

/* Under verify-full, the name or address the certificate must be issued for. */
static bool set_identity(SSL *ssl, const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;
	bool is_addr = inet_pton(AF_INET, host, &a4) == 1 || inet_pton(AF_INET6, host, &a6) == 1;

	if (is_addr)
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1;
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	return SSL_set1_host(ssl, host) == 1;
}

static bool is_address(const char *host)
{
	uint8_t a[16];

	return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

SSL *tls_session_new(struct tls_ctx *t, int fd, const char *host)
{
	SSL *ssl = SSL_new(t->ctx);

	if (!ssl)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1 ||
	    (t->role == TLS_CONNECT && host && host[0] && !is_address(host) &&
	     SSL_set_tlsext_host_name(ssl, host) != 1) ||
	    (t->verify_name && host && !set_identity(ssl, host))) {
		SSL_free(ssl);
		return NULL;
	}
	if (t->role == TLS_ACCEPT)
		SSL_set_accept_state(ssl);
	else
		SSL_set_connect_state(ssl);
	SSL_set_app_data(ssl, tls_ctx_ref(t));
	return ssl;
}

void tls_session_free(SSL *ssl)
{
	struct tls_ctx *t;

	if (!ssl)
		return;
	t = SSL_get_app_data(ssl);
	SSL_free(ssl); /* first: its BIOs use the context's BIO_METHOD */
	tls_ctx_unref(t);
}

const BIO_METHOD *tls_session_wbio_method(SSL *ssl)
{
	return ((const struct tls_ctx *)SSL_get_app_data(ssl))->wbio;
}

void tls_describe(SSL *ssl, char *buf, size_t len)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);

	snprintf(buf, len, "%s/%s", SSL_get_version(ssl), c ? SSL_CIPHER_get_name(c) : "none");
}

bool tls_alpn_postgresql(SSL *ssl)
{
	const unsigned char *p;
	unsigned n;

	SSL_get0_alpn_selected(ssl, &p, &n);
	return n == ALPN_NAME_LEN && memcmp(p, ALPN_NAME, n) == 0;
}

bool tls_peer_common_name(SSL *ssl, char *buf, size_t len)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);
	X509_NAME *name = cert ? X509_get_subject_name(cert) : NULL;
	int n;

	if (!name || SSL_get_verify_result(ssl) != X509_V_OK)
		return false;
	n = X509_NAME_get_text_by_NID(name, NID_commonName, buf, (int)len);
	/* a name with an embedded NUL is not a name */
	return n > 0 && (size_t)n < len && strlen(buf) == (size_t)n;
}

size_t tls_end_point(SSL *ssl, enum tls_role role, uint8_t out[TLS_END_POINT_MAX])
{
	X509 *cert = role == TLS_ACCEPT ? SSL_get_certificate(ssl) : SSL_get0_peer_certificate(ssl);
	const EVP_MD *md;
	unsigned len = 0;
	int md_nid = NID_undef;

	if (!cert || !OBJ_find_sigid_algs(X509_get_signature_nid(cert), &md_nid, NULL))
		return 0;
	/* RFC 5929 4.1: MD5 and SHA-1 become SHA-256 */
	md = md_nid == NID_md5 || md_nid == NID_sha1 ? EVP_sha256() : EVP_get_digestbynid(md_nid);
	if (!md || X509_digest(cert, md, out, &len) != 1)
		return 0;
	return len;
}
