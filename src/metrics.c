/* SPDX-License-Identifier: ISC */
/*
 * The Prometheus endpoint (metrics.h): the evhttp listener, the scrape state machine, and
 * the table of metric families with one writer per family.
 *
 * A family is one metric name with its # HELP and # TYPE lines; the text format wants every
 * line of a family together, so a scrape walks the table in order and, for a family of
 * pools or of databases, the registry's list. The walk stops when a step's chunk is
 * SCRAPE_STEP_BYTES long, hands the chunk to evhttp, and resumes (from a cursor on a list
 * node: pools and databases are freed only at exit) once evhttp has written it, through an
 * event of the scrape's own, so another step never runs inside evhttp's callbacks.
 *
 * Statistics come from stats_pool_snapshot() and stats_pool_state() only, so /metrics and
 * SHOW cannot disagree; each family of a pool takes its own snapshot, and the _bucket, _sum
 * and _count lines of one histogram come from one snapshot.
 *
 * Entry points: metrics_start, metrics_free.
 */
#include <dirent.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <inttypes.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "histogram.h"
#include "list.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "registry.h"
#include "stats.h"
#include "worker.h"

#define SCRAPE_STEP_BYTES    (64 * 1024)
#define HTTP_TIMEOUT_SECONDS 30
#define CONTENT_TYPE	     "text/plain; version=0.0.4; charset=utf-8"
/* Histogram bounds: powers of two microseconds, 32 us .. 33.6 s (see doc/monitoring.md). */
#define LE_MIN_EXP 5
#define LE_MAX_EXP 25
#define LABELS_MAX 1024

struct metrics {
	struct worker *w;	  /* borrowed */
	struct evhttp *http;	  /* owned */
	struct list_head scrapes; /* struct scrape in progress */
};

struct scrape {
	struct list_node node;		 /* on metrics.scrapes */
	struct metrics *m;		 /* borrowed */
	struct evhttp_request *req;	 /* evhttp's; ours to free only once it has let go of it */
	struct evhttp_connection *evcon; /* evhttp's */
	struct event *step;		 /* owned: runs the next step */
	struct evbuffer *chunk;		 /* owned: what the current step wrote */
	unsigned family;		 /* index in families[] */
	bool family_started;		 /* its # HELP and # TYPE lines are written */
	struct list_node *cursor;	 /* the next pool or database of the family */
	usec_t begun;			 /* monotonic: for the debug line at the end */
	usec_t longest_step;		 /* how long the longest step held the loop */
	usec_t longest_step_cpu;	 /* and the most CPU time one step took */
	unsigned steps;
	size_t bytes;
	bool done;		   /* the last step wrote the end of the body */
	struct pool_snapshot snap; /* room for one pool's figures */
};

enum scope {
	SCOPE_POOL,
	SCOPE_DATABASE,
	SCOPE_PROCESS
};

struct family;
/* Writes a family's lines for one object (a struct pool, a struct database, or NULL). */
typedef void (*family_write_fn)(struct scrape *s, const struct family *f, void *obj);

struct family {
	const char *name; /* NULL for a histogram: weir_<lat_kind_names[arg]>_duration_seconds */
	const char *type;
	const char *help;
	enum scope scope;
	family_write_fn write;
	size_t arg; /* what the writer shows: a counter's offset, a kind, a figure */
};

/* --- text format helpers ----------------------------------------------------------- */

/* Microseconds as decimal seconds, exactly ("0.000032"). */
static void put_seconds(struct evbuffer *b, uint64_t usec)
{
	evbuffer_add_printf(b, "%" PRIu64 ".%06" PRIu64, usec / USEC_PER_SEC, usec % USEC_PER_SEC);
}

/* A label value with \, " and newline escaped as the text format requires. */
static size_t escape_label(char *out, size_t room, const char *v)
{
	size_t n = 0;

	for (; *v && n + 3 < room; v++) {
		if (*v == '\\' || *v == '"' || *v == '\n')
			out[n++] = '\\';
		out[n++] = *v == '\n' ? 'n' : *v;
	}
	out[n] = '\0';
	return n;
}

static void pool_labels(char *out, size_t room, const struct pool *pool)
{
	char db[LABELS_MAX / 2 - 32], user[LABELS_MAX / 2 - 32];

	escape_label(db, sizeof(db), pool->db->name);
	escape_label(user, sizeof(user), pool->user->name);
	snprintf(out, room, "database=\"%s\",user=\"%s\"", db, user);
}

