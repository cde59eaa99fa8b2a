/* SPDX-License-Identifier: ISC */
/*
 * A small TAP harness. A test file defines cases with TEST(name) { ... } and checks with
 * CHECK(cond) / CHECK_STR(a, b) / CHECK_INT(a, b); cases register themselves at load time, so
 * there is no hand-kept list. The runner prints one TAP line per case and ends with
 * "N passed, N failed".
 */
#pragma once

#include <string.h>

#include "common.h"

typedef void (*test_fn)(void);

void harness_register(const char *name, const char *file, test_fn fn);
/* Records a failed check in the running case and prints a diagnostic. */
void harness_fail(const char *file, int line, const char *what);

#define TEST(name)                                                     \
	static void test_##name(void);                                 \
	__attribute__((constructor)) static void register_##name(void) \
	{                                                              \
		harness_register(#name, __FILE__, test_##name);        \
	}                                                              \
	static void test_##name(void)

#define CHECK(cond)                                              \
	do {                                                     \
		if (!(cond))                                     \
			harness_fail(__FILE__, __LINE__, #cond); \
	} while (0)

#define CHECK_STR(a, b)                                                                         \
	do {                                                                                    \
		const char *a_ = (a), *b_ = (b);                                                \
		if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                        \
			char m_[1024];                                                          \
			snprintf(m_, sizeof(m_), "%s == %s (\"%.200s\" vs \"%.200s\")", #a, #b, \
				 a_ ? a_ : "(null)", b_ ? b_ : "(null)");                       \
			harness_fail(__FILE__, __LINE__, m_);                                   \
		}                                                                               \
	} while (0)

#define CHECK_INT(a, b)                                                                      \
	do {                                                                                 \
		long long a_ = (long long)(a), b_ = (long long)(b);                          \
		if (a_ != b_) {                                                              \
			char m_[256];                                                        \
			snprintf(m_, sizeof(m_), "%s == %s (%lld vs %lld)", #a, #b, a_, b_); \
			harness_fail(__FILE__, __LINE__, m_);                                \
		}                                                                            \
	} while (0)
