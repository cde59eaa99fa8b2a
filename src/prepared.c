/* SPDX-License-Identifier: ISC */
/*
 * Named prepared statements across server connections (transaction and statement pooling).
 * This module owns three kinds of table: the registry of distinct statements (query text +
 * parameter type OIDs, refcounted, each with a never-reused id and the server name
 * "WEIR_<id>"), one map per client from its statement names to statements, and one LRU set
 * per server connection of the statements prepared there. It also parses the Parse, Bind,
 * Describe and Close bodies it needs and builds the messages the relay sends in their place.
 *
 * It does not send, log, or decide when to inject: the relay does, through the entry points
 * in prepared.h. Formats follow the Frontend/Backend Protocol "Message Formats" section.
 *
 * All three tables use one open-addressing hash table with linear probing and backward-shift
 * deletion (no tombstones), keeping each item's hash in its slot so growing never rehashes
 * keys. Strings chosen by clients are hashed with SipHash-2-4 under a per-registry random
 * key, so a client cannot make its names or queries collide on purpose.
 */
#include <inttypes.h>
#include <pthread.h>
#include <string.h>

#include <openssl/rand.h>

#include "list.h"
#include "log.h"
#include "prepared.h"
#include "wire.h"

/* ---- SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012) ---- */

struct ps_hasher {
	uint64_t v[4];
	uint64_t tail; /* pending input bytes, little-endian */
	unsigned ntail;
	uint64_t total;
};

static uint64_t rotl64(uint64_t x, unsigned bits)
{
	return (x << bits) | (x >> (64 - bits));
}

static void sip_round(uint64_t *v)
{
	v[0] += v[1];
	v[1] = rotl64(v[1], 13) ^ v[0];
	v[0] = rotl64(v[0], 32);
	v[2] += v[3];
	v[3] = rotl64(v[3], 16) ^ v[2];
	v[0] += v[3];
	v[3] = rotl64(v[3], 21) ^ v[0];
	v[2] += v[1];
	v[1] = rotl64(v[1], 17) ^ v[2];
	v[2] = rotl64(v[2], 32);
}

static void sip_compress(struct ps_hasher *h, uint64_t m)
{
	h->v[3] ^= m;
	sip_round(h->v);
	sip_round(h->v);
	h->v[0] ^= m;
}

static void hasher_init(struct ps_hasher *h, const uint64_t key[2])
{
	h->v[0] = key[0] ^ 0x736f6d6570736575ull;
	h->v[1] = key[1] ^ 0x646f72616e646f6dull;
	h->v[2] = key[0] ^ 0x6c7967656e657261ull;
	h->v[3] = key[1] ^ 0x7465646279746573ull;
	h->tail = 0;
	h->ntail = 0;
	h->total = 0;
}

static void hasher_byte(struct ps_hasher *h, uint8_t byte)
{
	h->tail |= (uint64_t)byte << (8 * h->ntail);
	if (++h->ntail == 8) {
		sip_compress(h, h->tail);
		h->tail = 0;
		h->ntail = 0;
	}
}

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Whole 8-byte words go straight to the compression; statement text may be megabytes. */
static void hasher_update(struct ps_hasher *h, const void *data, size_t n)
{
	const uint8_t *p = data;
	size_t i = 0;

	for (; i < n && h->ntail != 0; i++)
		hasher_byte(h, p[i]);
	for (; n - i >= 8; i += 8)
		sip_compress(h, load_le64(&p[i]));
	for (; i < n; i++)
		hasher_byte(h, p[i]);
	h->total += n;
}

static uint64_t hasher_final(struct ps_hasher *h)
{
	sip_compress(h, h->total << 56 | h->tail);
	h->v[2] ^= 0xff;
	for (int i = 0; i < 4; i++)
		sip_round(h->v);
	return h->v[0] ^ h->v[1] ^ h->v[2] ^ h->v[3];
}

