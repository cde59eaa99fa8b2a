/* SPDX-License-Identifier: ISC */
/* Unit tests for pending.c: matching server replies to the requests that caused them. */
#include "harness.h"
#include "pending.h"

struct hook_log {
	int released;
	int failed;
	void *last_failed;
};

static void on_release(void *arg, void *stmt)
{
	((struct hook_log *)arg)->released++;
}

static void on_failed(void *arg, void *stmt)
{
	struct hook_log *log = arg;

	log->failed++;
	log->last_failed = stmt;
}

static void init(struct pend_queue *q, struct hook_log *log)
{
	struct pend_hooks hooks = { on_release, on_failed, log };

	*log = (struct hook_log){ 0, 0, NULL };
	pend_init(q, &hooks);
}

/* Feeds replies; returns how many verdicts matched `want` in order. */
static int feed(struct pend_queue *q, const char *replies, const char *want)
{
	int ok = 0;

	for (int i = 0; replies[i]; i++) {
		enum pend_verdict v = pend_on_response(q, (uint8_t)replies[i]);
		char got = v == PV_FORWARD ? 'f' : v == PV_DROP ? 'd' : 'x';

		ok += got == want[i];
	}
	return ok;
}

TEST(pending_extended_batch_completes_in_order)
{
	struct pend_queue q;
	struct hook_log log;

	init(&q, &log);
	for (const char *t = "PBDES"; *t; t++)
		pend_push(&q, (uint8_t)*t, PEND_FORWARD, NULL);
	CHECK_INT(feed(&q, "12tTDDCZ", "ffffffff"), 8);
	CHECK_INT(q.count, 0);
	pend_free(&q);
}

TEST(pending_injected_parse_reply_is_dropped)
{
	struct pend_queue q;
	struct hook_log log;
	int stmt;

	init(&q, &log);
	pend_push(&q, 'P', PEND_DROP, &stmt);
	pend_push(&q, 'B', PEND_FORWARD, NULL);
	pend_push(&q, 'E', PEND_FORWARD, NULL);
	pend_push(&q, 'S', PEND_FORWARD, NULL);
	CHECK_INT(feed(&q, "12CZ", "dfff"), 4);
	CHECK_INT(log.released, 1);
	CHECK_INT(log.failed, 0);
	pend_free(&q);
}

TEST(pending_error_skips_to_sync_and_reports_failed_parse)
{
	struct pend_queue q;
	struct hook_log log;
	int stmt;

	init(&q, &log);
	pend_push(&q, 'P', PEND_FORWARD, &stmt);
	pend_push(&q, 'B', PEND_FORWARD, NULL);
	pend_push_fake(&q, 'P', FAKE_PARSE_COMPLETE, NULL, NULL);
	pend_push(&q, 'S', PEND_FORWARD, NULL);
	CHECK(pend_on_response(&q, 'E') == PV_FORWARD);
	CHECK_INT(log.failed, 1);
	CHECK(log.last_failed == &stmt);
	CHECK_INT(q.count, 1);
	CHECK_INT(pend_head(&q)->type, 'S');
	CHECK(pend_on_response(&q, 'Z') == PV_FORWARD);
	CHECK_INT(q.count, 0);
	pend_free(&q);
}

TEST(pending_simple_query_errors_do_not_pop)
{
	struct pend_queue q;
	struct hook_log log;

	init(&q, &log);
	pend_push(&q, 'Q', PEND_FORWARD, NULL);
	pend_push(&q, 'Q', PEND_FORWARD, NULL);
	CHECK_INT(feed(&q, "TDCEZ", "fffff"), 5);
	CHECK_INT(q.count, 1);
	CHECK_INT(feed(&q, "GZ", "ff"), 2);
	CHECK_INT(q.count, 0);
	pend_free(&q);
}

TEST(pending_async_messages_never_complete_anything)
{
	struct pend_queue q;
	struct hook_log log;

	init(&q, &log);
	pend_push(&q, 'S', PEND_FORWARD, NULL);
	CHECK_INT(feed(&q, "NSA", "fff"), 3);
	CHECK_INT(q.count, 1);
	pend_free(&q);
}

