/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for histogram.c: the bucket arithmetic, merging, and the quantile error bound
 * checked against the exact quantile of the recorded values (same rank definition: the
 * ceil(q * n)-th smallest value).
 */
#include <math.h>

#include "harness.h"
#include "histogram.h"

/* A small deterministic generator (splitmix64), so that a failure can be replayed. */
struct rng {
	uint64_t state;
};

static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) / (double)(1ull << 53);
}

static uint64_t rng_below(struct rng *r, uint64_t n)
{
	return n ? rng_next(r) % n : 0;
}

static struct histogram *hist_new(void)
{
	struct histogram *h = xmalloc(sizeof(*h));

	hist_reset(h);
	return h;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The ceil(q * n)-th smallest of sorted values (the first for q = 0), as histogram.h ranks. */
static uint64_t exact_quantile(const uint64_t *sorted, size_t n, double q)
{
	double r = ceil(q * (double)n);
	size_t rank = r < 1 ? 1 : (size_t)r;

	return sorted[(rank > n ? n : rank) - 1];
}

TEST(histogram_every_bucket_holds_its_low_and_its_last_value)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		uint64_t low = hist_bucket_low(i), high = hist_bucket_high(i);

		CHECK(low < high);
		CHECK_INT(hist_bucket_of(low), i);
		CHECK_INT(hist_bucket_of(high - 1), i);
		if (i + 1 < HIST_BUCKETS)
			CHECK_INT(hist_bucket_of(high), i + 1);
		if (i > 0)
			CHECK(hist_bucket_high(i - 1) == low); /* no gap, no overlap */
	}
	CHECK(hist_bucket_low(0) == 0);
	CHECK(hist_bucket_high(HIST_BUCKETS - 1) == UINT64_MAX);
}

TEST(histogram_random_values_fall_between_their_bucket_bounds)
{
	struct rng r = { 1 };

	for (int n = 0; n < 200000; n++) {
		/* spread over every power of two, not only the top ones */
		unsigned bits = (unsigned)rng_below(&r, 64);
		uint64_t v = bits ? rng_next(&r) >> (64 - bits) : 0;
		unsigned i = hist_bucket_of(v);

		CHECK(i < HIST_BUCKETS);
		if (i >= HIST_BUCKETS)
			return;
		CHECK(hist_bucket_low(i) <= v);
		CHECK(i == HIST_BUCKETS - 1 || v < hist_bucket_high(i));
	}
}

TEST(histogram_buckets_are_linear_then_eight_per_power_of_two)
{
	for (uint64_t v = 0; v < HIST_LINEAR_MAX; v++)
		CHECK_INT(hist_bucket_of(v), v);
	for (unsigned e = HIST_SUB_BITS; e < HIST_MAX_EXP; e++) {
		uint64_t p = (uint64_t)1 << e;

		CHECK_INT(hist_bucket_of(2 * p - 1) - hist_bucket_of(p), HIST_SUB_BUCKETS - 1);
		CHECK(hist_bucket_low(hist_bucket_of(p)) == p);
	}
}

TEST(histogram_empty_reads_as_zero)
{
	struct histogram *h = hist_new();

	CHECK_INT(h->count, 0);
	CHECK_INT(hist_quantile(h, 0), 0);
	CHECK_INT(hist_quantile(h, 0.5), 0);
	CHECK_INT(hist_quantile(h, 1), 0);
	CHECK_INT(hist_count_below(h, 1024), 0);
	free(h);
}

TEST(histogram_record_counts_sums_and_keeps_the_exact_max)
{
	struct histogram *h = hist_new();

	hist_record(h, 5);
	hist_record(h, 1000);
	hist_record(h, 1001);
	hist_record(h, 3);
	CHECK_INT(h->count, 4);
	CHECK_INT(h->sum, 2009);
	CHECK_INT(h->max, 1001);
	CHECK_INT(hist_quantile(h, 1), 1001);
	CHECK_INT(hist_quantile(h, 0), 3);     /* linear buckets are exact */
	CHECK_INT(hist_quantile(h, 0.5), 5);   /* 2nd of 4 */
	CHECK(hist_quantile(h, 0.75) <= 1001); /* never above max */
	free(h);
}

TEST(histogram_merge_of_two_equals_recording_everything_into_one)
{
	struct histogram *a = hist_new(), *b = hist_new(), *all = hist_new();
	struct rng r = { 7 };

	for (int i = 0; i < 5000; i++) {
		uint64_t v = rng_below(&r, (uint64_t)1 << (rng_below(&r, 30) + 1));

		hist_record(i % 3 ? a : b, v);
		hist_record(all, v);
	}
	hist_merge(a, b);
	CHECK(a->count == all->count);
	CHECK(a->sum == all->sum);
	CHECK(a->max == all->max);
	CHECK(memcmp(a->buckets, all->buckets, sizeof(a->buckets)) == 0);
	hist_reset(b);
	hist_merge(a, b); /* merging an empty one changes nothing */
	CHECK(memcmp(a, all, sizeof(*a)) == 0);
	free(a);
	free(b);
	free(all);
}

