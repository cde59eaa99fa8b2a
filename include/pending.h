/* SPDX-License-Identifier: ISC */
/*
 * The requests a server still owes answers for, in order, and what to do with each answer.
 * weir needs this when it rewrites the extended protocol for prepared statements: a Parse
 * it injected must have its ParseComplete dropped, a Parse or Close it answered itself
 * (the statement was already there) needs a ParseComplete or CloseComplete made up at the
 * right place in the stream, and after an error PostgreSQL skips everything up to Sync.
 * Pure logic: a ring of entries and the rules that match server messages to them.
 */
#pragma once

#include "common.h"

enum pend_action {
	PEND_FORWARD,	 /* the client asked: its answer goes to the client */
	PEND_DROP,	 /* weir injected it: its answer is dropped */
	PEND_FAKE,	 /* not sent to the server: weir answers it when it reaches the head */
	PEND_REPLACE,	 /* sent to fail on purpose: its ErrorResponse is replaced by weir's text */
	PEND_DEALLOCATE, /* a client's SQL DEALLOCATE, sent as a no-op: its CommandComplete
			    becomes "DEALLOCATE", and the client's name (message) is dropped */
};

enum pend_fake {
	FAKE_NONE,
	FAKE_PARSE_COMPLETE,
	FAKE_CLOSE_COMPLETE,
	FAKE_ERROR, /* ErrorResponse with sqlstate and message */
};

struct pend_entry {
	uint8_t type;	  /* the request: 'P','B','D','E','C','S','Q','F' */
	uint8_t action;	  /* enum pend_action */
	uint8_t fake;	  /* enum pend_fake when action is PEND_FAKE */
	char sqlstate[6]; /* FAKE_ERROR */
	char *message;	  /* owned: FAKE_ERROR's text; PEND_DEALLOCATE's statement name */
	void *stmt;	  /* the statement a Parse prepares; a reference held via hooks */
};

/* What the owner does with an entry's statement. */
struct pend_hooks {
	void (*release)(void *arg, void *stmt); /* the entry is gone: drop its reference */
	void (*failed)(void *arg, void *stmt);	/* its Parse failed or was skipped */
	void *arg;
};

struct pend_queue {
	struct pend_entry *e; /* owned ring */
	uint32_t head;
	uint32_t count;
	uint32_t cap;
	struct pend_hooks hooks;
};

void pend_init(struct pend_queue *q, const struct pend_hooks *hooks);
void pend_free(struct pend_queue *q);
void pend_clear(struct pend_queue *q);

void pend_push(struct pend_queue *q, uint8_t type, enum pend_action action, void *stmt);
void pend_push_fake(struct pend_queue *q, uint8_t type, enum pend_fake fake, const char *sqlstate,
		    const char *message);
/* A request sent to fail; its error is replaced by sqlstate and message. */
void pend_push_replace(struct pend_queue *q, uint8_t type, const char *sqlstate,
		       const char *message);

/* A Query or Execute (type) that runs a client's DEALLOCATE of its statement `name`. */
void pend_push_dealloc(struct pend_queue *q, uint8_t type, const char *name);

/* The head entry, or NULL when nothing is owed. */
struct pend_entry *pend_head(struct pend_queue *q);
/* Removes the head; the caller has read what it needs from it. */
void pend_pop(struct pend_queue *q);

/* What a server message means for the queue. */
enum pend_verdict {
	PV_FORWARD, /* pass it to the client */
	PV_DROP,    /* answer to an injected request: drop it */
	PV_BAD,	    /* does not fit the requests sent: the stream is out of step */
};

/*
 * Matches one server message (its type byte) against the queue, popping what it completes.
 * Parse requests that an error made PostgreSQL fail or skip are reported through
 * hooks.failed before they are popped.
 */
enum pend_verdict pend_on_response(struct pend_queue *q, uint8_t type);
