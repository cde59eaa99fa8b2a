/* SPDX-License-Identifier: ISC */
/*
 * Inboxes (inbox.h): a mutex-guarded singly linked FIFO and an eventfd. The owner clears
 * the eventfd before it takes the queue, so a post made while it drains is either taken in
 * this pass or wakes it again; a post onto a non-empty queue need not write, since the
 * owner has a wake-up pending or is about to take the queue.
 */
#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "inbox.h"

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)inbox_drain(arg);
}

bool inbox_init(struct inbox *ib, struct event_base *base, void *owner)
{
	ib->head = ib->tail = NULL;
	ib->owner = owner;
	ib->ev = NULL;
	ib->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ib->efd < 0)
		return false;
	pthread_mutex_init(&ib->lock, NULL);
	ib->ev = event_new(base, ib->efd, EV_READ | EV_PERSIST, on_wake, ib);
	if (!ib->ev || event_add(ib->ev, NULL) != 0) {
		inbox_destroy(ib);
		errno = ENOMEM;
		return false;
	}
	return true;
}

void inbox_destroy(struct inbox *ib)
{
	if (ib->efd < 0)
		return;
	if (ib->ev)
		event_free(ib->ev);
	close(ib->efd);
	pthread_mutex_destroy(&ib->lock);
	ib->efd = -1;
	ib->ev = NULL;
}

static void wake(const struct inbox *ib)
{
	uint64_t one = 1;

	(void)!write(ib->efd, &one, sizeof(one));
}

void inbox_post(struct inbox *ib, struct inbox_msg *m)
{
	bool was_empty;

	m->next = NULL;
	pthread_mutex_lock(&ib->lock);
	was_empty = ib->head == NULL;
	if (ib->tail)
		ib->tail->next = m;
	else
		ib->head = m;
	ib->tail = m;
	pthread_mutex_unlock(&ib->lock);
	if (was_empty)
		wake(ib);
}

void inbox_kick(struct inbox *ib)
{
	wake(ib);
}

bool inbox_drain(struct inbox *ib)
{
	struct inbox_msg *m, *next;
	uint64_t count;

	(void)!read(ib->efd, &count, sizeof(count));
	pthread_mutex_lock(&ib->lock);
	m = ib->head;
	ib->head = ib->tail = NULL;
	pthread_mutex_unlock(&ib->lock);
	if (!m)
		return false;
	for (; m; m = next) {
		next = m->next; /* the handler may reuse or free m */
		m->run(ib->owner, m);
	}
	return true;
}

void inbox_wait(struct inbox *ib, int timeout_ms)
{
	struct pollfd p = { .fd = ib->efd, .events = POLLIN };

	(void)poll(&p, 1, timeout_ms);
}
