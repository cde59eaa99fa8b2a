/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for auth_scram.c: the RFC 7677 test vector in both roles and in pass-through,
 * verifiers (one produced by PostgreSQL 15), failed proofs, mock exchanges, and malformed
 * messages of every step, which must be refused without crashing.
 */
#include <string.h>

#include "auth_scram.h"
#include "harness.h"

/* RFC 7677 section 3. */
#define RFC_PASSWORD	 "pencil"
#define RFC_CNONCE	 "rOprNGfwEbeRWgbNEkqO"
#define RFC_SNONCE	 "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_CLIENT_FIRST "n,,n=user,r=" RFC_CNONCE
#define RFC_SERVER_FIRST "r=" RFC_CNONCE RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define RFC_PROOF	 ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_CLIENT_FINAL "c=biws,r=" RFC_CNONCE RFC_SNONCE RFC_PROOF
#define RFC_SERVER_FINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

/* The RFC's salt, W22ZaJ0SNY7soEsUEjb6gQ== decoded. */
static const uint8_t rfc_salt[16] = { 0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e,
				      0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa, 0x81 };

/* CREATE ROLE weirtest PASSWORD 'Tr0ub4dor&3' on PostgreSQL 15.18, from pg_authid. */
#define PG15_PASSWORD "Tr0ub4dor&3"
#define PG15_SALT     "0BeV/rUCygTePiyXFZ/IFA=="
#define PG15_STORED   "HcfM6wTYYoFvyA9vsKGjUg9/uajaqprEdngJMknY8KE="
#define PG15_SERVER   "D1ODLsC0elTb4z0QOxbpHEt5ZdsqQhNadboHG+FZkO8="
#define PG15_VERIFIER "SCRAM-SHA-256$4096:" PG15_SALT "$" PG15_STORED ":" PG15_SERVER

static struct scram_keys rfc_keys(uint8_t client_key[SCRAM_KEY_LEN])
{
	struct scram_keys keys;

	CHECK(auth_scram_keys_from_password(RFC_PASSWORD, rfc_salt, sizeof(rfc_salt), 4096, &keys,
					    client_key));
	return keys;
}

static enum scram_result server_first_str(struct scram_server *st, const struct scram_keys *keys,
					  const char *msg)
{
	char out[256];

	return auth_scram_server_first(st, keys, msg, strlen(msg), RFC_SNONCE, out, sizeof(out));
}

static enum scram_result server_final_str(struct scram_server *st, const char *msg)
{
	char out[256];

	return auth_scram_server_final(st, msg, strlen(msg), out, sizeof(out));
}

/*
 * Starts a client exchange with the RFC's nonce. PostgreSQL clients send an empty user name,
 * but the RFC's AuthMessage contains "n=user", so the test puts the RFC's bare message in.
 */
static void rfc_client_start(struct scram_client *cl)
{
	char out[128];

	CHECK(auth_scram_client_first(cl, RFC_CNONCE, out, sizeof(out)));
	CHECK_STR(out, "n,,n=,r=" RFC_CNONCE);
	free(cl->client_first_bare);
	cl->client_first_bare = xstrdup(RFC_CLIENT_FIRST + 3);
}

static enum scram_result client_final_str(struct scram_client *cl,
					  const struct scram_client_creds *creds, const char *msg)
{
	char out[256];

	return auth_scram_client_final(cl, creds, msg, strlen(msg), out, sizeof(out));
}

TEST(scram_verifier_from_postgres15)
{
	struct scram_keys parsed, derived;

	CHECK(auth_scram_parse_verifier(PG15_VERIFIER, &parsed));
	CHECK_INT(parsed.iterations, 4096);
	CHECK_INT(parsed.salt_len, 16);
	CHECK(auth_scram_keys_from_password(PG15_PASSWORD, parsed.salt, parsed.salt_len,
					    parsed.iterations, &derived, NULL));
	CHECK(memcmp(parsed.stored_key, derived.stored_key, SCRAM_KEY_LEN) == 0);
	CHECK(memcmp(parsed.server_key, derived.server_key, SCRAM_KEY_LEN) == 0);
	CHECK(memcmp(parsed.salt, derived.salt, parsed.salt_len) == 0);
}

TEST(scram_verifier_for_rfc_password)
{
	struct scram_keys parsed, derived = rfc_keys(NULL);

	/* Computed independently with Python's hashlib.pbkdf2_hmac and hmac. */
	CHECK(auth_scram_parse_verifier("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
					"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
					"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
					&parsed));
	CHECK(memcmp(parsed.stored_key, derived.stored_key, SCRAM_KEY_LEN) == 0);
	CHECK(memcmp(parsed.server_key, derived.server_key, SCRAM_KEY_LEN) == 0);
}

