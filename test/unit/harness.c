/* SPDX-License-Identifier: ISC */
/*
 * Runner for the unit tests: runs every registered case in registration order, or only the
 * cases whose name contains argv[1], prints TAP, and ends with "N passed, N failed".
 */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "log.h"

struct test_case {
	const char *name;
	const char *file;
	test_fn fn;
};

#define MAX_TESTS 1024

static struct test_case cases[MAX_TESTS];
static size_t ncases;
static int current_failures;

void harness_register(const char *name, const char *file, test_fn fn)
{
	if (ncases == MAX_TESTS) {
		fprintf(stderr, "too many unit tests\n");
		exit(2);
	}
	cases[ncases++] = (struct test_case){ name, file, fn };
}

void harness_fail(const char *file, int line, const char *what)
{
	current_failures++;
	printf("#   %s:%d: check failed: %s\n", file, line, what);
}

int main(int argc, char **argv)
{
	const char *filter = argc > 1 ? argv[1] : NULL;
	const struct log_settings quiet = {
		.logfile = "", .quiet = true, .syslog_ident = "weir", .syslog_facility = "daemon"
	};
	int passed = 0, failed = 0, n = 0;

	if (!log_configure(&quiet))
		return 2;
	for (size_t i = 0; i < ncases; i++) {
		if (filter && !strstr(cases[i].name, filter))
			continue;
		current_failures = 0;
		cases[i].fn();
		n++;
		if (current_failures) {
			failed++;
			printf("not ok %d - %s\n", n, cases[i].name);
		} else {
			passed++;
			printf("ok %d - %s\n", n, cases[i].name);
		}
	}
	printf("1..%d\n", n);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
