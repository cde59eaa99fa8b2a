/* SPDX-License-Identifier: ISC */
/*
 * Small process-wide helpers: allocation that treats exhaustion as fatal, and clocks.
 * Hot paths do not allocate, so xmalloc() is for start-up, config loads and new objects.
 */
#include <string.h>
#include <time.h>

#include "common.h"
#include "log.h"

static void *check_alloc(void *p, size_t n)
{
	if (UNLIKELY(!p && n))
		die("out of memory allocating %zu bytes", n);
	return p;
}

void *xmalloc(size_t n)
{
	return check_alloc(malloc(n), n);
}

void *xcalloc(size_t n, size_t size)
{
	return check_alloc(calloc(n, size), n * size);
}

void *xrealloc(void *p, size_t n)
{
	return check_alloc(realloc(p, n), n);
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *d = xmalloc(n + 1);

	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static usec_t clock_usec(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000;
}

usec_t now_usec(void)
{
	return clock_usec(CLOCK_MONOTONIC);
}

usec_t wall_usec(void)
{
	return clock_usec(CLOCK_REALTIME);
}