/* Statement ids are sequential, not chosen by clients: a fixed mixer spreads them enough. */
static uint64_t id_hash(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* ---- open-addressing table ---- */

#define PS_TABLE_MIN 8

struct ps_slot {
	uint64_t hash;
	void *item; /* NULL = empty */
};

struct ps_table {
	struct ps_slot *slots; /* owned; NULL until the first insert */
	size_t mask;	       /* capacity - 1; capacity is a power of two */
	size_t count;
};

/* True if item is the one key names; the key's shape depends on the table. */
typedef bool (*ps_match_fn)(const void *item, const void *key);

static size_t table_cap(const struct ps_table *t)
{
	return t->slots ? t->mask + 1 : 0;
}

static struct ps_slot *table_find(const struct ps_table *t, uint64_t hash, ps_match_fn match,
				  const void *key)
{
	if (!t->slots)
		return NULL;
	/* The load factor stays below 3/4, so an empty slot ends every probe. */
	for (size_t i = hash & t->mask;; i = (i + 1) & t->mask) {
		struct ps_slot *sl = &t->slots[i];

		if (!sl->item)
			return NULL;
		if (sl->hash == hash && match(sl->item, key))
			return sl;
	}
}

static void table_place(struct ps_table *t, uint64_t hash, void *item)
{
	size_t i = hash & t->mask;

	while (t->slots[i].item)
		i = (i + 1) & t->mask;
	t->slots[i].hash = hash;
	t->slots[i].item = item;
}

static void table_resize(struct ps_table *t, size_t cap)
{
	struct ps_slot *old = t->slots;
	size_t old_cap = table_cap(t);

	t->slots = xcalloc(cap, sizeof(*t->slots));
	t->mask = cap - 1;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].item)
			table_place(t, old[i].hash, old[i].item);
	free(old);
}

static void table_free(struct ps_table *t)
{
	free(t->slots);
	t->slots = NULL;
	t->mask = 0;
	t->count = 0;
}

static void table_insert(struct ps_table *t, uint64_t hash, void *item)
{
	size_t cap = table_cap(t);

	if ((t->count + 1) * 4 > cap * 3)
		table_resize(t, cap ? cap * 2 : PS_TABLE_MIN);
	table_place(t, hash, item);
	t->count++;
}

/*
 * Empties sl, then walks the rest of its probe run moving back every item whose home slot
 * does not lie cyclically between the hole and the item, so no lookup ever stops early.
 * Shrinks a table that became sparse and frees an empty one. Slot pointers are then stale.
 */
static void table_remove(struct ps_table *t, struct ps_slot *sl)
{
	size_t hole = (size_t)(sl - t->slots);
	size_t cap = table_cap(t);

	for (size_t j = (hole + 1) & t->mask; t->slots[j].item; j = (j + 1) & t->mask) {
		size_t home = t->slots[j].hash & t->mask;

		if (((j - home) & t->mask) >= ((j - hole) & t->mask)) {
			t->slots[hole] = t->slots[j];
			hole = j;
		}
	}
	t->slots[hole].item = NULL;
	t->slots[hole].hash = 0;
	if (--t->count == 0)
		table_free(t);
	else if (cap > PS_TABLE_MIN && t->count * 8 < cap)
		table_resize(t, cap / 2);
}

/* ---- message parsing ---- */

bool ps_parse_parse(const uint8_t *body, uint32_t len, struct ps_parse *out)
{
	struct wire_reader r;

	wire_reader_init(&r, body, len);
	out->name = wire_get_cstring(&r);
	out->query = wire_get_cstring(&r);
	out->ntypes = wire_get_u16(&r);
	/* ntypes is at most 65535, so the product cannot overflow. */
	out->types = wire_get_bytes(&r, (size_t)out->ntypes * 4);
	if (!wire_reader_ok(&r) || wire_remaining(&r) != 0)
		return false;
	out->query_len = strlen(out->query);
	return out->query_len <= PS_MAX_QUERY_LEN;
}

