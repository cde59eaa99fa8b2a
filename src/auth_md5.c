/* SPDX-License-Identifier: ISC */
/*
 * PostgreSQL's MD5 password scheme. Owns the computation of md5 verifiers
 * ("md5" + hex(md5(password + user))) and of the salted wire response
 * ("md5" + hex(md5(hex_of_verifier + salt))), and their constant-time check. It does not
 * read password files or talk to sockets; auth_file.c and the login code call in here.
 * Entry points: auth_md5_is_verifier, auth_md5_verifier, auth_md5_response, auth_md5_check.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth_md5.h"

#define MD5_DIGEST_BYTES 16
#define MD5_HEX_LEN	 32
#define MD5_PREFIX	 "md5"
#define MD5_PREFIX_LEN	 3

static bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool auth_md5_is_verifier(const char *secret)
{
	if (!secret || strncmp(secret, MD5_PREFIX, MD5_PREFIX_LEN) != 0)
		return false;
	for (size_t i = 0; i < MD5_HEX_LEN; i++) {
		if (!is_lower_hex(secret[MD5_PREFIX_LEN + i]))
			return false;
	}
	return secret[MD5_PASSWD_LEN] == '\0';
}

/* out = "md5" + hex(md5(a + b)); false only if the digest is unavailable (e.g. FIPS mode). */
static bool md5_hex_of_pair(const void *a, size_t alen, const void *b, size_t blen,
			    char out[MD5_PASSWD_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t digest[MD5_DIGEST_BYTES];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) &&
		  EVP_DigestUpdate(ctx, a, alen) && EVP_DigestUpdate(ctx, b, blen) &&
		  EVP_DigestFinal_ex(ctx, digest, NULL);

	EVP_MD_CTX_free(ctx);
	out[0] = '\0';
	if (!ok)
		return false;
	memcpy(out, MD5_PREFIX, MD5_PREFIX_LEN);
	for (size_t i = 0; i < MD5_DIGEST_BYTES; i++) {
		out[MD5_PREFIX_LEN + 2 * i] = hex[digest[i] >> 4];
		out[MD5_PREFIX_LEN + 2 * i + 1] = hex[digest[i] & 0x0f];
	}
	out[MD5_PASSWD_LEN] = '\0';
	OPENSSL_cleanse(digest, sizeof(digest));
	return true;
}

void auth_md5_verifier(const char *user, const char *password, char out[MD5_PASSWD_LEN + 1])
{
	(void)md5_hex_of_pair(password, strlen(password), user, strlen(user), out);
}

/* The wire response; false (and out empty) if the digest could not be computed. */
static bool md5_response(const char *user, const char *secret, const uint8_t salt[4],
			 char out[MD5_PASSWD_LEN + 1])
{
	char verifier[MD5_PASSWD_LEN + 1];
	bool ok;

	if (auth_md5_is_verifier(secret)) {
		memcpy(verifier, secret, sizeof(verifier));
		ok = true;
	} else {
		ok = md5_hex_of_pair(secret, strlen(secret), user, strlen(user), verifier);
	}
	ok = ok && md5_hex_of_pair(verifier + MD5_PREFIX_LEN, MD5_HEX_LEN, salt, 4, out);
	OPENSSL_cleanse(verifier, sizeof(verifier));
	if (!ok)
		out[0] = '\0';
	return ok;
}

void auth_md5_response(const char *user, const char *secret, const uint8_t salt[4],
		       char out[MD5_PASSWD_LEN + 1])
{
	(void)md5_response(user, secret, salt, out);
}

bool auth_md5_check(const char *user, const char *secret, const uint8_t salt[4],
		    const char *client_response)
{
	char expected[MD5_PASSWD_LEN + 1];
	bool ok = md5_response(user, secret, salt, expected);

	/* The length is public (always 35 for a well-formed response); the content is not. */
	ok = ok && client_response &&
	     strnlen(client_response, MD5_PASSWD_LEN + 1) == MD5_PASSWD_LEN &&
	     CRYPTO_memcmp(expected, client_response, MD5_PASSWD_LEN) == 0;
	OPENSSL_cleanse(expected, sizeof(expected));
	return ok;
}