static void family_name(char *out, size_t room, const struct family *f)
{
	if (!f->name) /* a histogram, named after its kind */
		snprintf(out, room, "weir_%s_duration_seconds", lat_kind_names[f->arg]);
	else
		snprintf(out, room, "%s", f->name);
}

static void put_header(struct scrape *s, const struct family *f)
{
	char name[128];

	family_name(name, sizeof(name), f);
	evbuffer_add_printf(s->chunk, "# HELP %s %s\n# TYPE %s %s\n", name, f->help, name, f->type);
}

/* --- pools: SHOW STATS counters, SHOW POOLS gauges, latency histograms --------------- */

static void write_counter(struct scrape *s, const struct family *f, void *obj)
{
	struct pool *pool = obj;
	char labels[LABELS_MAX];
	uint64_t v;

	stats_pool_snapshot(s->m->w->reg, pool, &s->snap, false);
	memcpy(&v, (const char *)&s->snap.total + f->arg, sizeof(v));
	pool_labels(labels, sizeof(labels), pool);
	evbuffer_add_printf(s->chunk, "%s{%s} ", f->name, labels);
	/* the times of struct stat_counters are in microseconds, and shown in seconds */
	if (strstr(f->name, "_seconds_total"))
		put_seconds(s->chunk, v);
	else
		evbuffer_add_printf(s->chunk, "%" PRIu64, v);
	evbuffer_add(s->chunk, "\n", 1);
}

enum pool_figure {
	POOL_CLIENTS,
	POOL_SERVERS,
	POOL_MAXWAIT
};

struct state_count {
	const char *state;
	unsigned n;
};

static void put_states(struct scrape *s, const char *name, const char *labels,
		       const struct state_count *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		evbuffer_add_printf(s->chunk, "%s{%s,state=\"%s\"} %u\n", name, labels, c[i].state,
				    c[i].n);
}

static void write_pool_state(struct scrape *s, const struct family *f, void *obj)
{
	struct pool *pool = obj;
	struct pool_state st;
	char labels[LABELS_MAX];

	stats_pool_state(pool, now_usec(), &st);
	pool_labels(labels, sizeof(labels), pool);
	if (f->arg == POOL_CLIENTS) {
		const struct state_count c[] = { { "active", st.cl_active },
						 { "waiting", st.cl_waiting } };

		put_states(s, f->name, labels, c, ARRAY_SIZE(c));
	} else if (f->arg == POOL_SERVERS) {
		const struct state_count c[] = {
			{ "active", st.sv_active }, { "idle", st.sv_idle },
			{ "used", st.sv_used },	    { "tested", st.sv_tested },
			{ "login", st.sv_login },   { "being_canceled", st.sv_being_canceled },
		};

		put_states(s, f->name, labels, c, ARRAY_SIZE(c));
	} else {
		evbuffer_add_printf(s->chunk, "%s{%s} ", f->name, labels);
		put_seconds(s->chunk, st.maxwait);
		evbuffer_add(s->chunk, "\n", 1);
	}
}

/*
 * One histogram: cumulative buckets at powers of two microseconds. hist_count_below()
 * counts what is below a bound, which for whole microseconds is what Prometheus' "le"
 * means up to one microsecond at the bound itself.
 */
static void write_histogram(struct scrape *s, const struct family *f, void *obj)
{
	struct pool *pool = obj;
	const struct histogram *h = &s->snap.lat[f->arg];
	char name[128], labels[LABELS_MAX];

	stats_pool_snapshot(s->m->w->reg, pool, &s->snap, true);
	family_name(name, sizeof(name), f);
	pool_labels(labels, sizeof(labels), pool);
	for (unsigned e = LE_MIN_EXP; e <= LE_MAX_EXP; e++) {
		evbuffer_add_printf(s->chunk, "%s_bucket{%s,le=\"", name, labels);
		put_seconds(s->chunk, (uint64_t)1 << e);
		evbuffer_add_printf(s->chunk, "\"} %" PRIu64 "\n",
				    hist_count_below(h, (uint64_t)1 << e));
	}
	evbuffer_add_printf(s->chunk, "%s_bucket{%s,le=\"+Inf\"} %" PRIu64 "\n", name, labels,
			    h->count);
	evbuffer_add_printf(s->chunk, "%s_sum{%s} ", name, labels);
	put_seconds(s->chunk, h->sum);
	evbuffer_add_printf(s->chunk, "\n%s_count{%s} %" PRIu64 "\n", name, labels, h->count);
}