TEST(scram_verifier_rejects_malformed)
{
	static const char *const bad[] = {
		"",
		"md545f2603610af569b6155c45067268c6b",
		"SCRAM-SHA-256",
		"SCRAM-SHA-256$",
		"SCRAM-SHA-1$4096:" PG15_SALT "$" PG15_STORED ":" PG15_SERVER,
		/* missing parts */
		"SCRAM-SHA-256$4096:" PG15_SALT,
		"SCRAM-SHA-256$4096:" PG15_SALT "$" PG15_STORED,
		"SCRAM-SHA-256$4096:" PG15_SALT "$" PG15_STORED ":",
		"SCRAM-SHA-256$:" PG15_SALT "$" PG15_STORED ":" PG15_SERVER,
		"SCRAM-SHA-256$4096:$" PG15_STORED ":" PG15_SERVER,
		"SCRAM-SHA-256$4096:" PG15_SALT "$:" PG15_SERVER,
		/* bad iteration counts */
		"SCRAM-SHA-256$0:" PG15_SALT "$" PG15_STORED ":" PG15_SERVER,
		"SCRAM-SHA-256$-1:" PG15_SALT "$" PG15_STORED ":" PG15_SERVER,
		"SCRAM-SHA-256$4294967297:" PG15_SALT "$" PG15_STORED ":" PG15_SERVER,
		"SCRAM-SHA-256$4096x:" PG15_SALT "$" PG15_STORED ":" PG15_SERVER,
		/* bad base64: unpadded, alien character, trailing space, '=' inside */
		"SCRAM-SHA-256$4096:0BeV/rUCygTePiyXFZ/IFA$" PG15_STORED ":" PG15_SERVER,
		"SCRAM-SHA-256$4096:0BeV/rUCygTe*iyXFZ/IFA==$" PG15_STORED ":" PG15_SERVER,
		"SCRAM-SHA-256$4096:" PG15_SALT "$" PG15_STORED ":" PG15_SERVER " ",
		"SCRAM-SHA-256$4096:" PG15_SALT "$" PG15_STORED
		":D1ODLsC0elTb4z0QOxbpHEt5ZdsqQhNa=boHG+FZkO8=",
		/* keys of the wrong length: 31 and 36 bytes */
		"SCRAM-SHA-256$4096:" PG15_SALT
		"$HcfM6wTYYoFvyA9vsKGjUg9/uajaqprEdngJMknY8A==:" PG15_SERVER,
		"SCRAM-SHA-256$4096:" PG15_SALT "$" PG15_STORED
		":D1ODLsC0elTb4z0QOxbpHEt5ZdsqQhNadboHG+FZkO8AAAAA",
		/* a 66-byte salt: longer than SCRAM_MAX_SALT_LEN */
		"SCRAM-SHA-256$4096:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA$" PG15_STORED ":" PG15_SERVER,
	};
	struct scram_keys keys;

	CHECK(!auth_scram_parse_verifier(NULL, &keys));
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (auth_scram_parse_verifier(bad[i], &keys))
			harness_fail(__FILE__, __LINE__, bad[i]);
	}
}

TEST(scram_keys_from_password_rejects_bad_parameters)
{
	uint8_t long_salt[SCRAM_MAX_SALT_LEN + 1] = { 0 };
	struct scram_keys keys;

	CHECK(!auth_scram_keys_from_password("pw", rfc_salt, sizeof(rfc_salt), 0, &keys, NULL));
	CHECK(!auth_scram_keys_from_password("pw", rfc_salt, sizeof(rfc_salt), 10000001, &keys,
					     NULL));
	CHECK(!auth_scram_keys_from_password("pw", rfc_salt, 0, 4096, &keys, NULL));
	CHECK(
	    !auth_scram_keys_from_password("pw", long_salt, sizeof(long_salt), 4096, &keys, NULL));
	CHECK(!auth_scram_keys_from_password(NULL, rfc_salt, sizeof(rfc_salt), 4096, &keys, NULL));
	CHECK(auth_scram_keys_from_password("pw", long_salt, SCRAM_MAX_SALT_LEN, 1, &keys, NULL));
}

TEST(scram_rfc7677_client_side)
{
	struct scram_client cl = { 0 };
	struct scram_client_creds creds = { .password = RFC_PASSWORD };
	char out[256];

	rfc_client_start(&cl);
	CHECK_INT(auth_scram_client_final(&cl, &creds, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST),
					  out, sizeof(out)),
		  SCRAM_OK);
	CHECK_STR(out, RFC_CLIENT_FINAL);
	CHECK_INT(auth_scram_client_verify(&cl, RFC_SERVER_FINAL, strlen(RFC_SERVER_FINAL)),
		  SCRAM_OK);
	auth_scram_client_reset(&cl);
	CHECK(cl.client_nonce == NULL && cl.server_first == NULL);
}

TEST(scram_rfc7677_server_side)
{
	uint8_t client_key[SCRAM_KEY_LEN];
	struct scram_keys keys = rfc_keys(client_key);
	struct scram_server st = { 0 };
	char out[256];

	CHECK_INT(auth_scram_server_first(&st, &keys, RFC_CLIENT_FIRST, strlen(RFC_CLIENT_FIRST),
					  RFC_SNONCE, out, sizeof(out)),
		  SCRAM_OK);
	CHECK_STR(out, RFC_SERVER_FIRST);
	CHECK_INT(auth_scram_server_final(&st, RFC_CLIENT_FINAL, strlen(RFC_CLIENT_FINAL), out,
					  sizeof(out)),
		  SCRAM_OK);
	CHECK_STR(out, RFC_SERVER_FINAL);
	CHECK(memcmp(st.client_key, client_key, SCRAM_KEY_LEN) == 0);
	auth_scram_server_reset(&st);
	CHECK(st.nonce == NULL && st.client_first_bare == NULL);
}