bool ps_parse_bind_names(const uint8_t *body, uint32_t len, const char **portal, const char **stmt)
{
	struct wire_reader r;

	wire_reader_init(&r, body, len);
	*portal = wire_get_cstring(&r);
	*stmt = wire_get_cstring(&r);
	return wire_reader_ok(&r);
}

bool ps_parse_target(const uint8_t *body, uint32_t len, char *kind, const char **name)
{
	struct wire_reader r;

	wire_reader_init(&r, body, len);
	*kind = (char)wire_get_u8(&r);
	*name = wire_get_cstring(&r);
	if (!wire_reader_ok(&r) || wire_remaining(&r) != 0)
		return false;
	return *kind == 'S' || *kind == 'P';
}

/* ---- registry and statements ---- */

/*
 * Shared by the workers: the table and the ids under `lock`. A statement's count is atomic,
 * and it reaches zero (and leaves the table) only under the lock, so that ps_intern never
 * finds one on its way out.
 */
struct ps_registry {
	pthread_mutex_t lock;
	struct ps_table stmts; /* owned: struct ps_stmt, keyed by query and types */
	uint64_t key[2];       /* SipHash key for queries and client statement names */
	uint64_t next_id;
};

struct ps_stmt {
	uint64_t id;
	uint64_t hash; /* of query and types, under the registry's key */
	size_t refs;
	size_t query_len;
	uint16_t ntypes;
	char server_name[PS_SERVER_NAME_MAX];
	char query[]; /* query_len bytes, NUL, then ntypes big-endian OIDs (4 bytes each) */
};

static const uint8_t *stmt_types(const struct ps_stmt *s)
{
	return (const uint8_t *)&s->query[s->query_len + 1];
}

struct ps_registry *ps_registry_create(void)
{
	struct ps_registry *r = xcalloc(1, sizeof(*r));

	if (RAND_bytes((unsigned char *)r->key, sizeof(r->key)) != 1)
		die("cannot seed the prepared statement hash: RAND_bytes failed");
	r->next_id = 1;
	pthread_mutex_init(&r->lock, NULL);
	return r;
}

void ps_registry_free(struct ps_registry *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < table_cap(&r->stmts); i++)
		free(r->stmts.slots[i].item);
	table_free(&r->stmts);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

size_t ps_registry_count(const struct ps_registry *r)
{
	size_t n;

	pthread_mutex_lock((pthread_mutex_t *)&r->lock);
	n = r->stmts.count;
	pthread_mutex_unlock((pthread_mutex_t *)&r->lock);
	return n;
}

/* The query's NUL separates it from the types, so no two (query, types) pairs collide. */
static uint64_t stmt_hash(const struct ps_registry *r, const struct ps_parse *p)
{
	struct ps_hasher h;

	hasher_init(&h, r->key);
	hasher_update(&h, p->query, p->query_len + 1);
	if (p->ntypes)
		hasher_update(&h, p->types, (size_t)p->ntypes * 4);
	return hasher_final(&h);
}

static bool stmt_matches(const void *item, const void *key)
{
	const struct ps_stmt *s = item;
	const struct ps_parse *p = key;

	if (s->query_len != p->query_len || s->ntypes != p->ntypes)
		return false;
	if (memcmp(s->query, p->query, p->query_len) != 0)
		return false;
	return p->ntypes == 0 || memcmp(stmt_types(s), p->types, (size_t)p->ntypes * 4) == 0;
}

static bool same_item(const void *item, const void *key)
{
	return item == key;
}

/* Sizes are bounded by ps_parse_parse (query <= PS_MAX_QUERY_LEN, types <= 256 KiB). */
static struct ps_stmt *stmt_new(struct ps_registry *r, const struct ps_parse *p, uint64_t hash)
{
	size_t types_len = (size_t)p->ntypes * 4;
	struct ps_stmt *s = xmalloc(sizeof(*s) + p->query_len + 1 + types_len);