/* --- databases: SHOW DATABASES ------------------------------------------------------ */

enum db_figure {
	DB_POOL_SIZE,
	DB_MAX_CONNECTIONS,
	DB_SERVERS,
	DB_CLIENTS,
	DB_PAUSED,
	DB_DISABLED
};

/* A database's figure as SHOW DATABASES shows it: its own setting, else the global one. */
static long db_figure(const struct database *db, const struct registry *reg, enum db_figure fig)
{
	const struct config *cfg = reg->cfg;

	switch (fig) {
	case DB_POOL_SIZE:
		return db->def->pool_size >= 0 ? db->def->pool_size : cfg->default_pool_size;
	case DB_MAX_CONNECTIONS:
		return db->def->max_db_connections >= 0 ? db->def->max_db_connections
							: cfg->max_db_connections;
	case DB_SERVERS:
		return db->server_count;
	case DB_CLIENTS:
		return db->client_count;
	case DB_PAUSED: /* by PAUSE of the database; weir_paused tells PAUSE of everything */
		return db->paused;
	case DB_DISABLED:
		return db->disabled;
	}
	return 0;
}

static void write_database(struct scrape *s, const struct family *f, void *obj)
{
	struct database *db = obj;
	char name[LABELS_MAX / 2];

	if (!db->def) /* dropped from the config by a reload: SHOW DATABASES omits it too */
		return;
	escape_label(name, sizeof(name), db->name);
	evbuffer_add_printf(s->chunk, "%s{database=\"%s\"} %ld\n", f->name, name,
			    db_figure(db, s->m->w->reg, (enum db_figure)f->arg));
}

/* --- the process: SHOW LISTS, resources, build ---------------------------------------- */

enum process_figure {
	PROC_DATABASES,
	PROC_USERS,
	PROC_POOLS,
	PROC_PAUSED,
	PROC_CLIENTS,
	PROC_SERVERS,
	PROC_OPEN_FDS,
	PROC_MAX_FDS,
	PROC_RSS,
	PROC_VSZ,
	PROC_CPU,
	PROC_START_TIME,
	PROC_UPTIME,
	PROC_UP,
	PROC_BUILD_INFO,
};

static uint64_t count_clients(const struct registry *reg)
{
	return __atomic_load_n(&reg->nclients, __ATOMIC_RELAXED);
}

static uint64_t count_servers(const struct registry *reg)
{
	const struct list_node *n;
	uint64_t total = 0;

	for (n = reg->databases.n.next; n != &reg->databases.n; n = n->next)
		total += list_entry(n, struct database, node)->server_count;
	return total;
}

/* Open descriptors: the entries of /proc/self/fd, less the one reading it. */
static uint64_t count_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	const struct dirent *e;
	uint64_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n ? n - 1 : 0;
}

/* Field `index` (0 = size, 1 = resident) of /proc/self/statm, in bytes. */
static uint64_t statm_bytes(int index)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long pages[2] = { 0, 0 };

	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &pages[0], &pages[1]) != 2)
		pages[0] = pages[1] = 0;
	fclose(f);
	return (uint64_t)pages[index] * (uint64_t)sysconf(_SC_PAGESIZE);
}

static uint64_t max_fds(void)
{
	struct rlimit rl;

	return getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (uint64_t)rl.rlim_cur : 0;
}

