/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for prepared.c: parsing Parse, Bind, Describe and Close bodies (malformed ones
 * included), interning and reference counts, client maps, the per-server LRU, the exact
 * bytes of the rebuilt messages, large statements and table growth. Run under ASan/LSan,
 * so every test frees everything it makes.
 */
#include <string.h>

#include "harness.h"
#include "prepared.h"
#include "wire.h"

/* Writes a Parse body (no type byte or length) into buf; returns its length. */
static uint32_t parse_body(uint8_t *buf, size_t cap, const char *name, const char *query,
			   const uint32_t *oids, uint16_t n)
{
	struct wire_builder b;

	wire_builder_init(&b, buf, cap);
	wire_put_cstring(&b, name);
	wire_put_cstring(&b, query);
	wire_put_u16(&b, n);
	for (uint16_t i = 0; i < n; i++)
		wire_put_u32(&b, oids[i]);
	CHECK(wire_builder_ok(&b));
	return (uint32_t)b.len;
}

/* Interns query with the given types and returns the caller's reference. */
static struct ps_stmt *intern(struct ps_registry *r, const char *query, const uint32_t *oids,
			      uint16_t n)
{
	uint8_t buf[512];
	uint32_t len = parse_body(buf, sizeof(buf), "x", query, oids, n);
	struct ps_parse p;

	if (!ps_parse_parse(buf, len, &p))
		return NULL;
	return ps_intern(r, &p);
}

static bool built_equals(const struct wire_builder *b, const void *expected, size_t n)
{
	return wire_builder_ok(b) && b->len == n && memcmp(b->buf, expected, n) == 0;
}

TEST(parse_reads_name_query_and_types)
{
	static const uint32_t oids[] = { 23, 25 };
	uint8_t buf[128];
	uint32_t len = parse_body(buf, sizeof(buf), "s1", "SELECT $1, $2", oids, 2);
	struct ps_parse p;

	CHECK(ps_parse_parse(buf, len, &p));
	CHECK_STR(p.name, "s1");
	CHECK_STR(p.query, "SELECT $1, $2");
	CHECK_INT(p.query_len, 13);
	CHECK_INT(p.ntypes, 2);
	CHECK(memcmp(p.types, "\0\0\0\x17\0\0\0\x19", 8) == 0);
	len = parse_body(buf, sizeof(buf), "", "SELECT 1", NULL, 0);
	CHECK(ps_parse_parse(buf, len, &p));
	CHECK_STR(p.name, "");
	CHECK_INT(p.ntypes, 0);
}

TEST(parse_rejects_every_truncation)
{
	static const uint32_t oids[] = { 23 };
	uint8_t buf[128];
	uint32_t len = parse_body(buf, sizeof(buf), "s1", "SELECT $1", oids, 1);
	struct ps_parse p;

	for (uint32_t n = 0; n < len; n++)
		CHECK(!ps_parse_parse(buf, n, &p));
}

TEST(parse_rejects_missing_nul_and_trailing_bytes)
{
	static const uint8_t no_nul[] = { 's', '1', 0, 'S', 'E', 'L' };
	static const uint8_t trailing[] = { 's', 0, 'q', 0, 0, 0, 0xff };
	static const uint8_t name_only[] = { 's', '1', 0 };
	struct ps_parse p;

	CHECK(!ps_parse_parse(no_nul, sizeof(no_nul), &p));
	CHECK(!ps_parse_parse(trailing, sizeof(trailing), &p));
	CHECK(!ps_parse_parse(name_only, sizeof(name_only), &p));
}

TEST(parse_rejects_type_count_beyond_body)
{
	/* Two OIDs follow, but the count says 3, then 0xffff (-1 as a signed int16). */
	uint8_t body[] = { 's', 0, 'q', 0, 0, 3, 0, 0, 0, 23, 0, 0, 0, 25 };
	struct ps_parse p;

	CHECK(!ps_parse_parse(body, sizeof(body), &p));
	body[4] = 0xff;
	body[5] = 0xff;
	CHECK(!ps_parse_parse(body, sizeof(body), &p));
	body[4] = 0x80;
	body[5] = 0x00;
	CHECK(!ps_parse_parse(body, sizeof(body), &p));
	body[4] = 0;
	body[5] = 2;
	CHECK(ps_parse_parse(body, sizeof(body), &p));
}