	s->id = r->next_id++;
	s->hash = hash;
	s->refs = 1;
	s->query_len = p->query_len;
	s->ntypes = p->ntypes;
	snprintf(s->server_name, sizeof(s->server_name), "WEIR_%" PRIu64, s->id);
	memcpy(s->query, p->query, p->query_len);
	s->query[p->query_len] = '\0';
	if (types_len)
		memcpy(&s->query[p->query_len + 1], p->types, types_len);
	return s;
}

struct ps_stmt *ps_intern(struct ps_registry *r, const struct ps_parse *p)
{
	uint64_t hash = stmt_hash(r, p);
	struct ps_slot *sl;
	struct ps_stmt *s;

	pthread_mutex_lock(&r->lock);
	sl = table_find(&r->stmts, hash, stmt_matches, p);
	if (sl) {
		s = sl->item;
		ps_stmt_ref(s);
	} else {
		s = stmt_new(r, p, hash);
		table_insert(&r->stmts, hash, s);
	}
	pthread_mutex_unlock(&r->lock);
	return s;
}

void ps_stmt_ref(struct ps_stmt *s)
{
	(void)__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
}

void ps_stmt_unref(struct ps_registry *r, struct ps_stmt *s)
{
	struct ps_slot *sl;
	size_t left;

	ASSERT(__atomic_load_n(&s->refs, __ATOMIC_RELAXED) > 0);
	pthread_mutex_lock(&r->lock);
	left = __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
	if (left == 0) {
		sl = table_find(&r->stmts, s->hash, same_item, s);
		ASSERT(sl != NULL);
		if (sl)
			table_remove(&r->stmts, sl);
	}
	pthread_mutex_unlock(&r->lock);
	if (left == 0)
		free(s);
}

const char *ps_stmt_server_name(const struct ps_stmt *s)
{
	return s->server_name;
}

uint64_t ps_stmt_id(const struct ps_stmt *s)
{
	return s->id;
}

const char *ps_stmt_query(const struct ps_stmt *s)
{
	return s->query;
}

size_t ps_stmt_query_len(const struct ps_stmt *s)
{
	return s->query_len;
}

/* ---- per-client map ---- */

struct ps_client_map {
	const struct ps_registry *reg; /* borrowed: hash key */
	struct ps_table names;	       /* owned: struct ps_name */
	char *unnamed_dealloc;	       /* owned: what the unnamed statement deallocates */
	char *portal_dealloc;	       /* owned: what the unnamed portal deallocates */
};

struct ps_name {
	struct ps_stmt *st; /* one reference */
	size_t len;
	char name[]; /* len bytes and a NUL */
};

struct name_key {
	const char *name;
	size_t len;
};

static uint64_t name_hash(const struct ps_registry *r, const struct name_key *k)
{
	struct ps_hasher h;

	hasher_init(&h, r->key);
	hasher_update(&h, k->name, k->len);
	return hasher_final(&h);
}

static bool name_matches(const void *item, const void *key)
{
	const struct ps_name *n = item;
	const struct name_key *k = key;

	return n->len == k->len && memcmp(n->name, k->name, k->len) == 0;
}

static struct ps_slot *client_slot(const struct ps_client_map *m, const struct name_key *k,
				   uint64_t *hash)
{
	*hash = name_hash(m->reg, k);
	return table_find(&m->names, *hash, name_matches, k);
}

struct ps_client_map *ps_client_map_create(struct ps_registry *r)
{
	struct ps_client_map *m = xcalloc(1, sizeof(*m));

	m->reg = r;
	return m;
}

void ps_client_map_free(struct ps_registry *r, struct ps_client_map *m)
{
	if (!m)
		return;
	ps_client_clear(r, m);
	free(m->unnamed_dealloc);
	free(m->portal_dealloc);
	free(m);
}

static void set_copy(char **dst, const char *value)
{
	free(*dst);
	*dst = value ? xstrdup(value) : NULL;
}

void ps_client_parse_unnamed(struct ps_client_map *m, const char *dealloc_name)
{
	if (m && (dealloc_name || m->unnamed_dealloc))
		set_copy(&m->unnamed_dealloc, dealloc_name);
}