static uint64_t cpu_usec(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * USEC_PER_SEC +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* A process figure; *usec tells whether it is a time in microseconds. */
static uint64_t process_figure(const struct registry *reg, enum process_figure fig, bool *usec)
{
	*usec = fig == PROC_CPU || fig == PROC_START_TIME || fig == PROC_UPTIME;
	switch (fig) {
	case PROC_DATABASES:
		return reg->databases.count;
	case PROC_USERS:
		return reg->users.count;
	case PROC_POOLS:
		return reg->pools.count;
	case PROC_PAUSED:
		return reg->paused;
	case PROC_CLIENTS:
		return count_clients(reg);
	case PROC_SERVERS:
		return count_servers(reg);
	case PROC_OPEN_FDS:
		return count_open_fds();
	case PROC_MAX_FDS:
		return max_fds();
	case PROC_RSS:
		return statm_bytes(1);
	case PROC_VSZ:
		return statm_bytes(0);
	case PROC_CPU:
		return cpu_usec();
	case PROC_START_TIME:
		return reg->started;
	case PROC_UPTIME:
		return usec_since(reg->started, wall_usec());
	case PROC_UP:
	case PROC_BUILD_INFO:
		return 1;
	}
	return 0;
}

static void write_process(struct scrape *s, const struct family *f, void *obj)
{
	bool usec;
	uint64_t v = process_figure(s->m->w->reg, (enum process_figure)f->arg, &usec);

	if (f->arg == PROC_BUILD_INFO)
		evbuffer_add_printf(s->chunk, "%s{version=\"%s\"} ", f->name, PACKAGE_VERSION);
	else
		evbuffer_add_printf(s->chunk, "%s ", f->name);
	if (usec)
		put_seconds(s->chunk, v);
	else
		evbuffer_add_printf(s->chunk, "%" PRIu64, v);
	evbuffer_add(s->chunk, "\n", 1);
}

/* --- the families, in the order of the scrape ----------------------------------------- */

#define COUNTER(name, field, help)                                \
	{                                                         \
		name, "counter", help, SCOPE_POOL, write_counter, \
		    offsetof(struct stat_counters, field)         \
	}
#define HISTOGRAM(kind, help)                                              \
	{                                                                  \
		NULL, "histogram", help, SCOPE_POOL, write_histogram, kind \
	}
#define POOL_GAUGE(name, fig, help)                                    \
	{                                                              \
		name, "gauge", help, SCOPE_POOL, write_pool_state, fig \
	}
#define DB_GAUGE(name, fig, help)                                        \
	{                                                                \
		name, "gauge", help, SCOPE_DATABASE, write_database, fig \
	}
#define PROCESS(name, type, fig, help)                              \
	{                                                           \
		name, type, help, SCOPE_PROCESS, write_process, fig \
	}

static const struct family families[] = {
	COUNTER(
	    "weir_server_assignments_total", server_assignment_count,
	    "Times a server was assigned to a client (SHOW STATS total_server_assignment_count)."),
	COUNTER("weir_transactions_total", xact_count,
		"Transactions pooled (SHOW STATS total_xact_count)."),
	COUNTER("weir_queries_total", query_count,
		"Queries pooled (SHOW STATS total_query_count)."),
	COUNTER("weir_received_bytes_total", bytes_received,
		"Bytes received from clients (SHOW STATS total_received)."),
	COUNTER("weir_sent_bytes_total", bytes_sent,
		"Bytes sent to clients (SHOW STATS total_sent)."),
	COUNTER("weir_transaction_seconds_total", xact_time,
		"Time spent in transactions (SHOW STATS total_xact_time)."),
	COUNTER("weir_query_seconds_total", query_time,
		"Time spent in queries (SHOW STATS total_query_time)."),
	COUNTER("weir_wait_seconds_total", wait_time,
		"Time clients waited for a server (SHOW STATS total_wait_time)."),
	COUNTER("weir_client_parses_total", client_parse_count,
		"Parse messages of clients (SHOW STATS total_client_parse_count)."),
	COUNTER("weir_server_parses_total", server_parse_count,
		"Parse messages sent to servers (SHOW STATS total_server_parse_count)."),
	COUNTER("weir_binds_total", bind_count, "Bind messages (SHOW STATS total_bind_count)."),
	COUNTER("weir_client_logins_total", client_login_count,
		"Client logins completed (SHOW STATS total_client_login_count)."),
	POOL_GAUGE("weir_pool_clients", POOL_CLIENTS,
		   "Client connections of the pool by state (SHOW POOLS cl_*)."),
	POOL_GAUGE("weir_pool_servers", POOL_SERVERS,
		   "Server connections of the pool by state (SHOW POOLS sv_*)."),
	POOL_GAUGE("weir_pool_maxwait_seconds", POOL_MAXWAIT,
		   "How long the oldest waiting client has waited (SHOW POOLS maxwait)."),
	HISTOGRAM(LAT_QUERY, "Query latency: request sent to a server until its ReadyForQuery."),
	HISTOGRAM(LAT_XACT, "Transaction latency: its start until the server is idle again."),
	HISTOGRAM(LAT_WAIT, "Time a client waited in the queue until it was given a server."),
	HISTOGRAM(LAT_SERVER_LOGIN, "Server connect and login time."),
	HISTOGRAM(LAT_CLIENT_LOGIN, "Client login time: startup packet until ReadyForQuery."),
	DB_GAUGE("weir_database_pool_size", DB_POOL_SIZE,
		 "Pool size of the database (SHOW DATABASES pool_size)."),
	DB_GAUGE("weir_database_max_connections", DB_MAX_CONNECTIONS,
		 "Cap on the database's server connections, 0 = none (SHOW DATABASES "
		 "max_connections)."),
	DB_GAUGE("weir_database_server_connections", DB_SERVERS,
		 "Server connections of the database (SHOW DATABASES current_connections)."),
	DB_GAUGE("weir_database_client_connections", DB_CLIENTS,
		 "Client connections of the database (SHOW DATABASES "
		 "current_client_connections)."),
	DB_GAUGE("weir_database_paused", DB_PAUSED,
		 "1 while the database is paused (SHOW DATABASES paused)."),
	DB_GAUGE("weir_database_disabled", DB_DISABLED,
		 "1 while new logins to the database are refused (SHOW DATABASES disabled)."),
	PROCESS("weir_databases", "gauge", PROC_DATABASES, "Databases (SHOW LISTS databases)."),
	PROCESS("weir_users", "gauge", PROC_USERS, "Users (SHOW LISTS users)."),
	PROCESS("weir_pools", "gauge", PROC_POOLS, "Pools (SHOW LISTS pools)."),
	PROCESS("weir_paused", "gauge", PROC_PAUSED,
		"1 while every database is paused (PAUSE, SIGUSR1; SHOW STATE paused)."),
	PROCESS("weir_client_connections", "gauge", PROC_CLIENTS,
		"Client connections, logging in or logged in."),
	PROCESS("weir_server_connections", "gauge", PROC_SERVERS, "Server connections."),
	PROCESS("process_open_fds", "gauge", PROC_OPEN_FDS, "Open file descriptors."),
	PROCESS("process_max_fds", "gauge", PROC_MAX_FDS, "Limit on open file descriptors."),
	PROCESS("process_resident_memory_bytes", "gauge", PROC_RSS, "Resident memory size."),
	PROCESS("process_virtual_memory_bytes", "gauge", PROC_VSZ, "Virtual memory size."),
	PROCESS("process_cpu_seconds_total", "counter", PROC_CPU, "User and system CPU time."),
	PROCESS("process_start_time_seconds", "gauge", PROC_START_TIME,
		"Start time of the process since the Unix epoch."),
	PROCESS("weir_uptime_seconds", "gauge", PROC_UPTIME, "Time since the process started."),
	PROCESS("weir_up", "gauge", PROC_UP, "1 while weir answers."),
	PROCESS("weir_build_info", "gauge", PROC_BUILD_INFO, "weir's version, as a label."),
};

/* --- the scrape ---------------------------------------------------------------------- */

static struct list_head *family_list(const struct family *f, struct registry *reg)
{
	return f->scope == SCOPE_POOL ? &reg->pools : &reg->databases;
}

static void *family_object(const struct family *f, struct list_node *n)
{
	if (f->scope == SCOPE_POOL)
		return list_entry(n, struct pool, node);
	return list_entry(n, struct database, node);
}

static void next_family(struct scrape *s)
{
	s->family++;
	s->family_started = false;
}

/* Writes into s->chunk until it is a step long; true once the whole body is written. */
static bool scrape_fill(struct scrape *s)
{
	struct registry *reg = s->m->w->reg;

	while (s->family < ARRAY_SIZE(families)) {
		const struct family *f = &families[s->family];
		struct list_head *list = family_list(f, reg);

		if (evbuffer_get_length(s->chunk) >= SCRAPE_STEP_BYTES)
			return false;
		if (!s->family_started) {
			put_header(s, f);
			s->family_started = true;
			s->cursor = list->n.next;
		}
		if (f->scope == SCOPE_PROCESS) {
			f->write(s, f, NULL);
			next_family(s);
		} else if (s->cursor == &list->n) {
			next_family(s);
		} else {
			f->write(s, f, family_object(f, s->cursor));
			s->cursor = s->cursor->next;
		}
	}
	return true;
}

static void scrape_free(struct scrape *s)
{
	list_remove(&s->m->scrapes, &s->node);
	event_free(s->step);
	evbuffer_free(s->chunk);
	free(s);
}

static void scrape_finish(struct scrape *s)
{
	log_debug("metrics: scrape of %zu bytes in %u steps, %.1f ms, longest step %" PRIu64
		  " us (%" PRIu64 " us of CPU)",
		  s->bytes, s->steps, (double)usec_since(s->begun, now_usec()) / 1000.0,
		  s->longest_step, s->longest_step_cpu);
	evhttp_send_reply_chunk(s->req, s->chunk);
	/* the connection may live on (keep-alive) after this scrape is gone */
	evhttp_connection_set_closecb(s->evcon, NULL, NULL);
	evhttp_send_reply_end(s->req);
	scrape_free(s);
}

/* evhttp wrote the last chunk to the socket: the next step, from the loop. */
static void on_chunk_written(struct evhttp_connection *evcon, void *arg)
{
	struct scrape *s = arg;

	event_active(s->step, 0, 0);
}

/* CPU time of the calling thread: a step's wall time includes being preempted. */
static usec_t thread_cpu_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000;
}

