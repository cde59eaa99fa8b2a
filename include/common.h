/* SPDX-License-Identifier: ISC */
/*
 * The only base header: fixed-width types, time in microseconds, and the few macros
 * every module needs. Nothing here depends on libevent, OpenSSL or any other library.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "config_auto.h"

/* Microseconds; monotonic unless a name says otherwise. */
typedef uint64_t usec_t;

#define USEC_PER_SEC ((usec_t)1000000)

#define MUST_CHECK	 __attribute__((warn_unused_result))
#define PRINTF_FMT(a, b) __attribute__((format(printf, a, b)))
#define NORETURN	 __attribute__((noreturn))
#define UNLIKELY(x)	 __builtin_expect(!!(x), 0)

/* Event loops a process may run (workers). */
#define WEIR_MAX_WORKERS 16

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#ifdef WEIR_DEBUG
#define ASSERT(cond)                                                                         \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                      \
			abort();                                                             \
		}                                                                            \
	} while (0)
#else
#define ASSERT(cond) ((void)0)
#endif

/* Allocation that cannot fail: out of memory at start-up or in a config load is fatal. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Monotonic and wall-clock time in microseconds. */
usec_t now_usec(void);
usec_t wall_usec(void);

/*
 * Time from a stored stamp to now, 0 when the stamp is later than now. A stamp can be later
 * than a `now` read before it: a pass reads the clock once, and a server it launches or a
 * client it queues is stamped afterwards. Every comparison of a stored stamp with a clock
 * reading goes through these two, never through a bare unsigned difference, which wraps.
 */
static inline usec_t usec_since(usec_t since, usec_t now)
{
	return now > since ? now - since : 0;
}

/* Whether limit has passed since `since` at `now`; for a stamp later than now, only 0 has. */
static inline bool usec_passed(usec_t since, usec_t limit, usec_t now)
{
	return usec_since(since, now) >= limit;
}
