/* SPDX-License-Identifier: ISC */
/*
 * A loop's inbox: messages that other threads post to it, run on the loop's own thread.
 * Any thread may post; only the owner drains. Messages are intrusive (the poster embeds a
 * struct inbox_msg in its own object, so posting allocates nothing) and run in the order
 * they were posted. Posting wakes the loop through an eventfd, written only when the queue
 * was empty: a burst of messages costs one wake-up.
 */
#pragma once

#include <pthread.h>

#include "common.h"

struct event_base;
struct event;
struct inbox_msg;

/* Runs on the owner's thread; the message belongs to the handler from then on. */
typedef void (*inbox_fn)(void *owner, struct inbox_msg *m);

struct inbox_msg {
	struct inbox_msg *next;
	inbox_fn run;
};

struct inbox {
	pthread_mutex_t lock;
	struct inbox_msg *head, *tail; /* guarded by lock */
	int efd;		       /* eventfd; readable while a wake-up is pending */
	struct event *ev;	       /* owned: EV_READ on efd in the owner's loop */
	void *owner;		       /* handed to each message's run */
};

/* False (errno set) if the eventfd or the event cannot be made. */
MUST_CHECK bool inbox_init(struct inbox *ib, struct event_base *base, void *owner);
/* Only once nobody can post any more; messages still queued are dropped. */
void inbox_destroy(struct inbox *ib);

/* Any thread: m->run(owner, m) will run on the owner's thread. */
void inbox_post(struct inbox *ib, struct inbox_msg *m);
/* Owner's thread: runs every message posted so far; false if there was none. */
bool inbox_drain(struct inbox *ib);
/* Any thread: wakes the owner without a message (it drains and re-checks what it waits on). */
void inbox_kick(struct inbox *ib);
/*
 * Owner's thread, outside its loop's dispatch: blocks until a post or a kick arrives, or
 * timeout_ms passes (-1: no limit). Used while the owner waits for other threads.
 */
void inbox_wait(struct inbox *ib, int timeout_ms);
