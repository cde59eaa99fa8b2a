/* SPDX-License-Identifier: ISC */
/* The time helpers of common.h: a stamp later than the `now` it meets has not expired. */
#include "harness.h"

TEST(usec_since_counts_forward)
{
	CHECK_INT(usec_since(100, 350), 250);
	CHECK_INT(usec_since(350, 350), 0);
}

TEST(usec_since_is_zero_for_a_stamp_in_the_future)
{
	CHECK_INT(usec_since(351, 350), 0);
	CHECK_INT(usec_since(UINT64_MAX, 0), 0);
}

TEST(usec_passed_at_and_after_the_limit)
{
	CHECK(!usec_passed(1000, 500, 1499));
	CHECK(usec_passed(1000, 500, 1500));
	CHECK(usec_passed(1000, 500, 99999));
}

TEST(usec_passed_never_for_a_stamp_in_the_future)
{
	/* A server launched after the pass read `now`: a bare difference wraps and "expires". */
	usec_t now = 5 * USEC_PER_SEC, launched = now + 3;

	CHECK(!usec_passed(launched, 15 * USEC_PER_SEC, now));
	CHECK(!usec_passed(launched, 1, now));
	CHECK(!usec_passed(UINT64_MAX, 1, 0));
}

TEST(usec_passed_zero_limit_has_always_passed)
{
	CHECK(usec_passed(1000, 0, 1000));
	CHECK(usec_passed(2000, 0, 1000));
}

TEST(usec_passed_huge_limit_does_not_overflow)
{
	CHECK(!usec_passed(10, UINT64_MAX, UINT64_MAX - 1));
	CHECK(usec_passed(0, UINT64_MAX, UINT64_MAX));
}