TEST(bind_names_read_portal_and_statement)
{
	static const uint8_t body[] = { 'p', 0, 's', '1', 0, 0, 0, 0, 0, 0, 0 };
	static const uint8_t unnamed[] = { 0, 0, 0, 0, 0, 0, 0, 0 };
	const char *portal, *stmt;

	CHECK(ps_parse_bind_names(body, sizeof(body), &portal, &stmt));
	CHECK_STR(portal, "p");
	CHECK_STR(stmt, "s1");
	CHECK(ps_parse_bind_names(unnamed, sizeof(unnamed), &portal, &stmt));
	CHECK_STR(portal, "");
	CHECK_STR(stmt, "");
}

TEST(bind_names_reject_missing_nul)
{
	static const uint8_t body[] = { 'p', 0, 's', '1' };
	static const uint8_t empty[1] = { 0 };
	const char *portal, *stmt;

	CHECK(!ps_parse_bind_names(body, sizeof(body), &portal, &stmt));
	CHECK(!ps_parse_bind_names(body, 1, &portal, &stmt));
	CHECK(!ps_parse_bind_names(empty, 0, &portal, &stmt));
}

TEST(target_reads_kind_and_name)
{
	static const uint8_t stmt[] = { 'S', 's', '1', 0 };
	static const uint8_t portal[] = { 'P', 0 };
	const char *name;
	char kind;

	CHECK(ps_parse_target(stmt, sizeof(stmt), &kind, &name));
	CHECK_INT(kind, 'S');
	CHECK_STR(name, "s1");
	CHECK(ps_parse_target(portal, sizeof(portal), &kind, &name));
	CHECK_INT(kind, 'P');
	CHECK_STR(name, "");
}

TEST(target_rejects_bad_kind_truncation_and_trailing_bytes)
{
	static const uint8_t bad_kind[] = { 'X', 's', 0 };
	static const uint8_t no_nul[] = { 'S', 's', '1' };
	static const uint8_t trailing[] = { 'S', 's', 0, 'x' };
	static const uint8_t kind_only[] = { 'S' };
	const char *name;
	char kind;

	CHECK(!ps_parse_target(bad_kind, sizeof(bad_kind), &kind, &name));
	CHECK(!ps_parse_target(no_nul, sizeof(no_nul), &kind, &name));
	CHECK(!ps_parse_target(trailing, sizeof(trailing), &kind, &name));
	CHECK(!ps_parse_target(kind_only, sizeof(kind_only), &kind, &name));
	CHECK(!ps_parse_target(kind_only, 0, &kind, &name));
}

TEST(intern_shares_identical_statements)
{
	static const uint32_t oids[] = { 23 };
	struct ps_registry *r = ps_registry_create();
	struct ps_stmt *a = intern(r, "SELECT $1", oids, 1);
	struct ps_stmt *b = intern(r, "SELECT $1", oids, 1);

	CHECK(a != NULL && a == b);
	CHECK_INT(ps_registry_count(r), 1);
	CHECK_INT(ps_stmt_id(a), 1);
	CHECK_STR(ps_stmt_server_name(a), "WEIR_1");
	CHECK_STR(ps_stmt_query(a), "SELECT $1");
	ps_stmt_unref(r, a);
	CHECK_INT(ps_registry_count(r), 1);
	ps_stmt_unref(r, b);
	CHECK_INT(ps_registry_count(r), 0);
	ps_registry_free(r);
}

TEST(intern_distinguishes_types_and_text)
{
	static const uint32_t int4[] = { 23 }, text[] = { 25 }, unspecified[] = { 0 };
	struct ps_registry *r = ps_registry_create();
	struct ps_stmt *s[] = {
		intern(r, "SELECT $1", int4, 1),	intern(r, "SELECT $1", text, 1),
		intern(r, "SELECT $1", unspecified, 1), intern(r, "SELECT $1", NULL, 0),
		intern(r, "SELECT $10", NULL, 0),	intern(r, "SELECT $", NULL, 0),
	};

	CHECK_INT(ps_registry_count(r), ARRAY_SIZE(s));
	for (size_t i = 0; i < ARRAY_SIZE(s); i++)
		for (size_t j = i + 1; j < ARRAY_SIZE(s); j++)
			CHECK(s[i] != s[j] && ps_stmt_id(s[i]) != ps_stmt_id(s[j]));
	for (size_t i = 0; i < ARRAY_SIZE(s); i++)
		ps_stmt_unref(r, s[i]);
	CHECK_INT(ps_registry_count(r), 0);
	ps_registry_free(r);
}