void ps_client_bind_unnamed(struct ps_client_map *m, bool from_unnamed_statement)
{
	if (m && (m->portal_dealloc || m->unnamed_dealloc))
		set_copy(&m->portal_dealloc, from_unnamed_statement ? m->unnamed_dealloc : NULL);
}

const char *ps_client_execute_unnamed(struct ps_client_map *m)
{
	return m ? m->portal_dealloc : NULL;
}

bool ps_client_add(struct ps_client_map *m, const char *name, struct ps_stmt *s)
{
	struct name_key k = { name, strlen(name) };
	uint64_t hash;
	struct ps_name *n;

	if (client_slot(m, &k, &hash))
		return false;
	n = xmalloc(sizeof(*n) + k.len + 1);
	n->st = s;
	n->len = k.len;
	memcpy(n->name, name, k.len + 1);
	ps_stmt_ref(s);
	table_insert(&m->names, hash, n);
	return true;
}

struct ps_stmt *ps_client_find(const struct ps_client_map *m, const char *name)
{
	uint64_t hash;
	struct ps_slot *sl;

	if (!m || !m->names.count)
		return NULL;
	sl = client_slot(m, &(struct name_key){ name, strlen(name) }, &hash);
	return sl ? ((struct ps_name *)sl->item)->st : NULL;
}

bool ps_client_remove(struct ps_registry *r, struct ps_client_map *m, const char *name)
{
	uint64_t hash;
	struct ps_slot *sl;
	struct ps_name *n;

	if (!m || !m->names.count)
		return false;
	sl = client_slot(m, &(struct name_key){ name, strlen(name) }, &hash);
	if (!sl)
		return false;
	n = sl->item;
	table_remove(&m->names, sl);
	ps_stmt_unref(r, n->st);
	free(n);
	return true;
}

void ps_client_clear(struct ps_registry *r, struct ps_client_map *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < table_cap(&m->names); i++) {
		struct ps_name *n = m->names.slots[i].item;

		if (n) {
			ps_stmt_unref(r, n->st);
			free(n);
		}
	}
	table_free(&m->names);
}

size_t ps_client_count(const struct ps_client_map *m)
{
	return m ? m->names.count : 0;
}

/* ---- per-server LRU set ---- */

struct ps_server_set {
	struct list_head lru;  /* owned: struct ps_entry, least recently used first */
	struct ps_table by_id; /* the same entries, keyed by statement id */
	unsigned capacity;
};

struct ps_entry {
	struct list_node node;
	struct ps_stmt *st; /* one reference */
};

static bool entry_matches(const void *item, const void *key)
{
	const struct ps_entry *e = item;

	return e->st->id == *(const uint64_t *)key;
}

static struct ps_slot *server_slot(const struct ps_server_set *s, uint64_t id)
{
	return table_find(&s->by_id, id_hash(id), entry_matches, &id);
}

struct ps_server_set *ps_server_set_create(unsigned capacity)
{
	struct ps_server_set *s = xcalloc(1, sizeof(*s));

	list_init(&s->lru);
	ps_server_set_capacity(s, capacity);
	return s;
}

void ps_server_set_free(struct ps_registry *r, struct ps_server_set *s)
{
	if (!s)
		return;
	ps_server_clear(r, s);
	free(s);
}

bool ps_server_has(struct ps_server_set *s, const struct ps_stmt *st)
{
	struct ps_slot *sl = server_slot(s, st->id);
	struct ps_entry *e;

	if (!sl)
		return false;
	e = sl->item;
	list_remove(&s->lru, &e->node);
	list_append(&s->lru, &e->node);
	return true;
}

void ps_server_add(struct ps_server_set *s, struct ps_stmt *st, struct ps_stmt **evicted)
{
	struct ps_entry *e;

	*evicted = NULL;
	if (ps_server_has(s, st))
		return;
	e = xmalloc(sizeof(*e));
	e->st = st;
	ps_stmt_ref(st);
	list_node_init(&e->node);
	list_append(&s->lru, &e->node);
	table_insert(&s->by_id, id_hash(st->id), e);
	/* capacity >= 1 and st is the most recent, so it is not the one popped. */
	*evicted = ps_server_pop_excess(s);
}