TEST(pending_reply_out_of_step_is_bad)
{
	struct pend_queue q;
	struct hook_log log;

	init(&q, &log);
	pend_push(&q, 'P', PEND_FORWARD, NULL);
	CHECK(pend_on_response(&q, '2') == PV_BAD);
	CHECK(pend_on_response(&q, '3') == PV_BAD);
	CHECK(pend_on_response(&q, 'n') == PV_BAD);
	pend_clear(&q);
	CHECK(pend_on_response(&q, '1') == PV_BAD);
	CHECK(pend_on_response(&q, 'D') == PV_BAD);
	pend_free(&q);
}

TEST(pending_fake_at_head_is_not_matched_by_a_reply)
{
	struct pend_queue q;
	struct hook_log log;

	init(&q, &log);
	pend_push_fake(&q, 'P', FAKE_PARSE_COMPLETE, NULL, NULL);
	CHECK(pend_on_response(&q, '1') == PV_BAD);
	CHECK_INT(pend_head(&q)->action, PEND_FAKE);
	CHECK_INT(pend_head(&q)->fake, FAKE_PARSE_COMPLETE);
	pend_pop(&q);
	CHECK(pend_head(&q) == NULL);
	pend_free(&q);
}

TEST(pending_fake_error_keeps_its_text)
{
	struct pend_queue q;
	struct hook_log log;

	init(&q, &log);
	pend_push_fake(&q, 'E', FAKE_ERROR, "42P05", "prepared statement \"a\" already exists");
	CHECK_STR(pend_head(&q)->sqlstate, "42P05");
	CHECK_STR(pend_head(&q)->message, "prepared statement \"a\" already exists");
	pend_free(&q);
}

TEST(pending_ring_grows_and_keeps_order)
{
	struct pend_queue q;
	struct hook_log log;
	int stmts[100];

	init(&q, &log);
	for (int i = 0; i < 10; i++)
		pend_push(&q, 'P', PEND_FORWARD, &stmts[i]);
	for (int i = 0; i < 5; i++)
		CHECK(pend_on_response(&q, '1') == PV_FORWARD);
	for (int i = 10; i < 100; i++)
		pend_push(&q, 'P', PEND_FORWARD, &stmts[i]);
	CHECK_INT(q.count, 95);
	CHECK(pend_head(&q)->stmt == &stmts[5]);
	pend_free(&q);
	CHECK_INT(log.released, 100);
}

TEST(pending_describe_of_portal_completes_on_row_description)
{
	struct pend_queue q;
	struct hook_log log;

	init(&q, &log);
	pend_push(&q, 'B', PEND_FORWARD, NULL);
	pend_push(&q, 'D', PEND_FORWARD, NULL);
	pend_push(&q, 'E', PEND_FORWARD, NULL);
	pend_push(&q, 'S', PEND_FORWARD, NULL);
	CHECK_INT(feed(&q, "2TDDsZ", "ffffff"), 6);
	CHECK_INT(q.count, 0);
	pend_free(&q);
}

TEST(pending_deallocate_entry_completes_like_its_request_and_keeps_its_name)
{
	struct pend_queue q;
	struct hook_log log;

	init(&q, &log);
	pend_push_dealloc(&q, 'Q', "s1");
	CHECK_INT(pend_head(&q)->action, PEND_DEALLOCATE);
	CHECK_STR(pend_head(&q)->message, "s1");
	CHECK_INT(feed(&q, "CZ", "ff"), 2);
	CHECK_INT(q.count, 0);
	pend_push(&q, 'P', PEND_FORWARD, NULL);
	pend_push(&q, 'B', PEND_FORWARD, NULL);
	pend_push_dealloc(&q, 'E', "s2");
	pend_push(&q, 'S', PEND_FORWARD, NULL);
	CHECK_INT(feed(&q, "12CZ", "ffff"), 4);
	CHECK_INT(q.count, 0);
	pend_free(&q);
}