TEST(scram_rfc7677_pass_through_with_cached_keys)
{
	uint8_t client_key[SCRAM_KEY_LEN];
	struct scram_keys keys = rfc_keys(client_key);
	struct scram_client_creds creds = { .keys = &keys, .client_key = client_key };
	struct scram_client cl = { 0 };
	char out[256];

	rfc_client_start(&cl);
	CHECK_INT(auth_scram_client_final(&cl, &creds, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST),
					  out, sizeof(out)),
		  SCRAM_OK);
	CHECK_STR(out, RFC_CLIENT_FINAL);
	CHECK_INT(auth_scram_client_verify(&cl, RFC_SERVER_FINAL, strlen(RFC_SERVER_FINAL)),
		  SCRAM_OK);
	auth_scram_client_reset(&cl);
}

/* Runs a whole exchange with random nonces; returns the server's final result. */
static enum scram_result exchange(struct scram_server *st, const struct scram_keys *keys,
				  const struct scram_client_creds *creds)
{
	struct scram_client cl = { 0 };
	char msg[256], reply[256];
	enum scram_result res;

	CHECK(auth_scram_client_first(&cl, NULL, msg, sizeof(msg)));
	res = auth_scram_server_first(st, keys, msg, strlen(msg), NULL, reply, sizeof(reply));
	CHECK_INT(res, SCRAM_OK);
	res = auth_scram_client_final(&cl, creds, reply, strlen(reply), msg, sizeof(msg));
	CHECK_INT(res, SCRAM_OK);
	res = auth_scram_server_final(st, msg, strlen(msg), reply, sizeof(reply));
	if (res == SCRAM_OK)
		CHECK_INT(auth_scram_client_verify(&cl, reply, strlen(reply)), SCRAM_OK);
	auth_scram_client_reset(&cl);
	return res;
}

TEST(scram_exchange_with_random_nonces_and_postgres_verifier)
{
	struct scram_client_creds creds = { .password = PG15_PASSWORD };
	struct scram_server st = { 0 };
	struct scram_keys keys, derived;
	uint8_t client_key[SCRAM_KEY_LEN];

	CHECK(auth_scram_parse_verifier(PG15_VERIFIER, &keys));
	CHECK_INT(exchange(&st, &keys, &creds), SCRAM_OK);
	CHECK(auth_scram_keys_from_password(PG15_PASSWORD, keys.salt, keys.salt_len,
					    keys.iterations, &derived, client_key));
	CHECK(memcmp(st.client_key, client_key, SCRAM_KEY_LEN) == 0);
	auth_scram_server_reset(&st);
}

TEST(scram_wrong_password_is_bad_proof)
{
	struct scram_client_creds creds = { .password = "Tr0ub4dor&4" };
	struct scram_server st = { 0 };
	struct scram_keys keys;
	static const uint8_t zero[SCRAM_KEY_LEN];

	CHECK(auth_scram_parse_verifier(PG15_VERIFIER, &keys));
	CHECK_INT(exchange(&st, &keys, &creds), SCRAM_BAD_PROOF);
	CHECK(memcmp(st.client_key, zero, SCRAM_KEY_LEN) == 0);
	auth_scram_server_reset(&st);
}

TEST(scram_tampered_proof_is_bad_proof)
{
	struct scram_keys keys = rfc_keys(NULL);
	struct scram_server st = { 0 };

	CHECK_INT(server_first_str(&st, &keys, RFC_CLIENT_FIRST), SCRAM_OK);
	CHECK_INT(server_final_str(&st, "c=biws,r=" RFC_CNONCE RFC_SNONCE
					",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVA="),
		  SCRAM_BAD_PROOF);
	auth_scram_server_reset(&st);
}

TEST(scram_mock_fails_even_with_right_proof)
{
	struct scram_keys keys = rfc_keys(NULL);
	struct scram_server st = { .mock = true };

	CHECK_INT(server_first_str(&st, &keys, RFC_CLIENT_FIRST), SCRAM_OK);
	CHECK_INT(server_final_str(&st, RFC_CLIENT_FINAL), SCRAM_BAD_PROOF);
	auth_scram_server_reset(&st);
}

TEST(scram_mock_without_keys_runs_the_exchange_and_fails)
{
	struct scram_client_creds creds = { .password = "anything" };
	struct scram_server st = { .mock = true };
	struct scram_server no_keys = { 0 };

	CHECK_INT(exchange(&st, NULL, &creds), SCRAM_BAD_PROOF);
	auth_scram_server_reset(&st);
	/* zeroed keys, as a caller that found no user passes them, count as none */
	st.mock = true;
	CHECK_INT(exchange(&st, &(struct scram_keys){ 0 }, &creds), SCRAM_BAD_PROOF);
	auth_scram_server_reset(&st);
	/* Without keys and without mock there is nothing to check against. */
	CHECK_INT(server_first_str(&no_keys, NULL, RFC_CLIENT_FIRST), SCRAM_MALFORMED);
	auth_scram_server_reset(&no_keys);
}

