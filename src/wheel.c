/* SPDX-License-Identifier: ISC */
/*
 * The hashed timing wheel of wheel.h. Slot i holds the entries whose due time falls in a
 * slot-wide interval congruent to i modulo one turn; the cursor is the start of the slot
 * that the last wheel_expire() reached. A due time earlier than the cursor is filed at the
 * cursor, so it fires at the next expire, and an expire after a long stall looks at each
 * slot once. Nothing here reads the clock or allocates after wheel_init().
 */
#include "wheel.h"

static usec_t slot_start(const struct wheel *w, usec_t t)
{
	return t - t % w->period;
}

static struct list_head *slot_of(struct wheel *w, usec_t due)
{
	return &w->slots[(due / w->period) & w->mask];
}

void wheel_init(struct wheel *w, unsigned nslots, usec_t period, usec_t now)
{
	unsigned n = 1;

	while (n < nslots)
		n <<= 1;
	w->slots = xcalloc(n, sizeof(*w->slots));
	for (unsigned i = 0; i < n; i++)
		list_init(&w->slots[i]);
	w->mask = n - 1;
	w->period = period ? period : 1;
	w->cursor = slot_start(w, now);
	list_init(&w->fired);
	w->count = 0;
}

void wheel_free(struct wheel *w)
{
	free(w->slots);
	w->slots = NULL;
}

void wheel_entry_init(struct wheel_entry *e)
{
	list_node_init(&e->node);
	e->due = WHEEL_FIRED;
}

/* Where a due time is filed: never before the cursor, never at WHEEL_FIRED. */
static usec_t clamp(const struct wheel *w, usec_t due)
{
	if (due < w->cursor)
		due = w->cursor;
	return due > WHEEL_FIRED ? due : WHEEL_FIRED + 1;
}

void wheel_add(struct wheel *w, struct wheel_entry *e, usec_t due)
{
	ASSERT(!wheel_entry_filed(e));
	e->due = clamp(w, due);
	list_append(slot_of(w, e->due), &e->node);
	w->count++;
}

void wheel_remove(struct wheel *w, struct wheel_entry *e)
{
	if (!wheel_entry_filed(e))
		return;
	list_remove(e->due == WHEEL_FIRED ? &w->fired : slot_of(w, e->due), &e->node);
	w->count--;
}

bool wheel_lower(struct wheel *w, struct wheel_entry *e, usec_t due)
{
	if (wheel_entry_filed(e) && e->due <= clamp(w, due))
		return false; /* a fired entry (due 0) is never moved */
	wheel_remove(w, e);
	wheel_add(w, e, due);
	return true;
}

static void expire_slot(struct wheel *w, struct list_head *slot, usec_t now)
{
	struct list_node *n, *t;

	list_for_each_safe(n, t, slot) {
		struct wheel_entry *e = list_entry(n, struct wheel_entry, node);

		if (e->due > now)
			continue; /* later in this slot, or a later turn */
		list_remove(slot, n);
		e->due = WHEEL_FIRED;
		list_append(&w->fired, n);
	}
}

void wheel_expire(struct wheel *w, usec_t now)
{
	usec_t nslots = (usec_t)w->mask + 1, n;

	if (now < w->cursor)
		return;
	n = (now - w->cursor) / w->period + 1;
	if (n > nslots)
		n = nslots;
	for (usec_t i = 0; i < n; i++)
		expire_slot(w, slot_of(w, w->cursor + i * w->period), now);
	w->cursor = slot_start(w, now);
}

struct wheel_entry *wheel_pop_fired(struct wheel *w)
{
	struct list_node *n = list_pop_first(&w->fired);

	if (!n)
		return NULL;
	w->count--;
	return list_entry(n, struct wheel_entry, node);
}
