/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for kdf.c, with real threads and a real libevent loop: a derivation comes back
 * on the loop with the same SaltedPassword as one computed here, jobs run in FIFO order,
 * server logins never wait behind what clients cause, and a cancelled job (queued, running
 * or finished) never calls back. LeakSanitizer checks at exit that every job and password
 * copy was freed.
 */
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>

#include "harness.h"
#include "kdf.h"

/* RFC 7677's salt. */
static const uint8_t rfc_salt[16] = { 0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e,
				      0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa, 0x81 };

struct seen {
	int calls;
	int order[8];
	bool ok;
	uint8_t salted[SCRAM_KEY_LEN];
};

struct tag {
	struct seen *seen;
	int id;
};

static void on_done(void *arg, const struct kdf_result *res)
{
	struct tag *t = arg;

	if (t->seen->calls < 8)
		t->seen->order[t->seen->calls] = t->id;
	t->seen->calls++;
	t->seen->ok = res->ok;
	memcpy(t->seen->salted, res->salted, SCRAM_KEY_LEN);
}

static struct scram_kdf_params params(uint32_t iterations)
{
	struct scram_kdf_params p = { .salt_len = sizeof(rfc_salt), .iterations = iterations };

	memcpy(p.salt, rfc_salt, sizeof(rfc_salt));
	return p;
}

/* Runs the loop until `calls` callbacks were seen or 20 s passed. */
static void run_until(struct event_base *base, const struct seen *seen, int calls)
{
	const struct timeval tick = { 0, 50000 };

	for (int i = 0; i < 400 && seen->calls < calls; i++) {
		event_base_loopexit(base, &tick);
		event_base_loop(base, EVLOOP_ONCE);
	}
}

TEST(kdf_result_comes_back_on_the_loop_and_matches_pbkdf2)
{
	struct kdf_pool *pool = kdf_pool_create(KDF_THREADS);
	struct event_base *base = event_base_new();
	struct kdf_inbox *inbox = kdf_inbox_create(pool, base);
	struct scram_kdf_params p = params(4096);
	struct seen seen = { 0 };
	struct tag tag = { &seen, 1 };
	struct kdf_job *job = NULL;
	uint8_t want[SCRAM_KEY_LEN];

	CHECK(pool && base && inbox);
	CHECK(auth_scram_salted_password("pencil", rfc_salt, sizeof(rfc_salt), 4096, want));
	kdf_submit(inbox, KDF_FOR_CLIENT, "pencil", &p, on_done, &tag, &job);
	CHECK(job != NULL);
	CHECK_INT(kdf_inbox_outstanding(inbox), 1);
	run_until(base, &seen, 1);
	CHECK_INT(seen.calls, 1);
	CHECK(seen.ok);
	CHECK(memcmp(seen.salted, want, SCRAM_KEY_LEN) == 0);
	CHECK(job == NULL);
	CHECK_INT(kdf_inbox_outstanding(inbox), 0);
	kdf_inbox_free(inbox);
	event_base_free(base);
	kdf_pool_free(pool);
}

TEST(kdf_refused_parameters_come_back_as_not_ok)
{
	struct kdf_pool *pool = kdf_pool_create(1);
	struct event_base *base = event_base_new();
	struct kdf_inbox *inbox = kdf_inbox_create(pool, base);
	struct scram_kdf_params p = params(SCRAM_MAX_ITERATIONS + 1);
	struct seen seen = { .ok = true };
	struct tag tag = { &seen, 1 };
	struct kdf_job *job = NULL;

	kdf_submit(inbox, KDF_FOR_CLIENT, "pencil", &p, on_done, &tag, &job);
	run_until(base, &seen, 1);
	CHECK_INT(seen.calls, 1);
	CHECK(!seen.ok);
	kdf_inbox_free(inbox);
	event_base_free(base);
	kdf_pool_free(pool);
}

TEST(kdf_jobs_wait_in_fifo_order)
{
	struct kdf_pool *pool = kdf_pool_create(1);
	struct event_base *base = event_base_new();
	struct kdf_inbox *inbox = kdf_inbox_create(pool, base);
	struct scram_kdf_params p = params(2000);
	struct seen seen = { 0 };
	struct tag tags[4];
	struct kdf_job *jobs[4] = { NULL };

	for (int i = 0; i < 4; i++) {
		tags[i] = (struct tag){ &seen, i };
		kdf_submit(inbox, KDF_FOR_CLIENT, "pw", &p, on_done, &tags[i], &jobs[i]);
	}
	run_until(base, &seen, 4);
	CHECK_INT(seen.calls, 4);
	for (int i = 0; i < 4; i++) {
		CHECK_INT(seen.order[i], i);
		CHECK(jobs[i] == NULL);
	}
	kdf_inbox_free(inbox);
	event_base_free(base);
	kdf_pool_free(pool);
}