TEST(scram_server_first_rejects_malformed)
{
	static const char *const bad[] = {
		"",
		"n",
		"n,",
		"n,,",
		"p=tls-server-end-point,,n=,r=abc",
		"x,,n=,r=abc",
		"n,,r=abc",
		"n,,n=",
		"n,,n=,",
		"n,,n=,r=",
		"n,,n=,r=abc,",
		"n,,n=,r=abc,,",
		"n,,n=,r=abc,9=x",
		"n,,m=ext,n=,r=abc",
		"n,,n=,r=ab c",
		"n,,n=,r=ab\x7f",
		"n,,n=,r=ab\x80",
		"n,,n=user r=abc",
	};
	struct scram_keys keys = rfc_keys(NULL);

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct scram_server st = { 0 };

		if (server_first_str(&st, &keys, bad[i]) != SCRAM_MALFORMED)
			harness_fail(__FILE__, __LINE__, bad[i]);
		auth_scram_server_reset(&st);
	}
}

TEST(scram_server_first_rejects_embedded_nul_and_bad_state)
{
	static const char msg[] = "n,,n=,r=abc\0def";
	struct scram_keys keys = rfc_keys(NULL);
	struct scram_server st = { 0 };
	char out[256];

	CHECK_INT(auth_scram_server_first(&st, &keys, msg, sizeof(msg) - 1, NULL, out, sizeof(out)),
		  SCRAM_MALFORMED);
	/* Output that does not fit is refused rather than truncated. */
	CHECK_INT(auth_scram_server_first(&st, &keys, RFC_CLIENT_FIRST, strlen(RFC_CLIENT_FIRST),
					  NULL, out, 20),
		  SCRAM_MALFORMED);
	CHECK_INT(server_first_str(&st, &keys, RFC_CLIENT_FIRST), SCRAM_OK);
	/* A second client-first in the same exchange is a protocol violation. */
	CHECK_INT(server_first_str(&st, &keys, RFC_CLIENT_FIRST), SCRAM_MALFORMED);
	auth_scram_server_reset(&st);
	/* client-final before client-first */
	CHECK_INT(server_final_str(&st, RFC_CLIENT_FINAL), SCRAM_MALFORMED);
}

TEST(scram_server_final_rejects_malformed)
{
	static const char *const bad[] = {
		"",
		"c=biws",
		"c=biws,r=" RFC_CNONCE RFC_SNONCE,		 /* no proof */
		"c=biws,r=" RFC_CNONCE RFC_SNONCE ",p=",	 /* empty proof */
		"c=biws,r=" RFC_CNONCE RFC_SNONCE ",p=dHzb",	 /* short proof */
		"c=biws,r=" RFC_CNONCE RFC_SNONCE ",p=dHzbZap!", /* not base64 */
		"c=biws,r=" RFC_CNONCE RFC_SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndA==",
		"c=biws,r=" RFC_CNONCE RFC_SNONCE RFC_PROOF ",",    /* trailing ',' */
		"c=biws,r=" RFC_CNONCE RFC_SNONCE RFC_PROOF ",x=y", /* proof not last */
		"c=biws,r=" RFC_CNONCE RFC_SNONCE "," RFC_PROOF,    /* empty attribute */
		"c=biws,r=" RFC_CNONCE RFC_PROOF,		    /* nonce cut */
		"c=biws,r=" RFC_CNONCE RFC_SNONCE "x" RFC_PROOF,    /* nonce extended */
		"c=eSws,r=" RFC_CNONCE RFC_SNONCE RFC_PROOF,	    /* flag was 'n' */
		"c=cD10bHMtc2VydmVyLWVuZC1wb2ludCws,r=" RFC_CNONCE RFC_SNONCE RFC_PROOF,
		"r=" RFC_CNONCE RFC_SNONCE ",c=biws" RFC_PROOF, /* order */
		"c=biws,r=",
		"c=",
		RFC_PROOF + 1,
	};
	struct scram_keys keys = rfc_keys(NULL);

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct scram_server st = { 0 };

		CHECK_INT(server_first_str(&st, &keys, RFC_CLIENT_FIRST), SCRAM_OK);
		if (server_final_str(&st, bad[i]) != SCRAM_MALFORMED)
			harness_fail(__FILE__, __LINE__, bad[i]);
		auth_scram_server_reset(&st);
	}
}

