/* SPDX-License-Identifier: ISC */
/*
 * The requirements weir puts on a server's authentication (auth_require.h): libpq's
 * require_auth syntax for the methods weir meets as a client of PostgreSQL, and the SCRAM
 * iteration cap. It holds no state and sends nothing; server_login.c asks it before
 * answering each authentication request, and config.c parses server_require_auth with it
 * so that a bad value fails the load at its line.
 *
 * libpq's rules are kept: a list either names allowed methods or only negated ones, never
 * both; a method may not be listed twice; "none" means the server asked for nothing. Unlike
 * libpq, names are case-insensitive and may have blanks around them, as other weir enum
 * values do; gss, sspi and oauth are refused because weir cannot do them at all.
 *
 * Entry points: auth_method_name, auth_require_parse, auth_require_check,
 * auth_require_iterations.
 */
#include <string.h>
#include <strings.h>

#include "auth_require.h"

static const char *const method_names[AUTH_METHOD_COUNT] = {
	[AUTH_METHOD_NONE] = "none",
	[AUTH_METHOD_PASSWORD] = "password",
	[AUTH_METHOD_MD5] = "md5",
	[AUTH_METHOD_SCRAM] = "scram-sha-256",
};

/* What the server did, for messages. */
static const char *const method_what[AUTH_METHOD_COUNT] = {
	[AUTH_METHOD_NONE] = "no password",
	[AUTH_METHOD_PASSWORD] = "a cleartext password",
	[AUTH_METHOD_MD5] = "an md5 password",
	[AUTH_METHOD_SCRAM] = "SCRAM-SHA-256",
};

const char *auth_method_name(enum auth_method m)
{
	return (unsigned)m < AUTH_METHOD_COUNT ? method_names[m] : "unknown";
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* The method named by p[0..len), or -1. */
static int find_method(const char *p, size_t len)
{
	for (int m = 0; m < AUTH_METHOD_COUNT; m++) {
		if (strlen(method_names[m]) == len && strncasecmp(method_names[m], p, len) == 0)
			return m;
	}
	return -1;
}

/* One list item p[0..len), blanks trimmed; updates *listed and *negated (-1 = not yet). */
static bool parse_item(const char *p, size_t len, unsigned *listed, int *negated, char *err,
		       size_t errlen)
{
	bool neg;
	int m;

	while (len > 0 && is_blank(*p)) {
		p++;
		len--;
	}
	while (len > 0 && is_blank(p[len - 1]))
		len--;
	neg = len > 0 && *p == '!';
	if (neg) {
		p++;
		len--;
	}
	if (len == 0) {
		snprintf(err, errlen, "empty method in the list");
		return false;
	}
	m = find_method(p, len);
	if (m < 0) {
		snprintf(err, errlen,
			 "unknown method \"%.*s\" (weir knows password, md5, scram-sha-256, none)",
			 (int)(len > 64 ? 64 : len), p);
		return false;
	}
	if (*negated >= 0 && *negated != (int)neg) {
		snprintf(err, errlen, "negated and plain methods cannot be mixed");
		return false;
	}
	if (*listed & (1u << m)) {
		snprintf(err, errlen, "method \"%s\" is listed twice", method_names[m]);
		return false;
	}
	*negated = neg;
	*listed |= 1u << m;
	return true;
}

bool auth_require_parse(const char *value, unsigned *allowed, char *err, size_t errlen)
{
	const char *p = value;
	unsigned listed = 0;
	int negated = -1;

	while (is_blank(*p))
		p++;
	if (*p == '\0') {
		*allowed = AUTH_REQUIRE_ANY;
		return true;
	}
	for (;;) {
		size_t len = strcspn(p, ",");

		if (!parse_item(p, len, &listed, &negated, err, errlen))
			return false;
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
	*allowed = negated ? AUTH_REQUIRE_ANY & ~listed : listed;
	return true;
}

bool auth_require_check(unsigned allowed, const char *setting, enum auth_method m, char *msg,
			size_t msglen)
{
	if ((unsigned)m < AUTH_METHOD_COUNT && (allowed & (1u << m)))
		return true;
	snprintf(msg, msglen,
		 "server asked for authentication method \"%s\" (%s), which server_require_auth "
		 "\"%s\" does not allow",
		 auth_method_name(m), (unsigned)m < AUTH_METHOD_COUNT ? method_what[m] : "?",
		 setting);
	return false;
}

bool auth_require_iterations(uint32_t iterations, uint32_t max, char *msg, size_t msglen)
{
	if (iterations <= max)
		return true;
	snprintf(msg, msglen,
		 "server asked for %u SCRAM iterations, more than server_scram_max_iterations (%u)",
		 iterations, max);
	return false;
}
