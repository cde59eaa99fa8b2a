/* SPDX-License-Identifier: ISC */
/*
 * Log-linear latency histograms in microseconds. Values below HIST_LINEAR_MAX each have a
 * bucket of their own; above, every power of two [2^e, 2^(e+1)) is split into
 * HIST_SUB_BUCKETS equal buckets. A quantile is read as the middle of its bucket, so it is
 * within HIST_REL_ERROR (1/16 = 6.25 %) of a value that was recorded there. The last bucket
 * starts at 2^(HIST_MAX_EXP - 1) * 15/8 microseconds (about 36 hours) and has no upper
 * end: a quantile there is reported as that start (never above the exact maximum, which
 * is kept apart).
 *
 * Recording is O(1) with no allocation; two histograms merge by adding their buckets.
 */
#pragma once

#include "common.h"

#define HIST_SUB_BITS	 3
#define HIST_SUB_BUCKETS (1u << HIST_SUB_BITS) /* 8 per power of two */
#define HIST_LINEAR_MAX	 HIST_SUB_BUCKETS      /* values 0..7 exactly */
#define HIST_MAX_EXP	 37
#define HIST_BUCKETS	 (HIST_LINEAR_MAX + (HIST_MAX_EXP - HIST_SUB_BITS) * HIST_SUB_BUCKETS)
#define HIST_REL_ERROR	 (1.0 / (2 * HIST_SUB_BUCKETS))

struct histogram {
	uint64_t count;
	uint64_t sum; /* microseconds */
	uint64_t max; /* microseconds */
	uint64_t buckets[HIST_BUCKETS];
};

/* The bucket a value falls in. */
unsigned hist_bucket_of(uint64_t usec);
/* The smallest value of bucket i, and the smallest value of the next one. */
uint64_t hist_bucket_low(unsigned i);
uint64_t hist_bucket_high(unsigned i);

static inline void hist_record(struct histogram *h, uint64_t usec)
{
	h->count++;
	h->sum += usec;
	if (usec > h->max)
		h->max = usec;
	h->buckets[hist_bucket_of(usec)]++;
}

void hist_reset(struct histogram *h);
/* into += from */
void hist_merge(struct histogram *into, const struct histogram *from);
/*
 * The value below which a fraction q (0..1) of the recorded values lie: the middle of the
 * bucket that holds the ceil(q * count)-th value, never above max. 0 when empty.
 */
uint64_t hist_quantile(const struct histogram *h, double q);
/* How many recorded values are below limit, for limit a bucket boundary (a power of two). */
uint64_t hist_count_below(const struct histogram *h, uint64_t limit);
