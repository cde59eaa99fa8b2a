/* SPDX-License-Identifier: ISC */
/*
 * A hashed timing wheel: entries embedded in their objects, filed by due time into one of a
 * fixed number of slots, each `period` wide. Adding and removing are O(1) and allocate
 * nothing; wheel_expire() looks only at the slots that time has reached since the last
 * call and moves the entries that are due onto the fired list, where the caller takes them
 * one by one. An entry due beyond one turn of the wheel waits in its slot and is skipped
 * (one comparison) on each turn before its own. Pure logic: the caller reads the clock.
 */
#pragma once

#include "common.h"
#include "list.h"

/* The due time of an entry on the fired list: earlier than any filed one. */
#define WHEEL_FIRED ((usec_t)0)

struct wheel_entry {
	struct list_node node; /* on a slot or the fired list; on none = not filed */
	usec_t due;	       /* when filed: no earlier than the wheel's cursor, and > 0 */
};

struct wheel {
	struct list_head *slots; /* owned: nslots lists */
	unsigned mask;		 /* nslots - 1 (nslots is a power of 2) */
	usec_t period;		 /* width of a slot */
	usec_t cursor;		 /* start of the slot the last expire reached */
	struct list_head fired;	 /* due entries not yet taken by wheel_pop_fired() */
	unsigned count;		 /* entries filed, including those on the fired list */
};

/* nslots is rounded up to a power of 2; the wheel starts at now. */
void wheel_init(struct wheel *w, unsigned nslots, usec_t period, usec_t now);
/* Frees the slots; entries still filed are dropped (their nodes are left as they are). */
void wheel_free(struct wheel *w);

void wheel_entry_init(struct wheel_entry *e);
static inline bool wheel_entry_filed(const struct wheel_entry *e)
{
	return list_node_linked(&e->node);
}

/* Files an entry that is not filed. A due time already passed fires at the next expire. */
void wheel_add(struct wheel *w, struct wheel_entry *e, usec_t due);
/* Takes an entry off the wheel or the fired list; nothing if it is not filed. */
void wheel_remove(struct wheel *w, struct wheel_entry *e);
/*
 * Files e at due unless it is already filed no later (or fired): keeps e->due a lower bound.
 * Returns whether it moved.
 */
bool wheel_lower(struct wheel *w, struct wheel_entry *e, usec_t due);

/* Moves every entry due at now (due <= now) onto the fired list. */
void wheel_expire(struct wheel *w, usec_t now);
/* The next fired entry, no longer filed; NULL when there is none. */
struct wheel_entry *wheel_pop_fired(struct wheel *w);