TEST(intern_copies_the_text_and_ids_are_not_reused)
{
	struct ps_registry *r = ps_registry_create();
	uint8_t buf[128];
	uint32_t len = parse_body(buf, sizeof(buf), "s", "SELECT 42", NULL, 0);
	struct ps_parse p;
	struct ps_stmt *s, *again;

	CHECK(ps_parse_parse(buf, len, &p));
	s = ps_intern(r, &p);
	memset(buf, 'z', len);
	CHECK_STR(ps_stmt_query(s), "SELECT 42");
	CHECK_INT(ps_stmt_query_len(s), 9);
	ps_stmt_unref(r, s);
	again = intern(r, "SELECT 42", NULL, 0);
	CHECK_INT(ps_stmt_id(again), 2);
	CHECK_STR(ps_stmt_server_name(again), "WEIR_2");
	ps_stmt_unref(r, again);
	ps_registry_free(r);
}

TEST(client_add_find_remove)
{
	struct ps_registry *r = ps_registry_create();
	struct ps_client_map *m = ps_client_map_create(r);
	struct ps_stmt *s = intern(r, "SELECT 1", NULL, 0);

	CHECK(ps_client_add(m, "s1", s));
	CHECK(ps_client_add(m, "s2", s));
	ps_stmt_unref(r, s);
	CHECK_INT(ps_client_count(m), 2);
	CHECK(ps_client_find(m, "s1") == s);
	CHECK(ps_client_find(m, "s2") == s);
	CHECK(ps_client_find(m, "s3") == NULL);
	CHECK(ps_client_remove(r, m, "s1"));
	CHECK(!ps_client_remove(r, m, "s1"));
	CHECK(ps_client_find(m, "s1") == NULL);
	CHECK_INT(ps_registry_count(r), 1);
	CHECK(ps_client_remove(r, m, "s2"));
	CHECK_INT(ps_registry_count(r), 0);
	CHECK_INT(ps_client_count(m), 0);
	ps_client_map_free(r, m);
	ps_registry_free(r);
}

TEST(client_add_duplicate_name_fails_and_keeps_the_first)
{
	struct ps_registry *r = ps_registry_create();
	struct ps_client_map *m = ps_client_map_create(r);
	struct ps_stmt *a = intern(r, "SELECT 1", NULL, 0);
	struct ps_stmt *b = intern(r, "SELECT 2", NULL, 0);

	CHECK(ps_client_add(m, "s", a));
	CHECK(!ps_client_add(m, "s", b));
	CHECK(!ps_client_add(m, "s", a));
	CHECK(ps_client_find(m, "s") == a);
	CHECK_INT(ps_client_count(m), 1);
	ps_stmt_unref(r, b);
	CHECK_INT(ps_registry_count(r), 1); /* the failed add took no reference on b */
	ps_stmt_unref(r, a);
	ps_client_map_free(r, m);
	CHECK_INT(ps_registry_count(r), 0);
	ps_registry_free(r);
}

TEST(client_clear_drops_every_reference_and_map_stays_usable)
{
	struct ps_registry *r = ps_registry_create();
	struct ps_client_map *m = ps_client_map_create(r);
	char name[32], query[32];

	for (int i = 0; i < 50; i++) {
		struct ps_stmt *s;

		snprintf(name, sizeof(name), "n%d", i);
		snprintf(query, sizeof(query), "SELECT %d", i);
		s = intern(r, query, NULL, 0);
		CHECK(ps_client_add(m, name, s));
		ps_stmt_unref(r, s);
	}
	CHECK_INT(ps_registry_count(r), 50);
	ps_client_clear(r, m);
	CHECK_INT(ps_client_count(m), 0);
	CHECK_INT(ps_registry_count(r), 0);
	CHECK(ps_client_find(m, "n1") == NULL);
	{
		struct ps_stmt *s = intern(r, "SELECT 1", NULL, 0);

		CHECK(ps_client_add(m, "n1", s));
		ps_stmt_unref(r, s);
	}
	ps_client_map_free(r, m);
	CHECK_INT(ps_registry_count(r), 0);
	ps_registry_free(r);
}