static void fill_parked(struct worker *w, void *arg)
{
	struct scrape *s = arg;

	(void)w;
	s->done = scrape_fill(s);
}

/* A step reads every worker's figures and connections, with the other workers parked. */
static void on_step(evutil_socket_t fd, short what, void *arg)
{
	struct scrape *s = arg;
	usec_t start = now_usec(), start_cpu = thread_cpu_usec();
	bool done;

	worker_exclusive(s->m->w, fill_parked, s);
	done = s->done;
	usec_t took = usec_since(start, now_usec()), cpu = usec_since(start_cpu, thread_cpu_usec());

	s->steps++;
	s->bytes += evbuffer_get_length(s->chunk);
	if (took > s->longest_step)
		s->longest_step = took;
	if (cpu > s->longest_step_cpu)
		s->longest_step_cpu = cpu;
	if (done)
		scrape_finish(s);
	else
		evhttp_send_reply_chunk_with_cb(s->req, s->chunk, on_chunk_written, s);
}

/*
 * The connection closed before the reply ended: the client hung up or timed out, or weir
 * is exiting. In the first two cases evhttp has let go of the request and it is ours to
 * free; at exit evhttp frees it with the connection.
 */
static void on_close(struct evhttp_connection *evcon, void *arg)
{
	struct scrape *s = arg;

	log_debug("metrics: scrape dropped, the connection closed");
	if (!evhttp_request_get_connection(s->req))
		evhttp_request_free(s->req);
	scrape_free(s);
}

