/* SPDX-License-Identifier: ISC */
/*
 * PostgreSQL's MD5 password scheme: the stored verifier is "md5" + hex(md5(password + user)),
 * and the wire response to a 4-byte salt is "md5" + hex(md5(hex_of_verifier + salt)).
 */
#pragma once

#include "common.h"

#define MD5_PASSWD_LEN 35 /* "md5" + 32 hex digits, without the NUL */

/* True if secret looks like an md5 verifier ("md5" + 32 lowercase hex digits). */
bool auth_md5_is_verifier(const char *secret);

/* out receives "md5" + 32 hex digits + NUL. */
void auth_md5_verifier(const char *user, const char *password, char out[MD5_PASSWD_LEN + 1]);

/*
 * Wire response for salt, computed from a stored secret that is either a plaintext password
 * or an md5 verifier (for `user`).
 */
void auth_md5_response(const char *user, const char *secret, const uint8_t salt[4],
		       char out[MD5_PASSWD_LEN + 1]);

/* Constant-time comparison of a client's response with the expected one. */
bool auth_md5_check(const char *user, const char *secret, const uint8_t salt[4],
		    const char *client_response);