TEST(scram_server_final_rejects_embedded_nul_and_small_output)
{
	static const char with_nul[] = RFC_CLIENT_FINAL "\0";
	struct scram_keys keys = rfc_keys(NULL);
	struct scram_server st = { 0 };
	char out[16];

	CHECK_INT(server_first_str(&st, &keys, RFC_CLIENT_FIRST), SCRAM_OK);
	CHECK_INT(auth_scram_server_final(&st, with_nul, sizeof(with_nul) - 1, out, sizeof(out)),
		  SCRAM_MALFORMED);
	CHECK_INT(auth_scram_server_final(&st, RFC_CLIENT_FINAL, strlen(RFC_CLIENT_FINAL), out,
					  sizeof(out)),
		  SCRAM_MALFORMED);
	auth_scram_server_reset(&st);
}

TEST(scram_server_checks_channel_binding_against_gs2_header)
{
	struct scram_keys keys = rfc_keys(NULL);
	struct scram_server y = { 0 };

	/* "y,," is "eSws": "biws" no longer matches, and with "eSws" the proof is merely wrong */
	CHECK_INT(server_first_str(&y, &keys, "y,,n=,r=" RFC_CNONCE), SCRAM_OK);
	CHECK_INT(server_final_str(&y, RFC_CLIENT_FINAL), SCRAM_MALFORMED);
	CHECK_INT(server_final_str(&y, "c=eSws,r=" RFC_CNONCE RFC_SNONCE RFC_PROOF),
		  SCRAM_BAD_PROOF);
	auth_scram_server_reset(&y);
}

TEST(scram_server_refuses_an_authzid_as_postgres_does)
{
	static const char *const with_authzid[] = {
		"n,a=bob,n=,r=" RFC_CNONCE,
		"y,a=bob,n=,r=" RFC_CNONCE,
		"n,a=,n=,r=abc",
		"n,a=bob",
		"n,a",
	};
	struct scram_keys keys = rfc_keys(NULL);

	for (size_t i = 0; i < ARRAY_SIZE(with_authzid); i++) {
		struct scram_server st = { 0 };

		if (server_first_str(&st, &keys, with_authzid[i]) != SCRAM_AUTHZID)
			harness_fail(__FILE__, __LINE__, with_authzid[i]);
		CHECK(st.nonce == NULL);
		auth_scram_server_reset(&st);
	}
	/* PostgreSQL looks at the flag first: a bad one is malformed, authzid or not */
	{
		struct scram_server st = { 0 };

		CHECK_INT(server_first_str(&st, &keys, "x,a=bob,n=,r=abc"), SCRAM_MALFORMED);
		CHECK_INT(server_first_str(&st, &keys, "p=tls-unique,a=bob,n=,r=abc"),
			  SCRAM_MALFORMED);
		auth_scram_server_reset(&st);
	}
}

TEST(scram_split_derivation_gives_the_rfc7677_keys)
{
	uint8_t salted[SCRAM_KEY_LEN], ckey_split[SCRAM_KEY_LEN], ckey_whole[SCRAM_KEY_LEN];
	struct scram_keys whole = rfc_keys(ckey_whole), split, parsed;

	CHECK(auth_scram_salted_password(RFC_PASSWORD, rfc_salt, sizeof(rfc_salt), 4096, salted));
	CHECK(auth_scram_keys_from_salted(salted, rfc_salt, sizeof(rfc_salt), 4096, &split,
					  ckey_split));
	CHECK(memcmp(&whole, &split, sizeof(split)) == 0);
	CHECK(memcmp(ckey_whole, ckey_split, SCRAM_KEY_LEN) == 0);
	/* the verifier computed independently (Python's hashlib) for the RFC's password */
	CHECK(auth_scram_parse_verifier("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
					"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
					"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
					&parsed));
	CHECK(memcmp(parsed.stored_key, split.stored_key, SCRAM_KEY_LEN) == 0);
	CHECK(memcmp(parsed.server_key, split.server_key, SCRAM_KEY_LEN) == 0);
	/* ClientKey is optional */
	CHECK(auth_scram_keys_from_salted(salted, rfc_salt, sizeof(rfc_salt), 4096, &split, NULL));
}

TEST(scram_split_derivation_checks_its_parameters)
{
	uint8_t salted[SCRAM_KEY_LEN] = { 0 };
	struct scram_keys keys;

	CHECK(!auth_scram_salted_password("pw", rfc_salt, sizeof(rfc_salt), 0, salted));
	CHECK(!auth_scram_salted_password("pw", rfc_salt, sizeof(rfc_salt),
					  SCRAM_MAX_ITERATIONS + 1, salted));
	CHECK(!auth_scram_salted_password("pw", rfc_salt, 0, 4096, salted));
	CHECK(!auth_scram_salted_password("pw", NULL, 16, 4096, salted));
	CHECK(!auth_scram_salted_password(NULL, rfc_salt, sizeof(rfc_salt), 4096, salted));
	CHECK(!auth_scram_keys_from_salted(salted, rfc_salt, SCRAM_MAX_SALT_LEN + 1, 4096, &keys,
					   NULL));
	CHECK(!auth_scram_keys_from_salted(salted, rfc_salt, sizeof(rfc_salt), 0, &keys, NULL));
}

