/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for wire_parse.c and wire_build.c: the bounded reader and its sticky failure,
 * header checks against truncated, tiny and huge lengths, the builder's overflow flag, the
 * exact bytes of the messages weir sends, and round trips through the parsers.
 */
#include <string.h>

#include "harness.h"
#include "wire.h"

/* True if the builder holds exactly the n bytes at expected. */
static bool built_equals(const struct wire_builder *b, const void *expected, size_t n)
{
	return wire_builder_ok(b) && b->len == n && memcmp(b->buf, expected, n) == 0;
}

TEST(wire_reader_reads_big_endian)
{
	static const uint8_t pkt[] = { 0xab, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 'h', 'i', 0, 7 };
	struct wire_reader r;
	const uint8_t *tail;

	wire_reader_init(&r, pkt, sizeof(pkt));
	CHECK_INT(wire_get_u8(&r), 0xab);
	CHECK_INT(wire_get_u16(&r), 0x1234);
	CHECK_INT(wire_get_u32(&r), 0xdeadbeefu);
	CHECK_STR(wire_get_cstring(&r), "hi");
	CHECK_INT(wire_remaining(&r), 1);
	tail = wire_get_bytes(&r, 1);
	CHECK(tail && tail[0] == 7);
	CHECK_INT(wire_remaining(&r), 0);
	CHECK(wire_reader_ok(&r));
}

TEST(wire_reader_failure_is_sticky)
{
	static const uint8_t pkt[] = { 1, 2, 3 };
	struct wire_reader r;

	wire_reader_init(&r, pkt, sizeof(pkt));
	CHECK_INT(wire_get_u32(&r), 0);
	CHECK(!wire_reader_ok(&r));
	/* three bytes are still there, but a failed reader yields nothing more */
	CHECK_INT(wire_get_u8(&r), 0);
	CHECK_INT(wire_get_u16(&r), 0);
	CHECK(wire_get_bytes(&r, 0) == NULL);
	CHECK(wire_get_cstring(&r) == NULL);
	CHECK(!wire_reader_ok(&r));
}

TEST(wire_reader_cstring_without_nul_fails)
{
	static const uint8_t pkt[] = { 'a', 'b', 'c' };
	struct wire_reader r;

	wire_reader_init(&r, pkt, sizeof(pkt));
	CHECK(wire_get_cstring(&r) == NULL);
	CHECK(!wire_reader_ok(&r));
	wire_reader_init(&r, NULL, 0);
	CHECK(wire_get_cstring(&r) == NULL);
	CHECK(!wire_reader_ok(&r));
}

TEST(wire_reader_huge_lengths_do_not_wrap)
{
	static const uint8_t pkt[] = { 1, 2, 3, 4 };
	struct wire_reader r;

	wire_reader_init(&r, pkt, sizeof(pkt));
	CHECK_INT(wire_get_u8(&r), 1);
	CHECK(wire_get_bytes(&r, SIZE_MAX) == NULL);
	CHECK(!wire_reader_ok(&r));
	wire_reader_init(&r, pkt, sizeof(pkt));
	CHECK(wire_get_bytes(&r, 0xffffffffu) == NULL);
	wire_reader_init(&r, pkt, sizeof(pkt));
	CHECK(wire_get_bytes(&r, 4) == pkt);
	CHECK(wire_get_bytes(&r, 0) != NULL);
	CHECK(wire_reader_ok(&r));
}