TEST(client_names_compare_exactly_at_any_length)
{
	struct ps_registry *r = ps_registry_create();
	struct ps_client_map *m = ps_client_map_create(r);
	struct ps_stmt *a = intern(r, "SELECT 1", NULL, 0);
	struct ps_stmt *b = intern(r, "SELECT 2", NULL, 0);
	char long1[300], long2[300];

	memset(long1, 'a', sizeof(long1) - 1);
	long1[sizeof(long1) - 1] = '\0';
	memcpy(long2, long1, sizeof(long2));
	long2[200] = 'b'; /* differs only after PostgreSQL's 63-byte identifier limit */
	CHECK(ps_client_add(m, long1, a));
	CHECK(ps_client_add(m, long2, b));
	CHECK(ps_client_add(m, "S", b));
	CHECK(ps_client_find(m, long1) == a);
	CHECK(ps_client_find(m, long2) == b);
	CHECK(ps_client_find(m, "s") == NULL);
	ps_stmt_unref(r, a);
	ps_stmt_unref(r, b);
	ps_client_map_free(r, m);
	ps_registry_free(r);
}

TEST(client_null_map_reads_as_empty)
{
	struct ps_registry *r = ps_registry_create();

	CHECK(ps_client_find(NULL, "s") == NULL);
	CHECK_INT(ps_client_count(NULL), 0);
	CHECK(!ps_client_remove(r, NULL, "s"));
	ps_client_clear(r, NULL);
	ps_client_map_free(r, NULL);
	ps_registry_free(r);
}

TEST(shared_statement_lives_until_last_client_lets_go)
{
	struct ps_registry *r = ps_registry_create();
	struct ps_client_map *c1 = ps_client_map_create(r), *c2 = ps_client_map_create(r);
	struct ps_stmt *a = intern(r, "SELECT now()", NULL, 0);
	struct ps_stmt *b = intern(r, "SELECT now()", NULL, 0);

	CHECK(a == b);
	CHECK(ps_client_add(c1, "mine", a));
	CHECK(ps_client_add(c2, "theirs", b));
	ps_stmt_unref(r, a);
	ps_stmt_unref(r, b);
	ps_client_map_free(r, c1);
	CHECK_INT(ps_registry_count(r), 1);
	CHECK_STR(ps_stmt_server_name(ps_client_find(c2, "theirs")), "WEIR_1");
	ps_client_map_free(r, c2);
	CHECK_INT(ps_registry_count(r), 0);
	ps_registry_free(r);
}

/* Interns n statements "SELECT <i>" into out[], the caller holding one reference each. */
static void intern_many(struct ps_registry *r, struct ps_stmt **out, int n)
{
	char query[32];

	for (int i = 0; i < n; i++) {
		snprintf(query, sizeof(query), "SELECT %d", i);
		out[i] = intern(r, query, NULL, 0);
	}
}

static void unref_all(struct ps_registry *r, struct ps_stmt **s, int n)
{
	for (int i = 0; i < n; i++)
		ps_stmt_unref(r, s[i]);
}

TEST(server_lru_evicts_least_recently_used)
{
	struct ps_registry *r = ps_registry_create();
	struct ps_server_set *set = ps_server_set_create(3);
	struct ps_stmt *s[4], *evicted;

	intern_many(r, s, 4);
	for (int i = 0; i < 3; i++) {
		ps_server_add(set, s[i], &evicted);
		CHECK(evicted == NULL);
	}
	ps_server_add(set, s[3], &evicted);
	CHECK(evicted == s[0]);
	CHECK_INT(ps_server_count(set), 3);
	CHECK(!ps_server_has(set, s[0]));
	CHECK(ps_server_has(set, s[1]) && ps_server_has(set, s[2]) && ps_server_has(set, s[3]));
	ps_stmt_unref(r, evicted); /* the set's reference, handed over */
	unref_all(r, s, 4);
	CHECK_INT(ps_registry_count(r), 3); /* still held by the set */
	ps_server_set_free(r, set);
	CHECK_INT(ps_registry_count(r), 0);
	ps_registry_free(r);
}