/* Unlinks e from both structures and frees it; its reference goes to the caller. */
static struct ps_stmt *server_take(struct ps_server_set *s, struct ps_slot *sl)
{
	struct ps_entry *e = sl->item;
	struct ps_stmt *st = e->st;

	table_remove(&s->by_id, sl);
	list_remove(&s->lru, &e->node);
	free(e);
	return st;
}

struct ps_stmt *ps_server_pop_excess(struct ps_server_set *s)
{
	struct ps_entry *e;
	struct ps_slot *sl;

	if (s->lru.count <= s->capacity)
		return NULL;
	e = list_entry(list_first(&s->lru), struct ps_entry, node);
	sl = server_slot(s, e->st->id);
	ASSERT(sl != NULL);
	return sl ? server_take(s, sl) : NULL;
}

void ps_server_forget(struct ps_registry *r, struct ps_server_set *s, const struct ps_stmt *st)
{
	struct ps_slot *sl = s ? server_slot(s, st->id) : NULL;

	if (sl)
		ps_stmt_unref(r, server_take(s, sl));
}

void ps_server_clear(struct ps_registry *r, struct ps_server_set *s)
{
	struct list_node *pos, *tmp;

	if (!s)
		return;
	list_for_each_safe(pos, tmp, &s->lru) {
		struct ps_entry *e = list_entry(pos, struct ps_entry, node);

		list_remove(&s->lru, pos);
		ps_stmt_unref(r, e->st);
		free(e);
	}
	table_free(&s->by_id);
}

void ps_server_set_capacity(struct ps_server_set *s, unsigned capacity)
{
	s->capacity = capacity ? capacity : 1;
}

size_t ps_server_count(const struct ps_server_set *s)
{
	return s->lru.count;
}

/* ---- message builders ---- */

size_t ps_build_parse_size(const struct ps_stmt *s)
{
	return 1 + 4 + strlen(s->server_name) + 1 + s->query_len + 1 + 2 + (size_t)s->ntypes * 4;
}

void ps_build_parse(struct wire_builder *b, const struct ps_stmt *s)
{
	wire_begin(b, 'P');
	wire_put_cstring(b, s->server_name);
	wire_put_bytes(b, s->query, s->query_len + 1);
	wire_put_u16(b, s->ntypes);
	wire_put_bytes(b, stmt_types(s), (size_t)s->ntypes * 4);
	wire_end(b);
}

bool ps_rewrite_bind(struct wire_builder *b, const uint8_t *body, uint32_t len,
		     const struct ps_stmt *s)
{
	struct wire_reader r;
	const char *portal;
	const uint8_t *rest;
	size_t rest_len;

	wire_reader_init(&r, body, len);
	portal = wire_get_cstring(&r);
	(void)wire_get_cstring(&r); /* the client's statement name, replaced */
	rest_len = wire_remaining(&r);
	rest = wire_get_bytes(&r, rest_len);
	if (!wire_reader_ok(&r))
		return false;
	wire_begin(b, 'B');
	wire_put_cstring(b, portal);
	wire_put_cstring(b, s->server_name);
	wire_put_bytes(b, rest, rest_len);
	wire_end(b);
	return true;
}

/* Describe and Close share their body: kind 'S' and the statement name. */
static void build_target(struct wire_builder *b, uint8_t type, const struct ps_stmt *s)
{
	wire_begin(b, type);
	wire_put_u8(b, 'S');
	wire_put_cstring(b, s->server_name);
	wire_end(b);
}

void ps_build_describe(struct wire_builder *b, const struct ps_stmt *s)
{
	build_target(b, 'D', s);
}

void ps_build_close(struct wire_builder *b, const struct ps_stmt *s)
{
	build_target(b, 'C', s);
}
