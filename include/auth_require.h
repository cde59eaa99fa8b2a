/* SPDX-License-Identifier: ISC */
/*
 * What weir requires of a PostgreSQL server's authentication before it sends a password or
 * pays for a key derivation: libpq's require_auth, for the methods weir can meet
 * (server_require_auth), and the largest SCRAM iteration count it derives keys for
 * (server_scram_max_iterations). Pure logic: the parser, the checks, and the text a refused
 * login gets. server_login.c applies them; config.c validates the setting with the parser.
 */
#pragma once

#include "common.h"

/* How a server asks weir to authenticate. */
enum auth_method {
	AUTH_METHOD_NONE,     /* AuthenticationOk without asking for anything */
	AUTH_METHOD_PASSWORD, /* AuthenticationCleartextPassword */
	AUTH_METHOD_MD5,      /* AuthenticationMD5Password */
	AUTH_METHOD_SCRAM,    /* AuthenticationSASL with SCRAM-SHA-256 */
	AUTH_METHOD_COUNT
};

/* A set of methods: bit (1 << method). */
#define AUTH_REQUIRE_ANY ((1u << AUTH_METHOD_COUNT) - 1)

/* The name require_auth uses: "none", "password", "md5", "scram-sha-256". */
const char *auth_method_name(enum auth_method m);

/*
 * Parses a require_auth list: comma-separated method names (the server must use one of
 * them), or all negated with '!' (it must use none of them). Names are case-insensitive,
 * blanks around them are ignored, and each may appear once. An empty value allows any
 * method, as in libpq. False with the reason in err (no trailing period).
 */
MUST_CHECK bool auth_require_parse(const char *value, unsigned *allowed, char *err, size_t errlen);

/*
 * Whether the set allowed admits method m. If not, msg receives the error of the failed
 * login, naming the method and the setting (setting: the value as configured).
 */
MUST_CHECK bool auth_require_check(unsigned allowed, const char *setting, enum auth_method m,
				   char *msg, size_t msglen);

/*
 * Whether weir derives keys for a server asking for `iterations` SCRAM iterations, with
 * server_scram_max_iterations = max. If not, msg receives the error naming both values.
 */
MUST_CHECK bool auth_require_iterations(uint32_t iterations, uint32_t max, char *msg,
					size_t msglen);