TEST(server_has_and_re_add_refresh_recency)
{
	struct ps_registry *r = ps_registry_create();
	struct ps_server_set *set = ps_server_set_create(3);
	struct ps_stmt *s[5], *evicted;

	intern_many(r, s, 5);
	for (int i = 0; i < 3; i++)
		ps_server_add(set, s[i], &evicted);
	CHECK(ps_server_has(set, s[0]));    /* order now 1, 2, 0 */
	ps_server_add(set, s[1], &evicted); /* already there: 2, 0, 1 */
	CHECK(evicted == NULL);
	CHECK_INT(ps_server_count(set), 3);
	ps_server_add(set, s[3], &evicted);
	CHECK(evicted == s[2]);
	ps_stmt_unref(r, evicted);
	ps_server_add(set, s[4], &evicted);
	CHECK(evicted == s[0]);
	ps_stmt_unref(r, evicted);
	CHECK(ps_server_has(set, s[1]) && ps_server_has(set, s[3]) && ps_server_has(set, s[4]));
	unref_all(r, s, 5);
	ps_server_set_free(r, set);
	CHECK_INT(ps_registry_count(r), 0);
	ps_registry_free(r);
}

TEST(server_forget_and_clear)
{
	struct ps_registry *r = ps_registry_create();
	struct ps_server_set *set = ps_server_set_create(10);
	struct ps_stmt *s[4], *evicted;

	intern_many(r, s, 4);
	for (int i = 0; i < 4; i++)
		ps_server_add(set, s[i], &evicted);
	unref_all(r, s, 4);
	ps_server_forget(r, set, s[1]);
	CHECK_INT(ps_server_count(set), 3);
	CHECK_INT(ps_registry_count(r), 3); /* s[1] had no other holder: freed */
	CHECK(ps_server_has(set, s[2]));
	ps_server_clear(r, set);
	CHECK_INT(ps_server_count(set), 0);
	CHECK_INT(ps_registry_count(r), 0);
	intern_many(r, s, 1);
	ps_server_add(set, s[0], &evicted);
	CHECK(ps_server_has(set, s[0]));
	ps_server_forget(r, set, s[0]);
	ps_server_forget(r, set, s[0]); /* absent: no effect */
	CHECK(!ps_server_has(set, s[0]));
	ps_stmt_unref(r, s[0]);
	ps_server_set_free(r, set);
	ps_registry_free(r);
}

TEST(server_capacity_shrink_pops_oldest_first)
{
	struct ps_registry *r = ps_registry_create();
	struct ps_server_set *set = ps_server_set_create(5);
	struct ps_stmt *s[5], *evicted;
	int popped = 0;

	intern_many(r, s, 5);
	for (int i = 0; i < 5; i++)
		ps_server_add(set, s[i], &evicted);
	CHECK(ps_server_pop_excess(set) == NULL);
	ps_server_set_capacity(set, 2);
	while ((evicted = ps_server_pop_excess(set)) != NULL) {
		CHECK(evicted == s[popped]);
		ps_stmt_unref(r, evicted);
		popped++;
	}
	CHECK_INT(popped, 3);
	CHECK_INT(ps_server_count(set), 2);
	ps_server_set_capacity(set, 0);	    /* taken as 1 */
	ps_server_add(set, s[4], &evicted); /* present: refreshed, nothing evicted */
	CHECK(evicted == NULL);
	evicted = ps_server_pop_excess(set);
	CHECK(evicted == s[3]);
	ps_stmt_unref(r, evicted);
	CHECK(ps_server_pop_excess(set) == NULL);
	CHECK(ps_server_has(set, s[4]));
	unref_all(r, s, 5);
	ps_server_set_free(r, set);
	CHECK_INT(ps_registry_count(r), 0);
	ps_registry_free(r);
}

TEST(build_parse_describe_close_bytes)
{
	static const uint32_t oids[] = { 23, 0 };
	static const uint8_t parse[] = { 'P', 0,   0,	0,   31,  'W', 'E', 'I', 'R', '_', '1',
					 0,   'S', 'E', 'L', 'E', 'C', 'T', ' ', '$', '1', 0,
					 0,   2,   0,	0,   0,	  23,  0,   0,	 0,   0 };
	static const uint8_t describe[] = {
		'D', 0, 0, 0, 12, 'S', 'W', 'E', 'I', 'R', '_', '1', 0
	};
	struct ps_registry *r = ps_registry_create();
	struct ps_stmt *s = intern(r, "SELECT $1", oids, 2);
	uint8_t buf[64];
	struct wire_builder b;

	wire_builder_init(&b, buf, sizeof(buf));
	ps_build_parse(&b, s);
	CHECK(built_equals(&b, parse, sizeof(parse)));
	CHECK_INT(ps_build_parse_size(s), sizeof(parse));
	wire_builder_init(&b, buf, sizeof(buf));
	ps_build_describe(&b, s);
	CHECK(built_equals(&b, describe, sizeof(describe)));
	wire_builder_init(&b, buf, sizeof(buf));
	ps_build_close(&b, s);
	CHECK(b.len == sizeof(describe) && buf[0] == 'C');
	CHECK(memcmp(buf + 1, describe + 1, sizeof(describe) - 1) == 0);
	wire_builder_init(&b, buf, 10);
	ps_build_parse(&b, s);
	CHECK(!wire_builder_ok(&b));
	ps_stmt_unref(r, s);
	ps_registry_free(r);
}