static void scrape_start(struct metrics *m, struct evhttp_request *req)
{
	struct scrape *s = xcalloc(1, sizeof(*s));

	s->m = m;
	s->req = req;
	s->begun = now_usec();
	s->evcon = evhttp_request_get_connection(req);
	s->chunk = evbuffer_new();
	s->step = event_new(m->w->base, -1, 0, on_step, s);
	if (!s->chunk || !s->step)
		die("out of memory");
	list_append(&m->scrapes, &s->node);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", CONTENT_TYPE);
	evhttp_send_reply_start(req, HTTP_OK, "OK");
	evhttp_connection_set_closecb(s->evcon, on_close, s);
	event_active(s->step, 0, 0);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct metrics *m = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET || !path ||
	    strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, "Not Found");
		return;
	}
	scrape_start(m, req);
}

struct metrics *metrics_start(struct worker *w, const struct config *cfg, char *err, size_t errlen)
{
	struct metrics *m = xcalloc(1, sizeof(*m));
	const char *addr = cfg->metrics_listen_addr;

	if (strcmp(addr, "*") == 0)
		addr = "0.0.0.0";
	m->w = w;
	list_init(&m->scrapes);
	m->http = evhttp_new(w->base);
	if (!m->http)
		die("cannot create the metrics HTTP server");
	evhttp_set_timeout(m->http, HTTP_TIMEOUT_SECONDS);
	evhttp_set_max_headers_size(m->http, 16 * 1024);
	evhttp_set_max_body_size(m->http, 16 * 1024);
	evhttp_set_gencb(m->http, on_request, m);
	if (!evhttp_bind_socket_with_handle(m->http, addr, (uint16_t)cfg->metrics_port)) {
		snprintf(err, errlen, "cannot listen for metrics on %s:%d: %s", addr,
			 cfg->metrics_port, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		metrics_free(m);
		return NULL;
	}
	log_info("metrics on http://%s:%d/metrics", addr, cfg->metrics_port);
	return m;
}

void metrics_free(struct metrics *m)
{
	struct list_node *n;

	if (!m)
		return;
	evhttp_free(m->http); /* closes connections: on_close frees their scrapes */
	while ((n = list_first(&m->scrapes)))
		scrape_free(list_entry(n, struct scrape, node));
	free(m);
}
