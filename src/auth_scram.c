/* SPDX-License-Identifier: ISC */
/*
 * SCRAM-SHA-256 (RFC 5802 with the SHA-256 profile of RFC 7677) in both roles. Owns the
 * parsing of verifiers and of the four SCRAM messages, the key derivation and the proof and
 * signature arithmetic. It does not frame messages (wire_build.c), read password files
 * (auth_file.c) or decide what a failure means for the connection (the login code).
 *
 * Entry points: auth_scram_parse_verifier, auth_scram_salted_password (PBKDF2, the one call
 * that may run on another thread), auth_scram_keys_from_salted and
 * auth_scram_keys_from_password for keys; auth_scram_server_first/_final/_reset when weir
 * authenticates a client; auth_scram_client_first/_read_first/_proof/_final/_verify/_reset
 * when weir logs in to PostgreSQL.
 *
 * Every message is parsed through a bounded attribute reader over (pointer, length), never
 * as a C string, so a peer cannot make us read past its message. Passwords are used as bytes:
 * PostgreSQL's SASLprep is the identity for ASCII passwords, and non-ASCII ones that it would
 * normalise are not supported here.
 */
#include <limits.h>
#include <stdarg.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "auth_scram.h"

#define SCRAM_MOCK_SALT_LEN   16
#define SCRAM_MOCK_ITERATIONS 4096
#define VERIFIER_PREFIX	      "SCRAM-SHA-256$"

/* Characters of base64 text for n bytes (without the NUL); an array size, hence a macro. */
#define B64_LEN(n) ((((n) + 2) / 3) * 4)
_Static_assert(B64_LEN(SCRAM_NONCE_LEN) == SCRAM_NONCE_TEXT_LEN, "nonce text length");
/* The longest base64 text we decode: a SCRAM_MAX_SALT_LEN salt (88 characters), rounded up. */
#define B64_MAX_TEXT 128

/* A bounded view into a message that is not NUL-terminated. */
struct span {
	const char *p;
	size_t len;
};

/*
 * Reader over "name=value,name=value" (RFC 5802 section 5.1) with a sticky failure flag,
 * the same discipline as struct wire_reader.
 */
struct attr_reader {
	const char *p;
	size_t len;
	size_t pos;
	bool failed;
};

struct client_final_msg {
	struct span cbind;
	struct span nonce;
	struct span proof;
	struct span without_proof;
};

struct server_first_msg {
	struct span nonce;
	struct span salt;
	uint32_t iterations;
};

static bool write_out(char *out, size_t cap, const char *fmt, ...) PRINTF_FMT(3, 4);

/* ---- small helpers ---- */

static bool write_out(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!out || cap == 0)
		return false;
	va_start(ap, fmt);
	n = vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	return n >= 0 && (size_t)n < cap;
}

static bool has_nul(const char *msg, size_t len)
{
	return memchr(msg, '\0', len) != NULL;
}

static bool span_eq_str(struct span s, const char *str)
{
	return strlen(str) == s.len && memcmp(s.p, str, s.len) == 0;
}

/* RFC 5802 "printable": %x21-2B / %x2D-7E, i.e. visible ASCII except ','. */
static bool nonce_ok(struct span s)
{
	if (s.len == 0)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		if (s.p[i] < 0x21 || s.p[i] > 0x7e || s.p[i] == ',')
			return false;
	}
	return true;
}

static bool iterations_ok(uint32_t iterations)
{
	return iterations >= 1 && iterations <= SCRAM_MAX_ITERATIONS;
}

/* Decimal digits only, at least 1 and at most max; refused before the value can wrap. */
static bool parse_count(struct span s, uint32_t max, uint32_t *out)
{
	uint32_t v = 0, digit;

	if (s.len == 0)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
		digit = (uint32_t)(s.p[i] - '0');
		if (v > (max - digit) / 10)
			return false;
		v = v * 10 + digit;
	}
	*out = v;
	return v >= 1;
}

static void xor_bytes(uint8_t *dst, const uint8_t *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = a[i] ^ b[i];
}

/* ---- base64 ---- */