TEST(rewrite_bind_replaces_only_the_statement_name)
{
	/* Portal "p1", statement "client_s", one format code (binary), two parameters (4 bytes
	 * and NULL), two result format codes (text, binary). */
	static const uint8_t body[] = { 'p',  '1',  0,	  'c', 'l', 'i', 'e', 'n', 't',
					'_',  's',  0,	  0,   1,   0,	 1,   0,   2,
					0,    0,    0,	  4,   'a', 'b', 'c', 'd', 0xff,
					0xff, 0xff, 0xff, 0,   2,   0,	 0,   0,   1 };
	static const uint8_t expected[] = {
		'p', 'B', 0,	0,    0,    38,	  'p', '1', 0, 'W', 'E', 'I', 'R', '_',
		'1', 0,	  0,	1,    0,    1,	  0,   2,   0, 0,   0,	 4,   'a', 'b',
		'c', 'd', 0xff, 0xff, 0xff, 0xff, 0,   2,   0, 0,   0,	 1,
	};
	struct ps_registry *r = ps_registry_create();
	struct ps_stmt *s = intern(r, "SELECT $1, $2", NULL, 0);
	uint8_t buf[128];
	struct wire_builder b;

	wire_builder_init(&b, buf, sizeof(buf));
	wire_put_u8(&b, 'p'); /* something already in the buffer stays untouched */
	CHECK(ps_rewrite_bind(&b, body, sizeof(body), s));
	CHECK(built_equals(&b, expected, sizeof(expected)));
	CHECK(b.len <= 1 + sizeof(body) + 5 + PS_SERVER_NAME_MAX);
	ps_stmt_unref(r, s);
	ps_registry_free(r);
}

TEST(rewrite_bind_rejects_malformed_body_and_appends_nothing)
{
	static const uint8_t no_stmt_nul[] = { 'p', 0, 's', '1' };
	static const uint8_t no_portal_nul[] = { 'p' };
	struct ps_registry *r = ps_registry_create();
	struct ps_stmt *s = intern(r, "SELECT 1", NULL, 0);
	uint8_t buf[64];
	struct wire_builder b;

	wire_builder_init(&b, buf, sizeof(buf));
	CHECK(!ps_rewrite_bind(&b, no_stmt_nul, sizeof(no_stmt_nul), s));
	CHECK(!ps_rewrite_bind(&b, no_portal_nul, sizeof(no_portal_nul), s));
	CHECK_INT(b.len, 0);
	CHECK(wire_builder_ok(&b));
	ps_stmt_unref(r, s);
	ps_registry_free(r);
}

TEST(large_query_is_copied_once_and_round_trips)
{
	size_t qlen = 4u << 20;
	size_t cap = qlen + 64;
	uint8_t *body = xmalloc(cap), *msg = xmalloc(cap);
	char *query = xmalloc(qlen + 1);
	struct ps_registry *r = ps_registry_create();
	struct wire_builder b;
	struct ps_parse p, back;
	struct ps_stmt *s, *again;
	uint32_t len;

	for (size_t i = 0; i < qlen; i++)
		query[i] = (char)('a' + i % 26);
	query[qlen] = '\0';
	len = parse_body(body, cap, "big", query, NULL, 0);
	CHECK(ps_parse_parse(body, len, &p));
	s = ps_intern(r, &p);
	again = ps_intern(r, &p);
	CHECK(s == again);
	CHECK_INT(ps_stmt_query_len(s), qlen);
	wire_builder_init(&b, msg, cap);
	ps_build_parse(&b, s);
	CHECK(wire_builder_ok(&b) && b.len == ps_build_parse_size(s));
	CHECK(ps_parse_parse(msg + 5, (uint32_t)b.len - 5, &back));
	CHECK_STR(back.name, "WEIR_1");
	CHECK(back.query_len == qlen && memcmp(back.query, query, qlen) == 0);
	ps_stmt_unref(r, s);
	ps_stmt_unref(r, again);
	ps_registry_free(r);
	free(query);
	free(msg);
	free(body);
}