TEST(scram_client_in_two_steps_gives_the_rfc7677_messages)
{
	uint8_t salted[SCRAM_KEY_LEN], ckey[SCRAM_KEY_LEN];
	struct scram_kdf_params p = { .salt_len = 0 };
	struct scram_client cl = { 0 };
	struct scram_keys keys;
	char out[256];

	rfc_client_start(&cl);
	/* no proof and no signature before server-first */
	CHECK_INT(auth_scram_client_proof(&cl, &keys, ckey, out, sizeof(out)), SCRAM_MALFORMED);
	CHECK_INT(auth_scram_client_read_first(&cl, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST), &p),
		  SCRAM_OK);
	CHECK_INT(p.iterations, 4096);
	CHECK_INT(p.salt_len, sizeof(rfc_salt));
	CHECK(memcmp(p.salt, rfc_salt, sizeof(rfc_salt)) == 0);
	/* server-first is taken once */
	CHECK_INT(auth_scram_client_read_first(&cl, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST), &p),
		  SCRAM_MALFORMED);
	/* a SASLFinal before client-final was built cannot verify, whatever it holds */
	CHECK_INT(
	    auth_scram_client_verify(&cl, "v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 46),
	    SCRAM_MALFORMED);
	CHECK(auth_scram_salted_password(RFC_PASSWORD, p.salt, p.salt_len, p.iterations, salted));
	CHECK(auth_scram_keys_from_salted(salted, p.salt, p.salt_len, p.iterations, &keys, ckey));
	CHECK_INT(auth_scram_client_proof(&cl, &keys, ckey, out, sizeof(out)), SCRAM_OK);
	CHECK_STR(out, RFC_CLIENT_FINAL);
	CHECK_INT(auth_scram_client_proof(&cl, &keys, ckey, out, sizeof(out)), SCRAM_MALFORMED);
	CHECK_INT(auth_scram_client_verify(&cl, RFC_SERVER_FINAL, strlen(RFC_SERVER_FINAL)),
		  SCRAM_OK);
	auth_scram_client_reset(&cl);
	CHECK(!cl.signature_ready);
}

TEST(scram_client_reads_any_iteration_count_the_caller_then_judges)
{
	static const struct {
		const char *count;
		enum scram_result res;
		uint32_t iterations;
	} cases[] = {
		{ "4096", SCRAM_OK, 4096 },
		{ "10000001", SCRAM_OK, 10000001 },
		{ "20000000", SCRAM_OK, 20000000 },
		{ "4294967295", SCRAM_OK, 4294967295u },
		{ "4294967296", SCRAM_MALFORMED, 0 },
		{ "99999999999999999999", SCRAM_MALFORMED, 0 },
		{ "0", SCRAM_MALFORMED, 0 },
		{ "-1", SCRAM_MALFORMED, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct scram_kdf_params p = { .iterations = 0 };
		struct scram_client cl = { 0 };
		char msg[256];

		snprintf(msg, sizeof(msg), "r=%s%s,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=%s", RFC_CNONCE,
			 RFC_SNONCE, cases[i].count);
		rfc_client_start(&cl);
		if (auth_scram_client_read_first(&cl, msg, strlen(msg), &p) != cases[i].res ||
		    (cases[i].res == SCRAM_OK && p.iterations != cases[i].iterations))
			harness_fail(__FILE__, __LINE__, cases[i].count);
		auth_scram_client_reset(&cl);
	}
}

TEST(scram_client_final_rejects_malformed_server_first)
{
	static const char *const bad[] = {
		"",
		"r=",
		"r=" RFC_CNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"r=XXXXNGfwEbeRWgbNEkqO" RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"r=" RFC_CNONCE RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096",
		"r=" RFC_CNONCE RFC_SNONCE ",s=,i=4096",
		"r=" RFC_CNONCE RFC_SNONCE ",i=4096",
		"r=" RFC_CNONCE RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==",
		"r=" RFC_CNONCE RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
		"r=" RFC_CNONCE RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=10000001",
		"r=" RFC_CNONCE RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999999999999",
		"r=" RFC_CNONCE RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1",
		"r=" RFC_CNONCE RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=40x6",
		"r=" RFC_CNONCE RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,",
		"m=ext,r=" RFC_CNONCE RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"s=W22ZaJ0SNY7soEsUEjb6gQ==,r=" RFC_CNONCE RFC_SNONCE ",i=4096",
		"r=" RFC_CNONCE RFC_SNONCE ",s=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,i=4096",
		"r=" RFC_CNONCE " x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"e=other-error",
	};
	struct scram_client_creds creds = { .password = RFC_PASSWORD };

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct scram_client cl = { 0 };

		rfc_client_start(&cl);
		if (client_final_str(&cl, &creds, bad[i]) != SCRAM_MALFORMED)
			harness_fail(__FILE__, __LINE__, bad[i]);
		auth_scram_client_reset(&cl);
	}
}