/* Checks wire_typed_header on 'Q' + the given length, with all 5 bytes available. */
static enum wire_hdr_result typed(uint32_t n, uint32_t max_len, uint32_t *len)
{
	uint8_t buf[5] = { 'Q', (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
			   (uint8_t)n };
	uint8_t type = 0;

	return wire_typed_header(buf, sizeof(buf), max_len, &type, len);
}

TEST(wire_typed_header_lengths)
{
	static const uint8_t hdr[] = { 'Q', 0, 0, 0, 9 };
	uint32_t len = 0;
	uint8_t type = 0;

	for (size_t avail = 0; avail < 5; avail++)
		CHECK_INT(wire_typed_header(hdr, avail, 8192, &type, &len), WIRE_HDR_NEED_MORE);
	CHECK_INT(wire_typed_header(hdr, 5, 8192, &type, &len), WIRE_HDR_OK);
	CHECK_INT(type, 'Q');
	CHECK_INT(len, 9);
	CHECK_INT(typed(0, 8192, &len), WIRE_HDR_BAD);
	CHECK_INT(typed(3, 8192, &len), WIRE_HDR_BAD);
	CHECK_INT(typed(4, 8192, &len), WIRE_HDR_OK);
	CHECK_INT(typed(8192, 8192, &len), WIRE_HDR_OK);
	CHECK_INT(typed(8193, 8192, &len), WIRE_HDR_BAD);
	CHECK_INT(typed(0x7fffffffu, 8192, &len), WIRE_HDR_BAD);
	CHECK_INT(typed(0xffffffffu, 8192, &len), WIRE_HDR_BAD);
	/* even with no limit from the caller, a negative int32 length is refused */
	CHECK_INT(typed(0x80000000u, UINT32_MAX, &len), WIRE_HDR_BAD);
	CHECK_INT(typed(0xffffffffu, UINT32_MAX, &len), WIRE_HDR_BAD);
	CHECK_INT(typed(0x7fffffffu, UINT32_MAX, &len), WIRE_HDR_OK);
}

static enum wire_hdr_result untyped(uint32_t n, uint32_t *len)
{
	uint8_t buf[4] = { (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n };

	return wire_untyped_header(buf, sizeof(buf), WIRE_MAX_STARTUP_LEN, len);
}

TEST(wire_untyped_header_lengths)
{
	static const uint8_t hdr[] = { 0, 0, 0, 8 };
	uint32_t len = 0;

	for (size_t avail = 0; avail < 4; avail++)
		CHECK_INT(wire_untyped_header(hdr, avail, WIRE_MAX_STARTUP_LEN, &len),
			  WIRE_HDR_NEED_MORE);
	CHECK_INT(wire_untyped_header(hdr, 4, WIRE_MAX_STARTUP_LEN, &len), WIRE_HDR_OK);
	CHECK_INT(len, 8);
	CHECK_INT(untyped(0, &len), WIRE_HDR_BAD);
	CHECK_INT(untyped(3, &len), WIRE_HDR_BAD);
	CHECK_INT(untyped(7, &len), WIRE_HDR_BAD);
	CHECK_INT(untyped(WIRE_MAX_STARTUP_LEN, &len), WIRE_HDR_OK);
	CHECK_INT(untyped(WIRE_MAX_STARTUP_LEN + 1, &len), WIRE_HDR_BAD);
	CHECK_INT(untyped(0x7fffffffu, &len), WIRE_HDR_BAD);
	CHECK_INT(untyped(0xffffffffu, &len), WIRE_HDR_BAD);
}

TEST(wire_builder_overflow_is_sticky)
{
	uint8_t buf[6];
	struct wire_builder b;

	wire_builder_init(&b, buf, sizeof(buf));
	wire_query(&b, "SELECT 1");
	CHECK(!wire_builder_ok(&b));
	/* a later message that would fit on its own is not written either */
	wire_terminate(&b);
	CHECK(!wire_builder_ok(&b));
	wire_put_u8(&b, 1);
	CHECK(!wire_builder_ok(&b));
	CHECK(b.len <= sizeof(buf));

	wire_builder_init(&b, NULL, 100);
	wire_put_u8(&b, 1);
	CHECK(!wire_builder_ok(&b));
}

TEST(wire_builder_exact_fit)
{
	static const uint8_t expected[] = { 'Z', 0, 0, 0, 5, 'I' };
	uint8_t buf[sizeof(expected)];
	struct wire_builder b;

	wire_builder_init(&b, buf, sizeof(buf));
	wire_ready_for_query(&b, 'I');
	CHECK(built_equals(&b, expected, sizeof(expected)));
	wire_put_u8(&b, 0);
	CHECK(!wire_builder_ok(&b));
}

TEST(wire_builder_primitives)
{
	static const uint8_t expected[] = "x\0\0\0\x0e\xfe\x12\x34\xca\xfe\xba\xbeok";
	uint8_t buf[64];
	struct wire_builder b;

	wire_builder_init(&b, buf, sizeof(buf));
	wire_begin(&b, 'x');
	wire_put_u8(&b, 0xfe);
	wire_put_u16(&b, 0x1234);
	wire_put_u32(&b, 0xcafebabeu);
	wire_put_cstring(&b, "ok");
	wire_put_bytes(&b, NULL, 0);
	wire_end(&b);
	CHECK(built_equals(&b, expected, sizeof(expected)));
}

TEST(wire_error_bytes)
{
	static const uint8_t expected[] = "E\0\0\0\x28"
					  "SFATAL\0VFATAL\0C28P01\0Mno such user\0";
	uint8_t buf[128];
	struct wire_builder b;

	wire_builder_init(&b, buf, sizeof(buf));
	wire_error(&b, "FATAL", "28P01", "no such user");
	/* sizeof counts the literal's own NUL, which is the field list's terminator */
	CHECK(built_equals(&b, expected, sizeof(expected)));
}

TEST(wire_error_and_notice_parse_back)
{
	uint8_t buf[256];
	struct wire_builder b;
	struct wire_error_fields f;

	wire_builder_init(&b, buf, sizeof(buf));
	wire_error(&b, "ERROR", "08P01", "bad packet");
	CHECK(wire_parse_error(buf + 5, b.len - 5, &f));
	CHECK_STR(f.severity, "ERROR");
	CHECK_STR(f.sqlstate, "08P01");
	CHECK_STR(f.message, "bad packet");
	CHECK(f.detail == NULL && f.hint == NULL);

	wire_builder_init(&b, buf, sizeof(buf));
	wire_notice(&b, "heads up");
	CHECK_INT(buf[0], 'N');
	CHECK(wire_parse_error(buf + 5, b.len - 5, &f));
	CHECK_STR(f.severity, "NOTICE");
	CHECK_STR(f.sqlstate, "00000");
	CHECK_STR(f.message, "heads up");
}

TEST(wire_parse_error_prefers_v_and_skips_unknown_fields)
{
	static const char body[] = "SFEHLER\0VERROR\0C42P01\0Mrelation missing\0Dsome detail\0"
				   "Hsome hint\0P17\0Fparse_relation.c\0L1392\0";
	struct wire_error_fields f;

	CHECK(wire_parse_error(body, sizeof(body), &f));
	CHECK_STR(f.severity, "ERROR");
	CHECK_STR(f.sqlstate, "42P01");
	CHECK_STR(f.message, "relation missing");
	CHECK_STR(f.detail, "some detail");
	CHECK_STR(f.hint, "some hint");
	/* without V, S is the severity */
	CHECK(wire_parse_error("SWARNUNG\0", 10, &f));
	CHECK_STR(f.severity, "WARNUNG");
	CHECK(f.message == NULL);
}

TEST(wire_parse_error_rejects_malformed)
{
	struct wire_error_fields f;

	CHECK(!wire_parse_error("", 0, &f));		    /* empty */
	CHECK(!wire_parse_error(NULL, 0, &f));		    /* nothing at all */
	CHECK(!wire_parse_error("SERROR\0", 7, &f));	    /* no terminator */
	CHECK(!wire_parse_error("SERROR", 6, &f));	    /* no NUL in field */
	CHECK(!wire_parse_error("S", 1, &f));		    /* type only */
	CHECK(!wire_parse_error("SERROR\0\0junk", 12, &f)); /* bytes after end */
	CHECK(f.severity == NULL && f.message == NULL);
	CHECK(wire_parse_error("\0", 1, &f)); /* no fields is fine */
	CHECK(f.severity == NULL);
}

TEST(wire_startup_roundtrip)
{
	static const char *const names[] = { "user", "database", "application_name" };
	static const char *const values[] = { "alice", "app", "" };
	uint8_t buf[256];
	struct wire_builder b;
	struct wire_reader r;
	const char *name, *value;
	uint32_t len = 0;
	size_t i = 0;

	wire_builder_init(&b, buf, sizeof(buf));
	wire_startup(&b, names, values, ARRAY_SIZE(names));
	CHECK(wire_builder_ok(&b));
	CHECK_INT(wire_untyped_header(buf, b.len, WIRE_MAX_STARTUP_LEN, &len), WIRE_HDR_OK);
	CHECK_INT(len, b.len);
	wire_reader_init(&r, buf + 4, len - 4);
	CHECK_INT(wire_get_u32(&r), WIRE_PROTO_V3);
	CHECK_INT(WIRE_PROTO_V3, 196608);
	while (wire_startup_next_param(&r, &name, &value)) {
		CHECK(i < ARRAY_SIZE(names));
		if (i >= ARRAY_SIZE(names))
			break;
		CHECK_STR(name, names[i]);
		CHECK_STR(value, values[i]);
		i++;
	}
	CHECK(wire_reader_ok(&r));
	CHECK_INT(i, ARRAY_SIZE(names));
}

/* Counts the parameters of a StartupMessage body (after the code); -1 if malformed. */
static int count_params(const void *body, size_t len)
{
	struct wire_reader r;
	const char *name, *value;
	int n = 0;

	wire_reader_init(&r, body, len);
	while (wire_startup_next_param(&r, &name, &value))
		n++;
	return wire_reader_ok(&r) ? n : -1;
}

TEST(wire_startup_params_malformed)
{
	CHECK_INT(count_params("user\0bob\0\0", 10), 1);
	CHECK_INT(count_params("\0", 1), 0);
	CHECK_INT(count_params("user\0bob\0", 9), -1);	   /* no final NUL */
	CHECK_INT(count_params("user\0bob", 8), -1);	   /* value without NUL */
	CHECK_INT(count_params("user", 4), -1);		   /* name without NUL */
	CHECK_INT(count_params("user\0bob\0\0x", 11), -1); /* bytes after the end */
	CHECK_INT(count_params("", 0), -1);
}

TEST(wire_cancel_and_ssl_request_bytes)
{
	static const uint8_t cancel[] = { 0, 0, 0,    16,   0x04, 0xd2, 0x16, 0x2e,
					  0, 0, 0x30, 0x39, 0xde, 0xad, 0xbe, 0xef };
	static const uint8_t ssl[] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f };
	uint8_t buf[32];
	struct wire_builder b;