/* out must have room for B64_LEN(n) + 1 characters. */
static void b64_encode(const uint8_t *in, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/*
 * Strict base64: padded, no whitespace, canonical. EVP_DecodeBlock skips whitespace, counts
 * padding as decoded zero bytes and ignores the unused bits of the last character, so the
 * padding is subtracted after decoding and the result re-encoded: only text identical to
 * the canonical encoding is accepted. The decoded length must lie within [min, max].
 */
static bool b64_decode(struct span in, uint8_t *out, size_t min, size_t max, size_t *outlen)
{
	uint8_t scratch[B64_MAX_TEXT / 4 * 3];
	char again[B64_MAX_TEXT + 1];
	size_t pad, n;
	bool ok;
	int got;

	if (in.len == 0 || in.len % 4 != 0 || in.len > B64_MAX_TEXT)
		return false;
	pad = (size_t)(in.p[in.len - 1] == '=') + (size_t)(in.p[in.len - 2] == '=');
	got = EVP_DecodeBlock(scratch, (const unsigned char *)in.p, (int)in.len);
	if (got < 0 || (size_t)got < pad)
		return false;
	n = (size_t)got - pad;
	b64_encode(scratch, n, again);
	ok = n >= min && n <= max && B64_LEN(n) == in.len && memcmp(again, in.p, in.len) == 0;
	if (ok) {
		memcpy(out, scratch, n);
		*outlen = n;
	}
	OPENSSL_cleanse(scratch, sizeof(scratch));
	OPENSSL_cleanse(again, sizeof(again));
	return ok;
}

/* ---- hashing ---- */

#define SHA256_BLOCK 64

/*
 * SHA-256 through one digest object fetched once and one context reused for every hash.
 * OpenSSL 3's one-shot HMAC() and EVP_Digest() with EVP_sha256() look the algorithm up in
 * the provider store (locks, a hash table, parameter parsing) and allocate contexts on every
 * call; that cost half the instructions of a SCRAM login. Each thread has its own, set up on
 * first use. The KDF threads (kdf.c) call auth_scram_salted_password alone, which does not
 * touch it.
 */
struct sha256_engine {
	EVP_MD *md;
	EVP_MD_CTX *ctx;
};

/* One per thread: each worker hashes with its own context, and frees it as it ends. */
static _Thread_local struct sha256_engine thread_engine;

static struct sha256_engine *engine(void)
{
	struct sha256_engine *e = &thread_engine;

	if (!e->md) {
		e->md = EVP_MD_fetch(NULL, "SHA256", NULL);
		e->ctx = EVP_MD_CTX_new();
		if (!e->md || !e->ctx) {
			EVP_MD_free(e->md);
			EVP_MD_CTX_free(e->ctx);
			e->md = NULL;
			e->ctx = NULL;
		}
	}
	return e->md ? e : NULL;
}

void auth_scram_thread_end(void)
{
	EVP_MD_free(thread_engine.md);
	EVP_MD_CTX_free(thread_engine.ctx);
	thread_engine.md = NULL;
	thread_engine.ctx = NULL;
}

/* SHA-256 of a and then b (b may be empty). */
static bool sha256_two(const void *a, size_t alen, const void *b, size_t blen,
		       uint8_t out[SCRAM_KEY_LEN])
{
	struct sha256_engine *e = engine();
	unsigned int outlen = 0;

	return e && EVP_DigestInit_ex2(e->ctx, e->md, NULL) && EVP_DigestUpdate(e->ctx, a, alen) &&
	       (blen == 0 || EVP_DigestUpdate(e->ctx, b, blen)) &&
	       EVP_DigestFinal_ex(e->ctx, out, &outlen) && outlen == SCRAM_KEY_LEN;
}

static bool sha256(const void *data, size_t len, uint8_t out[SCRAM_KEY_LEN])
{
	return sha256_two(data, len, NULL, 0, out);
}

/* HMAC-SHA-256 (RFC 2104): H((K ^ opad) || H((K ^ ipad) || data)). */
static bool hmac_sha256(const uint8_t *key, size_t keylen, const void *data, size_t len,
			uint8_t out[SCRAM_KEY_LEN])
{
	uint8_t k[SHA256_BLOCK] = { 0 }, pad[SHA256_BLOCK], inner[SCRAM_KEY_LEN];
	bool ok = true;

	if (keylen > SHA256_BLOCK)
		ok = sha256(key, keylen, k);
	else
		memcpy(k, key, keylen);
	for (int i = 0; i < SHA256_BLOCK; i++)
		pad[i] = k[i] ^ 0x36;
	ok = ok && sha256_two(pad, sizeof(pad), data, len, inner);
	for (int i = 0; i < SHA256_BLOCK; i++)
		pad[i] = k[i] ^ 0x5c;
	ok = ok && sha256_two(pad, sizeof(pad), inner, sizeof(inner), out);
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(inner, sizeof(inner));
	return ok;
}

/* AuthMessage = client-first-bare "," server-first "," client-final-without-proof. */
static char *auth_message(const char *bare, const char *server_first, struct span final_wo,
			  size_t *len)
{
	size_t blen = strlen(bare), slen = strlen(server_first);
	char *msg = xmalloc(blen + slen + final_wo.len + 3);

	memcpy(msg, bare, blen);
	msg[blen] = ',';
	memcpy(msg + blen + 1, server_first, slen);
	msg[blen + 1 + slen] = ',';
	memcpy(msg + blen + slen + 2, final_wo.p, final_wo.len);
	*len = blen + slen + 2 + final_wo.len;
	msg[*len] = '\0';
	return msg;
}

/* ---- keys ---- */

static bool kdf_params_ok(const uint8_t *salt, size_t salt_len, uint32_t iterations)
{
	return salt && salt_len > 0 && salt_len <= SCRAM_MAX_SALT_LEN && iterations_ok(iterations);
}

bool auth_scram_salted_password(const char *password, const uint8_t *salt, size_t salt_len,
				uint32_t iterations, uint8_t out[SCRAM_KEY_LEN])
{
	size_t pwlen;

	if (!password || !kdf_params_ok(salt, salt_len, iterations))
		return false;
	pwlen = strlen(password);
	if (pwlen > INT_MAX)
		return false;
	/* SaltedPassword = Hi(password, salt, i), RFC 5802 section 3: PBKDF2 with HMAC. */
	if (PKCS5_PBKDF2_HMAC(password, (int)pwlen, salt, (int)salt_len, (int)iterations,
			      EVP_sha256(), SCRAM_KEY_LEN, out) == 1)
		return true;
	OPENSSL_cleanse(out, SCRAM_KEY_LEN);
	return false;
}

bool auth_scram_keys_from_salted(const uint8_t salted[SCRAM_KEY_LEN], const uint8_t *salt,
				 size_t salt_len, uint32_t iterations, struct scram_keys *out,
				 uint8_t client_key[SCRAM_KEY_LEN])
{
	uint8_t ckey[SCRAM_KEY_LEN];
	bool ok;

	if (!kdf_params_ok(salt, salt_len, iterations))
		return false;
	memset(out, 0, sizeof(*out));
	ok = hmac_sha256(salted, SCRAM_KEY_LEN, "Client Key", 10, ckey) &&
	     hmac_sha256(salted, SCRAM_KEY_LEN, "Server Key", 10, out->server_key) &&
	     sha256(ckey, sizeof(ckey), out->stored_key);
	if (ok) {
		memcpy(out->salt, salt, salt_len);
		out->salt_len = salt_len;
		out->iterations = iterations;
		if (client_key)
			memcpy(client_key, ckey, SCRAM_KEY_LEN);
	} else {
		OPENSSL_cleanse(out, sizeof(*out));
	}
	OPENSSL_cleanse(ckey, sizeof(ckey));
	return ok;
}

bool auth_scram_keys_from_password(const char *password, const uint8_t *salt, size_t salt_len,
				   uint32_t iterations, struct scram_keys *out,
				   uint8_t client_key[SCRAM_KEY_LEN])
{
	uint8_t salted[SCRAM_KEY_LEN];
	bool ok = auth_scram_salted_password(password, salt, salt_len, iterations, salted) &&
		  auth_scram_keys_from_salted(salted, salt, salt_len, iterations, out, client_key);

	OPENSSL_cleanse(salted, sizeof(salted));
	return ok;
}

/* Cuts the text up to the next `sep` off *p into *out; false if there is no `sep`. */
static bool split_at(const char **p, char sep, struct span *out)
{
	const char *end = strchr(*p, sep);

	if (!end)
		return false;
	*out = (struct span){ *p, (size_t)(end - *p) };
	*p = end + 1;
	return true;
}

bool auth_scram_parse_verifier(const char *secret, struct scram_keys *out)
{
	struct scram_keys k = { 0 };
	struct span iter, salt, stored, server;
	const char *p;
	size_t n;
	bool ok;

	if (!secret || strncmp(secret, VERIFIER_PREFIX, strlen(VERIFIER_PREFIX)) != 0)
		return false;
	p = secret + strlen(VERIFIER_PREFIX);
	if (!split_at(&p, ':', &iter) || !split_at(&p, '$', &salt) || !split_at(&p, ':', &stored))
		return false;
	server = (struct span){ p, strlen(p) };
	ok = parse_count(iter, SCRAM_MAX_ITERATIONS, &k.iterations) &&
	     b64_decode(salt, k.salt, 1, SCRAM_MAX_SALT_LEN, &k.salt_len) &&
	     b64_decode(stored, k.stored_key, SCRAM_KEY_LEN, SCRAM_KEY_LEN, &n) &&
	     b64_decode(server, k.server_key, SCRAM_KEY_LEN, SCRAM_KEY_LEN, &n);
	if (ok)
		*out = k;
	OPENSSL_cleanse(&k, sizeof(k));
	return ok;
}

/* ---- attribute reader ---- */

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* The name of the next attribute when "x=" is ahead, else 0. */
static char attr_peek(const struct attr_reader *r)
{
	if (r->failed || r->len - r->pos < 2 || r->p[r->pos + 1] != '=')
		return 0;
	return r->p[r->pos];
}

/*
 * Reads "<name>=<value>" and the ',' after it. Fails the reader when the name differs, the
 * value is empty and may not be, or a ',' ends the message.
 */
static struct span attr_get(struct attr_reader *r, char name, bool allow_empty)
{
	struct span v = { "", 0 };
	const char *comma;

	if (name == 0 || attr_peek(r) != name) {
		r->failed = true;
		return v;
	}
	r->pos += 2;
	v.p = r->p + r->pos;
	comma = memchr(v.p, ',', r->len - r->pos);
	v.len = comma ? (size_t)(comma - v.p) : r->len - r->pos;
	r->pos += v.len;
	if (comma && ++r->pos == r->len)
		r->failed = true;
	if (v.len == 0 && !allow_empty)
		r->failed = true;
	return v;
}

/* Skips optional extension attributes up to attribute `stop` (0: up to the end). */
static void attr_skip_extensions(struct attr_reader *r, char stop)
{
	while (!r->failed && r->pos < r->len) {
		char c = attr_peek(r);

		if (c != 0 && c == stop)
			return;
		if (!is_alpha(c)) {
			r->failed = true;
			return;
		}
		(void)attr_get(r, c, false);
	}
}

/* ---- server role ---- */

/*
 * client-first-message = gs2-header client-first-message-bare, where gs2-header is
 * flag ["=" cb-name] "," [authzid] "," (RFC 5802 section 7). An authzid is refused as
 * PostgreSQL refuses it (SCRAM_AUTHZID); the username is ignored (PostgreSQL clients send
 * it empty). Channel binding follows RFC 5802 section 6 as PostgreSQL does: 'p' only with
 * the -PLUS mechanism and tls-server-end-point, 'n' only without it, and 'y' (the client
 * could bind but thinks the server cannot) is a downgrade when -PLUS was offered.
 */
static size_t gs2_flag_len(const struct scram_server *st, const char *msg, size_t len)
{
	static const char p_flag[] = "p=" SCRAM_CBIND_TYPE;
	size_t n = sizeof(p_flag) - 1;

	switch (msg[0]) {
	case 'n':
		return st->plus ? 0 : 1;
	case 'y':
		return st->plus || st->cbind_offered ? 0 : 1;
	case 'p':
		return st->plus && st->cbind_len > 0 && len > n && memcmp(msg, p_flag, n) == 0 ? n
											       : 0;
	default:
		return 0;
	}
}

static enum scram_result parse_client_first(const struct scram_server *st, const char *msg,
					    size_t len, struct span *gs2, struct span *bare,
					    struct span *cnonce)
{
	size_t f = len > 0 ? gs2_flag_len(st, msg, len) : 0;
	struct attr_reader r = { msg, len, f + 2, false };

	if (f == 0 || len < f + 2 || msg[f] != ',')
		return SCRAM_MALFORMED;
	if (msg[f + 1] == 'a')
		return SCRAM_AUTHZID;
	if (msg[f + 1] != ',')
		return SCRAM_MALFORMED;
	*gs2 = (struct span){ msg, f + 2 };
	*bare = (struct span){ msg + f + 2, len - f - 2 };
	if (attr_peek(&r) == 'm') /* mandatory extension we do not know */
		return SCRAM_MALFORMED;
	(void)attr_get(&r, 'n', true);
	*cnonce = attr_get(&r, 'r', false);
	attr_skip_extensions(&r, 0);
	return !r.failed && nonce_ok(*cnonce) ? SCRAM_OK : SCRAM_MALFORMED;
}

/*
 * client_first_bare is stored as "<bare>\0<expected c= value>\0": struct scram_server has
 * no field for the channel-binding value that client-final must echo in "c=" (base64 of
 * the gs2 header, followed by the certificate hash with 'p'), so it travels in the same
 * allocation after the bare message's terminator.
 */
static char *store_bare_and_cbind(const struct scram_server *st, struct span gs2, struct span bare)
{
	size_t cb = gs2.p[0] == 'p' ? st->cbind_len : 0;
	uint8_t input[64 + SCRAM_CBIND_MAX];
	char *s = xmalloc(bare.len + 1 + B64_LEN(gs2.len + cb) + 1);

	memcpy(s, bare.p, bare.len);
	s[bare.len] = '\0';
	memcpy(input, gs2.p, gs2.len);
	if (cb > 0)
		memcpy(input + gs2.len, st->cbind, cb);
	b64_encode(input, gs2.len + cb, s + bare.len + 1);
	return s;
}

void auth_scram_server_bind(struct scram_server *st, const uint8_t *data, size_t len, bool plus)
{
	if (len > SCRAM_CBIND_MAX)
		len = 0;
	if (len > 0)
		memcpy(st->cbind, data, len);
	st->cbind_len = (uint8_t)len;
	st->cbind_offered = len > 0;
	st->plus = plus;
}

static const char *expected_cbind(const struct scram_server *st)
{
	return st->client_first_bare + strlen(st->client_first_bare) + 1;
}

/*
 * Keys for the exchange: the caller's when they are usable, else, for a mock exchange,
 * random ones (a mock caller may pass zeroed keys, or keys with a salt of its choosing).
 */
static bool server_keys(struct scram_server *st, const struct scram_keys *keys)
{
	struct scram_keys *k = &st->keys;

	if (keys && keys->salt_len >= 1 && keys->salt_len <= SCRAM_MAX_SALT_LEN &&
	    iterations_ok(keys->iterations)) {
		*k = *keys;
		return true;
	}
	if (!st->mock)
		return false;
	k->salt_len = SCRAM_MOCK_SALT_LEN;
	k->iterations = SCRAM_MOCK_ITERATIONS;
	return RAND_bytes(k->salt, SCRAM_MOCK_SALT_LEN) == 1 &&
	       RAND_bytes(k->stored_key, SCRAM_KEY_LEN) == 1 &&
	       RAND_bytes(k->server_key, SCRAM_KEY_LEN) == 1;
}

void auth_scram_encode_nonce(const uint8_t raw[SCRAM_NONCE_LEN], char out[SCRAM_NONCE_TEXT_LEN + 1])
{
	b64_encode(raw, SCRAM_NONCE_LEN, out);
}

/* A fresh nonce: SCRAM_NONCE_LEN random bytes in base64. */
static bool random_nonce(char out[SCRAM_NONCE_TEXT_LEN + 1])
{
	uint8_t raw[SCRAM_NONCE_LEN];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return false;
	auth_scram_encode_nonce(raw, out);
	return true;
}

enum scram_result auth_scram_server_first(struct scram_server *st, const struct scram_keys *keys,
					  const char *client_first, size_t len,
					  const char *server_nonce, char *out, size_t outcap)
{
	char nonce_buf[B64_LEN(SCRAM_NONCE_LEN) + 1];
	char salt_b64[B64_LEN(SCRAM_MAX_SALT_LEN) + 1];
	struct span gs2, bare, cnonce;
	enum scram_result res;

	if (st->nonce || !client_first || len > INT_MAX || has_nul(client_first, len))
		return SCRAM_MALFORMED;
	res = parse_client_first(st, client_first, len, &gs2, &bare, &cnonce);
	if (res != SCRAM_OK)
		return res;
	if (!server_keys(st, keys))
		return SCRAM_MALFORMED;
	if (!server_nonce) {
		if (!random_nonce(nonce_buf))
			return SCRAM_MALFORMED;
		server_nonce = nonce_buf;
	}
	if (!nonce_ok((struct span){ server_nonce, strlen(server_nonce) }))
		return SCRAM_MALFORMED;
	b64_encode(st->keys.salt, st->keys.salt_len, salt_b64);
	if (!write_out(out, outcap, "r=%.*s%s,s=%s,i=%u", (int)cnonce.len, cnonce.p, server_nonce,
		       salt_b64, st->keys.iterations))
		return SCRAM_MALFORMED;
	st->nonce = xstrndup(out + 2, cnonce.len + strlen(server_nonce));
	st->server_first = xstrdup(out);
	st->client_first_bare = store_bare_and_cbind(st, gs2, bare);
	return SCRAM_OK;
}

/* client-final-message = channel-binding "," nonce ["," extensions] "," proof. */
static bool parse_client_final(const char *msg, size_t len, struct client_final_msg *cf)
{
	struct attr_reader r = { msg, len, 0, false };
	size_t proof_at;

	cf->cbind = attr_get(&r, 'c', false);
	cf->nonce = attr_get(&r, 'r', false);
	attr_skip_extensions(&r, 'p');
	proof_at = r.pos;
	cf->proof = attr_get(&r, 'p', false);
	if (r.failed || r.pos != len || proof_at == 0)
		return false;
	cf->without_proof = (struct span){ msg, proof_at - 1 };
	return true;
}

/*
 * ClientSignature = HMAC(StoredKey, AuthMessage); ClientKey = proof XOR ClientSignature;
 * the proof is good when H(ClientKey) = StoredKey (RFC 5802 section 3). Also computes
 * ServerSignature = HMAC(ServerKey, AuthMessage). False only if the crypto failed.
 */
static bool server_check_proof(struct scram_server *st, const uint8_t proof[SCRAM_KEY_LEN],
			       struct span final_wo, bool *valid, uint8_t ssig[SCRAM_KEY_LEN])
{
	uint8_t csig[SCRAM_KEY_LEN], ckey[SCRAM_KEY_LEN], stored[SCRAM_KEY_LEN];
	size_t amlen;
	char *am = auth_message(st->client_first_bare, st->server_first, final_wo, &amlen);
	bool ok = hmac_sha256(st->keys.stored_key, SCRAM_KEY_LEN, am, amlen, csig) &&
		  hmac_sha256(st->keys.server_key, SCRAM_KEY_LEN, am, amlen, ssig);

	if (ok) {
		xor_bytes(ckey, proof, csig, SCRAM_KEY_LEN);
		ok = sha256(ckey, SCRAM_KEY_LEN, stored);
	}
	*valid = ok && CRYPTO_memcmp(stored, st->keys.stored_key, SCRAM_KEY_LEN) == 0;
	if (*valid)
		memcpy(st->client_key, ckey, SCRAM_KEY_LEN);
	OPENSSL_cleanse(csig, sizeof(csig));
	OPENSSL_cleanse(ckey, sizeof(ckey));
	free(am);
	return ok;
}

enum scram_result auth_scram_server_final(struct scram_server *st, const char *client_final,
					  size_t len, char *out, size_t outcap)
{
	uint8_t proof[SCRAM_KEY_LEN], ssig[SCRAM_KEY_LEN];
	char ssig_b64[B64_LEN(SCRAM_KEY_LEN) + 1];
	struct client_final_msg cf;
	enum scram_result res = SCRAM_MALFORMED;
	bool valid = false;
	size_t n;

	if (!st->nonce || !client_final || has_nul(client_final, len) ||
	    !parse_client_final(client_final, len, &cf) ||
	    !span_eq_str(cf.cbind, expected_cbind(st)) || !span_eq_str(cf.nonce, st->nonce) ||
	    !b64_decode(cf.proof, proof, SCRAM_KEY_LEN, SCRAM_KEY_LEN, &n))
		return SCRAM_MALFORMED;
	if (server_check_proof(st, proof, cf.without_proof, &valid, ssig)) {
		/* A mock exchange does all the work of a real one and then fails. */
		res = SCRAM_BAD_PROOF;
		b64_encode(ssig, SCRAM_KEY_LEN, ssig_b64);
		if (valid && !st->mock)
			res = write_out(out, outcap, "v=%s", ssig_b64) ? SCRAM_OK : SCRAM_MALFORMED;
	}
	if (res != SCRAM_OK)
		OPENSSL_cleanse(st->client_key, SCRAM_KEY_LEN);
	OPENSSL_cleanse(proof, sizeof(proof));
	OPENSSL_cleanse(ssig, sizeof(ssig));
	return res;
}

void auth_scram_server_reset(struct scram_server *st)
{
	free(st->client_first_bare);
	free(st->server_first);
	free(st->nonce);
	OPENSSL_cleanse(st, sizeof(*st));
}

/* ---- client role ---- */

bool auth_scram_client_bind(struct scram_client *st, char flag, const uint8_t *data, size_t len)
{
	if ((flag != 'n' && flag != 'y' && flag != 'p') || len > SCRAM_CBIND_MAX ||
	    (flag == 'p') != (len > 0))
		return false;
	st->cbind_flag = flag;
	if (len > 0)
		memcpy(st->cbind, data, len);
	st->cbind_len = (uint8_t)len;
	return true;
}

/* The gs2 header client-first starts with, for the channel binding chosen. */
static const char *client_gs2(const struct scram_client *st)
{
	if (st->cbind_flag == 'p')
		return "p=" SCRAM_CBIND_TYPE ",,";
	return st->cbind_flag == 'y' ? "y,," : "n,,";
}

bool auth_scram_client_first(struct scram_client *st, const char *client_nonce, char *out,
			     size_t outcap)
{
	char nonce_buf[B64_LEN(SCRAM_NONCE_LEN) + 1];

	if (st->client_nonce)
		return false;
	if (!client_nonce) {
		if (!random_nonce(nonce_buf))
			return false;
		client_nonce = nonce_buf;
	}
	if (!nonce_ok((struct span){ client_nonce, strlen(client_nonce) }) ||
	    !write_out(out, outcap, "%sn=,r=%s", client_gs2(st), client_nonce))
		return false;
	st->client_nonce = xstrdup(client_nonce);
	st->client_first_bare = xstrdup(out + strlen(client_gs2(st)));
	return true;
}

/*
 * server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count [","...].
 * The count is read up to UINT32_MAX: whether weir derives that many is the caller's choice
 * (server_scram_max_iterations), and the caller can name the value the server asked for.
 */
static bool parse_server_first(const char *msg, size_t len, struct server_first_msg *sf)
{
	struct attr_reader r = { msg, len, 0, false };
	struct span iter;

	if (attr_peek(&r) == 'm')
		return false;
	sf->nonce = attr_get(&r, 'r', false);
	sf->salt = attr_get(&r, 's', false);
	iter = attr_get(&r, 'i', false);
	attr_skip_extensions(&r, 0);
	return !r.failed && nonce_ok(sf->nonce) && parse_count(iter, UINT32_MAX, &sf->iterations);
}

enum scram_result auth_scram_client_read_first(struct scram_client *st, const char *server_first,
					       size_t len, struct scram_kdf_params *params)
{
	struct server_first_msg sf;
	size_t cnonce_len;

	if (!st->client_first_bare || st->server_first || !server_first || len > INT_MAX ||
	    has_nul(server_first, len) || !parse_server_first(server_first, len, &sf))
		return SCRAM_MALFORMED;
	/* The server's nonce must extend ours (RFC 5802 section 5.1, "r="). */
	cnonce_len = strlen(st->client_nonce);
	if (sf.nonce.len <= cnonce_len || memcmp(sf.nonce.p, st->client_nonce, cnonce_len) != 0 ||
	    !b64_decode(sf.salt, params->salt, 1, SCRAM_MAX_SALT_LEN, &params->salt_len))
		return SCRAM_MALFORMED;
	params->iterations = sf.iterations;
	st->server_first = xstrndup(server_first, len);
	return SCRAM_OK;
}

/* The keys and ClientKey for this login, from a password or from a cached verifier. */
static enum scram_result client_keys(const struct scram_client_creds *creds,
				     const struct scram_kdf_params *p, struct scram_keys *keys,
				     uint8_t ckey[SCRAM_KEY_LEN])
{
	if (creds && creds->password) {
		return auth_scram_keys_from_password(creds->password, p->salt, p->salt_len,
						     p->iterations, keys, ckey)
			   ? SCRAM_OK
			   : SCRAM_MALFORMED;
	}
	if (!creds || !creds->keys || !creds->client_key)
		return SCRAM_MALFORMED;
	/* The cached keys are only valid for the salt and iterations they were derived with. */
	if (creds->keys->salt_len != p->salt_len || creds->keys->iterations != p->iterations ||
	    memcmp(creds->keys->salt, p->salt, p->salt_len) != 0)
		return SCRAM_BAD_PROOF;
	*keys = *creds->keys;
	memcpy(ckey, creds->client_key, SCRAM_KEY_LEN);
	return SCRAM_OK;
}

/* "c=" of client-final: base64 of the gs2 header, and the certificate hash with 'p'. */
static void client_cbind(const struct scram_client *st, char *out)
{
	const char *gs2 = client_gs2(st);
	uint8_t input[64 + SCRAM_CBIND_MAX];
	size_t n = strlen(gs2);

	memcpy(input, gs2, n);
	if (st->cbind_len > 0)
		memcpy(input + n, st->cbind, st->cbind_len);
	b64_encode(input, n + st->cbind_len, out);
}

/*
 * Writes "c=<binding>,r=<nonce>,p=<proof>" into out and keeps ServerSignature for the
 * verify step. ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage) (RFC 5802 section 3).
 */
static enum scram_result client_proof(struct scram_client *st, const struct scram_keys *keys,
				      const uint8_t ckey[SCRAM_KEY_LEN], struct span nonce,
				      char *out, size_t outcap)
{
	uint8_t csig[SCRAM_KEY_LEN], proof[SCRAM_KEY_LEN];
	char proof_b64[B64_LEN(SCRAM_KEY_LEN) + 1];
	char cbind[B64_LEN(64 + SCRAM_CBIND_MAX) + 1];
	size_t wo_len, amlen;
	char *am;
	bool ok;

	client_cbind(st, cbind);
	if (!write_out(out, outcap, "c=%s,r=%.*s", cbind, (int)nonce.len, nonce.p))
		return SCRAM_MALFORMED;
	wo_len = strlen(out);
	am = auth_message(st->client_first_bare, st->server_first, (struct span){ out, wo_len },
			  &amlen);
	ok = hmac_sha256(keys->stored_key, SCRAM_KEY_LEN, am, amlen, csig) &&
	     hmac_sha256(keys->server_key, SCRAM_KEY_LEN, am, amlen, st->server_signature);
	free(am);
	if (ok) {
		xor_bytes(proof, ckey, csig, SCRAM_KEY_LEN);
		b64_encode(proof, SCRAM_KEY_LEN, proof_b64);
		ok = write_out(out + wo_len, outcap - wo_len, ",p=%s", proof_b64);
	}
	st->signature_ready = ok;
	OPENSSL_cleanse(csig, sizeof(csig));
	OPENSSL_cleanse(proof, sizeof(proof));
	return ok ? SCRAM_OK : SCRAM_MALFORMED;
}

enum scram_result auth_scram_client_proof(struct scram_client *st, const struct scram_keys *keys,
					  const uint8_t client_key[SCRAM_KEY_LEN], char *out,
					  size_t outcap)
{
	struct server_first_msg sf;

	/* server_first was checked by auth_scram_client_read_first; this finds its nonce. */
	if (!st->server_first || st->signature_ready || !keys || !client_key ||
	    !parse_server_first(st->server_first, strlen(st->server_first), &sf))
		return SCRAM_MALFORMED;
	return client_proof(st, keys, client_key, sf.nonce, out, outcap);
}

enum scram_result auth_scram_client_final(struct scram_client *st,
					  const struct scram_client_creds *creds,
					  const char *server_first, size_t len, char *out,
					  size_t outcap)
{
	struct scram_kdf_params params;
	uint8_t ckey[SCRAM_KEY_LEN];
	struct scram_keys keys;
	enum scram_result res;

	res = auth_scram_client_read_first(st, server_first, len, &params);
	if (res != SCRAM_OK)
		return res;
	res = client_keys(creds, &params, &keys, ckey);
	if (res == SCRAM_OK)
		res = auth_scram_client_proof(st, &keys, ckey, out, outcap);
	if (res != SCRAM_OK) {
		/* The exchange did not move on: server-first may not be taken a second time. */
		free(st->server_first);
		st->server_first = NULL;
	}
	OPENSSL_cleanse(&keys, sizeof(keys));
	OPENSSL_cleanse(ckey, sizeof(ckey));
	OPENSSL_cleanse(&params, sizeof(params));
	return res;
}

enum scram_result auth_scram_client_verify(struct scram_client *st, const char *server_final,
					   size_t len)
{
	uint8_t sig[SCRAM_KEY_LEN];
	struct attr_reader r = { server_final, len, 0, false };
	struct span v;
	size_t n;

	if (!st->signature_ready || !server_final || has_nul(server_final, len))
		return SCRAM_MALFORMED;
	if (attr_peek(&r) == 'e') /* server-error: the server refused our proof */
		return SCRAM_BAD_PROOF;
	v = attr_get(&r, 'v', false);
	attr_skip_extensions(&r, 0);
	if (r.failed || !b64_decode(v, sig, SCRAM_KEY_LEN, SCRAM_KEY_LEN, &n))
		return SCRAM_MALFORMED;
	return CRYPTO_memcmp(sig, st->server_signature, SCRAM_KEY_LEN) == 0 ? SCRAM_OK
									    : SCRAM_BAD_PROOF;
}

void auth_scram_client_reset(struct scram_client *st)
{
	free(st->client_nonce);
	free(st->client_first_bare);
	free(st->server_first);
	OPENSSL_cleanse(st, sizeof(*st));
}
