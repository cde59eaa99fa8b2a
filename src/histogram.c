/* SPDX-License-Identifier: ISC */
/*
 * Log-linear histograms (histogram.h): bucket arithmetic, merge and quantiles.
 *
 * Entry points: hist_bucket_of, hist_bucket_low, hist_bucket_high, hist_reset, hist_merge,
 * hist_quantile, hist_count_below.
 */
#include <string.h>

#include "histogram.h"

static unsigned log2_floor(uint64_t v)
{
	return 63u - (unsigned)__builtin_clzll(v);
}

unsigned hist_bucket_of(uint64_t usec)
{
	unsigned e;

	if (usec < HIST_LINEAR_MAX)
		return (unsigned)usec;
	e = log2_floor(usec);
	if (e >= HIST_MAX_EXP)
		return HIST_BUCKETS - 1;
	return HIST_LINEAR_MAX + (e - HIST_SUB_BITS) * HIST_SUB_BUCKETS +
	       (unsigned)((usec >> (e - HIST_SUB_BITS)) & (HIST_SUB_BUCKETS - 1));
}

uint64_t hist_bucket_low(unsigned i)
{
	unsigned e, sub;

	if (i < HIST_LINEAR_MAX)
		return i;
	e = (i - HIST_LINEAR_MAX) / HIST_SUB_BUCKETS + HIST_SUB_BITS;
	sub = (i - HIST_LINEAR_MAX) % HIST_SUB_BUCKETS;
	return ((uint64_t)1 << e) + ((uint64_t)sub << (e - HIST_SUB_BITS));
}

uint64_t hist_bucket_high(unsigned i)
{
	if (i + 1 >= HIST_BUCKETS)
		return UINT64_MAX;
	return hist_bucket_low(i + 1);
}

void hist_reset(struct histogram *h)
{
	memset(h, 0, sizeof(*h));
}

void hist_merge(struct histogram *into, const struct histogram *from)
{
	if (!from->count)
		return;
	into->count += from->count;
	into->sum += from->sum;
	if (from->max > into->max)
		into->max = from->max;
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		into->buckets[i] += from->buckets[i];
}

/* The middle of bucket i: within HIST_REL_ERROR of anything recorded in it. */
static uint64_t bucket_middle(unsigned i)
{
	uint64_t low = hist_bucket_low(i), high = hist_bucket_high(i);

	if (i < HIST_LINEAR_MAX)
		return low; /* exact */
	if (high == UINT64_MAX)
		return low;
	return low + (high - low) / 2;
}

uint64_t hist_quantile(const struct histogram *h, double q)
{
	uint64_t rank, seen = 0;

	if (!h->count)
		return 0;
	if (q <= 0)
		q = 0;
	if (q >= 1)
		return h->max;
	rank = (uint64_t)(q * (double)h->count);
	if ((double)rank < q * (double)h->count || rank == 0) /* ceil, without libm */
		rank++;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			uint64_t v = bucket_middle(i);

			return v < h->max ? v : h->max;
		}
	}
	return h->max;
}

uint64_t hist_count_below(const struct histogram *h, uint64_t limit)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < HIST_BUCKETS && hist_bucket_high(i) <= limit; i++)
		n += h->buckets[i];
	return n;
}
