/* SPDX-License-Identifier: ISC */
/* Unit tests for random_pool.c: random bytes handed out from blocks. */
#include <string.h>

#include "harness.h"
#include "random_pool.h"

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

TEST(random_pool_hands_out_distinct_bytes_and_wipes_them)
{
	struct random_pool p;
	uint8_t a[32], b[32];

	random_pool_init(&p);
	CHECK(random_pool_take(&p, a, sizeof(a)));
	CHECK(random_pool_take(&p, b, sizeof(b)));
	CHECK(!all_zero(a, sizeof(a)));
	CHECK(memcmp(a, b, sizeof(a)) != 0);
	CHECK_INT(p.used, 64);
	CHECK(all_zero(p.bytes, 64)); /* what was handed out is no longer in the block */
	CHECK(!all_zero(p.bytes + 64, 32));
}

TEST(random_pool_refills_across_the_block_boundary)
{
	struct random_pool p;
	uint8_t big[RANDOM_POOL_SIZE + 100];

	random_pool_init(&p);
	CHECK(random_pool_take(&p, big, 10));
	CHECK(random_pool_take(&p, big, sizeof(big)));
	CHECK_INT(p.used, 10 + sizeof(big) - RANDOM_POOL_SIZE);
	CHECK(!all_zero(big + RANDOM_POOL_SIZE - 10, 40));
	CHECK(!all_zero(big + sizeof(big) - 32, 32));
}