TEST(scram_client_final_rejects_embedded_nul_and_bad_state)
{
	static const char with_nul[] = RFC_SERVER_FIRST "\0,x=1";
	struct scram_client_creds creds = { .password = RFC_PASSWORD };
	struct scram_client cl = { 0 };
	char out[256];

	CHECK_INT(client_final_str(&cl, &creds, RFC_SERVER_FIRST), SCRAM_MALFORMED);
	rfc_client_start(&cl);
	CHECK_INT(
	    auth_scram_client_final(&cl, &creds, with_nul, sizeof(with_nul) - 1, out, sizeof(out)),
	    SCRAM_MALFORMED);
	CHECK_INT(client_final_str(&cl, NULL, RFC_SERVER_FIRST), SCRAM_MALFORMED);
	CHECK_INT(auth_scram_client_verify(&cl, RFC_SERVER_FINAL, strlen(RFC_SERVER_FINAL)),
		  SCRAM_MALFORMED);
	auth_scram_client_reset(&cl);
}

TEST(scram_pass_through_needs_matching_salt_and_iterations)
{
	uint8_t client_key[SCRAM_KEY_LEN];
	struct scram_keys keys = rfc_keys(client_key);
	struct scram_client_creds creds = { .keys = &keys, .client_key = client_key };
	struct scram_client cl = { 0 }, cl2 = { 0 };

	rfc_client_start(&cl);
	CHECK_INT(client_final_str(&cl, &creds,
				   "r=" RFC_CNONCE RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4097"),
		  SCRAM_BAD_PROOF);
	rfc_client_start(&cl2);
	CHECK_INT(client_final_str(&cl2, &creds,
				   "r=" RFC_CNONCE RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gA==,i=4096"),
		  SCRAM_BAD_PROOF);
	auth_scram_client_reset(&cl);
	auth_scram_client_reset(&cl2);
}

TEST(scram_client_verify_rejects_bad_server_final)
{
	static const char *const malformed[] = {
		"",
		"v=",
		"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4",
		"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95A==",
		"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G5=", /* non-canonical padding bits */
		"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=,",
		"x=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
	};
	struct scram_client_creds creds = { .password = RFC_PASSWORD };
	struct scram_client cl = { 0 };

	rfc_client_start(&cl);
	CHECK_INT(client_final_str(&cl, &creds, RFC_SERVER_FIRST), SCRAM_OK);
	for (size_t i = 0; i < ARRAY_SIZE(malformed); i++) {
		if (auth_scram_client_verify(&cl, malformed[i], strlen(malformed[i])) !=
		    SCRAM_MALFORMED)
			harness_fail(__FILE__, __LINE__, malformed[i]);
	}
	CHECK_INT(auth_scram_client_verify(&cl, "e=invalid-proof", 15), SCRAM_BAD_PROOF);
	CHECK_INT(
	    auth_scram_client_verify(&cl, "v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", 46),
	    SCRAM_BAD_PROOF);
	/* extensions after the signature are allowed */
	CHECK_INT(
	    auth_scram_client_verify(&cl, RFC_SERVER_FINAL ",x=1", strlen(RFC_SERVER_FINAL ",x=1")),
	    SCRAM_OK);
	auth_scram_client_reset(&cl);
}

TEST(scram_client_first_checks_nonce_and_room)
{
	struct scram_client cl = { 0 }, cl2 = { 0 };
	char out[64], out2[64];

	CHECK(!auth_scram_client_first(&cl, "bad,nonce", out, sizeof(out)));
	CHECK(!auth_scram_client_first(&cl, "", out, sizeof(out)));
	CHECK(!auth_scram_client_first(&cl, RFC_CNONCE, out, 10));
	CHECK(auth_scram_client_first(&cl, NULL, out, sizeof(out)));
	CHECK_INT(strlen(out), strlen("n,,n=,r=") + 32);
	CHECK(auth_scram_client_first(&cl2, NULL, out2, sizeof(out2)));
	CHECK(strcmp(cl.client_nonce, cl2.client_nonce) != 0);
	CHECK(!auth_scram_client_first(&cl, NULL, out, sizeof(out)));
	auth_scram_client_reset(&cl);
	auth_scram_client_reset(&cl2);
}

/* A small deterministic generator; the state lives in the caller. */
static uint32_t next_rand(uint32_t *state)
{
	*state = *state * 1103515245u + 12345u;
	return *state >> 8;
}

/* Mutates one to four bytes of src into dst and returns the (possibly cut) length. */
static size_t mutate(const char *src, char *dst, uint32_t *state)
{
	static const char alphabet[] = "=,nrpcvseiam0A/+\0\xff";
	size_t len = strlen(src);
	uint32_t edits = 1 + next_rand(state) % 4;

	memcpy(dst, src, len);
	for (uint32_t e = 0; e < edits; e++)
		dst[next_rand(state) % len] = alphabet[next_rand(state) % (sizeof(alphabet) - 1)];
	if (next_rand(state) % 4 == 0)
		len = next_rand(state) % len;
	return len;
}

TEST(scram_mutated_messages_never_crash)
{
	uint8_t client_key[SCRAM_KEY_LEN];
	struct scram_keys keys = rfc_keys(client_key);
	/* cached keys rather than a password, so that no iteration pays for PBKDF2 */
	struct scram_client_creds creds = { .keys = &keys, .client_key = client_key };
	uint32_t seed = 12345;
	char msg[256], out[256];

	for (int i = 0; i < 2000; i++) {
		struct scram_server st = { 0 };
		struct scram_client cl = { 0 };
		size_t n = mutate(RFC_CLIENT_FIRST, msg, &seed);
		enum scram_result r1, r2, r3;

		if (auth_scram_server_first(&st, &keys, msg, n, RFC_SNONCE, out, sizeof(out)) ==
		    SCRAM_OK) {
			n = mutate(RFC_CLIENT_FINAL, msg, &seed);
			r1 = auth_scram_server_final(&st, msg, n, out, sizeof(out));
			CHECK(r1 == SCRAM_MALFORMED || r1 == SCRAM_BAD_PROOF || r1 == SCRAM_OK);
		}
		rfc_client_start(&cl);
		n = mutate(RFC_SERVER_FIRST, msg, &seed);
		r2 = auth_scram_client_final(&cl, &creds, msg, n, out, sizeof(out));
		if (r2 == SCRAM_OK) {
			n = mutate(RFC_SERVER_FINAL, msg, &seed);
			r3 = auth_scram_client_verify(&cl, msg, n);
			CHECK(r3 == SCRAM_MALFORMED || r3 == SCRAM_BAD_PROOF || r3 == SCRAM_OK);
		}
		auth_scram_server_reset(&st);
		auth_scram_client_reset(&cl);
	}
}

/* A stand-in for a certificate hash (tls-server-end-point data). */
static const uint8_t cert_hash[32] = { 1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
				       12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
				       23, 24, 25, 26, 27, 28, 29, 30, 31 };

/* One exchange between weir's two roles with the given channel binding on each side. */
static enum scram_result bound_exchange(char flag, const uint8_t *client_data, bool plus,
					size_t offered_len)
{
	struct scram_client_creds creds = { .password = PG15_PASSWORD };
	struct scram_client cl = { 0 };
	struct scram_server st = { 0 };
	struct scram_keys keys;
	char msg[512], reply[512];
	enum scram_result res;

	CHECK(auth_scram_parse_verifier(PG15_VERIFIER, &keys));
	CHECK(auth_scram_client_bind(&cl, flag, client_data, flag == 'p' ? sizeof(cert_hash) : 0));
	auth_scram_server_bind(&st, cert_hash, offered_len, plus);
	CHECK(auth_scram_client_first(&cl, NULL, msg, sizeof(msg)));
	res = auth_scram_server_first(&st, &keys, msg, strlen(msg), NULL, reply, sizeof(reply));
	if (res == SCRAM_OK) {
		CHECK_INT(
		    auth_scram_client_final(&cl, &creds, reply, strlen(reply), msg, sizeof(msg)),
		    SCRAM_OK);
		res = auth_scram_server_final(&st, msg, strlen(msg), reply, sizeof(reply));
	}
	auth_scram_client_reset(&cl);
	auth_scram_server_reset(&st);
	return res;
}

TEST(scram_plus_binds_both_roles_to_the_certificate_hash)
{
	uint8_t other[sizeof(cert_hash)];

	CHECK_INT(bound_exchange('p', cert_hash, true, sizeof(cert_hash)), SCRAM_OK);
	memcpy(other, cert_hash, sizeof(other));
	other[0] ^= 1; /* a man in the middle: the client saw another certificate */
	CHECK_INT(bound_exchange('p', other, true, sizeof(cert_hash)), SCRAM_MALFORMED);
}

TEST(scram_plus_negotiation_is_checked_as_postgres_does)
{
	/* 'y' while -PLUS was offered: a downgrade */
	CHECK_INT(bound_exchange('y', NULL, false, sizeof(cert_hash)), SCRAM_MALFORMED);
	/* 'y' when nothing was offered, 'n' without -PLUS: fine */
	CHECK_INT(bound_exchange('y', NULL, false, 0), SCRAM_OK);
	CHECK_INT(bound_exchange('n', NULL, false, sizeof(cert_hash)), SCRAM_OK);
	/* -PLUS chosen without binding, binding without -PLUS, binding never offered */
	CHECK_INT(bound_exchange('n', NULL, true, sizeof(cert_hash)), SCRAM_MALFORMED);
	CHECK_INT(bound_exchange('p', cert_hash, false, sizeof(cert_hash)), SCRAM_MALFORMED);
	CHECK_INT(bound_exchange('p', cert_hash, true, 0), SCRAM_MALFORMED);
}

TEST(scram_client_bind_checks_its_arguments)
{
	struct scram_client cl = { 0 };
	uint8_t big[SCRAM_CBIND_MAX + 1] = { 0 };

	CHECK(!auth_scram_client_bind(&cl, 'x', NULL, 0));
	CHECK(!auth_scram_client_bind(&cl, 'p', NULL, 0));
	CHECK(!auth_scram_client_bind(&cl, 'n', cert_hash, sizeof(cert_hash)));
	CHECK(!auth_scram_client_bind(&cl, 'p', big, sizeof(big)));
	CHECK(auth_scram_client_bind(&cl, 'p', cert_hash, sizeof(cert_hash)));
}
