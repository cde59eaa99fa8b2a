/* SPDX-License-Identifier: ISC */
/* Unit tests for wheel.c: the hashed timing wheel of the client deadlines. */
#include "harness.h"
#include "wheel.h"

#define P 100 /* slot width */

static unsigned drain(struct wheel *w)
{
	unsigned n = 0;

	while (wheel_pop_fired(w))
		n++;
	return n;
}

TEST(wheel_fires_an_entry_at_its_due_time_not_before)
{
	struct wheel w;
	struct wheel_entry e;

	wheel_init(&w, 8, P, 0);
	wheel_entry_init(&e);
	wheel_add(&w, &e, 250);
	CHECK(wheel_entry_filed(&e));
	wheel_expire(&w, 249);
	CHECK(wheel_pop_fired(&w) == NULL);
	wheel_expire(&w, 250);
	CHECK(wheel_pop_fired(&w) == &e);
	CHECK(!wheel_entry_filed(&e));
	CHECK_INT(w.count, 0);
	wheel_free(&w);
}

TEST(wheel_skips_an_entry_due_in_a_later_turn)
{
	struct wheel w;
	struct wheel_entry e;

	wheel_init(&w, 8, P, 0);
	wheel_entry_init(&e);
	wheel_add(&w, &e, 250 + 3 * 8 * P); /* same slot, three turns later */
	for (usec_t now = 0; now < 250 + 3 * 8 * P; now += P / 2) {
		wheel_expire(&w, now);
		CHECK(wheel_pop_fired(&w) == NULL);
	}
	wheel_expire(&w, 250 + 3 * 8 * P);
	CHECK(wheel_pop_fired(&w) == &e);
	wheel_free(&w);
}

TEST(wheel_fires_a_past_due_time_at_the_next_expire)
{
	struct wheel w;
	struct wheel_entry e;

	wheel_init(&w, 8, P, 1000);
	wheel_expire(&w, 1530);
	wheel_entry_init(&e);
	wheel_add(&w, &e, 10);
	CHECK_INT(e.due, 1500); /* filed at the cursor */
	wheel_expire(&w, 1530);
	CHECK(wheel_pop_fired(&w) == &e);
	wheel_free(&w);
}

TEST(wheel_due_zero_is_filed_not_fired)
{
	struct wheel w;
	struct wheel_entry e;

	wheel_init(&w, 8, P, 0);
	wheel_entry_init(&e);
	wheel_add(&w, &e, 0);
	CHECK(e.due != WHEEL_FIRED);
	wheel_remove(&w, &e);
	CHECK(!wheel_entry_filed(&e));
	CHECK_INT(w.count, 0);
	wheel_free(&w);
}

TEST(wheel_removes_from_a_slot_and_from_the_fired_list)
{
	struct wheel w;
	struct wheel_entry a, b, c;

	wheel_init(&w, 8, P, 0);
	wheel_entry_init(&a);
	wheel_entry_init(&b);
	wheel_entry_init(&c);
	wheel_add(&w, &a, 100);
	wheel_add(&w, &b, 120);
	wheel_add(&w, &c, 700);
	wheel_remove(&w, &c);
	wheel_remove(&w, &c); /* not filed any more: nothing */
	CHECK_INT(w.count, 2);
	wheel_expire(&w, 150);
	wheel_remove(&w, &a); /* fired, not taken yet: closed by another's action */
	CHECK(wheel_pop_fired(&w) == &b);
	CHECK(wheel_pop_fired(&w) == NULL);
	CHECK_INT(w.count, 0);
	wheel_free(&w);
}

TEST(wheel_lower_moves_only_to_an_earlier_time)
{
	struct wheel w;
	struct wheel_entry e;

	wheel_init(&w, 8, P, 0);
	wheel_entry_init(&e);
	CHECK(wheel_lower(&w, &e, 900)); /* not filed: filed */
	CHECK(wheel_lower(&w, &e, 400));
	CHECK_INT(e.due, 400);
	CHECK(!wheel_lower(&w, &e, 600));
	CHECK(!wheel_lower(&w, &e, 400));
	CHECK_INT(e.due, 400);
	wheel_expire(&w, 450);
	CHECK(!wheel_lower(&w, &e, 10)); /* fired: stays on the fired list */
	CHECK(wheel_pop_fired(&w) == &e);
	CHECK_INT(w.count, 0);
	wheel_free(&w);
}

TEST(wheel_after_a_long_stall_fires_each_due_entry_once)
{
	struct wheel w;
	struct wheel_entry e[40];

	wheel_init(&w, 8, P, 0);
	for (int i = 0; i < 40; i++) {
		wheel_entry_init(&e[i]);
		wheel_add(&w, &e[i], (usec_t)(i + 1) * 37);
	}
	wheel_expire(&w, 20 * 37); /* 7.4 slots at once */
	CHECK_INT(drain(&w), 20);
	wheel_expire(&w, 100000); /* many turns at once */
	CHECK_INT(drain(&w), 20);
	CHECK_INT(w.count, 0);
	wheel_free(&w);
}

/* A small deterministic generator for the model test. */
static uint32_t next_random(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

TEST(wheel_matches_a_plain_list_under_random_operations)
{
	enum {
		N = 64
	};
	struct wheel w;
	struct wheel_entry e[N];
	usec_t due[N]; /* the model: 0 = not filed */
	uint32_t seed = 42;
	usec_t now = 12345;
	int bad = 0, fired = 0;

	wheel_init(&w, 16, P, now);
	for (int i = 0; i < N; i++) {
		wheel_entry_init(&e[i]);
		due[i] = 0;
	}
	for (int step = 0; step < 20000; step++) {
		int i = (int)(next_random(&seed) % N);
		uint32_t op = next_random(&seed) % 4;
		usec_t d = now + next_random(&seed) % (40 * P) - 5 * P;

		if (op == 0 && !due[i]) {
			wheel_add(&w, &e[i], d);
			due[i] = e[i].due;
		} else if (op == 1) {
			wheel_remove(&w, &e[i]);
			due[i] = 0;
		} else if (op == 2) {
			wheel_lower(&w, &e[i], d);
			due[i] = e[i].due;
		} else {
			struct wheel_entry *f;

			now += next_random(&seed) % (3 * P);
			wheel_expire(&w, now);
			while ((f = wheel_pop_fired(&w))) {
				int k = (int)(f - e);

				bad += due[k] == 0 || due[k] > now;
				due[k] = 0;
				fired++;
			}
			for (int k = 0; k < N; k++)
				bad += due[k] != 0 && due[k] <= now; /* due but not fired */
		}
	}
	CHECK_INT(bad, 0);
	CHECK(fired > 1000); /* the model test did exercise expiry */
	wheel_free(&w);
}
