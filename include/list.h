/* SPDX-License-Identifier: ISC */
/*
 * Intrusive doubly linked list with a sentinel head. An object that sits on a list embeds a
 * struct list_node; a node that is on no list points to itself, so list_del() is always safe.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct list_node {
	struct list_node *next;
	struct list_node *prev;
};

/* A list head is a node whose next/prev are the first and last elements. */
struct list_head {
	struct list_node n;
	unsigned count;
};

static inline void list_node_init(struct list_node *node)
{
	node->next = node;
	node->prev = node;
}

static inline void list_init(struct list_head *head)
{
	list_node_init(&head->n);
	head->count = 0;
}

static inline bool list_empty(const struct list_head *head)
{
	return head->n.next == &head->n;
}

static inline bool list_node_linked(const struct list_node *node)
{
	return node->next != node;
}

static inline void list_insert_between(struct list_node *node, struct list_node *prev,
				       struct list_node *next)
{
	node->prev = prev;
	node->next = next;
	prev->next = node;
	next->prev = node;
}

static inline void list_append(struct list_head *head, struct list_node *node)
{
	list_insert_between(node, head->n.prev, &head->n);
	head->count++;
}

static inline void list_prepend(struct list_head *head, struct list_node *node)
{
	list_insert_between(node, &head->n, head->n.next);
	head->count++;
}

/* Removes node from head; node must be on head. */
static inline void list_remove(struct list_head *head, struct list_node *node)
{
	node->prev->next = node->next;
	node->next->prev = node->prev;
	list_node_init(node);
	head->count--;
}

static inline struct list_node *list_first(const struct list_head *head)
{
	return list_empty(head) ? NULL : head->n.next;
}

static inline struct list_node *list_last(const struct list_head *head)
{
	return list_empty(head) ? NULL : head->n.prev;
}

static inline struct list_node *list_pop_first(struct list_head *head)
{
	struct list_node *node = list_first(head);

	if (node)
		list_remove(head, node);
	return node;
}

#define list_entry(node, type, member) container_of(node, type, member)

/* Iterate; safe against removal of the current node. */
#define list_for_each_safe(pos, tmp, head)                                     \
	for ((pos) = (head)->n.next, (tmp) = (pos)->next; (pos) != &(head)->n; \
	     (pos) = (tmp), (tmp) = (pos)->next)