enum shape {
	SHAPE_UNIFORM,
	SHAPE_EXPONENTIAL,
	SHAPE_TWO_POINT,
	SHAPE_WIDE
};

static uint64_t draw(struct rng *r, enum shape s)
{
	switch (s) {
	case SHAPE_UNIFORM:
		return 100 + rng_below(r, 50000);
	case SHAPE_EXPONENTIAL:
		return (uint64_t)(-2000.0 * log(1.0 - rng_unit(r)));
	case SHAPE_TWO_POINT: /* 10 ms and 100 us, as pg_sleep(0.01) and SELECT 1 */
		return rng_below(r, 2) ? 10000 + rng_below(r, 300) : 100 + rng_below(r, 30);
	case SHAPE_WIDE: /* log-uniform over 1 us .. 2^36 us */
		return (uint64_t)exp2(rng_unit(r) * 36.0);
	}
	return 0;
}

/* Whether every quantile of the histogram of n values of shape s is within the bound. */
static void check_quantiles(enum shape s, size_t n, uint64_t seed)
{
	static const double qs[] = {
		0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1
	};
	struct histogram *h = hist_new();
	uint64_t *v = xmalloc(n * sizeof(*v));
	struct rng r = { seed };

	for (size_t i = 0; i < n; i++) {
		v[i] = draw(&r, s);
		hist_record(h, v[i]);
	}
	qsort(v, n, sizeof(*v), cmp_u64);
	CHECK(h->max == v[n - 1]);
	for (size_t k = 0; k < ARRAY_SIZE(qs); k++) {
		double exact = (double)exact_quantile(v, n, qs[k]);
		double got = (double)hist_quantile(h, qs[k]);

		if (fabs(got - exact) > HIST_REL_ERROR * exact) {
			char m[160];

			snprintf(m, sizeof(m), "shape %d n %zu q %g: %.0f vs exact %.0f", (int)s, n,
				 qs[k], got, exact);
			harness_fail(__FILE__, __LINE__, m);
		}
	}
	free(v);
	free(h);
}

TEST(histogram_quantiles_are_within_the_relative_error_of_the_exact_ones)
{
	static const size_t sizes[] = { 1, 2, 3, 10, 99, 1000, 100000 };

	for (int s = SHAPE_UNIFORM; s <= SHAPE_WIDE; s++)
		for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
			check_quantiles((enum shape)s, sizes[i], 1000u + (uint64_t)s * 31 + i);
}

TEST(histogram_count_below_a_power_of_two_is_exact)
{
	struct histogram *h = hist_new();
	uint64_t *v = xmalloc(20000 * sizeof(*v));
	struct rng r = { 3 };

	for (int i = 0; i < 20000; i++) {
		v[i] = draw(&r, SHAPE_WIDE);
		hist_record(h, v[i]);
	}
	for (unsigned e = 0; e < HIST_MAX_EXP; e++) {
		uint64_t limit = (uint64_t)1 << e, n = 0;

		for (int i = 0; i < 20000; i++)
			n += v[i] < limit;
		CHECK(hist_count_below(h, limit) == n);
	}
	/* cumulative: never decreasing with the limit */
	for (unsigned e = 1; e < HIST_MAX_EXP; e++)
		CHECK(hist_count_below(h, (uint64_t)1 << e) >=
		      hist_count_below(h, (uint64_t)1 << (e - 1)));
	free(v);
	free(h);
}

TEST(histogram_values_from_2_to_the_37_share_the_last_bucket_and_keep_the_max)
{
	struct histogram *h = hist_new();
	uint64_t big = (uint64_t)1 << HIST_MAX_EXP;

	CHECK_INT(hist_bucket_of(big), HIST_BUCKETS - 1);
	CHECK_INT(hist_bucket_of(big * 1000), HIST_BUCKETS - 1);
	CHECK_INT(hist_bucket_of(UINT64_MAX), HIST_BUCKETS - 1);
	CHECK_INT(hist_bucket_of(big - 1), HIST_BUCKETS - 1);
	hist_record(h, big * 3);
	hist_record(h, big);
	CHECK_INT(h->count, 2);
	CHECK(h->max == big * 3);
	CHECK(h->buckets[HIST_BUCKETS - 1] == 2);
	CHECK(hist_quantile(h, 1) == big * 3);
	/* below the max, the last bucket reads as its low bound: no overflow, no wrap */
	CHECK(hist_quantile(h, 0.5) == hist_bucket_low(HIST_BUCKETS - 1));
	CHECK_INT(hist_count_below(h, (uint64_t)1 << (HIST_MAX_EXP - 1)), 0);
	free(h);
}