enum {
	MANY = 10000
};

/* Checks that the client names "c<i>" map to s[i] for i in [from, MANY) step. */
static void check_names(const struct ps_client_map *m, struct ps_stmt **s, int from, int step)
{
	char name[32];
	int bad = 0;

	for (int i = from; i < MANY; i += step) {
		snprintf(name, sizeof(name), "c%d", i);
		bad += ps_client_find(m, name) != s[i];
	}
	CHECK_INT(bad, 0);
}

TEST(many_statements_grow_and_shrink_the_tables)
{
	struct ps_registry *r = ps_registry_create();
	struct ps_client_map *m = ps_client_map_create(r);
	struct ps_server_set *set = ps_server_set_create(MANY);
	struct ps_stmt **s = xcalloc(MANY, sizeof(struct ps_stmt *)), *evicted;
	char name[32];
	int ok = 0, present = 0;

	intern_many(r, s, MANY);
	for (int i = 0; i < MANY; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		ok += ps_client_add(m, name, s[i]);
		ps_server_add(set, s[i], &evicted);
		present += evicted == NULL;
	}
	CHECK_INT(ok, MANY);
	CHECK_INT(present, MANY);
	CHECK_INT(ps_registry_count(r), MANY);
	check_names(m, s, 0, 1);
	for (int i = 0; i < MANY; i += 2) {
		snprintf(name, sizeof(name), "c%d", i);
		ok -= ps_client_remove(r, m, name);
		ps_server_forget(r, set, s[i]);
	}
	CHECK_INT(ps_client_count(m), MANY / 2);
	CHECK_INT(ps_server_count(set), MANY / 2);
	check_names(m, s, 1, 2);
	for (int i = 1; i < MANY; i += 2)
		present -= ps_server_has(set, s[i]);
	CHECK_INT(present, MANY / 2);
	unref_all(r, s, MANY);
	CHECK_INT(ps_registry_count(r), MANY / 2);
	ps_client_map_free(r, m);
	ps_server_set_free(r, set);
	CHECK_INT(ps_registry_count(r), 0);
	free(s);
	ps_registry_free(r);
}

TEST(registry_free_releases_statements_still_counted)
{
	struct ps_registry *r = ps_registry_create();
	struct ps_stmt *s[3];

	/* Shutdown without unref: ps_registry_free still frees them (LSan would see a leak). */
	intern_many(r, s, 3);
	ps_stmt_ref(s[0]);
	ps_registry_free(r);
}

TEST(client_map_follows_a_deallocate_through_the_unnamed_statement_and_portal)
{
	struct ps_registry *r = ps_registry_create();
	struct ps_client_map *m = ps_client_map_create(r);

	CHECK(ps_client_execute_unnamed(m) == NULL);
	ps_client_parse_unnamed(m, "s1");
	CHECK(ps_client_execute_unnamed(m) == NULL); /* not bound yet */
	ps_client_bind_unnamed(m, true);
	CHECK_STR(ps_client_execute_unnamed(m), "s1");
	ps_client_bind_unnamed(m, false); /* the unnamed portal now runs a named statement */
	CHECK(ps_client_execute_unnamed(m) == NULL);
	ps_client_bind_unnamed(m, true);
	CHECK_STR(ps_client_execute_unnamed(m), "s1");
	ps_client_parse_unnamed(m, NULL); /* another unnamed statement: the portal stays */
	CHECK_STR(ps_client_execute_unnamed(m), "s1");
	ps_client_bind_unnamed(m, true);
	CHECK(ps_client_execute_unnamed(m) == NULL);
	ps_client_parse_unnamed(NULL, "x"); /* no map: nothing to remember */
	ps_client_bind_unnamed(NULL, true);
	CHECK(ps_client_execute_unnamed(NULL) == NULL);
	ps_client_parse_unnamed(m, "s2");
	ps_client_map_free(r, m);
	ps_registry_free(r);
}
