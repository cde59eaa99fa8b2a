/* SPDX-License-Identifier: ISC */
/*
 * Matching server messages to the requests that caused them. Each request gets one entry
 * when it is sent (or answered by weir); responses complete entries in order:
 *
 *   Parse '1', Bind '2', Close '3', Describe ('t' then) 'T' or 'n', Execute 'C', 'I' or
 *   's', Sync, Query and FunctionCall 'Z'.
 *
 * Rows, copy messages and descriptions inside a Query or Execute do not complete anything;
 * NoticeResponse, NotificationResponse and ParameterStatus can come at any time. An
 * ErrorResponse in the extended protocol fails the head and PostgreSQL skips everything up
 * to the next Sync, so those entries go too (a made-up answer among them is never sent).
 */
#include <string.h>

#include "pending.h"

#define PEND_MIN_CAP 16

void pend_init(struct pend_queue *q, const struct pend_hooks *hooks)
{
	memset(q, 0, sizeof(*q));
	if (hooks)
		q->hooks = *hooks;
}

void pend_clear(struct pend_queue *q)
{
	while (q->count)
		pend_pop(q);
}

void pend_free(struct pend_queue *q)
{
	pend_clear(q);
	free(q->e);
	q->e = NULL;
	q->cap = 0;
}

static void grow(struct pend_queue *q)
{
	uint32_t cap = q->cap ? q->cap * 2 : PEND_MIN_CAP;
	struct pend_entry *e = xmalloc(cap * sizeof(*e));

	for (uint32_t i = 0; i < q->count; i++)
		e[i] = q->e[(q->head + i) % q->cap];
	free(q->e);
	q->e = e;
	q->cap = cap;
	q->head = 0;
}

static struct pend_entry *push_slot(struct pend_queue *q)
{
	struct pend_entry *e;

	if (q->count == q->cap)
		grow(q);
	e = &q->e[(q->head + q->count) % q->cap];
	q->count++;
	memset(e, 0, sizeof(*e));
	return e;
}

void pend_push(struct pend_queue *q, uint8_t type, enum pend_action action, void *stmt)
{
	struct pend_entry *e = push_slot(q);

	e->type = type;
	e->action = (uint8_t)action;
	e->stmt = stmt;
}

void pend_push_fake(struct pend_queue *q, uint8_t type, enum pend_fake fake, const char *sqlstate,
		    const char *message)
{
	struct pend_entry *e = push_slot(q);

	e->type = type;
	e->action = PEND_FAKE;
	e->fake = (uint8_t)fake;
	if (sqlstate)
		snprintf(e->sqlstate, sizeof(e->sqlstate), "%s", sqlstate);
	if (message)
		e->message = xstrdup(message);
}

void pend_push_replace(struct pend_queue *q, uint8_t type, const char *sqlstate,
		       const char *message)
{
	pend_push_fake(q, type, FAKE_ERROR, sqlstate, message);
	q->e[(q->head + q->count - 1) % q->cap].action = PEND_REPLACE;
}

void pend_push_dealloc(struct pend_queue *q, uint8_t type, const char *name)
{
	struct pend_entry *e = push_slot(q);

	e->type = type;
	e->action = PEND_DEALLOCATE;
	e->message = xstrdup(name);
}

struct pend_entry *pend_head(struct pend_queue *q)
{
	return q->count ? &q->e[q->head] : NULL;
}

void pend_pop(struct pend_queue *q)
{
	struct pend_entry *e = pend_head(q);

	if (!e)
		return;
	free(e->message);
	e->message = NULL;
	if (e->stmt && q->hooks.release)
		q->hooks.release(q->hooks.arg, e->stmt);
	e->stmt = NULL;
	q->head = (q->head + 1) % q->cap;
	q->count--;
}

static bool is_boundary(uint8_t type)
{
	return type == 'S' || type == 'Q' || type == 'F';
}

static void note_failed(const struct pend_queue *q, const struct pend_entry *e)
{
	if (e->type == 'P' && e->action != PEND_FAKE && e->stmt && q->hooks.failed)
		q->hooks.failed(q->hooks.arg, e->stmt);
}

/* An error in the extended protocol: the head failed, the rest up to Sync is skipped. */
static enum pend_verdict on_error(struct pend_queue *q)
{
	struct pend_entry *e;

	while ((e = pend_head(q)) && !is_boundary(e->type)) {
		note_failed(q, e);
		pend_pop(q);
	}
	return PV_FORWARD;
}

/* ReadyForQuery ends everything up to and including the first Sync, Query or FunctionCall. */
static enum pend_verdict on_ready(struct pend_queue *q)
{
	struct pend_entry *e;

	while ((e = pend_head(q))) {
		bool last = is_boundary(e->type);

		if (!last)
			note_failed(q, e);
		pend_pop(q);
		if (last)
			break;
	}
	return PV_FORWARD;
}

/* Completes the head if it is of `want`; its action decides the verdict. */
static enum pend_verdict complete(struct pend_queue *q, uint8_t want)
{
	struct pend_entry *e = pend_head(q);
	enum pend_verdict v;

	if (!e || e->type != want || e->action == PEND_FAKE)
		return PV_BAD;
	v = e->action == PEND_DROP ? PV_DROP : PV_FORWARD;
	pend_pop(q);
	return v;
}

/* Completes the head if it is of `want`, else the message is part of a Query or Execute. */
static enum pend_verdict complete_or_part(struct pend_queue *q, uint8_t want, uint8_t part)
{
	struct pend_entry *e = pend_head(q);

	if (e && e->type == want)
		return complete(q, want);
	if (e && (e->type == 'Q' || e->type == part || e->type == 'F'))
		return PV_FORWARD;
	return PV_BAD;
}

enum pend_verdict pend_on_response(struct pend_queue *q, uint8_t type)
{
	struct pend_entry *e = pend_head(q);

	switch (type) {
	case 'N':
	case 'A':
	case 'S':
		return PV_FORWARD;
	case 'E':
		if (e && (e->type == 'Q' || e->type == 'F'))
			return PV_FORWARD;
		return on_error(q);
	case 'Z':
		return on_ready(q);
	case '1':
		return complete(q, 'P');
	case '2':
		return complete(q, 'B');
	case '3':
		return complete(q, 'C');
	case 't':
		return e && e->type == 'D' ? PV_FORWARD : PV_BAD;
	case 'n':
		return complete(q, 'D');
	case 'T':
		return complete_or_part(q, 'D', 'E');
	case 'C':
	case 'I':
	case 's':
		return complete_or_part(q, 'E', 'E');
	default:
		return e ? PV_FORWARD : PV_BAD;
	}
}