	wire_builder_init(&b, buf, sizeof(buf));
	wire_cancel_request(&b, 12345, 0xdeadbeefu);
	CHECK(built_equals(&b, cancel, sizeof(cancel)));
	wire_builder_init(&b, buf, sizeof(buf));
	wire_ssl_request(&b);
	CHECK(built_equals(&b, ssl, sizeof(ssl)));
}

TEST(wire_auth_messages_bytes)
{
	static const char *const mechs[] = { "SCRAM-SHA-256" };
	static const uint8_t sasl[] = "R\0\0\0\x17\0\0\0\x0aSCRAM-SHA-256\0";
	static const uint8_t md5[] = { 'R', 0, 0, 0, 12, 0, 0, 0, 5, 1, 2, 3, 4 };
	static const uint8_t ok[] = { 'R', 0, 0, 0, 8, 0, 0, 0, 0 };
	static const uint8_t salt[4] = { 1, 2, 3, 4 };
	uint8_t buf[64];
	struct wire_builder b;

	wire_builder_init(&b, buf, sizeof(buf));
	wire_auth_sasl_mechanisms(&b, mechs, 1);
	CHECK(built_equals(&b, sasl, sizeof(sasl)));
	wire_builder_init(&b, buf, sizeof(buf));
	wire_auth_request(&b, WIRE_AUTH_MD5, salt, sizeof(salt));
	CHECK(built_equals(&b, md5, sizeof(md5)));
	wire_builder_init(&b, buf, sizeof(buf));
	wire_auth_request(&b, WIRE_AUTH_OK, NULL, 0);
	CHECK(built_equals(&b, ok, sizeof(ok)));
}

TEST(wire_sasl_responses_bytes)
{
	static const uint8_t initial[] = "p\0\0\0\x1bSCRAM-SHA-256\0\0\0\0\x05n,,ab";
	static const uint8_t no_data[] = "p\0\0\0\x16SCRAM-SHA-256\0\xff\xff\xff\xff";
	static const uint8_t cont[] = { 'p', 0, 0, 0, 7, 'c', '=', 'x' };
	uint8_t buf[64];
	struct wire_builder b;

	wire_builder_init(&b, buf, sizeof(buf));
	wire_sasl_initial_response(&b, "SCRAM-SHA-256", "n,,ab", 5);
	CHECK(built_equals(&b, initial, sizeof(initial) - 1));
	wire_builder_init(&b, buf, sizeof(buf));
	wire_sasl_initial_response(&b, "SCRAM-SHA-256", NULL, 0);
	CHECK(built_equals(&b, no_data, sizeof(no_data) - 1));
	wire_builder_init(&b, buf, sizeof(buf));
	wire_sasl_response(&b, "c=x", 3);
	CHECK(built_equals(&b, cont, sizeof(cont)));
}

TEST(wire_session_messages_bytes)
{
	static const uint8_t expected[] = "S\0\0\0\x15TimeZone\0Etc/UTC\0"
					  "K\0\0\0\x0c\0\0\x30\x39\x01\x02\x03\x04"
					  "C\0\0\0\x0dSELECT 1\0"
					  "I\0\0\0\x04"
					  "Q\0\0\0\x0dSELECT 1\0"
					  "p\0\0\0\x07pw\0"
					  "X\0\0\0\x04";
	uint8_t buf[128];
	struct wire_builder b;

	wire_builder_init(&b, buf, sizeof(buf));
	wire_parameter_status(&b, "TimeZone", "Etc/UTC");
	wire_backend_key_data(&b, 12345, 0x01020304u);
	wire_command_complete(&b, "SELECT 1");
	wire_empty_query_response(&b);
	wire_query(&b, "SELECT 1");
	wire_password(&b, "pw");
	wire_terminate(&b);
	CHECK(built_equals(&b, expected, sizeof(expected) - 1));
}

TEST(wire_negotiate_protocol_bytes)
{
	static const char *const opts[] = { "_pq_.foo", "_pq_.bar" };
	static const uint8_t expected[] = "v\0\0\0\x1e\0\x03\0\0\0\0\0\x02_pq_.foo\0_pq_.bar\0";
	uint8_t buf[64];
	struct wire_builder b;

	wire_builder_init(&b, buf, sizeof(buf));
	wire_negotiate_protocol(&b, WIRE_PROTO_V3, opts, ARRAY_SIZE(opts));
	CHECK(built_equals(&b, expected, sizeof(expected) - 1));
}

TEST(wire_header_then_reader_on_built_message)
{
	uint8_t buf[64];
	struct wire_builder b;
	struct wire_reader r;
	uint32_t len = 0;
	uint8_t type = 0;

	wire_builder_init(&b, buf, sizeof(buf));
	wire_backend_key_data(&b, 42, 4242);
	CHECK_INT(wire_typed_header(buf, b.len, 8192, &type, &len), WIRE_HDR_OK);
	CHECK_INT(type, 'K');
	CHECK_INT((size_t)len + 1, b.len);
	wire_reader_init(&r, buf + 5, len - 4);
	CHECK_INT(wire_get_u32(&r), 42);
	CHECK_INT(wire_get_u32(&r), 4242);
	CHECK_INT(wire_remaining(&r), 0);
	CHECK(wire_reader_ok(&r));
}