TEST(kdf_server_logins_do_not_wait_behind_client_jobs)
{
	struct kdf_pool *pool = kdf_pool_create(2);
	struct event_base *base = event_base_new();
	struct kdf_inbox *inbox = kdf_inbox_create(pool, base);
	struct scram_kdf_params slow = params(400000), quick = params(1000);
	struct seen seen = { 0 };
	struct tag tags[4];
	struct kdf_job *jobs[4] = { NULL };

	for (int i = 0; i < 4; i++)
		tags[i] = (struct tag){ &seen, i };
	/* Two client jobs: one runs, one waits (clients get one thread of two). */
	kdf_submit(inbox, KDF_FOR_CLIENT, "c0", &slow, on_done, &tags[0], &jobs[0]);
	kdf_submit(inbox, KDF_FOR_CLIENT, "c1", &quick, on_done, &tags[1], &jobs[1]);
	usleep(20000);
	/* The server jobs take the other thread at once, in their own FIFO order. */
	kdf_submit(inbox, KDF_FOR_SERVER, "s2", &quick, on_done, &tags[2], &jobs[2]);
	kdf_submit(inbox, KDF_FOR_SERVER, "s3", &quick, on_done, &tags[3], &jobs[3]);
	run_until(base, &seen, 4);
	CHECK_INT(seen.calls, 4);
	CHECK_INT(seen.order[0], 2);
	CHECK_INT(seen.order[1], 3);
	CHECK_INT(seen.order[2], 0);
	CHECK_INT(seen.order[3], 1);
	kdf_inbox_free(inbox);
	event_base_free(base);
	kdf_pool_free(pool);
}

/* Waits until the pool has at most n jobs queued or running (the rest finished). */
static void wait_pending(struct kdf_pool *pool, unsigned n)
{
	for (int i = 0; i < 2000 && kdf_pool_pending(pool) > n; i++)
		usleep(5000);
}

TEST(kdf_cancelled_jobs_never_call_back)
{
	struct kdf_pool *pool = kdf_pool_create(1);
	struct event_base *base = event_base_new();
	struct kdf_inbox *inbox = kdf_inbox_create(pool, base);
	struct scram_kdf_params slow = params(300000), quick = params(1000);
	struct seen seen = { 0 };
	struct tag running = { &seen, 1 }, queued = { &seen, 2 }, kept = { &seen, 3 },
		   done = { &seen, 4 };
	struct kdf_job *a = NULL, *b = NULL, *c = NULL, *d = NULL;

	kdf_submit(inbox, KDF_FOR_CLIENT, "slow", &slow, on_done, &running, &a);
	kdf_submit(inbox, KDF_FOR_CLIENT, "queued", &quick, on_done, &queued, &b);
	kdf_submit(inbox, KDF_FOR_CLIENT, "kept", &quick, on_done, &kept, &c);
	usleep(20000); /* the one thread has most likely taken the slow job by now */
	kdf_cancel(&a);
	kdf_cancel(&b);
	kdf_cancel(&b); /* a second cancel of a cleared handle does nothing */
	CHECK(a == NULL && b == NULL);
	CHECK_INT(kdf_inbox_outstanding(inbox), 1);
	run_until(base, &seen, 1);
	CHECK_INT(seen.calls, 1);
	CHECK_INT(seen.order[0], 3);
	/* A finished job not yet delivered: dropped from the inbox. */
	kdf_submit(inbox, KDF_FOR_CLIENT, "done", &quick, on_done, &done, &d);
	wait_pending(pool, 0);
	kdf_cancel(&d);
	event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK_INT(seen.calls, 1);
	CHECK_INT(kdf_inbox_outstanding(inbox), 0);
	kdf_inbox_free(inbox);
	event_base_free(base);
	kdf_pool_free(pool);
}

TEST(kdf_pool_free_waits_for_a_cancelled_running_job)
{
	struct kdf_pool *pool = kdf_pool_create(2);
	struct event_base *base = event_base_new();
	struct kdf_inbox *inbox = kdf_inbox_create(pool, base);
	struct scram_kdf_params slow = params(200000);
	struct seen seen = { 0 };
	struct tag tag = { &seen, 1 };
	struct kdf_job *job = NULL;

	kdf_submit(inbox, KDF_FOR_CLIENT, "slow", &slow, on_done, &tag, &job);
	usleep(10000);
	kdf_cancel(&job);
	kdf_inbox_free(inbox);
	event_base_free(base);
	kdf_pool_free(pool);
	CHECK_INT(seen.calls, 0);
	CHECK(kdf_pool_create(0) == NULL);
	CHECK(kdf_pool_create(9) == NULL);
}
